"""A self-contained interactive HTML report of a study (``nas-sr report``): the Pareto front on two
objectives (points coloured by family, the front highlighted, infeasible trials grey, the points of
a reference study or else the published results that have both axes), a family comparison, the
hypervolume over trials and a table of the top trials. plotly.js is embedded once, inline: the file
opens offline.
"""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

from nas_sr.browse.query import StudyView, front_mask
from nas_sr.search.objectives import Objective

if TYPE_CHECKING:
    import optuna
    import pandas as pd
    import plotly.graph_objects as go

GREY = "rgba(150,150,150,0.45)"
LOG_AXES = ("params", "flops")
#: Above this many points a trace is drawn with WebGL.
WEBGL_FROM = 2000
#: A trace of more points hovers its trial number and axes only: no per-point text (a 100,000-trial
#: front's page would carry 11 MB of configs, and take seconds to send and parse).
LEAN_HOVER_FROM = 20_000


def default_axes(objectives: Sequence[Objective]) -> tuple[Objective, Objective]:
    """(x, y): the first cost objective and the first quality one (else the first two).

    >>> from nas_sr.search.objectives import parse_objectives
    >>> [o.name for o in default_axes(parse_objectives("psnr,latency_ms,params", ["val"]))]
    ['latency_ms', 'psnr@val']
    """
    quality = [o for o in objectives if o.direction == "maximize"]
    cost = [o for o in objectives if o.direction == "minimize"]
    y = (quality or list(objectives))[0]
    x = next((o for o in (cost or list(objectives)) if o is not y), y)
    return x, y


def hover_text(value: Any) -> str:
    """``value`` as plotly hover text shows it verbatim: ``&``, ``<`` and ``>`` escaped, the only
    entities plotly.js decodes of those html.escape writes (``&quot;`` would show as such).

    >>> hover_text('{"channels":2,"note":"<b>&"}')
    '{"channels":2,"note":"&lt;b&gt;&amp;"}'
    """
    return html.escape(str(value), quote=False)


def _hover(frame: "pd.DataFrame", more: Sequence[Objective] = ()) -> list[str]:
    """Per row: trial number, family, config, then each objective of ``more`` (those off the axes)."""
    family = frame["family"].astype("string").fillna("?") if "family" in frame else ["?"] * len(frame)
    config = frame["config"].astype("string").fillna("") if "config" in frame else [""] * len(frame)
    text = [f"trial {n} ({hover_text(f)})<br>{hover_text(c)}" for n, f, c in zip(frame.index, family, config)]
    for o in more:
        values = frame[o.key].astype("float64") if o.key in frame else [float("nan")] * len(frame)
        text = [f"{s}<br>{hover_text(o.name)}={v:.4g}" for s, v in zip(text, values)]
    return text


def _scatter(frame: "pd.DataFrame", x: Objective, y: Objective, more: Sequence[Objective] = (),
             **kw: Any) -> "go.Scatter":
    import plotly.graph_objects as go

    import numpy as np

    kind = go.Scattergl if len(frame) > WEBGL_FROM else go.Scatter
    axes = f"{x.name}=%{{x:.4g}}<br>{y.name}=%{{y:.4g}}"
    if len(frame) > LEAN_HOVER_FROM:  # the trace's name (the family) and its number; the rest is a click away
        # float32 and int32: half the bytes (plotly sends typed arrays), more digits than the hover shows
        return kind(x=frame[x.key].to_numpy(np.float32, na_value=np.nan),
                    y=frame[y.key].to_numpy(np.float32, na_value=np.nan),
                    customdata=np.asarray(frame.index, dtype=np.int32),
                    hovertemplate="trial %{customdata}<br>" + axes + "<extra>%{fullData.name}</extra>", **kw)
    return kind(x=frame[x.key].astype("float64"), y=frame[y.key].astype("float64"),
                customdata=list(map(int, frame.index)), text=_hover(frame, more),
                hovertemplate="%{text}<br>" + axes + "<extra></extra>", **kw)


def front_figure(view: StudyView, x: "Objective | str | None" = None, y: "Objective | str | None" = None,
                 frame: "pd.DataFrame | None" = None, reference: "pd.DataFrame | None" = None,
                 front_on: Sequence[Objective] = (), front: Any = None) -> "go.Figure":
    """The COMPLETE trials on ``x`` and ``y`` (default :func:`default_axes`): feasible ones coloured by
    family, infeasible grey, the front on these two objectives highlighted and joined; ``reference``
    (rows of a reference study) drawn as crosses where it has both columns. With ``front_on``, the
    front highlighted is the one on those objectives, not joined (off the axes it is no line), and
    the hover shows the objectives off the axes. ``front``: that front's mask over ``frame`` when the
    caller has it already (``frame``'s rows all have both axes)."""
    import plotly.graph_objects as go

    dx, dy = default_axes(view.objectives)
    x = view.objective(x) if x is not None else dx
    y = view.objective(y) if y is not None else dy
    data = view.trials("COMPLETE") if frame is None else frame
    if x.key in data and y.key in data:
        data = data[data[x.key].notna() & data[y.key].notna()]
    else:
        data = data.iloc[:0]
    more = [o for o in front_on if o.key not in (x.key, y.key)]
    joined = not more
    on = front if front is not None else front_mask(data, list(front_on) or [x, y], view.front_tolerance)
    feasible = data["feasible"].fillna(False).to_numpy(bool)
    traces = []
    families = data["family"].astype("string").fillna("?") if "family" in data else None
    colors = family_colors(families if families is not None else [])
    rest = data[~on & feasible]
    for family in sorted(set(families[~on & feasible])) if families is not None else [None]:
        part = rest if family is None else rest[families[~on & feasible] == family]
        traces.append(_scatter(part, x, y, more, mode="markers", name=family or "trials", legendgroup=family,
                               marker={"size": 7, "opacity": 0.75, "color": colors.get(family, _COLORS[0])}))
    bad = data[~feasible]
    if len(bad):
        traces.append(_scatter(bad, x, y, more, mode="markers", name=f"infeasible ({len(bad)})",
                               marker={"size": 6, "color": GREY}))
    if reference is not None and x.key in reference and y.key in reference:
        ref = reference[reference[x.key].notna() & reference[y.key].notna()]
        if "scale" in data and "scale" in ref and data["scale"].notna().any():
            ref = ref[ref["scale"].isin(set(data["scale"].dropna()))]
        if len(ref):
            ref_trace = _scatter(ref, x, y, mode="markers", name=f"literature ({len(ref)})",
                                 marker={"size": 6, "symbol": "x", "color": "rgba(80,80,80,0.5)"})
            ref_trace.text = [f"{m}<br>{t}" for m, t in zip(ref.get("model_id", ref.index), ref_trace.text)]
            traces.append(ref_trace)
    front = data[on].sort_values(x.key)
    over = "" if joined else f" on {', '.join(o.name for o in front_on)}"
    traces.append(_scatter(front, x, y, more, mode="lines+markers" if joined else "markers",
                           name=f"Pareto front{over} ({len(front)})",
                           line={"color": "black", "width": 1, "shape": "hv" if x.direction == y.direction
                                 else "vh"},
                           marker={"size": 12, "symbol": "diamond", "line": {"color": "black", "width": 1.5},
                                   "color": [colors.get(f, _COLORS[0]) for f in
                                             (front["family"].astype("string").fillna("?") if "family" in front
                                              else [None] * len(front))]}))
    figure = go.Figure(traces)
    figure.update_layout(title=f"{view.name}: {len(front)} Pareto-optimal of {len(data)} COMPLETE trials",
                         xaxis_title=x.name, yaxis_title=y.name, legend_title="family", template="plotly_white",
                         xaxis_type="log" if x.key in LOG_AXES else None, height=560)
    return figure


def front_page(view: StudyView, objectives: "Sequence[Objective] | None" = None) -> str:
    """The front plot ``nas-sr search`` writes, as one HTML page (plotly.js inline, opens offline):
    :func:`front_figure` on the default axes of ``objectives`` (default: the study's), the front on
    all of them highlighted: the trials ``nas-sr search`` prints."""
    objectives = list(objectives or view.objectives)
    x, y = default_axes(objectives)
    figure = front_figure(view, x, y, front_on=objectives)
    title = html.escape(f"nas-sr front: study {view.name}")
    names = ", ".join(o.name + (" ↑" if o.direction == "maximize" else " ↓") for o in objectives)
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<style>body{{font-family:sans-serif;margin:1.5em;}} .note{{color:#555;}}</style>
</head><body>
<h1>{title}</h1>
<p class="note">COMPLETE trials coloured by family, infeasible ones grey; diamonds: the Pareto front on
{html.escape(names)}; hover a point for its config. <code>nas-sr report</code> and <code>nas-sr serve</code>
show more.</p>
{figure.to_html(full_html=False, include_plotlyjs=True, div_id="front")}
</body></html>
"""



def write_front_html(study: "optuna.Study", objectives: Sequence[Objective], path: str | Path) -> Path:
    """A self-contained interactive page of the COMPLETE trials, coloured by family as ``nas-sr report``
    and ``nas-sr serve`` colour them, the front on ``objectives`` highlighted
    (:func:`front_page`)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(front_page(StudyView(study), objectives), encoding="utf-8")
    return path

def family_figure(frame: "pd.DataFrame", x: Objective, y: Objective) -> "go.Figure":
    """Each family's own front on (x, y) (left) and the spread of ``y`` per family (right), over the
    feasible COMPLETE trials."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    figure = make_subplots(rows=1, cols=2, column_widths=[0.6, 0.4],
                           subplot_titles=(f"front of each family: {y.name} vs {x.name}", f"{y.name} per family"))
    if x.key not in frame or y.key not in frame or "family" not in frame:
        return figure
    data = frame[frame["feasible"].fillna(False).to_numpy(bool) & frame[x.key].notna() & frame[y.key].notna()]
    families = data["family"].astype("string").fillna("?")
    colors = family_colors(frame["family"].astype("string").fillna("?"))
    for family in sorted(set(families)):
        part = data[families == family]
        front = part[front_mask(part, [x, y])].sort_values(x.key)
        color = colors[family]
        figure.add_trace(_scatter(front, x, y, mode="lines+markers", name=family, legendgroup=family,
                                  line={"color": color}), row=1, col=1)
        figure.add_trace(go.Box(y=part[y.key].astype("float64"), name=family, legendgroup=family, showlegend=False,
                                marker_color=color, boxpoints="outliers"), row=1, col=2)
    figure.update_xaxes(title_text=x.name, type="log" if x.key in LOG_AXES else None, row=1, col=1)
    figure.update_yaxes(title_text=y.name, row=1, col=1)
    figure.update_layout(template="plotly_white", height=480, title="family comparison")
    return figure


def family_colors(families: Any) -> dict[str, str]:
    """One colour per family name, in sorted order (the same in every figure of the report).

    >>> family_colors(["espcn", "esr-tm", "espcn"])
    {'espcn': '#1f77b4', 'esr-tm': '#ff7f0e'}
    """
    return {f: _COLORS[i % len(_COLORS)] for i, f in enumerate(sorted(set(map(str, families))))}


_COLORS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
           "#bcbd22", "#17becf"]


def hypervolume_figure(history: "pd.Series", objectives: Sequence[Objective]) -> "go.Figure":
    """Hypervolume of the feasible COMPLETE trials so far, against the trial number."""
    import plotly.graph_objects as go

    figure = go.Figure(go.Scatter(x=list(map(int, history.index)), y=history.to_numpy(), mode="lines",
                                  line={"shape": "hv"}, name="hypervolume"))
    figure.update_layout(title=f"hypervolume over trials ({', '.join(o.name for o in objectives)})",
                         xaxis_title="trial number", yaxis_title="hypervolume", template="plotly_white", height=360)
    return figure


def top_trials(frame: "pd.DataFrame", objectives: Sequence[Objective], front: Sequence[int],
               n: int = 20) -> "pd.DataFrame":
    """The ``n`` best feasible COMPLETE trials by the first quality objective, front ones first."""
    _, y = default_axes(objectives)
    data = frame[frame["feasible"].fillna(False).to_numpy(bool)].copy()
    data.insert(0, "pareto", data.index.isin(list(front)))
    if y.key in data:
        data = data.sort_values(["pareto", y.key], ascending=[False, y.direction == "minimize"])
    keep = ["pareto", "family", "scale", *[k for o in objectives for k in _beside(o.key)], "params", "flops",
            "latency_ms", "device", "steps", "seconds", "config"]
    cols = list(dict.fromkeys(c for c in keep if c in data))
    return data[cols].head(n)


def _beside(key: str) -> list[str]:
    """An objective's column, and for a predicted device latency its sd and the measured value beside it.

    >>> _beside("latency_pred_ms@rpi")
    ['latency_pred_ms@rpi', 'latency_pred_sd_ms@rpi', 'latency_ms@rpi']
    """
    if key.startswith("latency_pred_ms@"):
        label = key.partition("@")[2]
        return [key, f"latency_pred_sd_ms@{label}", f"latency_ms@{label}"]
    return [key]


def build_report(view: StudyView, x: "str | None" = None, y: "str | None" = None,
                 reference: "StudyView | None" = None, top: int = 20) -> str:
    """The report as one HTML document (plotly.js inline)."""
    import pandas as pd

    frame = view.trials()
    complete = frame[frame["state"].astype("string") == "COMPLETE"]
    if complete.empty:
        raise ValueError(f"study {view.name!r} has no COMPLETE trial to report yet ({len(frame)} trials in all)")
    objectives = view.objectives
    dx, dy = default_axes(objectives)
    xo, yo = (view.objective(x) if x else dx), (view.objective(y) if y else dy)
    for axis, chosen in (("--x", xo), ("--y", yo)):
        if chosen.key not in complete:
            numeric = sorted(c for c in complete if c not in ("state", "feasible", "family", "config")
                             and str(complete[c].dtype) in ("Int64", "float64"))
            raise ValueError(f"{axis} {chosen.name!r}: no such column in study {view.name!r} "
                             f"(numeric columns: {', '.join(numeric)})")
    ref_frame = reference.trials("COMPLETE") if reference is not None else _published(view, complete, [xo, yo])
    front = front_figure(view, xo, yo, complete, ref_frame)
    front_numbers = [int(n) for n in complete.index[front_mask(complete, [xo, yo], view.front_tolerance)]]
    study_front = [int(n) for n in complete.index[front_mask(complete, objectives, view.front_tolerance)]]
    history = view.hypervolume_history(objectives, frame=complete)
    table = top_trials(complete, objectives, study_front, top)
    counts = frame["state"].astype("string").value_counts().to_dict()
    constraints = view.study.user_attrs.get("constraints") or []
    parts = [
        front.to_html(full_html=False, include_plotlyjs=True, div_id="front"),
        family_figure(complete, xo, yo).to_html(full_html=False, include_plotlyjs=False, div_id="families"),
        hypervolume_figure(history, objectives).to_html(full_html=False, include_plotlyjs=False,
                                                        div_id="hypervolume"),
    ]
    summary = (f"{len(frame)} trials ({', '.join(f'{k} {v}' for k, v in sorted(counts.items()))}); objectives "
               f"{', '.join(o.name + (' ↑' if o.direction == 'maximize' else ' ↓') for o in objectives)}; "
               f"constraints {', '.join(constraints) or 'none'}; Pareto-optimal for all objectives: "
               f"{len(study_front)}; final hypervolume {history.iloc[-1] if len(history) else 0.0:.6g}")
    with pd.option_context("display.max_colwidth", 200):
        table_html = table.to_html(table_id="top-trials", na_rep="-", float_format=lambda v: f"{v:.4g}",
                                   escape=True, border=0)
    title = html.escape(f"nas-sr report: study {view.name}")
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<style>body{{font-family:sans-serif;margin:1.5em;}} table{{border-collapse:collapse;font-size:0.85em;}}
td,th{{padding:2px 8px;border-bottom:1px solid #ddd;text-align:left;}} .note{{color:#555;}}</style>
</head><body>
<h1>{title}</h1>
<p class="note">{html.escape(summary)}</p>
<h2>Pareto front: {html.escape(yo.name)} vs {html.escape(xo.name)}</h2>
{parts[0]}
<script type="application/json" id="front-trials">{json.dumps(front_numbers)}</script>
<h2>Families</h2>
{parts[1]}
<h2>Hypervolume</h2>
{parts[2]}
<h2>Top trials</h2>
<p class="note">feasible COMPLETE trials, Pareto-optimal (all objectives) first, by {html.escape(yo.name)}</p>
{table_html}
</body></html>
"""


def _published(view: StudyView, complete: "pd.DataFrame", axes: Sequence[Objective]) -> "pd.DataFrame":
    """Published results (:mod:`nas_sr.browse.literature`) with both axes, at the trials' scales, FLOPs
    at the study's resolution (its first COMPLETE trial's)."""
    from optuna.trial import TrialState

    from nas_sr.browse.literature import published_points

    first = next(iter(view.study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))), None)
    scales = [int(s) for s in complete["scale"].dropna()] if "scale" in complete else []
    return published_points([a.key for a in axes], scales, first.user_attrs.get("resolution") if first else None)


def write_report(view: StudyView, out: "str | Path", **kw: Any) -> Path:
    """Write :func:`build_report` to ``out`` (folders created); returns the path."""
    path = Path(out)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(build_report(view, **kw), encoding="utf-8")
    return path
