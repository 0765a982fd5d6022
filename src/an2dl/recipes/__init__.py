"""Named runnable experiments, one per topic of the notes (DESIGN §8).

``an2dl.run("lenet5-digits", ["trainer.max_epochs=5"])`` runs a recipe;
``an2dl.list_recipes()`` lists them.
"""

from .base import RECIPES, Recipe, RunResult, get_recipe, list_recipes, register_recipe, resume, run
from .config import CheckpointConfig, ClipConfig, EarlyStoppingConfig, RunSettings, TrainerConfig

__all__ = [
    "RECIPES",
    "CheckpointConfig",
    "ClipConfig",
    "EarlyStoppingConfig",
    "Recipe",
    "RunResult",
    "RunSettings",
    "TrainerConfig",
    "get_recipe",
    "list_recipes",
    "register_recipe",
    "resume",
    "run",
]
