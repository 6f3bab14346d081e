"""eSpeak NG: offline formant speech in about a hundred languages (Korean included), from the library and data
the espeakng-loader wheel carries, so it needs no system package and no download: a scratch narration track."""

from __future__ import annotations

import ctypes
import functools
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from tale_cli.backends.base import RenderResult, VoiceBackend, VoiceCapabilities, VoiceInfo
from tale_cli.errors import BackendError, MissingDependencyError, RecipeError
from tale_cli.media.wav import write_wav

if TYPE_CHECKING:
    from tale_cli.backends.base import SpeechRequest
    from tale_cli.config import Recipe

MODEL = "espeak-ng"
# eSpeak's own default pace, in words per minute; the recipe's `speed` scales it.
BASE_RATE_WPM = 175
MIN_RATE_WPM, MAX_RATE_WPM = 80, 450
# The plan's language as eSpeak names its voice, where the two differ.
LANGUAGE_VOICES = {"en": "en-us", "zh": "cmn"}
# The variants a character's voice may take (the language's plain voice is the narrator's), with the gender and
# age their files in espeak-ng-data/voices/!v declare (grandpa's declares none: its name and pitch say it).
CHARACTER_VARIANTS = (
    *((f"f{n}", ("female",)) for n in range(1, 6)),
    *((f"m{n}", ("male",)) for n in range(1, 8)),
    ("grandma", ("female", "old")),
    ("grandpa", ("male", "old")),
)

# The library's constants (speak_lib.h).
_AUDIO_OUTPUT_SYNCHRONOUS = 2
_INITIALIZE_DONT_EXIT = 0x8000  # report a missing data folder instead of exiting the process
_CHARS_UTF8 = 1
_PARAMETER_RATE = 1
_SAMPLE_CALLBACK = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p)


class _Voice(ctypes.Structure):
    _fields_ = [  # the ctypes layout of espeak_VOICE
        ("name", ctypes.c_char_p),
        ("languages", ctypes.c_void_p),
        ("identifier", ctypes.c_char_p),
        ("gender", ctypes.c_ubyte),
        ("age", ctypes.c_ubyte),
        ("variant", ctypes.c_ubyte),
        ("xx1", ctypes.c_ubyte),
        ("score", ctypes.c_int),
        ("spare", ctypes.c_void_p),
    ]


@dataclass
class _Engine:
    """The loaded library, initialised once per process: it keeps one global state, so every call holds `lock`."""

    library: Any
    sample_rate: int
    callback: Any
    chunks: list[bytes]
    lock: threading.Lock


_engine_lock = threading.Lock()


@functools.cache
def _engine() -> _Engine:
    try:
        import espeakng_loader
    except ImportError:
        raise MissingDependencyError(
            "espeakng-loader is not installed", hint="pip install tale-cli (it carries eSpeak NG)"
        ) from None
    try:
        library = ctypes.CDLL(espeakng_loader.get_library_path())
        data = espeakng_loader.get_data_path()
    except (OSError, RuntimeError) as error:
        raise BackendError(f"eSpeak NG does not load: {error}", hint="reinstall espeakng-loader") from None
    library.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
    library.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
    library.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
    library.espeak_Synth.argtypes = [ctypes.c_char_p, ctypes.c_size_t, ctypes.c_uint, ctypes.c_int, ctypes.c_uint,
                                     ctypes.c_uint, ctypes.c_void_p, ctypes.c_void_p]  # fmt: skip
    library.espeak_ListVoices.argtypes = [ctypes.c_void_p]
    library.espeak_ListVoices.restype = ctypes.POINTER(ctypes.POINTER(_Voice))
    sample_rate = library.espeak_Initialize(_AUDIO_OUTPUT_SYNCHRONOUS, 0, data.encode(), _INITIALIZE_DONT_EXIT)
    if sample_rate <= 0:
        raise BackendError(f"eSpeak NG did not start (its data folder {data} may be incomplete)")
    chunks: list[bytes] = []

    def collect(samples: Any, count: int, events: Any) -> int:
        if count > 0:
            chunks.append(ctypes.string_at(samples, count * 2))
        return 0

    callback = _SAMPLE_CALLBACK(collect)  # kept on the engine: the library calls it for as long as it lives
    library.espeak_SetSynthCallback(callback)
    return _Engine(library, sample_rate, callback, chunks, threading.Lock())


def engine() -> _Engine:
    with _engine_lock:
        return _engine()


def _languages(pointer: int | None) -> tuple[str, ...]:
    """espeak_VOICE.languages: (priority byte, NUL-terminated name) pairs, ended by a zero priority."""
    names: list[str] = []
    if not pointer:
        return ()
    offset = 0
    while ctypes.string_at(pointer + offset, 1) != b"\0":
        name = ctypes.string_at(pointer + offset + 1)
        names.append(name.decode("ascii", "replace"))
        offset += len(name) + 2
    return tuple(names)


@functools.cache
def _catalogue() -> dict[str, tuple[VoiceInfo, str]]:
    """Each voice by the language code it is listed under, with the identifier the library loads it by (the
    British English voice is listed as `en-gb` and loaded as `gmw/en`)."""
    speech = engine()
    voices: dict[str, tuple[VoiceInfo, str]] = {}
    with speech.lock:
        found = speech.library.espeak_ListVoices(None)
        index = 0
        while found[index]:
            voice = found[index].contents
            languages = _languages(voice.languages)
            if languages and voice.identifier:
                name = (voice.name or b"").decode("utf-8", "replace")
                voices[languages[0]] = (VoiceInfo(languages[0], languages, name), voice.identifier.decode())
            index += 1
    return dict(sorted(voices.items()))


class EspeakVoice(VoiceBackend):
    """eSpeak NG through ctypes: one clip in about a hundredth of its length, on any CPU, offline."""

    name = "espeak"
    model = MODEL

    def __init__(self, recipe: Recipe) -> None:
        self.recipe = recipe
        if recipe.voice.model not in ("", MODEL):
            raise RecipeError(f"the espeak voice backend has one model, {MODEL}, not '{recipe.voice.model}'")

    def capabilities(self) -> VoiceCapabilities:
        return VoiceCapabilities(max_input_chars=20_000)

    def fingerprint(self) -> dict[str, Any]:
        return {"backend": self.name, "model": MODEL}

    def voices(self) -> list[VoiceInfo]:
        return [info for info, _ in _catalogue().values()]

    def default_voice(self, language: str) -> str:
        wanted = LANGUAGE_VOICES.get(language, language).lower()
        if wanted in _catalogue():
            return wanted
        raise RecipeError(
            f"eSpeak NG has no voice for the language '{language}'",
            hint="set [voice] voice in the recipe (`tale voices --backend espeak` lists them), or use --no-voice",
        )

    def character_voices(self, language: str) -> list[VoiceInfo]:
        plain = self.default_voice(language)
        return [VoiceInfo(f"{plain}+{variant}", (language,), "", traits) for variant, traits in CHARACTER_VARIANTS]

    def check_voice(self, voice: str) -> None:
        # A voice may carry one of eSpeak's variants: `en-us+f3` is the American voice, third female variant.
        language, _, variant = voice.partition("+")
        odd_variant = bool(variant) and not variant.replace("-", "").isalnum()
        if odd_variant or language not in _catalogue():
            raise RecipeError(
                f"the espeak voice backend has no voice '{voice}'",
                hint="`tale voices --backend espeak` lists its languages; add +f1…f5 or +m1…m7 for a variant",
            )

    def preflight(self) -> None:
        engine()

    def speak(self, request: SpeechRequest) -> RenderResult:
        speech = engine()
        rate = round(min(MAX_RATE_WPM, max(MIN_RATE_WPM, BASE_RATE_WPM * request.speed)))
        text = request.text.encode("utf-8") + b"\0"
        language, plus, variant = request.voice.partition("+")
        known = _catalogue().get(language)
        loaded = (known[1] if known else language) + plus + variant
        with speech.lock:
            speech.chunks.clear()
            if speech.library.espeak_SetVoiceByName(loaded.encode("utf-8")) != 0:
                raise RecipeError(f"eSpeak NG cannot load the voice '{request.voice}'")
            speech.library.espeak_SetParameter(_PARAMETER_RATE, rate, 0)
            status = speech.library.espeak_Synth(text, len(text), 0, 0, 0, _CHARS_UTF8, None, None)
            speech.library.espeak_Synchronize()
            samples = b"".join(speech.chunks)
            speech.chunks.clear()
        if status != 0 or not samples:
            raise BackendError(f"eSpeak NG spoke nothing for shot {request.shot} (status {status})")
        write_wav(request.output, samples, speech.sample_rate)
        return RenderResult(model=MODEL, notes={"rate_wpm": rate})
