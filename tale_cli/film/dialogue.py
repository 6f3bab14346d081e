"""Dialogue in the clip (`[voice] dialogue = "clip"`): for a video model whose clips carry sound, a shot's lines go
into its video request so the character speaks them on screen, lips and all. The voice backend then speaks the
narration only; the clip's own speech stays in the mix (ducked only under narration), and its subtitle is timed
from the speech heard in the clip, not guessed."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from tale_cli.errors import RecipeError

if TYPE_CHECKING:
    from tale_cli.backends.base import VideoCapabilities
    from tale_cli.config import Recipe
    from tale_cli.film.subtitles import Cue
    from tale_cli.story.plan import Plan, Shot

# Speech in a clip's sound: louder than this for at least MIN_SPEECH_S (ffmpeg silencedetect's noise floor).
SPEECH_FLOOR_DB = -35.0
MIN_SILENCE_S = 0.25
MIN_SPEECH_S = 0.3


def in_clip(recipe: Recipe) -> bool:
    """Whether the recipe's lines are spoken by the video model inside its clips."""
    return recipe.voice.dialogue == "clip"


def check_dialogue(recipe: Recipe, capabilities: VideoCapabilities, backend_name: str) -> None:
    """Refused before anything is spent: dialogue in the clip from a model whose clips carry no sound."""
    if not in_clip(recipe):
        return
    if not capabilities.speaks:
        raise RecipeError(
            f'dialogue = "clip" needs a video model whose clips carry sound; the {backend_name} backend\'s '
            f"{recipe.video.model or 'model'} makes silent clips",
            hint='set dialogue = "overlay" in [voice], or use a model with sound (Veo 3.1, Gemini Omni, Seedance 2)',
        )
    if not recipe.video.audio:
        raise RecipeError(
            'dialogue = "clip" needs the clips\' own sound: set audio = true in [video]',
            hint='or set dialogue = "overlay" in [voice] to have the voice backend speak the lines',
        )


def speaker_name(plan: Plan, speaker: str) -> str:
    from tale_cli.story.plan import NARRATOR

    return "The narrator" if speaker == NARRATOR else plan.character(speaker).name


def dialogue_prompt(plan: Plan, shot: Shot) -> str:
    """The shot's prompt with its lines as the model is asked to say them: each line quoted after its speaker."""
    said = [f'{speaker_name(plan, line.speaker)} says: "{_quoted(line.text)}"' for line in shot.lines if line.text]
    if not said:
        return shot.prompt
    return f"{shot.prompt.rstrip()} {' '.join(said)} The lines are spoken aloud on screen, lips in sync."


def _quoted(text: str) -> str:
    return re.sub(r"\s+", " ", text.replace('"', "'")).strip()


def with_dialogue(plan: Plan, recipe: Recipe) -> Plan:
    """The plan as the video model sees it: with dialogue in the clip, each shot's lines in its prompt."""
    if not in_clip(recipe) or not any(shot.lines for shot in plan.shots):
        return plan
    shots = [
        shot.model_copy(update={"prompt": dialogue_prompt(plan, shot)}) if shot.lines else shot for shot in plan.shots
    ]
    return plan.model_copy(update={"shots": shots})


@dataclass(frozen=True)
class Heard:
    """Where speech is heard in a clip's sound, in seconds from its start; nothing when it has no sound."""

    spans: tuple[tuple[float, float], ...]

    @property
    def speaks(self) -> bool:
        return any(end - start >= MIN_SPEECH_S for start, end in self.spans)

    @property
    def first_to_last(self) -> tuple[float, float] | None:
        if not self.spans:
            return None
        return self.spans[0][0], self.spans[-1][1]


_SILENCE = re.compile(r"silence_(start|end): (-?[\d.]+)")


def heard_in(clip: Path) -> Heard:
    """The stretches of a clip's sound above the speech floor (ffmpeg silencedetect)."""
    from tale_cli.media.ffmpeg import input_arg, probe, run_ffmpeg

    info = probe(clip)
    if not info.has_audio:
        return Heard(())
    stderr = run_ffmpeg(
        ["-nostats", "-i", input_arg(clip), "-vn",
         "-af", f"silencedetect=noise={SPEECH_FLOOR_DB}dB:d={MIN_SILENCE_S}", "-f", "null", "-"]
    )  # fmt: skip
    spans: list[tuple[float, float]] = []
    at: float | None = 0.0
    for kind, value in _SILENCE.findall(stderr):
        moment = max(0.0, float(value))
        if kind == "start":
            if at is not None and moment - at > 0.0:
                spans.append((at, moment))
            at = None
        else:
            at = moment
    if at is not None and info.duration_s - at > 0.0:
        spans.append((at, info.duration_s))
    return Heard(tuple((round(a, 3), round(b, 3)) for a, b in spans if b - a >= 0.05))


def clip_line_cues(plan: Plan, clips: list[Path], transition_s: float = 0.0) -> list[Cue]:
    """The subtitles of the lines said inside the clips: each shot's lines on screen while speech is heard in its
    clip (from the first sound to the last, shared by how long each line takes to say); a clip in which nothing
    is heard shows them over its part of the film (and `tale judge` flags it: `mute_line`)."""
    from tale_cli.film.subtitles import clean_caption, timed_cues
    from tale_cli.film.voice import shot_windows
    from tale_cli.story.pace import natural_seconds

    durations = [shot.duration_s for shot in plan.shots]
    windows = shot_windows(durations, transition_s)
    cues: list[Cue] = []
    start = 0.0
    for shot, clip, (begin, end), duration in zip(plan.shots, clips, windows, durations, strict=True):
        lines = [clean_caption(line.text) for line in shot.lines if line.text.strip()]
        if lines:
            heard = heard_in(clip).first_to_last
            at, until = (begin, end) if heard is None else (max(begin, start + heard[0]), min(end, start + heard[1]))
            if until - at < MIN_SPEECH_S:
                at, until = begin, end
            weights = [max(natural_seconds(line), 0.2) for line in lines]
            for line, weight in zip(lines, weights, strict=True):
                length = (until - at) * weight / sum(weights)
                cues.extend(timed_cues(at, at + length, line))
                at += length
        start += duration - transition_s
    return cues


def merged(cues: list[Cue] | None, more: list[Cue]) -> list[Cue] | None:
    """Two lists of cues as one, in film order."""
    if not more:
        return cues
    return sorted([*(cues or []), *more], key=lambda cue: (cue.start_s, cue.end_s))
