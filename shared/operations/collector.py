"""The Prometheus view: what ``/metrics`` on the ingest service exports.

The counters and histograms kept in Redis (``shared.observability.metrics``), and the
queue gauges read at scrape time (``shared.operations.queue_stats``).
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import redis
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily

from shared.observability.metrics import _DEFINED, COUNTERS_KEY, HISTOGRAMS_KEY, RedisCounter
from shared.operations.failure_sources import failed_count
from shared.operations.queues import queue_stats


class RedisCollector:
    """Exports the counters and histograms above, and queue gauges read at scrape time."""

    def __init__(self, client: redis.Redis):
        self.client = client

    def collect(self) -> Iterator:
        up = GaugeMetricFamily("marquee_redis_up", "1 if Redis answered this scrape, else 0.")
        try:
            with self.client.pipeline(transaction=False) as pipe:
                pipe.hgetall(COUNTERS_KEY)
                pipe.hgetall(HISTOGRAMS_KEY)
                counters, histograms = pipe.execute()
            stats = queue_stats(self.client)
            awaiting = failed_count(self.client)
        except redis.RedisError:
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up

        counter_values: dict[str, dict[tuple, float]] = {}
        for field, value in counters.items():
            name, labels = json.loads(field)[:2]
            counter_values.setdefault(name, {})[tuple(tuple(kv) for kv in labels)] = float(value)
        hist_values: dict[str, dict[tuple, dict]] = {}
        for field, value in histograms.items():
            name, labels, part = json.loads(field)
            entry = hist_values.setdefault(name, {}).setdefault(tuple(tuple(kv) for kv in labels), {})
            entry[part] = float(value)

        for metric in _DEFINED:
            if isinstance(metric, RedisCounter):
                counter = CounterMetricFamily(metric.name, metric.documentation, labels=metric.labelnames)
                values = dict.fromkeys((tuple(sorted(k.items())) for k in metric.known), 0.0)
                values.update(counter_values.get(metric.name, {}))
                for labels, value in sorted(values.items()):
                    label_map = dict(labels)
                    counter.add_metric([label_map.get(n, "") for n in metric.labelnames], value)
                yield counter
            else:
                histogram = HistogramMetricFamily(metric.name, metric.documentation, labels=metric.labelnames)
                for labels, parts in sorted(hist_values.get(metric.name, {}).items()):
                    label_map = dict(labels)
                    cumulative, buckets = 0.0, []
                    for i, bound in enumerate(metric.buckets):
                        cumulative += parts.get(i, 0.0)
                        buckets.append((_bound(bound), cumulative))
                    cumulative += parts.get(len(metric.buckets), 0.0)
                    buckets.append(("+Inf", cumulative))
                    histogram.add_metric(
                        [label_map.get(n, "") for n in metric.labelnames], buckets, sum_value=parts.get("sum", 0.0)
                    )
                yield histogram

        messages = GaugeMetricFamily(
            "marquee_queue_messages",
            "Messages in each stage queue: waiting, or unacked (reserved by a worker).",
            labels=["queue", "state"],
        )
        age = GaugeMetricFamily(
            "marquee_queue_oldest_message_age_seconds",
            "Age of the oldest waiting message in each queue (0 when none waits).",
            labels=["queue"],
        )
        workers = GaugeMetricFamily(
            "marquee_queue_workers", "Workers consuming each queue (heartbeat within the last 15 s).", labels=["queue"]
        )
        for row in stats:
            messages.add_metric([row.queue, "waiting"], row.waiting)
            messages.add_metric([row.queue, "unacked"], row.unacked)
            age.add_metric([row.queue], row.oldest_age_seconds or 0.0)
            workers.add_metric([row.queue], row.workers)
        yield messages
        yield age
        yield workers
        failed = GaugeMetricFamily(
            "marquee_submissions_awaiting_retry", "Submissions now failed, awaiting an operator's retry."
        )
        failed.add_metric([], awaiting)
        yield failed


def _bound(value: float) -> str:
    return repr(float(value))
