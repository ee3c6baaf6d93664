"""The fast VADER port must give exactly the stock analyzer's compound score."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

from ofca.domain.enrichment import _FastVader

STOCK = SentimentIntensityAnalyzer()
FAST = _FastVader()

# Tokens that exercise every VADER rule: lexicon words in several cases, boosters and
# dampeners, negations (with and without "n't"), "no", "but", "least", "kind of",
# "never so", "without doubt", special-case idioms, punctuation emphasis and emoji.
TOKENS = [
    "love", "LOVE", "Love", "hate", "HATE", "good", "bad", "great", "awful", "ok", "okay",
    "nice", "sexy", "hot", "gorgeous", "scam", "refund", "sorry", "thanks", "please",
    "very", "VERY", "really", "so", "extremely", "kinda", "slightly", "barely", "most",
    "not", "never", "isn't", "dont", "don't", "without", "doubt", "nor", "or", "no", "No",
    "but", "BUT", "least", "at", "kind", "of", "sort", "this", "the", "shit", "bomb",
    "bad", "ass", "yeah", "right", "to", "die", "for", "bus", "stop", "cut", "mustard",
    "you", "I", "me", "babe", "it", "is", "a",
    "!", "!!", "?", "??", "???", "!!!!!", ":)", ":(", ":D", "<3", "lol", "haha", "...",
    "love!", "(good)", "'bad'", "x",
    "😘", "😍", "🔥", "😡", "😂", "❤", "💸", "👍",
]  # fmt: skip

SENTENCES = [
    "",
    "   ",
    "😘",
    "😘😘hi😘 there 😍",
    " 😘 leading and trailing 😡 ",
    "VADER is smart, handsome, and funny.",
    "VADER is VERY SMART, handsome, and FUNNY!!!",
    "The book was kind of good.",
    "At least it isn't a horrible book.",
    "least good, very least good, at least good",
    "Not bad at all",
    "never so happy, never this good, without doubt great",
    "no good, no or nor good, no",
    "the shit, the bomb, bad ass, yeah right, kiss of death, to die for, beating heart",
    "I love you but you are the worst but whatever",
    "good good good but bad bad bad",
    "Today SUX!",
    "Make sure you :) or :D today!",
    "how much??? is it worth it????",
    "so good\x00 😘 after",  # a NUL glued to a word keeps it out of the lexicon
]


@pytest.mark.parametrize("text", SENTENCES)
def test_fast_vader_matches_stock_on_tricky_sentences(text: str) -> None:
    assert FAST.compound(text) == STOCK.polarity_scores(text)["compound"]


@settings(max_examples=1500, deadline=None)
@given(
    st.lists(st.sampled_from(TOKENS), max_size=25),
    st.lists(st.sampled_from(["", " ", "  ", "\n"]), min_size=25, max_size=25),
)
def test_fast_vader_matches_stock(tokens: list[str], separators: list[str]) -> None:
    # Separators include "" so that emoji and punctuation glue onto words.
    text = "".join(token + sep for token, sep in zip(tokens, separators, strict=False))
    assert FAST.compound(text) == STOCK.polarity_scores(text)["compound"]
