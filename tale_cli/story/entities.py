"""What a plan's entities need beyond their records: the kind a name suggests, and which references a shot sends.

A shot's references are chosen here, once, for every backend: the characters on screen first, then the entities on
screen, each group ordered by how long it has been off screen (the longest absence first: it is the one a model
would most likely draw differently), and no more than the backend takes.
"""

from __future__ import annotations

import math
import re
from collections.abc import Container

from tale_cli.story.plan import EntityKind, Plan, Shot


def word_set(text: str) -> frozenset[str]:
    """The words of a list written as prose lines."""
    return frozenset(text.split())


WARDROBE_WORDS = word_set(
    """scarf scarves coat coats raincoat sweater jumper cardigan hat hats cap bonnet hood cloak cape dress gown skirt
    shirt blouse jacket vest waistcoat trousers pants jeans boots boot shoes shoe slippers sandals gloves glove mittens
    apron uniform robe kimono hanbok tunic shawl veil mask helmet crown necklace bracelet ring earrings brooch locket
    glasses spectacles belt tie bowtie overalls pyjamas pajamas socks stockings backpack satchel"""
)
PLACE_WORDS = word_set(
    """harbor harbour port pier dock docks wharf lighthouse beach shore coast cliff cliffs island bay cove sea ocean
    forest woods wood grove jungle meadow field fields farm barn orchard garden park village town city square market
    marketplace street alley road bridge river lake pond stream waterfall valley mountain mountains hill hills cave
    tower castle palace temple church chapel shrine cathedral house cottage cabin hut home apartment flat room bedroom
    kitchen attic cellar basement hall library school classroom station platform shop store bakery cafe inn tavern
    bar restaurant office hospital museum theater theatre stage studio workshop factory mill well courtyard yard
    rooftop roof balcony porch desert tundra swamp marsh glacier camp campsite tent ship deck cabin observatory
    laboratory lab prison dungeon graveyard cemetery playground stadium arena airport"""
)


def entity_kind(name: str) -> EntityKind:
    """The kind a name suggests: wardrobe when its last word is something worn, a place when it names one, else a
    prop."""
    words = re.findall(r"[a-z]+", name.casefold())
    head = words[-1] if words else ""
    if head in WARDROBE_WORDS:
        return "wardrobe"
    if head in PLACE_WORDS:
        return "place"
    return "prop"


def _absence(plan: Plan, shot: Shot, thing: str) -> float:
    """Seconds of film since `thing` was last on screen before `shot` (infinite when this is its first time)."""
    gap = 0.0
    for earlier in reversed(plan.shots[: shot.index - 1]):
        if thing in earlier.characters or thing in earlier.entities:
            return gap
        gap += earlier.duration_s
    return math.inf


def choose_references(plan: Plan, shot: Shot, available: Container[str], limit: int) -> list[str]:
    """The ids whose references `shot` sends, at most `limit`: its characters, then its entities, each group the
    longest-absent first (ties in the shot's own order), only those with a reference `available`."""
    chosen: list[str] = []
    for group in (shot.characters, shot.entities):
        ready = [thing for thing in dict.fromkeys(group) if thing in available]
        chosen.extend(sorted(ready, key=lambda thing: -_absence(plan, shot, thing)))
    return chosen[: max(0, limit)]
