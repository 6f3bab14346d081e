"""Per-render estimates: what a plan with a recipe will cost before anything is spent, and the budget check."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from pydantic import Field, model_validator

from tale_cli.cost.report import Cents, Report
from tale_cli.errors import BudgetError, RecipeError
from tale_cli.pricing.book import PriceBook, resolve_book
from tale_cli.pricing.money import in_cents, usd_range_text
from tale_cli.pricing.prices import GpuTime, PlannerPrice, VideoPrice
from tale_cli.pricing.rates import _best, price_image, price_judge, price_music, price_shot, price_voice
from tale_cli.registry import Pricing, Role, provider

if TYPE_CHECKING:
    from tale_cli.config import Recipe
    from tale_cli.story.plan import Plan


def _pricing(name: str, role: Role, base_url: str | None = None) -> Pricing:
    """How the registry says this role's provider is priced; a self-hosted server on a private address is free."""
    entry = provider(name, role)
    return Pricing.FREE if entry.is_free(base_url) else entry.priced_by


class ShotEstimate(Report):
    index: int
    seconds: float
    billed_seconds: float | None
    usd: Cents
    price: str | None = None
    credits: float | None = None
    gpu_seconds: float | None = None


def _unbilled(index: int, seconds: float) -> ShotEstimate:
    """A shot with no price: a free backend's, or one the book cannot price (then listed in `unpriced`)."""
    return ShotEstimate(index=index, seconds=seconds, billed_seconds=None, usd=0.0)


class VideoChoice(Report):
    backend: str
    model: str


class RenderEstimate(Report):
    """What a render will cost before anything is spent: per shot, planner, references, total."""

    omitted_when_none = ("tier", "tiers")

    price_book: str
    recipe: str
    # For a recipe with a [draft]: the tier this prices ("draft" or "final"), and `tale cost estimate`'s both tiers.
    tier: str | None = None
    tiers: TiersEstimate | None = None
    video: VideoChoice
    shots: list[ShotEstimate]
    # Summed on validation and stored, so the JSON keeps each total beside the figures it adds up.
    video_usd: Cents = 0.0
    planner_usd: Cents
    references: int
    references_usd: Cents
    # Speech a paid voice will say (estimated from the words at a natural pace), and what it costs.
    voice_seconds: float = 0.0
    voice_usd: Cents = 0.0
    # A score a music backend will compose.
    music_usd: Cents = 0.0
    # A paid judge scoring every take, and the retakes a recipe's bar may ask for, both at their worst case.
    judge_usd: Cents = 0.0
    retakes: int = 0
    retakes_usd: Cents = 0.0
    total_usd: Cents = 0.0
    paid: bool
    unpriced: list[str] = Field(default_factory=list)
    notes: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _totals(self) -> RenderEstimate:
        self.video_usd = sum(shot.usd for shot in self.shots)
        self.total_usd = (
            self.video_usd
            + self.planner_usd
            + self.references_usd
            + self.voice_usd
            + self.music_usd
            + self.judge_usd
            + self.retakes_usd
        )
        return self


class TiersEstimate(Report):
    """A recipe with a [draft]: `tale render --draft` (planning, references, sound and every shot at the draft tier),
    then `tale finalize` (every shot once more at the final tier); and one more take of a shot at each tier."""

    draft: RenderEstimate
    final: RenderEstimate
    draft_retake_usd: Cents
    final_retake_usd: Cents  # a retake at full price, as without drafts
    total_usd: Cents = 0.0

    @model_validator(mode="after")
    def _total(self) -> TiersEstimate:
        self.total_usd = self.draft.total_usd + self.final.total_usd
        return self


def estimate_tiers(
    plan: Plan, recipe: Recipe, *, book: PriceBook | None = None, include_planner: bool = True, gpu: str | None = None
) -> TiersEstimate | None:
    """Both tiers of a recipe with a [draft] (None for one without): the draft render as `tale render --draft` pays
    for it, and `tale finalize` of every shot, which pays for the final clips alone (the plan, references and sound
    are the draft's, and nothing is judged)."""
    from tale_cli.config import draft_recipe, recipe_tier

    if recipe.draft is None or recipe_tier(recipe) == "draft":
        return None
    draft = estimate_render(plan, draft_recipe(recipe), book=book, include_planner=include_planner, gpu=gpu)
    once = recipe.model_copy(update={"judge": recipe.judge.model_copy(update={"max_retakes": 0})})
    final = estimate_render(
        plan, once, book=book, include_planner=False, gpu=gpu, spoken=[], compose=False, references=0, judged=[]
    )
    return TiersEstimate(
        draft=draft,
        final=final,
        draft_retake_usd=max((shot.usd for shot in draft.shots), default=0.0),
        final_retake_usd=max((shot.usd for shot in final.shots), default=0.0),
    )


def _tier(recipe: Recipe) -> str | None:
    """The tier a recipe with a [draft] prices; None for a recipe with one tier."""
    from tale_cli.config import recipe_tier

    tier = recipe_tier(recipe)
    return tier if tier == "draft" or recipe.draft is not None else None


def _unpriced_video(book: PriceBook, backend: str, model: str, audio: bool) -> str:
    entry: VideoPrice | None = _best(book.video, backend, model)
    if entry is not None and not entry.prices_audio(audio):
        return f"video {backend}/{model}: price book {book.id} prices {entry.label} only with audio (audio = true)"
    return f"video {backend}/{model}: not in price book {book.id}"


def judge_model(recipe: Recipe) -> str:
    """The model a recipe judges with: its own, else its judge backend's default."""
    from tale_cli.judge.scoring import judge_backend

    backend = judge_backend(recipe)
    if backend is None:
        return ""
    try:
        return backend.model
    finally:
        backend.close()


def voice_model(recipe: Recipe) -> str:
    """The voice model a recipe speaks with: its own, else its backend's default."""
    from tale_cli.film.voice import voice_backend

    backend = voice_backend(recipe)
    try:
        return backend.model
    finally:
        backend.close()


def _music_model(recipe: Recipe) -> str:
    from tale_cli.film.music import music_backend

    backend = music_backend(recipe)
    try:
        return backend.model
    finally:
        backend.close()


def _own_or_default(backend: str, model: str, role: Role) -> str:
    """The model a recipe names, else its provider's default (the registry's first model)."""
    models = provider(backend, role).models
    return model or (models[0] if models else "")


def image_model(recipe: Recipe) -> str:
    """The image model a recipe draws with."""
    return _own_or_default(recipe.image.backend, recipe.image.model, Role.IMAGE)


def video_model(recipe: Recipe) -> str:
    """The video model a recipe renders with."""
    return _own_or_default(recipe.video.backend, recipe.video.model, Role.VIDEO)


def _resolution(recipe: Recipe, plan: Plan) -> str:
    if recipe.video.resolution:
        return recipe.video.resolution
    return f"{min(plan.width, plan.height)}p"


def _gpu_timing(book: PriceBook, model: str, unit: str, gpu: str) -> tuple[GpuTime | None, str | None]:
    timings = [t for t in book.gpu_time if t.unit == unit and t.matches(model)]
    on_gpu = [t for t in timings if t.gpu == gpu]
    if on_gpu:
        return max(on_gpu, key=lambda t: t.seconds), None
    if timings:
        slowest = max(timings, key=lambda t: t.seconds)
        return slowest, f"{model}: no timing on {gpu}; used {slowest.seconds:g} s measured on {slowest.gpu}"
    return None, None


def _local_seconds(timing: GpuTime, steps: int | None) -> float:
    if steps is not None and timing.steps is not None:
        return timing.seconds * steps / timing.steps
    return timing.seconds


def estimate_render(
    plan: Plan,
    recipe: Recipe,
    *,
    book: PriceBook | None = None,
    include_planner: bool = True,
    gpu: str | None = None,
    only_shots: Iterable[int] | None = None,
    spoken: Sequence[str] | None = None,
    compose: bool = True,
    references: int | None = None,
    retakes_left: Mapping[int, int] | None = None,
    judged: Iterable[int] | None = None,
) -> RenderEstimate:
    """What rendering this plan with this recipe will cost, before anything is spent.

    API video is priced per billed second from the book; local (diffusers) video as GPU-seconds per clip ×
    the hourly price of the local GPU; preview is free. A paid model the book does not know is listed in
    `unpriced` (never counted as free). `include_planner=False` when the plan already exists;
    `only_shots` limits the estimate to the shots that will render (e.g. not the cached ones); `spoken`, to the
    voice clips that will be spoken (default: every narration and line of those shots); `compose=False` when the
    score a music backend would compose is already made; `references`, the character and entity references still
    to draw (default: every character and entity without a picture of its own); `retakes_left`, the automatic retakes each shot may
    still get (default: the recipe's `max_retakes` for every shot estimated); `judged`, the shots whose takes a
    paid judge will score (default: the shots estimated).
    Without `book`, the run's own book: the recipe's `prices`, else TALE_PRICES, else the newest.
    """
    book = book or resolve_book(recipe.prices)
    wanted = None if only_shots is None else set(only_shots)
    plan_shots = [shot for shot in plan.shots if wanted is None or shot.index in wanted]
    if retakes_left is None:
        per_shot = recipe.judge.max_retakes if recipe.judge.retakes else 0
        retakes_left = {shot.index: per_shot for shot in plan_shots}
    retakes_left = {index: left for index, left in retakes_left.items() if left > 0}
    # Every shot the estimate prices: those that render now, and those the recipe's retakes may render again.
    estimated = {shot.index for shot in plan_shots}
    priced_shots = [shot for shot in plan.shots if shot.index in estimated or shot.index in retakes_left]
    gpu = gpu or book.local.gpu
    if gpu not in book.gpus:
        raise RecipeError(
            f"price book {book.id} has no hourly price for gpu '{gpu}'", hint="valid names are: " + ", ".join(book.gpus)
        )
    hourly = book.gpus[gpu].usd_per_hour
    unpriced: list[str] = []
    notes: list[str] = []
    paid = False
    video = recipe.video
    shots: list[ShotEstimate] = []

    video_pricing = _pricing(video.backend, Role.VIDEO)
    if video_pricing is Pricing.FREE:
        shots = [_unbilled(shot.index, shot.duration_s) for shot in priced_shots]
    elif video_pricing is Pricing.GPU_TIME:
        timing, note = _gpu_timing(book, video.model, "clip", gpu)
        if note:
            notes.append(note)
        if timing is None:
            unpriced.append(f"video {video.backend}/{video.model or '(no model)'}: no GPU time in price book {book.id}")
            shots = [_unbilled(shot.index, shot.duration_s) for shot in priced_shots]
        else:
            seconds = _local_seconds(timing, video.steps)
            usd = seconds / 3600 * hourly
            shots = [
                ShotEstimate(
                    index=s.index,
                    seconds=s.duration_s,
                    billed_seconds=None,
                    usd=usd,
                    price=timing.model,
                    gpu_seconds=seconds,
                )
                for s in priced_shots
            ]
            notes.append(f"local video: {seconds:g} GPU-seconds per clip × ${hourly:.2f}/h ({book.gpus[gpu].label})")
    else:
        paid = True
        resolution = _resolution(recipe, plan)
        model = video_model(recipe)
        for shot in priced_shots:
            priced = (
                price_shot(video.backend, model, shot.duration_s, resolution=resolution, audio=video.audio, book=book)
                if model
                else None
            )
            if priced is None:
                shots.append(_unbilled(shot.index, shot.duration_s))
                continue
            if priced.note and priced.note not in notes:
                notes.append(priced.note)
            shots.append(
                ShotEstimate(
                    index=shot.index,
                    seconds=shot.duration_s,
                    billed_seconds=priced.billed_seconds,
                    usd=priced.usd,
                    price=priced.price,
                    credits=priced.credits,
                )
            )
        if not model:
            unpriced.append(f"video {video.backend}: the recipe names no model, so it cannot be priced")
        elif any(shot.price is None for shot in shots):
            unpriced.append(_unpriced_video(book, video.backend, model, video.audio))

    # References that will be generated (characters and entities without an image of their own, not drawn yet).
    to_draw = (
        sum(1 for subject in plan.subjects() if subject.reference_image is None) if references is None else references
    )
    image = recipe.image
    references_usd = 0.0
    image_pricing = _pricing(image.backend, Role.IMAGE)
    if to_draw and image_pricing is not Pricing.FREE:
        if image_pricing is Pricing.GPU_TIME:
            timing, note = _gpu_timing(book, image.model, "image", gpu)
            if note:
                notes.append(note)
            if timing is None:
                unpriced.append(
                    f"image {image.backend}/{image.model or '(no model)'}: no GPU time in price book {book.id}"
                )
            else:
                references_usd = to_draw * _local_seconds(timing, image.steps) / 3600 * hourly
        else:
            paid = True
            model = image_model(recipe)
            priced_image = price_image(image.backend, model, image.quality, book=book)
            if priced_image is None:
                unpriced.append(f"image {image.backend}/{model or '(no model)'}: not in price book {book.id}")
            else:
                each, note = priced_image
                if note:
                    notes.append(note)
                references_usd = to_draw * each

    planner_usd = 0.0
    planner = recipe.planner
    planner_provider = provider(planner.backend, Role.PLANNER)
    if include_planner and planner_provider.priced_by is not Pricing.FREE:
        if planner_provider.is_free(planner.base_url):
            notes.append("planner: a self-hosted server on a private address, not billed")
        else:
            paid = True
            planner_entry: PlannerPrice | None = _best(book.planner, planner.backend, planner.model or "")
            if planner_entry is None:
                unpriced.append(
                    f"planner {planner.backend}/{planner.model or '(no model)'}: not in price book {book.id}"
                )
            else:
                planner_usd = planner_entry.usd_per_plan.high
                if planner_entry.usd_per_plan.low != planner_entry.usd_per_plan.high:
                    notes.append(f"planner: the high end of {usd_range_text(planner_entry.usd_per_plan)} per plan")

    voice_seconds, voice_usd = 0.0, 0.0
    voice = recipe.voice
    if voice.enabled and _pricing(voice.backend, Role.VOICE) is not Pricing.FREE:
        from tale_cli.film.voice import natural_seconds, shot_texts
        from tale_cli.run.line_voice import takes_a_voice

        # Lines said in the clip are the video's, not the voice's, unless the model is given a voice to say them.
        overlay = voice.dialogue != "clip" or takes_a_voice(recipe)
        texts = (
            list(spoken)
            if spoken is not None
            else [text for shot in plan_shots for text in shot_texts(shot, lines=overlay)]
        )
        if texts:
            paid = True
            model = voice_model(recipe)
            voice_seconds = sum(natural_seconds(text) for text in texts) / voice.speed
            priced_voice = price_voice(voice.backend, model, voice_seconds, book=book)
            if priced_voice is None:
                unpriced.append(f"voice {voice.backend}/{model or '(no model)'}: not in price book {book.id}")
            else:
                voice_usd = priced_voice
                notes.append(f"voice: about {voice_seconds:.0f} s of speech, estimated from the words")

    music_usd = 0.0
    from tale_cli.film.music import composes

    if compose and composes(recipe.music.source) and _pricing(recipe.music.source, Role.MUSIC) is not Pricing.FREE:
        paid = True
        model = _music_model(recipe)
        priced_music = price_music(recipe.music.source, model, book=book)
        if priced_music is None:
            unpriced.append(f"music {recipe.music.source}/{model}: not in price book {book.id}")
        else:
            music_usd = priced_music

    by_index = {shot.index: shot for shot in plan.shots}
    judging = [by_index[i] for i in (judged if judged is not None else [s.index for s in plan_shots]) if i in by_index]
    judge_usd, retakes, retakes_usd = _judging(recipe, judging, retakes_left, shots, plan, book, notes, unpriced)
    paid = paid or judge_usd > 0 or retakes_usd > 0 or any(line.startswith("judge ") for line in unpriced)
    shots = [shot for shot in shots if wanted is None or shot.index in wanted]

    return RenderEstimate(
        price_book=book.id,
        recipe=recipe.name,
        tier=_tier(recipe),
        video=VideoChoice(backend=video.backend, model=video.model),
        shots=shots,
        planner_usd=planner_usd,
        references=to_draw if image_pricing is not Pricing.FREE else 0,
        references_usd=references_usd,
        voice_seconds=round(voice_seconds, 1),
        voice_usd=voice_usd,
        music_usd=music_usd,
        judge_usd=judge_usd,
        retakes=retakes,
        retakes_usd=retakes_usd,
        paid=paid,
        unpriced=unpriced,
        notes=notes,
    )


def _judging(
    recipe: Recipe,
    judged: list[Any],
    retakes_left: Mapping[int, int],
    priced: list[ShotEstimate],
    plan: Plan,
    book: PriceBook,
    notes: list[str],
    unpriced: list[str],
) -> tuple[float, int, float]:
    """(judge USD, retakes, retakes' video USD) at the worst case: every retake still possible made (each shot's
    `retakes_left`), the takes of `judged` and every retake judged."""
    judge = recipe.judge
    retakes = sum(retakes_left.values())
    usd = {shot.index: shot.usd for shot in priced}
    retakes_usd = sum(left * usd.get(index, 0.0) for index, left in retakes_left.items())
    if retakes:
        notes.append(
            f"retakes: up to {judge.max_retakes} per shot scoring below {judge.retake_below:g}, counted as if every "
            "shot needed them all"
        )
    judge_usd = 0.0
    if judge.enabled and _pricing(judge.backend, Role.JUDGE) is not Pricing.FREE:
        model = judge_model(recipe)
        entry = price_judge(judge.backend, model, book=book)
        if entry is None:
            unpriced.append(f"judge {judge.backend}/{model or '(no model)'}: not in price book {book.id}")
        else:
            shots = {shot.index: shot for shot in plan.shots}

            def one(index: int) -> float:
                if index not in shots:
                    return 0.0
                # The frames, and a reference picture per character and entity on screen.
                return entry.estimate(judge.frames + len(shots[index].characters) + len(shots[index].entities))

            judge_usd = sum(one(shot.index) for shot in judged) + sum(
                left * one(index) for index, left in retakes_left.items()
            )
            notes.append(f"judge: {entry.label}, about {entry.tokens_per_image} tokens a picture")
    return judge_usd, retakes, retakes_usd


def check_budget(estimate: RenderEstimate, max_cost_usd: float | None, *, paid_usd: float = 0.0) -> None:
    """Refuse (BudgetError, exit code 9) when the estimate, with what the command has paid already (`paid_usd`, its
    plan), exceeds the budget (compared in cents) or cannot be fully priced."""
    spent = f"only the plan was paid (about ${paid_usd:.2f})" if paid_usd else "nothing was spent"
    if max_cost_usd is None:
        return
    if estimate.unpriced:
        raise BudgetError(
            f"cannot hold the render to ${max_cost_usd:.2f}: {estimate.unpriced[0]}",
            hint="price it in your own book (--prices FILE, see configs/pricing/) or drop the budget",
        )
    if in_cents(estimate.total_usd + paid_usd) > in_cents(max_cost_usd):
        paid = f" (with ${paid_usd:.2f} paid for the plan)" if paid_usd else ""
        raise BudgetError(
            f"the estimate ${estimate.total_usd:.2f}{paid} exceeds the budget ${max_cost_usd:.2f}; {spent}",
            hint="raise --max-cost (or the recipe's budget_usd), render fewer or shorter shots, "
            "or pick a cheaper recipe",
        )
