"""The text that sentiment and topics see (docs/metrics.md "Text, sentiment and topics").

OnlyFans sends message text as small HTML fragments (``<p>Hi&nbsp;babe <br/>😘</p>``).
Scoring the markup would skew sentiment and let tag names match topic keywords, so every
analysis runs on the cleaned text produced here.
"""

from __future__ import annotations

import html
import re

__all__ = ["clean_text"]

# A tag is "<" followed by a letter, "/" or "!", up to the next ">". ASCII letters only, as
# in HTML: "a < b" and "<3" stay text. Without a closing ">" it is not a tag either.
_TAG = re.compile(r"<[A-Za-z/!][^>]*>")


def clean_text(raw: str | None) -> str | None:
    """Plain text of a message: tags -> one space, entities decoded, whitespace collapsed.

    Returns ``None`` when nothing is left, so "no text" has exactly one representation.
    """
    if not raw:
        return None
    text = _TAG.sub(" ", raw) if "<" in raw else raw
    if "&" in text:
        text = html.unescape(text)
    # str.split() splits on exactly the characters regex \s matches (str.isspace), so this
    # is "collapse runs of whitespace to one space, then trim", in C.
    return " ".join(text.split()) or None
