"""The Transformer's parts (notes §4.4): scaled dot-product and multi-head attention, layer norm,
encoder and decoder layers and stacks, positional encodings, incremental decoding with a key/value cache.

* :mod:`.attention` — ``softmax(QKᵀ/√d)V`` written out and through ``F.scaled_dot_product_attention``;
  :class:`MultiHeadAttention` (``nn.MultiheadAttention``'s parameters);
* :mod:`.layers` — :class:`LayerNorm`, encoder/decoder layers (post-norm and pre-norm) and stacks,
  :class:`Transformer` (``nn.Transformer``'s parameters);
* :mod:`.positional` — sinusoidal and learned positional encodings.
"""

from .attention import (
    ATTENTION_BACKENDS,
    KeyValue,
    MultiHeadAttention,
    check_attention_mask,
    fused_attention,
    scaled_dot_product_attention,
    tracing,
)
from .layers import (
    LayerNorm,
    Transformer,
    TransformerDecoder,
    TransformerDecoderLayer,
    TransformerEncoder,
    TransformerEncoderLayer,
    layer_norm,
)
from .positional import (
    POSITIONAL_ENCODINGS,
    LearnedPositionalEncoding,
    SinusoidalPositionalEncoding,
    positional_encoding,
    sinusoidal_encoding,
)

__all__ = [
    "ATTENTION_BACKENDS", "KeyValue", "MultiHeadAttention", "check_attention_mask", "fused_attention",
    "scaled_dot_product_attention", "tracing", "LayerNorm", "Transformer", "TransformerDecoder", "TransformerDecoderLayer",
    "TransformerEncoder", "TransformerEncoderLayer", "layer_norm", "POSITIONAL_ENCODINGS",
    "LearnedPositionalEncoding", "SinusoidalPositionalEncoding", "positional_encoding", "sinusoidal_encoding",
]
