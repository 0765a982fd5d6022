"""The package's layers, bottom to top (DESIGN §3).

A module imports only from its own layer or a layer below, and no import
forms a circle.  ``tests/test_layering.py`` reads every module's imports and
enforces both; ``docs/images/make_layers.py`` draws this table.  Both read it
from here, so the rule and its picture cannot drift apart.
"""

from __future__ import annotations

__all__ = ["LAYERS", "LAYER_TITLES", "NEVER_IMPORTS", "layer_of"]

#: bottom to top: the top-level modules and packages of each layer (``__init__`` is ``an2dl`` itself)
LAYERS: tuple[frozenset[str], ...] = (
    frozenset({"errors", "registry", "_utils", "_version"}),
    frozenset({"nn", "ops", "losses", "data"}),
    frozenset({"models"}),
    frozenset({"engine"}),
    frozenset({"tasks"}),
    frozenset({"explain", "evaluation", "report", "export", "tta"}),
    frozenset({"recipes"}),
    frozenset({"cli", "bench", "serve"}),
    frozenset({"__init__", "__main__"}),
)

#: what each layer is for, in the same order
LAYER_TITLES: tuple[str, ...] = (
    "foundations: errors, registries, seeding, atomic files, hashing",
    "building blocks: layers, functions, losses, data",
    "models",
    "training engine",
    "tasks",
    "evaluation, explanation, reports, export",
    "recipes",
    "command line and benchmarks",
    "the package",
)

#: pairs ruled out even where the layers would allow them, and even inside functions or type-checking
#: blocks: ``report`` draws and writes what it is given and never reaches into the training engine
NEVER_IMPORTS: dict[str, frozenset[str]] = {
    "nn": frozenset({"models"}),
    "models": frozenset({"engine"}),
    "data": frozenset({"engine", "models"}),
    "report": frozenset({"engine"}),
}

_LAYER = {name: i for i, names in enumerate(LAYERS) for name in names}


def layer_of(module: str) -> int | None:
    """The layer of a dotted module name under ``an2dl`` (``None`` for a top-level name not in :data:`LAYERS`).

    ``an2dl`` itself is the ``__init__`` layer; ``an2dl.engine.trainer`` is the layer of ``engine``.
    """
    parts = module.split(".")
    if parts[0] != "an2dl":
        raise ValueError(f"layer_of expects a module of the an2dl package; got {module!r}")
    return _LAYER["__init__"] if len(parts) == 1 else _LAYER.get(parts[1])
