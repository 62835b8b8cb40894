"""The value classes' base: what a dataclass gave them, they still have."""

from __future__ import annotations

from pathlib import Path

import pytest

from build_ca_bundle.options import BuildOptions
from build_ca_bundle.targets import Change, Plan
from build_ca_bundle.targets.tools import ToolPlan


def change(new: str | None = "/b.pem") -> Change:
    return Change("pip", Path("/pip.conf"), "global.cert", None, new)


def test_values_are_equal_and_hash_alike_by_their_fields() -> None:
    assert change() == change()
    assert change() != change("/other.pem")
    assert len({change(), change(), change("/other.pem")}) == 2
    assert {change(): 1}[change()] == 1  # ToolPlan keys its commands by Change


def test_a_value_is_never_equal_to_another_class_with_the_same_fields() -> None:
    class Other(Change):
        __slots__ = ()

    other = Other("pip", Path("/pip.conf"), "global.cert", None, "/b.pem")
    assert change() != other
    assert Plan("pip") != ToolPlan("pip")


def test_the_repr_names_every_field_but_the_hidden_ones() -> None:
    assert repr(change()) == (
        f"Change(target='pip', path={Path('/pip.conf')!r}, key='global.cert', old=None, "
        "new='/b.pem', notes=())"
    )
    plan = ToolPlan("git", env=None, commands={change(): ["git", "config"]})
    assert repr(plan) == "ToolPlan(target='git', changes=[], findings=[])"


def test_a_mutable_value_has_equality_but_no_hash() -> None:
    assert Plan("pip") == Plan("pip")
    with pytest.raises(TypeError, match="unhashable"):
        hash(Plan("pip"))
    with pytest.raises(TypeError, match="unhashable"):
        hash(ToolPlan("git"))


def test_mutable_defaults_are_not_shared() -> None:
    first, second = Plan("pip"), Plan("pip")
    first.changes.append(change())
    assert second.changes == []


def test_replace_copies_with_changes_and_refuses_unknown_fields() -> None:
    options = BuildOptions(environ={"A": "1"}, dry_run=True)
    copied = options.replace(run_key="k")
    assert copied.run_key == "k"
    assert copied.dry_run is True
    assert copied.environ == {"A": "1"}
    assert options.run_key is None  # the original is unchanged
    with pytest.raises(TypeError, match="no field colour"):
        options.replace(colour="red")


def test_a_value_has_no_attributes_beyond_its_fields() -> None:
    """__slots__: a typo in an assignment is an error, not a silent new attribute."""
    plan = Plan("pip")
    with pytest.raises(AttributeError):
        plan.chnages = []  # type: ignore[attr-defined]
