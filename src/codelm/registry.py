"""Registries by name (objectives, tasks, metrics, PEFT methods, families).

An unknown name is a `ConfigError` that lists the known names, so a typo in a
config is answered with the fix instead of a KeyError.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

from codelm.errors import ConfigError

T = TypeVar("T")


class Registry(Generic[T]):
    """A name → object map with helpful errors."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._items: dict[str, T] = {}

    def register(self, name: str) -> Callable[[T], T]:
        """Decorator: `@registry.register("name")`."""

        def deco(obj: T) -> T:
            self.add(name, obj)
            return obj

        return deco

    def add(self, name: str, obj: T) -> None:
        if name in self._items:
            raise ValueError(f"{self.kind} '{name}' is registered twice")
        self._items[name] = obj

    def get(self, name: str, key: str | None = None) -> T:
        """Look up `name`; `key` is the config key that named it, for the error."""
        try:
            return self._items[name]
        except KeyError:
            where = f"{key}: " if key else ""
            known = ", ".join(sorted(self._items)) or "none"
            raise ConfigError(f"{where}unknown {self.kind} '{name}'; known: {known}") from None

    def names(self) -> list[str]:
        return sorted(self._items)

    def items(self) -> Iterator[tuple[str, T]]:
        yield from sorted(self._items.items())

    def __contains__(self, name: object) -> bool:
        return name in self._items

    def __len__(self) -> int:
        return len(self._items)
