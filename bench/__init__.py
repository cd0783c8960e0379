"""Reproducible benchmarks of xdm-connector against its limits and its peers: ``make bench``.

``python -m bench --help`` lists the options; ``bench/README.md`` says what each row means.
"""
