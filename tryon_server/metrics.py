"""Prometheus metrics, one registry per app (so tests can run several apps in one process)."""

from __future__ import annotations

import asyncio

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "tryon_http_requests", "HTTP requests by route and status", ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "tryon_http_request_seconds", "HTTP request duration", ["route"], registry=self.registry,
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10),
        )
        self.transitions = Counter(
            "tryon_session_transitions", "Session status transitions", ["to"], registry=self.registry
        )
        self.inference_seconds = Histogram(
            "tryon_inference_seconds", "Time per try-on on the inference thread", registry=self.registry,
            buckets=(0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 120, 300),
        )
        self.queue_depth = Gauge("tryon_queue_depth", "Sessions waiting", registry=self.registry)
        self.ready = Gauge("tryon_engine_ready", "1 when the engine is loaded", registry=self.registry)
        # inference must never run on the event loop: if it ever does, polls stall and this shows it
        self.loop_lag = Histogram(
            "tryon_event_loop_lag_seconds", "How late the event loop woke a short timer (time it was blocked)",
            registry=self.registry,
            buckets=(0.001, 0.002, 0.003, 0.005, 0.0075, 0.01, 0.015, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
        )

    def transition(self, to: str) -> None:
        self.transitions.labels(to=to).inc()

    def render(self) -> bytes:
        return generate_latest(self.registry)


LOOP_LAG_INTERVAL_S = 0.05


async def watch_loop_lag(metrics: Metrics, interval_s: float = LOOP_LAG_INTERVAL_S) -> None:
    """Sleep `interval_s` over and over and record the oversleep: the time the loop was busy with
    something else when the timer was due. Twenty wake-ups a second cost next to nothing."""
    loop = asyncio.get_running_loop()
    while True:
        started = loop.time()
        await asyncio.sleep(interval_s)
        metrics.loop_lag.observe(max(0.0, loop.time() - started - interval_s))
