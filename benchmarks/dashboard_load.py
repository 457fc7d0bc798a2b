"""Time to first render of the Pareto front for a 10,000-trial study (goal: under 3 s), and the report.

Creates a synthetic study shaped like ``nas-sr search``'s (``nas_sr.browse.demo``: objectives
psnr@val, latency_ms, params; a latency constraint; FAIL and duplicate trials) in a fresh SQLite
database, then times, in this process:

* load: ``open_study(...).trials()`` (the typed DataFrame of every trial);
* front: the non-dominated set and the plotly figure of the front (``front_figure``);
* front HTML: that figure as a self-contained page (plotly.js inline): what a browser first renders;
* report: the whole ``nas-sr report`` page (front, families, hypervolume over trials, top trials).

    python benchmarks/dashboard_load.py [--trials 10000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=3, help="timed repeats; the best is printed (default 3)")
    args = parser.parse_args()

    from nas_sr.browse.demo import make_demo_study
    from nas_sr.browse.query import open_study
    from nas_sr.browse.report import build_report, front_figure

    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/nas.db"
        start = time.perf_counter()
        make_demo_study(url, "bench", trials=args.trials, seed=0)
        print(f"created {args.trials} trials in {time.perf_counter() - start:.1f} s "
              f"({Path(tmp, 'nas.db').stat().st_size / 1e6:.1f} MB SQLite)")
        best: dict[str, float] = {}

        def timed(label: str, fn):  # noqa: ANN001, ANN202
            t0 = time.perf_counter()
            out = fn()
            best[label] = min(best.get(label, float("inf")), time.perf_counter() - t0)
            return out

        for _ in range(args.repeat):
            t_all = time.perf_counter()
            view = timed("open_study", lambda: open_study("bench", url))
            frame = timed("trials() DataFrame", view.trials)
            complete = frame[frame["state"] == "COMPLETE"]
            figure = timed("front figure", lambda: front_figure(view, frame=complete))
            html = timed("front HTML", lambda: figure.to_html(include_plotlyjs=True, full_html=True))
            best["first render (load+front+HTML)"] = min(best.get("first render (load+front+HTML)", float("inf")),
                                                         time.perf_counter() - t_all)
            report = timed("full report", lambda: build_report(view))
        print(f"front: {len(figure.data[-1].x)} Pareto-optimal of {len(complete)} COMPLETE trials; "
              f"front page {len(html) / 1e6:.1f} MB, report {len(report) / 1e6:.1f} MB; "
              f"{os.cpu_count()} CPUs, best of {args.repeat}")
        for label, seconds in best.items():
            print(f"  {label:34s} {seconds:7.2f} s")
        goal = best["first render (load+front+HTML)"]
        print(f"first render of the front: {goal:.2f} s ({'meets' if goal < 3 else 'misses'} the 3 s goal)")


if __name__ == "__main__":
    main()
