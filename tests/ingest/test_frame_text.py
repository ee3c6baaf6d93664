"""The text of outgoing frames is decoded once for all the sockets that send the same bytes,
and what is kept for that stays bounded (a full sync is megabytes)."""

from __future__ import annotations

from ofca.controllers import sockets as ws


def test_the_same_frame_is_decoded_once_and_the_cache_stays_bounded() -> None:
    frame = '{"type":"append_message","payload":{"text":"héllo 😍"}}'.encode()
    first = ws._as_text(frame)
    assert first == frame.decode()
    assert ws._as_text(frame) is first  # the second socket gets the same str

    small = [f'{{"n":{i}}}'.encode() for i in range(ws._TEXTS_KEPT * 2)]
    for data in small:
        ws._as_text(data)
    assert len(ws._texts) <= ws._TEXTS_KEPT

    large = [bytes([0x61 + i]) * (ws._SMALL_FRAME + 1) for i in range(3)]
    texts = [ws._as_text(data) for data in large]
    assert [len(text) for text in texts] == [ws._SMALL_FRAME + 1] * 3
    assert ws._last_large[0] is large[-1]  # only the latest large frame is kept
    assert all(id(data) not in ws._texts for data in large)
