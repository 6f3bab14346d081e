"""The storyboard: a contact sheet of every shot's middle frame, numbered, with its prompt; under them, each entity's
reference with the shots it is in."""

from __future__ import annotations

import io
import os
from pathlib import Path

from tale_cli.keys.seal import clear_path, media_seal
from tale_cli.media.ffmpeg import frame_png
from tale_cli.story.plan import Plan


def make_storyboard(
    plan: Plan, shot_files: list[Path], output: Path, *, mode: int = 0o644, root: Path | None = None
) -> Path:
    """A contact sheet of the shots' middle frames with shot numbers and prompts; with the run folder's `root`, a row
    of the plan's entities (their references, kinds and shots) under them."""
    from PIL import Image, ImageDraw

    from tale_cli.media.drawing import text_font, wrap_text

    columns = 4
    # A tall or square film gets narrower thumbnails (a 9:16 one 300x533, not 400x711) and more, shorter caption
    # lines under each, so the sheet stays about as wide as it is tall and every prompt keeps its room.
    wide = plan.width > plan.height
    thumb_w = 400 if wide else 300
    thumb_h = round(thumb_w * plan.height / plan.width)
    lines, chars = (4, 46) if wide else (6, 33)
    caption_h = 12 + lines * 21
    rows = (len(shot_files) + columns - 1) // columns
    things = plan.entities if root is not None else []
    # Entities in rows of `columns` cards, each its reference (a square as tall as a thumbnail) and three lines.
    card_h = thumb_h + 8
    strip_h = ((len(things) + columns - 1) // columns) * card_h
    shots_h = rows * (thumb_h + caption_h)
    sheet = Image.new("RGB", (columns * thumb_w, shots_h + strip_h), (18, 18, 22))
    draw = ImageDraw.Draw(sheet)
    for number, (shot, clip) in enumerate(zip(plan.shots, shot_files, strict=True)):
        with Image.open(io.BytesIO(frame_png(clip, at="middle"))) as image:  # made in memory: no file anywhere
            thumb = image.convert("RGB").resize((thumb_w, thumb_h))
        x, y = (number % columns) * thumb_w, (number // columns) * (thumb_h + caption_h)
        sheet.paste(thumb, (x, y))
        label = text_font(shot.prompt, 14)
        draw.text((x + 8, y + thumb_h + 6), f"{shot.index}", font=text_font("0", 22), fill=(255, 210, 120))
        for line_no, line in enumerate(wrap_text(shot.prompt, chars)[:lines]):
            draw.text((x + 36, y + thumb_h + 8 + line_no * 21), line, font=label, fill=(230, 230, 230))
    for number, entity in enumerate(things):
        x, y = (number % columns) * thumb_w, shots_h + (number // columns) * card_h + 4
        picture = (root or Path()) / (entity.reference_image or f"refs/{entity.id}.png")
        side = min(thumb_h, thumb_w // 2)
        if picture.is_file():
            with clear_path(picture) as readable, Image.open(readable) as image:
                sheet.paste(image.convert("RGB").resize((side, side)), (x + 4, y))
        listed = ", ".join(str(shot.index) for shot in plan.shots if entity.id in shot.entities) or "none"
        text_x = x + side + 12
        for line_no, line in enumerate([*wrap_text(entity.name, 18)[:2], entity.kind, f"shots {listed}"][:4]):
            colour = (255, 210, 120) if line_no == 0 else (230, 230, 230)
            draw.text((text_x, y + 4 + line_no * 21), line, font=text_font(line, 16), fill=colour)
    part = output.with_name(output.name + ".part")
    seal = media_seal(output)
    try:
        if seal is None:
            sheet.save(part, format="PNG")
        else:  # a media-sealed run's: made in memory, on disk only sealed
            buffer = io.BytesIO()
            sheet.save(buffer, format="PNG")
            part.write_bytes(seal.seal(buffer.getvalue()))
        os.replace(part, output)
    finally:
        part.unlink(missing_ok=True)
    output.chmod(mode)
    return output
