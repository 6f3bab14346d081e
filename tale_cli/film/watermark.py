"""Marks on a finished film, never on its shots (so a cut without them costs no shot): a visible one burned into the
picture (`--watermark TEXT|IMAGE[:POSITION[:OPACITY]]`), and an invisible one (`--invisible-watermark TEXT`) in
every frame's luma, in the invisible-watermark library's dwtDctSvd format, strong enough to survive a re-encode at
CRF 28. `tale verify` reads it back with the library's own decoder by a vote over sampled frames. The library (with
OpenCV and PyWavelets, its dependencies) is imported lazily, here only.
"""

from __future__ import annotations

import io
import os
import re
import zlib
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from tale_cli.errors import InputError, missing_extra

if TYPE_CHECKING:
    from tale_cli.media.ffmpeg import EncodeSettings

POSITIONS = ("top-left", "top-right", "bottom-left", "bottom-right", "center")
DEFAULT_POSITION = "bottom-right"
DEFAULT_OPACITY = 0.5
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp")
# The invisible mark: the text's UTF-8 (at most MARK_BYTES, padded with zeros) and a CRC-16 of it, so that a film
# with no mark (or one too damaged to read) is told from one that says something. Embedded in luma (not subsampled
# like chroma, so it survives H.264 better) with a quantisation step large enough for CRF 28.
MARK_BYTES = 6
MARK_BITS = (MARK_BYTES + 2) * 8
MARK_METHOD = "dwtDctSvd"
MARK_SCALES = [128, 0, 0]
MIN_PIXELS = 256 * 256  # the library's smallest frame
SAMPLED_FRAMES = 12


@dataclass(frozen=True)
class Watermark:
    """A visible mark: text or an image file, where it goes, and how opaque it is."""

    kind: Literal["text", "image"]
    value: str
    position: str = DEFAULT_POSITION
    opacity: float = DEFAULT_OPACITY


def parse_watermark(spec: str) -> Watermark:
    """`TEXT|IMAGE[:POSITION[:OPACITY]]`: an existing image file is drawn, anything else is text."""
    parts = spec.split(":")
    position, opacity = DEFAULT_POSITION, DEFAULT_OPACITY
    if len(parts) >= 3 and parts[-2].strip().lower() in POSITIONS:
        opacity = _opacity(parts[-1])
        position = parts[-2].strip().lower()
        parts = parts[:-2]
    elif len(parts) >= 2 and parts[-1].strip().lower() in POSITIONS:
        position = parts[-1].strip().lower()
        parts = parts[:-1]
    else:
        _refuse_a_mistyped_position(parts)
    value = ":".join(parts)
    if not value.strip():
        raise InputError("--watermark needs a text or an image file", hint="e.g. --watermark 'Made with Tale:top-left'")
    if Path(value).suffix.lower() in IMAGE_SUFFIXES:
        if not Path(value).expanduser().is_file():
            raise InputError(f"watermark image not found: {value}")
        return Watermark("image", str(Path(value).expanduser().resolve()), position, opacity)
    return Watermark("text", value, position, opacity)


def _refuse_a_mistyped_position(parts: list[str]) -> None:
    """A last part that reads as a position or an opacity but is none (`:middle`, `:centre:0.3`, a word straight after
    the colon) is a mistake, not the end of the text: said, rather than drawn into the film."""
    if len(parts) < 2:
        return
    last = parts[-1]
    asked = parts[-2] if len(parts) >= 3 and re.fullmatch(r"\d*\.?\d+", last) else last
    # A position follows its colon directly: "Note: see" is text.
    if re.fullmatch(r"[A-Za-z]+(?:-[A-Za-z]+)*", asked):
        raise InputError(
            f"watermark position '{asked}' is not one of {', '.join(POSITIONS)}",
            hint="a text with a colon in it ends with its position: --watermark 'Take 2: final:bottom-right'",
        )


def _opacity(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0.0 < value <= 1.0:
        raise InputError(f"watermark opacity must be a number above 0 and at most 1, not {text!r}")
    return value


def check_invisible(text: str) -> str:
    """The text an invisible mark can carry: 1 to MARK_BYTES bytes of UTF-8."""
    if not text.strip() or len(text.encode("utf-8")) > MARK_BYTES:
        raise InputError(
            f"--invisible-watermark carries 1 to {MARK_BYTES} bytes of text, not {len(text.encode('utf-8'))}",
            hint="a short id, e.g. --invisible-watermark T-0042",
        )
    return text


def marks_available() -> bool:
    try:
        import imwatermark  # noqa: F401
    except ImportError:
        return False
    return True


def _payload(text: str) -> bytes:
    body = text.encode("utf-8").ljust(MARK_BYTES, b"\0")
    return body + (zlib.crc32(body) & 0xFFFF).to_bytes(2, "big")


def _text_of(payload: bytes) -> str | None:
    body, check = payload[:MARK_BYTES], payload[MARK_BYTES:]
    if (zlib.crc32(body) & 0xFFFF).to_bytes(2, "big") != check:
        return None
    text = body.rstrip(b"\0").decode("utf-8", "replace")
    return text or None


def mark_picture(mark: Watermark, width: int, height: int, output: Path) -> Path:
    """The visible mark as an RGBA picture at its size in a `width`x`height` frame, its opacity in its alpha."""
    from PIL import Image, ImageDraw

    from tale_cli.media.drawing import text_font

    if mark.kind == "image":
        with Image.open(mark.value) as source:
            picture = source.convert("RGBA")
        scale = min(width * 0.2 / picture.width, height * 0.2 / picture.height)
        size = (max(1, round(picture.width * scale)), max(1, round(picture.height * scale)))
        picture = picture.resize(size, Image.Resampling.LANCZOS)
    else:
        font = text_font(mark.value, max(10, height // 16))
        left, top, right, bottom = ImageDraw.Draw(Image.new("RGBA", (1, 1))).textbbox((0, 0), mark.value, font=font)
        pad = max(2, height // 100)
        size = (int(right - left) + 2 * pad, int(bottom - top) + 2 * pad)
        picture = Image.new("RGBA", size, (0, 0, 0, 0))
        draw = ImageDraw.Draw(picture)
        draw.text((pad - left, pad - top), mark.value, font=font, fill=(255, 255, 255, 255),
                  stroke_width=max(1, pad // 2), stroke_fill=(0, 0, 0, 255))  # fmt: skip
    alpha = picture.getchannel("A").point(lambda value: round(value * mark.opacity))
    picture.putalpha(alpha)
    from tale_cli.files import atomic_write_bytes
    from tale_cli.keys.seal import sealed_if_media

    buffer = io.BytesIO()
    picture.save(buffer, format="PNG")
    atomic_write_bytes(output, sealed_if_media(output, buffer.getvalue()))  # in a media-sealed run, sealed
    return output


def _overlay_at(position: str, margin: int) -> str:
    x = {"left": str(margin), "right": f"W-w-{margin}"}
    y = {"top": str(margin), "bottom": f"H-h-{margin}"}
    if position == "center":
        return "x=(W-w)/2:y=(H-h)/2"
    vertical, horizontal = position.split("-")
    return f"x={x[horizontal]}:y={y[vertical]}"


def mark_film(
    source: Path,
    output: Path,
    *,
    visible: Watermark | None,
    invisible: str | None,
    fps: int,
    encode: EncodeSettings,
) -> Path:
    """`source` with the visible mark burned in and/or the invisible one embedded, its sound and subtitles copied."""
    from tale_cli.media.ffmpeg import ffmpeg_pipe, input_arg, probe, run_ffmpeg

    info = probe(source)
    width, height = info.width, info.height
    picture = ["-i", input_arg(mark_picture(visible, width, height, output.with_suffix(".png")))] if visible else []
    margin = max(4, height // 40)
    video = f"[0:v][1:v]overlay={_overlay_at(visible.position, margin)}:format=auto[v]" if visible else "[0:v]null[v]"
    keep = ["-map", "1:a?", "-map", "1:s?", "-c:a", "copy", "-c:s", "copy", "-map_metadata", "1"]
    tail = [*encode.video_args(fps), "-movflags", "+faststart", "-f", "mp4", input_arg(output)]
    if invisible is None:
        run_ffmpeg(["-i", input_arg(source), *picture, "-i", input_arg(source), "-filter_complex", video,
                    "-map", "[v]", *[a.replace("1:", "2:") for a in keep], *tail])  # fmt: skip
        return output
    if width * height < MIN_PIXELS:
        raise InputError(
            f"an invisible mark needs frames of at least {MIN_PIXELS} pixels; this film is {width}x{height}",
            hint="render it larger (--resolution), or leave out --invisible-watermark",
        )
    encoder = _encoder(check_invisible(invisible))
    frame_bytes = width * height * 3
    reading = ["-i", input_arg(source), *picture, "-filter_complex", video, "-map", "[v]"]
    raw = ["-f", "rawvideo", "-pix_fmt", "bgr24"]
    writing = [*raw, "-s", f"{width}x{height}", "-r", str(fps), "-i", "-", "-i", input_arg(source), "-map", "0:v"]
    import numpy as np

    with (
        ffmpeg_pipe([*reading, *raw, "-"], writing=False) as frames,
        ffmpeg_pipe([*writing, *keep, *tail], writing=True) as sink,
    ):
        assert frames.stdout is not None and sink.stdin is not None
        source_frames, sink_in = frames.stdout, sink.stdin

        def mark(chunk: bytes) -> bytes:
            # In floats: a highlight the mark pushes past 255 is clipped, not wrapped round to black.
            marked = encoder(np.frombuffer(chunk, np.uint8).reshape(height, width, 3).astype(np.float32))
            return bytes(np.clip(np.rint(marked), 0, 255).astype(np.uint8).tobytes())

        def batches() -> Iterator[list[bytes]]:
            while chunks := [
                c for c in (source_frames.read(frame_bytes) for _ in range(workers)) if len(c) == frame_bytes
            ]:
                yield chunks

        # numpy and PyWavelets let go of the GIL in their loops: a frame per core, written back in order.
        workers = max(1, min(8, os.cpu_count() or 1))
        with ThreadPoolExecutor(workers) as pool:
            for batch in batches():
                for marked in pool.map(mark, batch):
                    sink_in.write(marked)
    return output


def _encoder(text: str) -> Callable[[Any], Any]:
    """Frame (BGR floats) -> the frame with the mark in its luma, in the format of invisible-watermark's dwtDctSvd
    (its own WatermarkDecoder reads it: `find_mark`): the luma's Haar approximation cut into 4x4 blocks, each
    block's DCT given the largest singular value quantised to its bit. The library does this one block at a time
    in Python (seconds per 720p frame) and then rebuilds the luma with its horizontal and vertical details swapped,
    which blurs every edge; here every block of a frame is done at once and the frame's own details are kept."""
    if not marks_available():
        raise missing_extra("watermark", "invisible-watermark")
    import numpy as np
    import pywt

    bits = np.unpackbits(np.frombuffer(_payload(text), np.uint8)).astype(np.float64)  # as the library's "bytes"
    scale = float(MARK_SCALES[0])
    k = np.arange(4)
    dct = np.sqrt(np.where(k == 0, 1 / 4, 2 / 4))[:, None] * np.cos(np.pi * (2 * k[None, :] + 1) * k[:, None] / 8)

    def embed(frame: Any) -> Any:
        rows, cols = frame.shape[0] // 4 * 4, frame.shape[1] // 4 * 4
        # cv2's BGR->YUV luma; with U and V unchanged, YUV->BGR adds a luma change to all three channels alike.
        luma = frame[:rows, :cols] @ np.array([0.114, 0.587, 0.299])
        approximation, details = pywt.dwt2(luma, "haar")
        down, across = approximation.shape[0] // 4, approximation.shape[1] // 4
        blocks = approximation[: down * 4, : across * 4].reshape(down, 4, across, 4).swapaxes(1, 2).reshape(-1, 4, 4)
        spectra = dct @ blocks @ dct.T
        # The largest singular value and its vectors, from the symmetric eigenproblem (a full SVD is 6x slower).
        values, vectors = np.linalg.eigh(spectra.swapaxes(1, 2) @ spectra)
        largest = np.sqrt(np.maximum(values[:, -1], 0.0))
        right = vectors[:, :, -1]
        left = np.einsum("nij,nj->ni", spectra, right) / np.maximum(largest, 1e-9)[:, None]
        wanted = bits[np.arange(len(blocks)) % len(bits)]
        change = (largest // scale + 0.25 + 0.5 * wanted) * scale - largest
        spectra += change[:, None, None] * left[:, :, None] * right[:, None, :]
        blocks = dct.T @ spectra @ dct
        approximation[: down * 4, : across * 4] = (
            blocks.reshape(down, across, 4, 4).swapaxes(1, 2).reshape(down * 4, -1)
        )
        marked = frame.copy()
        marked[:rows, :cols] += (pywt.idwt2((approximation, details), "haar") - luma)[..., None]
        return marked

    return embed


def find_mark(path: Path) -> str | None:
    """The invisible mark's text read back from `path` by a bit-wise vote over sampled frames; None when no mark
    (or none readable) is there."""
    import numpy as np
    from imwatermark import WatermarkDecoder

    from tale_cli.media.ffmpeg import ffmpeg_pipe, input_arg, probe

    info = probe(path)
    if info.width * info.height < MIN_PIXELS:
        return None
    every = max(1, round(info.duration_s * (info.fps or 24) / SAMPLED_FRAMES))
    frame_bytes = info.width * info.height * 3
    decoder = WatermarkDecoder("bits", MARK_BITS)
    votes = []
    pick = ["-vf", f"select=not(mod(n\\,{every}))", "-fps_mode", "passthrough"]
    with ffmpeg_pipe(
        ["-i", input_arg(path), *pick, "-f", "rawvideo", "-pix_fmt", "bgr24", "-"], writing=False
    ) as frames:
        assert frames.stdout is not None
        while len(chunk := frames.stdout.read(frame_bytes)) == frame_bytes:
            frame = np.frombuffer(chunk, np.uint8).reshape(info.height, info.width, 3)
            bits = decoder.decode(frame.astype(np.float32), MARK_METHOD, scales=MARK_SCALES)
            votes.append(np.asarray(bits, dtype=np.uint8))
    if not votes:
        return None
    bits = (np.mean(votes, axis=0) > 0.5).astype(np.uint8)
    return _text_of(bytes(np.packbits(bits)))
