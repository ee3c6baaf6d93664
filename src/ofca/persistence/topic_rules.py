"""Topic rules per account, as the matcher enrichment uses: the built-in taxonomy plus the
account's custom topics.

Each change of an account's custom topics bumps its row in ``ofca_topic_set`` in the same
transaction; every process caches its matcher per account keyed by that version, so a
change made by one process is seen by all on their next call.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

import msgspec

from ofca.domain.enrichment import DEFAULT_MATCHER, TopicMatcher
from ofca.domain.taxonomy import DEFAULT_TOPICS, TopicRule
from ofca.persistence.sql import raw_sql

__all__ = ["last_known_matcher", "matcher_at", "matcher_for", "rule_of", "topic_set_version"]

_CACHE_ACCOUNTS = 1024


_KEYWORDS = msgspec.json.Decoder(list[str])


_matchers: OrderedDict[str, tuple[int, TopicMatcher]] = OrderedDict()


async def topic_set_version(account_id: str) -> int:
    """The account's topic-set version; 0 when it never had custom topics."""
    rows = await raw_sql("SELECT version FROM ofca_topic_set WHERE account_id = {}", account_id)
    return int(rows[0]["version"]) if rows else 0


def rule_of(row: dict[str, Any]) -> TopicRule:
    keywords = row["keywords"]
    if isinstance(keywords, str):
        keywords = _KEYWORDS.decode(keywords)
    return TopicRule(
        id=row["topic_id"], label=row["label"], keywords=tuple(keywords), builtin=False
    )


async def _custom_rules(account_id: str) -> list[TopicRule]:
    rows = await raw_sql(
        "SELECT topic_id, label, keywords FROM ofca_custom_topic WHERE account_id = {} "
        "ORDER BY topic_id",
        account_id,
    )
    return [rule_of(row) for row in rows]


async def matcher_for(account_id: str) -> TopicMatcher:
    """The built-in topics plus the account's custom ones, as a matcher.

    One indexed lookup of the version per call; the matcher is rebuilt only when the
    version changed (in any process). The version is read before the rules, so a change
    racing this call at worst rebuilds once more on the next call.
    """
    return await matcher_at(account_id, await topic_set_version(account_id))


async def matcher_at(account_id: str, version: int) -> TopicMatcher:
    """The account's matcher of topic-set ``version`` (cached; rebuilt when it differs)."""
    cached = _matchers.get(account_id)
    if cached is not None and cached[0] == version:
        _matchers.move_to_end(account_id)
        return cached[1]
    customs = await _custom_rules(account_id) if version else []
    matcher = TopicMatcher((*DEFAULT_TOPICS, *customs)) if customs else DEFAULT_MATCHER
    _matchers[account_id] = (version, matcher)
    _matchers.move_to_end(account_id)
    while len(_matchers) > _CACHE_ACCOUNTS:
        _matchers.popitem(last=False)
    return matcher


async def last_known_matcher(account_id: str) -> tuple[int, TopicMatcher]:
    """The matcher this process used last for the account, and its version, without a query
    when there is one. Writers pass the version on (``upsert_frame(topic_version=...)``),
    which checks it under the account's lock and asks for a retag when it is stale."""
    cached = _matchers.get(account_id)
    if cached is not None:
        return cached
    version = await topic_set_version(account_id)
    return version, await matcher_at(account_id, version)
