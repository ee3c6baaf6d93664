"""Sentiment, topic matching and enrich() (METRICS.md "Message enrichment")."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

from ofca.domain.enrichment import (
    DEFAULT_MATCHER,
    Enrichment,
    TopicMatcher,
    enrich,
    sentiment_score,
)
from ofca.domain.taxonomy import DEFAULT_TOPICS, TopicRule, default_labels

VADER = SentimentIntensityAnalyzer()


def compound(text: str) -> float:
    return VADER.polarity_scores(text)["compound"]


# --------------------------------------------------------------------------- sentiment


@pytest.mark.parametrize(
    "text",
    [
        "I love you so much, you are amazing!!",
        "this is a scam, I want a refund",
        "ok",
        "you look gorgeous 😍🔥",
        "not bad at all but kinda expensive",
    ],
)
def test_sentiment_is_vader_compound_mapped_to_unit_interval(text: str) -> None:
    c = compound(text)
    assert sentiment_score(text) == pytest.approx((c + 1) / 2, abs=1e-12)


def test_sentiment_direction_and_neutral_midpoint() -> None:
    # VADER: "great" is positive, "awful" negative, "ok then" has no rated word... except
    # "ok" (0.9 in the lexicon), so use words VADER does not rate for the midpoint.
    positive = sentiment_score("this is great")
    negative = sentiment_score("this is awful")
    assert positive is not None and negative is not None
    assert positive > 0.5 > negative
    assert compound("the table is blue") == 0.0
    assert sentiment_score("the table is blue") == 0.5


@pytest.mark.parametrize("text", [None, "", "   "])
def test_no_text_has_no_sentiment(text: str | None) -> None:
    assert sentiment_score(text) is None


# --------------------------------------------------------------------------- topics


def matcher(*keywords: str, topic_id: str = "t") -> TopicMatcher:
    return TopicMatcher([TopicRule(id=topic_id, label=topic_id, keywords=keywords)])


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a tip!", True),
        ("tip", True),
        ("TIP me", True),  # case-folded
        ("(tip)", True),
        ("tips", False),  # word character after
        ("multiple", False),  # word characters on both sides
        ("stip", False),  # word character before
        ("tip_jar", False),  # "_" is a word character
        ("tip2", False),  # so are digits
    ],
)
def test_word_keyword_needs_non_word_neighbours(text: str, expected: bool) -> None:
    assert (matcher("tip").match(text) == ("t",)) is expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("wow🔥hot", True),  # emoji keyword: no boundary on either side
        ("🔥🔥🔥", True),
        ("fire", False),
    ],
)
def test_emoji_keyword_matches_anywhere(text: str, expected: bool) -> None:
    assert (matcher("🔥").match(text) == ("t",)) is expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("can we meet up?", True),
        ("Meet Up soon", True),
        ("meet upstairs", False),  # "p" followed by a word character
        ("remeet up", False),  # "m" preceded by a word character
        ("meet  up", False),  # keywords are literal; enrich() collapses whitespace first
        ("meet", False),
    ],
)
def test_multi_word_keyword(text: str, expected: bool) -> None:
    assert (matcher("meet up").match(text) == ("t",)) is expected


def test_keyword_bounded_only_on_its_word_character_side() -> None:
    # "$" is not a word character: "$5" and "5$" both contain it.
    assert matcher("$").match("only $5") == ("t",)
    # "#tip": left side unbounded ("#" is not \w), right side bounded ("p" is \w).
    tag = matcher("#tip")
    assert tag.match("my#tip") == ("t",)
    assert tag.match("#tips") == ()
    # "tip!": right side unbounded.
    bang = matcher("tip!")
    assert bang.match("a tip!!") == ("t",)
    assert bang.match("stip!") == ()


def test_casefold_applies_to_text_and_keyword() -> None:
    # str.casefold maps "ß" to "ss", which str.lower does not.
    assert matcher("STRASSE").match("die straße") == ("t",)


def test_match_returns_sorted_topic_ids_and_handles_no_text() -> None:
    m = TopicMatcher(
        [
            TopicRule(id="zeta", label="Z", keywords=("hello",)),
            TopicRule(id="alpha", label="A", keywords=("😘",)),
            TopicRule(id="mid", label="M", keywords=("nothing here",)),
        ]
    )
    assert m.match("hello 😘") == ("alpha", "zeta")
    assert m.match(None) == ()
    assert m.match("") == ()
    assert m.labels == {"alpha": "A", "mid": "M", "zeta": "Z"}


def test_duplicate_topic_ids_are_rejected_and_empty_keywords_ignored() -> None:
    with pytest.raises(ValueError, match="duplicate topic id 'a'"):
        TopicMatcher([TopicRule("a", "A", ("x",)), TopicRule("a", "B", ("y",))])
    assert matcher("", "yes").match("anything at all") == ()
    assert matcher("", "yes").match("yes") == ("t",)


def reference_has_keyword(text: str, keyword: str) -> bool:
    """METRICS.md's rule, literally: every occurrence, neighbours checked one by one."""
    folded, key = text.casefold(), keyword.casefold()
    if not key:
        return False
    word = re.compile(r"\w")
    start = folded.find(key)
    while start != -1:
        end = start + len(key)
        left_ok = not word.match(key[0]) or start == 0 or not word.match(folded[start - 1])
        right_ok = not word.match(key[-1]) or end == len(folded) or not word.match(folded[end])
        if left_ok and right_ok:
            return True
        start = folded.find(key, start + 1)
    return False


# A small alphabet of word and non-word characters, and texts glued together from the
# keywords themselves plus that alphabet, so that near misses ("tips", "a bb") are common.
_CHARS = st.sampled_from(list("abtipTIP _-$#!.'’ßS2😘🔥"))
_KEYWORDS = st.lists(
    st.text(_CHARS, min_size=1, max_size=5), min_size=1, max_size=4, unique=True
).map(tuple)


@settings(max_examples=500, deadline=None)
@given(topics=st.lists(_KEYWORDS, min_size=1, max_size=3), data=st.data())
def test_matcher_agrees_with_literal_rule(
    topics: list[tuple[str, ...]], data: st.DataObject
) -> None:
    pieces = [kw for kws in topics for kw in kws]
    text = "".join(
        data.draw(st.lists(st.one_of(st.sampled_from(pieces), _CHARS), max_size=8), label="text")
    )
    rules = [TopicRule(id=f"t{i}", label=f"T{i}", keywords=kws) for i, kws in enumerate(topics)]
    expected = tuple(
        rule.id for rule in rules if any(reference_has_keyword(text, kw) for kw in rule.keywords)
    )
    assert TopicMatcher(rules).match(text) == expected


def test_default_matcher_agrees_with_literal_rule_on_chat_lines() -> None:
    lines = [
        "hey babe how are you? 😘",
        "can I get a custom video, how much?",
        "just tipped you 💸 and renewed my sub",
        "add me on snap or telegram, what's your number",
        "this is a scam I want a refund 😡",
        "are you online tonight? wanna sext",
        "omg that outfit 🔥🔥 gorgeous",
        "had a long day at work, going to the gym",
    ]
    for line in lines:
        expected = tuple(
            rule.id
            for rule in DEFAULT_MATCHER.rules
            if any(reference_has_keyword(line, kw) for kw in rule.keywords)
        )
        assert DEFAULT_MATCHER.match(line) == expected, line
        assert expected, line  # every line was written to hit at least one topic


# --------------------------------------------------------------------------- taxonomy


def test_default_taxonomy_shape() -> None:
    ids = [rule.id for rule in DEFAULT_TOPICS]
    assert len(ids) == len(set(ids))
    assert {
        "greeting",
        "compliments_flirting",
        "content_requests",
        "pricing_ppv",
        "tips_gifts",
        "subscription_renewal",
        "small_talk",
        "off_platform",
        "complaints_refunds",
        "scheduling_availability",
        "adult_requests",
    } <= set(ids)
    for rule in DEFAULT_TOPICS:
        assert rule.builtin
        assert 20 <= len(rule.keywords) <= 40, rule.id
        assert len(set(rule.keywords)) == len(rule.keywords), rule.id
        for keyword in rule.keywords:
            assert keyword == keyword.casefold() == keyword.strip() != "", (rule.id, keyword)
    assert default_labels()["tips_gifts"] == "Tips & gifts"


@pytest.mark.parametrize(
    ("text", "topic"),
    [
        ("sent you a tip 💸", "tips_gifts"),
        ("you're such a cutie 😍", "compliments_flirting"),
        ("what's your snapchat?", "off_platform"),
        ("my subscription expired", "subscription_renewal"),
        ("how much is the ppv", "pricing_ppv"),
        ("can you send nudes", "adult_requests"),
        ("I want my money back", "complaints_refunds"),
        ("good morning!", "greeting"),
    ],
)
def test_default_taxonomy_recognises_typical_lines(text: str, topic: str) -> None:
    assert topic in DEFAULT_MATCHER.match(text)


def test_default_taxonomy_respects_word_boundaries() -> None:
    # "tip", "hi", "sub" and "hot" are keywords; none of them is a whole word here.
    assert DEFAULT_MATCHER.match("multiple stips this subscriptions hottest") == ()


# --------------------------------------------------------------------------- enrich


def test_enrich_cleans_then_scores_the_cleaned_text() -> None:
    result = enrich("<p>You are gorgeous&nbsp;😍</p>", DEFAULT_MATCHER)
    assert result.text == "You are gorgeous 😍"
    assert result.sentiment == pytest.approx((compound("You are gorgeous 😍") + 1) / 2)
    assert "compliments_flirting" in result.topics


def test_enrich_joins_words_split_by_markup() -> None:
    # The raw text has "meet<br>up"; after cleaning it is "meet up".
    result = enrich("let's meet<br>up", matcher("meet up", topic_id="meet"))
    assert result.topics == ("meet",)


@pytest.mark.parametrize("raw", [None, "", "<p> </p>"])
def test_enrich_without_text(raw: str | None) -> None:
    assert enrich(raw, DEFAULT_MATCHER) == Enrichment(text=None, sentiment=None, topics=())


def test_docs_list_the_default_taxonomy() -> None:
    docs = (Path(__file__).parents[2] / "docs" / "metrics.md").read_text(encoding="utf-8")
    rows = {
        line.split("|")[1].strip(): line for line in docs.splitlines() if line.startswith("| `")
    }
    for rule in DEFAULT_TOPICS:
        row = rows[f"`{rule.id}`"]
        assert f"| {rule.label} |" in row
        assert [kw.strip("`") for kw in row.split("|")[3].strip().split(", ")] == list(
            rule.keywords
        )
