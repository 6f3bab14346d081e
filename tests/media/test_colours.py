"""The colour match the local judge scores entities with: a prop's colours found in the frame that shows it, not in
one without it, a drawn reference's white backdrop left out, a place matched as a whole."""

from __future__ import annotations

from PIL import Image, ImageDraw

from tale_cli.media.colours import colour_match, reference_colours

KITE_RED = (220, 30, 30)


def test_the_colour_match_finds_the_prop_and_misses_it_where_it_is_not() -> None:
    sheet = Image.new("RGB", (128, 128), (255, 255, 255))  # a drawn reference: the kite on a white backdrop
    ImageDraw.Draw(sheet).polygon([(64, 8), (120, 64), (64, 120), (8, 64)], fill=KITE_RED)
    palette = reference_colours(sheet)
    sky = Image.new("RGB", (160, 96), (60, 110, 170))
    flying = sky.copy()
    ImageDraw.Draw(flying).rectangle((100, 16, 136, 52), fill=KITE_RED)
    assert colour_match(flying, palette) > 0.9 and colour_match(sky, palette) < 0.1
    with_backdrop = reference_colours(sheet, keep_backdrop=True)
    assert colour_match(flying, with_backdrop) < colour_match(flying, palette), "the sheet's white is not the kite"


def test_a_place_is_matched_as_a_whole_frame() -> None:
    harbour = Image.new("RGB", (160, 96), (60, 110, 170))
    ImageDraw.Draw(harbour).rectangle((0, 60, 160, 96), fill=(90, 70, 40))
    palette = reference_colours(harbour, keep_backdrop=True)
    assert colour_match(harbour, palette, whole=True) == 1.0
    elsewhere = Image.new("RGB", (160, 96), (230, 230, 200))
    assert colour_match(elsewhere, palette, whole=True) == 0.0
