"""What every resolver sees: the settings, the principal, the request's unit of work."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Generic, TypeAlias, TypeVar

from strawberry.dataloader import DataLoader
from strawberry.types import Info as StrawberryInfo

import cdp.graphql.enums  # noqa: F401  (enums registered before any type uses them)
from cdp.auth import Principal
from cdp.config import Settings
from cdp.keys.vault import Vault
from cdp.unit_of_work import UnitOfWork

K = TypeVar("K")
V = TypeVar("V")


@dataclass(frozen=True, slots=True)
class BatchLoad(Generic[K, V]):
    """A named batched read, declared once at module level: `fetch(context, *params, keys)`
    answers every key a request asks for in one tick with one statement, a value per key in
    the keys' order. Loads with different `params` (a page size, a status) batch apart."""

    name: str
    fetch: Callable[..., Awaitable[Sequence[V]]]


def by_key(name: str, read: Callable[..., Awaitable[Mapping[K, V]]]) -> BatchLoad[K, V]:
    """A BatchLoad of `read(session, keys, *params) -> {key: value}`, in the request's session
    (most domain services answer a batch as such a mapping)."""

    async def fetch(context: Context, *params_and_keys: Any) -> list[V]:
        *params, keys = params_and_keys
        async with context.uow.session() as session:
            found = await read(session, list(keys), *params)
        return [found[key] for key in keys]

    return BatchLoad(name, fetch)


@dataclass(slots=True)
class Context:
    settings: Settings
    principal: Principal
    uow: UnitOfWork
    vault: Vault
    request_id: str
    _loaders: dict[tuple[Hashable, ...], DataLoader[Any, Any]] = field(default_factory=dict)

    def loader(self, batch: BatchLoad[K, V], *params: Hashable) -> DataLoader[K, V]:
        """The request's DataLoader for `batch` with `params`: one batched statement per tick
        for every resolver that asks, no N+1."""
        name = (batch.name, *params)
        existing = self._loaders.get(name)
        if existing is None:
            existing = self._loaders[name] = DataLoader(load_fn=partial(batch.fetch, self, *params))
        return existing

    def clear_loaders(self) -> None:
        """Forget cached loads, e.g. after a mutation changed what they hold."""
        for loader in self._loaders.values():
            loader.clear_all()

    async def restart(self, *, reads: bool) -> None:
        """Begin the request again: its transaction rolled back, its audit records and
        cached loads forgotten with it."""
        self.clear_loaders()
        await self.uow.restart(reads=reads)

    def release(self) -> None:
        """Drop the loaders when the request is done. Their load functions hold this context:
        a cycle that would keep every row the request loaded alive until the garbage
        collector's next pass."""
        self.clear_loaders()
        self._loaders.clear()


Info: TypeAlias = StrawberryInfo[Context, None]
