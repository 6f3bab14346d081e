"""The manifest's records of a run's film and its sound: the film as cut (and the settings it was cut with), the voice
track and its clips, the composed score and the mix as measured."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import Field

from tale_cli.record import FileRecord, Record


@dataclass(frozen=True)
class CutSettings:
    """How a film is cut, besides the recipe's [voice], [music] and loudness: kept in the film's record so that the
    next cut (a retake, a pick) is made the same way."""

    burn_subtitles: bool = False
    transition: str | None = None
    music: Path | None = None  # a bed file given for this film (--music FILE), over the recipe's [music]
    voice_dir: Path | None = None  # recordings laid as the voice instead of the run's own track
    credentials: bool = True  # signed Content Credentials (C2PA); False: --no-c2pa
    watermark: str | None = None  # a visible mark burned into the film (not the shots): TEXT|IMAGE[:POS[:OPACITY]]
    invisible_watermark: str | None = None  # a mark embedded in the frames that `tale verify` reads back


class CredentialsRecord(Record):
    """The film's signed Content Credentials: who signed, and the bytes and seconds it added."""

    source: str  # "files", "keyring" or "local" (tale_cli.keys.signing)
    issuer: str
    manifest_bytes: int
    added_bytes: int
    sign_s: float
    mark_s: float | None = None  # the watermarks' pass, when marks were asked for
    signed_at: str


class FilmRecord(Record):
    """The stitched film, and how it was stitched (so a new take can be cut into it the same way)."""

    path: str
    duration_s: float
    stitched_at: str
    fast_path: bool
    burn_subtitles: bool | None = None
    transition: str | None = None
    audio: str | None = None  # the music bed's path
    # How its sound was made, so that every later cut sounds the same: the [voice] and [music] settings the film was
    # rendered with (a --voice, --no-voice or --music override included) and the loudness target.
    voice: dict[str, Any] | None = None
    music: dict[str, Any] | None = None
    loudness_lufs: float | None = None
    # Recordings laid as the voice instead of the run's own track (`tale stitch RUN --voice-dir`).
    voice_dir: str | None = None
    # Whether the soft subtitle track shows by default (not where the picture already draws the words).
    subtitles_default: bool | None = None
    # The cues of lines said inside the clips (dialogue = "clip"), timed from the speech heard in them.
    dialogue_cues: list[list[Any]] | None = None
    # The cut's content address (every clip's, the voice track's and the music's digest, and the settings) and
    # what film.mp4 and film.srt were when written: a cut with the same address and intact files writes nothing.
    cut_hash: str | None = None
    file: FileRecord | None = None
    srt: FileRecord | None = None
    # Content Credentials (False: cut with --no-c2pa) and the marks asked for, kept for the next cut; what the
    # signing added to the film, None when it is not signed.
    c2pa: bool | None = None
    watermark: str | None = None
    invisible_watermark: str | None = None
    credentials: CredentialsRecord | None = None


class VoiceClipRecord(Record):
    """One clip of the voice track: its cache key, who spoke it, what it cost, where it plays in the film."""

    shot: int
    params_hash: str
    path: str
    backend: str
    model: str | None = None
    voice: str | None = None
    seconds: float
    tempo: float = 1.0
    start_s: float
    cost_usd: float | None = None
    file: FileRecord | None = None  # the clip as spoken: a damaged one is spoken again
    # The words it speaks (a dialogue clip's a line per speaker, "Name: words"): the subtitles follow them.
    text: str | None = None


class VoiceRecord(Record):
    """The voice track (voice/track.wav) and its clips."""

    backend: str
    track: str
    clips: list[VoiceClipRecord] = Field(default_factory=list)
    made_at: str | None = None
    # The track's content address (its clips' digests and places, the film's length) and the file as written: a
    # track that is damaged or gone is laid again from its clips.
    key: str | None = None
    file: FileRecord | None = None
    samples: list[VoiceClipRecord] = Field(default_factory=list)  # lines spoken for clips to say (reference audio)


class MusicRecord(Record):
    """The score a music backend composed for the film: its cache key, model, file and cost."""

    backend: str
    model: str | None = None
    params_hash: str
    path: str
    seconds: float | None = None
    cost_usd: float | None = None
    made_at: str | None = None
    file: FileRecord | None = None


class MixRecord(Record):
    """The film's sound as mixed: what went in, and its loudness measured on the finished film."""

    voice: bool
    music: str | None = None
    target_lufs: float
    integrated_lufs: float
    true_peak_db: float
    mixed_at: str | None = None
