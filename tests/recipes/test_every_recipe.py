"""Every registered recipe: resume either honoured or refused with a reason.

The smoke run of every recipe with its smallest settings (``smoke_settings``) is
``test_every_command_on_a_one_epoch_run`` in ``test_recipe_commands.py``, which
also runs every command on the run.
"""

from __future__ import annotations

import ast
import inspect
import textwrap

import pytest

import an2dl
from an2dl.errors import CheckpointError
from an2dl.recipes import base
from an2dl.recipes.comparison import ComparisonRecipe

NAMES = an2dl.list_recipes()


def _run_uses_resume(recipe: base.Recipe) -> bool:
    """Whether the recipe's ``run`` reads its ``resume`` argument (the inherited flows do)."""
    run = type(recipe).run
    if run in (base.Recipe.run, ComparisonRecipe.run):
        return True
    tree = ast.parse(textwrap.dedent(inspect.getsource(run)))
    fn = tree.body[0]
    return any(isinstance(n, ast.Name) and n.id == "resume" and isinstance(n.ctx, ast.Load) for n in ast.walk(fn))


@pytest.mark.parametrize("name", NAMES)
def test_resume_is_honoured_or_refused_with_a_reason(name):
    recipe = base.get_recipe(name)
    if recipe.cannot_resume is not None:
        assert recipe.cannot_resume.strip() and "\n" not in recipe.cannot_resume
        assert not _run_uses_resume(recipe), f"{name} both resumes and says it cannot"
    else:
        assert _run_uses_resume(recipe), f"{name} accepts resume but ignores it; set cannot_resume or resume"


def test_a_recipe_that_cannot_resume_says_why(tmp_path):
    refusing = [n for n in NAMES if base.get_recipe(n).cannot_resume]
    if not refusing:
        pytest.skip("every recipe resumes")
    name = refusing[0]
    run_dir = tmp_path / "run"
    (run_dir / "checkpoints").mkdir(parents=True)
    cfg = base.get_recipe(name).Config()
    base.write_run_config(run_dir, name, cfg)
    with pytest.raises(CheckpointError, match=f"{name} runs cannot be resumed: .*an2dl run {name}"):
        base.resume(run_dir)
