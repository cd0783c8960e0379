"""Destinations of export batches: the local lake, and an in-memory one for tests.

``Destination`` (in ``base``) is the seam; ``LakeDestination`` writes dataset folders any
Parquet reader can query; ``InMemoryDestination`` keeps batches in memory, with failure
switches.
"""
