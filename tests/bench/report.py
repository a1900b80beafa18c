"""Turn the results into docs/PERFORMANCE.md's figures (between its markers) and docs/perf-latency.png.

Only the part between ``<!-- bench:begin -->`` and ``<!-- bench:end -->`` is rewritten;
the analysis around it is written by people and kept.
"""

from __future__ import annotations

import statistics
from pathlib import Path

BEGIN, END = "<!-- bench:begin -->", "<!-- bench:end -->"
STAGES = ("ingest", "validate", "render", "social", "upload", "notify", "beat", "redis", "bench")


def f(value, digits: int = 1) -> str:
    if value is None:
        return "–"
    if isinstance(value, (int, float)) and abs(value) >= 1000:
        return f"{value:,.0f}"
    return f"{value:.{digits}f}"


def verdict(ok: bool | None) -> str:
    return "–" if ok is None else ("**met**" if ok else "**not met**")


def _half(pipeline: dict) -> dict | None:
    rates = pipeline.get("rates") or []
    return min(rates, key=lambda r: abs(r["fraction"] - 0.5)) if rates else None


def targets(r: dict) -> list[str]:
    rows = ["| target | measured | verdict |", "|---|---|---|"]
    mono = r.get("monolith", {}).get("throughput")
    scale = {row["concurrency"]: row["throughput"] for row in r.get("scale", [])}
    pipe = r.get("pipeline", {}).get("saturation", {}).get("throughput")
    rounds = r.get("ratio") or []
    if rounds:
        ratios = sorted(x["ratio"] for x in rounds)
        median = statistics.median(ratios)
        row = (
            f"| pipeline ≥ 0.8 × monolith throughput | **{median:.2f}×** as deployed ({_shape(rounds[0])}), "
            f"the median of {len(rounds)} back-to-back pairs: "
            + ", ".join(f"{x['pipeline']:.2f} ÷ {x['monolith']:.2f} = {x['ratio']:.2f}" for x in rounds)
        )
        if mono and scale:
            best_c, best = max(scale.items(), key=lambda kv: kv[1] or 0)
            row += (
                f"; in the runs below, {scale.get(1, 0) / mono:.2f}× at 1 process per stage, "
                f"best {best / mono:.2f}× at {best_c} per stage"
            )
        rows.append(row + f" | {verdict(median >= 0.8)} |")
    elif mono and pipe:
        row = (
            f"| pipeline ≥ 0.8 × monolith throughput | {f(pipe, 2)} ÷ {f(mono, 2)} = **{pipe / mono:.2f}×** as "
            f"deployed ({_shape(r['pipeline'])})"
        )
        if scale:
            best_c, best = max(scale.items(), key=lambda kv: kv[1] or 0)
            row += (
                f"; {f(scale.get(1), 2)} ÷ {f(mono, 2)} = {scale.get(1, 0) / mono:.2f}× at 1 process per stage; "
                f"best {best / mono:.2f}× at {best_c} per stage"
            )
        rows.append(row + f" | {verdict(pipe / mono >= 0.8)} |")
    half = _half(r.get("pipeline", {}))
    if half:
        p99 = half["latency_manifest_ms"]["p99"]
        rows.append(
            f"| p99 202→published ≤ 300 ms at half of saturation | p99 **{f(p99, 0)} ms** at "
            f"{f(half['rate'], 2)}/s ({half['fraction']:.0%} of saturation; manifest visible) | "
            f"{verdict(p99 is not None and p99 <= 300)} |"
        )
    ingest = r.get("ingest", {}).get("webhooks")
    if ingest:
        ok = ingest["rps"] >= 1000 and ingest["p99_ms"] <= 50
        row = (
            f"| ingest ≥ 1,000 webhooks/s, p99 ≤ 50 ms at 32 connections | **{f(ingest['rps'], 0)}/s**, "
            f"p99 **{f(ingest['p99_ms'], 0)} ms** on one uvicorn process"
        )
        two = r["ingest"].get("webhooks_2_workers")
        if two:
            row += f"; {f(two['rps'], 0)}/s, p99 {f(two['p99_ms'], 0)} ms on two"
        rows.append(row + f" | {verdict(ok)} |")
    publish = r.get("publish")
    if publish:
        small, large = (publish[k] for k in sorted(publish, key=int))
        ratio = large["wall_ms"] / small["wall_ms"]
        rows.append(
            f"| publish cost at 10,000 ≤ 1.1 × at 100 | {f(large['wall_ms'])} ms ÷ {f(small['wall_ms'])} ms = "
            f"**{ratio:.2f}×** (median of {small['runs']}); Redis commands {f(large['redis_commands'], 0)} vs "
            f"{f(small['redis_commands'], 0)}, store operations equal | {verdict(ratio <= 1.1)} |"
        )
    pipeline = r.get("pipeline", {})
    if pipeline.get("rss_before") and pipeline.get("rss_after"):
        worst = max(rss_growth(pipeline), key=lambda g: g[3])
        row = (
            f"| worker RSS does not grow | largest growth from submission 20 to {pipeline['submitted']:,}: "
            f"{worst[0]} {worst[1]} {f(worst[2] / 1024)} MiB ({worst[3]:+.1f} %)"
        )
        late = rss_late_growth(pipeline)
        if late:
            queue, name, delta, pct, since = max(late, key=lambda g: g[3])
            row += (
                f"; highest RSS of the last quarter (from submission {since:,}) against the quarter before: "
                f"largest {queue} {name} {f(delta / 1024)} MiB (**{pct:+.1f} %**) | {verdict(pct <= 1.0)} (≤ 1 % "
                f"counts as flat: a leak keeps raising the high-water mark, warm-up does not) |"
            )
        elif pipeline["submitted"] < 10_000:
            row += " | **not judged**: the target speaks of 10,000 submissions; run `--soak 10000` |"
        else:
            row += f" | {verdict(worst[3] <= 1.0)} |"
        rows.append(row)
    return rows


def _shape(pipeline: dict) -> str:
    processes = pipeline.get("processes") or {}
    return ", ".join(f"{queue} {n}" for queue, n in processes.items()) or "1 process per stage"


def rss_late_growth(pipeline: dict) -> list[tuple[str, str, int, float, int]]:
    """Growth of each process's high-water RSS: the highest reading of the soak's last
    quarter against the highest of the quarter before. RSS goes down as well as up (the
    allocator hands memory back), so two single readings compare noise; a leak raises
    the high-water mark quarter after quarter, warm-up does not."""
    series = pipeline.get("rss_series") or []
    if len(series) < 8:
        return []
    half = len(series) // 2
    third, fourth = series[half : half + (len(series) - half) // 2], series[half + (len(series) - half) // 2 :]
    out = []
    for queue, procs in series[-1]["rss"].items():
        for name in procs:
            before = max((point["rss"].get(queue, {}).get(name) or 0) for point in third)
            after = max((point["rss"].get(queue, {}).get(name) or 0) for point in fourth)
            if before:
                out.append((queue, name, after - before, 100 * (after - before) / before, fourth[0]["submitted"]))
    return out


def rss_growth(pipeline: dict) -> list[tuple[str, str, int, float]]:
    out = []
    for queue, procs in pipeline["rss_after"].items():
        for name, after in procs.items():
            before = pipeline["rss_before"].get(queue, {}).get(name)
            if before:
                out.append((queue, name, after - before, 100 * (after - before) / before))
    return out


def latency_row(label: str, run: dict) -> str:
    m, p = run["latency_manifest_ms"], run["latency_published_state_ms"]
    return (
        f"| {label} | {f(run.get('offered_rate'), 2)} | {f(run['throughput'], 2)} | {run['published']}/{run['accepted']} | "
        f"{f(m['p50'], 0)} | {f(m['p95'], 0)} | {f(m['p99'], 0)} | {f(p['p99'], 0)} | "
        f"{f(run['machine']['others_pct'], 0)} % |"
    )


def render(r: dict) -> str:
    out: list[str] = []
    m = r["machine"]
    pk = m["packages"]
    merged = "".join(f"; then `{c.strip()}`" for c in r.get("merged", []))
    out += [
        f"Measured {m['date']} by `{r['command'].strip()}` (`make bench`), in {r['seconds'] / 60:.1f} minutes{merged}.",
        "",
        f"Machine: {m['nproc']} vCPU {m['cpu']} ({m['hypervisor'] or 'bare metal'} VM), {m['memory']} memory, "
        f"{m['os']}, kernel {m['kernel']}, stores on {m['tmp_fs']}. Python {m['python']}, redis-server {m['redis_server']}, "
        f"{m['wrk']}. Celery {pk['celery']}, kombu {pk['kombu']}, redis-py {pk['redis']}, FastAPI {pk['fastapi']}, "
        f"Starlette {pk['starlette']}, uvicorn {pk['uvicorn']} (uvloop {pk['uvloop']}, httptools {pk['httptools']}), "
        f"Pillow {pk['pillow']}, pydantic {pk['pydantic']}."
        + (
            f" Yardstick (a fixed pure-Python loop, best of five, as the run began): {m['yardstick_ms']:.0f} ms; "
            "the machine's speed drifts with its neighbours, so compare runs by it."
            if m.get("yardstick_ms")
            else ""
        ),
        "",
        "### Against the targets",
        "",
        *targets(r),
        "",
    ]
    pipe = r.get("pipeline")
    if pipe:
        sat = pipe["saturation"]
        out += [
            f"### End to end, as deployed ({_shape(pipe)} processes)",
            "",
            (
                "Latency runs from the 202 to the review's `manifest.json` being visible in the publish store "
                "(the ctime its rename set), and to the state `published` (the `review.published` event, after notify). "
                '"Others" is the CPU that processes outside the benchmark used on the machine during the run.'
            ),
            "",
            "| offered | offered /s | published /s | published | p50 ms | p95 ms | p99 ms | p99 to `published` ms | others |",
            "|---|---|---|---|---|---|---|---|---|",
            *[latency_row(f"{run['fraction']:.0%} of saturation", run) for run in pipe.get("rates", [])],
            latency_row(f"saturation ({sat['count']} at once)", sat),
            "",
            (
                f"Saturation throughput: **{f(sat['throughput'], 2)} reviews/s** ({sat['published']} published in "
                f"{f(sat['seconds'])} s, from the first 202 to the last manifest). Ingest answered the 202 in "
                f"p50 {f(sat['accept_ms']['p50'], 0)} ms, p99 {f(sat['accept_ms']['p99'], 0)} ms."
            ),
            "",
            "CPU per review, by process (ms, at saturation; a worker's main and pool processes together):",
            "",
            "| " + " | ".join(k for k in STAGES if k in sat["cpu_ms_per_review"]) + " | total |",
            "|" + "---|" * (len([k for k in STAGES if k in sat["cpu_ms_per_review"]]) + 1),
            "| "
            + " | ".join(f(sat["cpu_ms_per_review"][k]) for k in STAGES if k in sat["cpu_ms_per_review"])
            + f" | {f(sum(v for k, v in sat['cpu_ms_per_review'].items() if k != 'bench'))} (without the load generator) |",
            "",
        ]
        low = (pipe.get("rates") or [sat])[0]
        out += [
            (
                f"Time from one state to the next at the lowest offered rate ({f(low.get('offered_rate'), 2)}/s): "
                "queue wait, the stage's work and its hand-off (p50 / p99 ms):"
            ),
            "",
            "| " + " | ".join(low["stage_ms"]) + " |",
            "|" + "---|" * len(low["stage_ms"]),
            "| " + " | ".join(f"{f(v['p50'], 0)} / {f(v['p99'], 0)}" for v in low["stage_ms"].values()) + " |",
            "",
        ]
    if r.get("ratio"):
        out += [
            "### Pipeline ÷ monolith, back to back",
            "",
            (
                "Each round runs the monolith, then the pipeline as deployed, one straight after the other "
                "(200 reviews each); the median ratio is the figure in the targets table."
            ),
            "",
            "| round | monolith /s | pipeline /s | ratio | CPU per review: monolith ms | pipeline ms (load generator) | others |",
            "|---|---|---|---|---|---|---|",
        ]
        for i, x in enumerate(r["ratio"], 1):
            out.append(
                f"| {i} | {f(x['monolith'], 2)} | {f(x['pipeline'], 2)} | {x['ratio']:.2f} | "
                f"{f(x['monolith_cpu_ms'])} | {f(x['pipeline_cpu_ms'])} ({f(x['bench_cpu_ms'])}) | "
                f"{' / '.join(f(o, 0) + ' %' for o in x['others_pct'])} |"
            )
        out.append("")
    mono, eng = r.get("monolith"), r.get("engine")
    if mono or eng:
        out += ["### Baselines", "", "| | reviews/s | pipeline ÷ this | notes |", "|---|---|---|---|"]
        pt = pipe["saturation"]["throughput"] if pipe else None
        if mono:
            out.append(
                f"| (a) monolith: the stage functions in a loop, {mono['processes']} processes | "
                f"**{f(mono['throughput'], 2)}** | {f(pt / mono['throughput'], 2) if pt else '–'} | "
                f"{mono['count']} reviews in {f(mono['seconds'])} s; {f(mono['cpu_ms_per_review'])} ms CPU each; "
                f"others used {f(mono.get('machine', {}).get('others_pct'), 0)} % of a core meanwhile |"
            )
        if eng:
            s, u = eng["saturation"], eng["unloaded"]
            out.append(
                f"| (b) bare engine: no-op Celery chain, same shape and queues | **{f(s['throughput'], 1)}** | "
                f"{f(pt / s['throughput'], 3) if pt else '–'} | {s['completed']} chains, {f(s['worker_cpu_ms_per_chain'])} ms of "
                f"worker CPU each; unloaded "
                f"(20/s) latency p50 {f(u['latency_ms']['p50'], 0)} ms, p99 {f(u['latency_ms']['p99'], 0)} ms |"
            )
        out.append("")
        if mono:
            out += [
                "Monolith, per review (ms, p50 / p99 over both processes):",
                "",
                "| " + " | ".join(mono["step_ms"]) + " | whole review |",
                "|" + "---|" * (len(mono["step_ms"]) + 1),
                "| "
                + " | ".join(f"{f(v['p50'])} / {f(v['p99'])}" for v in mono["step_ms"].values())
                + f" | {f(mono['review_ms']['p50'])} / {f(mono['review_ms']['p99'])} |",
                "",
            ]
    ing = r.get("ingest")
    if ing:
        out += [
            (
                f"### Ingest alone (one uvicorn process, {ing['webhooks']['connections']} connections, wrk, "
                f"{ing['webhooks']['seconds']} s each)"
            ),
            "",
            "| endpoint | requests/s | p50 ms | p90 ms | p99 ms | errors | ingest CPU | Redis CPU | wrk CPU |",
            "|---|---|---|---|---|---|---|---|---|",
        ]
        for label, key in (
            ("`GET /bench/hello` (async, bare)", "hello"),
            ("`GET /healthz` (sync: thread pool)", "healthz"),
            ("`POST /v1/writers/fuzz/reviews` (signed, 1 KB)", "webhooks"),
            ("the same POST, two uvicorn processes (`--workers 2`)", "webhooks_2_workers"),
        ):
            if key not in ing:
                continue
            w = ing[key]
            out.append(
                f"| {label} | **{f(w['rps'], 0)}** | {f(w['p50_ms'])} | {f(w['p90_ms'])} | {f(w['p99_ms'])} | "
                f"{w['errors']} | {f(w['server_cpu_pct'], 0)} % | {f(w['redis_cpu_pct'], 0)} % | {f(w['wrk_cpu_pct'], 0)} % |"
            )
        w = ing["webhooks"]
        out += [
            "",
            (
                f"Every accepted webhook was queued: {w['queued']:,} validate messages for {w['requests']:,} "
                f"requests{' (the signed requests ran out and wrapped: duplicates answered from memory)' if w['wrapped'] else ''}."
            ),
            "",
        ]
    scale = r.get("scale")
    if scale:
        out += [
            "### Worker processes per stage",
            "",
            "| processes per stage | reviews/s | p50 ms | p99 ms | others |",
            "|---|---|---|---|---|",
        ]
        for row in scale:
            lm = row["latency_manifest_ms"]
            out.append(
                f"| {row['concurrency']} | **{f(row['throughput'], 2)}** | {f(lm['p50'], 0)} | {f(lm['p99'], 0)} | "
                f"{f(row['machine']['others_pct'], 0)} % |"
            )
        out.append("")
    pub = r.get("publish")
    if pub:
        out += [
            "### Publish cost against catalogue size (the upload task for one more review)",
            "",
            (
                "| reviews already published | wall ms (p50) | wall ms (p90) | CPU ms | of which catalogue ms | "
                "Redis commands | store operations | Redis bytes per entry |"
            ),
            "|---|---|---|---|---|---|---|---|",
        ]
        for key in sorted(pub, key=int):
            p = pub[key]
            ops = ", ".join(
                f"{store} {' '.join(f'{k}×{v}' for k, v in sorted(c.items()))}" for store, c in p["store_ops"].items()
            )
            out.append(
                f"| {int(key):,} | {f(p['wall_ms'])} | {f(p['wall_ms_p90'])} | {f(p['cpu_ms'])} | "
                f"{f(p['catalogue_ms'])} | {f(p['redis_commands'], 0)} | {ops} | {f(p['redis_bytes_per_entry'], 0)} |"
            )
        any_pub = pub[max(pub, key=int)]
        out += [
            "",
            "Redis commands of one upload (server side, including those run by its Lua scripts): "
            + ", ".join(f"{k} {v}" for k, v in any_pub["commands"].items())
            + ".",
            "",
        ]
    cat = r.get("catalogue")
    if cat:
        out += [
            "### The catalogue under concurrent publications",
            "",
            (
                "`catalogue_store.publish` flat out from K processes (one redis-server, one local store): every "
                "publication re-renders the index, its page and both feeds, and renders again if another changed "
                "the catalogue meanwhile."
            ),
            "",
            "| publishing processes | publications/s | rounds per publication (mean / max) | gave up (CatalogueBusy) |",
            "|---|---|---|---|",
        ]
        for row in cat:
            out.append(
                f"| {row['processes']} | **{f(row['publications_per_second'])}** | {f(row['rounds_mean'], 2)} / "
                f"{row['rounds_max']} | {row['busy']} |"
            )
        out.append("")
    if pipe and pipe.get("sizes"):
        out += [
            "### Review size",
            "",
            "| review | latency ms (each, one at a time) | largest worker RSS before → peak (MiB) |",
            "|---|---|---|",
        ]
        for row in pipe["sizes"]:
            peaks = ", ".join(
                f"{q} {row['rss_before_kb'][q] / 1024:.0f}→{row['rss_peak_kb'].get(q, 0) / 1024:.0f}"
                for q in row["rss_before_kb"]
            )
            out.append(
                f"| {row['size']:,} bytes | {', '.join(f(x, 0) for x in row['latency_ms'])} "
                f"({row['published']}/{row['count']} published) | {peaks} |"
            )
        out.append("")
    if pipe and pipe.get("rss_after"):
        out += [
            f"### Worker RSS, after 20 and after {pipe['submitted']:,} submissions",
            "",
            "| worker | process | MiB after 20 | MiB after all | change |",
            "|---|---|---|---|---|",
        ]
        for queue, name, delta, pct in rss_growth(pipe):
            out.append(
                f"| {queue} | {name} | {pipe['rss_before'][queue][name] / 1024:.1f} | "
                f"{pipe['rss_after'][queue][name] / 1024:.1f} | {delta / 1024:+.1f} MiB ({pct:+.1f} %) |"
            )
        out.append("")
        series = pipe.get("rss_series")
        if series:
            out += [
                "Pool processes' VmRSS (MiB) through the soak, read between chunks of submissions:",
                "",
                "| submitted | " + " | ".join(series[0]["rss"]) + " |",
                "|---|" + "---|" * len(series[0]["rss"]),
            ]
            for point in series:
                out.append(
                    f"| {point['submitted']:,} | "
                    + " | ".join(f"{point['rss'][q].get('pool-1', 0) / 1024:.1f}" for q in series[0]["rss"])
                    + " |"
                )
            out.append("")
    if pipe:
        sat = pipe["saturation"]
        calls = sat["redis_calls_per_review"]
        out += [
            "### Redis per review",
            "",
            f"At saturation, Redis ran **{f(sat['redis_calls_total_per_review'], 0)} commands per review** "
            f"(INFO commandstats, commands inside Lua scripts included), of which about "
            f"{f(pipe['redis_idle_per_second'], 0)}/s are the idle background of six processes polling "
            f"(BRPOP, unacked restore, beat): **{f(pipe['redis_net_calls_per_review'], 0)} net per review**. By command: "
            + ", ".join(f"{k} {v:g}" for k, v in list(calls.items())[:24])
            + ".",
            "",
        ]
    out += video_section(r.get("video"))
    rb = r.get("redis_benchmark")
    if rb:
        names = list(rb["single"])
        out += [
            "`redis-benchmark` on the same machine (50 clients, append-only on; requests/s):",
            "",
            "| | " + " | ".join(names) + " |",
            "|---|" + "---|" * len(names),
            "| one command per round trip | " + " | ".join(f(rb["single"].get(n), 0) for n in names) + " |",
            "| pipelined 16 | " + " | ".join(f(rb["pipelined-16"].get(n), 0) for n in names) + " |",
            "",
        ]
    return "\n".join(out)


def video_section(video: dict | None) -> list[str]:
    """The teaser video: CPU per review and per teaser second, by phase; publication with it off and on."""
    if not video:
        return []
    stage = video["stage"]
    out = [
        "### The teaser video (video stage)",
        "",
        (
            f"CPU (process and children, espeak-ng included) per teaser: **{f(stage['cpu_per_review'], 2)} s per review**, "
            f"**{f(stage['cpu_per_teaser_second'], 3)} s per teaser second**, so {f(stage['cpu_for_30s'], 1)} s for a 30 s teaser "
            "(target at most 5, aim 2)."
        ),
        "",
        "| teaser s | pictures | MB | CPU s | per teaser s | speech | loudness | frames | encode |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for run in stage["runs"]:
        p = run["phases"]
        out.append(
            f"| {f(run['seconds'])} | {run['pictures']} | {f(run['bytes'] / 1e6, 2)} | {f(run['cpu'], 2)} | "
            f"{f(run['cpu_per_teaser_second'], 3)} | {f(p['speech'], 2)} | {f(p['loudness'], 2)} | "
            f"{f(p['frames'], 2)} | {f(p['encode'], 2)} |"
        )
    e2e = video["end_to_end"]
    off, on = e2e["video_off"], e2e["video_on"]
    out += [
        "",
        (
            f"End to end, {on['count']} reviews one at a time (local stores): published p50 "
            f"{f(off['published_ms']['p50'], 0)} ms with the video stage off, {f(on['published_ms']['p50'], 0)} ms with it on; "
            f"the video ready p50 {f(on['video_ready_ms']['p50'], 0)} ms after submission; the video worker's CPU "
            f"{f(on['video_worker_cpu_per_review'], 2)} s per review."
        ),
        "",
    ]
    return out


def plot(r: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    pipe = r.get("pipeline") or {}
    runs = sorted(pipe.get("rates", []), key=lambda x: x["offered_rate"] or 0)
    fig, (left, right) = plt.subplots(1, 2, figsize=(13, 5.2), gridspec_kw={"width_ratios": [1.6, 1]})
    if runs:
        x = [run["offered_rate"] for run in runs]
        for key, style, label in (("p50", "o-", "p50"), ("p95", "s--", "p95"), ("p99", "^-", "p99")):
            left.plot(x, [run["latency_manifest_ms"][key] for run in runs], style, label=f"{label} 202 → manifest")
        for xi, run in zip(x, runs, strict=True):
            left.annotate(
                f"{run['fraction']:.0%}",
                (xi, run["latency_manifest_ms"]["p99"]),
                textcoords="offset points",
                xytext=(0, 7),
                ha="center",
                fontsize=8,
                color="0.35",
            )
    left.axhline(300, color="crimson", linestyle=":", linewidth=1.5, label="target: p99 ≤ 300 ms at half saturation")
    sat = pipe.get("saturation", {}).get("throughput")
    if sat:
        left.axvline(sat, color="0.3", linestyle="--", linewidth=1, label=f"pipeline saturation {sat:.1f}/s")
    if r.get("monolith"):
        left.axvline(
            r["monolith"]["throughput"],
            color="seagreen",
            linestyle="-.",
            linewidth=1,
            label=f"monolith {r['monolith']['throughput']:.1f}/s",
        )
    if r.get("engine"):
        left.axhline(
            r["engine"]["unloaded"]["latency_ms"]["p50"],
            color="0.6",
            linewidth=1,
            label="bare engine, p50 (no-op chain)",
        )
    left.set_yscale("log")
    left.yaxis.set_major_locator(matplotlib.ticker.LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    left.yaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _: f"{v:,.0f}"))
    left.yaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    left.set_xlabel("offered load (reviews per second)")
    left.set_ylabel("latency, ms (log scale)")
    left.set_title(f"Latency against offered load (as deployed: {_shape(pipe)})", fontsize=10)
    left.grid(True, which="both", alpha=0.3)
    left.legend(fontsize=8, loc="lower right", framealpha=0.9)
    left.set_xlim(left=0)
    left.margins(y=0.12)

    bars = []
    if r.get("monolith"):
        bars.append((f"monolith\n({r['monolith']['processes']} procs)", r["monolith"]["throughput"], "seagreen"))
    if sat:
        bars.append(("pipeline\nas deployed", sat, "navy"))
    for row in r.get("scale", []):
        bars.append((f"pipeline\n{row['concurrency']} per stage", row["throughput"] or 0, "steelblue"))
    if r.get("engine"):
        bars.append(("bare\nengine", r["engine"]["saturation"]["throughput"] or 0, "0.55"))
    if bars:
        labels, values, colours = zip(*bars, strict=True)
        right.bar(labels, values, color=colours)
        for i, v in enumerate(values):
            right.annotate(f"{v:.1f}", (i, v), textcoords="offset points", xytext=(0, 3), ha="center", fontsize=9)
        right.set_yscale("log")
        right.yaxis.set_major_locator(matplotlib.ticker.LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
        right.yaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _: f"{v:,.0f}"))
        right.yaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
        right.set_ylabel("reviews per second (log scale)")
        right.set_title("Throughput at saturation")
        right.grid(True, axis="y", which="both", alpha=0.3)
        right.tick_params(axis="x", labelsize=8)
    m = r["machine"]
    fig.suptitle(f"Marquee on {m['nproc']} vCPU {m['cpu']}, {m['date']}", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


SKELETON = f"""# Performance

`make bench` (`python -m tests.bench`) measures Marquee on the local stack and rewrites the
figures between the markers below, and `docs/perf-latency.png`.

{BEGIN}
{END}
"""


def write_report(results: dict, *, docs: Path) -> None:
    docs.mkdir(parents=True, exist_ok=True)
    doc = docs / "PERFORMANCE.md"
    text = doc.read_text() if doc.exists() else SKELETON
    if BEGIN not in text or END not in text:
        text = text.rstrip() + "\n\n" + BEGIN + "\n" + END + "\n"
    head, rest = text.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    block = "\n\n![Latency against offered load, and throughput](perf-latency.png)\n\n" + render(results) + "\n"
    doc.write_text(head + BEGIN + block + END + tail)
    plot(results, docs / "perf-latency.png")
