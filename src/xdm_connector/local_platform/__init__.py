"""The local platform service: Experience Platform's batch ingestion protocol, locally.

``xdm-connector platform serve --port P`` serves ``create_platform_app`` (``app``): IMS
tokens (``auth``), batch ingestion (``batches``, ``largefiles``, ``transitions``), the
catalog and schema registry (``catalog``, ``datasets``); completed batches are read,
converted and validated against their dataset's XDM schema (``conversion``,
``processing``), the refused records kept with why (``diagnostics``) and the accepted
ones in a lake (``storage``). ``faults`` injects failures for tests.
"""
