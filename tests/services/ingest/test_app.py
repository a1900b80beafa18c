"""The ingest app's start-up, without a server."""

from __future__ import annotations

import asyncio
import gc
from typing import Any, cast

from services.ingest.app import freeze_startup_heap


def test_serving_starts_with_the_startup_heap_out_of_the_collectors_sight():
    gc.unfreeze()

    async def serve() -> int:
        async with freeze_startup_heap(cast(Any, None)):  # it does not read the app
            return gc.get_freeze_count()

    try:
        # Full collections no longer walk these objects (each walk stalled every request in flight).
        assert asyncio.run(serve()) > 0
    finally:
        gc.unfreeze()
