"""The ``marquee`` command: writers' submit and status, operators' tools, and ``marquee run``."""
