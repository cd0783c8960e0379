"""An app on each metadata store, driven in-process through its ASGI interface."""

from tests.integration.apps import client, settings, store

__all__ = ["client", "settings", "store"]
