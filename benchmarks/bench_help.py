"""`tale --help` wall time ÷ the --help of a minimal three-command Typer app (goal ≤ 1.5)."""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

MINIMAL = """
import typer
app = typer.Typer()
@app.command()
def one(x: int = 1) -> None:
    "First."
@app.command()
def two(y: str = "a") -> None:
    "Second."
@app.command()
def three(z: bool = False) -> None:
    "Third."
app()
"""


def timed(command: list[str], runs: int) -> float:
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(command, capture_output=True, check=True)
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def main() -> None:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 15
    with tempfile.TemporaryDirectory() as tmp:
        minimal = Path(tmp) / "minimal.py"
        minimal.write_text(MINIMAL)
        baseline_cmd = [sys.executable, str(minimal), "--help"]
        tale_cmd = [sys.executable, "-m", "tale_cli", "--help"]
        timed(baseline_cmd, 2)
        timed(tale_cmd, 2)
        baseline = timed(baseline_cmd, runs)
        tale = timed(tale_cmd, runs)
    print(f"minimal Typer app --help: {baseline:.3f} s (median of {runs})")
    print(f"tale --help:              {tale:.3f} s (median of {runs})")
    print(f"ratio tale/minimal = {tale / baseline:.2f} (goal <= 1.5)")


if __name__ == "__main__":
    main()
