"""clean_text: the text that sentiment and topics see (METRICS.md "Text seen by both")."""

from __future__ import annotations

import html
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ofca.domain.text import clean_text


def test_onlyfans_html_becomes_plain_text() -> None:
    # "<p>" -> " ", "&nbsp;" -> U+00A0, "<br/>" -> " ", "</p>" -> " ";
    # " Hi\xa0babe  😘 " collapses to " Hi babe 😘 " and is trimmed.
    assert clean_text("<p>Hi&nbsp;babe <br/>😘</p>") == "Hi babe 😘"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("a < b", "a < b"),  # "<" followed by a space is not a tag
        ("i <3 you", "i <3 you"),  # nor followed by a digit
        ("x<y but no closing bracket", "x<y but no closing bracket"),  # no ">" -> not a tag
        ("a<b>c", "a c"),  # a tag between words leaves one space
        ("line1<br>line2", "line1 line2"),
        ("<!-- note -->hello", "hello"),  # "<!" starts a tag too
        ("</div>bye", "bye"),
        ('<a href="https://x.example/?a=1&amp;b=2">link</a>', "link"),
    ],
)
def test_tags_are_lt_followed_by_letter_slash_or_bang(raw: str, expected: str) -> None:
    assert clean_text(raw) == expected


def test_entities_are_decoded_after_tags_are_removed() -> None:
    # Decoded "<b>" is text the fan typed, not markup: it must survive.
    assert clean_text("&lt;b&gt;bold&lt;/b&gt; &amp; &#128536;") == "<b>bold</b> & 😘"


def test_whitespace_runs_collapse_and_ends_are_trimmed() -> None:
    assert clean_text("  multi\n\n  space\tand\u00a0nbsp  ") == "multi space and nbsp"


@pytest.mark.parametrize("raw", [None, "", "   ", "<p></p>", "&nbsp;", "<br/>\n<br/>"])
def test_nothing_left_is_no_text(raw: str | None) -> None:
    assert clean_text(raw) is None


def test_plain_text_is_unchanged() -> None:
    text = "hey babe, how much for the new set? 💸"
    assert clean_text(text) == text


def reference_clean_text(raw: str | None) -> str | None:
    """METRICS.md's steps one by one, with regexes."""
    if raw is None:
        return None
    text = re.sub(r"<[A-Za-z/!][^>]*>", " ", raw)
    text = html.unescape(text)
    text = re.sub(r"\s+", " ", text).strip()
    return text or None


_PIECES = [
    "<p>", "</p>", "<br/>", "<!--x-->", "<", ">", "<3", "a", "B", " ", "\n", "\t",
    "\u00a0", "\u2003", "&nbsp;", "&amp;", "&lt;p&gt;", "&", "😘", "hi", "tip",
]  # fmt: skip


@settings(max_examples=500, deadline=None)
@given(st.lists(st.sampled_from(_PIECES), max_size=15).map("".join))
def test_clean_text_matches_the_literal_steps(raw: str) -> None:
    assert clean_text(raw) == reference_clean_text(raw)
