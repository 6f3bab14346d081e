"""Pictures a user hands Tale (references): checked before anything is spent on them; and the board that shows a
model taking one picture every reference a shot has."""

from __future__ import annotations

from pathlib import Path

from tale_cli.errors import InputError
from tale_cli.keys.seal import clear_path

MAX_PICTURE_BYTES = 20 * 1024 * 1024
MIN_SIDE, MAX_SIDE = 16, 8192
PICTURE_HINT = "use a PNG, JPEG or WebP file of at most 20 MB and 16 to 8192 pixels a side"


def check_picture(path: Path, what: str) -> None:
    """Refuse (InputError) anything a provider would choke on: not a regular file, too big, not a readable
    picture, or an absurd size. Reading the header is enough; nothing is decoded in full."""
    try:
        is_file = path.is_file()
        size = path.stat().st_size if is_file else 0
    except OSError as error:
        raise InputError(f"{what} cannot be read: {error.strerror}", hint=PICTURE_HINT) from None
    if not is_file:
        raise InputError(f"{what} not found", hint=PICTURE_HINT)
    if size > MAX_PICTURE_BYTES:
        raise InputError(f"{what} is {size / 1024 / 1024:.0f} MB, too big for a reference", hint=PICTURE_HINT)
    from PIL import Image, UnidentifiedImageError

    try:
        with clear_path(path) as readable, Image.open(readable) as picture:
            width, height = picture.size
            picture.verify()
    except (UnidentifiedImageError, Image.DecompressionBombError, OSError, SyntaxError, ValueError):
        raise InputError(f"{what} is not a picture Tale can read", hint=PICTURE_HINT) from None
    if not (MIN_SIDE <= width <= MAX_SIDE and MIN_SIDE <= height <= MAX_SIDE):
        raise InputError(f"{what} is {width}×{height} pixels", hint=PICTURE_HINT)


def compose_board(sources: list[Path], output: Path, width: int, height: int) -> Path:
    """One picture of the frame's size holding every source, each fitted whole into its cell of a grid (as near
    square as the frame allows), on black; written atomically. The same sources make the same bytes."""
    import io
    import math

    from PIL import Image

    from tale_cli.files import atomic_write_bytes

    count = max(1, len(sources))
    columns = max(1, min(count, round(math.sqrt(count * width / height))))
    rows = math.ceil(count / columns)
    cell_w, cell_h = width // columns, height // rows
    board = Image.new("RGB", (width, height), (0, 0, 0))
    for number, source in enumerate(sources):
        with clear_path(source) as readable, Image.open(readable) as picture:
            tile = picture.convert("RGB")
        tile.thumbnail((cell_w, cell_h), Image.Resampling.LANCZOS)
        column, row = number % columns, number // columns
        board.paste(tile, (column * cell_w + (cell_w - tile.width) // 2, row * cell_h + (cell_h - tile.height) // 2))
    data = io.BytesIO()
    board.save(data, format="PNG")
    atomic_write_bytes(output, data.getvalue())
    return output
