"""The knowledge search: every entry's terms in memory, ranked for a question by BM25.

An entry is its title, its keywords and its text; a term in the title or the keywords
counts :data:`TITLE_WEIGHT` times (a question usually names what an entry is about). Each
term keeps the entries it is in and how often (two arrays: small, and quick to walk).
BM25 (k1 = 1.2, b = 0.75) scores an entry by each term of the question it holds — rarer
terms weigh more, and a long entry does not win by length alone; the commonest terms are
counted only where the rarer ones found something (:data:`COMMON_SHARE`). The index answers the
same whatever the database (SQLite or PostgreSQL): it is filled from it at start and kept
in step by whoever changes an entry.
"""

from __future__ import annotations

import math
from array import array
from bisect import bisect_left
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from knowledge.text import terms

TITLE_WEIGHT = 3
K1, B = 1.2, 0.75
COMMON_SHARE = 0.05
COMMON_AT_LEAST = 200
"""A term in more entries than this (a share of them, or this many at least) is counted only
for the entries the question's rarer terms found: walking its whole list (企业, 办理...)
would cost more than the rest of the search, and it weighs little where it is."""


@dataclass(frozen=True)
class Found:
    entry: int
    score: float


class KnowledgeIndex:
    """Entries by their terms; :meth:`search` ranks them for a question."""

    def __init__(self) -> None:
        self._docs: dict[int, int] = {}
        """entry id → its place (the arrays hold places, not ids)."""
        self._entries: list[int | None] = []
        """place → entry id (None: removed)."""
        self._lengths = array("I")
        self._postings: dict[str, tuple[array[int], array[int]]] = {}
        self._total_length = 0
        self._live = 0

    def __len__(self) -> int:
        return self._live

    def put(self, entry: int, title: str, keywords: str, text: str) -> None:
        """Add an entry, or replace what it said."""
        self.remove(entry)
        counts = Counter(terms(text))
        for term in terms(f"{title} {keywords}"):
            counts[term] += TITLE_WEIGHT
        place = len(self._entries)
        self._docs[entry] = place
        self._entries.append(entry)
        length = sum(counts.values())
        self._lengths.append(length)
        self._total_length += length
        self._live += 1
        for term, count in counts.items():
            posting = self._postings.get(term)
            if posting is None:
                posting = self._postings[term] = (array("I"), array("H"))
            posting[0].append(place)
            posting[1].append(min(count, 65535))

    def remove(self, entry: int) -> None:
        """Forget an entry (its postings stay, pointing at a place nobody holds)."""
        place = self._docs.pop(entry, None)
        if place is None:
            return
        self._entries[place] = None
        self._total_length -= self._lengths[place]
        self._live -= 1

    def search(
        self, question: str, limit: int = 10, keep: Callable[[int], bool] | None = None
    ) -> list[Found]:
        """The entries that best answer ``question``, best first (those ``keep`` accepts)."""
        wanted = Counter(terms(question))
        if not wanted or not self._live:
            return []
        average = self._total_length / self._live
        scores: dict[int, float] = {}
        lengths, entries = self._lengths, self._entries
        norm, per_length = K1 * (1 - B), K1 * B / average
        known = sorted(
            (term for term in wanted if term in self._postings),
            key=lambda term: len(self._postings[term][0]),
        )
        common = max(COMMON_SHARE * self._live, COMMON_AT_LEAST)
        for term in known:  # the rarest first: they find the candidates
            places, counts = self._postings[term]
            idf = math.log(1 + (self._live - len(places) + 0.5) / (len(places) + 0.5))
            weight = idf * wanted[term]
            if scores and len(places) > common:
                pairs = _among(places, counts, list(scores))
            else:
                pairs = zip(places, counts, strict=True)
            for place, count in pairs:
                tf = count * (K1 + 1) / (count + norm + per_length * lengths[place])
                scores[place] = scores.get(place, 0.0) + weight * tf
        ranked = sorted(scores.items(), key=lambda item: -item[1])
        found: list[Found] = []
        for place, score in ranked:
            entry = entries[place]
            if entry is None or (keep is not None and not keep(entry)):
                continue
            found.append(Found(entry, round(score, 4)))
            if len(found) == limit:
                break
        return found

    @classmethod
    def of(cls, entries: Iterable[tuple[int, str, str, str]]) -> KnowledgeIndex:
        """An index of ``(id, title, keywords, text)`` rows."""
        index = cls()
        for entry, title, keywords, text in entries:
            index.put(entry, title, keywords, text)
        return index


def _among(places: array[int], counts: array[int], wanted: list[int]) -> Iterator[tuple[int, int]]:
    """``(place, count)`` of a term's list for the places in ``wanted`` that it holds (the
    list is in order of place: each is looked up, not walked to)."""
    size = len(places)
    for place in wanted:
        i = bisect_left(places, place)
        if i < size and places[i] == place:
            yield place, counts[i]
