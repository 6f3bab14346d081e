"""Tests of entity kinds and of which references a shot sends."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from tale_cli.story.entities import choose_references, entity_kind
from tale_cli.story.plan import Plan, parse_plan

THINGS = ["lantern", "harbor", "scarf"]
PEOPLE = ["ada", "jun"]


def make_plan(shots: list[tuple[list[str], list[str]]], seconds: float = 2.0) -> Plan:
    return parse_plan(
        {
            "title": "t",
            "slug": "t",
            "characters": [{"id": c, "name": c.title()} for c in PEOPLE],
            "entities": [
                {"id": "lantern", "kind": "prop", "name": "brass lantern"},
                {"id": "harbor", "kind": "place", "name": "harbor"},
                {"id": "scarf", "kind": "wardrobe", "name": "red scarf"},
            ],
            "shots": [
                {"index": n, "duration_s": seconds, "prompt": f"shot {n}", "characters": cast, "entities": things}
                for n, (cast, things) in enumerate(shots, start=1)
            ],
        }
    )


def test_kind_follows_the_names_last_word() -> None:
    assert [entity_kind(n) for n in ("her red scarf", "The Harbor", "brass lantern", "")] == [
        "wardrobe",
        "place",
        "prop",
        "prop",
    ]


def test_characters_first_then_entities_the_longest_unseen_first() -> None:
    plan = make_plan(
        [
            ([], ["harbor", "lantern"]),
            (["ada"], ["lantern"]),
            ([], []),
            (["jun", "ada"], ["lantern", "scarf", "harbor"]),
        ]
    )
    last = plan.shots[3]
    everything = set(PEOPLE + THINGS)
    # jun and the scarf were never seen (first), ada 4 s ago, the harbor 6 s ago and the lantern 4 s ago.
    assert choose_references(plan, last, everything, 8) == ["jun", "ada", "scarf", "harbor", "lantern"]
    assert choose_references(plan, last, everything, 3) == ["jun", "ada", "scarf"]
    assert choose_references(plan, last, {"lantern", "ada"}, 3) == ["ada", "lantern"]
    assert choose_references(plan, last, everything, 0) == []
    assert choose_references(plan, plan.shots[2], everything, 3) == []


shot_lists = st.lists(
    st.tuples(
        st.lists(st.sampled_from(PEOPLE), unique=True),
        st.lists(st.sampled_from(THINGS), unique=True),
    ),
    min_size=1,
    max_size=6,
)


@given(shot_lists, st.sets(st.sampled_from(PEOPLE + THINGS)), st.integers(min_value=-1, max_value=6))
def test_the_choice_is_capped_on_screen_and_deterministic(shots, available, limit) -> None:
    plan = make_plan(shots)
    for shot in plan.shots:
        chosen = choose_references(plan, shot, available, limit)
        assert len(chosen) <= max(0, limit) and len(set(chosen)) == len(chosen)
        assert set(chosen) <= (set(shot.characters) | set(shot.entities)) & available
        assert chosen == choose_references(plan, shot, set(available), limit)
        # Characters come before entities, and nothing on screen is left out while there is room.
        kinds = [thing in PEOPLE for thing in chosen]
        assert kinds == sorted(kinds, reverse=True)
        on_screen = (set(shot.characters) | set(shot.entities)) & available
        assert len(chosen) == min(max(0, limit), len(on_screen))
