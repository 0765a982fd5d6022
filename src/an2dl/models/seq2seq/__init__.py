"""Sequence-to-sequence models (notes §4.2–4.3): the recurrent encoder–decoder, with or without attention, the
image captioner, the hierarchical-attention chatbot and the retrieval chatbot."""

from .captioner import ImageCaptioner, caption_rnn
from .encoder_decoder import (
           AttentionDecoderModel,
           EncoderDecoder,
           RecurrentDecoder,
           RecurrentEncoder,
           seq2seq_rnn,
)
from .hierarchical import HierarchicalAttentionChatbot, hran, split_utterances
from .retrieval import RetrievalBot

__all__ = ["AttentionDecoderModel", "EncoderDecoder", "HierarchicalAttentionChatbot", "ImageCaptioner",
           "RecurrentDecoder", "RecurrentEncoder", "RetrievalBot", "caption_rnn", "hran", "seq2seq_rnn",
           "split_utterances"]
