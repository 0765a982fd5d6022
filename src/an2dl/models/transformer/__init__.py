"""Chapter 4.4 of the notes: the Transformer — the encoder–decoder ``transformer`` and the decoder-only ``gpt``."""

from .encoder_decoder import TransformerSeq2Seq, transformer
from .gpt import GPT, gpt

__all__ = ["GPT", "TransformerSeq2Seq", "gpt", "transformer"]
