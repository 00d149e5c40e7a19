"""Text as the knowledge search sees it: terms to match, and a question's words marked in an
entry.

**Why bigrams.** Chinese is written without spaces, and a seat's question is as likely to
say 发票 (two characters) as 增值税专用发票. Every pair of neighbouring Han characters is a
term (Lucene's CJK analyser does the same): a two-character word is found, a longer one
matches on all its pairs, and no dictionary has to know the city's terms first (a word
segmenter such as jieba needs one, and misses new words). SQLite's FTS5 ``trigram``
tokenizer was the other candidate: it cannot match a query shorter than three characters,
which excludes most two-character Chinese words. Latin words and numbers are terms whole,
lower-cased (``VAT``, ``2026``); a lone Han character between others is a term of its own.
"""

from __future__ import annotations

import re
import unicodedata

_PIECES = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]+|[a-z0-9]+")
_HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")


def terms(text: str) -> list[str]:
    """The terms of ``text``, in order (repeats kept: they count)."""
    found: list[str] = []
    for piece in _PIECES.findall(unicodedata.normalize("NFKC", text).lower()):
        if not _HAN.match(piece) or len(piece) == 1:
            found.append(piece)
        else:
            found += [piece[i : i + 2] for i in range(len(piece) - 1)]
    return found


def marked(text: str, question: str, before: str = "<mark>", after: str = "</mark>") -> str:
    """``text`` with every stretch that matches a term of ``question`` between ``before``
    and ``after`` (neighbouring matches joined into one); the rest as it was. The caller
    escapes the text for where it is shown."""
    wanted = set(terms(question))
    if not wanted:
        return text
    hits = [False] * len(text)
    folded = unicodedata.normalize("NFKC", text).lower()
    if len(folded) != len(text):  # a character changed length when folded: mark nothing
        return text
    for piece in _PIECES.finditer(folded):
        start, word = piece.start(), piece.group()
        if not _HAN.match(word):
            if word in wanted:
                hits[start : start + len(word)] = [True] * len(word)
            continue
        for i in range(len(word) - 1):
            if word[i : i + 2] in wanted:
                hits[start + i] = hits[start + i + 1] = True
        if len(word) == 1 and word in wanted:
            hits[start] = True
    out, inside = [], False
    for character, hit in zip(text, hits, strict=True):
        if hit and not inside:
            out.append(before)
        elif not hit and inside:
            out.append(after)
        inside = hit
        out.append(character)
    if inside:
        out.append(after)
    return "".join(out)
