from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tale_cli.cli.app import app
from tale_cli.cost import compare, resolve_book
from tale_cli.cost.plot import chart_data, cost_figure
from tale_cli.errors import ExitCode

runner = CliRunner()


@pytest.mark.parametrize("prices", ["2026-11", "2026-02"])
def test_chart_has_three_series_and_the_break_even_where_compare_puts_it(tmp_path: Path, prices: str) -> None:
    pytest.importorskip("matplotlib")
    chart = tmp_path / "costs.svg"
    result = runner.invoke(app, ["cost", "compare", "--prices", prices, "--json", "--plot", str(chart)])
    assert result.exit_code == 0, result.output
    reported = json.loads(result.stdout)["break_even"]["B_vs_A-1_videos_per_month"]
    svg = chart.read_text(encoding="utf-8")
    for gid in ("series-A-1", "series-A-2", "series-B", "break-even", "capacity-0"):
        assert f'id="{gid}"' in svg, gid
    assert "A-1: the platform pays the video API" in svg and "B: own GPU fleet" in svg
    assert f"price book {prices}, as of" in svg and f"{reported:,} videos a month" in svg

    book = resolve_book(prices)
    figure = cost_figure(chart_data(book, compare(book)))
    lines = {line.get_gid(): line for line in figure.axes[0].get_lines()}
    assert {"series-A-1", "series-A-2", "series-B"} <= set(lines)
    assert list(lines["break-even"].get_xdata()) == [reported]
    # B's fleet steps: its cost jumps at the first tier's edge.
    b = lines["series-B"]
    edge = book.scenario_b.tiers[0].videos
    before = max(y for x, y in zip(b.get_xdata(), b.get_ydata(), strict=True) if x <= edge)
    after = min(y for x, y in zip(b.get_xdata(), b.get_ydata(), strict=True) if x > edge)
    assert after > before * 1.5


def test_png_chart_other_formats_and_a_missing_matplotlib(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("matplotlib")
    chart = tmp_path / "costs.png"
    result = runner.invoke(app, ["cost", "compare", "--plot", str(chart)])
    assert result.exit_code == 0, result.output
    assert chart.read_bytes().startswith(b"\x89PNG") and f"chart {chart}" in result.output.replace("\n", "")

    result = runner.invoke(app, ["cost", "compare", "--plot", str(tmp_path / "costs.gif")])
    assert result.exit_code == ExitCode.INPUT and "give a file ending in .svg or .png" in result.output

    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    result = runner.invoke(app, ["cost", "compare", "--plot", str(tmp_path / "again.svg")])
    assert result.exit_code == ExitCode.MISSING_DEPENDENCY
    assert "pip install 'tale-cli[plot]'" in result.output and not (tmp_path / "again.svg").exists()
