"""Prometheus metrics (prometheus-client): what is counted, and the exposition of it.

Labels hold only what cdp itself bounds: a route's template, a GraphQL operation named by its
root fields (checked against the schema), an outcome that is an error code of `ErrorCode` or
`ok`, a budget's kind. Never an identifier, a client-chosen name or a personal value.

Served by `cdp.metrics_endpoint`. Under `cdp serve --workers N` every process writes to
PROMETHEUS_MULTIPROC_DIR (set by the command) and a scrape of any one of them sums them all.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import TYPE_CHECKING

from prometheus_client import (
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)

from cdp.errors import ErrorCode

if TYPE_CHECKING:
    from cdp.db import Database

CODES = frozenset(code.value for code in ErrorCode)
MULTIPROCESS = bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))

REQUESTS = Counter(
    "cdp_http_requests",
    "HTTP requests answered, by route template, GraphQL operation (its root fields) and "
    "outcome (ok, or the first error code of the response).",
    ["route", "operation", "outcome"],
)
LATENCY = Histogram(
    "cdp_http_request_duration_seconds",
    "Time to answer an HTTP request, by route template and GraphQL operation.",
    ["route", "operation"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
ERRORS = Counter(
    "cdp_response_errors",
    "Coded errors in responses, one per error, by code.",
    ["code"],
)
REFUSALS = Counter(
    "cdp_rate_limit_refusals",
    "Requests refused because a rate budget was spent, by the budget (graphql, sign-in...).",
    ["budget"],
)
POOL = Gauge(
    "cdp_db_pool_connections",
    "Database connections of this process's pool, by state (in_use, idle).",
    ["state"],
    multiprocess_mode="livesum",
)
SEALING_LAG = Gauge(
    "cdp_audit_sealing_lag_seconds",
    "How long the oldest committed audit record not yet sealed has waited (0: all sealed).",
    multiprocess_mode="mostrecent",
)


def outcome_of(codes: Iterable[str]) -> str:
    for code in codes:
        if code in CODES:
            return code
    return "ok"


def count_errors(codes: Iterable[str]) -> None:
    for code in codes:
        ERRORS.labels(code if code in CODES else "OTHER").inc()


def watch_pool(database: Database) -> None:
    """Pool gauges, refreshed at each request's end and each scrape."""
    pool = database.engine.sync_engine.pool
    in_use, idle = getattr(pool, "checkedout", None), getattr(pool, "checkedin", None)
    if callable(in_use) and callable(idle):
        POOL.labels("in_use").set(in_use())
        POOL.labels("idle").set(idle())


def exposition() -> bytes:
    if not MULTIPROCESS:
        return generate_latest(REGISTRY)
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    return generate_latest(registry)


OUTBOX = Gauge(
    "cdp_outbox_messages",
    "Outbox rows waiting or stuck, by state (PENDING, SENDING, DEAD, UNCERTAIN).",
    ["state"],
    multiprocess_mode="mostrecent",
)
OUTBOX_AGE = Gauge(
    "cdp_outbox_oldest_due_seconds",
    "How long the oldest outbox row that is due has waited for a worker (0: none waiting).",
    multiprocess_mode="mostrecent",
)
