"""Loaded into test workers with ``--include``: a hosts file of the test's own, in place of DNS.

The test machine has no DNS, and a test of the SSRF guard needs a *name* that leads to an
address the guard must refuse (the guard checks written addresses when the subscribers file
is loaded already). Names listed in the JSON file ``MARQUEE_TEST_HOSTS_FILE``
(``{"name": ["127.0.0.2"]}``) resolve to those addresses; every other lookup goes to the
real ``getaddrinfo``. The file is read at each lookup, so a test can add a name to a
running stack.
"""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path

_real_getaddrinfo = socket.getaddrinfo


def _getaddrinfo(host, port, family=0, type=0, proto=0, flags=0):
    hosts_file = os.environ.get("MARQUEE_TEST_HOSTS_FILE")
    name = host.decode() if isinstance(host, bytes) else host
    try:
        listed = json.loads(Path(hosts_file).read_text()).get(name) if hosts_file and name else None
    except (OSError, ValueError):
        listed = None
    if flags & socket.AI_NUMERICHOST:
        listed = None  # a numeric-only lookup of a name fails, as it does with real DNS
    if not listed:
        return _real_getaddrinfo(host, port, family, type, proto, flags)
    # Each listed address as the resolver would give it: a numeric lookup, no DNS.
    return [
        info
        for address in listed
        for info in _real_getaddrinfo(address, port, family, type, proto, flags | socket.AI_NUMERICHOST)
    ]


if os.environ.get("MARQUEE_TEST_HOSTS_FILE"):
    socket.getaddrinfo = _getaddrinfo
