"""NumPy reference models: forward and backward written out, to be read beside ``nn_torch``."""

from bigmodel_lib.nn_numpy.activations import GELU, ReLU, Sigmoid, Softmax, Tanh
from bigmodel_lib.nn_numpy.attention import (
    AdditiveAttention,
    DotProductAttention,
    ScaledDotProductAttention,
    masked_softmax,
    scaled_dot_product_attention,
)
from bigmodel_lib.nn_numpy.cnn import Conv2d, DigitsCNN, Flatten, MaxPool2d, col2im, conv_output_size, im2col
from bigmodel_lib.nn_numpy.container import Sequential
from bigmodel_lib.nn_numpy.dropout import Dropout
from bigmodel_lib.nn_numpy.embedding import Embedding
from bigmodel_lib.nn_numpy.flash import FlashAttention, flash_attention
from bigmodel_lib.nn_numpy.functional import log_softmax, softmax, softmax_backward
from bigmodel_lib.nn_numpy.gpt import GPT, GPTConfig
from bigmodel_lib.nn_numpy.linear import Linear
from bigmodel_lib.nn_numpy.long_context import LinearAttention, linear_attention, sliding_window_mask
from bigmodel_lib.nn_numpy.lora import LoRALinear
from bigmodel_lib.nn_numpy.losses import CrossEntropyLoss, DistillationLoss, MSELoss
from bigmodel_lib.nn_numpy.lstm import LSTM, LSTMCell
from bigmodel_lib.nn_numpy.mlp import MLP
from bigmodel_lib.nn_numpy.module import Module, Parameter
from bigmodel_lib.nn_numpy.moe import MoE, MoEConfig, MoEGPT
from bigmodel_lib.nn_numpy.multihead import MultiHeadAttention
from bigmodel_lib.nn_numpy.normalization import LayerNorm
from bigmodel_lib.nn_numpy.optim import SGD, Adam, AdamW, Optimizer
from bigmodel_lib.nn_numpy.positional import (
    LearnedPositionalEmbedding,
    RotaryEmbedding,
    SinusoidalPositionalEncoding,
    rotary_embedding,
    sinusoidal_positional_encoding,
)
from bigmodel_lib.nn_numpy.regularization import L1Penalty, L2Penalty
from bigmodel_lib.nn_numpy.rnn import RNN, RNNCell, RNNWithOutput
from bigmodel_lib.nn_numpy.seq2seq import Seq2Seq
from bigmodel_lib.nn_numpy.transformer import (
    PositionwiseFeedForward,
    TransformerDecoderLayer,
    TransformerEncoderLayer,
)
from bigmodel_lib.nn_numpy.transformer_model import TokenEmbedding, Transformer, TransformerDecoder, TransformerEncoder

__all__ = [
    "GPT", "GPTConfig",
    "TokenEmbedding", "Transformer", "TransformerDecoder", "TransformerEncoder",
    "PositionwiseFeedForward", "TransformerDecoderLayer", "TransformerEncoderLayer",
    "LSTM", "RNN", "LSTMCell", "RNNCell", "RNNWithOutput", "Seq2Seq",
    "Conv2d", "DigitsCNN", "Flatten", "MaxPool2d", "col2im", "conv_output_size", "im2col",
    "GELU", "MLP", "SGD", "Adam", "AdamW", "CrossEntropyLoss", "Dropout", "Embedding", "L1Penalty",
    "L2Penalty", "LayerNorm", "Linear", "MSELoss", "Module", "Optimizer", "Parameter", "ReLU",
    "Sequential", "Sigmoid", "Softmax", "Tanh", "log_softmax", "softmax", "softmax_backward",
    # flash attention (chapter 05)
    "FlashAttention", "flash_attention",
    # attention (chapter 03)
    "AdditiveAttention", "DotProductAttention", "LearnedPositionalEmbedding", "MultiHeadAttention",
    "ScaledDotProductAttention", "SinusoidalPositionalEncoding", "masked_softmax", "scaled_dot_product_attention",
    "sinusoidal_positional_encoding",
    # rotary positions (chapter 05)
    "RotaryEmbedding", "rotary_embedding",
    # long contexts (chapter 05)
    "LinearAttention", "linear_attention", "sliding_window_mask",
    # mixture of experts (chapter 05)
    "MoE", "MoEConfig", "MoEGPT",
    # LoRA (chapter 05)
    "LoRALinear",
    # knowledge distillation (chapter 05)
    "DistillationLoss",
]
