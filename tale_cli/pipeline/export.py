"""The cut as an editorial timeline (OpenTimelineIO): for Final Cut Pro, Premiere, Resolve and any EDL reader.

One video track holds the current clip of every shot at its cut point; the run's voice and music files, when
it has them, lie on audio tracks; what each shot says is a marker on its clip, one for each narration and line in the
order they are said, spanning the part of the shot it is said in (the animatic's caption), and the cut's subtitles go
beside the timeline as an SRT. Media are named by paths relative to the timeline file, so the run folder can
be moved (or sent) with its timeline in it. OpenTimelineIO and its adapters are the `export` extra.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path, PurePath
from typing import Any
from urllib.parse import quote

from tale_cli.errors import InputError, missing_extra
from tale_cli.files import atomic_write_text
from tale_cli.film.stitch import cues_for, srt_text
from tale_cli.film.subtitles import film_cues, shot_captions
from tale_cli.film.tracks import AUDIO_SUFFIXES
from tale_cli.film.voice import spoken_times
from tale_cli.media.ffmpeg import probe_audio
from tale_cli.run.folder import Manifest, RunFolder
from tale_cli.run.open import held
from tale_cli.story.pace import caption_spans, estimated_times
from tale_cli.story.plan import NARRATION_CHARS, PROMPT_CHARS, Plan, load_plan
from tale_cli.story.text import one_line, without_controls


@dataclass(frozen=True)
class ExportFormat:
    adapter: str
    package: str
    suffix: str
    what: str


FORMATS: dict[str, ExportFormat] = {
    "otio": ExportFormat("otio_json", "opentimelineio", ".otio", "OpenTimelineIO"),
    "fcpxml": ExportFormat("fcpx_xml", "otio-fcpx-xml-adapter", ".fcpxml", "Final Cut Pro X XML"),
    "premiere": ExportFormat("fcp_xml", "otio-fcp-adapter", ".xml", "Final Cut Pro 7 XML (Premiere Pro, Resolve)"),
    "edl": ExportFormat("cmx_3600", "otio-cmx3600-adapter", ".edl", "CMX 3600 EDL (the picture cut and markers)"),
}
# The frame rates FCP X XML has a frame duration for (the adapter's table; Final Cut's own project rates).
FCPX_RATES = (24, 25, 30, 50, 60)
# Names in a timeline are one line: a title or a clip's name with a line break in it would start a new line
# (an event, in an EDL) in every line-oriented format.
TITLE_CHARS = 200
NAME_CHARS = 120
# CMX 3600 readers take lines of up to 80 bytes: the title's, and a locator's after its fixed fields
# ("* LOC: 00:00:00:00 YELLOW  ", 27 bytes).
EDL_LINE_CHARS = 80
EDL_TITLE_CHARS = EDL_LINE_CHARS - len("TITLE: ")
EDL_LOCATOR_CHARS = EDL_LINE_CHARS - len("* LOC: 00:00:00:00 YELLOW  ")
_SHOT_NUMBER = re.compile(r"shot-?(\d+)", re.IGNORECASE)


@dataclass
class ExportResult:
    path: Path
    format: str
    clips: int
    duration_s: float
    markers: int
    srt: Path
    audio: list[str] = field(default_factory=list)
    media: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "timeline": str(self.path),
            "format": self.format,
            "clips": self.clips,
            "duration_s": round(self.duration_s, 3),
            "markers": self.markers,
            "srt": str(self.srt),
            "audio": self.audio,
            "media": self.media,
        }


@dataclass(frozen=True)
class _Audio:
    path: Path
    start_s: float
    seconds: float


def export_timeline(
    run_dir: Path,
    *,
    fmt: str,
    out: Path | None = None,
    wait: bool = True,
    on_wait: Callable[[str], None] | None = None,
) -> ExportResult:
    """Write the run's cut as `fmt` (a key of FORMATS) to `out` (default RUN_DIR/film.<suffix>) and its subtitles
    beside it; the run folder is held meanwhile, as a render holds it, so no shot changes under the export."""
    if fmt not in FORMATS:
        raise InputError(f"unknown export format '{fmt}'", hint="valid formats are: " + ", ".join(FORMATS))
    otio = _opentimelineio(FORMATS[fmt])
    if not (run_dir / "plan.json").is_file():
        raise InputError(f"{run_dir} is not a run folder (no plan.json)", hint="give a folder made by `tale render`")
    # A private run's plan.json is owner-only: so are the files the export adds to its folder.
    folder = RunFolder(run_dir, private=(run_dir / "plan.json").stat().st_mode & 0o077 == 0)
    with held(folder, "exporting", wait=wait, say=on_wait):
        return _export(otio, folder, fmt, out)


def _opentimelineio(chosen: ExportFormat) -> Any:
    """The opentimelineio module, with the adapter `chosen` needs; a missing one is the `export` extra's error."""
    try:
        import opentimelineio as otio
    except ImportError:
        raise missing_extra("export", "opentimelineio") from None
    if chosen.adapter not in otio.adapters.available_adapter_names():
        raise missing_extra("export", chosen.package)
    return otio


def _export(otio: Any, folder: RunFolder, fmt: str, out: Path | None) -> ExportResult:
    chosen = FORMATS[fmt]
    plan = load_plan(folder.plan)
    clips = [folder.shot_file(shot.index) for shot in plan.shots]
    missing = [clip for clip in clips if not clip.is_file()]
    if missing:
        raise InputError(
            f"{missing[0]} is missing ({len(missing)} of {len(clips)} shots have no clip)",
            hint=f"run `tale render {folder.plan}` first",
        )
    if fmt == "fcpxml" and plan.fps not in FCPX_RATES:
        raise InputError(
            f"Final Cut Pro X XML takes {', '.join(map(str, FCPX_RATES))} fps and this film is {plan.fps} fps",
            hint="export --format premiere (FCP 7 XML) or otio, or render at one of those rates",
        )
    out = out if out is not None else folder.root / f"film{chosen.suffix}"
    if out.is_dir():
        raise InputError(f"{out} is a folder", hint=f"give a file name, e.g. {out / ('film' + chosen.suffix)}")
    out.parent.mkdir(parents=True, exist_ok=True)
    fade = _fade_of(folder)
    film_s = plan.duration_s - fade * (len(plan.shots) - 1)
    audio = {"Voice": _voice(folder.root, plan, fade), "Music": _music(folder.root, film_s)}
    if fmt == "edl":
        audio = {}  # an EDL is the picture cut: it names no audio file
    said = _said(folder, plan, fade)
    timeline, media = _timeline(otio, plan, clips, audio, said, base=out.parent, fade=fade)
    try:
        text = _written(otio, timeline, fmt, plan)
    except Exception:  # an adapter that cannot write a dissolve: cut at the middle of each fade instead
        if not fade:
            raise
        timeline, media = _timeline(otio, plan, clips, audio, said, base=out.parent, fade=fade, dissolves=False)
        text = _written(otio, timeline, fmt, plan)
    markers = sum(len(clip.markers) for clip in timeline.tracks[0].find_clips())
    atomic_write_text(out, text, mode=folder.file_mode)
    srt = _subtitles(folder, plan, out)
    return ExportResult(
        path=out,
        format=fmt,
        clips=len(clips),
        duration_s=film_s,
        markers=markers,
        srt=srt,
        audio=[_relative(item.path, out.parent) for items in audio.values() for item in items],
        media=media,
    )


def _written(otio: Any, timeline: Any, fmt: str, plan: Plan) -> str:
    """The timeline as the text of `fmt`, with what its adapter leaves out put in."""
    if fmt == "edl":
        return _edl(otio, timeline)
    text = str(otio.adapters.write_to_string(timeline, FORMATS[fmt].adapter))
    if fmt == "fcpxml":
        return _fcpx_frame_size(text, plan)
    if fmt == "premiere":
        return _fcp7_frame_size(text, plan)
    return text


def _edl(otio: Any, timeline: Any) -> str:
    """CMX 3600 as EDL readers expect it, where the adapter writes otherwise: a reel name per shot (SHOT01; the
    adapter would make `shot01mp` of shot-01.mp4), each locator at its record time (the adapter writes the time
    in the clip, 00:00:00:00 for every shot), the title and the locators within a line's 80 bytes (measured in
    capitals, as the adapter writes a locator), and the frame count's mode after the title."""
    timeline.name = _edl_field(timeline.name, EDL_TITLE_CHARS)
    track = timeline.tracks[0]
    for clip in track.find_clips():
        clip.metadata["cmx_3600"] = {"reel": f"SHOT{clip.metadata['tale']['shot']:02d}"}
        record = track.range_of_child(clip).start_time
        for marker in clip.markers:
            at = record + (marker.marked_range.start_time - clip.source_range.start_time)
            marker.marked_range = otio.opentime.TimeRange(at, marker.marked_range.duration)
            marker.name = _edl_field(marker.name.upper(), EDL_LOCATOR_CHARS)
    title, _, events = str(otio.adapters.write_to_string(timeline, FORMATS["edl"].adapter)).partition("\n")
    return f"{title}\nFCM: NON-DROP FRAME\n{events}"


def _edl_field(text: str, limit: int) -> str:
    """`text` as one line of at most `limit` bytes (an EDL reader counts bytes; Hangul takes three each)."""
    chars = limit
    line = one_line(text, chars)
    while len(line.encode("utf-8")) > limit:
        chars -= 1
        line = one_line(text, chars)
    return line


def _fade_of(folder: RunFolder) -> float:
    """The crossfade the film was stitched with, in seconds (0 for cuts)."""
    from tale_cli.film.stitch import parse_transition
    from tale_cli.run.recipe import cut_record

    data = Manifest.read(folder.manifest)
    film = cut_record(data) if data is not None else None
    try:
        return parse_transition(film.transition if film is not None else None)
    except InputError:
        return 0.0


def _said(folder: RunFolder, plan: Plan, fade: float) -> list[list[tuple[str, float, float]]]:
    """Each shot's markers: what it says, in order ("Name: words" for a line), and the part of the shot (seconds
    from its start) each is on screen, as the animatic's caption shows it: where the run's voice track says it,
    else where it would be said at a natural pace."""
    data = Manifest.read(folder.manifest)
    voice = data.voice if data is not None else None
    names = {character.id: character.name for character in plan.characters}
    said: list[list[tuple[str, float, float]]] = []
    start = 0.0
    for shot in plan.shots:
        speech = [item for item in shot.speech if item.text.strip()]
        clips = [
            (c.start_s, c.seconds, c.text) for c in (voice.clips if voice else []) if c.shot == shot.index and c.text
        ]
        spoken = spoken_times(plan, shot, clips) if clips else None
        times = (
            [(begin - start, end - start) for begin, end in spoken]
            if spoken is not None
            else estimated_times([item.text for item in speech], shot.duration_s)
        )
        markers = []
        for item, (begin, end) in zip(speech, caption_spans(times, shot.duration_s), strict=True):
            text = one_line(item.text if item.narrated else f"{names[item.who]}: {item.text}", NARRATION_CHARS)
            if text:
                markers.append((text, begin, end))
        said.append(markers)
        start += shot.duration_s - fade
    return said


def _timeline(
    otio: Any,
    plan: Plan,
    clips: list[Path],
    audio: dict[str, list[_Audio]],
    said: list[list[tuple[str, float, float]]],
    *,
    base: Path,
    fade: float = 0.0,
    dissolves: bool = True,
) -> tuple[Any, list[str]]:
    """The OTIO timeline of the cut, an audio track per non-empty list of `audio`; and every media path it names,
    relative to `base`. A film stitched with crossfades of `fade` seconds is cut at the middle of each fade, where
    its picture changes, and (with `dissolves`) a dissolve spans the fade, made of the half a fade each clip keeps
    beyond its cut: the timeline lasts what the film lasts, and its sound stays where the film has it."""
    rate = plan.fps
    half = round(fade / 2 * rate) / rate
    last = len(plan.shots) - 1

    def span(start_s: float, seconds: float) -> Any:
        start = otio.opentime.RationalTime(round(start_s * rate), rate)
        return otio.opentime.TimeRange(start, otio.opentime.RationalTime(max(1, round(seconds * rate)), rate))

    def reference(path: Path, seconds: float) -> Any:
        return otio.schema.ExternalReference(target_url=quote(_relative(path, base)), available_range=span(0, seconds))

    # Every text the plan gives is written without control characters (a hand-edited plan.json may hold them,
    # and no XML document can), and every name as one line.
    timeline = otio.schema.Timeline(name=one_line(plan.title, TITLE_CHARS) or plan.slug)
    timeline.global_start_time = otio.opentime.RationalTime(0, rate)
    timeline.metadata["tale"] = {"slug": plan.slug, "aspect": plan.aspect, "width": plan.width, "height": plan.height}
    shots = otio.schema.Track(name="Shots", kind=otio.schema.TrackKind.Video)
    for position, (shot, clip_file) in enumerate(zip(plan.shots, clips, strict=True)):
        head = half if position > 0 else 0.0
        shown = shot.duration_s - head - (half if position < last else 0.0)
        clip = otio.schema.Clip(
            name=f"Shot {shot.index}",
            media_reference=reference(clip_file, shot.duration_s),
            source_range=span(head, shown),
        )
        clip.metadata["tale"] = {
            "shot": shot.index,
            "prompt": without_controls(shot.prompt)[:PROMPT_CHARS],
            "camera": one_line(shot.camera, NAME_CHARS),
        }
        for text, begin, end in said[position]:
            # Within the part of the shot the cut shows: a shot's only words span it, as they always have.
            since, until = round(max(begin, head) * rate), round(min(end, head + shown) * rate)
            if until > since:  # in whole frames, so one marker ends where the next begins
                marker = otio.schema.Marker(name=text, marked_range=span(since / rate, (until - since) / rate))
                marker.color = otio.schema.MarkerColor.YELLOW
                clip.markers.append(marker)
        if position > 0 and half > 0 and dissolves:
            offset = otio.opentime.RationalTime(round(half * rate), rate)
            shots.append(
                otio.schema.Transition(
                    name="Cross Dissolve", transition_type=otio.schema.TransitionTypes.SMPTE_Dissolve,
                    in_offset=offset, out_offset=offset,
                )
            )  # fmt: skip
        shots.append(clip)
    timeline.tracks.append(shots)
    media = [_relative(path, base) for path in clips]
    for name, items in audio.items():
        if not items:
            continue
        track = otio.schema.Track(name=name, kind=otio.schema.TrackKind.Audio)
        cursor = 0.0
        for item in items:
            start = max(item.start_s, cursor)
            if start > cursor:
                track.append(otio.schema.Gap(source_range=span(0, start - cursor)))
            track.append(
                otio.schema.Clip(
                    name=one_line(item.path.stem, NAME_CHARS), media_reference=reference(item.path, item.seconds),
                    source_range=span(0, item.seconds),
                )
            )  # fmt: skip
            cursor = start + round(item.seconds * rate) / rate
            media.append(_relative(item.path, base))
        timeline.tracks.append(track)
    return timeline, media


def _voice(root: Path, plan: Plan, fade: float = 0.0) -> list[_Audio]:
    """voice/*: a file named for a shot (shot-03.wav, shot-03-2.wav) starts with that shot, others with the film."""
    folder = root / "voice"
    if not folder.is_dir():
        return []
    starts: dict[int, float] = {}
    elapsed = 0.0
    for position, shot in enumerate(plan.shots):
        starts[shot.index] = elapsed + (fade / 2 if position > 0 else 0.0)  # its cut: the middle of the fade
        elapsed += shot.duration_s - fade
    found: list[_Audio] = []
    for path in sorted(p for p in folder.iterdir() if p.suffix.lower() in AUDIO_SUFFIXES and p.is_file()):
        number = _SHOT_NUMBER.search(path.stem)
        start = starts.get(int(number.group(1)), 0.0) if number else 0.0
        film_s = plan.duration_s - fade * (len(plan.shots) - 1)
        found.append(_Audio(path, start, min(probe_audio(path), film_s - start)))
    return sorted(found, key=lambda item: (item.start_s, item.path.name))


def _music(root: Path, film_s: float) -> list[_Audio]:
    """A music bed kept in the run folder (music.wav, music.mp3…), from the film's start, cut at its end."""
    for path in sorted(root.glob("music.*")):
        if path.suffix.lower() in AUDIO_SUFFIXES and path.is_file():
            return [_Audio(path, 0.0, min(probe_audio(path), film_s))]
    return []


def _subtitles(folder: RunFolder, plan: Plan, out: Path) -> Path:
    """The cut's subtitles beside the timeline (NAME.srt); in the run folder that is film.srt, kept as stitched."""
    srt = out.with_suffix(".srt")
    if srt == folder.srt and srt.is_file():
        return srt
    data = Manifest.read(folder.manifest)
    cues = film_cues(plan, data.voice if data is not None else None)
    film = data.film if data is not None else None
    if cues is not None and film is not None and film.dialogue_cues:
        from tale_cli.film.dialogue import merged
        from tale_cli.film.subtitles import Cue

        cues = merged(cues, [Cue(float(a), float(b), str(text)) for a, b, text in film.dialogue_cues])
    if cues is None:
        cues = cues_for([shot.duration_s for shot in plan.shots], shot_captions(plan), _fade_of(folder))
    atomic_write_text(srt, srt_text(cues), mode=folder.file_mode)
    return srt


def _relative(path: Path, base: Path) -> str:
    return PurePath(os.path.relpath(path.resolve(), base.resolve())).as_posix()


def _fcpx_frame_size(text: str, plan: Plan) -> str:
    """Give FCP X's formats the film's frame size: the adapter names a format by asking ffprobe (which Tale does
    not ship) and leaves its size out, and Final Cut needs it to open a vertical or square project as such."""

    def sized(match: re.Match[str]) -> str:
        attributes = re.sub(r'\s(?:name=""|width="\d*"|height="\d*")', "", match.group(1))
        return f'<format{attributes} width="{plan.width}" height="{plan.height}"{match.group(2)}>'

    return re.sub(r"<format\b([^>]*?)(\s*/?)>", sized, text)


def _fcp7_frame_size(text: str, plan: Plan) -> str:
    """Fill the sequence's empty <format/> (the adapter leaves it for Resolve to find) with the film's frame, so
    Premiere and Resolve open the sequence vertical or square rather than at their default 1920x1080."""
    frame = (
        f"<format><samplecharacteristics><rate><timebase>{plan.fps}</timebase><ntsc>FALSE</ntsc></rate>"
        f"<width>{plan.width}</width><height>{plan.height}</height><pixelaspectratio>square</pixelaspectratio>"
        "<fielddominance>none</fielddominance></samplecharacteristics></format>"
    )
    return text.replace("<format/>", frame, 1)
