"""Benchmarks: how fast Marquee is on the local stack, against what a user would do without it.

``python -m tests.bench`` (``make bench``) runs them all and writes docs/PERFORMANCE.md
(the figures between its ``bench:begin``/``bench:end`` markers) and docs/perf-latency.png.
Nothing here is collected by pytest: no module is named ``test_*``. Every server it
starts binds 127.0.0.1 on a free port and is stopped when its part ends; every load is
bounded in count and time.
"""
