"""Every section of the five source articles, as the errata pass read them, with the verdict of that reading.

The appendix corrects the source articles (原文) entry by entry. This table is the other half of that work: each
section of each article, its Chinese title, and whether reading every sentence of it found ``errors`` (each one is
corrected by an appendix entry that cites the section), only claims that are ``vague, not wrong``, or nothing to correct
(``correct``). :mod:`bigmodel_lib.errata_index` joins it with the entries to build the appendix README's index, and
``tests/test_errata_index.py`` checks that the two agree: every section with errors has an entry, every entry cites a
section of this table.

Sections are numbered as the articles number them; ``摘要`` is article 4's title, keywords and abstract, ``结语`` its
closing lines (after §9), ``结论`` article 3's conclusion, ``参考文献`` article 2's reference list. A numbered section
includes its unnumbered sub-items (article 5's §1 holds its items 1.1-1.4). ``title_zh`` is the article's own heading,
quoted as the article writes it.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["ARTICLE_SECTIONS", "ArticleSection", "VERDICTS"]

VERDICTS = ("errors", "vague, not wrong", "correct")


@dataclass(frozen=True)
class ArticleSection:
    """One section of one source article and the verdict of the errata pass."""

    article: int
    section: str
    title_zh: str
    verdict: str

    def __post_init__(self) -> None:
        if self.verdict not in VERDICTS:
            raise ValueError(f"verdict must be one of {VERDICTS}, got {self.verdict!r} for 原文{self.article} "
                             f"§{self.section}")


_E, _V, _C = VERDICTS
_S = ArticleSection
ARTICLE_SECTIONS: tuple[ArticleSection, ...] = (
    # source article 1: 大模型的原理与应用
    _S(1, "1", "背景介绍", _C),
    _S(1, "1.1", "背景介绍", _E),
    _S(1, "1.2", "核心概念与联系", _E),
    _S(1, "1.3", "核心算法原理和具体操作步骤以及数学模型公式详细讲解", _V),
    _S(1, "1.3.1", "注意力机制的原理", _E),
    _S(1, "1.3.2", "注意力机制的具体操作步骤", _E),
    _S(1, "1.3.3", "注意力机制的数学模型公式详细讲解", _E),
    _S(1, "1.4", "具体代码实例和详细解释说明", _V),
    _S(1, "1.4.1", "代码实例", _E),
    _S(1, "1.4.2", "详细解释说明", _E),
    _S(1, "1.5", "未来发展趋势与挑战", _E),
    _S(1, "1.6", "附录常见问题与解答", _E),
    # source article 2: 大模型的算法选择
    _S(2, "1", "背景介绍", _V),
    _S(2, "2", "核心概念与联系", _E),
    _S(2, "3", "核心算法原理和具体操作步骤以及数学模型公式详细讲解", _V),
    _S(2, "3.1", "卷积神经网络（CNN）", _E),
    _S(2, "3.1.1", "卷积层", _E),
    _S(2, "3.1.2", "全连接层", _E),
    _S(2, "3.2", "循环神经网络（RNN）", _E),
    _S(2, "3.2.1", "循环层", _E),
    _S(2, "3.2.2", "输出层", _E),
    _S(2, "3.3", "自注意力机制（Attention）", _E),
    _S(2, "3.3.1", "计算注意力分数", _E),
    _S(2, "3.3.2", "计算注意力分布", _E),
    _S(2, "3.3.3", "计算注意力向量", _E),
    _S(2, "3.4", "Transformer", _V),
    _S(2, "3.4.1", "多头注意力机制", _E),
    _S(2, "3.4.2", "位置编码", _E),
    _S(2, "4", "具体代码实例和详细解释说明", _E),
    _S(2, "4.1", "卷积神经网络（CNN）", _E),
    _S(2, "4.2", "循环神经网络（RNN）", _E),
    _S(2, "4.3", "自注意力机制（Attention）", _E),
    _S(2, "4.4", "Transformer", _E),
    _S(2, "5", "未来发展趋势与挑战", _V),
    _S(2, "6", "附录常见问题与解答", _E),
    _S(2, "参考文献", "参考文献", _E),
    # source article 3: 注意力机制
    _S(3, "1", "背景介绍", _E),
    _S(3, "2", "核心概念与联系", _E),
    _S(3, "3", "核心算法原理和具体操作步骤以及数学模型公式详细讲解", _C),
    _S(3, "3.1", "自注意力机制", _E),
    _S(3, "3.2", "跨注意力机制", _E),
    _S(3, "3.3", "变压器", _E),
    _S(3, "4", "具体代码实例和详细解释说明", _E),
    _S(3, "5", "未来发展趋势与挑战", _E),
    _S(3, "6", "附录常见问题与解答", _E),
    _S(3, "结论", "结论", _E),
    # source article 4: 大模型从理论到实践
    _S(4, "摘要", "摘要", _E),
    _S(4, "1", "背景介绍", _E),
    _S(4, "2", "核心概念与联系", _E),
    _S(4, "2.1", "深度学习", _E),
    _S(4, "2.2", "神经网络", _E),
    _S(4, "2.3", "计算效率", _C),
    _S(4, "2.4", "参数规模", _E),
    _S(4, "3.1", "算法原理概述", _C),
    _S(4, "3.2.1", "自注意力机制", _V),
    _S(4, "3.2.2", "前馈神经网络", _E),
    _S(4, "3.3.1", "优点", _E),
    _S(4, "3.3.2", "缺点", _V),
    _S(4, "3.4", "算法应用领域", _E),
    _S(4, "4.1", "数学模型构建", _E),
    _S(4, "4.2", "公式推导过程", _E),
    _S(4, "4.3", "案例分析与讲解", _E),
    _S(4, "5.1", "开发环境搭建", _E),
    _S(4, "5.2", "源代码详细实现", _E),
    _S(4, "5.3", "代码解读与分析", _E),
    _S(4, "5.4", "运行结果展示", _E),
    _S(4, "6", "实际应用场景", _C),
    _S(4, "6.1", "自然语言处理", _C),
    _S(4, "6.2", "计算机视觉", _E),
    _S(4, "6.3", "语音识别", _E),
    _S(4, "6.4", "未来应用展望", _V),
    _S(4, "7.1", "学习资源推荐", _E),
    _S(4, "7.2", "开发工具推荐", _E),
    _S(4, "7.3", "相关论文推荐", _E),
    _S(4, "8", "总结：未来发展趋势与挑战", _V),
    _S(4, "9.1", "Q：大模型为什么需要大量计算资源？", _E),
    _S(4, "9.2", "Q：如何优化大模型的计算效率？", _E),
    _S(4, "9.3", "Q：大模型的训练时间如何优化？", _E),
    _S(4, "9.4", "Q：大模型在医疗领域的应用前景如何？", _V),
    _S(4, "结语", "作者：禅与计算机程序设计艺术", _V),
    # source article 5: 大模型的背景、概念与代码
    _S(5, "1", "背景介绍", _V),
    _S(5, "2", "核心概念与联系", _V),
    _S(5, "3.1", "神经网络基础", _E),
    _S(5, "3.2", "损失函数", _C),
    _S(5, "3.3", "优化器", _C),
    _S(5, "3.4", "正则化", _V),
    _S(5, "3.5", "分布式训练", _E),
    _S(5, "3.6", "知识蒸馏", _E),
    _S(5, "4", "具体代码实例和详细解释说明", _E),
    _S(5, "5.1", "模型规模的不断扩大", _E),
    _S(5, "5.2", "算法创新", _V),
    _S(5, "5.3", "应用场景的不断拓展", _V),
    _S(5, "5.4", "数据安全与隐私问题", _C),
    _S(5, "5.5", "算力资源的不断提升", _V),
    _S(5, "6", "附录常见问题与解答", _E),
)
