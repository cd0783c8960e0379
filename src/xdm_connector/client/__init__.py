"""A Python client of xdm-connector's ingestion API, synchronous (``XdmClient``) and
asynchronous (``AsyncXdmClient``), on httpx.

It talks to a server over HTTP only and imports nothing of the server's packages (an
import contract says so), so that it serves wherever a script, a pipeline or an
orchestrator runs::

    from xdm_connector.client import XdmClient

    with XdmClient(url, org="demo", client_id=client_id, client_secret=secret) as client:
        request = client.trigger("XDM44")
        status = client.wait("XDM44", request.request_id)   # IngestionFailed if it failed

``models`` holds what it answers, ``errors`` what it raises, ``events`` the event
stream's parser, ``calls`` what the two clients share.
"""

from xdm_connector.client import errors
from xdm_connector.client.aio import AsyncXdmClient
from xdm_connector.client.errors import *  # noqa: F403 - the errors are the package's too
from xdm_connector.client.models import IngestionStatus, Mapping, Submitted
from xdm_connector.client.sync import XdmClient

__all__ = [
    "AsyncXdmClient",
    "IngestionStatus",
    "Mapping",
    "Submitted",
    "XdmClient",
    *errors.__all__,
]
