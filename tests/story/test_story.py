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
