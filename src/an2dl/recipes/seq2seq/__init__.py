"""Sequence-to-sequence recipes (notes §4.2–4.3)."""
