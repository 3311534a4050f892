"""Warm render time of the default renderer against a baseline commit's, both in this process.

    python3 -m benchmarks.speed [--baseline COMMIT] [--only NAMES] [--repeats 3] [--threads N] [--search]

The baseline's optimizer and fonts come from `git archive` and are imported beside this checkout's
as a package of their own, so both render the same pictures (benchmarks/faces.py's, from its cache:
`python3 -m benchmarks.faces --fetch` first) in turn, round after round: a machine shared with other
work slows both alike, and the ratios hold where the seconds drift. Per picture: the best of
`--repeats` wall and CPU seconds for each, their ratios, and the objective (its blur terms, this
checkout's) of both prints: the search must not get faster by stopping short. `--search` times the
glyph search alone (`Renderer.choose`) on this checkout's target and faces, without the fit and the
face detector, and counts the cells whose choice differs (a baseline from 942afe4 on: `choose` takes
the faces).
"""

from __future__ import annotations

import argparse
import importlib.util
import logging
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from types import ModuleType
from typing import Any

import torch

from benchmarks.faces import CACHE, FacesError, load, release_tree
from optimizer import Renderer, preset
from optimizer.search import Objective

log = logging.getLogger(__name__)
BASELINE = "c158f71"  # the start of the speed round (issue 21): 1 731 cells, two FFTs per search step
PICTURES = "hopper,obama,biden,dog,group,poster"


def import_tree(tree: Path, name: str) -> ModuleType:
    """`tree`/optimizer imported as the package `name` (its imports are relative)."""
    spec = importlib.util.spec_from_file_location(
        name, tree / "optimizer" / "__init__.py", submodule_search_locations=[str(tree / "optimizer")]
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


@dataclass
class Timed:
    wall: float = float("inf")
    cpu: float = float("inf")
    objective: float = 0.0
    differ: int | None = None  # cells whose choice differs from the baseline's (--search)


def cpu_seconds() -> float:
    """CPU of this process and of its children: those waited for (a `tesseract` program per
    render, as before bc51df9) and those still running (the kept reading process, read
    from /proc), so that work moved to another process is not work saved."""
    own = os.times()
    total = own.user + own.system + own.children_user + own.children_system
    tick = os.sysconf("SC_CLK_TCK")
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # ended meanwhile: counted above once waited for
        if int(fields[1]) == os.getpid():  # fields[1]: the parent's pid; 11, 12: user and system ticks
            total += (int(fields[11]) + int(fields[12])) / tick
    return total


def timed(work: Callable[[], Any], best: Timed) -> Any:
    cpu = cpu_seconds()
    wall = time.perf_counter()
    out = work()
    best.wall = min(best.wall, time.perf_counter() - wall)
    best.cpu = min(best.cpu, cpu_seconds() - cpu)
    return out


def objective_of(renderer: Renderer, img: Any, art: Any) -> float:
    """This checkout's objective (blur terms) of a print of `img`, whichever renderer made it."""
    target = renderer.target(renderer.frame(img))
    paper = renderer.atlas.compose(art.codes, art.row_gap, art.modes, art.mode_names)
    objective = Objective(renderer.settings, target, renderer.atlas.cell_height, renderer.settings.row_gap)
    return float(objective(torch.from_numpy(paper).to(target.device)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", default=BASELINE, help="the git commit to race against")
    parser.add_argument("--only", default=PICTURES, help="comma-separated names of benchmarks/faces.py's pictures")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, help="torch threads (default: torch's own choice)")
    parser.add_argument("--cache", type=Path, default=CACHE)
    parser.add_argument("--search", action="store_true", help="time the glyph search alone, on the same aims")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    if args.threads:
        torch.set_num_threads(args.threads)
    try:
        photos = load(args.only.split(","), args.cache)
    except FacesError as exc:
        sys.exit(f"speed: {exc}")
    with tempfile.TemporaryDirectory() as tmp:
        try:
            baseline_package = import_tree(release_tree(args.baseline, Path(tmp)), "optimizer_baseline")
        except FacesError as exc:
            sys.exit(f"speed: {exc}")
        renderers = {"baseline": baseline_package.Renderer(baseline_package.preset("epson")),
                     "now": Renderer(preset("epson"))}  # fmt: skip
        times = {(who, name): Timed() for who in renderers for name in photos}
        now = renderers["now"]
        framed = {name: now.frame(img) for name, img in photos.items()}
        aims = {name: now.aims(img, now.grid_for(img)) for name, img in framed.items()} if args.search else {}
        for who, renderer in renderers.items():
            log.info("%s: %d candidate cells", who, len(renderer.codes))
            renderer.render(next(iter(photos.values())))  # warm: the first render pays for allocations
        choices: dict[str, Any] = {}
        for round_ in range(args.repeats):
            for name, img in photos.items():
                for who, renderer in renderers.items():
                    if args.search:
                        target, focus = aims[name]
                        choice = timed(partial(renderer.choose, target, focus=focus), times[who, name])
                        art = renderer.art(choice)
                        choices[who] = choice
                    else:
                        art = timed(partial(renderer.render, img), times[who, name])
                    if round_ == 0:
                        times[who, name].objective = objective_of(now, img, art)
                if args.search and round_ == 0:
                    times["now", name].differ = int((choices["now"] != choices["baseline"]).sum())
            log.info("round %d of %d done", round_ + 1, args.repeats)
    what = "Glyph search alone (choose)" if args.search else "Warm renders"
    lines = [
        f"{what} at 42 columns, best of {args.repeats}, torch threads {torch.get_num_threads()}; "
        f"baseline {args.baseline}.",
        "",
        "| picture | grid | baseline ms (CPU) | now ms (CPU) | wall ratio | CPU ratio | objective now / baseline |"
        + (" cells differing |" if args.search else ""),
        "|---|---|---|---|---|---|---|" + ("---|" if args.search else ""),
    ]
    walls, cpus = [], []
    for name, img in photos.items():
        before, after = times["baseline", name], times["now", name]
        rows, cols = renderers["now"].grid_for(renderers["now"].frame(img))
        walls.append(after.wall / before.wall)
        cpus.append(after.cpu / before.cpu)
        lines.append(
            f"| {name} | {cols}×{rows} | {1000 * before.wall:.0f} ({1000 * before.cpu:.0f}) "
            f"| {1000 * after.wall:.0f} ({1000 * after.cpu:.0f}) | {walls[-1]:.2f} | {cpus[-1]:.2f} "
            f"| {after.objective / before.objective:.6f} |" + (f" {after.differ} |" if args.search else "")
        )
    median_wall, median_cpu = statistics.median(walls), statistics.median(cpus)
    lines += ["", f"Median ratio now / baseline: wall {median_wall:.2f}, CPU {median_cpu:.2f}."]
    print("\n".join(lines))


if __name__ == "__main__":
    main()
