"""Per-message enrichment: cleaned text, VADER sentiment and keyword topics.

This is the ingest hot path (a snapshot can carry 100k messages, most of them seen
before): cleaning, sentiment and topics are each cached by text, sentiment uses an exact
port of VADER's compound score that avoids its repeated work, and topic keywords are
indexed once per rule set so that a message is matched with a few set lookups.
"""

from __future__ import annotations

import functools
import re
import string
from collections.abc import Iterable

import msgspec
from vaderSentiment.vaderSentiment import (
    BOOSTER_DICT,
    C_INCR,
    N_SCALAR,
    NEGATE,
    SPECIAL_CASES,
    SentimentIntensityAnalyzer,
    normalize,
)

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


class _FastVader(SentimentIntensityAnalyzer):  # type: ignore[misc]  # VADER has no types
    """VADER 3.3.2's compound score, same results, several times faster.

    ``compound`` ports ``polarity_scores`` but computes only the compound score,
    lower-cases the words once (the original rebuilds the lower-cased word list for up to
    four checks per sentiment word), looks only at non-ASCII characters to rewrite emoji,
    skips the rules for words outside the lexicon, and only runs the "but" rule when there
    is a "but" (with the original method: its quirks are part of the result).
    ``tests/domain/test_sentiment.py`` checks equality with the stock analyzer.
    """

    def __init__(self) -> None:
        super().__init__()
        # Only single characters are ever replaced (the original iterates characters).
        if any(len(key) == 1 and key.isascii() for key in self.emojis):
            raise RuntimeError("this VADER has ASCII emoji keys; _describe_emoji assumes none")
        self._emoji_chars = frozenset(key for key in self.emojis if len(key) == 1)

    def compound(self, text: str) -> float:
        """``polarity_scores(text)["compound"]`` of the stock analyzer."""
        if not self._emoji_chars.isdisjoint(text):
            text = self._describe_emoji(text)
        text = text.strip()
        punctuation = string.punctuation
        words = [
            token if len(stripped := token.strip(punctuation)) <= 2 else stripped
            for token in text.split()
        ]
        if not words:
            return 0.0
        lowers = [word.lower() for word in words]
        allcap_words = sum(map(str.isupper, words))
        is_cap_diff = 0 < len(words) - allcap_words < len(words)
        last = len(words) - 1
        lexicon = self.lexicon
        # As the original: words without a rating, boosters and "kind" of "kind of" score 0.
        sentiments: list[float] = [0] * len(words)
        for i, item_lower in enumerate(lowers):
            if item_lower in lexicon and not (
                item_lower in BOOSTER_DICT
                or (i < last and item_lower == "kind" and lowers[i + 1] == "of")
            ):
                sentiments[i] = self._valence(item_lower, i, words, lowers, is_cap_diff)
        if "but" in lowers:
            sentiments = self._but_check(words, sentiments)
        # score_valence(), compound part only.
        sum_s = float(sum(sentiments))
        ep_count = min(text.count("!"), 4)
        qm_count = text.count("?")
        qm_amplifier: float = 0
        if qm_count > 1:
            qm_amplifier = qm_count * 0.18 if qm_count <= 3 else 0.96
        punct_emph_amplifier = ep_count * 0.292 + qm_amplifier
        if sum_s > 0:
            sum_s += punct_emph_amplifier
        elif sum_s < 0:
            sum_s -= punct_emph_amplifier
        compound: float = normalize(sum_s)
        return round(compound, 4)

    def _describe_emoji(self, text: str) -> str:
        """Each emoji character -> its description, spaced exactly as the original does.

        The original appends a space before a description unless the previous character
        of the text is a space (or there is none); no emoji in the lexicon is ASCII, so
        only non-ASCII characters need a look.
        """
        parts: list[str] = []
        copied = 0
        for match in _NON_ASCII.finditer(text):
            description = self.emojis.get(match.group())
            if description is None:
                continue
            position = match.start()
            parts.append(text[copied:position])
            if position > 0 and text[position - 1] != " ":
                parts.append(" ")
            parts.append(description)
            copied = position + 1
        parts.append(text[copied:])
        return "".join(parts)

    def _valence(
        self,
        item_lower: str,
        i: int,
        words: list[str],
        lowers: list[str],
        is_cap_diff: bool,
    ) -> float:
        """The original ``sentiment_valence`` for a word in the lexicon, loop unrolled.

        For each of the three preceding words that is not in the lexicon: booster scalar
        (damped by distance), then the negation rule for that distance, then (third word
        only) the idioms. ``w in _NEGATE or "n't" in w`` is the original
        ``negated([w])``: it lower-cases again, a no-op on lower-cased text.
        """
        lexicon = self.lexicon
        valence = self._own_valence(item_lower, i, words, lowers, is_cap_diff)
        if i > 0 and lowers[i - 1] not in lexicon:
            valence = _one_word_before(valence, i, words, lowers, is_cap_diff)
        if i > 1 and lowers[i - 2] not in lexicon:
            valence = _two_words_before(valence, i, words, lowers, is_cap_diff)
        if i > 2 and lowers[i - 3] not in lexicon:
            valence = _three_words_before(valence, i, words, lowers, is_cap_diff)
        # _least_check(); "least" is not in the 3.3.2 lexicon, so the lexicon test is kept
        # only for fidelity.
        if (
            i > 0
            and lowers[i - 1] == "least"
            and "least" not in lexicon
            and (i == 1 or (lowers[i - 2] != "at" and lowers[i - 2] != "very"))
        ):
            valence = valence * N_SCALAR
        return valence

    def _own_valence(
        self, item_lower: str, i: int, words: list[str], lowers: list[str], is_cap_diff: bool
    ) -> float:
        """The word's lexicon valence after the "no" rules and the caps emphasis."""
        lexicon = self.lexicon
        valence: float = lexicon[item_lower]
        if item_lower == "no" and i != len(words) - 1 and lowers[i + 1] in lexicon:
            valence = 0.0
        if (
            (i > 0 and lowers[i - 1] == "no")
            or (i > 1 and lowers[i - 2] == "no")
            or (i > 2 and lowers[i - 3] == "no" and lowers[i - 1] in ("or", "nor"))
        ):
            valence = lexicon[item_lower] * N_SCALAR
        if is_cap_diff and words[i].isupper():
            if valence > 0:
                valence += C_INCR
            else:
                valence -= C_INCR
        return valence


def _one_word_before(
    valence: float, i: int, words: list[str], lowers: list[str], is_cap_diff: bool
) -> float:
    """``start_i == 0``: the word right before (not in the lexicon)."""
    before = lowers[i - 1]
    if before in BOOSTER_DICT:
        valence = valence + _booster_scalar(words[i - 1], before, valence, is_cap_diff)
    if before in _NEGATE or "n't" in before:
        valence = valence * N_SCALAR
    return valence


def _two_words_before(
    valence: float, i: int, words: list[str], lowers: list[str], is_cap_diff: bool
) -> float:
    """``start_i == 1``: two words before (not in the lexicon)."""
    before = lowers[i - 2]
    if before in BOOSTER_DICT:
        valence = valence + _booster_scalar(words[i - 2], before, valence, is_cap_diff) * 0.95
    if before == "never" and (lowers[i - 1] == "so" or lowers[i - 1] == "this"):
        valence = valence * 1.25
    elif before == "without" and lowers[i - 1] == "doubt":
        pass
    elif before in _NEGATE or "n't" in before:
        valence = valence * N_SCALAR
    return valence


def _three_words_before(
    valence: float, i: int, words: list[str], lowers: list[str], is_cap_diff: bool
) -> float:
    """``start_i == 2``: three words before (not in the lexicon), then the idiom rule."""
    before = lowers[i - 3]
    if before in BOOSTER_DICT:
        valence = valence + _booster_scalar(words[i - 3], before, valence, is_cap_diff) * 0.9
    if (before == "never" and (lowers[i - 2] == "so" or lowers[i - 2] == "this")) or (
        lowers[i - 1] == "so" or lowers[i - 1] == "this"
    ):
        valence = valence * 1.25
    elif before == "without" and (lowers[i - 2] == "doubt" or lowers[i - 1] == "doubt"):
        pass
    elif before in _NEGATE or "n't" in before:
        valence = valence * N_SCALAR
    # Every n-gram the idiom rule looks up holds word i or word i-2, and an n-gram can only
    # be a phrase if all its words are phrase words.
    if lowers[i] in _PHRASE_WORDS or lowers[i - 2] in _PHRASE_WORDS:
        valence = _special_idioms_check(valence, lowers, i)
    return valence


_NON_ASCII = re.compile(r"[^\x00-\x7f]")


def _booster_scalar(word: str, word_lower: str, valence: float, is_cap_diff: bool) -> float:
    """VADER's ``scalar_inc_dec`` for a word known to be in BOOSTER_DICT."""
    scalar: float = BOOSTER_DICT[word_lower]
    if valence < 0:
        scalar *= -1
    if word.isupper() and is_cap_diff:
        if valence > 0:
            scalar += C_INCR
        else:
            scalar -= C_INCR
    return scalar


_NEGATE = frozenset(NEGATE)
# Words of the multi-word phrases the idiom rule looks up.
_PHRASE_WORDS = frozenset(
    word
    for phrase in (*SPECIAL_CASES, *BOOSTER_DICT)
    if " " in phrase
    for word in phrase.split(" ")
)


def _special_idioms_check(valence: float, lowers: list[str], i: int) -> float:
    """VADER's ``_special_idioms_check`` on the already lower-cased words (i >= 3)."""
    onezero = f"{lowers[i - 1]} {lowers[i]}"
    twoonezero = f"{lowers[i - 2]} {lowers[i - 1]} {lowers[i]}"
    twoone = f"{lowers[i - 2]} {lowers[i - 1]}"
    threetwoone = f"{lowers[i - 3]} {lowers[i - 2]} {lowers[i - 1]}"
    threetwo = f"{lowers[i - 3]} {lowers[i - 2]}"
    for seq in (onezero, twoonezero, twoone, threetwoone, threetwo):
        if seq in SPECIAL_CASES:
            valence = SPECIAL_CASES[seq]
            break
    if len(lowers) - 1 > i:
        zeroone = f"{lowers[i]} {lowers[i + 1]}"
        if zeroone in SPECIAL_CASES:
            valence = SPECIAL_CASES[zeroone]
    if len(lowers) - 1 > i + 1:
        zeroonetwo = f"{lowers[i]} {lowers[i + 1]} {lowers[i + 2]}"
        if zeroonetwo in SPECIAL_CASES:
            valence = SPECIAL_CASES[zeroonetwo]
    for n_gram in (threetwoone, threetwo, twoone):
        if n_gram in BOOSTER_DICT:
            valence = valence + BOOSTER_DICT[n_gram]
    return valence


@functools.cache
def _analyzer() -> _FastVader:
    """The one VADER analyzer; built on first use because it reads its lexicon files."""
    return _FastVader()


@functools.lru_cache(maxsize=_CACHE_SIZE)
def _score_text(text: str) -> float:
    compound = _analyzer().compound(text)
    # To 9 decimals like every insight: (0.34 + 1) / 2 is 0.6699999999999999 in floats.
    return round((compound + 1.0) / 2.0, 9)


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
        "_char_keys",
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
            word: tuple((kw, _keyword_regex(kw), topic_id) for kw, topic_id in sorted(entries))
            for word, entries in gated.items()
        }
        self._word_keys = frozenset(self._word_topics) | frozenset(self._gated)
        self._char_topics = {char: frozenset(ids) for char, ids in char_topics.items()}
        self._char_keys = frozenset(self._char_topics)
        self._anywhere = tuple(sorted(anywhere))
        self._cached_match = functools.lru_cache(maxsize=_CACHE_SIZE)(self._match_uncached)

    @property
    def labels(self) -> dict[str, str]:
        """Topic id -> label, for the rows of the topics insight."""
        return {rule.id: rule.label for rule in self.rules}

    def match(self, text: str | None) -> tuple[str, ...]:
        """Sorted ids of the topics with a keyword in ``text`` (the boundary rule of
        docs/metrics.md "Text, sentiment and topics")."""
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
            for keyword, pattern, topic_id in self._gated.get(word, ()):
                if (
                    topic_id not in found
                    and keyword in folded
                    and pattern.search(folded) is not None
                ):
                    found.add(topic_id)
        if not self._char_keys.isdisjoint(folded):
            for char in self._char_keys.intersection(folded):
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


_NO_TEXT = Enrichment(text=None, sentiment=None, topics=())

# Cleaning is cached by raw text (not with the matcher, so that no cache keeps an
# account's matcher alive); scoring and matching are cached by cleaned text.
_clean_cached = functools.lru_cache(maxsize=_CACHE_SIZE)(clean_text)


def enrich(raw_text: str | None, matcher: TopicMatcher) -> Enrichment:
    """Clean the platform text, then score and tag the cleaned text."""
    if not raw_text:
        return _NO_TEXT
    text = _clean_cached(raw_text)
    if text is None:
        return _NO_TEXT
    return Enrichment(text=text, sentiment=sentiment_score(text), topics=matcher.match(text))
