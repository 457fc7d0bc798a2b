"""The data behind ``nas-sr serve``: a study's trials cached, the front, hypervolume and trial details
as plain data and plotly figures, for already validated choices (:mod:`~nas_sr.browse.serve` checks
the query first).

The trials frame is read once and kept; after ``ttl`` seconds the next request counts the study's
trials per state (one SQL count) and reads them again only when a count changed, so a page on a 10,000-trial
study answers from memory while a running search still shows up.
"""

from __future__ import annotations

import json
import re
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping, Sequence

from nas_sr.browse.query import StudyView, front_mask
from nas_sr.search.objectives import Objective

if TYPE_CHECKING:
    import pandas as pd
    import plotly.graph_objects as go

    from nas_sr.browse.crops import Crops

#: Trial states drawn only when the page asks for hidden trials.
HIDDEN_STATES = ("PRUNED", "FAIL", "RUNNING", "WAITING")
#: Attributes of the trial page's cost table, in this order (then every ``latency_ms@LABEL``).
COST_KEYS = ("params", "flops", "resolution", "latency_ms", "latency_iqr_ms", "device", "steps", "seconds",
             "final_loss", "train_device")
_ARTIFACT_ID = re.compile(r"^[0-9a-fA-F-]{8,64}$")


def device_latencies(attrs: Mapping[str, Any]) -> dict[str, Any]:
    """Per device label, the measured ``latency_ms@LABEL`` and beside it the predicted one
    (``latency_pred_ms@LABEL`` as "mean ± sd (n measured)").

    >>> device_latencies({"latency_ms@rpi": 9.5, "latency_pred_ms@rpi": 10.0, "latency_pred_sd_ms@rpi": 1.2,
    ...                   "latency_pred_n@rpi": 10, "latency_ms@x86": 2.0})
    {'latency_ms@rpi': 9.5, 'latency_pred_ms@rpi': '10 ± 1.2 (10 measured)', 'latency_ms@x86': 2.0}
    """
    out: dict[str, Any] = {}
    labels = sorted({k.partition("@")[2] for k in attrs if k.startswith(("latency_ms@", "latency_pred_ms@"))})
    for label in labels:
        if f"latency_ms@{label}" in attrs:
            out[f"latency_ms@{label}"] = attrs[f"latency_ms@{label}"]
        mean = attrs.get(f"latency_pred_ms@{label}")
        if isinstance(mean, (int, float)):
            sd, n = attrs.get(f"latency_pred_sd_ms@{label}"), attrs.get(f"latency_pred_n@{label}")
            out[f"latency_pred_ms@{label}"] = (f"{mean:.4g}" + (f" ± {sd:.2g}" if isinstance(sd, (int, float)) else "")
                                               + (f" ({n} measured)" if n is not None else ""))
    return out


class Dashboard:
    """One study (and optionally a reference study) served read-only."""

    def __init__(self, view: StudyView, reference: "StudyView | None" = None, artifacts: "Path | None" = None,
                 ttl: float = 10.0) -> None:
        self.view, self.reference, self.artifacts, self.ttl = view, reference, artifacts, ttl
        self._lock = threading.Lock()
        self._frame: "pd.DataFrame | None" = None
        self._checked = 0.0
        self._counts: dict[str, int] = {}
        self._reference_frame: "pd.DataFrame | None" = None
        self._crops: dict[tuple[int, str], "Crops"] = {}
        self._resolution: "list[int] | None | bool" = False
        self._columns: "tuple[pd.DataFrame, dict[str, Any]] | None" = None

    # -- the cached trials ---------------------------------------------------------------------------------
    def frame(self) -> "pd.DataFrame":
        """Every trial of the study (:meth:`StudyView.trials`), cached as the module describes."""
        with self._lock:
            now = time.monotonic()
            if self._frame is None or now - self._checked > self.ttl:
                counts = self.view.state_counts()
                if self._frame is None or counts != self._counts:
                    self._frame, self._counts = self.view.trials(), counts
                    self._crops.clear()
                self._checked = now
            return self._frame

    def reference_frame(self) -> "pd.DataFrame | None":
        if self.reference is None:
            return None
        with self._lock:
            if self._reference_frame is None:
                self._reference_frame = self.reference.trials("COMPLETE")
            return self._reference_frame

    # -- what the query may name -------------------------------------------------------------------------
    def numeric_columns(self) -> list[str]:
        """Columns that can be an axis or a range filter: objectives first, then metrics, costs, the rest."""
        import pandas as pd

        frame = self.frame()
        numeric = [c for c in frame if pd.api.types.is_numeric_dtype(frame[c])
                   and not pd.api.types.is_bool_dtype(frame[c])]
        keys = [o.key for o in self.view.objectives]

        def rank(column: str) -> tuple[int, int, str]:
            if column in keys:
                return 0, keys.index(column), column
            if column.startswith(("psnr_", "ssim_")):
                return 1, 0, column
            if column.startswith("latency_ms") or column in ("params", "flops"):
                return 2, 0, column
            return (4 if column.startswith("cfg_") else 3), 0, column

        return sorted(numeric, key=rank)

    def families(self) -> list[str]:
        frame = self.frame()
        return sorted(map(str, frame["family"].dropna().unique())) if "family" in frame else []

    def scales(self) -> list[int]:
        frame = self.frame()
        return sorted(int(s) for s in frame["scale"].dropna().unique()) if "scale" in frame else []

    def objective(self, column: str) -> Objective:
        """The axis of a column: the study's objective on it when there is one (its name and
        direction), else better-is-higher for ``psnr_``/``ssim_``/``fps_`` columns, lower otherwise."""
        for o in self.view.objectives:
            if o.key == column:
                return o
        better = "maximize" if column.startswith(("psnr_", "ssim_", "fps_")) else "minimize"
        return Objective(column, column, better)

    def columns(self) -> dict[str, Any]:
        """What the page offers: columns (with names and directions), families, scales, latency labels,
        default axes."""
        from nas_sr.browse.report import default_axes

        frame = self.frame()
        if self._columns is not None and self._columns[0] is frame:
            return self._columns[1]
        numeric = self.numeric_columns()
        x, y = default_axes(self.view.objectives)
        counts = frame["state"].astype("string").value_counts().to_dict()
        info = {"study": self.view.name, "trials": len(frame), "states": {str(k): int(v) for k, v in counts.items()},
                "objectives": [o.key for o in self.view.objectives],
                "columns": [{"key": c, "name": self.objective(c).name, "direction": self.objective(c).direction}
                            for c in numeric],
                "families": self.families(), "scales": self.scales(),
                "latency": [c for c in numeric
                            if c == "latency_ms" or c.startswith(("latency_ms@", "latency_pred_ms@"))],
                "x": x.key if x.key in numeric else (numeric[:1] or [""])[0],
                "y": y.key if y.key in numeric else (numeric[1:2] or [""])[0],
                "reference": self.reference.name if self.reference is not None else None}
        self._columns = (frame, info)
        return info

    # -- the front --------------------------------------------------------------------------------------------
    def select(self, families: Sequence[str] = (), scales: Sequence[int] = (),
               ranges: Sequence[tuple[str, "float | None", "float | None"]] = ()) -> "pd.DataFrame":
        """Trials of the chosen families and scales whose values lie in every (column, low, high)."""
        data = self.frame()
        if families:
            data = data[data["family"].astype("string").isin(list(families)).fillna(False).to_numpy(bool)]
        if scales:
            data = data[data["scale"].isin(list(scales)).fillna(False).to_numpy(bool)]
        for column, low, high in ranges:
            values = data[column].astype("float64")
            keep = values.notna()
            if low is not None:
                keep &= values >= low
            if high is not None:
                keep &= values <= high
            data = data[keep.to_numpy(bool)]
        return data

    def front(self, x: str, y: str, z: "str | None" = None, families: Sequence[str] = (),
              scales: Sequence[int] = (), ranges: Sequence[tuple[str, "float | None", "float | None"]] = (),
              hidden: bool = False, literature: bool = True) -> tuple["go.Figure", dict[str, Any]]:
        """The figure of the front on ``x``, ``y`` (and ``z``: 3-D) and what it shows: ``front`` (the
        non-dominated trial numbers), ``points`` (COMPLETE trials drawn), counts."""
        from nas_sr.browse.report import LOG_AXES, front_figure

        axes = [self.objective(c) for c in (x, y, z) if c]
        data = self.select(families, scales, ranges)
        # Only what is drawn or hovered: each row filter below copies every column (100,000 trials: seconds).
        wanted = {a.key for a in axes} | {"state", "feasible", "family", "config", "scale"}
        data = data[[c for c in data.columns if c in wanted]]
        state = data["state"].astype("string")
        complete = data[(state == "COMPLETE").fillna(False).to_numpy(bool)]
        drawn = complete[complete[[a.key for a in axes]].notna().all(axis=1).to_numpy(bool)]
        on = front_mask(drawn, axes, self.view.front_tolerance)
        if z:
            figure = self._figure_3d(drawn, axes, on)
        else:
            figure = front_figure(self.view, axes[0], axes[1], frame=drawn, reference=self._reference_rows(drawn),
                                  front=on)
            figure.update_layout(yaxis_type="log" if axes[1].key in LOG_AXES else None)
        for trace in figure.data:  # reference trials are another study's: their numbers open nothing here
            if str(trace.name).startswith("literature"):
                trace.customdata = None
        pending = data[state.isin(list(HIDDEN_STATES)).fillna(False).to_numpy(bool)]
        plotted_hidden = pending[pending.reindex(columns=[a.key for a in axes]).notna().all(axis=1).to_numpy(bool)]
        if hidden:
            for name in HIDDEN_STATES:
                part = plotted_hidden[plotted_hidden["state"].astype("string") == name]
                if len(part):
                    figure.add_trace(self._trace(part, axes, f"{name} ({len(part)})",
                                                 {"size": 6, "symbol": "circle-open", "color": "#999"}))
        shown_literature = self._literature(drawn, axes) if literature else None
        if shown_literature is not None and len(shown_literature):
            trace = self._trace(shown_literature, axes, f"published ({len(shown_literature)})",
                                {"size": 10, "symbol": "star", "color": "#111"})
            trace.text = [f"{m}<br>{s}" for m, s in zip(shown_literature["model_id"], shown_literature["source"])]
            trace.customdata = None
            figure.add_trace(trace)
        feasible = drawn["feasible"].fillna(False).to_numpy(bool)
        meta = {"axes": [{"key": a.key, "name": a.name, "direction": a.direction} for a in axes],
                "front": [int(n) for n in drawn.index[on]], "points": int(len(drawn)),
                "infeasible": [int(n) for n in drawn.index[~feasible]],
                "hidden": int(len(pending)), "hidden_drawn": int(len(plotted_hidden)) if hidden else 0,
                "selected": int(len(data)), "literature": int(len(shown_literature)) if shown_literature is not None
                else 0}
        return figure, meta

    def _trace(self, frame: "pd.DataFrame", axes: Sequence[Objective], name: str, marker: Mapping[str, Any]) -> Any:
        """A marker trace of ``frame`` on the axes (3-D for three), with report.py's hover."""
        import plotly.graph_objects as go

        from nas_sr.browse.report import WEBGL_FROM, _hover, _scatter

        if len(axes) == 2:
            return _scatter(frame, axes[0], axes[1], mode="markers", name=name, marker=dict(marker))
        x, y, z = axes
        trace = go.Scatter3d(x=frame[x.key].astype("float64"), y=frame[y.key].astype("float64"),
                             z=frame[z.key].astype("float64"), mode="markers", name=name, text=_hover(frame),
                             customdata=list(map(int, frame.index)),
                             marker={**marker, "size": max(2, int(marker.get("size", 6)) - (2 if len(frame) >
                                                                                             WEBGL_FROM else 0))},
                             hovertemplate="%{text}<br>" + f"{x.name}=%{{x:.4g}}<br>{y.name}=%{{y:.4g}}<br>"
                             f"{z.name}=%{{z:.4g}}<extra></extra>")
        if isinstance(marker.get("symbol"), str) and marker["symbol"] not in ("circle", "circle-open", "cross",
                                                                              "diamond", "diamond-open", "square",
                                                                              "square-open", "x"):
            trace.marker.symbol = "diamond"
        return trace

    def _figure_3d(self, drawn: "pd.DataFrame", axes: Sequence[Objective], on: Any) -> "go.Figure":
        import plotly.graph_objects as go

        from nas_sr.browse.report import GREY, LOG_AXES, family_colors

        feasible = drawn["feasible"].fillna(False).to_numpy(bool)
        families = drawn["family"].astype("string").fillna("?") if "family" in drawn else None
        colors = family_colors(families if families is not None else [])
        figure = go.Figure()
        rest = ~on & feasible
        for family in sorted(set(families[rest])) if families is not None else [None]:
            part = drawn[rest] if family is None else drawn[rest & (families == family).to_numpy(bool)]
            figure.add_trace(self._trace(part, axes, family or "trials",
                                         {"size": 4, "opacity": 0.75, "color": colors.get(family, "#1f77b4")}))
        if (~feasible).any():
            figure.add_trace(self._trace(drawn[~feasible], axes, f"infeasible ({int((~feasible).sum())})",
                                         {"size": 3, "color": GREY}))
        reference = self._reference_rows(drawn)
        if reference is not None and all(a.key in reference for a in axes):
            ref = reference[reference[[a.key for a in axes]].notna().all(axis=1)]
            if len(ref):
                trace = self._trace(ref, axes, f"literature ({len(ref)})",
                                    {"size": 3, "symbol": "x", "color": "rgba(80,80,80,0.5)"})
                trace.text = [f"{m}<br>{t}" for m, t in zip(ref.get("model_id", ref.index), trace.text)]
                figure.add_trace(trace)
        front = drawn[on]
        figure.add_trace(self._trace(front, axes, f"Pareto front ({len(front)})", {
            "size": 7, "symbol": "diamond", "line": {"color": "black", "width": 1},
            "color": [colors.get(f, "#1f77b4") for f in (front["family"].astype("string").fillna("?")
                                                         if "family" in front else [None] * len(front))]}))
        scene = {f"{name}axis": {"title": {"text": a.name}, "type": "log" if a.key in LOG_AXES else None}
                 for name, a in zip("xyz", axes)}
        figure.update_layout(title=f"{self.view.name}: {len(front)} Pareto-optimal of {len(drawn)} COMPLETE trials "
                             f"({', '.join(a.name for a in axes)})", scene=scene, template="plotly_white",
                             legend_title="family", height=640)
        return figure

    def _reference_rows(self, drawn: "pd.DataFrame") -> "pd.DataFrame | None":
        reference = self.reference_frame()
        if reference is None or "scale" not in reference or "scale" not in drawn:
            return reference
        scales = set(drawn["scale"].dropna())
        return reference[reference["scale"].isin(scales).fillna(False).to_numpy(bool)] if scales else reference

    def _literature(self, drawn: "pd.DataFrame", axes: Sequence[Objective]) -> "pd.DataFrame":
        """Published rows at the drawn trials' scales that have every axis; FLOPs rescaled to the
        study's output resolution when it has one."""
        from nas_sr.browse.literature import published_points

        scales = [int(s) for s in drawn["scale"].dropna()] if "scale" in drawn else []
        return published_points([a.key for a in axes], scales, self.resolution())

    def resolution(self) -> "list[int] | None":
        """The output resolution (w, h) the study's FLOPs were counted at (its first COMPLETE trial's)."""
        if self._resolution is False:
            frame = self.frame()
            complete = frame.index[(frame["state"].astype("string") == "COMPLETE").fillna(False).to_numpy(bool)]
            found = None
            if len(complete):
                value = self.trial_attrs(int(complete[0])).get("resolution")
                if isinstance(value, list) and len(value) == 2 and all(isinstance(v, int) for v in value):
                    found = value
            self._resolution = found
        return self._resolution or None  # type: ignore[return-value]

    def hypervolume(self, axes: Sequence[str], families: Sequence[str] = (), scales: Sequence[int] = (),
                    ranges: Sequence[tuple[str, "float | None", "float | None"]] = ()) -> tuple["go.Figure", float]:
        """Hypervolume over trials on the chosen axes (:meth:`StudyView.hypervolume_history`) and its last value."""
        from nas_sr.browse.report import hypervolume_figure

        objectives = [self.objective(c) for c in axes]
        data = self.select(families, scales, ranges)
        complete = data[(data["state"].astype("string") == "COMPLETE").fillna(False).to_numpy(bool)]
        history = self.view.hypervolume_history(objectives, frame=complete)
        return hypervolume_figure(history, objectives), float(history.iloc[-1]) if len(history) else 0.0

    # -- one trial --------------------------------------------------------------------------------------------
    def has_trial(self, number: int) -> bool:
        return number in self.frame().index

    def trial_attrs(self, number: int) -> dict[str, Any]:
        """Every user attribute of trial ``number`` (curve and weights included), straight from storage."""
        from nas_sr.study.table import trial_attrs

        return trial_attrs(self.view.study, number)

    def trial(self, number: int, photo: str) -> dict[str, Any]:
        """Trial ``number`` as plain data: config, costs, metrics, curve, crops on ``photo``."""
        import math

        attrs = self.trial_attrs(number)
        config = _config(attrs.get("config"))
        costs = {k: attrs[k] for k in COST_KEYS if k in attrs}
        costs.update(device_latencies(attrs))
        metrics = {k: v for k, v in sorted(attrs.items()) if k.startswith(("psnr_", "ssim_"))}
        curve = [list(p) for p in attrs.get("curve") or [] if isinstance(p, (list, tuple)) and len(p) >= 2]
        out: dict[str, Any] = {"number": number, "state": attrs["state"], "family": attrs.get("family"),
                               "scale": attrs.get("scale"), "config": config, "costs": costs, "metrics": metrics,
                               "curve": curve, "fail_reason": attrs.get("fail_reason"),
                               "weights": bool(attrs.get("weights_artifact")), "crops": None}
        if config and "scale" in config:
            crops = self.crops(number, photo, config, attrs.get("weights_artifact"))
            out["crops"] = {"photo": crops.photo, "box": list(crops.box), "note": crops.note,
                            "crops": [{"label": c.label, "psnr": None if c.psnr is None or not math.isfinite(c.psnr)
                                       else round(c.psnr, 4), "uri": c.uri} for c in crops.crops]}
        return out

    def crops(self, number: int, photo: str, config: Mapping[str, Any], artifact: Any) -> "Crops":
        from dataclasses import replace

        from nas_sr.browse.crops import trial_crops

        key = (number, photo)
        if key not in self._crops:
            model, note = self._model(config, artifact)
            crops = trial_crops(config, model, photo)
            self._crops[key] = replace(crops, note=note) if note else crops
            while len(self._crops) > 64:
                self._crops.pop(next(iter(self._crops)))
        return self._crops[key]

    def _model(self, config: Mapping[str, Any], artifact: Any) -> tuple[Any, str]:
        """The trial's network with its trained weights, or (None, why not)."""
        if not artifact:
            return None, "weights missing: the trial has no weights artifact"
        if not isinstance(artifact, str) or not _ARTIFACT_ID.match(artifact):
            return None, "weights missing: the trial's weights_artifact is not an artifact id"
        if self.artifacts is None:
            return None, "weights missing: no artifact store for this storage"
        import torch
        from optuna.artifacts import FileSystemArtifactStore
        from optuna.artifacts.exceptions import ArtifactNotFound

        from nas_sr.models import build_model, deploy_model
        from nas_sr.models.weights import WeightsError, load_weights

        try:
            with FileSystemArtifactStore(str(self.artifacts)).open_reader(artifact) as f:
                state = torch.load(f, map_location="cpu", weights_only=True)
            model = build_model(dict(config))
            load_weights(model, state, source=f"artifact {artifact}")
            model = deploy_model(dict(config), model)
        except ArtifactNotFound:
            return None, f"weights missing: artifact {artifact} not found in {self.artifacts}"
        except (WeightsError, ValueError, RuntimeError) as exc:
            return None, f"weights unusable: {str(exc).splitlines()[0][:200]}"
        return model, ""


def _config(text: Any) -> "dict[str, Any] | None":
    if isinstance(text, dict):
        return text
    if isinstance(text, str) and text.startswith("{"):
        try:
            value = json.loads(text)
        except ValueError:
            return None
        return value if isinstance(value, dict) else None
    return None
