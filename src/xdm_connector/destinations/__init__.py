"""Destinations of export batches: the local lake, a platform, and an in-memory one for tests.

``Destination`` (in ``base``) is the seam; ``LakeDestination`` writes dataset folders any
Parquet reader can query (``lake_query`` runs SQL over them); ``PlatformDestination``
speaks Experience Platform's batch ingestion protocol (the ``aep`` package);
``InMemoryDestination`` keeps batches in memory, with failure switches.
``factory`` picks an organization's destination from its configuration (``config``).
"""
