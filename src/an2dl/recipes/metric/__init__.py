"""Recipes of metric learning (notes §3.5.6): identification of classes never seen in training."""
