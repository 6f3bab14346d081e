"""ffmpeg as Tale runs it: never reaching the network, whatever a clip or playlist names."""

from __future__ import annotations

import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tale_cli.cli.app import app
from tale_cli.errors import ExitCode, InputError
from tale_cli.media.ffmpeg import encode_frames, ffmpeg_exe, probe
from tests.videos import make_clip


class _Counting(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.server.requests += 1  # type: ignore[attr-defined]
        self.send_response(404)
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        return None


@pytest.fixture
def server() -> Iterator[ThreadingHTTPServer]:
    """A local HTTP server that counts every request made to it."""
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Counting)
    httpd.requests = 0  # type: ignore[attr-defined]
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()


def _lures(folder: Path, url: str) -> dict[str, Path]:
    """Files that name a URL in ways ffmpeg would follow: an HLS playlist and an ffconcat list."""
    playlist = folder / "stream.m3u8"
    playlist.write_text(f"#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXTINF:2.0,\n{url}/part.ts\n#EXT-X-ENDLIST\n")
    listing = folder / "clips.ffconcat"
    listing.write_text(f"ffconcat version 1.0\nfile '{url}/clip.mp4'\n")
    return {"playlist": playlist, "listing": listing}


@pytest.mark.parametrize("lure", ["playlist", "listing"])
def test_ffmpeg_never_follows_a_url_a_clip_names(server: ThreadingHTTPServer, tmp_path: Path, lure: str) -> None:
    url = f"http://127.0.0.1:{server.server_address[1]}"
    path = _lures(tmp_path, url)[lure]
    with pytest.raises(InputError):
        probe(path)
    clip = make_clip(tmp_path / "a.mp4", seconds=0.5, width=64, height=64)
    result = CliRunner().invoke(app, ["stitch", str(clip), str(path), "-o", str(tmp_path / "film.mp4")])
    assert result.exit_code == int(ExitCode.INPUT), result.output
    assert server.requests == 0  # type: ignore[attr-defined]
    assert not (tmp_path / "film.mp4").exists()


def test_the_lure_reaches_the_server_when_ffmpeg_may_use_the_network(
    server: ThreadingHTTPServer, tmp_path: Path
) -> None:
    """The counter-test: the playlist above does make ffmpeg connect once http is allowed, so 0 means something."""
    url = f"http://127.0.0.1:{server.server_address[1]}"
    playlist = _lures(tmp_path, url)["playlist"]
    subprocess.run(
        [ffmpeg_exe(), "-nostdin", "-protocol_whitelist", "file,http,tcp", "-i", str(playlist)],
        capture_output=True, check=False, timeout=30,
    )  # fmt: skip
    assert server.requests >= 1  # type: ignore[attr-defined]


def test_every_ffmpeg_input_is_held_to_local_protocols(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, story_file: Path, tiny_recipe: Path
) -> None:
    """Each input of every ffmpeg Tale starts (files, lavfi sources, pipes, concat lists, subtitle files)
    carries `-protocol_whitelist file,pipe,fd`, which nested opens (playlists, concat entries) inherit."""
    log = tmp_path / "argv.log"
    logging = tmp_path / "ffmpeg"
    logging.write_text(f'#!/bin/sh\nprintf "%s\\037" "$@" >> {log}\nprintf "\\n" >> {log}\nexec {ffmpeg_exe()} "$@"\n')
    logging.chmod(0o755)
    monkeypatch.setattr("tale_cli.media.ffmpeg.ffmpeg_exe", lambda: str(logging))
    out = tmp_path / "out"
    args = ["render", str(story_file), "-r", str(tiny_recipe), "-o", str(out), "--burn-subtitles"]
    assert CliRunner().invoke(app, args).exit_code == 0
    again = ["stitch", str(out / "the-small-test"), "-o", str(tmp_path / "copy.mp4")]
    assert CliRunner().invoke(app, again).exit_code == 0
    encode_frames(bytes(16 * 16 * 3 * 4), source_size=(16, 16), source_fps=4, output=tmp_path / "f.mp4",
                  width=16, height=16, fps=4, duration_s=1.0)  # fmt: skip

    commands = [line.split("\x1f")[:-1] for line in log.read_text().splitlines()]
    inputs = [(command, n) for command in commands for n, arg in enumerate(command) if arg == "-i"]
    assert len(commands) > 10 and any(command[n + 1] == "-" for command, n in inputs)
    assert any("concat" in command for command in commands) and any("lavfi" in command for command in commands)
    for command, n in inputs:
        assert command[n - 2 : n] == ["-protocol_whitelist", "file,pipe,fd"], command


def test_a_full_disk_measures_the_folder_a_file_goes_to_or_the_nearest_one_above_that_exists(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import shutil

    from tale_cli.media.ffmpeg import NoSpaceError

    asked: list[Path] = []
    real = shutil.disk_usage
    monkeypatch.setattr("shutil.disk_usage", lambda path: asked.append(Path(path)) or real(path))
    folder = tmp_path / "out" / "not-made-yet"

    error = NoSpaceError(folder, needed_bytes=2_000_000, what="the film")

    assert asked == [tmp_path]
    assert error.message.startswith(f"no space left on device: {folder} has ") and "no free space" not in error.message
    assert error.message.endswith(" free; the film needs about 2.0 MB")
