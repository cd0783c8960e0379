"""Apache Airflow operators for xdm-connector (``pip install "xdm-connector[airflow]"``).

``XdmIngestOperator`` triggers a mapping's ingestion on a remote server and waits until
the request ends: deferred by default, so that while it waits it holds no worker slot
(``IngestionTrigger`` follows the request in the triggerer, on the asynchronous client).
``XdmIngestionSensor`` waits for a request triggered elsewhere. A request that ends
``Failed`` or ``Aborted`` fails the task, its status body in the error.

Both read the server's URL and the integration's credentials from an Airflow connection
(``xdm_connector_default``; ``XdmConnectorHook`` says how), so that no secret is in a
DAG file or in the trigger's stored arguments. Nothing but this package imports Airflow.
"""

from xdm_connector.airflow.hooks import XdmConnectorHook
from xdm_connector.airflow.operators import XdmIngestOperator
from xdm_connector.airflow.sensors import XdmIngestionSensor
from xdm_connector.airflow.triggers import IngestionTrigger

__all__ = ["IngestionTrigger", "XdmConnectorHook", "XdmIngestOperator", "XdmIngestionSensor"]
