"""Image captioning: a CNN encoder and a recurrent decoder attending over the feature map (notes §4.3; Xu et al.,
2015, "Show, Attend and Tell").

The encoder is a small convolutional network; its last feature map
``[B, C, h, w]`` becomes ``h·w`` annotation vectors ``a_k`` (one per position,
projected to the decoder's size), the "source sequence" the decoder attends
over — with attention, each word is written from a weighted look at the
image, and the weights, reshaped to ``h × w``, show where.  The decoder's
initial state is ``tanh(W_init · mean_k a_k)``.  Without attention
(``attention=None``) the decoder sees only that initial state: the whole image
squeezed into one vector, the bottleneck of the plain encoder–decoder.

The decoder, teacher forcing, greedy and beam decoding are those of
:class:`~an2dl.models.seq2seq.encoder_decoder.AttentionDecoderModel`.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from ...errors import ConfigError
from .._registry import register_model
from .encoder_decoder import AttentionDecoderModel, RecurrentDecoder

__all__ = ["ImageCaptioner", "caption_rnn"]


class ImageCaptioner(AttentionDecoderModel):
    """CNN encoder + recurrent decoder with optional attention over the feature map.

    Args:
        vocab_size: V of the caption vocabulary.
        in_channels: image channels.
        channels: output channels of the encoder's stages (each: conv-BN-ReLU ×2, then 2×2 max pooling).
        embedding_dim: word embeddings.
        hidden_size: the decoder's state and the annotation vectors' size.
        cell: ``"rnn"``, ``"lstm"`` or ``"gru"``.
        attention: ``None`` or a score of :data:`~an2dl.nn.attention.ATTENTION_SCORES` (Show, Attend and Tell's
            is ``"mlp"``).

    Shape:
        ``forward(images [B, C, H, W], lengths [B] (ignored), tgt_in [B, T])`` -> logits ``[B, T, V]``; the
        attention weights (``return_attention=True``) are ``[B, T, h·w]`` over the feature map, row-major.
    """

    def __init__(self, *, vocab_size: int, in_channels: int = 3, channels: tuple[int, ...] = (16, 32, 64),
                 embedding_dim: int = 32, hidden_size: int = 64, cell: str = "gru",
                 attention: str | None = "mlp") -> None:
        super().__init__()
        for name, value in (("vocab_size", vocab_size), ("in_channels", in_channels),
                            ("embedding_dim", embedding_dim), ("hidden_size", hidden_size)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"ImageCaptioner {name} must be a positive integer; got {value!r}")
        if not channels or any(isinstance(c, bool) or not isinstance(c, int) or c < 1 for c in channels):
            raise ConfigError(f"ImageCaptioner channels must be positive integers; got {channels!r}")
        layers: list[nn.Module] = []
        c_in = in_channels
        for c in channels:
            layers += [nn.Conv2d(c_in, c, 3, padding=1, bias=False), nn.BatchNorm2d(c), nn.ReLU(inplace=True),
                       nn.Conv2d(c, c, 3, padding=1, bias=False), nn.BatchNorm2d(c), nn.ReLU(inplace=True),
                       nn.MaxPool2d(2)]
            c_in = c
        self.cnn = nn.Sequential(*layers)
        self.project = nn.Linear(c_in, hidden_size)  # the annotation vectors a_k
        self.init_h = nn.Linear(hidden_size, hidden_size)
        self.cell = cell
        self.init_c = nn.Linear(hidden_size, hidden_size) if cell == "lstm" else None
        self.vocab_size, self.in_channels = vocab_size, in_channels
        self.decoder = RecurrentDecoder(vocab_size=vocab_size, embedding_dim=embedding_dim, hidden_size=hidden_size,
                                        context_size=hidden_size, cell=cell, attention=attention)
        self.uses_attention = attention is not None

    def annotations(self, images: torch.Tensor) -> tuple[torch.Tensor, tuple[int, int]]:
        """The annotation vectors ``[B, h·w, hidden]`` and the feature map's ``(h, w)``."""
        if not isinstance(images, torch.Tensor) or images.dim() != 4 or images.shape[1] != self.in_channels:
            got = list(images.shape) if isinstance(images, torch.Tensor) else type(images).__name__
            raise ValueError(f"ImageCaptioner reads images [B, {self.in_channels}, H, W]; got {got}")
        fmap = self.cnn(images)  # (B, C, h, w)
        h, w = fmap.shape[-2:]
        return torch.relu(self.project(fmap.flatten(2).transpose(1, 2))), (h, w)

    def encode(self, src: torch.Tensor, lengths: Any = None) -> dict[str, Any]:
        keys, _ = self.annotations(src)
        mean = keys.mean(dim=1)
        state: dict[str, Any] = {"h": torch.tanh(self.init_h(mean))[:, None],  # (B, L=1, H)
                                 "keys": keys, "mask": torch.ones(keys.shape[:2], dtype=torch.bool,
                                                                  device=keys.device)}
        if self.init_c is not None:
            state["c"] = torch.tanh(self.init_c(mean))[:, None]
        return state


def _example(batch_size: int) -> tuple[torch.Tensor, ...]:
    g = torch.Generator().manual_seed(0)
    tgt = torch.randint(4, 10, (batch_size, 5), generator=g)
    tgt[:, 0] = 2  # <sos>
    return torch.rand(batch_size, 3, 32, 32, generator=g), torch.ones(batch_size, dtype=torch.long), tgt


@register_model("caption_rnn", example=_example)
def caption_rnn(*, vocab_size: int = 15, in_channels: int = 3, channels: tuple[int, ...] = (16, 32, 64),
                embedding_dim: int = 32, hidden_size: int = 64, cell: str = "gru",
                attention: str | None = "mlp") -> ImageCaptioner:
    """A captioner: CNN encoder, recurrent decoder, attention over the feature map (``None``: none)."""
    return ImageCaptioner(vocab_size=vocab_size, in_channels=in_channels, channels=tuple(channels),
                          embedding_dim=embedding_dim, hidden_size=hidden_size, cell=cell, attention=attention)
