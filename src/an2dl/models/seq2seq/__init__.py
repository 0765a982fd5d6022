"""Sequence-to-sequence models (notes §4.2–4.3): the recurrent encoder–decoder, with or without attention, the
image captioner, and the retrieval chatbot."""

from .captioner import ImageCaptioner, caption_rnn
from .encoder_decoder import (
           AttentionDecoderModel,
           EncoderDecoder,
           RecurrentDecoder,
           RecurrentEncoder,
           seq2seq_rnn,
)
from .retrieval import RetrievalBot

__all__ = ["AttentionDecoderModel", "EncoderDecoder", "ImageCaptioner", "RecurrentDecoder", "RecurrentEncoder",
           "RetrievalBot", "caption_rnn", "seq2seq_rnn"]
