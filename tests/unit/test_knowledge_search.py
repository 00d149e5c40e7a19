"""The knowledge search: the terms it matches (Chinese pairs, English words), how it ranks
entries for a question, and the question's words marked in an entry."""

from __future__ import annotations

import pytest

from knowledge.index import KnowledgeIndex
from knowledge.text import marked, terms

ENTRIES = [
    (1, "增值税专用发票如何开具", "发票 开票",
     "企业在电子税务局申请开具增值税专用发票，需先完成税控设备发行。"),
    (2, "营业执照经营范围变更", "执照 变更",
     "经营范围变更须在三十日内向市场监管部门申请变更登记。"),
    (3, "社会保险费如何缴纳", "社保 缴费",
     "新设企业应在成立之日起三十日内办理社会保险登记并按月缴费。"),
    (4, "How to issue a VAT invoice", "VAT invoice", "Apply for a special VAT invoice online."),
    (5, "出口退税办理流程", "退税 出口", "出口企业办理退税需提交报关单和增值税专用发票。"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("发票", ["发票"]),
        ("增值税发票", ["增值", "值税", "税发", "发票"]),
        ("VAT 发票 2026年", ["vat", "发票", "2026", "年"]),
        ("ＶＡＴ，发票！", ["vat", "发票"]),  # full-width letters and punctuation folded
        ("税", ["税"]),
        ("", []),
        ("<script>", ["script"]),
    ],
)
def test_chinese_is_matched_by_pairs_and_english_by_words(text: str, expected: list[str]) -> None:
    assert terms(text) == expected


@pytest.mark.parametrize(
    ("question", "first"),
    [
        ("发票怎么开", 1),  # a two-character word: found (a trigram index could not)
        ("请问营业执照的经营范围要变更怎么办", 2),
        ("社保缴费", 3),
        ("how do I issue a VAT invoice", 4),
        ("出口退税要什么材料", 5),
    ],
)
def test_the_entry_that_answers_a_question_comes_first(question: str, first: int) -> None:
    found = KnowledgeIndex.of(ENTRIES).search(question, limit=3)
    assert found and found[0].entry == first, found


def test_no_match_finds_nothing_and_a_removed_entry_is_not_found() -> None:
    index = KnowledgeIndex.of(ENTRIES)
    assert index.search("天气预报") == [] and index.search("") == []
    index.remove(1)
    assert all(f.entry != 1 for f in index.search("增值税专用发票"))
    assert len(index) == 4
    index.put(1, "增值税专用发票如何开具", "", "")
    assert index.search("增值税专用发票")[0].entry == 1


def test_an_entry_changed_is_found_by_what_it_says_now() -> None:
    index = KnowledgeIndex.of(ENTRIES)
    index.put(3, "公积金如何缴存", "公积金", "住房公积金按月缴存。")
    assert 3 not in [f.entry for f in index.search("社会保险登记")]
    assert index.search("公积金")[0].entry == 3


def test_only_the_entries_the_desk_may_see_are_offered() -> None:
    found = KnowledgeIndex.of(ENTRIES).search("增值税专用发票", keep=lambda entry: entry != 1)
    assert [f.entry for f in found] == [5]


@pytest.mark.parametrize(
    ("text", "question", "expected"),
    [
        ("开具增值税专用发票", "发票", "开具增值税专用<mark>发票</mark>"),
        ("开具增值税专用发票", "增值税 发票", "开具<mark>增值税</mark>专用<mark>发票</mark>"),
        ("Apply for a VAT invoice", "vat", "Apply for a <mark>VAT</mark> invoice"),
        ("开具发票", "天气", "开具发票"),
    ],
)
def test_the_question_s_words_are_marked_in_the_entry(
    text: str, question: str, expected: str
) -> None:
    assert marked(text, question) == expected
