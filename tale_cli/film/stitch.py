"""Join clips into one film with ffmpeg: normalise, captions, crossfades, a music bed; stream copy when possible."""

from __future__ import annotations

import contextlib
import math
import os
import re
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from tale_cli.errors import InputError, OutputError
from tale_cli.film.subtitles import Cue, srt_safe, timed_cues
from tale_cli.media.ffmpeg import (
    ClipCheckError,
    ClipInfo,
    EncodeSettings,
    NoSpaceError,
    check_clip,
    filter_escape,
    input_arg,
    no_space_folder,
    probe_audio,
    probe_many,
    run_ffmpeg,
)
from tale_cli.media.mp4 import mp4_damage, mp4_extent, mp4_facts
from tale_cli.media.sealed import opened_input

DEFAULT_FADE_S = 0.5
DEFAULT_BED_VOLUME = 0.3
OUTPUT_FORMATS = {".mp4": "mp4", ".m4v": "mp4", ".mov": "mov"}


@dataclass
class StitchOptions:
    """How to join the clips. Every clip is made to fit width x height at fps."""

    width: int = 1280
    height: int = 720
    fps: int = 24
    captions: Sequence[str] | None = None
    """One narration text per clip ("" for none): soft subtitles in the film and an SRT beside it."""
    cues: Sequence[Cue] | None = None
    """Timed cues (the words as the voice track speaks them), used instead of one cue per clip's caption."""
    srt_path: Path | None = None
    """Where the SRT goes; by default the output with the .srt suffix (only when captions are given)."""
    burn_subtitles: bool = False
    """Draw the captions into the picture instead of adding a subtitle stream."""
    transition: str | None = None
    """None or "cut", "fade" or "fade:SECONDS" (a crossfade of picture and sound)."""
    audio: Path | None = None
    """A music bed mixed under the clips' own sound, looped or cut to the film's length."""
    audio_volume: float = DEFAULT_BED_VOLUME
    encode: EncodeSettings = field(default_factory=EncodeSettings)
    seal: Callable[[bytes], bytes] | None = None
    """A sealed run's: the SRT is written sealed, the film gets no subtitle stream (its words would be in the clear
    in the file; burned captions are pictures), and burned captions reach ffmpeg from memory, never a file."""


@dataclass
class StitchResult:
    output: Path
    srt: Path | None
    duration_s: float
    clips: int
    fast_path: bool
    seconds: float


@dataclass(frozen=True)
class StitchInputs:
    """Loose clips to join, in order, and the film they make (a run folder is cut by tale_cli.run.cut)."""

    clips: list[Path]
    output: Path


def parse_transition(spec: str | None) -> float:
    """Seconds of crossfade for a `--transition` value: cut (0), fade, or fade:SECONDS."""
    text = (spec or "").strip().lower()
    if text in ("", "cut", "none"):
        return 0.0
    if text == "fade":
        return DEFAULT_FADE_S
    match = re.fullmatch(r"fade:(\d+(?:\.\d+)?|\.\d+)", text)
    if match and 0 < float(match.group(1)) <= 10:
        return float(match.group(1))
    raise InputError(
        f"unknown transition {spec!r}", hint="use cut, fade, or fade:SECONDS with 0 < SECONDS <= 10 (e.g. fade:0.75)"
    )


def cues_for(durations: Sequence[float], captions: Sequence[str], transition_s: float = 0.0) -> list[Cue]:
    """One cue per captioned clip, placed where the clip plays in the film.

    With crossfades each clip starts transition_s before the previous one ends; a cue changes
    half-way through the fade, so cues never overlap and tile the film.
    """
    if len(captions) != len(durations):
        raise InputError(f"{len(captions)} captions for {len(durations)} clips; give one per clip")
    cues: list[Cue] = []
    start = 0.0
    last = len(durations) - 1
    for position, (duration, caption) in enumerate(zip(durations, captions, strict=True)):
        begin = start + (transition_s / 2 if position > 0 else 0.0)
        end = start + duration - (transition_s / 2 if position < last else 0.0)
        cues.extend(timed_cues(begin, end, caption))
        start += duration - transition_s
    return cues


def srt_text(cues: Sequence[Cue]) -> str:
    blocks = [
        f"{number}\n{_srt_time(cue.start_s)} --> {_srt_time(cue.end_s)}\n{srt_safe(cue.text)}\n"
        for number, cue in enumerate(cues, start=1)
    ]
    return "\n".join(blocks)


def write_srt(cues: Sequence[Cue], path: Path) -> Path:
    """Write cues as SubRip (UTF-8), atomically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    part = path.with_name(path.name + ".part")
    part.write_text(srt_text(cues), encoding="utf-8")
    part.replace(path)
    return path


def stitch(clips: Sequence[Path], output: Path, options: StitchOptions) -> StitchResult:
    """Join clips into one H.264/AAC film at the options' size and fps.

    Clips that already match the target exactly are read as one stream: joined by stream copy when
    nothing else is asked, else only the burn or the music bed is applied (the untouched stream is
    copied). Anything else is normalised and encoded by one ffmpeg process with one filter graph.
    The film is written as *.part, checked, and only then renamed, so a failure leaves an earlier film untouched.
    """
    began = time.perf_counter()
    clips = [Path(clip) for clip in clips]
    output = Path(output)
    transition_s = parse_transition(options.transition)
    _check_options(clips, options)
    srt_path = _srt_destination(output, options)
    container = _check_output(output, srt_path, clips)
    _refuse_cut_short(clips)

    # Clips that already match the film join as one stream (concat demuxer): by copy when nothing else is
    # asked, else with only the burn or the music bed applied to that one stream.
    copyable = _copyable_clips(clips, options) if transition_s == 0 else None
    uniform = copyable is not None
    fast = uniform and not options.burn_subtitles and options.audio is None
    infos = copyable if copyable is not None else probe_many(clips)
    if options.audio is not None:
        probe_audio(Path(options.audio))
    if uniform:
        durations = [info.duration_s for info in infos]
    else:
        durations = [_frames(info, options.fps) / options.fps for info in infos]
        _check_transition(infos, durations, transition_s, options.fps)
    if options.cues is not None:
        cues = list(options.cues)
    else:
        cues = cues_for(durations, options.captions, transition_s) if options.captions is not None else []
    if options.burn_subtitles and not cues:
        raise InputError("--burn-subtitles needs captions, and none of the clips has narration")
    film_s = sum(durations) - (len(clips) - 1) * transition_s

    _make_parent(output)
    if srt_path is not None:
        _make_parent(srt_path)
    part = output.with_name(output.name + ".part")
    srt_part = srt_path.with_name(srt_path.name + ".part") if srt_path is not None and cues else None
    try:
        srt_input = srt_part
        if srt_part is not None and options.seal is None:
            srt_part.write_text(srt_text(cues), encoding="utf-8")
        if options.seal is not None:
            srt_input = None  # no subtitle stream in a sealed run's film: its words stay in the sealed film.srt
        with tempfile.TemporaryDirectory(prefix="tale-stitch-") as work, _pipes(options) as pipes:
            if fast:
                args = _copy_args(infos, srt_input, Path(work))
            elif uniform:
                args = _uniform_args(infos, durations, cues, srt_input, Path(work), options, pipes)
            else:
                args = _encode_args(infos, durations, cues, transition_s, srt_input, Path(work), options, pipes)
            command = [*args, "-movflags", "+faststart", "-f", container, input_arg(part)]
            if pipes is not None:
                run_ffmpeg(command, pass_fds=pipes.fds)  # the words in memory, inherited by ffmpeg
            else:
                run_ffmpeg(command)
        _check_film(part, output, film_s, options.fps, decode=not fast)
        if srt_part is not None and options.seal is not None:
            srt_part.write_bytes(options.seal(srt_text(cues).encode("utf-8")))
        part.replace(output)
        if srt_part is not None and srt_path is not None:
            srt_part.replace(srt_path)
        elif srt_path is not None and srt_path.is_file():
            srt_path.unlink()  # the captions of an earlier film would now be wrong
    except NoSpaceError as error:
        raise NoSpaceError(error.folder, needed_bytes=_film_bytes(clips, options), what="the film") from None
    except OSError as error:
        folder = no_space_folder(error, output.parent)
        if folder is None:
            raise
        raise NoSpaceError(folder, needed_bytes=_film_bytes(clips, options), what="the film") from None
    finally:
        part.unlink(missing_ok=True)
        if srt_part is not None:
            srt_part.unlink(missing_ok=True)
    return StitchResult(
        output=output,
        srt=srt_path if srt_part is not None else None,
        duration_s=round(film_s, 6),
        clips=len(clips),
        fast_path=fast,
        seconds=time.perf_counter() - began,
    )


def resolve_inputs(paths: Sequence[Path], *, output: Path | None = None) -> StitchInputs:
    """Loose clips, in the order they play."""
    if not paths:
        raise InputError("nothing to stitch", hint="give a run folder made by `tale render`, or video clips")
    if len(paths) == 1 and paths[0].is_dir():
        raise InputError(f"{paths[0]} is a folder", hint="a run folder is cut with `tale stitch RUN_DIR` alone")
    for path in paths:
        if path.is_dir():
            raise InputError(f"{path} is a folder", hint="give one run folder alone, or clip files")
    return StitchInputs(clips=list(paths), output=output if output is not None else Path("film.mp4"))


# ----------------------------------------------------------------------------------------------
# Checks


def _check_options(clips: Sequence[Path], options: StitchOptions) -> None:
    if not clips:
        raise InputError("nothing to stitch: no clips given")
    for name, value, low, high in (("width", options.width, 16, 8192), ("height", options.height, 16, 8192)):
        if not low <= value <= high or value % 2:
            raise InputError(f"{name} must be an even number of pixels from {low} to {high}, not {value}")
    if not 1 <= options.fps <= 240:
        raise InputError(f"fps must be from 1 to 240, not {options.fps}")
    if not 0 <= options.audio_volume <= 10:
        raise InputError(f"audio volume must be from 0 to 10, not {options.audio_volume}")
    if options.captions is not None and len(options.captions) != len(clips):
        raise InputError(f"{len(options.captions)} captions for {len(clips)} clips; give one per clip")
    if options.burn_subtitles and options.captions is None and options.cues is None:
        raise InputError("--burn-subtitles needs captions", hint="stitch a run folder, whose plan has the narration")


def _film_bytes(clips: Sequence[Path], options: StitchOptions) -> int:
    """About what the film takes on disk: its clips' bytes (what a stream copy writes), plus the music bed."""
    sources = [*clips, *([Path(options.audio)] if options.audio is not None else [])]
    return sum(path.stat().st_size for path in sources if path.is_file())


def _refuse_cut_short(clips: Sequence[Path]) -> None:
    """A clip whose index promises more than its file holds (a partial copy or download) is refused.

    Its container still claims the whole length, which a stream copy would report and a re-encode would
    pad with a frozen frame; so each clip is measured by where its samples lie, not by what it claims.
    """
    for clip in clips:
        extent = mp4_extent(clip)
        if extent is not None and not extent.complete:
            raise InputError(
                f"{clip} is cut short: its index promises {extent.promised_s:.2f} s, "
                f"the file holds {extent.held_s:.2f} s of video",
                hint="copy, download or render that clip again",
            )


def _check_film(part: Path, output: Path, film_s: float, fps: int, *, decode: bool) -> None:
    """The written film is checked like a shot before it may replace `output`: every frame's bytes in the file
    and whole, as long as planned within a frame, and (when it was encoded here) decodable at both ends.

    A stream copy is not decoded: its frames are the clips' own, and starting ffmpeg would cost more than the copy.
    """
    extent = mp4_extent(part)
    problem = mp4_damage(part)
    if problem is None and extent is not None and abs(extent.held_s - film_s) > 1 / fps + 1e-6:
        problem = f"it lasts {extent.held_s:.3f} s, not {film_s:.3f} s"
    if problem is None and decode:
        try:
            check_clip(part, expected_s=film_s, fps=fps)
        except ClipCheckError as error:
            problem = error.message
    if problem is not None:
        raise ClipCheckError(f"the stitched film failed its check ({problem}); {output} was left as it was")


def _srt_destination(output: Path, options: StitchOptions) -> Path | None:
    if options.captions is None and options.cues is None:
        return None
    return Path(options.srt_path) if options.srt_path is not None else output.with_suffix(".srt")


def _check_output(output: Path, srt_path: Path | None, clips: Sequence[Path]) -> str:
    """The container to write; refuses, before any work, an output that cannot or must not be written."""
    for path in (output, srt_path):
        if path is None:
            continue
        if path.is_dir():
            raise OutputError(f"{path} is a folder, not a file name")
        for parent in path.parents:
            if parent.exists():
                if not parent.is_dir():
                    raise OutputError(f"{parent} is a file, so {path} cannot be written")
                if not os.access(parent, os.W_OK | os.X_OK):
                    raise OutputError(f"cannot write to the folder {parent}")
                break
    container = OUTPUT_FORMATS.get(output.suffix.lower())
    if container is None:
        raise OutputError(f"{output}: the film must be an .mp4, .m4v or .mov file")
    resolved = output.resolve()
    if any(clip.resolve() == resolved for clip in clips):
        raise OutputError(f"{output} is one of the clips; write the film somewhere else")
    return container


def _make_parent(path: Path) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise OutputError(f"cannot create the folder {path.parent}: {error.strerror}") from None


def _frames(info: ClipInfo, fps: int) -> int:
    return max(1, round(info.duration_s * fps))


def _check_transition(infos: Sequence[ClipInfo], durations: Sequence[float], transition_s: float, fps: int) -> None:
    """Each clip must outlast its fades (two for a middle clip) by at least a frame."""
    if transition_s == 0 or len(infos) < 2:
        return
    last = len(infos) - 1
    for position, (info, duration) in enumerate(zip(infos, durations, strict=True)):
        fades = 2 if 0 < position < last else 1
        if duration < fades * transition_s + 1 / fps - 1e-9:
            raise InputError(
                f"{info.path} lasts {duration:.2f} s, too short for {fades} fade(s) of {transition_s:g} s",
                hint="use a shorter fade, e.g. --transition fade:0.25",
            )


def _copyable_clips(clips: Sequence[Path], options: StitchOptions) -> list[ClipInfo] | None:
    """The clips' facts when they can be joined by stream copy into exactly the film asked for, else None.

    Read from the MP4 indexes in Python: deciding costs a millisecond, not an ffmpeg start per clip.
    """
    facts = []
    for clip in clips:
        fact = mp4_facts(clip)
        if fact is None:
            return None
        facts.append(fact)
    for info in (fact.info for fact in facts):
        if (
            (info.width, info.height) != (options.width, options.height)
            or not math.isclose(info.fps, options.fps, abs_tol=1e-3)
            or (info.video_codec, info.video_profile, info.pixel_format) != ("h264", "High", "yuv420p")
            or (info.audio_codec, info.audio_profile, info.audio_channels) != ("aac", "LC", "stereo")
            or info.audio_rate != options.encode.audio_rate
            or any(char in str(info.path) for char in "\r\n")
        ):
            return None
    # One decoder configuration (SPS/PPS) is kept for the whole output, so the clips' must be the same bytes.
    if len({fact.info.stream_signature() for fact in facts}) != 1 or len({fact.video_config for fact in facts}) != 1:
        return None
    return [fact.info for fact in facts]


# ----------------------------------------------------------------------------------------------
# ffmpeg arguments


class _Pipes:
    """Text handed to ffmpeg as files in memory (memfd, named /dev/fd/N in ffmpeg's process): a sealed run's words are
    never a file in the clear, not even in a temporary folder. (A named pipe will not do: libass opens its file twice.)"""

    def __init__(self) -> None:
        self.fds: list[int] = []

    def feed(self, path: Path, data: bytes) -> Path:
        if not hasattr(os, "memfd_create"):
            raise OutputError("a sealed run's subtitles are made in memory, which this system cannot do (Linux can)")
        fd = os.memfd_create(path.name)
        self.fds.append(fd)
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        return Path(f"/dev/fd/{fd}")

    def close(self) -> None:
        for fd in self.fds:
            os.close(fd)


@contextlib.contextmanager
def _pipes(options: StitchOptions) -> Iterator[_Pipes | None]:
    if options.seal is None:
        yield None
        return
    pipes = _Pipes()
    try:
        yield pipes
    finally:
        pipes.close()


def _write_listing(listing: Path, infos: Sequence[ClipInfo]) -> None:
    # Under a locale that is not UTF-8, Python holds a non-ASCII path's bytes as surrogates; writing them back
    # with surrogateescape gives ffmpeg the file's real name, byte for byte.
    text = "".join(_concat_list_line(info.path) for info in infos)
    listing.write_text(text, encoding="utf-8", errors="surrogateescape")


def _concat_list_line(path: Path) -> str:
    quoted = opened_input(path).replace("'", "'\\''")  # a sealed clip: its copy opened in memory
    return f"file '{quoted}'\n"


def _copy_args(infos: Sequence[ClipInfo], srt: Path | None, work: Path) -> list[str]:
    listing = work / "clips.txt"
    _write_listing(listing, infos)
    args = ["-f", "concat", "-safe", "0", "-i", input_arg(listing)]
    maps = ["-map", "0:v:0", "-map", "0:a:0"]
    if srt is not None:
        args += ["-f", "srt", "-i", input_arg(srt)]
        maps += ["-map", "1:0", "-c:s", "mov_text"]
    return [*args, *maps, "-c:v", "copy", "-c:a", "copy"]


def _encode_args(
    infos: Sequence[ClipInfo],
    durations: Sequence[float],
    cues: Sequence[Cue],
    transition_s: float,
    srt: Path | None,
    work: Path,
    options: StitchOptions,
    pipes: _Pipes | None = None,
) -> list[str]:
    width, height, fps = options.width, options.height, options.fps
    rate = options.encode.audio_rate
    inputs: list[str] = []
    for info in infos:
        inputs += ["-i", input_arg(info.path)]
    chains: list[str] = []
    samples: list[int] = []
    for index, (info, duration) in enumerate(zip(infos, durations, strict=True)):
        frames = round(duration * fps)
        fit = (
            f"scale={width}:{height}:force_original_aspect_ratio=decrease:force_divisible_by=2,"
            f"pad={width}:{height}:-1:-1:color=black,"
            if (info.width, info.height) != (width, height)
            else ""  # already the film's size: scaling would only cost time
        )
        chains.append(
            f"[{index}:v:0]setpts=PTS-STARTPTS,{fit}setsar=1,fps={fps},format=yuv420p,"
            f"tpad=stop=-1:stop_mode=clone,trim=end_frame={frames}[v{index}]"
        )
        count = round(duration * rate)
        samples.append(count)
        source = f"[{index}:a:0]asetpts=PTS-STARTPTS,aresample={rate}" if info.has_audio else (
            f"anullsrc=channel_layout=stereo:sample_rate={rate}"
        )  # fmt: skip
        chains.append(
            f"{source},aformat=sample_fmts=fltp:channel_layouts=stereo,"
            f"apad=whole_len={count},atrim=end_sample={count}[a{index}]"
        )

    video, audio = _join(chains, durations, transition_s, rate)
    fade_samples = round(transition_s * rate)
    total_samples = sum(samples) - (len(infos) - 1) * fade_samples

    if options.burn_subtitles:
        chains.append(f"[{video}]{_burn_filter(cues, work, options, pipes)}[burned]")
        video = "burned"
    next_input = len(infos)
    if options.audio is not None:
        inputs += ["-stream_loop", "-1", "-i", input_arg(Path(options.audio))]
        chains += _bed_chains(f"{next_input}:a:0", audio, total_samples, options)
        audio = "mixed"
        next_input += 1
    maps = ["-map", f"[{video}]", "-map", f"[{audio}]"]
    if srt is not None and not options.burn_subtitles:
        inputs += ["-f", "srt", "-i", input_arg(srt)]
        maps += ["-map", f"{next_input}:0", "-c:s", "mov_text"]
    return [
        *inputs,
        "-filter_complex", ";".join(chains),
        *maps,
        *options.encode.video_args(fps),
        *options.encode.audio_args(),
    ]  # fmt: skip


def _burn_filter(cues: Sequence[Cue], work: Path, options: StitchOptions, pipes: _Pipes | None) -> str:
    """The libass filter that draws the captions, from an ASS file with its own font (a named pipe in a sealed run)."""
    font_name, fonts_dir = _caption_font(cues, work)
    captions = work / "captions.ass"
    text = _ass_text(cues, options.width, options.height, font_name)
    if pipes is not None:
        captions = pipes.feed(captions, text.encode("utf-8"))
    else:
        captions.write_text(text, encoding="utf-8")
    # Two levels of escaping: the option value inside the filter, then the filter graph.
    burn = f"subtitles=filename={filter_escape(filter_escape(str(captions)))}"
    if fonts_dir is not None:
        burn += f":fontsdir={filter_escape(filter_escape(str(fonts_dir)))}"
    return burn


def _bed_chains(bed: str, audio: str, total_samples: int, options: StitchOptions) -> list[str]:
    """The music bed (looped, trimmed to the film) mixed under the film's own sound, as `[mixed]`."""
    rate = options.encode.audio_rate
    return [
        f"[{bed}]asetpts=PTS-STARTPTS,aresample={rate},"
        f"aformat=sample_fmts=fltp:channel_layouts=stereo,volume={options.audio_volume:g},"
        f"atrim=end_sample={total_samples}[bed]",
        f"[{audio}][bed]amix=inputs=2:duration=first:dropout_transition=0:normalize=0[mixed]",
    ]


def _uniform_args(
    infos: Sequence[ClipInfo],
    durations: Sequence[float],
    cues: Sequence[Cue],
    srt: Path | None,
    work: Path,
    options: StitchOptions,
    pipes: _Pipes | None = None,
) -> list[str]:
    """Matching clips read as one stream: only what was asked (burn, music) is filtered and re-encoded."""
    listing = work / "clips.txt"
    _write_listing(listing, infos)
    inputs = ["-f", "concat", "-safe", "0", "-i", input_arg(listing)]
    chains: list[str] = []
    maps: list[str] = []
    codecs: list[str] = []
    if options.burn_subtitles:
        chains.append(f"[0:v:0]{_burn_filter(cues, work, options, pipes)}[burned]")
        maps += ["-map", "[burned]"]
        codecs += options.encode.video_args(options.fps)
    else:
        maps += ["-map", "0:v:0"]
        codecs += ["-c:v", "copy"]
    if options.audio is not None:
        inputs += ["-stream_loop", "-1", "-i", input_arg(Path(options.audio))]
        total_samples = round(sum(durations) * options.encode.audio_rate)
        chains += _bed_chains("1:a:0", "0:a:0", total_samples, options)
        maps += ["-map", "[mixed]"]
        codecs += options.encode.audio_args()
    else:
        maps += ["-map", "0:a:0"]
        codecs += ["-c:a", "copy"]
    if srt is not None and not options.burn_subtitles:
        inputs += ["-f", "srt", "-i", input_arg(srt)]
        srt_input = 2 if options.audio is not None else 1
        maps += ["-map", f"{srt_input}:0", "-c:s", "mov_text"]
    graph = ["-filter_complex", ";".join(chains)] if chains else []
    return [*inputs, *graph, *maps, *codecs]


def _join(chains: list[str], durations: Sequence[float], transition_s: float, rate: int) -> tuple[str, str]:
    """Append the chains that join the normalised clips; returns the labels of the joined picture and sound."""
    count = len(durations)
    if transition_s == 0:
        pads = "".join(f"[v{index}][a{index}]" for index in range(count))
        chains.append(f"{pads}concat=n={count}:v=1:a=1[joined_v][joined_a]")
        return "joined_v", "joined_a"
    video, audio = "v0", "a0"
    elapsed = durations[0]
    for index in range(1, count):
        offset = elapsed - transition_s
        chains.append(
            f"[{video}][v{index}]xfade=transition=fade:duration={transition_s:.6f}:offset={offset:.6f}[xv{index}]"
        )
        chains.append(f"[{audio}][a{index}]acrossfade=ns={round(transition_s * rate)}[xa{index}]")
        video, audio = f"xv{index}", f"xa{index}"
        elapsed = offset + durations[index]
    return video, audio


# ----------------------------------------------------------------------------------------------
# Caption text


def _srt_time(seconds: float) -> str:
    millis = max(0, round(seconds * 1000))
    hours, millis = divmod(millis, 3_600_000)
    minutes, millis = divmod(millis, 60_000)
    secs, millis = divmod(millis, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d},{millis:03d}"


def _ass_time(seconds: float) -> str:
    centis = max(0, round(seconds * 100))
    hours, centis = divmod(centis, 360_000)
    minutes, centis = divmod(centis, 6000)
    secs, centis = divmod(centis, 100)
    return f"{hours}:{minutes:02d}:{secs:02d}.{centis:02d}"


def _ass_escape(text: str) -> str:
    """Text libass draws literally: braces escaped, a backslash kept from starting an override."""
    out = []
    for char in text:
        if char == "\\":
            out.append("\\\u2060")  # a word joiner after it: `\n`, `\N`, `\h` stay two visible characters
        elif char in "{}":
            out.append("\\" + char)
        elif char == "\n":
            out.append("\\N")
        else:
            out.append(char)
    return "".join(out)


def _caption_font(cues: Sequence[Cue], work: Path) -> tuple[str, Path | None]:
    """The family name and a folder holding the one font file that can draw every cue (Hangul included).

    Giving libass that font directly makes TALE_FONT and fonts outside fontconfig work too.
    """
    from tale_cli.media.fonts import font_for

    font = font_for(" ".join(cue.text for cue in cues))
    if font is None:
        return "Sans", None
    try:
        from PIL import ImageFont

        family = ImageFont.truetype(font, 12).getname()[0]
    except (OSError, ValueError):
        return "Sans", None
    if not family:
        return "Sans", None
    folder = work / "fonts"
    folder.mkdir()
    link = folder / ("caption" + Path(font).suffix.lower())
    try:
        link.symlink_to(font)
    except OSError:
        shutil.copyfile(font, link)
    return family, folder


def _ass_text(cues: Sequence[Cue], width: int, height: int, font_name: str = "Sans") -> str:
    """Burned captions as an ASS script laid out for the film's size and shape (tale_cli.film.captions)."""
    from tale_cli.film.captions import caption_layout, wrap_caption

    layout = caption_layout(width, height)
    size, outline, margin_h, margin_v = layout.font_size, layout.outline, layout.margin_h, layout.margin_v
    events = "".join(
        f"Dialogue: 0,{_ass_time(cue.start_s)},{_ass_time(cue.end_s)},Narration,,0,0,0,,"
        f"{_ass_escape(wrap_caption(cue.text, layout))}\n"
        for cue in cues
    )
    return (
        "[Script Info]\nScriptType: v4.00+\n"
        f"PlayResX: {width}\nPlayResY: {height}\nWrapStyle: 0\nScaledBorderAndShadow: yes\n\n"
        "[V4+ Styles]\n"
        "Format: Name, Fontname, Fontsize, PrimaryColour, SecondaryColour, OutlineColour, BackColour, Bold, "
        "Italic, Underline, StrikeOut, ScaleX, ScaleY, Spacing, Angle, BorderStyle, Outline, Shadow, Alignment, "
        "MarginL, MarginR, MarginV, Encoding\n"
        f"Style: Narration,{font_name.replace(',', ' ')},{size},&H00FFFFFF,&H000000FF,&H00000000,&H80000000,"
        f"0,0,0,0,100,100,0,0,1,{outline},0,2,{margin_h},{margin_h},{margin_v},1\n\n"
        "[Events]\nFormat: Layer, Start, End, Style, Name, MarginL, MarginR, MarginV, Effect, Text\n"
        f"{events}"
    )
