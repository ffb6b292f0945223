"""The course's glossary · 术语表: every technical term, English ↔ 中文, with where it is first taught.

Each :class:`GlossaryTerm` row holds

* ``english`` -- the course's English term; ``aliases`` -- other English spellings the course accepts;
* ``chinese`` -- the **one** Chinese term the course uses for it (d2l-zh's terminology where it has one,
  otherwise the course's own headings);
* ``first_taught`` -- the notebook, relative to ``chapters/``, that teaches it first, and ``section`` -- the
  numbered heading there ("" when the whole notebook is about it);
* ``definition_en`` -- one line;
* ``avoid`` -- Chinese variants the course must not use for this meaning (checked by ``tests/test_glossary.py``
  on every notebook's markdown and every ``.md`` file, outside quotations of the source articles, see
  :func:`course_prose`).

::

    from bigmodel_lib.data.glossary import GLOSSARY, find_terms, terms_by_chapter
    find_terms("cache")[0].chinese          # '键值缓存（KV 缓存）'
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass

__all__ = [
    "CHAPTERS", "GLOSSARY", "GlossaryTerm", "chapter_of", "course_prose", "find_terms", "html_table", "markdown_table",
    "notebook_link", "terms_by_chapter",
]


@dataclass(frozen=True)
class GlossaryTerm:
    """One row of the glossary."""

    english: str
    chinese: str
    first_taught: str
    section: str
    definition_en: str
    avoid: tuple[str, ...] = ()
    aliases: tuple[str, ...] = ()

    @property
    def spellings(self) -> tuple[str, ...]:
        """The English term and its aliases: what a notebook may write for it."""
        return (self.english, *self.aliases)


#: Chapter folder -> its bilingual title, in course order.
CHAPTERS = {
    "01_background": "01 · Background · 背景介绍",
    "02_core_concepts": "02 · Core concepts · 核心概念与联系",
    "03_attention": "03 · Attention math · 注意力机制的原理与数学",
    "04_code": "04 · Code · 具体代码实例",
    "05_trends": "05 · Trends · 未来发展趋势与挑战",
    "06_faq": "06 · FAQ · 常见问题与解答",
    "appendix": "Appendix · 附录: errata for the source articles · 原文勘误",
}

# Notebooks, relative to chapters/ (short names keep the table below readable).
_N11 = "01_background/01_1_why_models_grew.ipynb"
_N12 = "01_background/01_2_what_scale_costs.ipynb"
_N13 = "01_background/01_3_this_machine.ipynb"
_N21 = "02_core_concepts/02_1_neurons_layers_backprop.ipynb"
_N22 = "02_core_concepts/02_2_losses_optimizers_regularization.ipynb"
_N31 = "03_attention/03_1_from_similarity_to_attention.ipynb"
_N32 = "03_attention/03_2_scaling_softmax_and_gradients.ipynb"
_N33 = "03_attention/03_3_masks_and_multihead.ipynb"
_N34 = "03_attention/03_4_positional_encoding.ipynb"
_N35 = "03_attention/03_5_cost_of_attention.ipynb"
_N41 = "04_code/04_1_cnn_digits.ipynb"
_N42 = "04_code/04_2_rnn_lstm_memory.ipynb"
_N43 = "04_code/04_3_seq2seq_attention_dates.ipynb"
_N44 = "04_code/04_4_transformer_dates.ipynb"
_N45 = "04_code/04_5_small_gpt.ipynb"
_N46 = "04_code/04_6_performance.ipynb"
_N47 = "04_code/04_7_tokens_bpe.ipynb"
_N48 = "04_code/04_8_gpt2_weights.ipynb"
_N51 = "05_trends/05_1_scaling_laws.ipynb"
_N52 = "05_trends/05_2_flash_attention.ipynb"
_N53 = "05_trends/05_3_long_context_attention.ipynb"
_N54 = "05_trends/05_4_gqa_and_rope.ipynb"
_N55 = "05_trends/05_5_mixture_of_experts.ipynb"
_N56 = "05_trends/05_6_distributed_training.ipynb"
_N57 = "05_trends/05_7_quantization.ipynb"
_N58 = "05_trends/05_8_pruning_and_distillation.ipynb"
_N59 = "05_trends/05_9_fine_tuning_and_lora.ipynb"
_N510 = "05_trends/05_10_deployment_onnx.ipynb"
_N61 = "06_faq/06_1_training_recipe.ipynb"
_N62 = "06_faq/06_2_size_and_overfitting.ipynb"
_N63 = "06_faq/06_3_speed.ipynb"
_N65 = "06_faq/06_5_labels_and_pretraining.ipynb"
_N64 = "06_faq/06_4_memory_and_data.ipynb"
_N66 = "06_faq/06_6_interpretability.ipynb"
_N67 = "06_faq/06_7_privacy_memorization.ipynb"
_N68 = "06_faq/06_8_cost_deployment_applications.ipynb"
_EA = "appendix/errata_01_background.ipynb"

_T = GlossaryTerm
GLOSSARY: tuple[GlossaryTerm, ...] = (
    # ---- chapter 01: background ----
    _T("large model", "大模型", _N11, "1.1", "A neural network whose parameters, training data and "
       "training compute are all large; the course measures size by all three, not by a parameter threshold.",
       avoid=("大型模型",), aliases=("big model",)),
    _T("the source articles", "原文", _N11, "1.1.5", "The five Chinese articles the course grew from; quoted and "
       "corrected in the appendix.", avoid=("种子文章", "种子原文"), aliases=("source article",)),
    _T("errata", "勘误", _EA, "", "Corrections of the source articles: the quote, what is wrong, and the fix.",
       aliases=("erratum",)),
    _T("landmark model", "里程碑模型", _N11, "1.1.1", "One of about a dozen published models, 2012-2023, used to "
       "show how parameters, data and compute grew."),
    _T("log scale", "对数坐标", _N11, "1.1.2", "An axis on which equal steps multiply the value; growth by a "
       "constant factor per year is a straight line on it."),
    _T("accelerator", "加速器", _N11, "1.1.4", "A chip built for dense arithmetic (GPU, TPU) that trains "
       "and serves big models.", aliases=("GPU",)),
    _T("peak FLOP/s", "峰值算力", _N11, "1.1.4", "The most floating-point operations per second a chip can do, "
       "from its datasheet; real training reaches a fraction of it.", aliases=("peak",)),
    _T("compute", "算力", _N11, "1.1.5", "The floating-point operations spent on training or inference, "
       "counted in FLOPs.", aliases=("training compute",)),
    _T("parameter", "参数", _N12, "1.2.1", "A number of the model that training adjusts: a weight or a bias.",
       aliases=("parameters",)),
    _T("parameter count", "参数量", _N12, "1.2.1", "How many parameters a model has, counted from its layer "
       "shapes.", aliases=("parameters",)),
    _T("FLOP (floating-point operation)", "浮点运算", _N12, "1.2.2", "One addition or multiplication of floating-point "
       "numbers; a multiply-add is 2 FLOPs.", aliases=("FLOP", "FLOPs")),
    _T("training FLOPs (6ND)", "训练计算量", _N12, "1.2.2", "Forward + backward compute of training: about 6 FLOPs "
       "per parameter per token, plus the attention term.", aliases=("6ND", "6 N D", "training FLOPs")),
    _T("optimizer state", "优化器状态", _N12, "1.2.3", "What an optimizer keeps per parameter between steps, "
       "e.g. Adam's two moment arrays.", aliases=("optimizer states",)),
    _T("mixed precision", "混合精度", _N12, "1.2.3", "Training with 16-bit arithmetic for speed while keeping "
       "a 32-bit master copy of the weights."),
    _T("compute budget", "算力预算", _N12, "1.2.6", "The training FLOPs one can afford; fixes the product of "
       "parameters and tokens."),
    _T("inference", "推理", _N12, "1.2.5", "Running a trained model to get outputs (serving), as opposed to "
       "training it.", aliases=("serving",)),
    _T("model FLOPs utilisation (MFU)", "模型算力利用率（MFU）", _N13, "1.3.2", "The model's useful FLOP/s divided "
       "by the hardware's peak FLOP/s.", aliases=("MFU", "model FLOPs utilization")),
    _T("activation memory", "激活值内存", _N13, "1.3.3", "Memory for the intermediate results the backward pass "
       "needs; grows with batch size and sequence length.", aliases=("activations",)),
    _T("float32 / float16 / bfloat16", "浮点格式（float32/float16/bfloat16）", _N13, "1.3.3", "The 32-bit and the two "
       "16-bit floating-point formats; bfloat16 keeps float32's exponent range with fewer mantissa bits.",
       aliases=("float32", "float16", "bfloat16")),
    _T("deployment", "部署", _N13, "1.3.6", "Putting a trained model into service: weights, runtime, hardware "
       "and format.", aliases=("deploy",)),
    _T("ONNX", "ONNX", _N13, "1.3.6", "Open Neural Network Exchange: a file format for a model's graph and "
       "weights that runtimes such as ONNX Runtime execute."),
    _T("load average", "平均负载", _N22, "2.8", "How many processes wanted a CPU, averaged over 1, 5 and 15 "
       "minutes; printed next to every timing."),
    # ---- chapter 02: core concepts ----
    _T("neural network", "神经网络", _N21, "2.1", "Layers of neurons whose weights are learned from data.",
       aliases=("network",)),
    _T("random seed", "随机种子", _N41, "4.1.1", "The starting value of a random-number generator; fixing it makes a "
       "run repeatable.", aliases=("seed",)),
    _T("tensor", "张量", _N31, "3.1.5", "An n-dimensional array, PyTorch's basic type.", aliases=("tensors",)),
    _T("neuron", "神经元", _N21, "2.1", "A weighted sum of inputs plus a bias, passed through an activation "
       "function."),
    _T("weight", "权重", _N21, "2.1", "A parameter that multiplies an input.", aliases=("weights",)),
    _T("bias", "偏置", _N21, "2.1", "A parameter added after the weighted sum."),
    _T("layer", "层", _N21, "2.2", "Many neurons reading the same inputs: a matrix product, a bias and an "
       "activation."),
    _T("fully connected layer", "全连接层", _N21, "2.2", "A layer in which every output depends on every input "
       "through its own weight.", aliases=("linear layer", "dense layer", "fully-connected")),
    _T("activation function", "激活函数", _N21, "2.2", "The element-wise non-linear function applied after a "
       "layer's weighted sum."),
    _T("non-linearity", "非线性", _N21, "2.2", "What an activation adds: without it a stack of layers is one "
       "linear map.", aliases=("non-linear",)),
    _T("ReLU", "ReLU 函数", _N21, "2.2", "Rectified linear unit, max(0, x)."),
    _T("sigmoid", "sigmoid 函数", _N21, "2.2", "1 / (1 + e^-x), squashing a number into (0, 1); used in gates."),
    _T("tanh", "双曲正切（tanh）", _N21, "2.2", "The hyperbolic tangent, squashing into (-1, 1)."),
    _T("GELU", "GELU 函数", _N21, "2.2", "Gaussian error linear unit, x·Φ(x): a smooth ReLU used in GPT."),
    _T("XOR", "异或", _N21, "2.2", "The classic function a single linear layer cannot represent."),
    _T("multilayer perceptron (MLP)", "多层感知机（MLP）", _N21, "2.3", "Fully connected layers with activations "
       "between them.", avoid=("多层感知器",), aliases=("MLP", "multilayer perceptron")),
    _T("depth", "深度", _N21, "2.3", "The number of layers of a network."),
    _T("width", "宽度", _N21, "2.3", "The number of neurons (features) of a layer."),
    _T("forward pass", "前向传播", _N21, "2.4", "Computing the outputs and the loss from the inputs, layer by "
       "layer.", aliases=("forward",)),
    _T("backpropagation", "反向传播", _N21, "2.4", "Computing the gradient of the loss with respect to every "
       "parameter by the chain rule, from the output back.", aliases=("backward pass", "backward")),
    _T("chain rule", "链式法则", _N21, "2.4.1", "The derivative of a composition is the product of the "
       "derivatives of its parts."),
    _T("computational graph", "计算图", _N21, "2.4.1", "The operations of a forward pass as a graph, which "
       "backpropagation walks in reverse."),
    _T("gradient", "梯度", _N21, "2.4", "The vector of partial derivatives of the loss with respect to the "
       "parameters.", aliases=("gradients",)),
    _T("gradient checking", "梯度检验", _N21, "2.4.3", "Comparing an analytic gradient with finite differences.",
       avoid=("梯度检查",), aliases=("gradient check",)),
    _T("finite differences", "有限差分", _N21, "2.4.3", "Estimating a derivative from (f(x+h) - f(x-h)) / 2h.",
       aliases=("finite difference", "finite-difference")),
    _T("automatic differentiation (autograd)", "自动求导", _N21, "2.4.4", "A framework recording the forward "
       "operations and running backpropagation for you (PyTorch's autograd).", aliases=("autograd",)),
    _T("float64", "双精度浮点（float64）", _N21, "2.4.3", "64-bit floating point; gradient checks run in it."),
    _T("loss function", "损失函数", _N22, "2.5", "A number measuring how wrong the outputs are; training "
       "minimises it.", aliases=("loss",)),
    _T("mean squared error (MSE)", "均方误差", _N22, "2.5.1", "The mean of squared differences between outputs "
       "and targets.", aliases=("mean squared error", "MSE")),
    _T("cross-entropy", "交叉熵", _N22, "2.5.2", "Minus the log-probability the model gives the right class or "
       "token.", aliases=("cross entropy",)),
    _T("logits", "logits", _N22, "2.5.2", "The unnormalised scores a model outputs before softmax.",
       aliases=("logit",)),
    _T("softmax", "softmax", _N22, "2.5.2", "exp(x_i) / Σ exp(x_j): turns scores into probabilities that sum "
       "to 1.", avoid=("软最大",)),
    _T("log-sum-exp", "对数求和指数（log-sum-exp）", _N22, "2.5.2", "log Σ exp(x_j), computed after subtracting the "
       "maximum so it cannot overflow.", aliases=("logsumexp",)),
    _T("optimizer", "优化器", _N22, "2.6", "The rule that turns gradients into parameter updates."),
    _T("learning rate", "学习率", _N22, "2.6", "The step size of the parameter update."),
    _T("mini-batch", "小批量", _N22, "2.6", "The handful of examples one training step's gradient is computed "
       "on.", aliases=("minibatch", "batch")),
    _T("batch size", "批量大小", _N22, "2.6", "The number of examples in a mini-batch."),
    _T("epoch", "轮（epoch）", _N22, "2.6", "One pass over the whole training set.", aliases=("epochs",)),
    _T("stochastic gradient descent (SGD)", "随机梯度下降", _N22, "2.6.2", "Updating the parameters against the "
       "gradient of a mini-batch.", aliases=("SGD",)),
    _T("momentum", "动量", _N22, "2.6.2", "Moving along a running average of past gradients instead of the "
       "current one."),
    _T("Adam", "Adam", _N22, "2.6.2", "An optimizer scaling each parameter's step by running averages of its "
       "gradient and squared gradient."),
    _T("loss surface", "损失曲面", _N22, "2.6.4", "The loss as a function of the parameters.",
       aliases=("loss landscape",)),
    _T("regularization", "正则化", _N22, "2.7", "Anything that limits a model's capacity to fit noise: weight "
       "decay, dropout, early stopping.", aliases=("regularisation",)),
    _T("over-fitting", "过拟合", _N22, "2.7", "Fitting the training set better while getting worse on unseen "
       "data.", aliases=("overfitting", "over-fit")),
    _T("generalization", "泛化", _N22, "2.7", "Doing well on data not seen in training.",
       aliases=("generalisation", "generalize")),
    _T("validation set", "验证集", _N22, "2.7", "Held-out data used to choose hyperparameters and to stop "
       "training.", aliases=("validation",)),
    _T("weight decay", "权重衰减", _N22, "2.7", "Shrinking every weight a little each step; L2 regularization "
       "for SGD."),
    _T("L2 regularization", "L2 正则化", _N22, "2.7", "Adding λ·Σw² to the loss."),
    _T("dropout", "暂退法（dropout）", _N22, "2.7", "Zeroing random activations during training so no unit can "
       "rely on another.", avoid=("丢弃法",)),
    _T("early stopping", "早停", _N22, "2.7", "Keeping the parameters of the step with the best validation "
       "loss."),
    _T("L1 regularization", "L1 正则化", _N22, "2.7", "Adding λ·Σ|w| to the loss, which drives some weights to "
       "exactly zero.", aliases=("L1",)),
    _T("sparsity", "稀疏性", _N22, "2.7", "The fraction of exact zeros in a weight matrix.",
       aliases=("sparse",)),
    _T("compute efficiency", "计算效率", _N22, "2.8", "How much of the work a step needs is done per second; "
       "FLOPs counted against time measured."),
    _T("gradient accumulation", "梯度累积", _N22, "2.8", "Summing the gradients of several micro-batches before "
       "one update, to reach a large batch in little memory."),
    # ---- chapter 03: attention ----
    _T("attention", "注意力", _N31, "3.1", "Each query takes a weighted average of values, weighted by the "
       "softmax of its similarity to the keys.", aliases=("attention mechanism",)),
    _T("query", "查询", _N31, "3.1.1", "The vector that asks: which keys are like me?", aliases=("queries",)),
    _T("key", "键", _N31, "3.1.1", "The vector a query is compared with.", aliases=("keys",)),
    _T("value", "值", _N31, "3.1.1", "The vector that is averaged into the output.", aliases=("values",)),
    _T("attention score", "注意力分数", _N31, "3.1.2", "The similarity of a query and a key before softmax.",
       aliases=("score", "scores")),
    _T("similarity", "相似度", _N31, "3.1.2", "How alike a query and a key are; attention turns similarities into "
       "weights.", aliases=("similarity scores",)),
    _T("matrix multiplication", "矩阵乘法", _N31, "3.1.2", "The product of two matrices; the bulk of a big model's "
       "FLOPs.", aliases=("matrix product", "matmul")),
    _T("soft dictionary lookup", "软查找", _N31, "3.1.1", "Attention read as a lookup that returns a weighted mix of "
       "all values instead of one.", aliases=("soft lookup",)),
    _T("weighted sum", "加权求和", _N31, "3.1.4", "Σ_j α_ij v_j: each output is the values mixed by the attention "
       "weights.", aliases=("weighted average",)),
    _T("scoring function", "打分函数", _N31, "3.1.7", "The function of a query and a key giving their score: dot "
       "product, additive, or a distance.", aliases=("scoring functions",)),
    _T("dot product", "点积", _N31, "3.1.2", "Σ q_i k_i, the similarity used by Transformer attention."),
    _T("attention weights", "注意力权重", _N31, "3.1.3", "The softmax of the scores: non-negative, summing to 1 "
       "over the keys.", aliases=("attention weight",)),
    _T("temperature", "温度", _N31, "3.1.3", "A divisor of the scores before softmax: high flattens the "
       "distribution, low sharpens it."),
    _T("convex hull", "凸包", _N31, "3.1.4", "All weighted averages of some points; every attention output lies "
       "in the convex hull of the values."),
    _T("scaled dot-product attention", "缩放点积注意力", _N31, "3.1.5", "softmax(QKᵀ/√d_k) V.",
       aliases=("scaled dot product attention", "scaled dot product")),
    _T("self-attention", "自注意力", _N31, "3.1.6", "Attention in which queries, keys and values all come from "
       "the same sequence.", aliases=("self attention",)),
    _T("cross-attention", "交叉注意力", _N31, "3.1.6", "Attention in which the queries come from one sequence "
       "(the decoder) and keys and values from another (the encoder).", avoid=("跨注意力",),
       aliases=("cross attention",)),
    _T("additive attention", "加性注意力", _N31, "3.1.7", "Scores from a small MLP of query and key, "
       "vᵀ tanh(W q + U k) (Bahdanau).", aliases=("Bahdanau attention", "additive")),
    _T("saturation (of softmax)", "饱和", _N32, "3.2.2", "Scores so far apart that softmax is nearly one-hot and "
       "its gradient nearly zero.", aliases=("saturation", "saturate", "saturates")),
    _T("Jacobian", "雅可比矩阵", _N32, "3.2.3", "The matrix of partial derivatives of every output with respect "
       "to every input."),
    _T("vanishing gradient", "梯度消失", _N32, "3.2.4", "Gradients shrinking towards zero as they flow back, so "
       "early parameters stop learning.", aliases=("vanishing gradients", "vanish")),
    _T("mask", "掩码", _N33, "3.3", "A boolean array marking which keys a query may attend to; masked scores "
       "are set to -∞ before softmax.", avoid=("掩膜", "遮罩"), aliases=("masks", "masking")),
    _T("padding", "填充", _N33, "3.3.1", "Filler tokens that make sequences of a batch equally long."),
    _T("padding mask", "填充掩码", _N33, "3.3.1", "A mask that hides padding keys.",
       aliases=("padding masks",)),
    _T("causal mask", "因果掩码", _N33, "3.3.2", "A mask letting position i attend only to positions ≤ i, so a "
       "decoder cannot see the future.", aliases=("causal masks", "causal")),
    _T("multi-head attention", "多头注意力", _N33, "3.3.4", "Several attentions in parallel on slices of the "
       "width, their outputs concatenated and projected.", aliases=("multi-head", "multihead attention")),
    _T("attention head", "注意力头", _N33, "3.3.4", "One of the parallel attentions of multi-head attention.",
       aliases=("head", "heads")),
    _T("positional encoding", "位置编码", _N34, "3.4", "Information about each token's position added to its "
       "embedding, since attention alone ignores order.", aliases=("positional encodings",)),
    _T("permutation equivariance", "置换等变", _N34, "3.4.1", "Permuting the inputs permutes the outputs the "
       "same way: attention without positions has it.", aliases=("permutation-equivariant", "permutation")),
    _T("sinusoidal positional encoding", "正弦位置编码", _N34, "3.4.2", "Sines and cosines of the position at "
       "geometrically spaced frequencies.", aliases=("sinusoidal",)),
    _T("embedding", "嵌入", _N34, "3.4.4", "A learned vector per token id, looked up from a table.",
       aliases=("embeddings", "token embedding")),
    _T("learned position embedding", "可学习的位置嵌入", _N34, "3.4.5", "A trained vector per position, added "
       "to the token embedding (GPT-2).", aliases=("learned position embeddings", "learned positions")),
    _T("sequence length", "序列长度", _N35, "3.5", "The number of tokens L of a sequence; attention's cost "
       "grows as L².", aliases=("length", "lengths")),
    _T("query blocks (chunking)", "分块计算", _N35, "3.5.6", "Computing attention a block of queries at a time: "
       "same result, memory O(block·L) instead of O(L²).", aliases=("blocks of queries",)),
    _T("SDPA (scaled_dot_product_attention)", "SDPA", _N35, "3.5", "PyTorch's fused attention function, which "
       "picks a math, memory-efficient or flash kernel.", aliases=("SDPA", "scaled_dot_product_attention")),
    _T("residual connection", "残差连接", _N44, "4.4.1", "Adding a sub-layer's input to its output, x + f(x), so "
       "gradients have a direct path.", aliases=("residual", "residual connections")),
    _T("layer normalization", "层归一化", _N44, "4.4.1", "Normalising each token's features to zero mean and unit "
       "variance, then scaling and shifting.", avoid=("层规范化",), aliases=("LayerNorm", "layer norm")),
    # ---- chapter 04: code ----
    _T("convolution", "卷积", _N41, "4.1.2", "Sliding a small kernel over the input and taking a weighted sum "
       "at every position."),
    _T("convolutional neural network (CNN)", "卷积神经网络", _N41, "4.1", "A network of convolution and pooling "
       "layers, for images.", aliases=("CNN", "convolutional network")),
    _T("kernel (convolution)", "卷积核", _N41, "4.1.2", "The small weight array a convolution slides over the "
       "input.", aliases=("kernel", "filter")),
    _T("channel", "通道", _N41, "4.1.2", "One of the feature planes of an image or feature map.",
       aliases=("channels",)),
    _T("stride", "步幅", _N41, "4.1.2", "How far the kernel moves between positions."),
    _T("feature map", "特征图", _N41, "4.1.2", "The output of a convolution over all positions, one per output "
       "channel.", aliases=("feature maps",)),
    _T("im2col", "im2col", _N41, "4.1.3", "Unfolding image patches into columns so a convolution becomes one "
       "matrix product."),
    _T("pooling", "池化", _N41, "4.1.4", "Reducing a feature map by taking the maximum (or mean) of each small "
       "window.", aliases=("max pooling",)),
    _T("flatten", "展平", _N41, "4.1.4", "Reshaping a feature map into one vector per example.",
       avoid=("扁平层",), aliases=("flattening",)),
    _T("accuracy", "准确率", _N41, "4.1.6", "The fraction of examples predicted right."),
    _T("throughput", "吞吐量", _N41, "4.1.8", "Examples or tokens processed per second."),
    _T("recurrent neural network (RNN)", "循环神经网络", _N42, "4.2", "A network applying the same cell at "
       "every time step, carrying a hidden state along the sequence.", aliases=("RNN", "recurrent")),
    _T("hidden state", "隐状态", _N42, "4.2.1", "The vector an RNN carries from one time step to the next.",
       aliases=("hidden states",)),
    _T("long short-term memory (LSTM)", "长短期记忆网络（LSTM）", _N42, "4.2.2", "An RNN cell whose gates decide what "
       "its cell state keeps, adds and outputs.", aliases=("LSTM",)),
    _T("gate", "门", _N42, "4.2.2", "A sigmoid-valued vector multiplying another element-wise: how much passes.",
       aliases=("gates",)),
    _T("cell state", "记忆元状态", _N42, "4.2.2", "The LSTM's additive memory, updated by the forget and input "
       "gates."),
    _T("backpropagation through time (BPTT)", "随时间反向传播", _N42, "4.2.3", "Backpropagation through the "
       "unrolled time steps of an RNN.", aliases=("BPTT", "through time")),
    _T("gradient clipping", "梯度裁剪", _N42, "4.2.5", "Rescaling the gradient when its norm exceeds a limit.",
       aliases=("clipping", "clipped")),
    _T("long-term dependency", "长期依赖", _N42, "4.2.5", "An output that depends on an input many steps "
       "earlier.", aliases=("long-term dependencies", "long-range")),
    _T("sequence to sequence (seq2seq)", "序列到序列", _N43, "4.3", "Mapping an input sequence to an output "
       "sequence of another length with an encoder and a decoder.", aliases=("seq2seq",)),
    _T("encoder", "编码器", _N43, "4.3.2", "The part that reads the input sequence into vectors."),
    _T("decoder", "解码器", _N43, "4.3.2", "The part that generates the output one token at a time, attending "
       "to the encoder."),
    _T("encoder–decoder attention", "编码器–解码器注意力", _N43, "4.3.2", "Cross-attention from the decoder to "
       "the encoder's outputs.", aliases=("encoder-decoder attention", "encoder–decoder", "encoder-decoder")),
    _T("teacher forcing", "教师强制", _N43, "4.3.2", "Feeding the decoder the true previous token during "
       "training instead of its own prediction."),
    _T("vocabulary", "词表", _N43, "4.3.1", "The set of tokens a model knows, each with an id.",
       aliases=("vocab",)),
    _T("alignment", "对齐", _N43, "4.3.8", "Which input positions each output step attends to."),
    _T("Transformer", "Transformer", _N44, "4.4", "The encoder-decoder of attention, feed-forward layers, "
       "residual connections and layer normalization (Vaswani et al., 2017).", avoid=("变压器",)),
    _T("feed-forward network", "前馈网络", _N44, "4.4.1", "The two-layer MLP applied to each position of a "
       "Transformer layer.", aliases=("feed-forward", "FFN")),
    _T("greedy decoding", "贪心解码", _N44, "4.4.7", "Taking the most probable token at every step.",
       avoid=("贪婪采样",), aliases=("greedy",)),
    _T("beam search", "束搜索", _N44, "4.4.7", "Keeping the k most probable partial outputs at every step."),
    _T("GPT (decoder-only Transformer)", "GPT", _N45, "4.5", "A stack of causal self-attention blocks trained "
       "to predict the next token.", aliases=("GPT",)),
    _T("language model", "语言模型", _N45, "4.5", "A model of the probability of the next token given the "
       "previous ones.", aliases=("language modelling", "language modeling")),
    _T("corpus", "语料", _N45, "4.5.1", "The text a language model is trained on."),
    _T("character-level tokenizer", "字符级分词器", _N45, "4.5.1", "A tokenizer whose tokens are single "
       "characters.", aliases=("CharTokenizer", "character-level", "character by character")),
    _T("bigram baseline", "二元语法基线", _N45, "4.5.1", "The cross-entropy of predicting a token from the one "
       "before only.", aliases=("bigram",)),
    _T("GPT block", "GPT 块", _N45, "4.5.3", "Layer norm, causal self-attention, layer norm, MLP, each with a "
       "residual connection.", aliases=("block",)),
    _T("learning-rate warm-up", "学习率预热", _N45, "4.5.4", "Raising the learning rate from near zero over the "
       "first steps.", aliases=("warm-up", "warmup")),
    _T("cosine schedule", "余弦学习率调度", _N45, "4.5.4", "Lowering the learning rate along half a cosine after "
       "the warm-up.", aliases=("cosine",)),
    _T("checkpoint", "检查点", _N45, "4.5.4", "The saved parameters and optimizer state from which training "
       "resumes.", aliases=("checkpoints",)),
    _T("perplexity", "困惑度", _N45, "4.5.4", "exp(cross-entropy): the effective number of equally likely next "
       "tokens."),
    _T("weight tying", "权重绑定", _N45, "4.5.2", "Using the token-embedding matrix also as the output layer.",
       aliases=("tied",)),
    _T("key/value cache (KV cache)", "键值缓存（KV 缓存）", _N45, "4.5.5", "Keeping the keys and values of past "
       "tokens during generation so each new token costs one step, not a re-run.",
       aliases=("KV cache", "key/value cache")),
    _T("autoregressive generation", "自回归生成", _N45, "4.5.5", "Generating one token at a time, each fed back "
       "as input.", aliases=("generation", "generate")),
    _T("sampling", "采样", _N45, "4.5.6", "Drawing the next token from the model's distribution instead of "
       "taking the most probable one."),
    _T("top-k sampling", "top-k 采样", _N45, "4.5.6", "Sampling among the k most probable tokens only.",
       aliases=("top-k",)),
    _T("top-p (nucleus) sampling", "top-p（核）采样", _N45, "4.5.6", "Sampling among the most probable tokens "
       "whose probabilities add up to p.", aliases=("top-p", "nucleus")),
    _T("prompt", "提示词", _N45, "4.5.5", "The text a language model continues."),
    _T("forward and backward FLOPs", "前向与反向计算量", _N46, "4.6.1", "A backward pass costs about twice the "
       "forward: training ≈ 3 × forward.", aliases=("forward and backward",)),
    _T("profiling", "性能剖析", _N46, "4.6.7", "Measuring where a program spends its time.",
       aliases=("profiler", "profile")),
    _T("fused kernel", "融合内核", _N46, "4.6.5", "One GPU kernel doing several operations without writing the "
       "intermediates to memory.", aliases=("fused kernels", "kernels", "fused")),
    _T("FlashAttention", "FlashAttention", _N52, "5.2", "Exact attention computed tile by tile with an online "
       "softmax, never storing the L×L matrix."),
    _T("token", "词元", _N47, "4.7", "The unit a language model reads and predicts: a character, a byte or a "
       "merged piece of text.", avoid=("令牌", "标记化", "标记器"), aliases=("tokens",)),
    _T("tokenizer", "分词器", _N47, "4.7", "The program turning text into token ids and back.",
       aliases=("tokenization", "tokenise", "tokenize")),
    _T("byte-pair encoding (BPE)", "字节对编码（BPE）", _N47, "4.7.2", "A tokenizer built by repeatedly merging "
       "the most frequent adjacent pair of tokens.", aliases=("BPE", "byte pair encoding")),
    _T("byte-level", "字节级", _N47, "4.7.1", "Starting from the 256 byte values of UTF-8, so any text can be "
       "encoded."),
    _T("UTF-8", "UTF-8", _N47, "4.7.1", "The encoding of Unicode text as 1 to 4 bytes per character."),
    _T("merge (BPE)", "合并规则", _N47, "4.7.2", "One learned rule of BPE: replace a pair of tokens by a new "
       "token.", aliases=("merge", "merges")),
    _T("compression (bytes per token)", "压缩率", _N47, "4.7.3", "How many bytes of text one token covers on "
       "average.", aliases=("bytes per token", "compression")),
    _T("GPT-2", "GPT-2", _N48, "4.8", "OpenAI's 2019 decoder-only Transformer, whose published weights the "
       "course loads into its own models."),
    _T("state_dict", "状态字典（state_dict）", _N48, "4.8.2", "The mapping of parameter names to arrays that saves "
       "and loads a model.", aliases=("state dict",)),
    _T("fine-tuning", "微调", _N59, "5.9", "Continuing the training of a pre-trained model on a new task or "
       "domain.", aliases=("fine-tune", "fine-tuned", "finetuning")),
    # ---- chapter 05: trends ----
    _T("scaling law", "规模定律", _N51, "5.1", "A power law relating loss to parameters, data and compute.",
       avoid=("缩放定律", "尺度定律", "扩展定律"), aliases=("scaling laws",)),
    _T("power law", "幂律", _N51, "5.1.1", "y = a·x^(-α): a straight line on log-log axes.",
       aliases=("power laws",)),
    _T("Chinchilla", "Chinchilla", _N51, "5.1.1", "Hoffmann et al. (2022): compute-optimal training uses about "
       "20 tokens per parameter."),
    _T("iso-FLOP curve", "等算力曲线", _N51, "5.1.5", "Loss against model size at a fixed compute budget.",
       aliases=("iso-FLOP", "iso-FLOPs")),
    _T("compute-optimal", "算力最优", _N51, "5.1.5", "The split of a compute budget between parameters and "
       "tokens that gives the lowest loss.", aliases=("compute optimal",)),
    _T("memory bandwidth", "内存带宽", _N52, "5.2.1", "Bytes per second a chip moves between its memory and its "
       "arithmetic units.", aliases=("bandwidth",)),
    _T("arithmetic intensity", "算术强度", _N52, "5.2.1", "FLOPs per byte moved: low intensity makes an operation "
       "memory-bound."),
    _T("HBM and SRAM", "高带宽内存与片上缓存", _N52, "5.2.1", "A GPU's large, slower main memory and its small, fast "
       "on-chip memory.", aliases=("HBM", "SRAM")),
    _T("online softmax", "在线 softmax", _N52, "5.2.2", "Softmax computed in one pass over blocks, rescaling the "
       "running sum when the maximum changes."),
    _T("tiling", "分块", _N52, "5.2.3", "Splitting a matrix computation into tiles that fit fast memory.",
       aliases=("tiles", "tile")),
    _T("recomputation", "重算", _N52, "5.2.4", "Recomputing intermediates in the backward pass instead of "
       "storing them.", aliases=("recompute", "recomputing")),
    _T("activation checkpointing", "激活检查点", _N52, "5.2.5", "Storing only some activations and recomputing "
       "the rest in the backward pass.", aliases=("gradient checkpointing", "checkpointing")),
    _T("long context", "长上下文", _N53, "5.3", "Sequences of many thousand tokens, where attention's L² cost "
       "dominates.", aliases=("long contexts",)),
    _T("context length", "上下文长度", _N53, "5.3", "The most tokens a model attends over at once.",
       aliases=("context",)),
    _T("sliding-window attention", "滑动窗口注意力", _N53, "5.3.1", "Each query attends only to the last w "
       "keys.", aliases=("sliding window", "sliding-window")),
    _T("receptive field", "感受野", _N53, "5.3.2", "The input positions an output can depend on; stacked windows "
       "widen it layer by layer."),
    _T("linear attention", "线性注意力", _N53, "5.3.3", "Attention with a feature map instead of softmax, so "
       "the cost grows linearly with L."),
    _T("grouped-query attention (GQA)", "分组查询注意力", _N54, "5.4", "Several query heads share one key/value "
       "head, shrinking the KV cache.", aliases=("GQA", "grouped-query")),
    _T("multi-query attention (MQA)", "多查询注意力", _N54, "5.4", "All query heads share a single key/value "
       "head.", aliases=("MQA",)),
    _T("rotary position embedding (RoPE)", "旋转位置编码", _N54, "5.4.4", "Rotating query and key pairs by "
       "position-dependent angles so scores depend on relative position.", aliases=("RoPE", "rotary")),
    _T("mixture of experts (MoE)", "混合专家模型", _N55, "5.5", "A layer of many feed-forward experts of which "
       "a router activates a few per token.", aliases=("MoE", "mixture of experts", "mixture-of-experts")),
    _T("expert", "专家", _N55, "5.5.1", "One of the feed-forward networks of an MoE layer.",
       aliases=("experts",)),
    _T("router", "路由器", _N55, "5.5.2", "The small layer scoring experts for each token and picking the top k.",
       aliases=("routing",)),
    _T("active parameters", "激活参数", _N55, "5.5.3", "The parameters one token actually uses in an MoE model.",
       aliases=("active",)),
    _T("dense model", "稠密模型", _N55, "5.5.4", "A model whose every parameter works on every token.",
       aliases=("dense",)),
    _T("load balancing", "负载均衡", _N55, "5.5.5", "Keeping the tokens spread evenly over the experts.",
       aliases=("load-balancing", "balancing loss")),
    _T("capacity factor", "容量因子", _N55, "5.5.6", "How many tokens an expert may take, as a multiple of the "
       "even share; the rest are dropped.", aliases=("capacity",)),
    _T("distributed training", "分布式训练", _N56, "5.6", "Training one model on several devices at once.",
       aliases=("distributed",)),
    _T("data parallelism", "数据并行", _N56, "5.6.1", "Every device holds the whole model and processes its own "
       "slice of the batch; gradients are averaged.", aliases=("data parallel", "data-parallel")),
    _T("all-reduce", "全归约（all-reduce）", _N56, "5.6.1", "A collective operation leaving the sum of every "
       "device's array on every device.", avoid=("全规约",), aliases=("allreduce",)),
    _T("micro-batch", "微批量", _N56, "5.6.1", "A slice of a mini-batch processed in one forward/backward pass.",
       aliases=("micro-batches", "microbatch")),
    _T("ZeRO", "ZeRO", _N56, "5.6.2", "Zero Redundancy Optimizer: sharding optimizer states, gradients and "
       "parameters over data-parallel devices."),
    _T("fully sharded data parallel (FSDP)", "完全分片数据并行（FSDP）", _N56, "5.6.2", "PyTorch's ZeRO-3: every "
       "parameter sharded, gathered just in time.", aliases=("FSDP",)),
    _T("sharding", "分片", _N56, "5.6.2", "Splitting an array over devices so each holds one part.",
       aliases=("shard", "sharded", "shards")),
    _T("tensor parallelism", "张量并行", _N56, "5.6.3", "Splitting each weight matrix over devices within a "
       "layer.", aliases=("tensor parallel", "tensor-parallel")),
    _T("pipeline parallelism", "流水线并行", _N56, "5.6.4", "Splitting the layers over devices, micro-batches "
       "flowing through them like a pipeline.", aliases=("pipeline parallel", "pipeline")),
    _T("pipeline bubble", "流水线气泡", _N56, "5.6.4", "Time pipeline stages sit idle while the pipeline fills "
       "and drains.", aliases=("bubble",)),
    _T("quantization", "量化", _N57, "5.7", "Storing weights (and activations) as low-bit integers with a "
       "scale.", aliases=("quantize", "quantise", "quantised", "quantized")),
    _T("dequantization", "反量化", _N57, "5.7.2", "Mapping the integers back to floats with their scale.",
       aliases=("dequantize", "dequantise")),
    _T("int8", "int8（8 位整数）", _N57, "5.7.2", "8-bit integers, -128 to 127."),
    _T("quantization granularity", "量化粒度", _N57, "5.7.3", "Which weights share one scale: the whole tensor, "
       "each channel, or each group.", aliases=("granularity",)),
    _T("outlier", "离群值", _N57, "5.7.4", "A value much larger than the rest, which stretches the scale and "
       "costs the other values precision.", aliases=("outliers",)),
    _T("pruning", "剪枝", _N58, "5.8", "Removing weights, neurons or heads from a trained model."),
    _T("magnitude pruning", "幅值剪枝", _N58, "5.8.1", "Removing the weights of smallest absolute value.",
       aliases=("magnitude",)),
    _T("unstructured pruning", "非结构化剪枝", _N58, "5.8.1", "Pruning individual weights anywhere, leaving "
       "sparse matrices of the same shape.", aliases=("unstructured",)),
    _T("structured pruning", "结构化剪枝", _N58, "5.8.2", "Removing whole heads, neurons or layers, so the "
       "matrices become smaller.", aliases=("structured",)),
    _T("knowledge distillation", "知识蒸馏", _N58, "5.8.3", "Training a small student model to match a large "
       "teacher's output distribution.", aliases=("distillation", "distil", "distill")),
    _T("teacher and student", "教师模型与学生模型", _N58, "5.8.3", "In distillation, the large trained model and "
       "the small model learning from it.", aliases=("teacher", "student")),
    _T("ONNX Runtime", "ONNX Runtime", _N510, "5.10", "An engine that loads an ONNX file and runs it on a CPU, "
       "GPU or NPU without PyTorch."),
    _T("model export", "模型导出", _N510, "5.10.2", "Tracing a model into a framework-independent file such as ONNX.",
       aliases=("export", "exported")),
    _T("low-rank adaptation (LoRA)", "低秩适配（LoRA）", _N59, "5.9.1", "Training a low-rank update B·A beside each "
       "frozen weight matrix.", aliases=("LoRA",)),
    _T("frozen parameters", "冻结参数", _N59, "5.9.1", "Parameters that fine-tuning does not update.",
       aliases=("frozen", "freeze")),
    _T("pre-training", "预训练", _N59, "5.9.2", "The first, long training on general text before fine-tuning.",
       aliases=("pre-trained", "pretraining", "pretrained")),
    _T("domain", "领域", _N59, "5.9.2", "The kind of text a model is trained or used on."),
    _T("full fine-tuning", "全量微调", _N59, "5.9.3", "Fine-tuning that updates every parameter.",
       aliases=("full fine-tune",)),
    _T("sequence classifier", "序列分类器", _N59, "5.9.4", "A model mapping a whole sequence to one class.",
       aliases=("classifier",)),
    # ---- chapter 06: FAQ ----
    _T("generalization gap", "泛化差距", _N62, "6.2.3", "Validation loss minus training loss on the same kind of "
       "windows; it opens when a model starts to over-fit.", aliases=("gap",)),
    _T("patience", "耐心值", _N62, "6.2.5", "How many evaluations in a row without improvement early stopping allows "
       "before it stops."),
    _T("self-supervised learning", "自监督学习", _N65, "6.5.1", "Training whose targets come from the data itself, "
       "e.g. the next token of a text; no person labels anything.", aliases=("self-supervised",)),
    _T("labelled data", "标注数据", _N65, "6.5.1", "Examples with an answer attached by a person: a class, a written "
       "reply, a ranking.", aliases=("labels", "labelled")),
    _T("inductive bias", "归纳偏置", _N65, "6.5.3", "What an architecture finds easy to learn before seeing data: "
       "sharing across positions, reading in order, lookup by content."),
    _T("associative recall", "关联回忆", _N65, "6.5.3", "Given key-value pairs and then a key, output its value: the "
       "lookup attention performs."),
    _T("learning-rate range test", "学习率范围测试", _N61, "6.1.3", "One short run whose learning rate grows every "
       "step; a learning rate is read off its loss curve (Smith 2017).", aliases=("range test",)),
    _T("divergence", "发散", _N61, "6.1.4", "The loss rising far above where it started because the updates "
       "overshoot.", aliases=("diverges", "diverge")),
    _T("square-root scaling rule", "平方根缩放规则", _N61, "6.1.5", "Scale Adam's learning rate by the square root "
       "of the batch-size ratio; SGD's linear rule scales it in proportion.", aliases=("square-root rule",)),
    _T("critical batch size", "临界批量大小", _N61, "6.1.5", "The batch size beyond which a larger batch no longer "
       "cuts the number of steps in proportion (McCandlish et al. 2018)."),
    _T("torch.compile", "编译（torch.compile）", _N63, "6.3.3", "Captures a model's Python code as a graph on the "
       "first call and generates fused kernels for it; the first call pays the compile time."),
    _T("autocast", "自动混合精度（autocast）", _N63, "6.3.3", "Runs chosen operations (matrix products) in a lower "
       "precision while the parameters stay float32."),
    _T("dynamic quantization", "动态量化", _N63, "6.3.6", "int8 weights stored ahead of time, activations "
       "quantized on the fly at each call.", aliases=("dynamic int8",)),
    _T("latency", "延迟", _N63, "6.3.6", "The time one request takes (here one forward pass), as opposed to "
       "throughput."),
    _T("selective recomputation", "选择性重算", _N64, "6.4.2", "Recomputing only attention's L x L part in the "
       "backward pass and keeping the other activations (Korthikanti et al. 2022).", aliases=("selective",)),
    _T("memory-mapped file", "内存映射文件", _N64, "6.4.3", "A file mapped into a process's memory (np.memmap): a read "
       "touches only the pages it needs, and the OS caches them.", aliases=("memory map", "np.memmap")),
    _T("token file", "词元文件", _N64, "6.4.3", "A corpus's token ids written once as a flat binary array "
       "(uint16 while the vocabulary has at most 65,536 ids)."),
    _T("data-loader worker", "数据加载进程", _N64, "6.4.3", "A separate process that prepares the next batches while "
       "the main process computes (DataLoader num_workers).", aliases=("worker", "workers")),
    _T("interpretability", "可解释性", _N66, "6.6.1", "Telling which inputs, features or parts of a model an output "
       "depends on.", aliases=("explainability",)),
    _T("attribution", "归因", _N66, "6.6.3", "One score per input position for how much an output depends on it.",
       aliases=("attributions",)),
    _T("gradient x input", "梯度乘输入", _N66, "6.6.3", "Sum over the embedding of gradient times value: a "
       "first-order estimate of an input's contribution.", aliases=("gradient × input",)),
    _T("occlusion", "遮挡", _N66, "6.6.3", "Replace one input token and measure the change in the output's "
       "log-probability; a form of ablation.", aliases=("ablation",)),
    _T("attention rollout", "注意力展开", _N66, "6.6.3", "The product of the layers' attention matrices, each mixed "
       "with the identity for the residual path (Abnar & Zuidema 2020).", aliases=("rollout",)),
    _T("Spearman rank correlation", "斯皮尔曼秩相关", _N66, "6.6.4", "The correlation of ranks; 1 means the same "
       "order.", aliases=("Spearman",)),
    _T("intervention", "干预", _N66, "6.6.5", "Changing an input on purpose and checking that the output changes "
       "as an explanation predicts."),
    _T("memorization", "记忆", _N67, "", "A model reproducing, or strongly preferring, specific strings of its "
       "training data.", aliases=("memorizes", "memorize")),
    _T("canary", "金丝雀", _N67, "6.7.2", "A random secret in a fixed template, planted in training data to measure "
       "memorization (Carlini et al. 2019).", aliases=("canaries",)),
    _T("verbatim extraction", "逐字提取", _N67, "6.7.4", "Greedy continuation of a prefix writes the training "
       "string exactly.", aliases=("extraction", "verbatim")),
    _T("log-perplexity", "对数困惑度", _N67, "6.7.5", "-log2 P(s | prefix), in bits."),
    _T("exposure", "暴露度", _N67, "6.7.5", "log2 |R| - log2 rank of the secret among |R| candidates "
       "(Carlini et al. 2019, section 4)."),
    _T("deduplication", "去重", _N67, "6.7.6", "Removing repeated strings or documents from training data."),
    _T("differential privacy", "差分隐私", _N67, "6.7.6", "A bound on how much any one training example can change "
       "the model; DP-SGD clips per-example gradients and adds Gaussian noise (Abadi et al. 2016).",
       aliases=("DP-SGD",)),
    _T("GPU-hour", "GPU 时", _N68, "6.8.2", "One GPU busy for one hour: training FLOPs / (peak x MFU) / 3600; "
       "what a cloud bills, whatever the number of GPUs.", aliases=("GPU-hours",)),
    _T("lifetime compute", "全周期算力", _N68, "6.8.2", "Training FLOPs plus serving FLOPs (about 2N per token "
       "served); a smaller model trained longer can need less of it for the same loss."),
    _T("confidence interval", "置信区间", _N68, "6.8.5", "A range that contains the true value (here an accuracy) "
       "in the stated share of repeated measurements, e.g. 95 %; Wilson's interval for a proportion.",
       aliases=("Wilson interval", "interval")),
)


def chapter_of(term: GlossaryTerm) -> str:
    """The chapter folder of the notebook that first teaches ``term``."""
    return term.first_taught.split("/", 1)[0]


def terms_by_chapter() -> dict[str, list[GlossaryTerm]]:
    """Chapter folder -> its terms, chapters in course order, terms in notebook and section order."""
    def order(term: GlossaryTerm) -> tuple:
        notebook = term.first_taught.rsplit("/", 1)[-1]
        number = tuple(int(n) for n in re.findall(r"(?<![a-z])\d+(?=_)", notebook))  # 05_10_x -> (5, 10), after 05_9
        section = tuple(int(p) for p in term.section.split(".") if p.isdigit())
        return list(CHAPTERS).index(chapter_of(term)), number, notebook, section, term.english.lower()
    grouped: dict[str, list[GlossaryTerm]] = {chapter: [] for chapter in CHAPTERS}
    for term in sorted(GLOSSARY, key=order):
        grouped[chapter_of(term)].append(term)
    return {chapter: terms for chapter, terms in grouped.items() if terms}


def find_terms(text: str) -> list[GlossaryTerm]:
    """Terms whose English, aliases, Chinese or definition contain ``text`` (case-insensitive)."""
    needle = text.strip().lower()
    return [t for t in GLOSSARY
            if any(needle in field.lower() for field in (*t.spellings, t.chinese, t.definition_en))]


def notebook_link(term: GlossaryTerm, chapters_dir: str = "..") -> str:
    """Relative link to the notebook teaching ``term``, seen from a folder one level below ``chapters/``."""
    return f"{chapters_dir}/{term.first_taught}"


def _where(term: GlossaryTerm) -> str:
    """Short label of where a term is taught: the section number, else the notebook's number or name."""
    if term.section:
        return term.section
    name = term.first_taught.rsplit("/", 1)[-1].removesuffix(".ipynb")
    return name.replace("_", " ")


def markdown_table(terms: list[GlossaryTerm] | tuple[GlossaryTerm, ...], chapters_dir: str = "..",
                   definitions: bool = True) -> str:
    """A markdown table of ``terms``: English, 中文, where first taught (a relative link), definition, avoid."""
    def cell(text: str) -> str:
        return text.replace("|", "\\|")
    header = ["English", "中文", "first taught · 首次讲解"] + (["definition"] if definitions else []) + ["avoid · 避免"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for t in terms:
        row = [cell(t.english), cell(t.chinese), f"[{_where(t)}]({notebook_link(t, chapters_dir)})"]
        row += [cell(t.definition_en)] if definitions else []
        row += [", ".join(t.avoid)]
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


def html_table(terms: list[GlossaryTerm] | tuple[GlossaryTerm, ...], chapters_dir: str = "..") -> str:
    """The same table as HTML (for an ``ipywidgets.HTML`` view), every field escaped."""
    rows = "".join(
        f"<tr><td>{html.escape(t.english)}</td><td>{html.escape(t.chinese)}</td>"
        f"<td><a href=\"{html.escape(notebook_link(t, chapters_dir))}\">{html.escape(_where(t))}</a></td>"
        f"<td>{html.escape(t.definition_en)}</td><td>{html.escape(', '.join(t.avoid))}</td></tr>"
        for t in terms)
    head = "<tr><th>English</th><th>中文</th><th>first taught</th><th>definition</th><th>avoid</th></tr>"
    return f"<table>{head}{rows}</table>"


_FENCE = re.compile(r"^\s*(```|~~~)")
_INLINE_CODE = re.compile(r"`[^`\n]*`")
_CORNER_QUOTE = re.compile(r"「[^」]*」")


def course_prose(markdown: str) -> str:
    """The markdown with quotations and code blanked out: what the course says in its own words.

    A quotation of the source articles is recognised as (1) a blockquote line (starting with ``>``, the
    appendix's way of quoting a passage) or (2) a span in corner brackets 「…」 (the course's way of quoting a
    phrase inline). Code is (3) a fenced block or (4) an inline code span. Each is replaced by one space, so
    line numbers are kept.
    """
    kept, in_fence = [], False
    for line in markdown.splitlines():
        if _FENCE.match(line):
            in_fence = not in_fence
            kept.append("")
            continue
        if in_fence or line.lstrip().startswith(">"):
            kept.append("")
            continue
        kept.append(_CORNER_QUOTE.sub(" ", _INLINE_CODE.sub(" ", line)))
    return "\n".join(kept)
