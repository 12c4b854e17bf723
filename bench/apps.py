"""uvicorn factories for the bench's servers (`uvicorn --factory bench.apps:NAME`), settings
from the `CDP_` environment as `cdp serve` reads them."""

from __future__ import annotations

from typing import Any

from starlette.applications import Starlette

from cdp.app import app_from_environment, tune_garbage_collector
from cdp.audit import trail


def _nothing(*_args: Any, **_kwargs: Any) -> None:
    return None


def unaudited() -> Starlette:
    """cdp exactly as served, but its audit trail records and writes nothing (bench only:
    cdp itself has no switch to turn auditing off)."""
    trail.AuditTrail.read = _nothing  # type: ignore[method-assign]
    trail.AuditTrail.lookup = _nothing  # type: ignore[method-assign]
    trail.AuditTrail.record = _nothing  # type: ignore[method-assign]
    trail.append_records = _nothing
    return app_from_environment()


def _stock() -> None:
    return None


def use_stock_executor(*, rebuild: bool = False) -> None:
    """From now on this process's schema runs the generic path on strawberry's stock
    execution context instead of cdp.graphql.execution's shortcut through graphql-core's
    private methods (bench only: what the shortcut is worth, measured beside it). A schema
    built before is refused, or with `rebuild` forgotten (apps made after build anew)."""
    from cdp.graphql import execution, schema

    if rebuild:
        schema.build_schema.cache_clear()
    if schema.build_schema.cache_info().currsize:
        raise RuntimeError("the schema was built before the stock executor could be chosen")
    execution.execution_context_class = _stock
    schema.execution_context_class = _stock  # type: ignore[attr-defined]  # its import of it


def stock_executor() -> Starlette:
    """cdp exactly as served, but on the stock executor (`use_stock_executor`)."""
    use_stock_executor()
    return app_from_environment()


def handwritten() -> Starlette:
    """The hand-written `me` endpoint of bench.handwritten, in a process tuned as `cdp serve`
    tunes its own (the garbage collector)."""
    from bench.handwritten import create_handwritten_app

    app = create_handwritten_app()
    tune_garbage_collector()
    return app
