"""Sequence models of the notes' §4.1: memoryless delay-tap predictors, recurrent classifiers and regressors, character language models."""

__all__: list[str] = []
