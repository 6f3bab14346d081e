"""What LTX-2 needs beyond the other diffusers families: the sound it makes with its frames, read out, joined across
chained segments in step with the picture and written for the clip; and its first frame compressed as in training."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any


def sample_rate(pipe: Any) -> int:
    """The rate of the sound a pipeline makes: its vocoder's output rate (24 kHz for LTX-2.0)."""
    return int(pipe.vocoder.config.output_sampling_rate)


def waveform(audio: Any) -> Any:
    """The pipeline's sound for its one video as float32 samples shaped (samples, channels)."""
    import numpy as np

    if hasattr(audio, "detach"):  # a torch tensor, in whatever dtype and on whatever device the vocoder ran
        audio = audio.detach().float().cpu().numpy()
    samples = np.asarray(audio, dtype=np.float32)[0]
    if samples.ndim == 1:
        samples = samples[None]
    return np.ascontiguousarray(samples.T)


def join_segments(pieces: list[Any], frames: list[int], *, rate: int, fps: float) -> Any:
    """One track for a shot's segments, each segment's sound fitted to the frames it keeps in the joined picture.

    A continuation repeats its conditioning frame and the picture drops it, so its sound loses that frame's length
    too; a segment's sound, a few milliseconds off its frames (the audio latents are rounded), is cut or padded with
    silence to them, so the joins stay in step with the picture.
    """
    import numpy as np

    kept: list[Any] = []
    start = 0
    for number, (samples, count) in enumerate(zip(pieces, frames, strict=True)):
        skip = 0 if number == 0 else round(rate / fps)
        end = start + (count if number == 0 else count - 1)
        wanted = round(end * rate / fps) - round(start * rate / fps)
        part = samples[skip : skip + wanted]
        if len(part) < wanted:
            part = np.concatenate([part, np.zeros((wanted - len(part), samples.shape[1]), dtype=np.float32)])
        kept.append(part)
        start = end
    return np.concatenate(kept)


def write_sound(path: Path, samples: Any, rate: int) -> Path:
    """Float samples (samples, channels) in [-1, 1] as a 16-bit WAV file."""
    import numpy as np

    from tale_cli.media.wav import write_wav

    pcm = (np.clip(samples, -1.0, 1.0) * 32767.0).round().astype("<i2")
    write_wav(path, pcm.tobytes(), rate, channels=int(samples.shape[1]))
    return path


def as_trained(image: Any, pipe: Any) -> Any:
    """The first frame re-compressed as the model saw frames in training (one H.264 frame at the CRF its generation
    was trained with: 33 up to LTX-2.3, 18 for LTX-2.5), by Tale's ffmpeg: the pipeline would need PyAV for it."""
    from diffusers.pipelines.ltx2.utils import resolve_default_image_crf
    from PIL import Image

    from tale_cli.media.ffmpeg import h264_still

    crf = int(resolve_default_image_crf(pipe.text_encoder))
    with tempfile.TemporaryDirectory(prefix="tale-still-") as folder:
        source = Path(folder) / "first.png"
        image.save(source)
        with Image.open(h264_still(source, Path(folder) / "compressed.png", crf=crf)) as compressed:
            return compressed.convert("RGB")
