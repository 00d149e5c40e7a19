"""Benchmark: the knowledge search at Beijing's scale (50,000 entries), beside a plain LIKE
scan of the same entries in SQLite, and how often the right entry is in the first three.

Generates the entries (matters × topics × cases, each with a title, keywords and a few
sentences), indexes them (``knowledge.index``), and asks questions written the way callers
put them: a case's words in another order, with a synonym for the topic (社保 for 社会保险,
执照 for 营业执照...) and the filler of speech (请问, 怎么办, 需要什么材料). Each question is
labelled with the entry it was written from.

    python -m benchmarks.knowledge_search [--entries 50000] [--questions 500]
"""

from __future__ import annotations

import argparse
import random
import sqlite3
import statistics
import time

from benchmarks.common import percentile_ms
from knowledge.index import KnowledgeIndex
from knowledge.text import terms

TOPICS = {
    "增值税专用发票": "专票", "社会保险": "社保", "住房公积金": "公积金", "营业执照": "执照",
    "出口退税": "退税", "企业所得税": "所得税", "个人所得税": "个税", "劳动合同": "合同",
    "食品经营许可证": "食品许可", "建设工程规划许可": "规划许可", "排污许可证": "排污证",
    "高新技术企业认定": "高企认定", "外商投资备案": "外资备案", "商标注册": "商标",
    "专利申请": "专利", "进口报关": "报关", "消防验收": "消防", "环境影响评价": "环评",
    "人才引进落户": "落户", "企业注销": "注销", "股权变更": "股权", "银行开户": "开户",
    "政府采购": "采购", "土地出让": "用地", "安全生产许可": "安全许可",
}  # fmt: skip
ACTIONS = ["如何办理", "需要什么材料", "办理时限是多久", "在哪里申请", "费用标准", "变更流程",
           "逾期怎么处理", "网上申请步骤", "补办流程", "年度报告"]  # fmt: skip
CASES = ["新设企业", "小微企业", "外资企业", "分公司", "个体工商户", "国有企业", "民营企业",
         "跨区迁移企业", "停业企业", "集团企业", "科技型企业", "出口企业", "餐饮企业",
         "建筑企业", "物流企业", "医药企业", "零售企业", "制造企业", "软件企业",
         "农业企业"]  # fmt: skip
PLACES = ["东城区", "西城区", "朝阳区", "海淀区", "丰台区", "石景山区", "门头沟区", "房山区",
          "通州区", "顺义区", "昌平区", "大兴区", "怀柔区", "平谷区", "密云区", "延庆区",
          "经济技术开发区", "中关村园区"]  # fmt: skip
FILLERS = [("请问", "？"), ("我想问一下", ""), ("", "怎么办"), ("你好，", "吗"), ("咨询一下", "")]


Parts = tuple[str, str, str, str]
"""An entry's place, case, topic and action."""


def catalogue(count: int) -> list[Parts]:
    """The parts of ``count`` entries (entry ``n`` is the ``n``-th, from 1), all different."""
    every = ((p, c, t, a) for p in PLACES for c in CASES for t in TOPICS for a in ACTIONS)
    return [parts for _, parts in zip(range(count), every, strict=False)]


def entry(n: int, parts: Parts) -> tuple[int, str, str, str]:
    """Entry ``n``: ``(id, title, keywords, text)``."""
    place, case, topic, action = parts
    text = (
        f"{place}的{case}办理{topic}，可通过政务服务网或窗口提交申请。"
        f"{action}：按{topic}的规定准备营业执照、法定代表人身份证明等材料，"
        f"窗口受理后在承诺时限内办结，进度可在网上查询。"
    )
    return n, f"{place}{case}{topic}{action}", f"{TOPICS[topic]} {case}", text


def question_for(parts: Parts, rng: random.Random) -> str:
    """How a caller asks for the entry of these parts: words moved, the short name, filler."""
    place, case, topic, action = parts
    before, after = rng.choice(FILLERS)
    named = TOPICS[topic] if rng.random() < 0.5 else topic
    words = [f"{place}的{case}", named, action]
    if rng.random() < 0.5:
        words = [named, f"{place}{case}", action]
    return before + "".join(words) + after


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--entries", type=int, default=50_000)
    parser.add_argument("--questions", type=int, default=500)
    args = parser.parse_args()
    parts = catalogue(args.entries)
    rows = [entry(n, each) for n, each in enumerate(parts, start=1)]
    print(f"{len(rows):,} entries generated")

    started = time.perf_counter()
    index = KnowledgeIndex.of(rows)
    print(f"indexed in {time.perf_counter() - started:.1f} s ({len(index):,} entries)")

    database = sqlite3.connect(":memory:")
    database.execute("CREATE TABLE entries (id INTEGER PRIMARY KEY, title, keywords, text)")
    database.executemany("INSERT INTO entries VALUES (?, ?, ?, ?)", rows)

    rng = random.Random(2026)
    asked = rng.sample(range(1, len(parts) + 1), args.questions)
    labelled = [(n, question_for(parts[n - 1], rng)) for n in asked]

    ours, like, first, three = [], [], 0, 0
    for expected, question in labelled:
        started = time.perf_counter()
        found = index.search(question, limit=3)
        ours.append(time.perf_counter() - started)
        ids = [f.entry for f in found]
        first += bool(ids) and ids[0] == expected
        three += expected in ids
        words = sorted(set(terms(question)), key=len, reverse=True)[:6]
        clause = " OR ".join("(title LIKE ? OR keywords LIKE ? OR text LIKE ?)" for _ in words)
        values = [f"%{w}%" for w in words for _ in range(3)]
        started = time.perf_counter()
        database.execute(f"SELECT id FROM entries WHERE {clause}", values).fetchall()
        like.append(time.perf_counter() - started)

    print(f"\n{len(labelled)} questions            p50 ms   p95 ms   max ms")
    for name, samples in (("knowledge index (BM25)", ours), ("plain LIKE scan (SQLite)", like)):
        print(
            f"  {name:<26}{percentile_ms(samples, 0.5):>7.2f}{percentile_ms(samples, 0.95):>9.2f}"
            f"{max(samples) * 1000:>9.2f}"
        )
    print(f"\nright entry first: {first}/{len(labelled)} ({first / len(labelled):.1%})")
    print(f"right entry in the first three: {three}/{len(labelled)} ({three / len(labelled):.1%})")
    print(f"mean question: {statistics.mean(len(q) for _, q in labelled):.0f} characters")


if __name__ == "__main__":
    main()
