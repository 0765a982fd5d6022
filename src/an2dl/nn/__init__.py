"""Layers written from the notes: activations, initialisation, batch normalisation, dropout,
written-out backpropagation, convolution arithmetic, pooling, recurrent cells, masks, attention scores,
greedy and beam-search decoding, and upsampling."""

from .activations import ACTIVATIONS, activation_module, get_activation, softmax
from .attention import (
    ATTENTION_SCORES,
    AttentionalHidden,
    BilinearAttention,
    ConcatAttention,
    DotAttention,
    MLPAttention,
    attention_layer,
    masked_softmax,
)
from .backprop import ManualMLP
from .batchnorm import BatchNorm1d, BatchNorm2d, batch_norm
from .cnn_layers import (
    conv2d_output_shape,
    conv2d_parameter_count,
    conv_output_size,
    dense_parameter_count,
    pool_output_size,
)
from .decoding import DecodeResult, beam_search, greedy_decode
from .dropout import Dropout, dropout, fold_weight_scaling
from .frozen_batchnorm import FrozenBatchNorm2d, freeze_batch_norm
from .init import INIT_SCHEMES, glorot_, he_, initialize, xavier_
from .masks import attention_mask, causal_mask, lengths_to_mask, mask_to_lengths, padding_mask
from .pooling import GlobalAvgPool2d, GlobalMaxPool2d, global_avg_pool2d, global_max_pool2d, pool2d_reference
from .recurrent import (
    GRU,
    LSTM,
    RNN,
    GRUCell,
    LSTMCell,
    Recurrent,
    RNNCell,
    detach_state,
    gru_cell,
    lstm_cell,
    recurrent_layer,
    rnn_cell,
    state_gradient_norms,
)
from .upsampling import (
    BedOfNails,
    MaxUnpool2d,
    NearestUpsample,
    TransposeConv2d,
    bed_of_nails,
    bilinear_kernel,
    max_unpool2d,
    nearest_upsample,
    transpose_conv2d,
)

__all__ = [
    "ATTENTION_SCORES", "AttentionalHidden", "BilinearAttention", "ConcatAttention", "DotAttention", "MLPAttention",
    "attention_layer", "masked_softmax", "DecodeResult", "beam_search", "greedy_decode",
    "FrozenBatchNorm2d", "freeze_batch_norm",
    "BedOfNails", "MaxUnpool2d", "NearestUpsample", "TransposeConv2d", "bed_of_nails", "bilinear_kernel",
    "max_unpool2d", "nearest_upsample", "transpose_conv2d",
    "ACTIVATIONS", "BatchNorm1d", "BatchNorm2d", "Dropout", "GRU", "GRUCell", "GlobalAvgPool2d", "GlobalMaxPool2d",
    "INIT_SCHEMES", "LSTM", "LSTMCell", "ManualMLP", "RNN", "RNNCell", "Recurrent", "activation_module",
    "attention_mask", "batch_norm", "causal_mask", "conv2d_output_shape", "conv2d_parameter_count", "conv_output_size",
    "dense_parameter_count", "detach_state", "dropout", "fold_weight_scaling", "get_activation", "global_avg_pool2d",
    "global_max_pool2d", "glorot_", "gru_cell", "he_", "initialize", "lengths_to_mask", "lstm_cell", "mask_to_lengths",
    "padding_mask", "pool2d_reference", "pool_output_size", "recurrent_layer", "rnn_cell", "softmax",
    "state_gradient_norms", "xavier_",
]
