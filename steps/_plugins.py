"""Registries of the named implementations of one seam (outputs, analyzers), looked up by name."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Protocol, TypeVar

__all__ = ["Named", "Registry", "UnknownName"]


class Named(Protocol):
    """Anything a registry holds: it has a ``name``, unique in its registry."""

    @property
    def name(self) -> str: ...


T = TypeVar("T", bound=Named)


class UnknownName(KeyError):
    """A name no item of the registry has; the message lists the names there are."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class Registry(Mapping[str, T]):
    """An immutable ``name → item`` mapping in registration order.

    Built once from its items (a second item with a taken name is an error). To add one, build a
    new registry with :meth:`with_items`; nothing changes a registry that others already hold.
    """

    def __init__(self, kind: str, items: Iterable[T] = ()) -> None:
        self.kind = kind
        self._items: dict[str, T] = {}
        for item in items:
            if item.name in self._items:
                raise ValueError(f"{kind} {item.name!r} is registered twice")
            self._items[item.name] = item

    def with_items(self, *items: T) -> Registry[T]:
        """A new registry holding this one's items, then ``items``."""
        return Registry(self.kind, [*self._items.values(), *items])

    def names(self) -> tuple[str, ...]:
        """The names, in registration order."""
        return tuple(self._items)

    def __getitem__(self, name: str) -> T:
        try:
            return self._items[name]
        except KeyError:
            known = ", ".join(self._items) or "none"
            raise UnknownName(f"unknown {self.kind} {name!r}: expected one of {known}") from None

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __repr__(self) -> str:
        return f"Registry({self.kind!r}, {list(self._items)})"
