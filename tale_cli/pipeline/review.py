"""The review page: review.html in a run folder (film, one card per shot, totals, costs), and a batch's index.html.

A page is self-contained and private: it links only the run's own files by relative URL, carries its own
style and one small script, and its Content-Security-Policy lets nothing else load or run, from `file://`
or served. Every text from the story, the plan, the manifest or a provider's error is HTML-escaped.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import html
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import quote

from tale_cli.errors import InputError, TaleError
from tale_cli.files import atomic_write_text
from tale_cli.run.folder import ManifestData, RunFolder, ShotRecord, ShotStatus
from tale_cli.run.recipe import cut_record

if TYPE_CHECKING:
    from tale_cli.cost import RenderEstimate
    from tale_cli.pipeline.report import FilmResult, RenderReport, ShotOutcome
    from tale_cli.story.plan import Plan

REVIEW_PAGE = "review.html"
INDEX_PAGE = "index.html"

_STYLE = """
:root { color-scheme: dark; --bg: #14151a; --card: #1e2027; --line: #30333d; --text: #e8e8ec; --dim: #9a9cab;
  --ok: #6fcf97; --cached: #7fb2ff; --bad: #ff7b72; --warn: #f2c94c; }
* { box-sizing: border-box; }
body { margin: 0; background: var(--bg); color: var(--text); line-height: 1.45;
  font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "Noto Sans", "Noto Sans CJK KR", NanumGothic, sans-serif; }
main { max-width: 1280px; margin: 0 auto; padding: 16px; }
h1 { font-size: 1.6rem; margin: 8px 0 4px; overflow-wrap: anywhere; }
h2 { font-size: 1.15rem; margin: 28px 0 10px; }
h3 { font-size: 1rem; margin: 0 0 6px; display: flex; gap: 8px; align-items: center; flex-wrap: wrap; }
p { margin: 4px 0; overflow-wrap: anywhere; }
.dim { color: var(--dim); }
.player { width: min(100%, calc(78vh * var(--w) / var(--h))); aspect-ratio: var(--w) / var(--h); margin: 12px auto;
  background: #000; }
.player video, .frame video { display: block; width: 100%; height: 100%; background: #000; object-fit: contain; }
.notice { border: 1px solid var(--warn); color: var(--warn); padding: 8px 12px; border-radius: 6px; }
.totals { display: grid; grid-template-columns: repeat(auto-fill, minmax(min(100%, 170px), 1fr)); gap: 8px; }
.totals div { background: var(--card); border: 1px solid var(--line); border-radius: 8px; padding: 8px 12px; }
.totals b { display: block; font-size: 1.15rem; }
.shots { display: grid; grid-template-columns: repeat(auto-fill, minmax(min(100%, 300px), 1fr)); gap: 14px; }
.shot { background: var(--card); border: 1px solid var(--line); border-radius: 10px; overflow: hidden; }
.frame { aspect-ratio: var(--w) / var(--h); max-height: 70vh; margin: 0 auto; background: #000; cursor: pointer; }
.frame.empty { display: grid; place-items: center; color: var(--dim); cursor: default; }
.body { padding: 10px 12px 12px; }
.badge { font-size: .75rem; padding: 1px 8px; border-radius: 99px; border: 1px solid currentColor; }
.done { color: var(--ok); } .cached { color: var(--cached); } .failed, .refused { color: var(--bad); }
.interrupted, .rendering, .waiting { color: var(--warn); }
.narration { font-style: italic; }
.error { color: var(--bad); white-space: pre-wrap; }
.cast { list-style: none; padding: 0; margin: 6px 0; display: flex; gap: 10px; flex-wrap: wrap; }
.cast li { display: flex; gap: 6px; align-items: center; }
.cast img { width: 40px; height: 40px; object-fit: cover; border-radius: 50%; border: 1px solid var(--line); }
.cast li.entity img { border-radius: 6px; }
.entities { list-style: none; padding: 0; display: flex; gap: 14px; flex-wrap: wrap; }
.entities li { display: flex; gap: 10px; align-items: center; }
.entities img { width: 96px; height: 96px; object-fit: cover; border-radius: 6px; border: 1px solid var(--line); }
dl { display: grid; grid-template-columns: max-content 1fr; gap: 2px 10px; margin: 8px 0 0; font-size: .88rem; }
dt { color: var(--dim); } dd { margin: 0; overflow-wrap: anywhere; }
.scroll { overflow-x: auto; }
table { border-collapse: collapse; width: 100%; font-size: .92rem; }
th, td { text-align: left; padding: 6px 10px; border-bottom: 1px solid var(--line); vertical-align: top; }
td.num, th.num { text-align: right; white-space: nowrap; }
tr.this { background: #262a35; }
a { color: var(--cached); }
img.board { max-width: 100%; height: auto; border-radius: 6px; }
"""

# Shots play while the pointer is over them, or on a tap; nothing else runs.
_SCRIPT = """
for (const clip of document.querySelectorAll("video.clip")) {
  const play = () => { if (!clip.dataset.started) { clip.dataset.started = "1"; clip.currentTime = 0; }
    clip.play().catch(() => {}); };
  clip.addEventListener("mouseenter", play);
  clip.addEventListener("mouseleave", () => clip.pause());
  clip.addEventListener("click", () => (clip.paused ? play() : clip.pause()));
}
"""


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


def _url(relative: str) -> str:
    """A relative link to one of the run's files, quoted for a URL and escaped for an attribute."""
    return _e(quote(relative.replace(os.sep, "/")))


def _usd(value: float | None) -> str:
    return "—" if value is None else f"${value:,.2f}"


def _seconds(value: float | None) -> str:
    if value is None:
        return "—"
    return f"{value:.1f} s" if value < 120 else f"{value / 60:.1f} min"


def _digest(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode("ascii") + "'"


def srt_to_vtt(srt: str) -> str:
    """WebVTT from SubRip (browsers take only WebVTT in a <track>): dotted times, cue text escaped."""
    cues = []
    for block in srt.replace("\r\n", "\n").split("\n\n"):
        lines = [line for line in block.split("\n") if line.strip()]
        timing = next((n for n, line in enumerate(lines) if "-->" in line), None)
        if timing is None:
            continue
        text = [html.escape(line, quote=False) for line in lines[timing + 1 :]]
        cues.append("\n".join([lines[timing].replace(",", "."), *text]))
    return "WEBVTT\n\n" + "\n\n".join(cues) + "\n"


def _document(title: str, language: str, style: str, body: str, *, script: str = "") -> str:
    """A whole page whose policy admits its own style and script and the folder's files, nothing else."""
    scripts = _digest(script) if script else "'none'"
    policy = (
        "default-src 'none'; img-src 'self'; media-src 'self' data:; "
        f"style-src {_digest(style)}; script-src {scripts}; base-uri 'none'; form-action 'none'"
    )
    return (
        f'<!doctype html>\n<html lang="{_e(language)}">\n<head>\n<meta charset="utf-8">\n'
        f'<meta http-equiv="Content-Security-Policy" content="{policy}">\n'
        '<meta name="referrer" content="no-referrer">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{_e(title)}</title>\n<style>{style}</style>\n</head>\n<body>\n<main>\n{body}</main>\n"
        + (f"<script>{script}</script>\n" if script else "")
        + "</body>\n</html>\n"
    )


@dataclass
class RecipeCost:
    """What the same film would cost with one shipped recipe, from the price book (None: it cannot be priced)."""

    recipe: str
    usd: float | None
    why_unpriced: str = ""


def _estimate(plan: Plan, recipe_name: str | None, planned: bool) -> tuple[RenderEstimate | None, list[RecipeCost]]:
    """The run's own estimate, and every shipped recipe's for the same plan (no request is made)."""
    from tale_cli.config import load_recipe, recipe_names
    from tale_cli.cost import estimate_render, resolve_book

    own, book = None, None
    # A recipe given as a file is recorded by name only; when that name is no shipped recipe, there is no estimate.
    with contextlib.suppress(TaleError):
        recipe = load_recipe(recipe_name or "")
        book = resolve_book(recipe.prices)
        own = estimate_render(plan, recipe, book=book, include_planner=planned)
    others = []
    for name in recipe_names():
        try:
            estimate = estimate_render(plan, load_recipe(name), book=book, include_planner=planned)
        except TaleError as error:
            others.append(RecipeCost(name, None, error.message))
            continue
        if estimate.unpriced:
            others.append(RecipeCost(name, None, estimate.unpriced[0]))
        else:
            others.append(RecipeCost(name, estimate.total_usd))
    return own, others


def _status(record: ShotRecord | None, outcome: ShotOutcome | None) -> str:
    if outcome is not None:
        from tale_cli.events import ShotState

        if outcome.status == ShotState.FAILED:
            return "refused" if outcome.refused else "failed"
        return str(outcome.status)
    if record is None or record.status is None:
        return "waiting"
    return "done" if record.status == ShotStatus.DONE else str(record.status)


def _shot_card(
    plan: Plan, folder: RunFolder, index: int, record: ShotRecord | None, status: str, usd: float | None
) -> str:
    shot = plan.shots[index - 1]
    clip = folder.shot_file(index)
    if clip.is_file() and status not in ("failed", "refused"):
        # The media fragment shows the shot's middle frame (its storyboard frame) until it plays.
        middle = f"{shot.duration_s / 2:g}"
        rel = clip.relative_to(folder.root).as_posix()
        frame = (
            f'<div class="frame"><video class="clip" src="{_url(rel)}#t={middle}" preload="metadata" muted loop '
            f'playsinline title="shot {index}: hover or tap to play"></video></div>'
        )
    else:
        frame = '<div class="frame empty">no clip</div>'
    people = {character.id: character for character in plan.characters}
    cast = []
    for character_id in shot.characters:
        character = people.get(character_id)
        if character is None:
            continue
        picture = character.reference_image or f"refs/{character.id}.png"
        image = f'<img src="{_url(picture)}" alt="">' if (folder.root / picture).is_file() else ""
        cast.append(f"<li>{image}<span>{_e(character.name)}</span></li>")
    things = {entity.id: entity for entity in plan.entities}
    for entity_id in shot.entities:
        entity = things[entity_id]
        picture = entity.reference_image or f"refs/{entity.id}.png"
        image = f'<img src="{_url(picture)}" alt="">' if (folder.root / picture).is_file() else ""
        cast.append(
            f'<li class="entity">{image}<span>{_e(entity.name)} <small class=dim>{entity.kind}</small></span></li>'
        )
    seed = record.seed if record is not None and record.seed is not None else shot.seed
    facts: list[tuple[str, object]] = [("seed", "—" if seed is None else seed)]
    if record and record.backend:
        facts.append(("backend", f"{record.backend} · {record.model or '—'}"))
    if record and record.takes:
        locked = " · locked" if record.locked else ""
        facts.append(("take", f"{record.take or '—'} of {len(record.takes)}{locked}"))
    judged = _judged(record)
    if judged:
        facts.append(("judge", judged))
    facts.append(("camera", shot.camera))
    facts.append(("render time", _seconds(record.render_s if record else None)))
    facts.append(("estimated", _usd(usd)))
    billed = _usd(record.cost_usd if record else None)
    if record and record.billed_seconds is not None:
        billed += f" ({record.billed_seconds:g} s billed)"
    if record and record.billed_credits is not None:
        billed += f" ({record.billed_credits:g} credits)"
    facts.append(("billed", billed))
    if record and record.provider_job_id:
        facts.append(("job", record.provider_job_id))
    if record and record.fallback:
        facts.append(("fallback", f"recipe {record.fallback.recipe} ({record.fallback.backend})"))
    parts = [
        f'<article class="shot" id="shot-{index}">',
        frame,
        '<div class="body">',
        f'<h3>Shot {index} <span class="badge {_e(status)}">{_e(status)}</span>'
        f'<span class="dim">{shot.duration_s:g} s</span></h3>',
        f'<p class="prompt">{_e(shot.prompt)}</p>',
    ]
    names = {character.id: character.name for character in plan.characters}
    for said in (said for said in shot.speech if said.text.strip()):  # in the order the shot says them
        speaker = "" if said.narrated else f"<b>{_e(names.get(said.who, said.who))}</b> "
        parts.append(f'<p class="narration">{speaker}“{_e(said.text)}”</p>')
    if cast:
        parts.append(f'<ul class="cast">{"".join(cast)}</ul>')
    parts.append("<dl>" + "".join(f"<dt>{_e(k)}</dt><dd>{_e(v)}</dd>" for k, v in facts) + "</dl>")
    if record and record.fallback and record.fallback.reason:
        parts.append(f'<p class="error">refused first: {_e(record.fallback.reason)}</p>')
    if record and record.error and status not in ("done", "cached"):
        parts.append(f'<p class="error">{_e(record.error)}</p>')
    parts.append("</div></article>")
    return "\n".join(parts)


def _entities(plan: Plan, folder: RunFolder) -> str:
    """The plan's entities: each one's reference, kind and the shots that list it (nothing for a plan without)."""
    if not plan.entities:
        return ""
    items = []
    for entity in plan.entities:
        picture = entity.reference_image or f"refs/{entity.id}.png"
        image = f'<img src="{_url(picture)}" alt="">' if (folder.root / picture).is_file() else ""
        shots = [shot.index for shot in plan.shots if entity.id in shot.entities]
        links = ", ".join(f'<a href="#shot-{index}">{index}</a>' for index in shots) or "none"
        described = f"<br><small>{_e(entity.description)}</small>" if entity.description else ""
        items.append(
            f'<li id="entity-{_e(entity.id)}">{image}<span><b>{_e(entity.name)}</b> <small class=dim>{entity.kind}'
            f"</small>{described}<br><small>shots {links}</small></span></li>"
        )
    return "<h2>Entities</h2>\n<ul class=entities>" + "".join(items) + "</ul>\n"


def _judged(record: ShotRecord | None) -> str:
    """The current take's judgement in a line: its score and metrics, and what the no-model checks flagged."""
    if record is None or not record.takes:
        return ""
    current = next((take for take in record.takes if take.take == record.take), None)
    verdict = current.judge if current is not None else None
    if verdict is None:
        return ""
    metrics = [
        ("score", verdict.score),
        ("prompt", verdict.prompt),
        ("cross", verdict.cross),
        ("self", verdict.self_score),
    ]
    words = [f"{name} {value:.2f}" for name, value in metrics if value is not None]
    words += [flag for flag, on in (("frozen", verdict.frozen), ("flash", verdict.flash)) if on]
    missing = [thing for thing, seen in {**verdict.characters, **verdict.entities}.items() if seen.found is False]
    if missing:
        words.append("missing " + ", ".join(missing))
    return f"{' · '.join(words)} ({verdict.backend})"


def _film(plan: Plan, folder: RunFolder, failed: int, *, shown: bool = True, draft: bool = False) -> str:
    # `shown`: the subtitles are on by default, unless the picture already draws the words (the preview animatic).
    # `draft`: a run of drafts, whose page shows the draft film of its current takes.
    film, srt = (folder.draft_film, folder.draft_srt) if draft else (folder.film, folder.srt)
    if not film.is_file():
        return '<p class="notice">No film yet: every shot must render before the film is stitched.</p>\n'
    track = ""
    if srt.is_file():
        vtt = srt_to_vtt(folder.read_text(srt))
        # Inline: a browser refuses a track file next to a page opened from disk, never a data: URL.
        data = base64.b64encode(vtt.encode("utf-8")).decode("ascii")
        track = (
            f'<track kind="subtitles" label="{_e(plan.language)}" srclang="{_e(plan.language)}" '
            f'src="data:text/vtt;base64,{data}"{" default" if shown else ""}>'
        )
    note = (
        f'<p class="notice">{failed} shot(s) failed in the last render: this film is from an earlier one.</p>\n'
        if failed
        else ""
    )
    if draft:
        final = "; the final film is film.mp4" if folder.film.is_file() else "; `tale finalize` makes the final film"
        note += f'<p class="dim">The draft film{final}.</p>\n'
    return (
        f'{note}<div class="player"><video id="film" src="{_url(film.name)}" controls preload="metadata" '
        f'playsinline width="{plan.width}" height="{plan.height}">{track}</video></div>\n'
    )


def _estimated(estimate: RenderEstimate | None) -> str:
    """The run's estimate: '—' when its recipe cannot be found again (a file moved), 'unpriced' when the book lacks it."""
    if estimate is None:
        return "—"
    return "unpriced" if estimate.unpriced else _usd(estimate.total_usd)


def _totals(
    data: ManifestData, statuses: list[str], estimate: RenderEstimate | None, report: RenderReport | None
) -> str:
    render_s = sum(record.render_s or 0.0 for record in data.shots.values())
    counted = {name: statuses.count(name) for name in ("done", "cached", "failed", "refused")}
    cells = [
        ("shots ready", f"{counted['done'] + counted['cached']} of {len(statuses)}"),
        # Only a render knows which shots came from the cache; a page refreshed later cannot tell.
        ("cache hits", str(counted["cached"]) if report is not None else "—"),
        ("failed", str(counted["failed"] + counted["refused"])),
        ("spent (billed)", _usd(data.cost_usd)),
        ("estimated", _estimated(estimate)),
        ("this render", _seconds(report.seconds if report is not None else None)),
        ("shots' render time", _seconds(render_s)),
    ]
    film = cut_record(data)
    if film is not None:
        cells.append(("film", f"{film.duration_s:g} s"))
    return (
        '<div class="totals">'
        + "".join(f"<div><span class='dim'>{_e(k)}</span><b>{_e(v)}</b></div>" for k, v in cells)
        + "</div>\n"
    )


def _origin(data: ManifestData, plan: Plan, how: str) -> str:
    planner = data.planner
    facts = [("plan", how or (planner.how if planner and planner.how else "—"))]
    if planner is not None:
        facts.append(("planner", f"{planner.backend}{' · ' + planner.model if planner.model else ''}"))
    if data.plan_origin is not None:
        origin = data.plan_origin
        facts.append(("story", f"sha256 {origin.story_sha256[:16]}…"))
        facts.append(("asked for", f"{origin.shots} shots × {origin.seconds:g} s at {origin.size[0]}×{origin.size[1]}"))
    facts.append(("recipe", data.run.recipe or "—"))
    facts.append(("size", f"{plan.width}×{plan.height} · {plan.fps} fps"))
    facts.append(("created", data.run.created or "—"))
    facts.append(("updated", data.run.updated or "—"))
    return "<dl>" + "".join(f"<dt>{_e(k)}</dt><dd>{_e(v)}</dd>" for k, v in facts) + "</dl>\n"


def _recipes(data: ManifestData, others: list[RecipeCost], estimate: RenderEstimate | None) -> str:
    own = _estimated(estimate)
    rows = [
        f"<tr class=this><td>this run · {_e(data.run.recipe or '—')}<br><small class=dim>estimated {_e(own)}</small>"
        f"</td><td class=num>{_e(_usd(data.cost_usd))} billed</td></tr>"
    ]
    for other in others:
        if other.usd is None:
            rows.append(
                f"<tr><td>{_e(other.recipe)}<br><small class=dim>{_e(other.why_unpriced)}</small></td>"
                "<td class=num>unpriced</td></tr>"
            )
        else:
            rows.append(f"<tr><td>{_e(other.recipe)}</td><td class=num>{_e(_usd(other.usd))}</td></tr>")
    book = f" (price book {_e(estimate.price_book)})" if estimate is not None else ""
    return (
        f"<p class=dim>What this film would cost on each shipped recipe, estimated{book}; no request is made.</p>"
        "<div class=scroll><table><thead><tr><th>recipe</th><th class=num>cost</th></tr></thead><tbody>"
        + "".join(rows)
        + "</tbody></table></div>\n"
    )


def review_page(run_dir: Path, report: RenderReport | None = None) -> str:
    """The review page of a run folder as HTML; `report` (a render's) adds what only the render knows: cache hits."""
    from tale_cli.run.folder import Manifest
    from tale_cli.story.plan import load_plan

    folder = RunFolder(run_dir)
    if not folder.plan.is_file():
        raise InputError(f"{run_dir} is not a run folder (no plan.json)", hint="give a folder made by `tale render`")
    plan = load_plan(folder.plan)
    data = Manifest.read(folder.manifest) or ManifestData()
    outcomes = {outcome.index: outcome for outcome in report.shots} if report is not None else {}
    planned = data.plan_origin is not None
    estimate, others = _estimate(plan, data.run.recipe, planned)
    shot_usd = {shot.index: shot.usd for shot in estimate.shots} if estimate is not None else {}
    statuses = [_status(data.shots.get(str(s.index)), outcomes.get(s.index)) for s in plan.shots]
    failed = statuses.count("failed") + statuses.count("refused")
    cards = [
        _shot_card(plan, folder, s.index, data.shots.get(str(s.index)), status, shot_usd.get(s.index))
        for s, status in zip(plan.shots, statuses, strict=True)
    ]
    film, draft = cut_record(data), data.run.tier == "draft"
    style = f":root {{ --w: {plan.width}; --h: {plan.height}; }}{_STYLE}"
    board = (
        f'<h2>Storyboard</h2>\n<img class="board" src="{_url("storyboard.png")}" alt="storyboard">\n'
        if folder.storyboard.is_file()
        else ""
    )
    body = (
        f"<h1>{_e(plan.title)}</h1>\n"
        f"<p class='dim'>{len(plan.shots)} shots · {plan.width}×{plan.height} · recipe {_e(data.run.recipe or '—')}</p>\n"
        + _film(plan, folder, failed, shown=not (film is not None and film.subtitles_default is False), draft=draft)
        + "<h2>Totals</h2>\n"
        + _totals(data, statuses, estimate, report)
        + "<h2>Where the plan came from</h2>\n"
        + _origin(data, plan, report.plan_source if report is not None else "")
        + "<h2>Shots</h2>\n<div class=shots>\n"
        + "\n".join(cards)
        + "\n</div>\n"
        + _entities(plan, folder)
        + "<h2>Cost on other recipes</h2>\n"
        + _recipes(data, others, estimate)
        + board
    )
    return _document(f"{plan.title} · review", plan.language, style, body, script=_SCRIPT)


def write_review(run_dir: Path, report: RenderReport | None = None) -> Path | None:
    """Write (or refresh) RUN_DIR/review.html and return its path; a private run's page is owner-only. A sealed run's
    page would hold its story in the clear: none is written (an old one is removed), and None returned; `tale review
    --serve` makes it on the fly."""
    from tale_cli.run.folder import Manifest

    folder = RunFolder(run_dir)
    path = folder.root / REVIEW_PAGE
    if folder.sealed:
        if path.is_file() and not path.is_symlink():
            path.unlink()
        return None
    page = review_page(run_dir, report)
    data = Manifest.read(run_dir / "manifest.json")
    folder = RunFolder(run_dir, private=bool(data and data.run.private))
    folder.write_text(path, page)
    return path


def write_batch_index(out_root: Path, films: Sequence[FilmResult], *, private: bool = False) -> Path:
    """OUT/index.html: every film of a batch, its status and spend, linked to its review page."""
    rows = []
    for film in films:
        page = film.run_dir / REVIEW_PAGE if film.run_dir is not None else None
        title = _e(film.title)
        if page is not None and page.is_file():
            title = f'<a href="{_url(os.path.relpath(page, out_root))}">{title}</a>'
        detail = f"<br><span class=error>{_e(film.error)}</span>" if film.error else ""
        rows.append(
            f"<tr><td>{title}{detail}</td><td class={_e(film.status)}>{_e(film.status)}</td>"
            f"<td class=num>{film.rendered}</td><td class=num>{film.cached}</td><td class=num>{film.failed}</td>"
            f"<td class=num>{_e(_usd(film.cost_usd))}</td></tr>"
        )
    done = sum(1 for film in films if film.status == "done")
    total = sum(film.cost_usd for film in films)
    body = (
        f"<h1>Batch: {len(films)} films</h1>\n<p class=dim>{done} done · spent {_e(_usd(total))}</p>\n"
        "<div class=scroll><table><thead><tr><th>film</th><th>status</th><th class=num>rendered</th>"
        "<th class=num>cached</th><th class=num>failed</th><th class=num>spent</th></tr></thead><tbody>"
        + "".join(rows)
        + "</tbody></table></div>\n"
    )
    path = out_root / INDEX_PAGE
    atomic_write_text(path, _document("Tale batch", "en", _STYLE, body), mode=0o600 if private else 0o644)
    return path
