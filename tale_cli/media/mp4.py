"""Read an MP4's index (the moov box) in Python: tracks, codecs, sizes, rates, decoder configuration, extent.

It answers, in about a millisecond and without starting ffmpeg, whether clips can be joined by stream
copy. It describes only plain H.264 + AAC files and returns None for anything else, so that callers fall
back to ffmpeg's own probe. It also measures what an index cannot be trusted to say: how much of the
video it promises is really in the file, and whether each H.264 frame's units add up to the frame.
"""

from __future__ import annotations

import mmap
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from tale_cli.media.ffmpeg import ClipInfo

MAX_MOOV_BYTES = 64_000_000
_H264_PROFILES = {66: "Baseline", 77: "Main", 88: "Extended", 100: "High", 110: "High 10", 122: "High 4:2:2"}
_AAC_PROFILES = {1: "Main", 2: "LC", 4: "LTP", 5: "HE-AAC", 29: "HE-AACv2"}
_AAC_RATES = (96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000, 7350)
_CHANNELS = {1: "mono", 2: "stereo"}


@dataclass(frozen=True)
class Mp4Facts:
    info: ClipInfo
    video_config: bytes
    """The avcC box: SPS and PPS. Clips join by stream copy only if theirs are the same bytes."""


@dataclass(frozen=True)
class _Video:
    width: int
    height: int
    fps: float
    profile: str
    pixel_format: str
    config: bytes


@dataclass(frozen=True)
class _Audio:
    rate: int
    channels: str
    profile: str


@dataclass(frozen=True)
class Extent:
    """How much video an MP4 holds, measured from where its samples lie rather than from its claims."""

    promised_s: float
    """What the video track's samples add up to: the length a player is told."""
    held_s: float
    """The video whose samples all lie inside the file: what can really be shown."""
    complete: bool
    """Every sample of every track lies inside the file."""


class _Unsupported(Exception):
    """Something this reader does not describe; ffmpeg's probe will."""


def mp4_facts(path: Path) -> Mp4Facts | None:
    """What ffmpeg's probe would say about an H.264/AAC MP4, read from its index; None if not that."""
    from tale_cli.keys.seal import clear_path

    with clear_path(path) as readable:
        return _mp4_facts(readable, path)


def _mp4_facts(readable: Path, path: Path) -> Mp4Facts | None:
    try:
        moov = _read_moov(readable)
        return _describe(path, moov) if moov is not None else None
    except (OSError, struct.error, _Unsupported, IndexError, KeyError, ZeroDivisionError):
        return None


def mp4_extent(path: Path) -> Extent | None:
    """The extent of an MP4 or MOV's first video track, whatever its codec; None if the index cannot be read."""
    from tale_cli.keys.seal import clear_path

    with clear_path(path) as readable:
        return _mp4_extent(readable)


def _mp4_extent(path: Path) -> Extent | None:
    try:
        moov = _read_moov(path)
        if moov is None:
            return None
        size = path.stat().st_size
        tracks = list(_tracks(moov))
        spans = [_sample_spans(moov, track.stbl) for track in tracks]
        video = next((number for number, track in enumerate(tracks) if track.handler == b"vide"), None)
        if video is None:
            return None
        deltas = _sample_deltas(moov, tracks[video].stbl)
    except (OSError, struct.error, _Unsupported, IndexError, KeyError, ZeroDivisionError):
        return None
    video_spans, timescale = spans[video], tracks[video].timescale
    if len(deltas) != len(video_spans) or timescale == 0:
        return None
    held = next((n for n, (offset, length) in enumerate(video_spans) if offset + length > size), len(video_spans))
    return Extent(
        promised_s=sum(deltas) / timescale,
        held_s=sum(deltas[:held]) / timescale,
        complete=all(offset + length <= size for track in spans for offset, length in track),
    )


def mp4_damage(path: Path) -> str | None:
    """Why an MP4's frames cannot all be read, judged from its index and every H.264 frame's units; None if sound.

    A sample past the end of the file, or an H.264 frame whose length-prefixed units do not add up to it (what
    a decoder reports as "Invalid NAL unit size"): how a file cut short, or written by two processes at once,
    looks. It reads only the units' length prefixes, so a minute of film takes milliseconds, not a decode.
    """
    from tale_cli.keys.seal import clear_path

    with clear_path(path) as readable:
        return _mp4_damage(readable)


def _mp4_damage(path: Path) -> str | None:
    try:
        moov = _read_moov(path)
        if moov is None:
            return "it has no index (moov)"
        tracks = list(_tracks(moov))
        spans = [_sample_spans(moov, track.stbl) for track in tracks]
        with path.open("rb") as handle, mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as data:
            for track, samples in zip(tracks, spans, strict=True):
                if any(offset + size > len(data) for offset, size in samples):
                    return "its index points past the end of the file"
                length_size = _nal_length_size(moov, track.stbl) if track.handler == b"vide" else None
                bad = _first_broken_frame(data, samples, length_size) if length_size else None
                if bad is not None:
                    return f"video frame {bad + 1} of {len(samples)} does not hold whole H.264 units"
    except (OSError, ValueError, struct.error, _Unsupported, IndexError, KeyError):
        return "its index cannot be read"
    return None


def _nal_length_size(data: bytes, stbl: tuple[int, int]) -> int | None:
    """Bytes in each H.264 unit's length prefix (from avcC), or None for another codec."""
    kind, start, end = _sample_entry(data, stbl)
    if kind not in (b"avc1", b"avc3"):
        return None
    config = _child(data, (start + 78, end), b"avcC")[0]
    return (data[config + 4] & 3) + 1


def _first_broken_frame(data: mmap.mmap, samples: list[tuple[int, int]], length_size: int) -> int | None:
    for number, (offset, size) in enumerate(samples):
        position, end = offset, offset + size
        while position < end:
            unit = int.from_bytes(data[position : position + length_size], "big")
            header = position + length_size
            # Empty, overrunning, or with the forbidden_zero_bit set: not an H.264 unit.
            if unit == 0 or header + unit > end or data[header] & 0x80:
                return number
            position = header + unit
    return None


def _boxes(data: bytes, start: int, end: int) -> Iterator[tuple[bytes, int, int]]:
    """(type, payload start, payload end) of each box in data[start:end]."""
    offset = start
    while offset + 8 <= end:
        size, kind = struct.unpack_from(">I4s", data, offset)
        header = 8
        if size == 1:
            size, header = struct.unpack_from(">Q", data, offset + 8)[0], 16
        elif size == 0:
            size = end - offset
        if size < header or offset + size > end:
            raise _Unsupported("a box runs past its parent")
        yield kind, offset + header, offset + size
        offset += size


def _child(data: bytes, span: tuple[int, int], *path: bytes) -> tuple[int, int]:
    """The payload span of the first box along `path` below `span`."""
    for kind in path:
        span = next(((start, end) for name, start, end in _boxes(data, *span) if name == kind), (-1, -1))
        if span[0] < 0:
            raise _Unsupported(f"no {kind!r} box")
    return span


def set_subtitles_default(path: Path, default: bool) -> int:
    """Mark the file's subtitle tracks as shown by default or not, in place: the track header's `enabled` flag, which
    players and ffmpeg read as the default disposition (ffmpeg's muxer always enables a lone subtitle track).

    Returns how many subtitle tracks were marked; the file's size and every other byte stay as they were."""
    found = _moov_offset(path)
    if found is None:
        return 0
    offset, moov = found
    marked = 0
    with path.open("r+b") as handle:
        for kind, start, end in _boxes(moov, 0, len(moov)):
            if kind != b"trak":
                continue
            mdia = _child(moov, (start, end), b"mdia")
            hdlr = _child(moov, mdia, b"hdlr")[0]
            if moov[hdlr + 8 : hdlr + 12] not in (b"sbtl", b"text", b"subt"):
                continue
            tkhd = _child(moov, (start, end), b"tkhd")[0]
            flags = moov[tkhd + 3]
            handle.seek(offset + tkhd + 3)
            handle.write(bytes([flags | 0x1 if default else flags & ~0x1 & 0xFF]))
            marked += 1
    return marked


def _moov_offset(path: Path) -> tuple[int, bytes] | None:
    """Where the moov box's payload starts in the file, and the payload."""
    with path.open("rb") as handle:
        total = path.stat().st_size
        offset = 0
        while offset + 8 <= total:
            handle.seek(offset)
            head = handle.read(16)
            size, kind = struct.unpack_from(">I4s", head)
            header = 8
            if size == 1:
                size, header = struct.unpack_from(">Q", head, 8)[0], 16
            elif size == 0:
                size = total - offset
            if size < header:
                return None
            if kind == b"moov":
                if size > MAX_MOOV_BYTES:
                    return None
                handle.seek(offset + header)
                return offset + header, handle.read(size - header)
            offset += size
    return None


def _read_moov(path: Path) -> bytes | None:
    found = _moov_offset(path)
    return found[1] if found is not None else None


def _timing(data: bytes, span: tuple[int, int]) -> tuple[int, int]:
    """(timescale, duration) of an mvhd or mdhd box."""
    start = span[0]
    if data[start] == 1:
        return struct.unpack_from(">I", data, start + 20)[0], struct.unpack_from(">Q", data, start + 24)[0]
    timescale, duration = struct.unpack_from(">II", data, start + 12)
    return timescale, duration


@dataclass(frozen=True)
class _Track:
    handler: bytes
    stbl: tuple[int, int]
    timescale: int


def _tracks(moov: bytes) -> Iterator[_Track]:
    for kind, start, end in _boxes(moov, 0, len(moov)):
        if kind != b"trak":
            continue
        mdia = _child(moov, (start, end), b"mdia")
        hdlr = _child(moov, mdia, b"hdlr")[0]
        timescale, _ = _timing(moov, _child(moov, mdia, b"mdhd"))
        yield _Track(moov[hdlr + 8 : hdlr + 12], _child(moov, mdia, b"minf", b"stbl"), timescale)


def _sample_spans(data: bytes, stbl: tuple[int, int]) -> list[tuple[int, int]]:
    """(file offset, size) of every sample of a track, in decoding order, from stsz, stsc and stco/co64."""
    stsz = _child(data, stbl, b"stsz")[0]
    fixed, count = struct.unpack_from(">II", data, stsz + 4)
    sizes = [fixed] * count if fixed else list(struct.unpack_from(f">{count}I", data, stsz + 12))
    try:
        stco, wide = _child(data, stbl, b"stco")[0], False
    except _Unsupported:
        stco, wide = _child(data, stbl, b"co64")[0], True
    chunks = struct.unpack_from(">I", data, stco + 4)[0]
    offsets = struct.unpack_from(f">{chunks}{'Q' if wide else 'I'}", data, stco + 8)
    stsc = _child(data, stbl, b"stsc")[0]
    runs = [
        struct.unpack_from(">II", data, stsc + 8 + 12 * run)
        for run in range(struct.unpack_from(">I", data, stsc + 4)[0])
    ]
    spans: list[tuple[int, int]] = []
    for run, (first_chunk, per_chunk) in enumerate(runs):
        last_chunk = runs[run + 1][0] - 1 if run + 1 < len(runs) else chunks
        for chunk in range(first_chunk, last_chunk + 1):
            offset = offsets[chunk - 1]
            for size in sizes[len(spans) : len(spans) + per_chunk]:
                spans.append((offset, size))
                offset += size
    if len(spans) != count:
        raise _Unsupported("the sample tables do not agree")
    return spans


def _sample_deltas(data: bytes, stbl: tuple[int, int]) -> list[int]:
    """Each sample's duration in the track's timescale (stts)."""
    stts = _child(data, stbl, b"stts")[0]
    entries = struct.unpack_from(">I", data, stts + 4)[0]
    deltas: list[int] = []
    for entry in range(entries):
        count, delta = struct.unpack_from(">II", data, stts + 8 + 8 * entry)
        deltas.extend([delta] * count)
    return deltas


def _describe(path: Path, moov: bytes) -> Mp4Facts:
    timescale, duration = _timing(moov, _child(moov, (0, len(moov)), b"mvhd"))
    video: _Video | None = None
    audio: _Audio | None = None
    for track in _tracks(moov):
        if track.handler == b"vide" and video is None:
            video = _video_track(moov, track)
        elif track.handler == b"soun" and audio is None:
            audio = _audio_track(moov, track.stbl)
    if video is None or timescale == 0:
        raise _Unsupported("no video track")
    info = ClipInfo(
        path=path,
        duration_s=duration / timescale,
        width=video.width,
        height=video.height,
        fps=video.fps,
        video_codec="h264",
        pixel_format=video.pixel_format,
        has_audio=audio is not None,
        audio_codec="aac" if audio else None,
        audio_rate=audio.rate if audio else None,
        audio_channels=audio.channels if audio else None,
        video_profile=video.profile,
        audio_profile=audio.profile if audio else None,
    )
    return Mp4Facts(info=info, video_config=video.config)


def _sample_entry(data: bytes, stbl: tuple[int, int]) -> tuple[bytes, int, int]:
    stsd = _child(data, stbl, b"stsd")
    return next(_boxes(data, stsd[0] + 8, stsd[1]))


def _video_track(data: bytes, track: _Track) -> _Video:
    stbl = track.stbl
    kind, start, end = _sample_entry(data, stbl)
    if kind != b"avc1":
        raise _Unsupported(f"video codec {kind!r}")
    width, height = struct.unpack_from(">HH", data, start + 24)
    config_start, config_end = _child(data, (start + 78, end), b"avcC")
    config = data[config_start:config_end]
    profile, pixel_format = _avc_profile(config)
    stts = _child(data, stbl, b"stts")
    count = struct.unpack_from(">I", data, stts[0] + 4)[0]
    deltas = [struct.unpack_from(">I", data, stts[0] + 12 + 8 * index)[0] for index in range(count)]
    # Constant frame rate: every sample has the same duration (the last one may differ).
    if not deltas or any(delta != deltas[0] for delta in deltas[:-1]):
        raise _Unsupported("variable frame rate")
    return _Video(width, height, round(track.timescale / deltas[0], 3), profile, pixel_format, config)


def _avc_profile(config: bytes) -> tuple[str, str]:
    """Profile name and pixel format from an avcC record (AVCDecoderConfigurationRecord)."""
    profile_idc, compatibility = config[1], config[2]
    offset = 6
    for _ in range(config[5] & 0x1F):
        offset += 2 + struct.unpack_from(">H", config, offset)[0]
    pps_count = config[offset]
    offset += 1
    for _ in range(pps_count):
        offset += 2 + struct.unpack_from(">H", config, offset)[0]
    if profile_idc in (100, 110, 122, 144):
        if len(config) < offset + 3:
            raise _Unsupported("avcC without chroma format")
        chroma, luma_bits = config[offset] & 3, (config[offset + 1] & 7) + 8
    else:
        chroma, luma_bits = 1, 8
    if (chroma, luma_bits) != (1, 8):
        raise _Unsupported("not 8-bit 4:2:0")
    name = _H264_PROFILES.get(profile_idc)
    if name is None:
        raise _Unsupported(f"H.264 profile {profile_idc}")
    if profile_idc == 66 and compatibility & 0x40:
        name = "Constrained Baseline"
    return name, "yuv420p"


def _audio_track(data: bytes, stbl: tuple[int, int]) -> _Audio:
    kind, start, end = _sample_entry(data, stbl)
    if kind != b"mp4a" or struct.unpack_from(">H", data, start + 8)[0] != 0:
        raise _Unsupported(f"audio {kind!r}")
    esds_start, esds_end = _child(data, (start + 28, end), b"esds")
    config = _BitReader(_decoder_specific_info(data[esds_start + 4 : esds_end]))
    object_type = config.read(5)
    if object_type == 31:
        object_type = 32 + config.read(6)
    rate_index = config.read(4)
    rate = config.read(24) if rate_index == 15 else _AAC_RATES[rate_index]
    channels = config.read(4)
    return _Audio(rate=rate, channels=_CHANNELS[channels], profile=_AAC_PROFILES[object_type])


class _BitReader:
    def __init__(self, data: bytes) -> None:
        self.value = int.from_bytes(data, "big")
        self.left = 8 * len(data)

    def read(self, bits: int) -> int:
        if bits > self.left:
            raise _Unsupported("AudioSpecificConfig too short")
        self.left -= bits
        return (self.value >> self.left) & ((1 << bits) - 1)


def _descriptor(data: bytes, offset: int) -> tuple[int, int, int]:
    """(tag, payload start, payload end) of an MPEG-4 descriptor."""
    tag, size, offset = data[offset], 0, offset + 1
    for _ in range(4):
        byte = data[offset]
        offset += 1
        size = (size << 7) | (byte & 0x7F)
        if not byte & 0x80:
            break
    return tag, offset, offset + size


def _decoder_specific_info(esds: bytes) -> bytes:
    tag, start, _ = _descriptor(esds, 0)
    if tag != 0x03:
        raise _Unsupported("esds without an ES descriptor")
    flags = esds[start + 2]
    offset = start + 3 + (2 if flags & 0x80 else 0) + (2 if flags & 0x20 else 0)
    if flags & 0x40:
        offset += 1 + esds[offset]
    tag, start, end = _descriptor(esds, offset)
    if tag != 0x04 or esds[start] != 0x40:
        raise _Unsupported("not MPEG-4 audio")
    tag, start, end = _descriptor(esds, start + 13)
    if tag != 0x05:
        raise _Unsupported("no AudioSpecificConfig")
    return esds[start:end]
