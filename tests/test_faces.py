"""Every package face says exactly what it offers: ``__all__`` lists each public name the face
holds and nothing else (a name imported into a face but left out of ``__all__`` is a leak), and
every class it offers says in a docstring what it is for."""

from __future__ import annotations

import importlib
import inspect
import types

import pytest

FACES = [
    "chorus",
    "chorus.agent",
    "chorus.client",
    "chorus.context",
    "chorus.observe",
    "chorus.policy",
    "chorus.protocol",
    "chorus.sim",
    "chorus.store",
    "chorus.team",
    "chorus.testing",
]


def _public(module: types.ModuleType) -> set[str]:
    return {
        name
        for name, value in vars(module).items()
        if not name.startswith("_")
        and not isinstance(value, types.ModuleType)
        and name != "annotations"  # from __future__ import annotations
    }


@pytest.mark.parametrize("face", FACES)
def test_all_is_exactly_the_public_names(face: str) -> None:
    module = importlib.import_module(face)
    exported = [name for name in module.__all__ if not name.startswith("__")]
    assert len(exported) == len(set(exported)), f"{face}.__all__ names a name twice"
    assert set(exported) == _public(module), (
        f"{face}: leaked {sorted(_public(module) - set(exported))}, "
        f"missing {sorted(set(exported) - _public(module))}"
    )


@pytest.mark.parametrize("face", FACES)
def test_every_public_class_has_a_docstring(face: str) -> None:
    module = importlib.import_module(face)
    bare = [
        name
        for name in module.__all__
        if inspect.isclass(obj := getattr(module, name)) and not (obj.__doc__ or "").strip()
    ]
    assert not bare, f"{face}: no docstring on {bare}"


def test_the_whole_error_tree_is_exported() -> None:
    import chorus

    tree = {
        name
        for name, value in vars(chorus.errors).items()
        if inspect.isclass(value) and issubclass(value, chorus.errors.ChorusError)
    }
    assert tree <= set(chorus.errors.__all__)
    assert tree <= set(chorus.__all__)
