"""The base of our value classes: equality, hashing and a repr made from their fields.

Not ``dataclasses``: on Python 3.11 importing it costs 8 ms (it imports ``inspect``), and
each class about 0.7 ms more, because it compiles every method it generates. For the 27
classes a full run creates, that was a fifth of the run (issue 7), and a frozen dataclass
is also four times slower to instantiate than a plain ``__init__``, which matters at one
object per certificate. So a value class here is written out:

- its fields in ``__slots__``, in order;
- each declared in the class body, ``Final`` when the value never changes (mypy then rejects
  an assignment outside ``__init__``, as it does for a frozen dataclass, and a field that
  ``__init__`` leaves unset);
- a plain ``__init__`` that sets them.

``class Plan(Value, mutable=True)`` is one whose fields change after ``__init__``: it has
equality but no hash, as a dataclass without ``frozen``.
"""

from __future__ import annotations

TYPE_CHECKING = False  # not typing's: importing typing costs 3 ms of a full run
if TYPE_CHECKING:
    from typing import ClassVar, TypeVar

    _V = TypeVar("_V", bound="Value")

__all__ = ["Value"]


class Value:
    __slots__ = ()
    _fields: ClassVar[tuple[str, ...]] = ()  # every field, base classes' first (__slots__)
    _hidden: ClassVar[frozenset[str]] = frozenset()  # fields the repr leaves out (large)

    def __init_subclass__(cls, *, mutable: bool = False) -> None:
        super().__init_subclass__()
        names: list[str] = []
        for klass in reversed(cls.__mro__):
            slots = klass.__dict__.get("__slots__", ())
            for name in (slots,) if isinstance(slots, str) else slots:
                if not name.startswith("__"):  # "__dict__", for functools.cached_property
                    names.append(name)
        cls._fields = tuple(names)
        if mutable:
            setattr(cls, "__hash__", None)  # noqa: B010 - mypy refuses `cls.__hash__ = None`

    def _values(self) -> tuple[object, ...]:
        return tuple(getattr(self, name) for name in self._fields)

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not self.__class__ or not isinstance(other, Value):
            return NotImplemented
        return self._values() == other._values()

    def __hash__(self) -> int:
        return hash(self._values())

    def __repr__(self) -> str:
        shown = (
            f"{name}={getattr(self, name)!r}" for name in self._fields if name not in self._hidden
        )
        return f"{self.__class__.__qualname__}({', '.join(shown)})"

    def replace(self: _V, **changes: object) -> _V:
        """A copy with some fields changed, as ``dataclasses.replace`` makes it."""
        unknown = set(changes) - set(self._fields)
        if unknown:
            raise TypeError(f"{self.__class__.__name__} has no field {', '.join(sorted(unknown))}")
        copy = object.__new__(self.__class__)
        for name in self._fields:
            object.__setattr__(
                copy, name, changes[name] if name in changes else getattr(self, name)
            )
        return copy
