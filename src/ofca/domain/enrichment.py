"""Per-message enrichment: cleaned text, VADER sentiment and keyword topics.

This is the ingest hot path (a snapshot can carry 100k messages, most of them seen
before), so both scorers are cached by text and the topic rules are compiled once into
one regular expression per topic.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable

import msgspec
from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

from ofca.domain.taxonomy import DEFAULT_TOPICS, TopicRule
from ofca.domain.text import clean_text

__all__ = [
    "DEFAULT_MATCHER",
    "Enrichment",
    "TopicMatcher",
    "enrich",
    "sentiment_score",
]

_CACHE_SIZE = 65536
_WORD_CHAR = re.compile(r"\w")
_WORD_RUN = re.compile(r"\w+")
_TRAILING_WORD_RUN = re.compile(r"\w+\Z")


@functools.cache
def _analyzer() -> SentimentIntensityAnalyzer:
    """The one VADER analyzer; built on first use because it reads its lexicon files."""
    return SentimentIntensityAnalyzer()


@functools.lru_cache(maxsize=_CACHE_SIZE)
def _score_text(text: str) -> float:
    compound: float = _analyzer().polarity_scores(text)["compound"]
    return (compound + 1.0) / 2.0


def sentiment_score(text: str | None) -> float | None:
    """VADER's compound ``c`` in [-1, 1] shown as ``(c + 1) / 2`` in [0, 1]; None without text."""
    if not text or text.isspace():
        return None
    return _score_text(text)


def _keyword_regex(keyword: str) -> re.Pattern[str]:
    """Regex for one case-folded keyword, bounded only on its word-character ends.

    The left bound sits after the first character (``t(?<!\\w.)ip``) instead of before it
    (``(?<!\\w)tip``): same meaning, but the regex engine can then skip ahead to the
    keyword's first character instead of testing the lookbehind at every position.
    """
    if _WORD_CHAR.match(keyword[0]):
        pattern = re.escape(keyword[0]) + r"(?<!\w.)" + re.escape(keyword[1:])
    else:
        pattern = re.escape(keyword)
    if _WORD_CHAR.match(keyword[-1]):
        pattern += r"(?!\w)"
    return re.compile(pattern)


class TopicMatcher:
    """Finds which topics a text has; built once per set of topic rules.

    One alternation regex per topic is correct but slow (hundreds of microseconds per
    message with lookbehinds at every position), so keywords are indexed by shape:

    - a single word (all ``\\w``): bounded on both sides, so it matches exactly when it is
      one of the text's maximal ``\\w+`` runs -> a dict lookup per word of the text;
    - starting (or else ending) with a word character, like "how are you": its leading
      (trailing) ``\\w+`` run must then also be a whole word of the text, which gates a
      per-keyword regex that checks the rest;
    - no word character at either end (emoji, "$"): matches anywhere, a substring test
      (single characters via one set intersection).
    """

    __slots__ = (
        "_anywhere",
        "_cached_match",
        "_char_topics",
        "_gated",
        "_word_keys",
        "_word_topics",
        "rules",
    )

    def __init__(self, rules: Iterable[TopicRule]) -> None:
        by_id: dict[str, TopicRule] = {}
        for rule in rules:
            if rule.id in by_id:
                raise ValueError(f"duplicate topic id {rule.id!r}")
            by_id[rule.id] = rule
        self.rules: tuple[TopicRule, ...] = tuple(by_id[topic_id] for topic_id in sorted(by_id))

        word_topics: dict[str, set[str]] = {}
        char_topics: dict[str, set[str]] = {}
        anywhere: set[tuple[str, str]] = set()
        gated: dict[str, set[tuple[str, str]]] = {}
        for rule in self.rules:
            for raw_keyword in rule.keywords:
                keyword = raw_keyword.casefold()
                if not keyword:
                    continue  # an empty keyword would tag every message
                starts_word = _WORD_CHAR.match(keyword[0]) is not None
                ends_word = _WORD_CHAR.match(keyword[-1]) is not None
                if _WORD_RUN.fullmatch(keyword):
                    word_topics.setdefault(keyword, set()).add(rule.id)
                elif starts_word:
                    gate = _WORD_RUN.match(keyword)
                    assert gate is not None
                    gated.setdefault(gate.group(), set()).add((keyword, rule.id))
                elif ends_word:
                    gate = _TRAILING_WORD_RUN.search(keyword)
                    assert gate is not None
                    gated.setdefault(gate.group(), set()).add((keyword, rule.id))
                elif len(keyword) == 1:
                    char_topics.setdefault(keyword, set()).add(rule.id)
                else:
                    anywhere.add((keyword, rule.id))

        self._word_topics = {word: frozenset(ids) for word, ids in word_topics.items()}
        self._gated = {
            word: tuple((_keyword_regex(kw), topic_id) for kw, topic_id in sorted(entries))
            for word, entries in gated.items()
        }
        self._word_keys = frozenset(self._word_topics) | frozenset(self._gated)
        self._char_topics = {char: frozenset(ids) for char, ids in char_topics.items()}
        self._anywhere = tuple(sorted(anywhere))
        self._cached_match = functools.lru_cache(maxsize=_CACHE_SIZE)(self._match_uncached)

    @property
    def labels(self) -> dict[str, str]:
        """Topic id -> label, for the rows of the topics insight."""
        return {rule.id: rule.label for rule in self.rules}

    def match(self, text: str | None) -> tuple[str, ...]:
        """Sorted ids of the topics with a keyword in ``text`` (METRICS.md boundary rule)."""
        if not text:
            return ()
        return self._cached_match(text)

    def _match_uncached(self, text: str) -> tuple[str, ...]:
        folded = text.casefold()
        found: set[str] = set()
        for word in self._word_keys.intersection(_WORD_RUN.findall(folded)):
            topic_ids = self._word_topics.get(word)
            if topic_ids is not None:
                found.update(topic_ids)
            for pattern, topic_id in self._gated.get(word, ()):
                if topic_id not in found and pattern.search(folded) is not None:
                    found.add(topic_id)
        for char in self._char_topics.keys() & set(folded):
            found.update(self._char_topics[char])
        for keyword, topic_id in self._anywhere:
            if topic_id not in found and keyword in folded:
                found.add(topic_id)
        return tuple(sorted(found))


DEFAULT_MATCHER = TopicMatcher(DEFAULT_TOPICS)


class Enrichment(msgspec.Struct, frozen=True):
    """What ingest stores next to a message: its cleaned text, sentiment and topics."""

    text: str | None
    sentiment: float | None
    topics: tuple[str, ...]


def enrich(raw_text: str | None, matcher: TopicMatcher) -> Enrichment:
    """Clean the platform text, then score and tag the cleaned text."""
    text = clean_text(raw_text)
    return Enrichment(text=text, sentiment=sentiment_score(text), topics=matcher.match(text))
