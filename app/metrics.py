"""The Prometheus metrics every process records (prometheus-client).

Several web processes and `vigilo worker` processes run at once; each records into files under
PROMETHEUS_MULTIPROC_DIR (with Redis, `vigilo serve` and `vigilo worker` point it at one shared folder
per database: app/cli.py), and /metrics adds them up. The embedded default, one process, records in
memory. What is a state rather than a count (deliveries waiting, the tick's age) is read from the database
when /metrics is scraped, so it is the same whichever process answers.
"""

from __future__ import annotations

import os
from collections.abc import Iterable

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Histogram, generate_latest, multiprocess
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

MULTIPROCESS_ENV = "PROMETHEUS_MULTIPROC_DIR"

# Seconds: from a quarter second (a page sent at once) to ten minutes (a queue that stood still).
LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600)

DELIVERIES = Counter(
    "vigilo_deliveries_total",
    "Outbound messages by channel and outcome (sent, retrying, failed, unknown, skipped).",
    ["channel", "outcome"],
)
DELIVERY_LATENCY = Histogram(
    "vigilo_delivery_latency_seconds",
    "From a message being queued to the provider accepting it.",
    ["channel"],
    buckets=LATENCY_BUCKETS,
)
ESCALATION_LATENESS = Histogram(
    "vigilo_escalation_lateness_seconds",
    "From a page's deadline to its escalation being decided.",
    buckets=LATENCY_BUCKETS,
)
TICK_DURATION = Histogram(
    "vigilo_tick_duration_seconds",
    "How long one periodic tick took (the sweeps, rotations, reminders and heartbeat checks it won).",
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30),
)
INBOUND = Counter(
    "vigilo_inbound_webhooks_total",
    "Inbound webhooks (slack, sms, voice, pagerduty, alert, heartbeat) by outcome.",
    ["kind", "outcome"],
)


class _Facts(Collector):
    """Gauges read at scrape time: given as (name, help, value) triples."""

    def __init__(self, gauges: Iterable[tuple[str, str, float]]) -> None:
        self.gauges = list(gauges)

    def collect(self) -> Iterable[GaugeMetricFamily]:
        for name, help_text, value in self.gauges:
            yield GaugeMetricFamily(name, help_text, value=value)


def exposition(gauges: Iterable[tuple[str, str, float]]) -> bytes:
    """The text /metrics answers: every process's counters and histograms, and the gauges given."""
    registry = CollectorRegistry()
    if os.environ.get(MULTIPROCESS_ENV):
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        body = generate_latest(registry)
    else:
        body = generate_latest(REGISTRY)
    facts = CollectorRegistry()
    facts.register(_Facts(gauges))
    return body + generate_latest(facts)
