"""The offline preview backend: character cards and animatic clips drawn from the plan, real MP4s; the animatic's
caption shows what the shot says at each moment, narration or a line under its speaker's name."""

from __future__ import annotations

import colorsys
import hashlib
import io
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tale_cli.backends.base import (
    ImageBackend,
    ImageCapabilities,
    ReferenceRequest,
    RenderResult,
    ShotRequest,
    VideoBackend,
    VideoCapabilities,
)
from tale_cli.keys.seal import clear_path
from tale_cli.media.drawing import text_font, wrap_text
from tale_cli.media.ffmpeg import EncodeSettings, filter_escape, input_arg, run_ffmpeg
from tale_cli.media.fonts import font_for
from tale_cli.story.pace import caption_spans, estimated_times
from tale_cli.story.plan import Entity

if TYPE_CHECKING:
    from PIL import Image as PILImage

    from tale_cli.config import Recipe

MODEL = "animatic-1"
PAN_MARGIN = 0.12


def palette(text: str) -> list[tuple[int, int, int]]:
    """Three related colours derived from the text's hash: same text, same colours."""
    digest = hashlib.sha256(text.encode("utf-8")).digest()
    hue = digest[0] / 255
    colours = []
    for offset, lightness, saturation in ((0.0, 0.22, 0.55), (0.08, 0.42, 0.6), (0.5, 0.7, 0.5)):
        r, g, b = colorsys.hls_to_rgb((hue + offset) % 1.0, lightness, saturation)
        colours.append((int(r * 255), int(g * 255), int(b * 255)))
    return colours


def _background(width: int, height: int, text: str, seed: int, first_frame: Path | None) -> PILImage.Image:
    """A gradient sky, a horizon and soft shapes, larger than the frame so the camera can move."""
    import numpy as np
    from PIL import Image, ImageDraw, ImageFilter

    dark, mid, light = palette(text)
    rows = np.linspace(0.0, 1.0, height, dtype=np.float32)[:, None]
    top, bottom = np.array(dark, np.float32), np.array(mid, np.float32)
    gradient = (top * (1 - rows) + bottom * rows)[:, None, :].repeat(width, axis=1)
    image = Image.fromarray(gradient.astype(np.uint8))
    draw = ImageDraw.Draw(image, "RGBA")
    digest = hashlib.sha256(f"{seed}:{text}".encode()).digest()
    horizon = int(height * (0.55 + digest[1] / 255 * 0.2))
    draw.rectangle([0, horizon, width, height], fill=(*dark, 200))
    for i in range(6):
        x = digest[2 + i] / 255 * width
        y = digest[8 + i] / 255 * horizon
        radius = height * (0.05 + digest[14 + i] / 255 * 0.18)
        draw.ellipse([x - radius, y - radius, x + radius, y + radius], fill=(*light, 70))
    image = image.filter(ImageFilter.GaussianBlur(radius=max(2, height // 90)))
    if first_frame is not None and first_frame.is_file():
        with clear_path(first_frame) as readable, Image.open(readable) as frame:
            backdrop = frame.convert("RGB").resize((width, height))
        image = Image.blend(image, backdrop, 0.45)
    return image


@dataclass(frozen=True)
class Caption:
    """What the animatic shows at the foot of a shot from `start_s` to `end_s` (seconds into the shot): narration,
    or a line with the name of the character who says it (`speaker`)."""

    start_s: float
    end_s: float
    text: str
    speaker: str = ""


def captions(request: ShotRequest) -> list[Caption]:
    """The shot's speech in its order, each on screen while it is said: where the voice track says it when it has
    (`request.speech_times`), else where it will at a natural pace. Together they cover the shot."""
    speech = [item for item in request.shot.speech if item.text.strip()]
    times = request.speech_times
    if times is None or len(times) != len(speech):
        times = tuple(estimated_times([item.text for item in speech], request.duration_s))
    names = {character.id: character.name for character in request.plan.characters}
    return [
        Caption(round(start, 3), round(end, 3), item.text.strip(), "" if item.narrated else names.get(item.who, ""))
        for item, (start, end) in zip(speech, caption_spans(times, request.duration_s), strict=True)
    ]


def caption_at(request: ShotRequest, seconds: float) -> Caption | None:
    """The caption on screen `seconds` into the shot (None where the shot says nothing)."""
    shown = captions(request)
    return next((caption for caption in shown if caption.start_s <= seconds < caption.end_s), None) or (
        shown[-1] if shown and seconds >= shown[-1].end_s else None
    )


def _layer(request: ShotRequest) -> tuple[PILImage.Image, float, bool, int]:
    """An empty transparent layer of the frame's size, its type scale, whether it is wide, and its margin."""
    from PIL import Image

    width, height = request.width, request.height
    scale = min(width, height) / 720
    return Image.new("RGBA", (width, height), (0, 0, 0, 0)), scale, width > height, int(40 * scale)


def _overlay(request: ShotRequest, names: list[str]) -> PILImage.Image:
    """Shot number, wrapped prompt and characters on a transparent layer.

    Sizes follow the frame's short side, so a 720x1280 frame has the type of a 1280x720 one; a tall or square
    frame has less width and more height, so its lines are shorter and it has room for more of them.
    """
    from PIL import ImageDraw

    layer, scale, wide, margin = _layer(request)
    # Characters per line: what a wide frame has always drawn, else what fits the width.
    room = request.width / scale - 80
    prompt_chars = int(70 / max(scale, 0.2) * scale * 1.4) if wide else max(16, int(room / 12))
    draw = ImageDraw.Draw(layer)
    shot, plan = request.shot, request.plan
    big = text_font(plan.title, int(44 * scale))
    draw.text((margin, margin), f"SHOT {shot.index}/{len(plan.shots)}", font=big, fill=(255, 255, 255, 235))
    small = text_font(request.prompt + " ".join(names), int(22 * scale))
    draw.text(
        (margin, margin + int(58 * scale)),
        f"{shot.camera}  ·  {request.duration_s:g} s",
        font=small,
        fill=(255, 255, 255, 190),
    )
    y = margin + int(100 * scale)
    for line in wrap_text(request.prompt, prompt_chars)[: 6 if wide else 12]:
        draw.text((margin, y), line, font=small, fill=(255, 255, 255, 170))
        y += int(30 * scale)
    if names:
        who = text_font(" ".join(names), int(26 * scale))
        draw.text((margin, y + int(12 * scale)), "with " + ", ".join(names), font=who, fill=(255, 230, 150, 230))
    return layer


def _draw_caption(layer: PILImage.Image, request: ShotRequest, caption: Caption) -> PILImage.Image:
    """The caption in a dark box at the foot of the frame: a line under its speaker's name, in the names' colour."""
    from PIL import ImageDraw

    _, scale, wide, margin = _layer(request)
    width, height = request.width, request.height
    narration_chars = 60 if wide else max(12, int((width / scale - 80) / 17))
    body = text_font(caption.speaker + caption.text, int(30 * scale))
    rows = [(caption.speaker, (255, 230, 150, 245))] if caption.speaker else []
    rows += [(line, (255, 255, 255, 245)) for line in wrap_text(caption.text, narration_chars)[: 3 if wide else 6]]
    # A tall frame keeps its caption above the bottom fifth, where phone apps draw their own buttons and text.
    bottom = height - margin if wide else height - int(height * 0.2)
    box_top = bottom - int(42 * scale) * len(rows) - int(20 * scale)
    draw = ImageDraw.Draw(layer)
    draw.rectangle([0, box_top, width, height if wide else bottom], fill=(0, 0, 0, 120))
    for number, (row, colour) in enumerate(rows):
        draw.text((margin, box_top + int(12 * scale) + number * int(42 * scale)), row, font=body, fill=colour)
    return layer


class PreviewVideo(VideoBackend):
    """Animatic clips: a slow camera move over a drawn backdrop with the shot's text and a timecode."""

    name = "preview"

    def __init__(self, recipe: Recipe, *, encode: EncodeSettings | None = None) -> None:
        from tale_cli.config import load_defaults

        defaults = load_defaults()
        self.encode = encode or EncodeSettings(
            preset=defaults.x264_preset, crf=defaults.x264_crf, audio_bitrate=defaults.audio_bitrate
        )

    def capabilities(self) -> VideoCapabilities:
        return VideoCapabilities(image_to_video=True, max_reference_images=8, audio=True, default_jobs=2)

    def fingerprint(self) -> dict[str, Any]:
        return {"model": MODEL, "preset": self.encode.preset, "crf": self.encode.crf}

    def request_fingerprint(self, request: ShotRequest) -> dict[str, Any]:
        """The animatic draws the speech, camera, names and shot number, so they change its pixels."""
        fields: dict[str, Any] = {}
        speech = request.shot.speech
        if len(speech) <= 1 and all(item.narrated for item in speech):
            fields["narration"] = request.shot.narration  # one caption for the whole shot, as it always was
        else:
            fields["speech"] = [[c.speaker, c.text, c.start_s, c.end_s] for c in captions(request)]
        return {
            **fields,
            "camera": request.shot.camera,
            "characters": [request.plan.character(c).name for c in request.shot.characters],
            "index": request.shot.index,
            "shots": len(request.plan.shots),
            "title": request.plan.title,
            "start_s": _start_of(request),
        }

    def render_shot(self, request: ShotRequest) -> RenderResult:
        width, height, fps = request.width, request.height, request.fps
        names = [request.plan.character(c).name for c in request.shot.characters]
        big_w = int(width * (1 + PAN_MARGIN)) // 2 * 2
        big_h = int(height * (1 + PAN_MARGIN)) // 2 * 2
        frames = round(request.duration_s * fps)
        start = _start_of(request)
        with _Stills() as stills_at:
            backdrop = stills_at(_background(big_w, big_h, request.prompt, request.seed, request.first_frame))
            header = _overlay(request, names)
            shown = captions(request)
            if len(shown) == 1:
                header = _draw_caption(header, request, shown[0])  # on screen the whole shot
            overlay = stills_at(header)
            timed: list[tuple[Path, Caption]] = []
            if len(shown) > 1:
                for caption in shown:
                    timed.append((stills_at(_draw_caption(_layer(request)[0], request, caption)), caption))
            move = _camera_expression(request.shot.camera, request.duration_s)
            # Each still is decoded and converted once, then repeated by the loop filter: far cheaper than
            # re-reading the PNGs for every frame.
            hold = f"loop=loop={frames - 1}:size=1:start=0,setpts=N/{fps}/TB"
            graph = (
                f"[0:v]format=yuv420p,{hold},crop={width}:{height}:{move}[bg];"
                f"[1:v]format=yuva420p,{hold}[text];[bg][text]overlay=0:0:format=yuv420"
            )
            # Each caption is laid over the picture while its words are said, and only then.
            for number, (_, caption) in enumerate(timed):
                until = f"*lt(t\\,{caption.end_s:.3f})" if number < len(timed) - 1 else ""
                graph += (
                    f"[v{number}];[{number + 2}:v]format=yuva420p,{hold}[c{number}];[v{number}][c{number}]"
                    f"overlay=0:0:format=yuv420:enable=gte(t\\,{caption.start_s:.3f}){until}"
                )
            font = font_for("0123456789")
            short = min(width, height)
            if font is not None:
                graph += (
                    f",drawtext=fontfile='{filter_escape(font)}':text='%{{pts\\:hms\\:{start:.3f}}}'"
                    f":x=w-tw-{int(30 * short / 720)}:y={int(30 * short / 720)}"
                    f":fontsize={int(26 * short / 720)}:fontcolor=white@0.85:box=1:boxcolor=black@0.35:boxborderw=8"
                )
            graph += "[v]"
            stills = [arg for path, _ in timed for arg in ("-i", input_arg(path))]
            run_ffmpeg(
                [
                    "-i",
                    input_arg(backdrop),
                    "-i",
                    input_arg(overlay),
                    *stills,
                    "-f",
                    "lavfi",
                    "-i",
                    f"anullsrc=channel_layout=stereo:sample_rate={self.encode.audio_rate}",
                    "-filter_complex",
                    graph,
                    "-map",
                    "[v]",
                    "-map",
                    f"{len(timed) + 2}:a",
                    "-frames:v",
                    str(frames),
                    "-t",
                    f"{frames / fps:.6f}",
                    *self.encode.video_args(fps),
                    *self.encode.audio_args(),
                    "-movflags",
                    "+faststart",
                    "-f",
                    "mp4",
                    input_arg(request.output),
                ],
                pass_fds=stills_at.fds,
            )
        return RenderResult(model=MODEL, has_audio=True, cost_usd=0.0)

    def close(self) -> None:
        return None


class _Stills:
    """The shot's still pictures (backdrop, titles, captions: the story's words drawn) as PNG files in memory, read by
    ffmpeg as /dev/fd/N, so they are on no disk; in a temporary folder where a system has no memfd."""

    def __init__(self) -> None:
        self.fds: list[int] = []
        self.folder: tempfile.TemporaryDirectory[str] | None = None

    def __enter__(self) -> _Stills:
        if not hasattr(os, "memfd_create"):
            self.folder = tempfile.TemporaryDirectory(prefix="tale-preview-")
        return self

    def __call__(self, picture: PILImage.Image) -> Path:
        if self.folder is not None:
            path = Path(self.folder.name) / f"still-{len(list(Path(self.folder.name).iterdir()))}.png"
            picture.save(path, compress_level=1)
            return path
        from tale_cli.keys.seal import memory_file

        buffer = io.BytesIO()
        picture.save(buffer, format="PNG", compress_level=1)
        self.fds.append(memory_file(buffer.getvalue(), "still.png"))
        return Path(f"/dev/fd/{self.fds[-1]}")

    def __exit__(self, *exc: object) -> None:
        for fd in self.fds:
            os.close(fd)
        if self.folder is not None:
            self.folder.cleanup()


def _start_of(request: ShotRequest) -> float:
    return sum(s.duration_s for s in request.plan.shots if s.index < request.shot.index)


def _camera_expression(camera: str, duration: float) -> str:
    """crop x:y expressions for a slow move that fits the shot's camera words."""
    progress = f"min(t/{duration:.3f}\\,1)"
    words = camera.lower()
    centre_x, centre_y = "(iw-ow)/2", "(ih-oh)/2"
    if "left" in words:
        return f"x=(iw-ow)*(1-{progress}):y={centre_y}"
    if "tilt up" in words:
        return f"x={centre_x}:y=(ih-oh)*(1-{progress})"
    if "tilt down" in words:
        return f"x={centre_x}:y=(ih-oh)*{progress}"
    if "static" in words:
        return f"x={centre_x}+(iw-ow)*0.1*sin(t/2):y={centre_y}"
    if "pull" in words:
        return f"x=(iw-ow)*(0.5-0.5*{progress}):y=(ih-oh)*(0.5-0.5*{progress})"
    if "push" in words:
        return f"x=(iw-ow)*0.5*{progress}:y=(ih-oh)*0.5*{progress}"
    return f"x=(iw-ow)*{progress}:y={centre_y}"


def animate_still(
    image: Path,
    output: Path,
    *,
    width: int,
    height: int,
    fps: int,
    duration_s: float,
    camera: str,
    encode: EncodeSettings,
) -> Path:
    """A clip of one picture under the animatic's slow camera move for `camera`, with a silent track like the
    animatic's own clips: how a user's still becomes a shot."""
    big_w = int(width * (1 + PAN_MARGIN)) // 2 * 2
    big_h = int(height * (1 + PAN_MARGIN)) // 2 * 2
    frames = max(1, round(duration_s * fps))
    # No sample aspect ratio is written (setsar=0), as in the animatic's clips: the still joins them by stream copy.
    graph = (
        f"[0:v]scale={big_w}:{big_h}:force_original_aspect_ratio=increase,crop={big_w}:{big_h},setsar=0,"
        f"format=yuv420p,loop=loop={frames - 1}:size=1:start=0,setpts=N/{fps}/TB,"
        f"crop={width}:{height}:{_camera_expression(camera, duration_s)}[v]"
    )
    run_ffmpeg(
        [
            "-i", input_arg(image), "-f", "lavfi", "-i", f"anullsrc=channel_layout=stereo:sample_rate={encode.audio_rate}",
            "-filter_complex", graph, "-map", "[v]", "-map", "1:a", "-frames:v", str(frames), "-t", f"{frames / fps:.6f}",
            *encode.video_args(fps), *encode.audio_args(), "-movflags", "+faststart", "-f", "mp4", input_arg(output),
        ]
    )  # fmt: skip
    return output


class PreviewImage(ImageBackend):
    """Character reference cards: the name, the description and a colour that stays the character's."""

    name = "preview"

    def __init__(self, recipe: Recipe) -> None:
        self.size = 768

    def capabilities(self) -> ImageCapabilities:
        return ImageCapabilities()

    def fingerprint(self) -> dict[str, Any]:
        return {"model": "card-1", "size": self.size}

    def render_reference(self, request: ReferenceRequest) -> RenderResult:
        from PIL import ImageDraw

        character = request.character
        size = self.size
        card = _background(size, size, character.name + character.description, request.seed, None)
        draw = ImageDraw.Draw(card, "RGBA")
        dark, _, light = palette(character.name)
        kind = character.kind if isinstance(character, Entity) else None
        if kind == "place":  # a horizon and a building: somewhere, with nobody in it
            draw.rectangle([0, size * 0.45, size, size], fill=(*dark, 200))
            draw.rectangle([size * 0.55, size * 0.2, size * 0.7, size * 0.45], fill=(*light, 230))
        elif kind is not None:  # a thing alone in the middle of the card
            draw.rounded_rectangle([size * 0.32, size * 0.18, size * 0.68, size * 0.56], radius=24, fill=(*light, 230))
        else:
            draw.ellipse(
                [size * 0.3, size * 0.12, size * 0.7, size * 0.52], fill=(*light, 230), outline=(*dark, 255), width=6
            )
            draw.rounded_rectangle([size * 0.2, size * 0.48, size * 0.8, size * 0.9], radius=40, fill=(*light, 200))
        draw.rectangle([0, size * 0.62, size, size], fill=(0, 0, 0, 150))
        title = text_font(character.name, 56)
        draw.text((40, size * 0.65), character.name, font=title, fill=(255, 255, 255, 255))
        body = text_font(character.description, 26)
        for number, line in enumerate(wrap_text(character.description, 44)[:5]):
            draw.text((40, size * 0.65 + 76 + number * 34), line, font=body, fill=(255, 255, 255, 220))
        card.save(request.output, format="PNG")
        return RenderResult(model="card-1", cost_usd=0.0)

    def close(self) -> None:
        return None
