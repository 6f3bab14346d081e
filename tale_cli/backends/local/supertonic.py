"""Supertonic 3: a neural voice that runs on this machine (ONNX Runtime, about 99M parameters, 44.1 kHz) and speaks
31 languages, Korean and English among them; its weights are fetched once with `tale models pull Supertone/supertonic-3`.

Four graphs make a clip: the duration predictor says how long the text takes in a voice, the text encoder turns
its characters into an embedding, the vector estimator denoises a latent in a few flow-matching steps, and the
vocoder turns the latent into samples. A voice is a pair of style tensors in `voice_styles/NAME.json`.
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
import re
import threading
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tale_cli.backends.base import RenderResult, VoiceBackend, VoiceCapabilities, VoiceInfo
from tale_cli.backends.models import ModelMissingError, pull_hint, resolve_model
from tale_cli.errors import BackendError, MissingDependencyError, PlanError, missing_extra
from tale_cli.media.wav import write_wav

if TYPE_CHECKING:
    from tale_cli.backends.base import SpeechRequest
    from tale_cli.config import Recipe

DEFAULT_MODEL = "Supertone/supertonic-3"
# The languages the model was trained on; any other is spoken through its language-agnostic `na` tag.
LANGUAGES = ("en", "ko", "ja", "ar", "bg", "cs", "da", "de", "el", "es", "et", "fi", "fr", "hi", "hr", "hu", "id",
             "it", "lt", "lv", "nl", "pl", "pt", "ro", "ru", "sk", "sl", "sv", "tr", "uk", "vi")  # fmt: skip
UNKNOWN_LANGUAGE = "na"
# The voices the model ships, listed before its weights are pulled (afterwards, its voice_styles folder is read).
BUILT_IN_VOICES = tuple(f"{kind}{number}" for kind in "FM" for number in range(1, 6))
DEFAULT_VOICE = "F1"
GRAPHS = ("duration_predictor", "text_encoder", "vector_estimator", "vocoder")
CONFIG_FILE = "onnx/tts.json"
INDEXER_FILE = "onnx/unicode_indexer.json"
STYLES_DIR = "voice_styles"
STEPS = 8  # denoising steps: the model's own default, between its fast (5) and careful (12) settings
# The model's natural pace is 1.05; a recipe's `speed` scales it, inside the range it was tested at.
BASE_PACE = 1.05
MIN_PACE, MAX_PACE = 0.7, 2.0
# Longer texts are spoken a piece at a time, split at sentence ends (shorter pieces for Korean and Japanese).
MAX_PIECE_CHARS = 300
MAX_PIECE_CHARS_CJK = 120
PIECE_GAP_S = 0.3
_SENTENCE_END = re.compile(r"(?<=[.!?。！？])\s+")
_ENDS_A_SENTENCE = ".!?;:,'\")]}…。」』】〉》›»"
# Typographic punctuation as the plain characters the model was trained on; brackets and slashes as pauses.
_PLAIN = str.maketrans({"–": "-", "‑": "-", "—": "-", "_": " ", "“": '"', "”": '"', "‘": "'", "’": "'", "´": "'",
                        "`": "'", "[": " ", "]": " ", "|": " ", "/": " ", "#": " ", "→": " ", "←": " "})  # fmt: skip


def model_files(folder: Path) -> list[Path]:
    """The files a voice reads from its model folder: config, character table, graphs, then the voice styles by name."""
    styles = sorted((folder / STYLES_DIR).glob("*.json"))
    return [folder / CONFIG_FILE, folder / INDEXER_FILE, *(folder / "onnx" / f"{g}.onnx" for g in GRAPHS), *styles]


def check_folder(model: str, folder: Path) -> None:
    """A model folder with everything a voice reads: else one error naming the first file missing."""
    needed = [folder / CONFIG_FILE, folder / INDEXER_FILE, *(folder / "onnx" / f"{g}.onnx" for g in GRAPHS)]
    missing = [path for path in needed if not path.is_file()]
    if not any((folder / STYLES_DIR).glob("*.json")):
        missing.append(folder / STYLES_DIR)
    if missing:
        hint = pull_hint(model) if not Path(model).expanduser().is_dir() else "pass a Supertonic model folder"
        raise ModelMissingError(
            f"{model} is not a complete Supertonic model: {missing[0].relative_to(folder)} is missing", hint=hint
        )


@functools.cache
def _content_id(path: Path, size: int, modified_ns: int) -> str:
    # A file in the Hugging Face cache links to a blob named by its content hash: no need to read 400 MB again.
    target = path.resolve()
    if path.is_symlink() and re.fullmatch(r"[0-9a-f]{40}|[0-9a-f]{64}", target.name):
        return target.name
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def weights_digest(folder: Path) -> str:
    """A hash of every file the voice reads (their content, by name): a new revision of the weights is a new voice."""
    digest = hashlib.sha256()
    for path in model_files(folder):
        status = path.stat()
        digest.update(f"{path.relative_to(folder)}={_content_id(path, status.st_size, status.st_mtime_ns)}\n".encode())
    return digest.hexdigest()[:16]


@dataclass(frozen=True)
class _Config:
    sample_rate: int
    samples_per_frame: int  # audio samples one latent frame decodes to
    latent_channels: int


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise BackendError(f"cannot read {path}: {error}", hint="pull the model again") from None


def _read_config(path: Path) -> _Config:
    data = _read_json(path)
    try:
        values = [data["ae"]["sample_rate"], data["ae"]["base_chunk_size"], data["ttl"]["chunk_compress_factor"],
                  data["ttl"]["latent_dim"]]  # fmt: skip
    except (KeyError, TypeError):
        values = []
    if len(values) != 4 or not all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in values):
        raise BackendError(f"{path} is not a Supertonic config (ae.sample_rate, ttl.latent_dim, …)")
    rate, chunk, compress, latent = values
    return _Config(sample_rate=rate, samples_per_frame=chunk * compress, latent_channels=latent * compress)


class _Engine:
    """One model folder's four graphs, character table and voice styles, loaded once per process."""

    def __init__(self, folder: Path) -> None:
        import numpy as np

        try:
            import onnxruntime
        except ImportError:
            raise missing_extra("voice-local", "onnxruntime") from None
        self.folder = folder
        self.config = _read_config(folder / CONFIG_FILE)
        table = _read_json(folder / INDEXER_FILE)
        if not isinstance(table, list) or not table or not all(isinstance(v, int) for v in table):
            raise BackendError(f"{folder / INDEXER_FILE} is not a character table (a list of indices)")
        self.indexer = np.asarray(table, dtype=np.int64)
        options = onnxruntime.SessionOptions()
        options.log_severity_level = 3  # errors only: a graph's harmless optimiser notes are not the user's concern
        self.sessions: dict[str, Any] = {}
        for graph in GRAPHS:
            path = folder / "onnx" / f"{graph}.onnx"
            try:
                self.sessions[graph] = onnxruntime.InferenceSession(
                    str(path), sess_options=options, providers=["CPUExecutionProvider"]
                )
            except Exception as error:  # onnxruntime raises its own untyped errors for a damaged graph
                raise BackendError(
                    f"cannot load {path}: {str(error).splitlines()[0]}", hint="pull the model again"
                ) from None
        self._styles: dict[str, tuple[Any, Any]] = {}
        self._lock = threading.Lock()

    def voices(self) -> list[str]:
        return sorted(path.stem for path in (self.folder / STYLES_DIR).glob("*.json"))

    def style(self, voice: str) -> tuple[Any, Any]:
        """The voice's two style tensors (text-to-latent, duration), each shaped (1, rows, columns)."""
        import numpy as np

        with self._lock:
            if voice not in self._styles:
                path = self.folder / STYLES_DIR / f"{voice}.json"
                data = _read_json(path)
                try:
                    tensors = tuple(
                        np.asarray(data[key]["data"], dtype=np.float32).reshape(data[key]["dims"])
                        for key in ("style_ttl", "style_dp")
                    )
                except (KeyError, TypeError, ValueError):
                    raise BackendError(f"{path} is not a Supertonic voice style") from None
                self._styles[voice] = (tensors[0], tensors[1])
            return self._styles[voice]

    def encode(self, text: str, shot: int) -> Any:
        """The text's characters as the model's indices, shaped (1, characters); refuses letters it cannot say."""
        import numpy as np

        points = np.fromiter((ord(c) for c in text), dtype=np.int64, count=len(text))
        known = points < len(self.indexer)
        ids = np.where(known, self.indexer[np.minimum(points, len(self.indexer) - 1)], -1)
        unknown = sorted({text[i] for i in np.flatnonzero(ids < 0)})
        if unknown:
            raise PlanError(
                f"shot {shot}'s speech has characters the Supertonic voice cannot say: {''.join(unknown)!r}",
                hint="write them out in words in plan.json, or use another voice backend",
            )
        return ids.reshape(1, -1)

    def synthesise(self, text: str, language: str, voice: str, pace: float, seed: int, shot: int) -> Any:
        """One piece of speech as float samples at the model's rate, cut to the length the model gave it."""
        import numpy as np

        style_ttl, style_dp = self.style(voice)
        ids = self.encode(f"<{language}>{text}</{language}>", shot)
        mask = np.ones((1, 1, ids.shape[1]), dtype=np.float32)
        seconds = self.sessions["duration_predictor"].run(
            None, {"text_ids": ids, "style_dp": style_dp, "text_mask": mask}
        )[0]
        length_s = float(np.asarray(seconds).reshape(-1)[0]) / pace
        if not math.isfinite(length_s) or length_s <= 0:
            raise BackendError(f"the Supertonic duration predictor gave shot {shot} no length ({length_s})")
        embedding = self.sessions["text_encoder"].run(
            None, {"text_ids": ids, "style_ttl": style_ttl, "text_mask": mask}
        )[0]
        samples = round(length_s * self.config.sample_rate)
        frames = max(1, -(-samples // self.config.samples_per_frame))
        generator = np.random.default_rng(seed)
        latent = generator.standard_normal((1, self.config.latent_channels, frames), dtype=np.float32)
        latent_mask = np.ones((1, 1, frames), dtype=np.float32)
        total = np.array([STEPS], dtype=np.float32)
        for step in range(STEPS):
            latent = self.sessions["vector_estimator"].run(None, {
                "noisy_latent": latent, "text_emb": embedding, "style_ttl": style_ttl, "text_mask": mask,
                "latent_mask": latent_mask, "current_step": np.array([step], dtype=np.float32), "total_step": total,
            })[0]  # fmt: skip
        wave = self.sessions["vocoder"].run(None, {"latent": latent})[0]
        return np.asarray(wave, dtype=np.float32).reshape(-1)[:samples]


_engines: dict[Path, _Engine] = {}
_engines_lock = threading.Lock()


def engine(folder: Path) -> _Engine:
    with _engines_lock:
        if folder not in _engines:
            _engines[folder] = _Engine(folder)
        return _engines[folder]


def model_language(language: str) -> str:
    """The plan's language as the model's tag: `ko-KR` speaks Korean; a language it was not trained on, `na`."""
    code = re.split(r"[-_]", language.strip().lower(), maxsplit=1)[0]
    return code if code in LANGUAGES else UNKNOWN_LANGUAGE


def prepare_text(text: str) -> str:
    """The text as the model reads it: decomposed (Hangul into its letters), plain punctuation, single spaces,
    symbols and emoji dropped, ending in punctuation."""
    text = unicodedata.normalize("NFKD", text).translate(_PLAIN)
    text = "".join(c for c in text if not unicodedata.category(c).startswith(("So", "Sk", "Cs", "Co", "Cn")))
    text = " ".join(text.split())
    text = re.sub(r" ([,.!?;:'])", r"\1", text)
    return text if not text or text.endswith(tuple(_ENDS_A_SENTENCE)) else text + "."


def pieces(text: str, limit: int) -> list[str]:
    """The text in pieces of at most `limit` characters, cut at sentence ends (a sentence too long, between words)."""
    found: list[str] = []
    current = ""
    for sentence in _SENTENCE_END.split(" ".join(text.split())):
        parts = [sentence] if len(sentence) <= limit else _between_words(sentence, limit)
        for part in parts:
            if current and len(current) + 1 + len(part) > limit:
                found.append(current)
                current = part
            else:
                current = f"{current} {part}" if current else part
    return [*found, current] if current else found


def _between_words(sentence: str, limit: int) -> list[str]:
    parts: list[str] = []
    current = ""
    for word in sentence.split(" "):
        while len(word) > limit:  # one unbroken run of characters (no spaces, as in some scripts)
            if current:
                parts.append(current)
                current = ""
            parts.append(word[:limit])
            word = word[limit:]
        if current and len(current) + 1 + len(word) > limit:
            parts.append(current)
            current = word
        else:
            current = f"{current} {word}" if current else word
    return [*parts, current] if current else parts


class SupertonicVoice(VoiceBackend):
    """Supertonic 3 through ONNX Runtime on the CPU: one voice style per speaker, the plan's language, no network."""

    name = "supertonic"

    def __init__(self, recipe: Recipe) -> None:
        self.recipe = recipe
        self.model = recipe.voice.model or DEFAULT_MODEL
        self._folder: Path | None = None

    def _model_folder(self) -> Path:
        """The model's files on this machine (a folder, or its snapshot in the Hugging Face cache); never downloads."""
        if self._folder is None:
            folder = resolve_model(self.model)
            check_folder(self.model, folder)
            self._folder = folder
        return self._folder

    def capabilities(self) -> VoiceCapabilities:
        return VoiceCapabilities(max_input_chars=5000, languages=LANGUAGES)

    def fingerprint(self) -> dict[str, Any]:
        try:
            weights: str | None = weights_digest(self._model_folder())
        except MissingDependencyError:
            weights = None  # nothing can be spoken without them (or without the extra): preflight says what is missing
        return {"backend": self.name, "model": self.model, "weights": weights, "steps": STEPS}

    def voices(self) -> list[VoiceInfo]:
        try:
            names = sorted(path.stem for path in (self._model_folder() / STYLES_DIR).glob("*.json"))
        except MissingDependencyError:  # no weights (or no extra to find them with) yet: the voices they bring
            names = sorted(BUILT_IN_VOICES)
        return [VoiceInfo(name, LANGUAGES, _describe(name)) for name in names]

    def default_voice(self, language: str) -> str:
        return DEFAULT_VOICE  # every voice speaks every language the model knows

    def character_voices(self, language: str) -> list[VoiceInfo]:
        # The styles the model ships, whether or not its weights are here yet: a plan casts the same on any machine.
        return [
            VoiceInfo(name, LANGUAGES, _describe(name), ("female",) if name.startswith("F") else ("male",))
            for name in BUILT_IN_VOICES
            if name != DEFAULT_VOICE
        ]

    def preflight(self) -> None:
        engine(self._model_folder())

    def speak(self, request: SpeechRequest) -> RenderResult:
        import numpy as np

        speech = engine(self._model_folder())
        self.check_voice(request.voice)  # a voice is a file name in the model folder: only the ones listed
        language = model_language(request.language)
        pace = min(MAX_PACE, max(MIN_PACE, BASE_PACE * request.speed))
        limit = MAX_PIECE_CHARS_CJK if language in ("ko", "ja") else MAX_PIECE_CHARS
        gap = np.zeros(round(PIECE_GAP_S * speech.config.sample_rate), dtype=np.float32)
        waves: list[Any] = []
        for piece in pieces(request.text, limit):
            text = prepare_text(piece)
            if not text:
                continue
            seed = int.from_bytes(hashlib.sha256(f"{request.voice}|{language}|{pace}|{text}".encode()).digest()[:8])
            waves += [gap] if waves else []
            waves.append(speech.synthesise(text, language, request.voice, pace, seed, request.shot))
        if not waves:
            raise PlanError(f"shot {request.shot} has nothing the Supertonic voice can say: {request.text!r}")
        samples = np.clip(np.concatenate(waves), -1.0, 1.0)
        write_wav(request.output, (samples * 32767).astype("<i2").tobytes(), speech.config.sample_rate)
        return RenderResult(model=self.model, notes={"language": language, "pace": round(pace, 3), "steps": STEPS})


def _describe(voice: str) -> str:
    if voice in BUILT_IN_VOICES:
        return f"{'female' if voice[0] == 'F' else 'male'} voice {voice[1]}, built in"
    return "a voice style in the model folder"
