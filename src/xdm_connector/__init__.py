"""xdm-connector: moves profile records from a relational database into XDM datasets."""

import os

__version__ = "0.1.0"

# Arrow's default allocator (mimalloc) keeps memory per thread: with a job's reading,
# shaping and writing threads, a worker's peak resident memory is about 50 MiB higher for
# the same work than with the C library's. Read once, when pyarrow is first imported,
# which this package's modules all do after this line; the environment may still choose.
os.environ.setdefault("ARROW_DEFAULT_MEMORY_POOL", "system")
