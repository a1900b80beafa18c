"""``python -m tests.bench``: run the benchmarks, write docs/PERFORMANCE.md's figures and the plot.

Parts (``--only`` picks some): redis, ingest, monolith, publish, pipeline (end to end on
the stack as deployed, one social process per core and one for each other stage, with the
latency sweep, review sizes and the RSS soak), engine, scale (1, 2 and 4 per stage), ratio
(the monolith and the pipeline back to back, ``--rounds`` times), video (the teaser video's CPU
per review and per teaser second, and publication with the video stage off and on). Defaults fit in about ten
minutes on two cores. Everything runs under a temporary directory that is removed afterwards (``--keep`` keeps it).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from tests.bench import ingest_load, monolith, video
from tests.bench.common import REPO, commandstats, machine, stats_delta
from tests.bench.pipeline import PipelineBench, RssSampler, deployed_processes
from tests.bench.report import write_report
from tests.support.processes import RedisServer, Stack

PARTS = ("redis", "ingest", "monolith", "publish", "catalogue", "pipeline", "engine", "scale", "ratio", "video")


def say(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m tests.bench", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--only", default=",".join(PARTS), help=f"comma-separated parts of {', '.join(PARTS)}")
    p.add_argument("--reviews", type=int, default=200, help="submissions offered at saturation (default 200)")
    p.add_argument("--monolith", type=int, default=200, help="reviews the monolith publishes (default 200)")
    p.add_argument("--engine", type=int, default=1000, help="no-op chains at saturation (default 1000)")
    p.add_argument(
        "--rates",
        default="0.25,0.5,0.75,0.9",
        help="fixed offered rates, as fractions of the measured saturation throughput",
    )
    p.add_argument("--rate-seconds", type=float, default=12, help="how long each fixed rate is offered (default 12)")
    p.add_argument("--sizes", default="1000,100000,1000000", help="review sizes in bytes (default 1 KB, 100 KB, 1 MB)")
    p.add_argument("--size-count", type=int, default=3, help="reviews of each size, one at a time (default 3)")
    p.add_argument(
        "--soak",
        type=int,
        default=1500,
        help="submissions in all through the pipeline stack before RSS is read again (default 1500, "
        "what fits in a ten-minute run; --soak 10000 takes about 25 minutes more on two cores)",
    )
    p.add_argument(
        "--rounds",
        type=int,
        default=3,
        help="alternating monolith / pipeline pairs for the ratio (default 3; its median is the figure)",
    )
    p.add_argument("--scale", default="1,2,4", help="worker processes per stage to compare (default 1,2,4)")
    p.add_argument("--videos", type=int, default=4, help="teasers made for the video part (default 4)")
    p.add_argument("--seed-small", type=int, default=100)
    p.add_argument("--seed-large", type=int, default=10_000)
    p.add_argument("--publish-runs", type=int, default=30, help="uploads timed at each catalogue size (default 30)")
    p.add_argument("--ingest-seconds", type=int, default=10)
    p.add_argument("--connections", type=int, default=32)
    p.add_argument("--docs", type=Path, default=REPO / "docs", help="where PERFORMANCE.md and the plot go")
    p.add_argument("--results", type=Path, default=REPO / "var" / "bench" / "results.json")
    p.add_argument("--no-report", action="store_true", help="only write the results JSON")
    p.add_argument("--catalogue-seconds", type=float, default=4, help="how long each catalogue contention run lasts")
    p.add_argument(
        "--merge",
        action="store_true",
        help="update the parts run in the existing results JSON, and report from all of it",
    )
    p.add_argument("--keep", action="store_true", help="keep the temporary directory (logs, stores)")
    return p.parse_args(argv)


# Redis itself


def redis_benchmark(root: Path) -> dict:
    """redis-benchmark on a redis-server configured as the bench's (append-only), 50 clients."""
    server = RedisServer(root / "redis-benchmark").start()
    try:
        return redis_benchmark_on(server.port)
    finally:
        server.stop()


def redis_benchmark_on(port: int) -> dict:
    """redis-benchmark against the redis-server on ``port``, 50 clients: single commands, pipelined
    16 deep, and a two-command script (tests/bench/redis_capacity.py runs it on a Sentinel primary)."""
    out: dict[str, dict[str, Any]] = {}
    for label, extra in (("single", []), ("pipelined-16", ["-P", "16"])):
        done = subprocess.run(
            [
                "redis-benchmark",
                "-h",
                "127.0.0.1",
                "-p",
                str(port),
                "-q",
                "--csv",
                "-n",
                "100000",
                "-c",
                "50",
                "-t",
                "set,get,lpush,rpop,hset,incr",
                *extra,
            ],
            capture_output=True,
            text=True,
            timeout=300,
        )
        out[label] = _parse_benchmark(done.stdout)
    done = subprocess.run(
        [
            "redis-benchmark",
            "-h",
            "127.0.0.1",
            "-p",
            str(port),
            "-q",
            "--csv",
            "-n",
            "50000",
            "-c",
            "50",
            "EVAL",
            "redis.call('HSET', KEYS[1], 'state', ARGV[1]); return redis.call('RPUSH', KEYS[2], ARGV[1])",
            "2",
            "bench:h",
            "bench:l",
            "x",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    out["single"]["EVAL (HSET+RPUSH)"] = next(iter(_parse_benchmark(done.stdout).values()), None)
    return out


def _parse_benchmark(text: str) -> dict[str, float]:
    rates = {}
    for line in text.splitlines():
        cells = [c.strip('"') for c in line.split('","')]
        if len(cells) >= 2 and cells[0] != "test":
            with contextlib.suppress(ValueError):
                rates[cells[0].split(" ")[0]] = float(cells[1].strip('"'))
    return rates


# The parts


def run_monolith(root: Path, args) -> dict:
    server = RedisServer(root / "monolith-redis").start()
    try:
        return monolith.run(args.monolith, publish_root=root / "monolith-publish", redis_url=server.url)
    finally:
        server.stop()


def run_publish(root: Path, args) -> dict:
    server = RedisServer(root / "publish-redis").start()
    try:
        stack = Stack(
            root / "publish-stack",
            redis_url=server.url,
            archive_url=f"file://{root}/publish-archive",
            publish_url=str(root / "publish-publish"),
            public_base_url="http://127.0.0.1/site",
        )
        out = {}
        for seed in (args.seed_small, args.seed_large):
            done = subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "tests.bench.publish_cost",
                    "--seed",
                    str(seed),
                    "--runs",
                    str(args.publish_runs),
                ],
                env=stack.env,
                cwd=REPO,
                capture_output=True,
                text=True,
                timeout=900,
            )
            found = re.search(r"BENCH-JSON (.*)", done.stdout)
            if not found:
                raise RuntimeError(f"publish_cost failed:\n{done.stdout[-2000:]}\n{done.stderr[-4000:]}")
            out[str(seed)] = json.loads(found.group(1))
        return out
    finally:
        server.stop()


def run_catalogue(root: Path, args) -> list[dict]:
    from tests.bench import catalogue_contention

    server = RedisServer(root / "catalogue-redis").start()
    try:
        return [
            catalogue_contention.run(
                server.url.replace("/0", f"/{k}"), root / f"catalogue-{k}", processes=k, seconds=args.catalogue_seconds
            )
            for k in (1, 2, 4)
        ]
    finally:
        server.stop()


def run_pipeline(root: Path, args, redis_server: RedisServer) -> dict:
    result: dict = {}
    # The stack as `make run` and docker-compose deploy it: the like-for-like comparison with a
    # monolith that runs a process per core.
    result["processes"] = deployed_processes()
    bench = PipelineBench(root / "pipeline", concurrency=result["processes"], redis_server=redis_server).start()
    try:
        say("pipeline: warming up")
        bench.offer(20, rate=None)
        submitted = 20
        bench.drain()
        time.sleep(2)  # a settling pause before the RSS baseline: a measurement, not a wait for an outcome
        result["rss_before"] = bench.rss()
        before = commandstats(bench.stack.redis)
        time.sleep(5)  # the idle measurement window itself
        result["redis_idle_per_second"] = sum(stats_delta(before, commandstats(bench.stack.redis)).values()) / 5

        say(f"pipeline: {args.reviews} reviews at saturation")
        saturation = bench.offer(args.reviews, rate=None)
        submitted += args.reviews
        result["saturation"] = saturation
        throughput = saturation["throughput"] or 1.0
        idle_calls = result["redis_idle_per_second"] * saturation["seconds"]
        result["redis_net_calls_per_review"] = (saturation["redis_calls_total"] - idle_calls) / saturation["published"]

        result["rates"] = []
        for fraction in (float(f) for f in args.rates.split(",") if f):
            rate = fraction * throughput
            count = max(10, round(rate * args.rate_seconds))
            say(f"pipeline: {count} reviews at {rate:.2f}/s ({fraction:.0%} of saturation)")
            bench.drain()
            run = bench.offer(count, rate=rate)
            run["fraction"] = fraction
            result["rates"].append(run)
            submitted += count

        result["sizes"] = []
        for size in (int(s) for s in args.sizes.split(",") if s):
            bench.drain()
            say(f"pipeline: {args.size_count} reviews of {size:,} bytes, one at a time")
            rss_before = bench.rss()
            with RssSampler(bench) as sampler:
                runs = [bench.offer(1, rate=None, size=size, timeout=120) for _ in range(args.size_count)]
            latencies = [r["latency_manifest_ms"]["p50"] for r in runs if r["published"]]
            result["sizes"].append(
                {
                    "size": size,
                    "count": args.size_count,
                    "published": sum(r["published"] for r in runs),
                    "latency_ms": sorted(latencies),
                    "stage_ms": {k: v["p50"] for k, v in runs[-1]["stage_ms"].items()},
                    "rss_before_kb": {q: max(v.values()) for q, v in rss_before.items()},
                    "rss_peak_kb": sampler.peak,
                }
            )
            submitted += args.size_count

        remaining = max(0, args.soak - submitted)
        if remaining:
            rate = 0.8 * throughput
            say(f"pipeline: soak, {remaining} more reviews at {rate:.2f}/s (to {args.soak} in all)")
            result["rss_series"] = [{"submitted": submitted, "rss": bench.rss()}]
            published = 0
            while remaining:  # in chunks, reading RSS between them, to see a trend rather than two points
                chunk = min(remaining, 300)
                bench.drain()
                soak = bench.offer(chunk, rate=rate, timeout=max(120, chunk / rate))
                published += soak["published"]
                submitted += chunk
                remaining -= chunk
                bench.drain()
                result["rss_series"].append({"submitted": submitted, "rss": bench.rss()})
            result["soak"] = {
                "published": published,
                "last_chunk": {
                    k: soak[k] for k in ("count", "published", "throughput", "latency_manifest_ms", "machine")
                },
            }
        bench.drain()
        time.sleep(2)
        result["rss_after"] = bench.rss()
        result["submitted"] = submitted
        return result
    finally:
        bench.stop()


def run_engine(root: Path, args, redis_server: RedisServer) -> dict:
    stack = Stack(
        root / "engine-stack",
        redis_url=redis_server.url.replace("/0", "/5"),
        archive_url=f"file://{root}/engine-archive",
        publish_url=str(root / "engine-publish"),
    )
    for key in (
        "MARQUEE_REDIS_URL",
        "MARQUEE_ARCHIVE_URL",
        "MARQUEE_PUBLISH_URL",
        "MARQUEE_PUBLIC_BASE_URL",
        "MARQUEE_WRITERS_FILE",
    ):
        os.environ[key] = stack.env[key]  # the driver's side of the engine reads the same settings
    from tests.bench import (
        engine as engine_module,  # its Celery app reads the settings just set
    )

    engine = engine_module.Engine(root / "engine", stack.env).start()
    try:
        engine.run(50, rate=None)  # warm up
        unloaded = engine.run(100, rate=20)
        saturated = engine.run(args.engine, rate=None)
        return {"unloaded": unloaded, "saturation": saturated}
    finally:
        engine.stop()
        stack.client.close()


def run_scale(root: Path, args, redis_server: RedisServer) -> list[dict]:
    rows = []
    for concurrency in (int(c) for c in args.scale.split(",") if c):
        bench = PipelineBench(
            root / f"pipeline-c{concurrency}", concurrency=concurrency, redis_server=redis_server
        ).start()
        try:
            say(f"scale: concurrency {concurrency}, {args.reviews} reviews at saturation")
            bench.offer(20, rate=None)
            bench.drain()
            rows.append({"concurrency": concurrency, **_scale_row(bench.offer(args.reviews, rate=None))})
        finally:
            bench.stop()
    return rows


def run_ratio(root: Path, args, redis_server: RedisServer) -> list[dict]:
    """Pipeline ÷ monolith, ``args.rounds`` times, each pair back to back.

    On this shared machine both sides' speed drifts by tens of percent within minutes
    (the same monolith measured 15 to 21 reviews/s on one day), and the parts above run
    minutes apart: a ratio of two runs taken close together, repeated, says more than
    one of two runs taken far apart. The median of the rounds is the reported figure.
    """
    rounds = []
    for i in range(args.rounds):
        say(f"ratio: round {i + 1} of {args.rounds}: the monolith, then the pipeline as deployed")
        mono = run_monolith(root / f"ratio-{i}", args)
        bench = PipelineBench(
            root / f"ratio-pipeline-{i}", concurrency=deployed_processes(), redis_server=redis_server
        ).start()
        try:
            bench.offer(20, rate=None)
            bench.drain()
            pipe = bench.offer(args.reviews, rate=None)
        finally:
            bench.stop()
        cpu = pipe["cpu_ms_per_review"]
        rounds.append(
            {
                "processes": deployed_processes(),
                "monolith": mono["throughput"],
                "pipeline": pipe["throughput"],
                "ratio": (pipe["throughput"] or 0) / mono["throughput"],
                "monolith_cpu_ms": mono["cpu_ms_per_review"],
                "pipeline_cpu_ms": sum(v for k, v in cpu.items() if k != "bench"),
                "bench_cpu_ms": cpu.get("bench"),
                "others_pct": [mono["machine"]["others_pct"], pipe["machine"]["others_pct"]],
            }
        )
    return rounds


def _scale_row(run: dict) -> dict:
    return {k: run[k] for k in ("throughput", "latency_manifest_ms", "published", "cpu_ms_per_review", "machine")}


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    parts = set(args.only.split(","))
    unknown = parts - set(PARTS)
    if unknown:
        raise SystemExit(f"unknown parts: {', '.join(sorted(unknown))}")
    started = time.monotonic()
    root = Path(tempfile.mkdtemp(prefix="marquee-bench-"))
    results: dict = {
        "machine": machine(),
        "command": "python -m tests.bench " + " ".join(argv or sys.argv[1:]),
        "args": {k: str(v) for k, v in vars(args).items()},
    }
    if args.merge and args.results.exists():
        earlier = json.loads(args.results.read_text())
        results = {**earlier, "merged": [*earlier.get("merged", []), results["command"]]}
    try:
        if "redis" in parts:
            say("redis-benchmark")
            results["redis_benchmark"] = redis_benchmark(root)
        if "ingest" in parts:
            say("ingest alone (wrk)")
            results["ingest"] = ingest_load.run(
                root / "ingest", seconds=args.ingest_seconds, connections=args.connections
            )
        if "monolith" in parts:
            say(f"monolith: {args.monolith} reviews")
            results["monolith"] = run_monolith(root, args)
        if "publish" in parts:
            say(f"publish cost at {args.seed_small} and {args.seed_large} reviews")
            results["publish"] = run_publish(root, args)
        if "catalogue" in parts:
            say("catalogue contention: 1, 2 and 4 publishers")
            results["catalogue"] = run_catalogue(root, args)
        redis_server = RedisServer(root / "redis").start()
        try:
            if "pipeline" in parts:
                results["pipeline"] = run_pipeline(root, args, redis_server)
            if "engine" in parts:
                say(f"bare engine: {args.engine} chains")
                results["engine"] = run_engine(root, args, redis_server)
            if "scale" in parts:
                results["scale"] = run_scale(root, args, redis_server)
            if "ratio" in parts:
                results["ratio"] = run_ratio(root, args, redis_server)
            if "video" in parts:
                say(f"video: {args.videos} teasers in-process, then {args.videos} reviews end to end, video off and on")
                results["video"] = {
                    "stage": video.stage_cost(args.videos),
                    "end_to_end": video.end_to_end(root / "video", redis_server, count=args.videos),
                }
        finally:
            redis_server.stop()
    finally:
        results.setdefault("seconds", time.monotonic() - started)
        args.results.parent.mkdir(parents=True, exist_ok=True)
        args.results.write_text(json.dumps(results, indent=1, default=str))
        if args.keep:
            say(f"kept {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)
    say(f"results in {args.results} ({results['seconds']:.0f} s)")
    if not args.no_report:
        write_report(results, docs=args.docs)
        say(f"wrote {args.docs / 'PERFORMANCE.md'} and {args.docs / 'perf-latency.png'}")


if __name__ == "__main__":
    main()
