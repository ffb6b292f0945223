"""The questions the five source articles ask in their FAQ sections (常见问题与解答), and where the course answers them.

Each article ends with a short FAQ: twenty questions in all, several asking the same thing in other words. Chapter 06
answers every one with an experiment that runs on a laptop. This module is the one list of them: the question quoted
verbatim in Chinese, an English translation, what the article answered (in a sentence), the course's verdict on that
answer, and the chapter-06 notebook that measures the answer. ``tests/test_faq.py`` checks that every question is
quoted verbatim in its notebook and in the chapter's index notebook.

::

    from bigmodel_lib.data.faq import FAQ, questions_in
    [q.key for q in questions_in("06_faq/06_3_speed.ipynb")]      # ['2-Q4', '4-Q9.2', '5-Q1']
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["FAQ", "FAQ_GROUPS", "FaqQuestion", "VERDICTS", "faq_question", "questions_in"]

#: What the course says about each article's answer.
VERDICTS = {
    "empty": "says nothing: the answer repeats the question or answers another one",
    "vague": "not wrong, but too general to act on",
    "partly wrong": "part of the answer is right, part is wrong",
    "wrong": "the answer is wrong",
    "right, unmeasured": "right in substance; the chapter measures how much",
}


@dataclass(frozen=True)
class FaqQuestion:
    """One FAQ question of one source article."""

    key: str            # "<article>-Q<n>", e.g. "1-Q2", or "4-Q9.3" for article 4's numbered FAQ sections
    article: int        # 1..5: source article N (原文N)
    section: str        # the article's own FAQ section, e.g. "§1.6, Q2"
    question_zh: str    # verbatim
    question_en: str
    article_answer_en: str
    verdict: str        # a key of VERDICTS
    notebook: str       # relative to chapters/

    def __post_init__(self) -> None:
        if self.verdict not in VERDICTS:
            raise ValueError(f"verdict must be one of {sorted(VERDICTS)}, got {self.verdict!r} for {self.key}")
        if not 1 <= self.article <= 5:
            raise ValueError(f"article must be 1..5, got {self.article} for {self.key}")

    @property
    def source(self) -> str:
        """How the course cites it: 'source article 4 (原文4), §9.2'."""
        return f"source article {self.article} (原文{self.article}), {self.section}"


_RECIPE = "06_faq/06_1_training_recipe.ipynb"
_SIZE = "06_faq/06_2_size_and_overfitting.ipynb"
_SPEED = "06_faq/06_3_speed.ipynb"
_MEMORY = "06_faq/06_4_memory_and_data.ipynb"
_LABELS = "06_faq/06_5_labels_and_pretraining.ipynb"
_INTERPRET = "06_faq/06_6_interpretability.ipynb"
_COST = "06_faq/06_8_cost_deployment_applications.ipynb"

_Q = FaqQuestion
FAQ: tuple[FaqQuestion, ...] = (
    # ---- source article 1, §1.6 ----
    _Q("1-Q1", 1, "§1.6, Q1", "大模型的训练需要大量的计算资源，如何合理分配和管理这些资源？",
       "Training a big model takes a lot of compute: how should it be allocated and managed sensibly?",
       "Allocate by the model's scale; tune batch size and learning rate; choose the conversion format and deployment "
       "method by the application.", "empty", _COST),
    _Q("1-Q2", 1, "§1.6, Q2", "大模型的训练需要使用合适的训练策略，如何选择合适的优化器、学习率、批量大小等参数？",
       "Training needs a suitable strategy: how to choose the optimizer, learning rate, batch size and such?",
       "Choose a suitable optimizer, learning rate and batch size according to the model and the training needs.",
       "empty", _RECIPE),
    _Q("1-Q3", 1, "§1.6, Q3", "大模型的应用需要考虑如何将模型部署到实际应用场景中，如何将模型转换为可部署的格式？",
       "Applying a big model means deploying it: how is a model converted to a deployable format?",
       "Choose a suitable conversion format, deployment method and optimization strategy.", "empty", _COST),
    # ---- source article 2, §6 ----
    _Q("2-Q1", 2, "§6, Q1", "大模型的优势是什么？", "What are the advantages of big models?",
       "Higher accuracy and generalization; more complex tasks and larger datasets.", "partly wrong", _SIZE),
    _Q("2-Q2", 2, "§6, Q2", "大模型的缺点是什么？", "What are the drawbacks of big models?",
       "More compute and complexity, longer training.", "right, unmeasured", _SIZE),
    _Q("2-Q3", 2, "§6, Q3", "如何选择适合的大模型算法？", "How does one choose a suitable algorithm for a big model?",
       "Consider the task, the data size and the compute; try several and compare.", "vague", _LABELS),
    _Q("2-Q4", 2, "§6, Q4", "如何优化大模型的训练和推理速度？",
       "How can training and inference of big models be sped up?",
       "More efficient algorithms, fewer parameters, faster hardware.", "vague", _SPEED),
    # ---- source article 3, §6 ----
    _Q("3-Q1", 3, "§6, Q1", "大模型的计算成本和存储成本很高，这会影响它们的实际应用吗？",
       "Big models cost a lot to compute and to store: does that affect their use in practice?",
       "Yes; more efficient algorithms are needed.", "vague", _COST),
    _Q("3-Q2", 3, "§6, Q2", "大模型的解释性和可解释性很差，这会影响它们的应用吗？",
       "Big models are poorly interpretable: does that affect their use?",
       "Yes; better interpretability, explainability and visualization are needed.", "empty", _INTERPRET),
    _Q("3-Q3", 3, "§6, Q3", "大模型的泛化能力很强，但是它们可能会过拟合，这会影响它们的应用吗？",
       "Big models generalize well but may over-fit: does that affect their use?",
       "Yes; better regularization and optimizers are needed.", "partly wrong", _SIZE),
    _Q("3-Q4", 3, "§6, Q4", "大模型的训练数据需要大量的人工标注，这会增加它们的成本吗？",
       "Big models' training data needs a lot of human labelling: does that raise their cost?",
       "Yes; better automatic labelling and unsupervised learning are needed.", "wrong", _LABELS),
    # ---- source article 4, §9 ----
    _Q("4-Q9.1", 4, "§9.1", "大模型为什么需要大量计算资源？", "Why do big models need so much compute?",
       "Hundreds of millions to hundreds of billions of parameters to optimize, plus the many dot products and "
       "softmaxes of self-attention.", "partly wrong", _COST),
    _Q("4-Q9.2", 4, "§9.2", "如何优化大模型的计算效率？",
       "How can the computational efficiency of big models be improved?",
       "Parallel hardware (GPU/TPU); compression (pruning, quantization, distillation) to cut parameters; distributed "
       "training.", "partly wrong", _SPEED),
    _Q("4-Q9.3", 4, "§9.3", "大模型的训练时间如何优化？", "How can the training time of big models be reduced?",
       "Fine-tune a pre-trained model; set the learning rate to avoid a local optimum; adjust the batch size.",
       "partly wrong", _RECIPE),
    _Q("4-Q9.4", 4, "§9.4", "大模型在医疗领域的应用前景如何？", "What are the prospects of big models in medicine?",
       "Very broad: image analysis, diagnosis, treatment recommendation; privacy and ethics must be solved.", "vague",
       _COST),
    # ---- source article 5, §6 ----
    _Q("5-Q1", 5, "§6, Q1", "大模型的训练速度很慢，有什么办法可以加快训练速度？",
       "Training a big model is slow: how can it be sped up?",
       "Distributed training; a more efficient optimizer such as Adam.", "partly wrong", _SPEED),
    _Q("5-Q2", 5, "§6, Q2", "大模型的参数数量很大，会导致内存占用很大，有什么办法可以减少内存占用？",
       "Big models have many parameters and use much memory: how can memory be reduced?",
       "Quantize the parameters to integers; prune or distil.", "partly wrong", _MEMORY),
    _Q("5-Q3", 5, "§6, Q3", "大模型的训练数据规模很大，会导致I/O操作很慢，有什么办法可以加快I/O操作速度？",
       "Training data is large and I/O is slow: how can I/O be sped up?",
       "Cache the data in memory; split the data across devices (data parallelism).", "partly wrong", _MEMORY),
    _Q("5-Q4", 5, "§6, Q4", "大模型的计算资源需求很高，有什么办法可以降低计算资源需求？",
       "Big models need a lot of compute: how can the need be reduced?",
       "More efficient algorithms and optimizers; move deployment and access to the cloud.", "partly wrong", _COST),
    _Q("5-Q5", 5, "§6, Q5", "大模型的应用场景很广泛，有什么办法可以更好地应用大模型？",
       "Big models have many applications: how can they be applied better?",
       "Experiment with them in many applications, and optimize them for each.", "empty", _COST),
)

#: The chapter's notebooks that answer questions, in order, with their titles (English · 中文).
FAQ_GROUPS: dict[str, str] = {
    _RECIPE: "Choosing the optimizer, learning rate and batch size · 如何选择优化器、学习率与批量大小",
    _SIZE: ("Do bigger models generalize better? Size, over-fitting and regularization · "
            "大模型泛化更好吗？规模、过拟合与正则化"),
    _SPEED: "Making training and inference faster, measured · 加快训练与推理：实测",
    _MEMORY: "Less memory and faster data loading · 减少内存占用与加快数据加载",
    _LABELS: "Labels, pre-training and choosing an architecture · 标注数据、预训练与架构选择",
    _INTERPRET: "What is the model looking at? Attention, gradients and ablation · 模型在看哪里？注意力、梯度与消融",
    _COST: "Cost, resources, deployment and applications · 成本、资源、部署与应用",
}


def faq_question(key: str) -> FaqQuestion:
    """The question with this key, e.g. ``faq_question("5-Q2")``."""
    for question in FAQ:
        if question.key == key:
            return question
    raise KeyError(f"no FAQ question {key!r}; keys are {[q.key for q in FAQ]}")


def questions_in(notebook: str) -> list[FaqQuestion]:
    """The questions a chapter-06 notebook answers (``notebook`` relative to ``chapters/``)."""
    if notebook not in FAQ_GROUPS:
        raise ValueError(f"notebook must be one of {list(FAQ_GROUPS)}, got {notebook!r}")
    return [question for question in FAQ if question.notebook == notebook]
