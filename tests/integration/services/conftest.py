"""A metadata store on each backend (``tests/integration/store/conftest.py``)."""

from tests.integration.store.conftest import database_url, open_store, store

__all__ = ["database_url", "open_store", "store"]
