"""PyTorch models: the same class names and state_dict keys as ``nn_numpy``, GPU-ready."""

from bigmodel_lib.nn_torch.activations import GELU, ReLU, Sigmoid, Softmax, Tanh
from bigmodel_lib.nn_torch.attention import (
    AdditiveAttention,
    DotProductAttention,
    ScaledDotProductAttention,
    masked_softmax,
    scaled_dot_product_attention,
)
from bigmodel_lib.nn_torch.cnn import Conv2d, DigitsCNN, Flatten, MaxPool2d
from bigmodel_lib.nn_torch.container import Sequential
from bigmodel_lib.nn_torch.dropout import Dropout
from bigmodel_lib.nn_torch.embedding import Embedding
from bigmodel_lib.nn_torch.flash import FlashAttention, flash_attention
from bigmodel_lib.nn_torch.gpt import GPT, GPTConfig, KVCache
from bigmodel_lib.nn_torch.linear import Linear
from bigmodel_lib.nn_torch.long_context import (
    LinearAttention,
    LinearSelfAttention,
    SlidingWindowSelfAttention,
    linear_attention,
    sliding_window_mask,
    with_attention,
)
from bigmodel_lib.nn_torch.lora import LoRALinear, apply_lora, count_parameters, merge_lora
from bigmodel_lib.nn_torch.losses import CrossEntropyLoss, DistillationLoss, MSELoss
from bigmodel_lib.nn_torch.lstm import LSTM, LSTMCell
from bigmodel_lib.nn_torch.mlp import MLP
from bigmodel_lib.nn_torch.module import Module
from bigmodel_lib.nn_torch.moe import MoE, MoEConfig, MoEGPT
from bigmodel_lib.nn_torch.multihead import MultiHeadAttention
from bigmodel_lib.nn_torch.normalization import LayerNorm
from bigmodel_lib.nn_torch.optim import SGD, Adam, AdamW
from bigmodel_lib.nn_torch.positional import (
    LearnedPositionalEmbedding,
    RotaryEmbedding,
    SinusoidalPositionalEncoding,
    rotary_embedding,
    sinusoidal_positional_encoding,
)
from bigmodel_lib.nn_torch.regularization import L1Penalty, L2Penalty
from bigmodel_lib.nn_torch.rnn import RNN, RNNCell, RNNWithOutput
from bigmodel_lib.nn_torch.seq2seq import Seq2Seq
from bigmodel_lib.nn_torch.transformer import (
    PositionwiseFeedForward,
    TransformerDecoderLayer,
    TransformerEncoderLayer,
)
from bigmodel_lib.nn_torch.transformer_model import TokenEmbedding, Transformer, TransformerDecoder, TransformerEncoder

__all__ = [
    "GPT", "GPTConfig", "KVCache",
    "TokenEmbedding", "Transformer", "TransformerDecoder", "TransformerEncoder",
    "PositionwiseFeedForward", "TransformerDecoderLayer", "TransformerEncoderLayer",
    "LSTM", "RNN", "LSTMCell", "RNNCell", "RNNWithOutput", "Seq2Seq",
    "Conv2d", "DigitsCNN", "Flatten", "MaxPool2d",
    "GELU", "MLP", "SGD", "Adam", "AdamW", "CrossEntropyLoss", "Dropout", "Embedding", "L1Penalty",
    "L2Penalty", "LayerNorm", "Linear", "MSELoss", "Module", "ReLU", "Sequential", "Sigmoid", "Softmax",
    "Tanh",
    # flash attention (chapter 05)
    "FlashAttention", "flash_attention",
    # attention (chapter 03)
    "AdditiveAttention", "DotProductAttention", "LearnedPositionalEmbedding", "MultiHeadAttention",
    "ScaledDotProductAttention", "SinusoidalPositionalEncoding", "masked_softmax", "scaled_dot_product_attention",
    "sinusoidal_positional_encoding",
    # rotary positions (chapter 05)
    "RotaryEmbedding", "rotary_embedding",
    # long contexts (chapter 05)
    "LinearAttention", "LinearSelfAttention", "SlidingWindowSelfAttention", "linear_attention",
    "sliding_window_mask", "with_attention",
    # mixture of experts (chapter 05)
    "MoE", "MoEConfig", "MoEGPT",
    # LoRA (chapter 05)
    "LoRALinear", "apply_lora", "count_parameters", "merge_lora",
    # knowledge distillation (chapter 05)
    "DistillationLoss",
]
