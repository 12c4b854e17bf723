"""What every resolver sees: the settings, the principal, the request's unit of work."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeAlias

from strawberry.dataloader import DataLoader
from strawberry.types import Info as StrawberryInfo

import cdp.graphql.enums  # noqa: F401  (enums registered before any type uses them)
from cdp.auth import Principal
from cdp.config import Settings
from cdp.keys.vault import Vault
from cdp.unit_of_work import UnitOfWork


@dataclass(slots=True)
class Context:
    settings: Settings
    principal: Principal
    uow: UnitOfWork
    vault: Vault
    request_id: str
    _loaders: dict[str, DataLoader[Any, Any]] = field(default_factory=dict)

    def loader(
        self, name: str, load: Callable[[Sequence[Any]], Awaitable[Sequence[Any]]]
    ) -> DataLoader[Any, Any]:
        """The request's DataLoader called `name`: one batched statement per tick, no N+1."""
        existing = self._loaders.get(name)
        if existing is None:
            existing = self._loaders[name] = DataLoader(load_fn=load)
        return existing

    def clear_loaders(self) -> None:
        """Forget cached loads, e.g. after a mutation changed what they hold."""
        for loader in self._loaders.values():
            loader.clear_all()

    def release(self) -> None:
        """Drop the loaders when the request is done. Their load functions close over the
        resolvers' Info, which holds this context: a cycle that would keep every row the
        request loaded alive until the garbage collector's next pass."""
        self.clear_loaders()
        self._loaders.clear()


Info: TypeAlias = StrawberryInfo[Context, None]
