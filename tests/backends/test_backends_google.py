"""Veo, Gemini Omni and Gemini images against the fake provider server, through the real google-genai SDK."""

from __future__ import annotations

import logging
import sys

import pytest
from cloudrender import EXAMPLE_STORY, CrashAfterRecord, DictJournal, one_shot_plan, render_film, shot_request, small
from fakes import REFUSAL_REASON, png_bytes

from tale_cli.backends import image_backend, video_backend
from tale_cli.backends.base import ReferenceRequest
from tale_cli.backends.google.image import GeminiImage
from tale_cli.backends.google.video import GeminiOmniVideo, VeoVideo
from tale_cli.config import Recipe, load_recipe
from tale_cli.errors import (
    ExitCode,
    KeysError,
    MissingDependencyError,
    PollTimeoutError,
    RecipeError,
    ShotRefusedError,
)
from tale_cli.media import ffmpeg as media
from tale_cli.pipeline import RenderOptions, render
from tale_cli.registry import backend_runs_locally


def veo_recipe(**video):
    return small(load_recipe("veo-3.1-fast"), **video)


def veo_creates(fake):
    return [r for r in fake.requests if r["path"].endswith(":predictLongRunning")]


def check_film(report, manifest, *, seconds=8.0, audio=True):
    """Eight checked shots stitched into a film; every shot's job id, bill and cost in the manifest."""
    assert [s.status for s in report.shots] == ["done"] * 8
    assert report.film is not None and media.probe(report.film).duration_s == pytest.approx(8 * seconds, abs=0.1)
    for number in range(1, 9):
        info = media.probe(report.run_dir / "shots" / f"shot-{number:02d}.mp4")
        assert (info.width, info.height, info.fps, info.duration_s, info.has_audio) == (320, 180, 24.0, seconds, audio)
    entries = [manifest["shots"][str(n)] for n in range(1, 9)]
    assert all(e["job"]["id"] and e["provider_job_id"] == e["job"]["id"] for e in entries)
    assert all(e["billed_seconds"] == seconds for e in entries)
    return entries


@pytest.mark.parametrize(("recipe_name", "cost"), [("veo-3.1-fast", 0.8), ("veo-3.1", 3.2), ("veo-3.1-lite", 0.4)])
def test_veo_recipe_renders_the_example_story(fake_providers, tmp_path, recipe_name, cost):
    report, manifest = render_film(recipe_name, tmp_path)

    entries = check_film(report, manifest)
    assert fake_providers.creates["veo"] == 8 and fake_providers.creates["plan"] == 1
    assert fake_providers.creates["gemini-image"] == 2  # one reference per character
    recipe = load_recipe(recipe_name)
    assert {e["model"] for e in entries} == {recipe.video.model}
    assert all(e["cost_usd"] == pytest.approx(cost) for e in entries)
    sent = [r["json"]["instances"][0] for r in veo_creates(fake_providers)]
    if recipe.continuity == "references":
        # Every shot with a character sent its reference as an ASSET image.
        with_refs = [instance["referenceImages"] for instance in sent if instance.get("referenceImages")]
        assert len(with_refs) == 8 and all(ref["referenceType"] == "ASSET" for refs in with_refs for ref in refs)
    else:
        # Veo 3.1 Lite takes no reference images: every shot starts from its first character's reference.
        assert recipe.continuity == "first-frame"
        assert all(instance.get("image") and not instance.get("referenceImages") for instance in sent)
        assert {e["notes"]["conditioning"] for e in entries} == {"first-frame"}
    bodies = [r["json"] for r in veo_creates(fake_providers)]
    assert {body["parameters"]["resolution"] for body in bodies} == {recipe.video.resolution}

    again, _ = render_film(recipe_name, tmp_path)  # a second run pays for nothing
    assert [s.status for s in again.shots] == ["cached"] * 8 and fake_providers.creates["veo"] == 8


def test_veo_capabilities_follow_the_model_and_the_films_shape():
    def capabilities(model, width=1280, height=720):
        recipe = Recipe(continuity="first-frame", width=width, height=height, video={"backend": "veo", "model": model})
        return VeoVideo(recipe).capabilities()

    for model in ("veo-3.1-generate-001", "veo-3.1-fast-generate-001"):
        assert capabilities(model).max_reference_images == 3 and capabilities(model).reference_durations == (8.0,)
    lite = capabilities("veo-3.1-lite-generate-001")
    assert lite.max_reference_images == 0 and lite.reference_durations is None and lite.image_to_video
    vertical = capabilities("veo-3.1-fast-generate-001", width=720, height=1280)
    assert vertical.max_reference_images == 0 and vertical.reference_durations is None
    assert vertical.durations == (4.0, 6.0, 8.0)


def test_a_recipe_asking_veo_lite_for_references_is_refused_before_anything_is_spent(fake_providers, tmp_path):
    lite = load_recipe("veo-3.1-lite").model_copy(update={"continuity": "references"})

    with pytest.raises(RecipeError, match=r"veo-3\.1-lite-generate-001 takes no reference images") as caught:
        render(EXAMPLE_STORY, RenderOptions(recipe=lite, out_root=tmp_path))

    assert caught.value.exit_code == ExitCode.RECIPE
    assert 'continuity = "first-frame"' in caught.value.hint and "veo-3.1-fast-generate-001" in caught.value.hint
    assert fake_providers.requests == []  # not even the planner was asked


def test_veo_lite_never_sends_reference_images(fake_providers, tmp_path):
    recipe = small(load_recipe("veo-3.1-lite"))
    plan = one_shot_plan(recipe)
    ref = tmp_path / "ref.png"
    ref.write_bytes(png_bytes(3))

    # Chained continuity hands an unchained shot its references; Lite turns them into a first frame.
    result = VeoVideo(recipe).render_shot(
        shot_request(plan, plan.shots[0], tmp_path / "s.mp4.part", reference_images=[ref])
    )

    instance = veo_creates(fake_providers)[0]["json"]["instances"][0]
    assert instance["image"]["bytesBase64Encoded"] and "referenceImages" not in instance
    assert result.notes["conditioning"] == "first-frame"
    assert "takes no reference images" in result.notes["references_skipped"]


def test_a_vertical_film_on_veo_starts_from_first_frames_and_says_so(fake_providers, tmp_path, caplog):
    fake_providers.clip_size = (180, 320)
    recipe = small(load_recipe("veo-3.1-fast")).model_copy(update={"width": 180, "height": 320})

    with caplog.at_level(logging.WARNING, logger="tale"):
        report = render(EXAMPLE_STORY, RenderOptions(recipe=recipe, out_root=tmp_path))

    assert report.film is not None and [s.status for s in report.shots] == ["done"] * 8
    assert (media.probe(report.film).width, media.probe(report.film).height) == (180, 320)
    bodies = [r["json"] for r in veo_creates(fake_providers)]
    assert len(bodies) == 8 and {b["parameters"]["aspectRatio"] for b in bodies} == {"9:16"}
    assert all(b["instances"][0].get("image") and "referenceImages" not in b["instances"][0] for b in bodies)
    said = [r.getMessage() for r in caplog.records if "reference images only for 16:9 films" in r.getMessage()]
    assert len(said) == 1 and "first frame" in said[0]


def test_veo_sends_allow_all_only_without_an_image(fake_providers, tmp_path):
    recipe = veo_recipe(options={"person_generation": "allow_all"})
    plan = one_shot_plan(recipe)
    first = tmp_path / "first.png"
    first.write_bytes(png_bytes(1))
    backend = VeoVideo(recipe)

    text = backend.render_shot(shot_request(plan, plan.shots[0], tmp_path / "a.mp4.part"))
    framed = backend.render_shot(shot_request(plan, plan.shots[0], tmp_path / "b.mp4.part", first_frame=first))

    sent = [r["json"]["parameters"]["personGeneration"] for r in veo_creates(fake_providers)]
    assert sent == ["allow_all", "allow_adult"]
    assert "person_generation" not in text.notes and framed.notes["person_generation"] == "allow_adult"


def test_a_refused_shot_fails_alone_and_only_it_is_tried_again(fake_providers, tmp_path):
    fake_providers.refuse_word = "shot 3:"  # the fake planner's third prompt starts "Shot 3:"

    report, manifest = render_film("veo-3.1-fast", tmp_path)

    assert [s.index for s in report.failed] == [3]
    assert REFUSAL_REASON in report.failed[0].error and report.film is None
    assert manifest["shots"]["3"]["status"] == "failed"
    assert fake_providers.creates["veo"] == 8

    fake_providers.refuse_word = ""
    report, manifest = render_film("veo-3.1-fast", tmp_path)

    assert [s.status for s in report.shots].count("cached") == 7 and report.film is not None
    assert fake_providers.creates["veo"] == 9  # the refused job is not resumed: one new job for shot 3 only


def test_timed_out_shots_resume_their_jobs_on_the_next_run(fake_providers, tmp_path):
    fake_providers.never_finish = True
    report, manifest = render_film("veo-3.1-fast", tmp_path, poll_timeout_s=0.2)

    assert len(report.failed) == 8 and "did not finish within" in report.failed[0].error
    recorded = {manifest["shots"][str(n)]["job"]["id"] for n in range(1, 9)}
    assert len(recorded) == 8

    fake_providers.never_finish = False
    report, manifest = render_film("veo-3.1-fast", tmp_path)

    assert report.film is not None and fake_providers.creates["veo"] == 8  # all eight jobs resumed, none paid twice
    assert {manifest["shots"][str(n)]["provider_job_id"] for n in range(1, 9)} == recorded


def test_veo_sends_what_the_shot_asks_for(fake_providers, tmp_path):
    recipe = veo_recipe()
    plan = one_shot_plan(recipe, seconds=6.0)
    first = tmp_path / "first.png"
    last = tmp_path / "last.png"
    first.write_bytes(png_bytes(1))
    last.write_bytes(png_bytes(2))
    ref = tmp_path / "ref.png"
    ref.write_bytes(png_bytes(3))
    request = shot_request(
        plan, plan.shots[0], tmp_path / "shot.mp4.part", first_frame=first, last_frame=last, reference_images=[ref]
    )

    result = VeoVideo(recipe).render_shot(request)

    body = veo_creates(fake_providers)[0]["json"]
    instance, parameters = body["instances"][0], body["parameters"]
    assert instance["prompt"] == plan.shots[0].prompt
    assert instance["image"]["mimeType"] == "image/png" and instance["lastFrame"]["bytesBase64Encoded"]
    assert "referenceImages" not in instance  # a first frame and references cannot be combined: first frame wins
    assert parameters == {
        "sampleCount": 1,
        "durationSeconds": 6,
        "seed": plan.shot_seed(plan.shots[0]),
        "aspectRatio": "16:9",
        "resolution": "720p",
        "negativePrompt": "blurry",
        "generateAudio": True,
    }
    assert result.notes["conditioning"] == "first-frame"
    assert media.probe(request.output).duration_s == 6.0


def test_veo_rate_limited_then_succeeds(fake_providers, tmp_path):
    fake_providers.rate_limit_creates = 2
    recipe = veo_recipe()
    plan = one_shot_plan(recipe)
    request = shot_request(plan, plan.shots[0], tmp_path / "shot.mp4.part")

    result = VeoVideo(recipe).render_shot(request)

    assert len(veo_creates(fake_providers)) == 3  # two 429s, then the accepted one
    assert fake_providers.creates["veo"] == 1
    assert [a["outcome"] for a in result.notes["attempts"]] == ["retry", "retry"]  # for the audit log
    assert result.notes["attempts"][0]["error"].startswith("429")
    assert result.provider_job_id == request.journal.job["id"]
    media.check_clip(request.output, expected_s=8.0, fps=24)


def test_veo_server_errors_then_succeeds(fake_providers, tmp_path):
    fake_providers.server_error_creates = 1
    recipe = veo_recipe()
    plan = one_shot_plan(recipe)

    VeoVideo(recipe).render_shot(shot_request(plan, plan.shots[0], tmp_path / "shot.mp4.part"))

    assert len(veo_creates(fake_providers)) == 2
    assert fake_providers.creates["veo"] == 1


def test_veo_rate_limited_beyond_retries_is_a_quota_error(fake_providers, tmp_path):
    from tale_cli.errors import QuotaError

    fake_providers.rate_limit_creates = 10
    recipe = veo_recipe(retries=2)
    plan = one_shot_plan(recipe)

    with pytest.raises(QuotaError, match="after 3 tries"):
        VeoVideo(recipe).render_shot(shot_request(plan, plan.shots[0], tmp_path / "shot.mp4.part"))
    assert len(veo_creates(fake_providers)) == 3


def test_veo_refusal_carries_the_providers_reason(fake_providers, tmp_path):
    recipe = veo_recipe()
    plan = one_shot_plan(recipe, prompt="a forbidden scene")
    request = shot_request(plan, plan.shots[0], tmp_path / "shot.mp4.part")

    with pytest.raises(ShotRefusedError) as caught:
        VeoVideo(recipe).render_shot(request)

    assert REFUSAL_REASON in caught.value.message
    assert "shot 1" in caught.value.message
    assert not request.output.exists()


def test_veo_poll_timeout_then_resume_pays_once(fake_providers, tmp_path):
    fake_providers.never_finish = True
    recipe = veo_recipe(poll_timeout_s=0.2)
    plan = one_shot_plan(recipe)
    journal = DictJournal()

    with pytest.raises(PollTimeoutError, match=r"did not finish within 0\.2 s") as caught:
        VeoVideo(recipe).render_shot(shot_request(plan, plan.shots[0], tmp_path / "shot.mp4.part", journal))
    assert "resumes polling" in caught.value.hint
    assert journal.job is not None and fake_providers.creates["veo"] == 1

    fake_providers.never_finish = False
    result = VeoVideo(recipe).render_shot(shot_request(plan, plan.shots[0], tmp_path / "shot.mp4.part", journal))

    assert fake_providers.creates["veo"] == 1
    assert result.provider_job_id == journal.job["id"]
    media.check_clip(tmp_path / "shot.mp4.part", expected_s=8.0, fps=24)


def test_veo_crash_after_create_resumes_with_zero_new_creates(fake_providers, tmp_path):
    recipe = veo_recipe()
    plan = one_shot_plan(recipe)
    crashing = CrashAfterRecord()
    with pytest.raises(SystemExit):
        VeoVideo(recipe).render_shot(shot_request(plan, plan.shots[0], tmp_path / "shot.mp4.part", crashing))
    assert fake_providers.creates["veo"] == 1
    polls_before = fake_providers.polls["veo"]
    assert polls_before == 0  # the id was recorded before the first poll

    # A new process: a new backend, the journal read back from the manifest.
    journal = DictJournal(job=crashing.job)
    result = VeoVideo(recipe).render_shot(shot_request(plan, plan.shots[0], tmp_path / "shot.mp4.part", journal))

    assert fake_providers.creates["veo"] == 1
    assert fake_providers.polls["veo"] >= 1
    assert result.provider_job_id == crashing.job["id"]
    assert journal.records == []


def test_veo_job_the_provider_forgot_is_created_again(fake_providers, tmp_path):
    recipe = veo_recipe()
    plan = one_shot_plan(recipe)
    stale = {"provider": "vertex-veo", "id": "projects/p/locations/l/publishers/google/models/m/operations/gone"}
    journal = DictJournal(job=stale)

    VeoVideo(recipe).render_shot(shot_request(plan, plan.shots[0], tmp_path / "shot.mp4.part", journal))

    assert fake_providers.creates["veo"] == 1
    assert journal.job["id"] != stale["id"]


def test_veo_wrong_key_is_one_clear_error_without_the_key(fake_providers, tmp_path, monkeypatch):
    wrong = "wrong-vertex-key-not-real-5678"
    monkeypatch.setenv("TALE_VERTEX_API_KEY", wrong)
    recipe = veo_recipe()
    plan = one_shot_plan(recipe)
    backend = VeoVideo(recipe)

    with pytest.raises(KeysError) as caught:
        backend.render_shot(shot_request(plan, plan.shots[0], tmp_path / "a.mp4.part"))
    assert "rejected the API key" in caught.value.message
    assert "tale keys set vertex" in caught.value.hint
    assert wrong not in caught.value.message and wrong not in str(caught.value)
    requests_after_first = len(fake_providers.requests)

    with pytest.raises(KeysError):
        backend.render_shot(shot_request(plan, plan.shots[0], tmp_path / "b.mp4.part"))
    assert len(fake_providers.requests) == requests_after_first  # no second paid attempt with a bad key


def test_veo_without_any_credentials_says_how_to_set_them(fake_providers, monkeypatch):
    monkeypatch.delenv("TALE_VERTEX_API_KEY")
    backend = VeoVideo(veo_recipe())

    with pytest.raises(KeysError, match="no Vertex AI key") as caught:
        backend.preflight()
    assert "tale keys set vertex" in caught.value.hint
    assert fake_providers.requests == []


def test_a_shot_veo_takes_no_references_for_starts_from_its_first_reference(fake_providers, tmp_path):
    recipe = veo_recipe()
    plan = one_shot_plan(recipe, seconds=6.0)
    ref = tmp_path / "ref.png"
    ref.write_bytes(png_bytes())

    result = VeoVideo(recipe).render_shot(
        shot_request(plan, plan.shots[0], tmp_path / "s.mp4.part", reference_images=[ref])
    )

    instance = veo_creates(fake_providers)[0]["json"]["instances"][0]
    assert instance["image"] and "referenceImages" not in instance  # Vertex refuses references on a 6 s clip
    assert result.notes["conditioning"] == "first-frame" and "only for 8 s shots" in result.notes["references_skipped"]


def test_veo_resamples_a_clip_of_another_size_and_rate(fake_providers, tmp_path):
    fake_providers.clip_size = (256, 144)
    fake_providers.clip_fps = 30
    recipe = veo_recipe()
    plan = one_shot_plan(recipe, seconds=4.0)
    request = shot_request(plan, plan.shots[0], tmp_path / "shot.mp4.part")

    VeoVideo(recipe).render_shot(request)

    info = media.check_clip(request.output, expected_s=4.0, fps=24)
    assert (info.width, info.height, info.fps) == (320, 180, 24.0)
    assert not (tmp_path / "shot.mp4.part.download").exists()


def test_veo_recipe_checks(fake_providers):
    recipe = load_recipe("veo-3.1-fast")
    with pytest.raises(RecipeError, match="resolution '4k'"):
        VeoVideo(recipe.model_copy(update={"video": recipe.video.model_copy(update={"resolution": "4k"})}))

    def with_options(**options):
        return recipe.model_copy(update={"video": recipe.video.model_copy(update={"options": options})})

    with pytest.raises(RecipeError, match=r"unknown \[video\.options\] key 'colour'"):
        VeoVideo(with_options(colour=1))
    with pytest.raises(RecipeError, match="person_generation 'everyone'") as caught:
        VeoVideo(with_options(person_generation="everyone"))
    assert "allow_adult" in caught.value.hint
    with pytest.raises(RecipeError, match="enhance_prompt must be true or false"):
        VeoVideo(with_options(enhance_prompt="yes"))
    assert VeoVideo(with_options(person_generation="allow_adult", enhance_prompt=False, project="p")).options
    capabilities = video_backend(recipe).capabilities()
    assert capabilities.durations == (4.0, 6.0, 8.0) and capabilities.reference_durations == (8.0,)
    assert capabilities.max_reference_images == 3 and not backend_runs_locally("veo")


def test_google_backends_need_the_extra(fake_providers, monkeypatch):
    monkeypatch.setitem(sys.modules, "google.genai", None)
    with pytest.raises(MissingDependencyError) as caught:
        VeoVideo(veo_recipe()).preflight()
    assert caught.value.hint == "pip install 'tale-cli[google]'"


def test_gemini_omni_recipe_renders_the_example_story(fake_providers, tmp_path):
    report, manifest = render_film("gemini-omni", tmp_path)

    check_film(report, manifest)
    assert fake_providers.creates["omni"] == 8
    assert fake_providers.creates["gemini-image"] == 2
    bodies = [r["json"] for r in fake_providers.requests if r["path"] == "/v1/interactions"]
    assert all(body["background"] is True and body["response_format"]["duration"] == "8s" for body in bodies)
    assert not any("response_modalities" in body for body in bodies)  # deprecated: response_format says video
    assert {body["generation_config"]["video_config"]["task"] for body in bodies} == {"reference_to_video"}
    images = [c for body in bodies for step in body["input"] for c in step["content"] if c["type"] == "image"]
    assert images and images[0]["mime_type"] == "image/png"


def test_gemini_omni_refusal_and_resume(fake_providers, tmp_path):
    recipe = small(load_recipe("gemini-omni"))
    plan = one_shot_plan(recipe, prompt="something forbidden")
    with pytest.raises(ShotRefusedError, match="safety filter"):
        GeminiOmniVideo(recipe).render_shot(shot_request(plan, plan.shots[0], tmp_path / "a.mp4.part"))

    plan = one_shot_plan(recipe)
    crashing = CrashAfterRecord()
    with pytest.raises(SystemExit):
        GeminiOmniVideo(recipe).render_shot(shot_request(plan, plan.shots[0], tmp_path / "b.mp4.part", crashing))
    creates = fake_providers.creates["omni"]
    journal = DictJournal(job=crashing.job)
    result = GeminiOmniVideo(recipe).render_shot(shot_request(plan, plan.shots[0], tmp_path / "b.mp4.part", journal))
    assert fake_providers.creates["omni"] == creates
    assert result.provider_job_id == crashing.job["id"]


def test_gemini_omni_answering_in_words_without_a_video_is_a_refusal(fake_providers, tmp_path):
    recipe = small(load_recipe("gemini-omni"))
    plan = one_shot_plan(recipe, prompt="a forbidden scene")

    with pytest.raises(ShotRefusedError) as caught:
        GeminiOmniVideo(recipe).render_shot(shot_request(plan, plan.shots[0], tmp_path / "a.mp4.part"))

    assert caught.value.message == f"Gemini Omni refused shot 1: I can't make that video. {REFUSAL_REASON}"


def test_gemini_omni_fetches_a_file_uri_with_alt_media(fake_providers, tmp_path):
    recipe = small(load_recipe("gemini-omni"), options={"delivery": "uri"})
    plan = one_shot_plan(recipe)
    request = shot_request(plan, plan.shots[0], tmp_path / "a.mp4.part")

    GeminiOmniVideo(recipe).render_shot(request)

    media.check_clip(request.output, expected_s=8.0, fps=24)
    (fetched,) = [r for r in fake_providers.requests if r["path"].startswith("/v1beta/files/")]
    assert fetched["query"] == {"alt": ["media"]}  # without it the Files API answers with the file's metadata
    assert fetched["headers"]["x-goog-api-key"] == "test-gemini-key-not-real-1234"


def test_retry_after_is_read_from_the_interactions_clients_own_errors():
    import httpx2
    from google.genai._gaos.errors.genaierror import GenAiError

    from tale_cli.backends.cloud import http_status, retry_after_s

    answer = httpx2.Response(
        429,
        headers={"Retry-After": "7"},
        json={"error": {"message": "busy"}},
        request=httpx2.Request("POST", "http://x"),
    )
    error = GenAiError("busy", answer)

    assert not hasattr(error, "response")  # the headers are on the error itself
    assert http_status(error) == 429 and retry_after_s(error) == 7.0


def test_gemini_omni_rate_limited_then_succeeds(fake_providers, tmp_path):
    fake_providers.rate_limit_creates = 1
    recipe = small(load_recipe("gemini-omni"))
    plan = one_shot_plan(recipe)

    GeminiOmniVideo(recipe).render_shot(shot_request(plan, plan.shots[0], tmp_path / "a.mp4.part"))

    assert [r["path"] for r in fake_providers.requests].count("/v1/interactions") == 2
    assert fake_providers.creates["omni"] == 1


def test_gemini_omni_wrong_key(fake_providers, tmp_path, monkeypatch):
    monkeypatch.setenv("TALE_GOOGLE_API_KEY", "wrong-gemini-key-not-real-0000")
    recipe = small(load_recipe("gemini-omni"))
    plan = one_shot_plan(recipe)
    with pytest.raises(KeysError, match="google rejected the API key") as caught:
        GeminiOmniVideo(recipe).render_shot(shot_request(plan, plan.shots[0], tmp_path / "a.mp4.part"))
    assert "wrong-gemini-key" not in str(caught.value)


def test_gemini_image_writes_a_png_and_reports_refusals(fake_providers, tmp_path):
    recipe = load_recipe("gemini-omni")
    plan = one_shot_plan(recipe)
    from tale_cli.story.plan import Character

    character = Character(id="mira", name="Mira", description="a keeper in a yellow raincoat")
    backend = image_backend(recipe)
    assert isinstance(backend, GeminiImage)
    output = tmp_path / "mira.png.part"

    result = backend.render_reference(
        ReferenceRequest(plan, character, "a keeper in a yellow raincoat", 3, output, DictJournal())
    )

    assert output.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert result.model == "gemini-nano-banana-2.1"
    body = next(r["json"] for r in fake_providers.requests if "generateContent" in r["path"])
    assert body["generationConfig"]["responseModalities"] == ["IMAGE"]
    assert body["generationConfig"]["imageConfig"]["aspectRatio"] == "1:1"

    with pytest.raises(ShotRefusedError, match="Mira"):
        backend.render_reference(
            ReferenceRequest(plan, character, "forbidden look", 3, tmp_path / "x.png", DictJournal())
        )


def test_gemini_image_edits_a_source_picture(fake_providers, tmp_path):
    recipe = load_recipe("gemini-omni")
    plan = one_shot_plan(recipe)
    from tale_cli.story.plan import Character

    source = tmp_path / "photo.png"
    source.write_bytes(png_bytes(9))
    character = Character(id="pip", name="Pip", description="a grey cat")
    request = ReferenceRequest(
        plan, character, "a grey cat", 1, tmp_path / "pip.png", DictJournal(), source_image=source
    )

    result = GeminiImage(recipe).render_reference(request)

    parts = next(r["json"] for r in fake_providers.requests if "generateContent" in r["path"])["contents"][0]["parts"]
    blob = parts[1]["inlineData"]
    assert blob.get("mimeType", blob.get("mime_type")) == "image/png" and blob["data"]
    assert result.notes == {"edited": True}
    assert (tmp_path / "pip.png").stat().st_size > 0


def test_omni_rejects_a_resolution_it_does_not_offer():
    recipe = Recipe(video={"backend": "gemini-omni", "resolution": "480p"})
    with pytest.raises(RecipeError, match="'480p'"):
        GeminiOmniVideo(recipe)


def test_sdk_retries_are_off_so_tales_policy_decides(fake_providers, tmp_path):
    from tale_cli.errors import QuotaError

    fake_providers.rate_limit_creates = 1
    recipe = small(load_recipe("gemini-omni"), retries=0)
    plan = one_shot_plan(recipe)

    with pytest.raises(QuotaError):
        GeminiOmniVideo(recipe).render_shot(shot_request(plan, plan.shots[0], tmp_path / "a.mp4.part"))
    assert [r["path"] for r in fake_providers.requests].count("/v1/interactions") == 1


# Over 2**31: fits Veo's and Runway's unsigned 32-bit seed, not the Gemini API's signed one.
BIG_SEED = 3_000_000_000


def test_seeds_fit_each_google_apis_field(fake_providers, tmp_path):
    from tale_cli.story.plan import Character

    recipe = small(load_recipe("gemini-omni"))
    plan = one_shot_plan(recipe)
    plan.shots[0].seed = BIG_SEED
    character = Character(id="mira", name="Mira", description="a keeper in a yellow raincoat")

    GeminiImage(recipe).render_reference(
        ReferenceRequest(plan, character, "a keeper", BIG_SEED, tmp_path / "mira.png", DictJournal())
    )
    omni = shot_request(plan, plan.shots[0], tmp_path / "a.mp4.part")
    GeminiOmniVideo(recipe).render_shot(omni)
    veo = shot_request(plan, plan.shots[0], tmp_path / "b.mp4.part")
    VeoVideo(veo_recipe()).render_shot(veo)

    image = next(r["json"] for r in fake_providers.requests if r["path"].endswith(":generateContent"))
    interaction = next(r["json"] for r in fake_providers.requests if r["path"] == "/v1/interactions")
    assert image["generationConfig"]["seed"] == BIG_SEED % 2**31
    assert interaction["generation_config"]["seed"] == BIG_SEED % 2**31
    assert veo_creates(fake_providers)[0]["json"]["parameters"]["seed"] == BIG_SEED
    assert omni.seed == veo.seed == BIG_SEED  # what the cache key is made of stays the full seed


def test_the_default_gemini_image_model_is_one_the_api_serves(fake_providers, tmp_path):
    from tale_cli.backends.google.image import DEFAULT_IMAGE_MODEL
    from tale_cli.registry import provider
    from tale_cli.story.plan import Character

    backend = GeminiImage(Recipe(image={"backend": "gemini"}))
    assert backend.model == DEFAULT_IMAGE_MODEL == "gemini-nano-banana-2.1"
    assert DEFAULT_IMAGE_MODEL in provider("gemini").models

    plan = one_shot_plan(backend.recipe)
    character = Character(id="pip", name="Pip", description="a grey cat")
    backend.render_reference(ReferenceRequest(plan, character, "a grey cat", 1, tmp_path / "pip.png", DictJournal()))

    assert fake_providers.creates["gemini-image"] == 1


def test_a_retired_image_model_is_one_recipe_error_and_nothing_else_is_spent(fake_providers, tmp_path):
    from typer.testing import CliRunner

    from tale_cli.cli.app import app
    from tale_cli.config import recipe_path

    shipped = recipe_path("veo-3.1-fast").read_text(encoding="utf-8")
    # A model the registry knows retired is refused before anything is asked of anyone.
    retired = shipped.replace('model = "gemini-nano-banana-2.1"', 'model = "gemini-3.1-flash-image"')
    assert retired != shipped
    (tmp_path / "veo.toml").write_text(retired, encoding="utf-8")
    render = ["render", str(EXAMPLE_STORY), "-r", str(tmp_path / "veo.toml"), "-o", str(tmp_path), "--yes"]
    result = CliRunner().invoke(app, render)
    assert result.exit_code == ExitCode.RECIPE, result.output
    said = " ".join(result.output.split())
    assert "gemini model gemini-3.1-flash-image retired on 2026-10-29" in said
    assert 'set model = "gemini-nano-banana-2.1" under [image]' in said and fake_providers.requests == []
    # One the registry does not know, and the provider no longer serves: its 404 is the same recipe error.
    unknown = shipped.replace('model = "gemini-nano-banana-2.1"', 'model = "gemini-3.0-flash-image"')
    (tmp_path / "veo.toml").write_text(unknown, encoding="utf-8")
    result = CliRunner().invoke(app, render)
    assert result.exit_code == ExitCode.RECIPE, result.output
    said = " ".join(result.output.split())
    assert "model gemini-3.0-flash-image is not served (retired?) — set [image] model in the recipe" in said
    images = [r for r in fake_providers.requests if r["path"].endswith("gemini-3.0-flash-image:generateContent")]
    assert len(images) == 1  # the first character's reference; the second is not asked for
    assert fake_providers.creates["gemini-image"] == 0 and fake_providers.creates["veo"] == 0


def test_veo_is_sent_the_references_of_what_is_on_screen_three_at_most(fake_providers, tmp_path):
    import base64
    import json

    story = tmp_path / "lantern.md"
    story.write_text(
        "---\ntitle: Lantern\nshots: 2\n---\n\nMira lit the brass lantern.\n\nPip followed her to the harbor.\n",
        encoding="utf-8",
    )
    recipe = small(load_recipe("veo-3.1-fast"))
    first = render(story, RenderOptions(recipe=recipe, out_root=tmp_path / "out"))
    # The planner's two characters and two entities, each drawn once.
    assert fake_providers.creates["gemini-image"] == 4 and fake_providers.creates["veo"] == 2
    plan_file = first.run_dir / "plan.json"
    plan = json.loads(plan_file.read_text(encoding="utf-8"))
    assert [e["id"] for e in plan["entities"]] == ["brass-lantern", "harbor"]
    # Everything on screen in shot 1: the characters first, then the entities, three in all.
    plan["shots"][0].update(characters=["mira", "pip"], entities=["harbor", "brass-lantern"])
    plan_file.write_text(json.dumps(plan), encoding="utf-8")
    again = render(plan_file, RenderOptions(recipe=recipe, out_root=tmp_path / "out"))
    assert [s.status for s in again.shots] == ["done", "cached"] and fake_providers.creates["gemini-image"] == 4
    sent = veo_creates(fake_providers)[-1]["json"]["instances"][0]["referenceImages"]
    refs = first.run_dir / "refs"
    expected = [base64.b64encode((refs / f"{i}.png").read_bytes()).decode() for i in ("mira", "pip", "harbor")]
    assert [ref["image"]["bytesBase64Encoded"] for ref in sent] == expected
