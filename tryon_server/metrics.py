"""Prometheus metrics, one registry per app (so tests can run several apps in one process)."""

from __future__ import annotations

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

    def transition(self, to: str) -> None:
        self.transitions.labels(to=to).inc()

    def render(self) -> bytes:
        return generate_latest(self.registry)
