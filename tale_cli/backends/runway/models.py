"""Every model Runway serves under one key, as runwayml 5.24's request types describe it (`image_to_video` and
`text_to_video`): its lengths, its ratios or resolutions, what it takes besides a prompt, and where each limit
comes from. A shot a model cannot make is refused from this table before anything is spent."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

# Where each limit was read: the SDK's own types and docstrings are first-hand; ranges the SDK types only as
# `int` come from the providers' and resellers' pages (second-hand) and are marked so.
SDK = "runwayml 5.24 request types"


@dataclass(frozen=True)
class RunwayModel:
    """One model behind Runway's task API."""

    label: str
    # The clip lengths it renders, in whole seconds.
    durations: tuple[int, ...]
    # A range (any whole second in it) rather than a fixed list: a shorter or fractional shot is rendered at the
    # next whole length up and trimmed to the plan's seconds. A fixed list is snapped to instead, as for Veo.
    ranged: bool
    # Image-to-video ratios; () when the first frame decides the shape.
    image_ratios: tuple[str, ...]
    # Text-to-video ratios; None when the model renders image-to-video only, () when the model picks the shape.
    text_ratios: tuple[str, ...] | None
    limits_from: str
    # The `resolution` values it takes (beside or instead of a ratio).
    resolutions: tuple[str, ...] = ()
    # The endpoints that take `resolution`: "image" (image-to-video), "text" (text-to-video).
    resolution_for: tuple[str, ...] = ("image", "text")
    # Takes duration "auto" (billed at the model's longest length up front, the rest refunded).
    auto: bool = False
    audio: bool = False
    last_frame: bool = False
    negative_prompt: bool = False
    seed: bool = False
    max_prompt_chars: int | None = None
    # Reference pictures beside the first frame, and the seconds of reference audio it takes in all.
    reference_images: int = 0
    reference_audio_s: float = 0.0
    # How it takes reference pictures: "references" (a list beside its first frame: Kling 4, Kling O3) or
    # "prompt_image" (Seedance: `promptImage` as pictures without a position, which cannot be mixed with a first or
    # last frame, so a shot that starts from a frame sends none).
    references_as: str = "references"

    @property
    def text_to_video(self) -> bool:
        return self.text_ratios is not None

    def render_seconds(self, seconds: float) -> int | None:
        """The length to ask for a shot of `seconds`: the shortest offered length that holds it (a range model), the
        offered length equal to it (a fixed list); None when the model cannot make it."""
        if self.ranged:
            longer = [d for d in self.durations if d >= seconds - 1e-6]
            return longer[0] if longer and seconds > 0 else None
        same = [d for d in self.durations if abs(d - seconds) < 1e-6]
        return same[0] if same else None

    def lengths(self) -> str:
        """How its lengths read in a message: "2-10" or "5, 10"."""
        if self.ranged:
            return f"{self.durations[0]}-{self.durations[-1]}"
        return ", ".join(str(d) for d in self.durations)

    def to_json(self) -> dict[str, Any]:
        lengths: dict[str, Any] = (
            {"min": self.durations[0], "max": self.durations[-1]} if self.ranged else {"one_of": list(self.durations)}
        )
        return {
            "label": self.label,
            "durations_s": lengths | ({"auto": True} if self.auto else {}),
            "image_to_video_ratios": list(self.image_ratios) or "the first frame's",
            "text_to_video_ratios": None if self.text_ratios is None else (list(self.text_ratios) or "the model's"),
            "resolutions": list(self.resolutions),
            "audio": self.audio,
            "last_frame": self.last_frame,
            "max_prompt_chars": self.max_prompt_chars,
            "reference_images": self.reference_images,
            "reference_audio_s": self.reference_audio_s,
            "limits_from": self.limits_from,
        }


def _span(low: int, high: int) -> tuple[int, ...]:
    return tuple(range(low, high + 1))


_GEN4 = ("1280:720", "720:1280", "1104:832", "832:1104", "960:960", "1584:672")
_VEO = ("1280:720", "720:1280", "1920:1080", "1080:1920")
_KLING_HD = ("1920:1080", "1080:1920", "1440:1440")
_KLING_SD = ("1280:720", "720:1280", "960:960")
_KLING_4K = ("3840:2160", "2160:3840", "2880:2880")
_KLING25_TEXT = ("1920:1080", "1440:1440", "1080:1920", "1280:720", "720:720", "720:1280")
_SEEDANCE_SD = ("992:432", "864:496", "752:560", "640:640", "560:752", "496:864", "1470:630", "1280:720",
                "1112:834", "960:960", "834:1112", "720:1280")  # fmt: skip
_SEEDANCE = (*_SEEDANCE_SD, "2206:946", "1920:1080", "1664:1248", "1440:1440", "1248:1664", "1080:1920",
             "3840:1646", "3840:2160", "3840:2880", "3840:3840", "2880:3840", "2160:3840")  # fmt: skip
_SEEDANCE_25 = ("992:432", "854:480", "752:560", "640:640", "560:752", "480:854", "1470:630", "1280:720",
                "1112:834", "960:960", "834:1112", "720:1280", "2206:946", "1920:1080", "1664:1248", "1440:1440",
                "1248:1664", "1080:1920")  # fmt: skip
_WAN = ("832:480", "720:544", "624:624", "544:720", "480:832", "1280:720", "1104:832", "960:960", "832:1104",
        "720:1280", "1920:1080", "1648:1248", "1440:1440", "1248:1648", "1080:1920", "auto_480p", "auto_720p",
        "auto_1080p")  # fmt: skip
_ASPECTS = ("adaptive", "21:9", "16:9", "4:3", "1:1", "3:4", "9:16")
_GROK_TEXT = ("1:1", "16:9", "9:16", "4:3", "3:4", "3:2", "2:3")
_GROK_LITE_TEXT = ("848:480", "480:848", "480:480", "640:480", "480:640", "720:480", "480:720", "1280:720",
                   "720:1280", "720:720", "960:720", "720:960", "1088:720", "720:1088", "1904:1072", "1072:1904",
                   "1424:1424", "1648:1232", "1232:1648", "1744:1152", "1152:1744")  # fmt: skip
_HAPPYHORSE_TEXT = ("1280:720", "720:1280", "960:960", "1108:832", "832:1108", "1920:1080", "1080:1920",
                    "1440:1440", "1662:1248", "1248:1662")  # fmt: skip
_KLING4_TEXT = ("1280:720", "720:1280", "940:940", "1460:624", "1920:1080", "1080:1920", "1440:1440", "2200:940",
                "auto_720p", "auto_1080p")  # fmt: skip

_SEEDANCE_FROM = f"{SDK}; 4-15 s from second-hand pages (Runway's own reference says up to 15 s)"
_KLING3_FROM = f"{SDK}; 3-15 s as the SDK's multi-prompt docstring bounds a shot (second-hand for one prompt)"


def _second_hand(span: str) -> str:
    return f"{SDK}; {span} from second-hand pages"


def _kling3(label: str, ratios: tuple[str, ...], *, references: int = 0) -> RunwayModel:
    return RunwayModel(label, _span(3, 15), True, ratios, ratios, _KLING3_FROM, audio=True, last_frame=True,
                       reference_images=references)  # fmt: skip


# Seedance's reference pictures: the SDK says only "an image or array of images"; ByteDance documents up to 9. Tale
# sends at most 4 (what is on screen in one shot rarely needs more), well inside either.
SEEDANCE_REFERENCES = 4


def _seedance(label: str, ratios: tuple[str, ...], high: int = 15, chars: int = 3500) -> RunwayModel:
    return RunwayModel(
        label, _span(4, high), True, ratios, ratios,
        _SEEDANCE_FROM if high == 15 else f"{SDK}; 4-{high} s from second-hand pages", auto=True, audio=True,
        last_frame=True, seed=True, max_prompt_chars=chars, reference_audio_s=float(high),
        reference_images=SEEDANCE_REFERENCES, references_as="prompt_image",
    )  # fmt: skip


def _veo(label: str) -> RunwayModel:
    return RunwayModel(label, (4, 6, 8), False, _VEO, _VEO, SDK, audio=True, last_frame=True, negative_prompt=True,
                       seed=True, max_prompt_chars=1000)  # fmt: skip


MODELS: dict[str, RunwayModel] = {
    "gen4_turbo": RunwayModel(
        "Runway Gen-4 Turbo",
        _span(2, 10),
        True,
        _GEN4,
        None,
        f"{SDK}; 2-10 s from Runway's reference",
        seed=True,
        max_prompt_chars=1000,
    ),
    "gen4.5": RunwayModel(
        "Runway Gen-4.5", _span(2, 10), True, _GEN4, ("1280:720", "720:1280"), SDK, seed=True, max_prompt_chars=1000
    ),
    "veo3.1": _veo("Veo 3.1"),
    "veo3.1_fast": _veo("Veo 3.1 Fast"),
    "seedance2": _seedance("Seedance 2.0", _SEEDANCE),
    "seedance2_fast": _seedance("Seedance 2.0 Fast", _SEEDANCE_SD),
    "seedance2_mini": _seedance("Seedance 2.0 Mini", _SEEDANCE_SD),
    "seedance2_5": _seedance("Seedance 2.5", _SEEDANCE_25, high=30, chars=15000),
    "kling2.5_turbo_pro": RunwayModel("Kling 2.5 Turbo Pro", (5, 10), False, (), _KLING25_TEXT, SDK, last_frame=True),
    "kling3.0_standard": _kling3("Kling 3.0 Standard", _KLING_SD),
    "kling3.0_pro": _kling3("Kling 3.0 Pro", _KLING_HD),
    "kling3.0_4k": _kling3("Kling 3.0 4K", _KLING_4K),
    "klingO3_standard": _kling3("Kling O3 Standard", _KLING_SD, references=7),
    "klingO3_pro": _kling3("Kling O3 Pro", _KLING_HD, references=7),
    "klingO3_4k": _kling3("Kling O3 4K", _KLING_4K, references=7),
    "gemini_omni_flash": RunwayModel(
        "Gemini Omni Flash", _span(3, 10), True, ("1280:720", "720:1280"), ("1280:720", "720:1280"), SDK
    ),
    "gemini_omni_flash_1.1": RunwayModel(
        "Gemini Omni Flash 1.1",
        _span(3, 10),
        True,
        ("640:360", "360:640", "1280:720", "720:1280", "1920:1080", "1080:1920", "3840:2160", "2160:3840"),
        ("640:360", "360:640", "1280:720", "720:1280", "1920:1080", "1080:1920", "3840:2160", "2160:3840"),
        SDK,
        auto=True,
        last_frame=True,
    ),
    "kling_4": RunwayModel(
        "Kling 4",
        _span(3, 30),
        True,
        ("auto_720p", "auto_1080p"),
        _KLING4_TEXT,
        f"{SDK}; 3-30 s as other providers serve Kling 4 (second-hand)",
        reference_images=9,
    ),
    "hailuo3": RunwayModel(
        "MiniMax Hailuo 3",
        _span(5, 15),
        True,
        _ASPECTS,
        _ASPECTS,
        _second_hand("5-15 s"),
        resolutions=("768p", "2k"),
        reference_audio_s=15.0,
    ),
    "h3_max": RunwayModel(
        "MiniMax H3 Max",
        _span(5, 15),
        True,
        (),
        (),
        _second_hand("5-15 s"),
        resolutions=("480p", "768p"),
        last_frame=True,
        seed=True,
    ),
    "happyhorse_1_0": RunwayModel(
        "HappyHorse 1.0",
        _span(3, 15),
        True,
        (),
        _HAPPYHORSE_TEXT,
        _second_hand("3-15 s"),
        resolutions=("720p", "1080p"),
        resolution_for=("image",),
        max_prompt_chars=2500,
    ),
    "wan3": RunwayModel(
        "Wan 3", _span(2, 30), True, _WAN, _WAN, _second_hand("2-30 s"), audio=True, reference_audio_s=15.0
    ),
    "grok_imagine_1_5": RunwayModel(
        "Grok Imagine 1.5",
        _span(1, 15),
        True,
        (),
        _GROK_TEXT,
        _second_hand("1-15 s"),
        resolutions=("480p", "720p", "1080p"),
    ),
    "grok_imagine_1_5_lite": RunwayModel(
        "Grok Imagine 1.5 Lite",
        _span(1, 15),
        True,
        ("auto_480p", "auto_720p", "auto_1080p"),
        _GROK_LITE_TEXT,
        _second_hand("1-15 s"),
    ),
}
# Listed by the SDK but not declared: wan3_prime (no source gives its lengths).

RATIO_STYLE_AUTO = "auto_"


def closest_ratio(width: int, height: int, ratios: tuple[str, ...], *, resolution: str | None = None) -> str:
    """The offered ratio nearest the film's shape; at 1080p the larger of two equal shapes.

    Nearness is measured on the ratio's logarithm, so a square film is as far from 16:9 as from 9:16 and gets
    the first one offered, not the portrait one by a quirk of subtraction. Named entries ("adaptive",
    "auto_720p") are not shapes and are left out; a model offering only those gets the one for the resolution.
    """
    shapes = [r for r in ratios if _is_shape(r)]
    if not shapes:
        return auto_ratio(ratios, resolution)
    target = math.log(width / height)

    def score(ratio: str) -> tuple[float, int]:
        w, h = (int(part) for part in ratio.split(":"))
        size_pref = -w * h if resolution == "1080p" else w * h
        return round(abs(math.log(w / h) - target), 9), size_pref

    return min(shapes, key=score)


def auto_ratio(ratios: tuple[str, ...], resolution: str | None) -> str:
    """Of named ratios ("auto_720p", "auto_1080p"), the one for the recipe's resolution, else the smallest."""
    named = [r for r in ratios if r.startswith(RATIO_STYLE_AUTO)]
    for ratio in named:
        if resolution and ratio == RATIO_STYLE_AUTO + resolution.lower():
            return ratio
    return named[0] if named else ratios[0]


def pick_resolution(offered: tuple[str, ...], wanted: str | None, film_height: int) -> str:
    """The recipe's resolution where the model takes it, else the offered one nearest the film's height."""
    if wanted and wanted.lower() in offered:
        return wanted.lower()

    def lines(value: str) -> int:
        value = value.lower()
        return 1440 if value == "2k" else int(value.rstrip("p"))

    return min(offered, key=lambda value: (abs(lines(value) - film_height), lines(value)))


def _is_shape(ratio: str) -> bool:
    parts = ratio.split(":")
    return len(parts) == 2 and all(part.isdigit() for part in parts)
