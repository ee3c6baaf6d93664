"""The text that sentiment and topics see (METRICS.md "Text seen by both").

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
# Unicode whitespace, which includes the U+00A0 that "&nbsp;" decodes to.
_WHITESPACE = re.compile(r"\s+")


def clean_text(raw: str | None) -> str | None:
    """Plain text of a message: tags -> one space, entities decoded, whitespace collapsed.

    Returns ``None`` when nothing is left, so "no text" has exactly one representation.
    """
    if not raw:
        return None
    text = _TAG.sub(" ", raw)
    if "&" in text:
        text = html.unescape(text)
    text = _WHITESPACE.sub(" ", text).strip()
    return text or None
