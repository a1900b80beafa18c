"""The video stage's cost: CPU seconds per teaser and per teaser second, in-process and phase
by phase; then end to end on the real stack, how long publication takes with the video stage
off and on (it must not change) and how long after publication the video is there.

CPU is ``getrusage`` of the process and its children (espeak-ng runs as a child), so it
counts everything the stage does, on whatever core it ran.
"""

from __future__ import annotations

import itertools
import json
import resource
import statistics
import time
from pathlib import Path
from typing import Any

from services.social.samples import review as sample_review
from services.social.youtube import narration
from services.video.encode import encode_mp4
from services.video.loudness import normalise
from services.video.narration import RATE, narrate
from services.video.teaser import shots_for
from services.video.voice import EspeakVoice
from tests.bench.common import make_review, review_body, summary_ms, tree_cpu_seconds
from tests.support.processes import RedisServer, Stack, poll


def cpu_now() -> float:
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def stage_cost(count: int) -> dict:
    """Teasers of ``count`` reviews of growing length, each timed phase by phase."""
    runs: list[dict[str, Any]] = []
    for n in range(count):
        review = sample_review(title=f"Bench Film {n}", paragraphs=review_body(600 + 900 * n).split("\n\n"))
        parts = narration(review)["parts"]
        marks = [cpu_now()]
        spoken = narrate(parts, EspeakVoice())
        marks.append(cpu_now())
        audio = normalise(spoken.samples, rate=RATE)
        marks.append(cpu_now())
        shots = shots_for(review, spoken, site="Marquee")
        marks.append(cpu_now())
        video = encode_mp4(shots, audio)
        marks.append(cpu_now())
        phases = dict(
            zip(("speech", "loudness", "frames", "encode"), (b - a for a, b in itertools.pairwise(marks)), strict=True)
        )
        total = marks[-1] - marks[0]
        runs.append(
            {
                "seconds": spoken.duration,
                "pictures": len(shots),
                "bytes": len(video),
                "cpu": total,
                "cpu_per_teaser_second": total / spoken.duration,
                "phases": phases,
            }
        )
    per_second = statistics.median(float(r["cpu_per_teaser_second"]) for r in runs)
    return {
        "runs": runs,
        "cpu_per_review": statistics.median(float(r["cpu"]) for r in runs),
        "cpu_per_teaser_second": per_second,
        "cpu_for_30s": 30 * per_second,
    }


def end_to_end(root: Path, redis_server: RedisServer, *, count: int) -> dict:
    """``count`` reviews one at a time through a stack with the video off, then one with it on."""
    result = {}
    for label, enabled, db in (("video_off", "0", 8), ("video_on", "1", 9)):
        stack = Stack(
            root / label,
            redis_url=redis_server.url.replace("/0", f"/{db}"),
            archive_url=f"file://{root / label}/archive",
            publish_url=str(root / label / "publish"),
            extra_env={"MARQUEE_VIDEO_ENABLED": enabled},
        ).start()
        try:
            published, ready = [], []
            cpu_before = tree_cpu_seconds(stack.workers["video"].pid)
            for n in range(count):
                start = time.monotonic()
                body = json.dumps(make_review(f"End To End {label} {n}")).encode()
                record = stack.wait_for(stack.submit(body).json()["id"], timeout=120)
                published.append(time.monotonic() - start)
                if enabled == "1":
                    manifest = json.loads(
                        Path(root / label / "publish" / "reviews" / record["slug"] / "manifest.json").read_text()
                    )
                    path = (
                        root
                        / label
                        / "publish"
                        / "reviews"
                        / record["slug"]
                        / "r"
                        / str(manifest["revision"])
                        / "video"
                        / "manifest.json"
                    )
                    poll(path.exists, timeout=120, what="the video's manifest")
                    ready.append(time.monotonic() - start)
            result[label] = {
                "count": count,
                "published_ms": summary_ms(published),
                "video_ready_ms": summary_ms(ready) if ready else None,
                "video_worker_cpu_per_review": (tree_cpu_seconds(stack.workers["video"].pid) - cpu_before) / count,
            }
        finally:
            stack.stop()
    return result
