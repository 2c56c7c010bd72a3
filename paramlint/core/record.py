"""Plain value classes, cheap to define.

paramlint runs as a pre-commit hook, so its import is on every commit's
critical path.  ``@dataclass`` writes each class's methods as source and
compiles them with ``exec`` when the class is defined: about 0.4 ms a class,
15 ms for paramlint's 35, half of paramlint's whole import.  The classes on
the import path therefore derive from :class:`Record` instead: they list
their fields in ``__slots__`` and write their ``__init__``; ``Record`` gives
them equality, hashing, a repr and ``replace`` from those fields.  Records are
treated as immutable: nothing assigns to a field after ``__init__``.
"""
from __future__ import annotations

from typing import Any, Tuple


class Record:
    __slots__: Tuple[str, ...] = ()

    def _values(self) -> Tuple[Any, ...]:
        return tuple(getattr(self, name) for name in self.__slots__)

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        return self._values() == other._values()  # type: ignore[attr-defined]

    def __hash__(self) -> int:
        return hash(self._values())

    def __repr__(self) -> str:
        fields = ", ".join(f"{name}={getattr(self, name)!r}" for name in self.__slots__)
        return f"{type(self).__qualname__}({fields})"

    def replace(self, **changes: Any) -> Any:  # the same class (no TypeVar: its bound costs 1 ms to import)
        """A copy with some fields changed (``dataclasses.replace``)."""
        copy = object.__new__(type(self))
        for name in self.__slots__:
            object.__setattr__(copy, name, changes.pop(name) if name in changes else getattr(self, name))
        if changes:
            raise TypeError(f"{type(self).__name__} has no field {', '.join(changes)}")
        return copy
