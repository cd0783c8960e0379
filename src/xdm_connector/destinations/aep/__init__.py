"""The client of Adobe Experience Platform: batch ingestion, the catalog, IMS tokens.

``PlatformDestination`` (``destination``) speaks the batch ingestion protocol through
``PlatformApi`` (``client``: headers, a token from ``ims``, retries), whose failures are
the ``PlatformError`` of ``answers``; ``catalog`` looks datasets up and creates them.
"""
