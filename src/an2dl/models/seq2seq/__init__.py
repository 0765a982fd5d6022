"""Sequence-to-sequence models (notes §4.2–4.3): the recurrent encoder–decoder, with or without attention."""

from .encoder_decoder import EncoderDecoder, RecurrentDecoder, RecurrentEncoder, seq2seq_rnn

__all__ = ["EncoderDecoder", "RecurrentDecoder", "RecurrentEncoder", "seq2seq_rnn"]
