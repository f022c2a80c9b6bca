"""Prometheus metrics of one server process (``GET /metrics``), in a registry of its own."""

from __future__ import annotations

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    PlatformCollector,
    ProcessCollector,
    generate_latest,
)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        # this process's CPU, memory, open files and start time (process_*), and python_info
        ProcessCollector(registry=self.registry)
        PlatformCollector(registry=self.registry)
        self.requests = Counter(
            "dispatch_http_requests",
            "HTTP requests answered, by route and status",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "dispatch_http_request_seconds",
            "Time to answer an HTTP request",
            ["route"],
            registry=self.registry,
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
        )
        self.intake = Counter(
            "dispatch_intake",
            "Reports taken in, by source and result (created, replayed)",
            ["source", "result"],
            registry=self.registry,
        )
        self.isapi_alerts = Counter(
            "dispatch_isapi_alerts",
            "Camera alerts at the alarm host (POST /isapi/alarm), by result: created,"
            " retransmitted, heartbeat, inactive, no_rule, unregistered, rejected, refused,"
            " malformed",
            ["result"],
            registry=self.registry,
        )
        self.devices_offline = Counter(
            "dispatch_devices_offline",
            "Devices marked offline (not heard from for their offline_after_minutes)",
            registry=self.registry,
        )
        self.ws_connections = Gauge(
            "dispatch_ws_connections", "Open WebSocket connections", registry=self.registry
        )
        self.ws_drops = Gauge(
            "dispatch_ws_slow_consumer_drops",
            "WebSocket connections dropped for not keeping up, since start",
            registry=self.registry,
        )
        self.events_delivered = Gauge(
            "dispatch_events_delivered",
            "Events handed to subscribers' queues, since start",
            registry=self.registry,
        )
        self.last_seq = Gauge(
            "dispatch_last_seq",
            "The last event seq this process has delivered",
            registry=self.registry,
        )
        self.calendar_covered_days = Gauge(
            "dispatch_calendar_covered_days",
            "Days after today covered by entered or package holidays (warns below 60)",
            registry=self.registry,
        )
        self.redis_ok = Gauge(
            "dispatch_redis_feed_ok",
            "1 while the Redis live feed is followed",
            registry=self.registry,
        )

    def render(self) -> bytes:
        return generate_latest(self.registry)
