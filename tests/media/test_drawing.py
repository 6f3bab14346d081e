from __future__ import annotations

from tale_cli.media.drawing import wrap_text


def test_wrapping_leaves_room_for_wide_hangul_glyphs() -> None:
    latin = wrap_text("the keeper climbed the stairs to light the lamp again", 20)
    hangul = wrap_text("등대지기는 다시 등불을 켜려고 계단을 천천히 올라갔다", 20)
    assert max(map(len, latin)) <= 20 and max(map(len, latin)) > 11
    assert max(map(len, hangul)) <= 11


def test_empty_text_is_one_empty_line() -> None:
    assert wrap_text("", 40) == [""]
