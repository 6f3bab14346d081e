from __future__ import annotations

from pathlib import Path

import pytest

from tale_cli.errors import InputError
from tale_cli.story.reader import MAX_STORY_BYTES, detect_language, read_story


def write(tmp_path: Path, text: str | bytes, name: str = "s.md") -> Path:
    path = tmp_path / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def test_front_matter_and_heading(tmp_path: Path) -> None:
    story = read_story(
        write(
            tmp_path,
            "---\nstyle: ink\nshots: 4\nseconds_per_shot: 5\ncharacters:\n  Bo: a dog\n---\n# Title Here\n\nBo ran.\n",
        )
    )
    assert story.title == "Title Here"
    assert story.meta.shots == 4 and story.meta.seconds == 5
    assert [c.name for c in story.meta.characters] == ["Bo"]
    assert story.meta.characters[0].description == "a dog"
    assert story.body == "Bo ran."


def test_markdown_is_stripped_and_paragraphs_kept(tmp_path: Path) -> None:
    story = read_story(write(tmp_path, "Some **bold** and [a link](http://x).\nSame para.\n\n> quoted line\n"))
    assert story.paragraphs == ["Some bold and a link. Same para.", "quoted line"]
    assert story.title == "s"


def test_korean_is_detected(tmp_path: Path) -> None:
    assert read_story(write(tmp_path, "하늘은 편지를 배달했다. 토리가 따라왔다.")).language == "ko"
    assert detect_language("The cat sat.") == "en"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("", "no story text"),
        ("---\ntitle: x\n---\n\n   \n", "no story text"),
        (b"\x89PNG\r\n\x1a\n\x00\x00binary", "binary"),
        (b"caf\xe9 au lait", "not UTF-8"),
        ("---\nunknown_key: 1\n---\ntext", "unknown_key"),
        ("---\nshots: many\n---\ntext", "shots"),
        ("---\n[unclosed\n---\ntext", "not valid YAML"),
        ("---\ncharacters:\n  - name: A\n    image: ../../etc/passwd\n---\ntext", "image"),
    ],
)
def test_bad_stories_are_refused(tmp_path: Path, content: str | bytes, message: str) -> None:
    with pytest.raises(InputError, match=message):
        read_story(write(tmp_path, content))


def test_missing_directory_and_huge(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="not found"):
        read_story(tmp_path / "nope.md")
    with pytest.raises(InputError, match="directory"):
        read_story(tmp_path)
    big = tmp_path / "big.md"
    with big.open("wb") as handle:
        handle.truncate(MAX_STORY_BYTES + 10)
    with pytest.raises(InputError, match="at most"):
        read_story(big)


def test_control_characters_are_stripped_with_one_warning(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = write(
        tmp_path,
        '---\ntitle: "Nice\\e[2J\\x1b]0;pwned\\x07 story\\nof two lines"\nstyle: "ink\\x9b31m"\n---\n'
        "Mira climbs\x1b[2J the stairs\x1b]0;pwned\x07 at dusk.\x7f\r\nThe lamp\x9b31m is dark.\tStill.\r\n",
    )
    with caplog.at_level("WARNING", logger="tale"):
        story = read_story(path)
    assert story.title == "Nice[2J]0;pwned story of two lines"  # one line, whatever the front matter spelled
    assert story.meta.style == "ink31m"
    assert story.body == "Mira climbs[2J the stairs]0;pwned at dusk. The lamp31m is dark.\tStill."
    assert story.controls_removed == 9  # ESC, ESC, BEL, C1 CSI in the front matter; ESC, ESC, BEL, DEL, CSI below
    assert [record.getMessage() for record in caplog.records] == [
        f"{path}: 9 control characters removed (terminal escape sequences and the like)"
    ]
    caplog.clear()
    read_story(path, warn=False)
    assert caplog.records == []


def test_a_story_with_windows_line_ends_has_nothing_removed(tmp_path: Path) -> None:
    story = read_story(write(tmp_path, "---\r\ntitle: Crlf\r\n---\r\nBo ran.\r\n\r\nBo slept.\r\n"))
    assert story.controls_removed == 0 and story.paragraphs == ["Bo ran.", "Bo slept."] and story.title == "Crlf"


def test_entities_in_front_matter_as_a_list_or_a_mapping(tmp_path: Path) -> None:
    listed = tmp_path / "listed.md"
    listed.write_text(
        "---\nentities:\n  - name: brass lantern\n    image: lantern.png\n  - name: the harbor\n    kind: Place\n"
        "  - blue sweater\n---\nText.\n",
        encoding="utf-8",
    )
    entities = read_story(listed).meta.entities
    assert [(e.name, e.entity_kind, e.image) for e in entities] == [
        ("brass lantern", "prop", "lantern.png"),
        ("the harbor", "place", None),
        ("blue sweater", "wardrobe", None),
    ]
    mapped = tmp_path / "mapped.md"
    mapped.write_text(
        "---\nentities:\n  brass lantern: old and dented\n  quay: {kind: place, description: grey stones}\n---\nText.\n",
        encoding="utf-8",
    )
    entities = read_story(mapped).meta.entities
    assert [(e.name, e.entity_kind, e.description) for e in entities] == [
        ("brass lantern", "prop", "old and dented"),
        ("quay", "place", "grey stones"),
    ]
    for bad, message in (
        ("kind: weapon", "kind 'weapon' is not one of prop, wardrobe, place"),
        ("image: /etc/x.png", ""),
    ):
        listed.write_text(f"---\nentities:\n  - name: lantern\n    {bad}\n---\nText.\n", encoding="utf-8")
        with pytest.raises(InputError, match=message or "entities.0.image"):
            read_story(listed)
