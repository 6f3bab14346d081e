"""Runway against the fake provider server, through the real runwayml SDK."""

from __future__ import annotations

import pytest
from cloudrender import EXAMPLE_STORY, CrashAfterRecord, DictJournal, one_shot_plan, render_film, shot_request, small
from fakes import REFUSAL_REASON, png_bytes
from test_backends_google import check_film

from tale_cli.backends import video_backend
from tale_cli.backends.runway.models import closest_ratio
from tale_cli.backends.runway.video import RunwayVideo
from tale_cli.config import load_recipe
from tale_cli.errors import BackendError, KeysError, PollTimeoutError, RecipeError, ShotRefusedError
from tale_cli.media import ffmpeg as media
from tale_cli.registry import backend_runs_locally


def runway_recipe(name="runway-gen4-turbo", **video):
    return small(load_recipe(name), **video)


def creates(fake, endpoint=None):
    paths = ("/v1/image_to_video", "/v1/text_to_video") if endpoint is None else (f"/v1/{endpoint}",)
    return [r for r in fake.requests if r["path"] in paths]


@pytest.fixture
def frame(tmp_path):
    path = tmp_path / "first.png"
    path.write_bytes(png_bytes(4))
    return path


def test_gen4_turbo_recipe_renders_the_example_story(fake_providers, tmp_path):
    report, manifest = render_film("runway-gen4-turbo", tmp_path)

    entries = check_film(report, manifest, audio=False)
    assert fake_providers.creates["runway"] == 8
    assert fake_providers.creates["openai-image"] == 2  # gpt-image-2 references, one per character
    assert fake_providers.creates["plan"] == 1  # planned by the OpenAI planner
    assert len(creates(fake_providers, "image_to_video")) == 8 and not creates(fake_providers, "text_to_video")
    bodies = [r["json"] for r in creates(fake_providers)]
    assert all(b["model"] == "gen4_turbo" and b["promptImage"].startswith("data:image/png;base64,") for b in bodies)
    assert all(b["ratio"] == "1280:720" and b["duration"] == 8 for b in bodies)
    assert all(r["headers"].get("x-runway-version") for r in creates(fake_providers))
    assert all(e["billed_credits"] == 40 and e["cost_usd"] == pytest.approx(0.40) for e in entries)


def test_gen45_recipe_chains_shots_from_the_previous_last_frame(fake_providers, tmp_path):
    report, manifest = render_film("runway-gen4.5", tmp_path)

    entries = check_film(report, manifest, audio=False)
    assert fake_providers.creates["runway"] == 8
    chained = [shot.index for shot in report.plan.shots if shot.continuity]
    assert chained
    assert len(creates(fake_providers, "image_to_video")) == len(chained)
    assert len(creates(fake_providers, "text_to_video")) == 8 - len(chained)
    assert [e["notes"]["conditioning"] for e in entries] == ["image" if n in chained else "text" for n in range(1, 9)]


def test_gen4_turbo_without_an_image_fails_before_spending(fake_providers, tmp_path):
    recipe = runway_recipe()
    plan = one_shot_plan(recipe)

    with pytest.raises(BackendError, match="needs a starting image") as caught:
        RunwayVideo(recipe).render_shot(shot_request(plan, plan.shots[0], tmp_path / "s.mp4.part"))
    assert "continuity" in caught.value.hint
    assert creates(fake_providers) == []


def test_gen4_turbo_uses_a_reference_as_its_first_frame(fake_providers, tmp_path, frame):
    recipe = runway_recipe()
    plan = one_shot_plan(recipe)

    result = RunwayVideo(recipe).render_shot(
        shot_request(plan, plan.shots[0], tmp_path / "s.mp4.part", reference_images=[frame])
    )

    assert creates(fake_providers, "image_to_video")[0]["json"]["promptImage"].startswith("data:image/png")
    assert result.notes["conditioning"] == "image"


def test_runway_rate_limited_then_succeeds(fake_providers, tmp_path, frame):
    fake_providers.rate_limit_creates = 2
    recipe = runway_recipe()
    plan = one_shot_plan(recipe)

    RunwayVideo(recipe).render_shot(shot_request(plan, plan.shots[0], tmp_path / "s.mp4.part", first_frame=frame))

    assert len(creates(fake_providers)) == 3
    assert fake_providers.creates["runway"] == 1
    media.check_clip(tmp_path / "s.mp4.part", expected_s=8.0, fps=24)


def test_runway_refusal_carries_the_failure_code(fake_providers, tmp_path, frame):
    recipe = runway_recipe()
    plan = one_shot_plan(recipe, prompt="a forbidden thing")

    with pytest.raises(ShotRefusedError) as caught:
        RunwayVideo(recipe).render_shot(shot_request(plan, plan.shots[0], tmp_path / "s.mp4.part", first_frame=frame))
    assert REFUSAL_REASON in caught.value.message and "SAFETY.INPUT.TEXT" in caught.value.message


def test_runway_poll_timeout_then_crash_resume_pays_once(fake_providers, tmp_path, frame):
    fake_providers.never_finish = True
    recipe = runway_recipe(poll_timeout_s=0.15)
    plan = one_shot_plan(recipe)
    journal = DictJournal()
    with pytest.raises(PollTimeoutError):
        RunwayVideo(recipe).render_shot(
            shot_request(plan, plan.shots[0], tmp_path / "s.mp4.part", journal, first_frame=frame)
        )
    fake_providers.never_finish = False

    result = RunwayVideo(recipe).render_shot(
        shot_request(plan, plan.shots[0], tmp_path / "s.mp4.part", journal, first_frame=frame)
    )
    assert fake_providers.creates["runway"] == 1
    assert result.provider_job_id == journal.job["id"]

    crashing = CrashAfterRecord()
    with pytest.raises(SystemExit):
        RunwayVideo(recipe).render_shot(
            shot_request(plan, plan.shots[0], tmp_path / "t.mp4.part", crashing, first_frame=frame)
        )
    RunwayVideo(recipe).render_shot(
        shot_request(plan, plan.shots[0], tmp_path / "t.mp4.part", DictJournal(job=crashing.job), first_frame=frame)
    )
    assert fake_providers.creates["runway"] == 2


def test_runway_wrong_key_is_one_clear_error(fake_providers, tmp_path, frame, monkeypatch):
    wrong = "wrong-runway-key-not-real-9999"
    monkeypatch.setenv("TALE_RUNWAY_API_KEY", wrong)
    recipe = runway_recipe()
    plan = one_shot_plan(recipe)

    with pytest.raises(KeysError, match="runway rejected the API key") as caught:
        RunwayVideo(recipe).render_shot(shot_request(plan, plan.shots[0], tmp_path / "s.mp4.part", first_frame=frame))
    assert wrong not in str(caught.value)
    assert caught.value.hint == "check it with `tale keys set runway`"


def test_runway_missing_key(fake_providers, monkeypatch):
    monkeypatch.delenv("TALE_RUNWAY_API_KEY")
    with pytest.raises(KeysError, match="no Runway API secret found for 'runway'") as caught:
        RunwayVideo(runway_recipe()).preflight()
    assert "tale keys set runway" in caught.value.hint and "RUNWAYML_API_SECRET" in caught.value.hint


def test_runway_capabilities_and_recipe_checks():
    turbo = video_backend(load_recipe("runway-gen4-turbo")).capabilities()
    assert not turbo.text_to_video and turbo.image_to_video and turbo.supports_duration(8.0)
    # A range model renders 8.5 s as 9 and trims to the plan's seconds; nothing past its longest length.
    assert turbo.supports_duration(8.5) and not turbo.supports_duration(10.5) and not backend_runs_locally("runway")
    gen45 = video_backend(load_recipe("runway-gen4.5")).capabilities()
    assert gen45.text_to_video
    recipe = load_recipe("runway-gen4.5")
    with pytest.raises(RecipeError, match="gen3") as caught:
        RunwayVideo(recipe.model_copy(update={"video": recipe.video.model_copy(update={"model": "gen3"})}))
    assert "gen4_turbo" in caught.value.hint


def test_closest_ratio():
    ratios = ("1280:720", "720:1280", "1920:1080", "1080:1920")
    assert closest_ratio(1280, 720, ratios) == "1280:720"
    assert closest_ratio(1280, 720, ratios, resolution="1080p") == "1920:1080"
    assert closest_ratio(720, 1280, ratios) == "720:1280"
    assert closest_ratio(1000, 1000, ("1280:720", "960:960")) == "960:960"
    # A square film is as far from 16:9 as from 9:16: the first offered, not the tall one by a quirk of subtraction.
    assert closest_ratio(720, 720, ("1280:720", "720:1280")) == "1280:720"
    assert closest_ratio(720, 900, ("1280:720", "720:1280", "1104:832", "832:1104", "960:960")) == "832:1104"


def test_large_first_frames_are_shrunk_under_the_data_uri_limit(fake_providers, tmp_path):
    import numpy as np
    from PIL import Image

    big = tmp_path / "big.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (1600, 2400, 3), dtype=np.uint8)).save(big)
    assert big.stat().st_size > 5_000_000
    recipe = runway_recipe()
    plan = one_shot_plan(recipe)

    RunwayVideo(recipe).render_shot(shot_request(plan, plan.shots[0], tmp_path / "s.mp4.part", first_frame=big))

    uri = creates(fake_providers)[0]["json"]["promptImage"]
    assert uri.startswith("data:image/jpeg;base64,") and len(uri) <= 5_000_000


def test_runway_takes_the_full_unsigned_seed(fake_providers, tmp_path, frame):
    recipe = runway_recipe()
    plan = one_shot_plan(recipe)
    plan.shots[0].seed = 2**32 - 1

    RunwayVideo(recipe).render_shot(shot_request(plan, plan.shots[0], tmp_path / "s.mp4.part", first_frame=frame))

    assert creates(fake_providers)[0]["json"]["seed"] == 2**32 - 1


@pytest.mark.parametrize("reported", [True, False], ids=["credits-reported", "priced-from-the-book"])
def test_runway_prices_a_clip_with_the_recipes_audio(fake_providers, tmp_path, reported):
    fake_providers.task_cost_reported = reported
    recipe = runway_recipe("runway-gen4.5", model="veo3.1", audio=True)
    plan = one_shot_plan(recipe)

    result = RunwayVideo(recipe).render_shot(shot_request(plan, plan.shots[0], tmp_path / "s.mp4.part"))

    assert creates(fake_providers)[0]["json"]["audio"] is True and result.has_audio
    assert result.cost_usd == pytest.approx(3.20)  # 8 s of Veo 3.1 with audio: 40 credits/s at $0.01
    assert result.billed_credits == (320 if reported else None)


# ---------------------------------------------------------------- the models Runway serves under one key


@pytest.mark.parametrize(("recipe_name", "model"), [("runway-seedance2", "seedance2"), ("runway-kling4", "kling_4")])
def test_gateway_recipes_render_the_example_story(fake_providers, tmp_path, recipe_name, model):
    report, manifest = render_film(recipe_name, tmp_path)

    entries = check_film(report, manifest, audio=False)
    assert fake_providers.creates["runway"] == 8 and len(creates(fake_providers)) == 8
    bodies = [r["json"] for r in creates(fake_providers)]
    assert all(b["model"] == model and b["duration"] == 8 for b in bodies)
    book = {"seedance2": 0.36, "kling_4": 0.20}[model]  # USD a second, from the price book
    assert all(e["cost_usd"] == pytest.approx(8 * book) for e in entries)


def test_kling4_shots_from_a_picture_follow_its_shape(fake_providers, tmp_path):
    render_film("runway-kling4", tmp_path)

    pictured = [r["json"] for r in creates(fake_providers, "image_to_video")]
    assert pictured and all(b["ratio"] == "auto_720p" and b["promptImage"].startswith("data:") for b in pictured)
    assert all(b["ratio"] == "1280:720" for b in (r["json"] for r in creates(fake_providers, "text_to_video")))


@pytest.mark.parametrize(("asked", "rendered"), [(3.0, 4), (7.5, 8), (15.0, 15)])
def test_a_range_model_renders_the_next_whole_length_and_keeps_the_plans_seconds(
    fake_providers, tmp_path, asked, rendered
):
    recipe = runway_recipe("runway-seedance2")
    plan = one_shot_plan(recipe, seconds=asked)

    result = RunwayVideo(recipe).render_shot(shot_request(plan, plan.shots[0], tmp_path / "s.mp4.part"))

    assert creates(fake_providers)[0]["json"]["duration"] == rendered
    media.check_clip(tmp_path / "s.mp4.part", expected_s=asked, fps=24)
    assert result.billed_seconds == rendered and result.cost_usd == pytest.approx(rendered * 0.36)
    assert result.notes.get("rendered_s", rendered) == rendered


def _story_plan(tmp_path, recipe, seconds):
    plan = one_shot_plan(recipe, seconds=seconds)
    path = tmp_path / "plan.json"
    path.write_text(plan.to_json(), encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("model", "seconds", "says"),
    [("kling2.5_turbo_pro", 7.0, "renders 5, 10 s"), ("seedance2", 16.0, "renders up to 15 s")],
)
def test_a_shot_the_model_cannot_make_is_refused_before_spending(fake_providers, tmp_path, model, seconds, says):
    from tale_cli.pipeline.film import render
    from tale_cli.pipeline.options import RenderOptions

    recipe = runway_recipe("runway-seedance2", model=model)
    with pytest.raises(RecipeError, match=f"shot 1 lasts {seconds:g} s; the runway backend {says}"):
        render(_story_plan(tmp_path, recipe, seconds), RenderOptions(recipe=recipe, out_root=tmp_path / "out"))
    assert fake_providers.requests == []


def test_the_planner_snaps_shots_to_the_lengths_kling25_renders(fake_providers):
    from tale_cli.planners import plan_story
    from tale_cli.story.reader import read_story

    recipe = runway_recipe("runway-seedance2", model="kling2.5_turbo_pro").model_copy(update={"seconds": 7.0})
    plan = plan_story(read_story(EXAMPLE_STORY), recipe)

    assert {s.duration_s for s in plan.shots} <= {5.0, 10.0}


def test_every_declared_model_asks_only_what_the_sdk_types_allow():
    """Tale's table against runwayml's own request types, as the fake server reads them."""
    from fakes.runway import RULES, SECONDS

    from tale_cli.backends.runway.models import MODELS, pick_resolution

    for name, model in MODELS.items():
        for endpoint, ratios in (("image_to_video", model.image_ratios), ("text_to_video", model.text_ratios)):
            if ratios is None:
                assert name not in RULES[endpoint], f"{name} serves {endpoint} but Tale does not declare it"
                continue
            rules = RULES[endpoint][name]
            assert set(ratios) <= set(rules.allowed.get("ratio", ())), (name, endpoint)
            assert bool(ratios) == ("ratio" in rules.allowed) or "ratio" not in rules.required, (name, endpoint)
            kind = endpoint.split("_")[0]
            if model.resolutions and kind in model.resolution_for:
                assert pick_resolution(model.resolutions, None, 720) in rules.allowed["resolution"]
            for key in ("audio", "seed", "negativePrompt"):
                wanted = {"audio": model.audio, "seed": model.seed, "negativePrompt": model.negative_prompt}[key]
                assert wanted <= (key in rules.keys), (name, endpoint, key)
            if "duration" in rules.allowed:
                assert set(model.durations) == set(rules.allowed["duration"]) and not model.ranged, name
            else:
                assert model.ranged and (model.durations[0], model.durations[-1]) == SECONDS[name], name
            assert model.auto == rules.takes_auto, name


def test_the_fake_rejects_what_runway_would(fake_providers):
    import runwayml

    client = runwayml.RunwayML(api_key="test-runway-key-not-real-1234", base_url=fake_providers.url, max_retries=0)
    with pytest.raises(runwayml.BadRequestError, match="integer from 4 to 15"):
        client.text_to_video.create(model="seedance2", prompt_text="a lighthouse", duration=20)
    with pytest.raises(runwayml.BadRequestError, match="Invalid enum value"):
        client.text_to_video.create(model="kling2.5_turbo_pro", prompt_text="a lighthouse", duration=7)
    with pytest.raises(runwayml.BadRequestError, match="Unrecognized key"):
        client.text_to_video.create(model="seedance2", prompt_text="a lighthouse", extra_body={"resolution": "720p"})
    with pytest.raises(runwayml.BadRequestError, match="discriminator"):
        client.text_to_video.create(model="gen5", prompt_text="a lighthouse", ratio="1280:720", duration=5)
    with pytest.raises(runwayml.BadRequestError, match="at most 3500"):
        client.text_to_video.create(model="seedance2", prompt_text="x" * 3501)
    assert fake_providers.creates["runway"] == 0


def _pictures(tmp_path, count):
    paths = []
    for number in range(count):
        path = tmp_path / f"ref{number}.png"
        path.write_bytes(png_bytes(4 + number))
        paths.append(path)
    return paths


def test_seedance_is_sent_what_is_on_screen_as_pictures_and_a_chained_shot_its_frames_only(fake_providers, tmp_path):
    recipe = runway_recipe("runway-seedance2")
    backend = RunwayVideo(recipe)
    assert backend.capabilities().max_reference_images == 4
    plan = one_shot_plan(recipe)
    refs = _pictures(tmp_path, 6)

    backend.render_shot(shot_request(plan, plan.shots[0], tmp_path / "a.mp4.part", reference_images=refs))
    backend.render_shot(
        shot_request(plan, plan.shots[0], tmp_path / "b.mp4.part", reference_images=refs, first_frame=refs[0])
    )

    referenced, framed = (r["json"] for r in creates(fake_providers, "image_to_video"))
    # Pictures without a position are references: at most 4, in the order chosen (what needs them most first).
    assert [item.keys() for item in referenced["promptImage"]] == [{"uri"}] * 4
    assert referenced["ratio"] == "1280:720" and "references" not in referenced
    # A shot that starts from a frame sends that frame alone: Seedance cannot mix frames and references.
    assert isinstance(framed["promptImage"], str) and "references" not in framed
    assert fake_providers.creates["runway"] == 2


@pytest.mark.parametrize(("model", "most"), [("klingO3_standard", 7), ("kling_4", 9)])
def test_kling_is_sent_its_first_frame_and_the_other_references_beside_it(fake_providers, tmp_path, model, most):
    recipe = runway_recipe("runway-kling4", model=model)
    plan = one_shot_plan(recipe)
    refs = _pictures(tmp_path, 12)

    request = shot_request(plan, plan.shots[0], tmp_path / "k.mp4.part", reference_images=refs, first_frame=refs[0])
    RunwayVideo(recipe).render_shot(request)  # the recipe's first-frame continuity: the first reference starts it

    [body] = (r["json"] for r in creates(fake_providers, "image_to_video"))
    assert body["promptImage"].startswith("data:image/png") and len(body["references"]) == most
    assert all(item.keys() == {"uri"} for item in body["references"])


def test_the_fake_counts_pictures_as_runway_does(fake_providers):
    import runwayml

    client = runwayml.RunwayML(api_key="test-runway-key-not-real-1234", base_url=fake_providers.url, max_retries=0)
    picture = "data:image/png;base64,AAAA"
    with pytest.raises(runwayml.BadRequestError, match="cannot be mixed"):
        client.image_to_video.create(
            model="seedance2", prompt_image=[{"uri": picture, "position": "first"}, {"uri": picture}], duration=5
        )
    with pytest.raises(runwayml.BadRequestError, match="at most 7"):
        client.image_to_video.create(
            model="klingO3_standard", prompt_image=picture, references=[{"uri": picture}] * 8, duration=5
        )
    with pytest.raises(runwayml.BadRequestError, match="at most 10"):
        client.image_to_video.create(model="kling_4", prompt_image=picture, references=[{"uri": picture}] * 10)
    assert fake_providers.creates["runway"] == 0
