"""The vocabulary every layer shares: job states, mapping statuses, mapping definitions.

A leaf: it imports nothing of the product but ``errors``, so that the store, the pipeline
and the routes can all speak of the same things without importing one another.
"""
