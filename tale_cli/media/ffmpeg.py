"""ffmpeg as a subprocess (never a shell): locate it, run it, stop it with Tale, probe and check clips."""

from __future__ import annotations

import atexit
import contextlib
import errno
import functools
import os
import re
import shutil
import signal
import subprocess
import tempfile
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from tale_cli.errors import InputError, Interrupted, MissingDependencyError, OutputError, TaleError
from tale_cli.media.sealed import opened_fds, opened_input, sealed_output


@dataclass(frozen=True)
class EncodeSettings:
    """The codec settings every Tale encode uses, so clips can be joined by stream copy."""

    preset: str = "veryfast"
    crf: int = 20
    audio_bitrate: str = "128k"
    audio_rate: int = 48_000

    def video_args(self, fps: int) -> list[str]:
        return [
            "-c:v",
            "libx264",
            "-preset",
            self.preset,
            "-crf",
            str(self.crf),
            "-pix_fmt",
            "yuv420p",
            "-profile:v",
            "high",
            "-g",
            str(fps * 2),
            "-r",
            str(fps),
        ]

    def audio_args(self) -> list[str]:
        return ["-c:a", "aac", "-b:a", self.audio_bitrate, "-ar", str(self.audio_rate), "-ac", "2"]


@functools.cache
def ffmpeg_exe() -> str:
    try:
        import imageio_ffmpeg
    except ImportError:
        raise MissingDependencyError("imageio-ffmpeg is not installed", hint="pip install tale-cli") from None
    try:
        return str(imageio_ffmpeg.get_ffmpeg_exe())
    except RuntimeError as error:
        raise MissingDependencyError(f"no ffmpeg binary found: {error}") from None


def input_arg(path: Path) -> str:
    """A file argument ffmpeg cannot mistake for an option or a protocol (leading dash, colon)."""
    return str(path if path.is_absolute() else Path.cwd() / path)


class FFmpegError(TaleError):
    """ffmpeg exited with an error."""


NO_SPACE_ERRNOS = (errno.ENOSPC, errno.EDQUOT)
_NO_SPACE_LINES = ("No space left on device", "Disk quota exceeded")


class NoSpaceError(OutputError):
    """A disk (or quota) filled while Tale wrote to `folder`."""

    def __init__(self, folder: Path, *, needed_bytes: int | None = None, what: str = "this") -> None:
        try:
            free = f"{human_bytes(shutil.disk_usage(existing_folder(folder)).free)} free"
        except OSError:
            free = "no free space"
        needed = f"; {what} needs about {human_bytes(needed_bytes)}" if needed_bytes else ""
        super().__init__(
            f"no space left on device: {folder} has {free}{needed}",
            hint="free some space there, or write somewhere else (--out)",
        )
        self.folder = folder
        self.needed_bytes = needed_bytes
        self.what = what


def existing_folder(folder: Path) -> Path:
    """`folder`, else the nearest folder above it that exists: where its files would go, on that file system."""
    for candidate in (folder, *folder.parents):
        if candidate.is_dir():
            return candidate
    return folder


def no_space_folder(error: OSError, default: Path) -> Path | None:
    """The folder a full-disk OSError was writing to (its file's, else `default`); None for any other OSError."""
    if error.errno not in NO_SPACE_ERRNOS:
        return None
    return Path(os.fsdecode(error.filename)).parent if error.filename else default


def human_bytes(count: int) -> str:
    size = float(count)
    for unit in ("bytes", "kB", "MB", "GB"):
        if size < 1000:
            return f"{size:.0f} {unit}" if unit == "bytes" else f"{size:.1f} {unit}"
        size /= 1000
    return f"{size:.1f} TB"


# Every ffmpeg this process has running, each in its own process group: a Ctrl-C at the terminal reaches
# Tale alone, and Tale decides (stop_children) instead of each ffmpeg ending its file half-written on its own.
_children: set[subprocess.Popen[bytes]] = set()
_children_lock = threading.Lock()
_stopping = threading.Event()


def stop_children() -> None:
    """Kill every running ffmpeg (its whole process group) and start no more: Tale is stopping."""
    with _children_lock:
        _stopping.set()
        for process in _children:
            _kill(process)


def resume_children() -> None:
    """Allow ffmpeg to start again after a stop: for a process that goes on (a test runner), not for Tale."""
    _stopping.clear()


def _kill(process: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)


@atexit.register
def _kill_leftovers() -> None:
    """Whatever exits this interpreter, no ffmpeg it started goes on writing."""
    with _children_lock:
        for process in _children:
            _kill(process)


# Every input is read from files, pipes or descriptors only, and playlists or concat lists opened from it
# inherit that: whatever a clip names (an HLS playlist, an ffconcat list), ffmpeg never opens a connection.
LOCAL_PROTOCOLS = ["-protocol_whitelist", "file,pipe,fd"]


def _local_inputs(args: Sequence[str]) -> list[str]:
    held: list[str] = []
    after_i = False
    for arg in args:
        if arg == "-i":
            held += LOCAL_PROTOCOLS
        held.append(opened_input(Path(arg)) if after_i and arg.startswith("/") else arg)
        after_i = arg == "-i"
    return held


def _run(
    args: Sequence[str], *, stdin: bytes | None = None, timeout: float | None = None, pass_fds: Sequence[int] = ()
) -> tuple[int, str]:
    """Run ffmpeg to its end; returns its exit code and stderr. Interrupted if Tale is stopping or stops meanwhile.
    `pass_fds`: open files ffmpeg inherits (read as /dev/fd/N)."""
    with opened_fds() as opened:
        command = [ffmpeg_exe(), "-hide_banner", *(["-nostdin"] if stdin is None else []), *_local_inputs(args)]
        with _children_lock:
            if _stopping.is_set():
                raise Interrupted
            process = subprocess.Popen(
                command,
                stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                process_group=0,
                pass_fds=(*pass_fds, *opened),
            )
            _children.add(process)
        try:
            _, stderr = process.communicate(stdin, timeout=timeout)
        except BaseException:
            _kill(process)
            process.wait()
            raise
        finally:
            with _children_lock:
                _children.discard(process)
    if _stopping.is_set():
        raise Interrupted  # killed by stop_children: its file is unfinished, not failed
    return process.returncode, stderr.decode("utf-8", "replace")


def run_ffmpeg(
    args: Sequence[str], *, stdin: bytes | None = None, timeout: float | None = None, pass_fds: Sequence[int] = ()
) -> str:
    """Run ffmpeg with the given arguments; returns its stderr; raises FFmpegError with its last line.

    An output in a media-sealed run is written to a file in memory and sealed into place when ffmpeg is done: it is
    never on a disk in the clear (tale_cli.media.sealed)."""
    with sealed_output(args) as (args, fds):
        return _run_ffmpeg(args, stdin=stdin, timeout=timeout, pass_fds=[*pass_fds, *fds])


def _run_ffmpeg(
    args: Sequence[str], *, stdin: bytes | None = None, timeout: float | None = None, pass_fds: Sequence[int] = ()
) -> str:
    try:
        code, stderr = _run(["-y", *args], stdin=stdin, timeout=timeout, pass_fds=pass_fds)
    except subprocess.TimeoutExpired:
        raise FFmpegError(f"ffmpeg took longer than {timeout:.0f} s") from None
    if code != 0:
        if any(line in stderr for line in _NO_SPACE_LINES):
            # The output is always the last argument; its "Conversion failed!" would hide the reason.
            output = Path(args[-1]) if args and Path(args[-1]).is_absolute() else Path.cwd() / "-"
            raise NoSpaceError(output.parent)
        lines = [line for line in stderr.strip().splitlines() if line.strip()]
        raise FFmpegError(f"ffmpeg failed: {lines[-1] if lines else 'exit code ' + str(code)}")
    return stderr


@contextlib.contextmanager
def ffmpeg_pipe(args: Sequence[str], *, writing: bool) -> Iterator[subprocess.Popen[bytes]]:
    """An ffmpeg this process feeds frames to (`writing`: its stdin) or reads frames from (its stdout), stopped with
    Tale's other ffmpegs; raises FFmpegError with its last line when it fails. (An output in a media-sealed run is
    sealed as run_ffmpeg's is.)"""
    with sealed_output(args) as (sealed_args, fds), _ffmpeg_pipe(sealed_args, writing, fds) as process:
        yield process


@contextlib.contextmanager
def _ffmpeg_pipe(args: Sequence[str], writing: bool, fds: Sequence[int]) -> Iterator[subprocess.Popen[bytes]]:
    with tempfile.TemporaryFile() as errors, opened_fds() as opened:
        command = [ffmpeg_exe(), "-hide_banner", "-v", "error", *_local_inputs(["-y", *args])]
        with _children_lock:
            if _stopping.is_set():
                raise Interrupted
            process = subprocess.Popen(
                command,
                stdin=subprocess.PIPE if writing else subprocess.DEVNULL,
                stdout=subprocess.DEVNULL if writing else subprocess.PIPE,
                stderr=errors,
                process_group=0,
                pass_fds=(*fds, *opened),
            )
            _children.add(process)
        try:
            yield process
            for pipe in (process.stdin, process.stdout):
                if pipe is not None:
                    pipe.close()
            process.wait()
        except BaseException:
            _kill(process)
            process.wait()
            raise
        finally:
            with _children_lock:
                _children.discard(process)
        if _stopping.is_set():
            raise Interrupted
        if process.returncode != 0:
            errors.seek(0)
            lines = [line for line in errors.read().decode("utf-8", "replace").splitlines() if line.strip()]
            raise FFmpegError(f"ffmpeg failed: {lines[-1] if lines else 'exit code ' + str(process.returncode)}")


@dataclass(frozen=True)
class ClipInfo:
    path: Path
    duration_s: float
    width: int
    height: int
    fps: float
    video_codec: str
    pixel_format: str
    has_audio: bool
    audio_codec: str | None
    audio_rate: int | None
    audio_channels: str | None
    video_profile: str | None = None
    audio_profile: str | None = None

    def stream_signature(self) -> tuple[object, ...]:
        """What must match for clips to join by stream copy."""
        return (
            self.width,
            self.height,
            round(self.fps, 3),
            self.video_codec,
            self.video_profile,
            self.pixel_format,
            self.has_audio,
            self.audio_codec,
            self.audio_profile,
            self.audio_rate,
            self.audio_channels,
        )


_DURATION = re.compile(r"Duration: (\d+):(\d+):(\d+(?:\.\d+)?)")
_VIDEO = re.compile(r"Stream #\d+:\d+[^:]*: Video: (\w+)[^,]*, (\w+)(?:\([^)]*\))?[^,]*, (\d+)x(\d+)")
_FPS = re.compile(r"(\d+(?:\.\d+)?) fps")
_AUDIO = re.compile(r"Stream #\d+:\d+[^:]*: Audio: (\w+)[^,]*, (\d+) Hz, ([^,]+)")
_PROFILE = re.compile(r": (?:Video|Audio): \w+ \(([^)/]+)\)")
_INPUT = re.compile(r"^Input #(\d+), ", re.MULTILINE)


def probe(path: Path) -> ClipInfo:
    """Container facts from `ffmpeg -i` (the bundled ffmpeg has no ffprobe)."""
    if not path.is_file():
        raise InputError(f"clip not found: {path}")
    _, text = _run(["-i", input_arg(path)])
    info = _clip_info(path, text)
    if info is None:
        raise InputError(f"{path} is not a video file ffmpeg can read")
    return info


def probe_many(paths: Sequence[Path]) -> list[ClipInfo]:
    """Probe several clips with one ffmpeg run; a clip that fails is probed alone, so the error names it."""
    if len(paths) < 2:
        return [probe(path) for path in paths]
    for path in paths:
        if not path.is_file():
            raise InputError(f"clip not found: {path}")
    args = [arg for path in paths for arg in ("-i", input_arg(path))]
    _, text = _run(args)
    starts = list(_INPUT.finditer(text))
    ends = [match.start() for match in starts[1:]] + [len(text)]
    sections = [text[match.start() : end] for match, end in zip(starts, ends, strict=True)]
    infos = [_clip_info(path, section) for path, section in zip(paths, sections, strict=False)]
    if len(infos) == len(paths) and all(info is not None for info in infos):
        return [info for info in infos if info is not None]
    return [probe(path) for path in paths]


def _clip_info(path: Path, text: str) -> ClipInfo | None:
    duration = _DURATION.search(text)
    video = _VIDEO.search(text)
    if not duration or not video:
        return None
    hours, minutes, seconds = duration.groups()
    video_line = text[video.start() : text.find("\n", video.start())]
    fps = _FPS.search(video_line)
    audio = _AUDIO.search(text)
    return ClipInfo(
        path=path,
        duration_s=int(hours) * 3600 + int(minutes) * 60 + float(seconds),
        width=int(video.group(3)),
        height=int(video.group(4)),
        fps=float(fps.group(1)) if fps else 0.0,
        video_codec=video.group(1),
        pixel_format=video.group(2),
        has_audio=audio is not None,
        audio_codec=audio.group(1) if audio else None,
        audio_rate=int(audio.group(2)) if audio else None,
        audio_channels=audio.group(3).strip() if audio else None,
        video_profile=_profile(video_line),
        audio_profile=_profile(text[audio.start() : text.find("\n", audio.start())]) if audio else None,
    )


def _profile(stream_line: str) -> str | None:
    match = _PROFILE.search(stream_line)
    return match.group(1).strip() if match else None


def count_frames(path: Path) -> int:
    """Video frames in a file, counted by demuxing without decoding."""
    stderr = run_ffmpeg(["-i", input_arg(path), "-map", "0:v:0", "-c", "copy", "-f", "null", "-"])
    frames = re.findall(r"frame=\s*(\d+)", stderr)
    return int(frames[-1]) if frames else 0


class ClipCheckError(TaleError):
    """A rendered clip that is broken, empty or of the wrong length."""


def check_clip(path: Path, *, expected_s: float | None, fps: float | None = None) -> ClipInfo:
    """A clip is done only if it demuxes, has frames, decodes at both ends and lasts as long as asked."""
    if not path.is_file() or path.stat().st_size == 0:
        raise ClipCheckError(f"{path.name} is missing or empty")
    try:
        info = probe(path)
    except InputError:
        raise ClipCheckError(f"{path.name} is not a readable video") from None
    try:
        frames = count_frames(path)
        if frames == 0:
            raise ClipCheckError(f"{path.name} has no video frames")
        rate = fps or info.fps or 24.0
        video_s = frames / rate
        tail = max(0.0, video_s - 2.0 / rate)
        for seek in (0.0, tail):
            run_ffmpeg(
                [
                    "-v",
                    "error",
                    "-ss",
                    f"{seek:.3f}",
                    "-i",
                    input_arg(path),
                    "-map",
                    "0:v:0",
                    "-frames:v",
                    "1",
                    "-f",
                    "null",
                    "-",
                ]
            )
    except FFmpegError as error:
        raise ClipCheckError(f"{path.name} does not decode: {error.message}") from None
    if expected_s is not None and abs(video_s - expected_s) > 1.0 / rate + 1e-6:
        raise ClipCheckError(f"{path.name} lasts {video_s:.3f} s, expected {expected_s:.3f} s")
    return info


def extract_frame(path: Path, output: Path, *, at: str = "last") -> Path:
    """Write one frame of a clip as PNG: `first`, `last`, or `middle`."""
    if at == "first":
        args = ["-i", input_arg(path), "-frames:v", "1"]
    elif at == "middle":
        info = probe(path)
        args = ["-ss", f"{info.duration_s / 2:.3f}", "-i", input_arg(path), "-frames:v", "1"]
    else:
        args = ["-sseof", "-0.5", "-i", input_arg(path), "-update", "1", "-q:v", "1"]
    output.parent.mkdir(parents=True, exist_ok=True)
    run_ffmpeg([*args, "-f", "image2", "-c:v", "png", input_arg(output)])
    if not output.is_file():
        raise FFmpegError(f"could not extract the {at} frame of {path.name}")
    return output


def frame_png(path: Path, *, at: str = "middle") -> bytes:
    """One frame of a clip as PNG bytes, made in memory (ffmpeg writes it to a memfd): no picture on any disk."""
    from tale_cli.keys.seal import memory_file

    if at == "middle":
        args = ["-ss", f"{probe(path).duration_s / 2:.3f}", "-i", input_arg(path), "-frames:v", "1"]
    else:
        args = ["-i", input_arg(path), "-frames:v", "1"]
    args += ["-f", "image2", "-update", "1", "-c:v", "png"]
    if not hasattr(os, "memfd_create"):  # where a system has no memfd: by way of a temporary file
        with tempfile.TemporaryDirectory(prefix="tale-frame-") as folder:
            run_ffmpeg([*args, input_arg(Path(folder) / "frame.png")])
            data = (Path(folder) / "frame.png").read_bytes()
    else:
        fd = memory_file(b"", "frame.png")
        try:
            run_ffmpeg([*args, f"/dev/fd/{fd}"], pass_fds=[fd])
            data = Path(f"/proc/self/fd/{fd}").read_bytes()
        finally:
            os.close(fd)
    if not data:
        raise FFmpegError(f"could not extract the {at} frame of {path.name}")
    return data


def encode_frames(
    frames: bytes,
    *,
    source_size: tuple[int, int],
    source_fps: float,
    output: Path,
    width: int,
    height: int,
    fps: int,
    duration_s: float,
    stretch: float = 1.0,
    encode: EncodeSettings | None = None,
    audio: Path | None = None,
) -> Path:
    """Encode raw RGB24 frames into an MP4 of exactly `duration_s` at `fps` and `width`x`height`.

    The picture is scaled to fit and padded (never cropped or distorted); `stretch` > 1 slows it down;
    a clip shorter than asked holds its last frame. `output` may end in `.part`: the container is explicit.
    `audio`, a sound file made with the frames, becomes the clip's AAC track, padded with silence or cut to the
    clip's length.
    """
    encode = encode or EncodeSettings()
    total = max(1, round(duration_s * fps))
    sound = ["-i", input_arg(audio)] if audio is not None else []
    track = ["-an"]
    if audio is not None:
        seconds = f"{total / fps:.6f}"
        pad = f"apad=whole_dur={seconds}"
        track = ["-map", "0:v:0", "-map", "1:a:0", "-af", pad, *encode.audio_args(), "-t", seconds]
    chain = ",".join(
        [
            f"setpts={stretch:.6f}*PTS",
            f"scale={width}:{height}:force_original_aspect_ratio=decrease:flags=lanczos",
            f"pad={width}:{height}:(ow-iw)/2:(oh-ih)/2:color=black",
            "setsar=1",
            f"fps={fps}",
            f"tpad=stop_mode=clone:stop_duration={duration_s + 1:.3f}",
        ]
    )
    output.parent.mkdir(parents=True, exist_ok=True)
    run_ffmpeg(
        [
            "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{source_size[0]}x{source_size[1]}",
            "-framerate", f"{source_fps:g}", "-i", "-", *sound,
            "-vf", chain, "-frames:v", str(total), *track,
            *encode.video_args(fps), "-movflags", "+faststart", "-f", "mp4", input_arg(output),
        ],
        stdin=frames,
    )  # fmt: skip
    return output


def h264_still(source: Path, output: Path, *, crf: int) -> Path:
    """A picture as it comes back from one H.264 frame at `crf` (yuv420p, preset veryfast), written as PNG: what a
    video model trained on compressed frames expects its first frame to look like."""
    encoded = output.with_name(output.name + ".mp4")
    output.parent.mkdir(parents=True, exist_ok=True)
    try:
        run_ffmpeg(
            [
                "-i", input_arg(source), "-frames:v", "1", "-c:v", "libx264", "-preset", "veryfast",
                "-crf", str(crf), "-pix_fmt", "yuv420p", "-f", "mp4", input_arg(encoded),
            ]
        )  # fmt: skip
        run_ffmpeg(["-i", input_arg(encoded), "-frames:v", "1", "-f", "image2", "-c:v", "png", input_arg(output)])
    finally:
        encoded.unlink(missing_ok=True)
    return output


def filter_escape(text: str) -> str:
    """Escape a value for use inside an ffmpeg filter argument (quotes, colons, backslashes)."""
    for char in ("\\", "'", ":", ",", ";", "[", "]", "%"):
        text = text.replace(char, "\\" + char)
    return text


def probe_audio(path: Path) -> float:
    """Seconds of a file with an audio stream (music, a voice-over); InputError if it has none."""
    if not path.is_file():
        raise InputError(f"audio file not found: {path}")
    _, text = _run(["-i", input_arg(path)])
    duration = _DURATION.search(text)
    if not duration or not _AUDIO.search(text):
        raise InputError(f"{path} has no audio ffmpeg can read")
    hours, minutes, seconds = duration.groups()
    return int(hours) * 3600 + int(minutes) * 60 + float(seconds)


def speech_wav(source: Path, output: Path, *, rate: int | None = None) -> None:
    """Any audio file ffmpeg reads (a provider's MP3 or WAV) as the 16-bit mono WAV a voice clip is, at `rate` or
    its own rate."""
    rate_args = ["-ar", str(rate)] if rate else []
    run_ffmpeg(["-i", input_arg(source), "-vn", "-ac", "1", *rate_args, "-c:a", "pcm_s16le", "-f", "wav", str(output)])


def inspect_clip(path: Path) -> tuple[ClipInfo, int]:
    """A clip's container facts and its video frame count from a single ffmpeg run (demux only, no decode)."""
    try:
        stderr = run_ffmpeg(["-i", input_arg(path), "-map", "0:v:0", "-c", "copy", "-f", "null", "-"])
    except FFmpegError:
        raise InputError(f"{path} is not a video file ffmpeg can read") from None
    info = _clip_info(path, stderr)
    if info is None:
        raise InputError(f"{path} is not a video file ffmpeg can read")
    frames = re.findall(r"frame=\s*(\d+)", stderr)
    return info, int(frames[-1]) if frames else 0


def conform_clip(
    source: Path,
    output: Path,
    *,
    width: int,
    height: int,
    fps: int,
    duration_s: float,
    settings: EncodeSettings | None = None,
    silence: bool = False,
) -> None:
    """Re-encode a clip to exactly width x height @ fps and duration_s: fill and crop, resample, pad or trim.

    With `silence`, a clip without sound gets a silent track, so it joins clips that have one by stream copy.
    """
    settings = settings or EncodeSettings()
    frames = max(1, round(duration_s * fps))
    video_filter = (
        f"scale={width}:{height}:force_original_aspect_ratio=increase,crop={width}:{height},setsar=1,"
        f"fps={fps},tpad=stop_mode=clone:stop_duration={duration_s:.3f}"
    )
    has_audio = probe(source).has_audio
    quiet = ["-f", "lavfi", "-i", f"anullsrc=channel_layout=stereo:sample_rate={settings.audio_rate}"]
    inputs = ["-i", input_arg(source), *(quiet if silence and not has_audio else [])]
    sound = "0:a:0" if has_audio else "1:a:0"
    pad = ["-map", sound, "-af", f"apad=whole_dur={duration_s:.3f}", *settings.audio_args()]
    audio = pad if has_audio or silence else []
    run_ffmpeg(
        [
            *inputs, "-map", "0:v:0", "-vf", video_filter, *settings.video_args(fps),
            "-frames:v", str(frames), *audio, "-t", f"{frames / fps:.6f}",
            "-movflags", "+faststart", "-f", "mp4", input_arg(output),
        ]
    )  # fmt: skip


def synthetic_clip(
    output: Path, *, width: int, height: int, fps: int, duration_s: float, audio: bool = False, seed: int = 0
) -> Path:
    """A small real MP4 drawn by ffmpeg (test pattern, optional tone) in Tale's own encoding: for fakes and tests."""
    frames = max(1, round(duration_s * fps))
    pattern = ("testsrc2", "smptebars", "rgbtestsrc", "mandelbrot")[seed % 4]
    sources = ["-f", "lavfi", "-i", f"{pattern}=size={width}x{height}:rate={fps}"]
    if audio:
        sources += ["-f", "lavfi", "-i", f"sine=frequency={220 + 20 * (seed % 12)}:sample_rate=48000"]
    encode = EncodeSettings()
    output.parent.mkdir(parents=True, exist_ok=True)
    run_ffmpeg(
        [
            *sources, "-map", "0:v:0", *(["-map", "1:a:0", *encode.audio_args()] if audio else []),
            *encode.video_args(fps), "-frames:v", str(frames), "-t", f"{frames / fps:.6f}",
            "-f", "mp4", input_arg(output),
        ]
    )  # fmt: skip
    return output
