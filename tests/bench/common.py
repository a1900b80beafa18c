"""What the benchmarks share: reviews of a given size, signing, percentiles, RSS, Redis counters."""

from __future__ import annotations

import json
import os
import platform
import re
import statistics
import subprocess
import time
import uuid
from pathlib import Path
from typing import Any

import redis

from shared.slugs import make_slug

REPO = Path(__file__).resolve().parents[2]

# Sentences of the kind a review is made of (invented), cycled to reach a size.
SENTENCES = [
    "The film opens on a harbour at dawn, and the first ten minutes say more than most thrillers manage in two hours.",
    "Its director keeps the camera low and patient, letting the actors find the rhythm of each scene.",
    "The lead performance is superb: precise, funny and quietly devastating by the final act.",
    "A subplot about a missing ledger drags in the middle, and the score leans too hard on strings.",
    "Even so, the production design is gorgeous, all rust and salt and sodium light.",
    "The supporting cast are uniformly strong, with one scene-stealing turn from a veteran character actor.",
    "It is the best British film of the year so far, and it earns every one of its stars.",
    "Some viewers will find the ending abrupt, but it lands with the force of a closing door.",
]
FIXED: dict[str, Any] = {
    "year": 2025,
    "certificate": "12A",
    "runtime_minutes": 112,
    "directors": ["Marguerite Okafor"],
    "cast": ["Idris Calloway", "Noémie Ferrand", "Tomas Lindqvist"],
    "rating": 4,
    "author": "Priya Ramanathan",
}


def review_body(size: int) -> str:
    """Paragraphs of four sentences, about ``size`` characters in all (ASCII, so bytes too)."""
    paragraphs, total, i = [], 0, 0
    while total < size:
        paragraph = " ".join(SENTENCES[(i + k) % len(SENTENCES)] for k in range(4))
        paragraphs.append(paragraph)
        total += len(paragraph) + 2
        i += 1
    return "\n\n".join(paragraphs)[: max(size, 200)].rsplit(".", 1)[0] + "."


def make_review(title: str, *, size: int = 1000) -> dict:
    """A JSON review whose encoded form is about ``size`` bytes."""
    review = {"title": title, **FIXED, "body": ""}
    overhead = len(json.dumps(review).encode())
    review["body"] = review_body(max(200, size - overhead))
    return review


def review_bytes(title: str, *, size: int = 1000) -> bytes:
    return json.dumps(make_review(title, size=size)).encode()


def unique_title(prefix: str = "Bench") -> str:
    return f"{prefix} {uuid.uuid4().hex[:10]}"


def slug_for(title: str) -> str:
    return make_slug(title, FIXED["year"])


def percentile(values: list[float], p: float) -> float | None:
    """Nearest-rank percentile (p in 0..100); None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(p / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]


def summary_ms(seconds: list[float]) -> dict:
    ms = [s * 1000 for s in seconds]
    return {
        "n": len(ms),
        "p50": percentile(ms, 50),
        "p95": percentile(ms, 95),
        "p99": percentile(ms, 99),
        "max": max(ms) if ms else None,
        "mean": statistics.fmean(ms) if ms else None,
    }


# Processes and memory


def children(pid: int) -> list[int]:
    found = []
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            text = Path(f"/proc/{pid}/task/{task}/children").read_text().split()
            found += [int(c) for c in text]
    except (FileNotFoundError, ProcessLookupError):
        pass
    return found


def process_tree(pid: int) -> list[int]:
    tree, todo = [], [pid]
    while todo:
        current = todo.pop()
        tree.append(current)
        todo += children(current)
    return tree


def status_kb(pid: int, field: str) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except (FileNotFoundError, ProcessLookupError):
        return None
    return None


def cpu_seconds(pid: int) -> float:
    """User + system CPU of one process so far."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError):
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def tree_cpu_seconds(pid: int) -> float:
    return sum(cpu_seconds(p) for p in process_tree(pid))


def worker_rss(workers: dict[str, subprocess.Popen]) -> dict[str, dict[str, int]]:
    """VmRSS (KiB) of each worker's main process and of each pool process: {queue: {"main": kb, "pool-1": kb…}}."""
    result = {}
    for queue, process in workers.items():
        entry = {"main": status_kb(process.pid, "VmRSS") or 0}
        for i, child in enumerate(sorted(children(process.pid)), 1):
            entry[f"pool-{i}"] = status_kb(child, "VmRSS") or 0
        result[queue] = entry
    return result


# Redis


def commandstats(client: redis.Redis) -> dict[str, int]:
    stats = client.info("commandstats")
    return {name.removeprefix("cmdstat_"): int(value["calls"]) for name, value in stats.items()}


def stats_delta(before: dict[str, int], after: dict[str, int]) -> dict[str, int]:
    names = set(before) | set(after)
    delta = {n: after.get(n, 0) - before.get(n, 0) for n in names}
    return {n: d for n, d in sorted(delta.items(), key=lambda kv: -kv[1]) if d > 0 and n not in ("info",)}


# The machine


def _run(args: list[str]) -> str:
    try:
        return subprocess.run(args, capture_output=True, text=True, timeout=20).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""


def machine() -> dict:
    lscpu = _run(["lscpu"])
    model = re.search(r"Model name:\s*(.+)", lscpu)
    hypervisor = re.search(r"Hypervisor vendor:\s*(.+)", lscpu)
    mem = re.search(r"Mem:\s+(\S+)", _run(["free", "-h"]))
    packages = {}
    for name in (
        "celery",
        "kombu",
        "redis",
        "fastapi",
        "starlette",
        "uvicorn",
        "pillow",
        "pydantic",
        "boto3",
        "jinja2",
        "httpx",
    ):
        try:
            from importlib.metadata import version

            packages[name] = version(name)
        except Exception:  # noqa: BLE001 - not installed
            packages[name] = "-"
    for module in ("uvloop", "httptools"):
        try:
            __import__(module)
            packages[module] = "installed"
        except ImportError:
            packages[module] = "not installed"
    fs = _run(["findmnt", "-no", "FSTYPE", "--target", "/tmp"])
    return {
        "cpu": model.group(1).strip() if model else platform.processor(),
        "hypervisor": hypervisor.group(1).strip() if hypervisor else None,
        "nproc": os.cpu_count(),
        "memory": mem.group(1) if mem else "?",
        "kernel": platform.release(),
        "os": _run(["sh", "-c", ". /etc/os-release && echo $PRETTY_NAME"]),
        "python": platform.python_version(),
        "redis_server": _run(["redis-server", "--version"]).split(" ")[2].removeprefix("v=")
        if _run(["redis-server", "--version"])
        else "?",
        "wrk": _run(["sh", "-c", "wrk -v 2>&1 | head -1"]),
        "tmp_fs": fs,
        "packages": packages,
        "date": time.strftime("%Y-%m-%d %H:%M %Z"),
        "yardstick_ms": yardstick_ms(),
    }


def yardstick_ms() -> float:
    """A fixed pure-Python loop, best of five, in ms: how fast this (shared, virtual)
    machine was at the time, so that runs hours apart can be compared. The same code
    measured 15 to 21 monolith reviews/s here on one day."""
    best = float("inf")
    for _ in range(5):
        started = time.perf_counter()
        sum(i * i for i in range(1_000_000))
        best = min(best, time.perf_counter() - started)
    return best * 1000


def machine_jiffies() -> tuple[int, int]:
    """(busy, total) CPU jiffies of the whole machine, from /proc/stat."""
    fields = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = fields[3] + fields[4]
    return sum(fields) - idle, sum(fields)


class MachineLoad:
    """How busy the whole machine was over a block, and how much of that was not ours."""

    def __enter__(self) -> MachineLoad:
        self.busy, self.total = machine_jiffies()
        self.load = os.getloadavg()[0]
        return self

    def __exit__(self, *exc) -> None:
        busy, total = machine_jiffies()
        self.busy_pct = 100 * (busy - self.busy) / max(1, total - self.total) * (os.cpu_count() or 1)

    def result(self, ours_cpu_seconds: float, seconds: float) -> dict:
        ours = 100 * ours_cpu_seconds / seconds if seconds else 0.0
        return {
            "machine_busy_pct": round(self.busy_pct, 1),
            "ours_pct": round(ours, 1),
            "others_pct": round(max(0.0, self.busy_pct - ours), 1),
            "loadavg_before": round(self.load, 2),
        }
