"""Evaluation beyond a task's own metrics: reconstruction error, judge scores, Fréchet distance."""
