"""xdm-connector: moves profile records from a relational database into XDM datasets."""

__version__ = "0.1.0"
