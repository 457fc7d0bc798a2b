"""How far any predictor of device latency can go from features known without the device.

The predictor of :mod:`nas_sr.cost.predictor` is fitted to K = 10 measured models. This script asks
what it, and flexible well-known model classes, reach when trained on ~90 % of the edge-SR table's
x2 models instead (an upper bound for K = 10: far more data than ten measurements): for each device
(RPI, AGX, MaxQ), ``--folds``-fold cross-validation (``--folds 0``: leave-one-out) predicts each
model's log latency (1 / speed, Full-HD output) from a model trained on the others, with

- ``kernel-sum NNLS``: the predictor itself (:class:`~nas_sr.cost.predictor.LatencyPredictor`), its
  ridge chosen from 0.01, 0.1, 1 by inner 5-fold CV;
- ``ridge``: ridge regression on the standardized log kernel costs + family one-hot (alpha by
  the training set's generalized cross-validation);
- ``ridge x family``: the same with every log cost interacted with the family (a linear model per family);
- ``GP ARD``: a Gaussian process (constant x RBF with a length scale per feature + white noise) on
  the standardized log costs + family one-hot, hyperparameters by the training set's marginal likelihood;
- ``gradient boosting`` / ``random forest``: on the log costs + family one-hot + the config's
  hyper-parameters (widths, channels, kernel size...), a small grid chosen by inner 5-fold CV.

``--native`` adds this machine's native-path latency (``benchmarks/data/esr_native_latency.csv``)
as one more feature to every class. Nothing is chosen by the outer score. Per device and class it
prints Spearman rho, the shares within +-10 % and +-20 % of the table and the median absolute
percentage error; the GP's fitted white-noise sd (the part of log latency no smooth function of the
features explains: an upper bound on the table's repeat noise). The last line is JSON:
``{"results": [{"device", "model", "spearman", "within_10", "within_20", "mape"}, ...]}``.

``--curve 10,20,40,80,160`` instead trains the predictor as shipped, the GP and the predictor with a
GP on its log residuals on the predictor's own choice of K models (``select``), medians over ``--seeds``.

Run: ``python benchmarks/latency_ceiling.py [--devices RPI,AGX,MaxQ] [--models ...] [--folds 10]``.
Prints figures; asserts nothing. About 25 min per device on a loaded core (the GP's ten fits dominate).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import pickle
import statistics
import sys
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Sequence

if TYPE_CHECKING:
    import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("NAS_SR_SHARED", ROOT.parent / "shared"))
NATIVE = ROOT / "benchmarks" / "data" / "esr_native_latency.csv"
#: Config hyper-parameters the tree models see (0 where a family has none).
CONFIG_KEYS = ("width1", "width2", "features", "shrink", "mapping_layers", "channels", "kernel_size")


@dataclass
class Table:
    """What is known of each model without its device: ``candidates`` (kernel costs, family),
    ``config`` rows (:data:`CONFIG_KEYS`) and, optionally, this machine's ``native`` latency (ms)."""

    candidates: list
    config: "np.ndarray"
    native: "np.ndarray | None" = None

    def log_costs(self) -> "np.ndarray":
        """Standardized log kernel costs (+ log native latency), one row per model."""
        import numpy as np

        from nas_sr.cost.predictor import design_row

        x = np.log1p(np.array([design_row(c) for c in self.candidates])[:, 1:] * 1e3)
        if self.native is not None:
            x = np.hstack([x, np.log(self.native)[:, None]])
        return (x - x.mean(axis=0)) / np.maximum(x.std(axis=0), 1e-9)

    def family_onehot(self) -> "np.ndarray":
        import numpy as np

        families = sorted({c.family for c in self.candidates})
        return np.array([[c.family == f for f in families] for c in self.candidates], dtype=float)


#: A model class: (table, train indices, log latencies of those, test indices) -> log predictions.
Learner = Callable[[Table, "np.ndarray", "np.ndarray", "np.ndarray"], "np.ndarray"]


def nnls_learner(table: Table, train, log_y, test) -> "np.ndarray":
    """The predictor itself, its ridge chosen by inner 5-fold CV (median absolute log error)."""
    import numpy as np
    from sklearn.model_selection import KFold

    from nas_sr.cost.predictor import LatencyPredictor

    native = table.native is not None
    cands = [_with_native(table, i) for i in range(len(table.candidates))] if native else table.candidates

    def fit(idx, ridge):
        return LatencyPredictor(native=native, ridge=ridge, bootstrap=0).fit([cands[i] for i in idx],
                                                                          np.exp(log_y_of[idx]))

    log_y_of = np.full(len(cands), np.nan)
    log_y_of[train] = log_y
    errors = {}
    for ridge in (0.01, 0.1, 1.0):
        errs = []
        for inner_train, inner_test in KFold(5, shuffle=True, random_state=0).split(train):
            mean, _ = fit(train[inner_train], ridge).predict([cands[i] for i in train[inner_test]])
            errs.extend(np.abs(np.log(mean) - log_y_of[train[inner_test]]))
        errors[ridge] = float(np.median(errs))
    mean, _ = fit(train, min(errors, key=errors.get)).predict([cands[i] for i in test])
    return np.log(mean)


def _with_native(table: Table, i: int):
    from dataclasses import replace

    return replace(table.candidates[i], native_ms=float(table.native[i]))


def ridge_learner(table: Table, train, log_y, test, per_family: bool = False) -> "np.ndarray":
    """Ridge on standardized log costs + family one-hot (``per_family``: costs x family too)."""
    import numpy as np
    from sklearn.linear_model import RidgeCV

    z, onehot = table.log_costs(), table.family_onehot()
    a = np.hstack([z, onehot] + ([(z[:, :, None] * onehot[:, None, :]).reshape(len(z), -1)] if per_family else []))
    model = RidgeCV(alphas=np.logspace(-4, 3, 15)).fit(a[train], log_y)
    return model.predict(a[test])


def gp_learner(table: Table, train, log_y, test, noise: list | None = None) -> "np.ndarray":
    """GP with ARD on standardized log costs + family one-hot; hyperparameters by marginal likelihood.
    Appends the fitted white-noise sd (log units) to ``noise``."""
    import numpy as np
    from sklearn.gaussian_process import GaussianProcessRegressor
    from sklearn.gaussian_process.kernels import RBF, ConstantKernel, WhiteKernel

    a = np.hstack([table.log_costs(), table.family_onehot()])
    kernel = ConstantKernel() * RBF(np.ones(a.shape[1]), (1e-2, 1e3)) + WhiteKernel(1e-3, (1e-6, 1.0))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # length scales at their bound: a feature the function ignores
        gp = GaussianProcessRegressor(kernel, normalize_y=True, random_state=0).fit(a[train], log_y)
    if noise is not None:
        noise.append(float(np.sqrt(gp.kernel_.k2.noise_level) * np.std(log_y)))
    return gp.predict(a[test])


def tree_learner(table: Table, train, log_y, test, kind: str = "gbm") -> "np.ndarray":
    """Gradient boosting or a random forest on log costs + family one-hot + config hyper-parameters,
    a small grid chosen by inner 5-fold CV."""
    import numpy as np
    from sklearn.ensemble import GradientBoostingRegressor, RandomForestRegressor
    from sklearn.model_selection import GridSearchCV

    a = np.hstack([table.log_costs(), table.family_onehot(), table.config])
    if kind == "gbm":
        base = GradientBoostingRegressor(n_estimators=300, subsample=0.8, random_state=0)
        grid = {"learning_rate": [0.05, 0.1], "max_depth": [2, 3, 4]}
    else:
        base = RandomForestRegressor(n_estimators=200, random_state=0)
        grid = {"max_features": [0.33, 0.66, 1.0], "min_samples_leaf": [1, 3]}
    return GridSearchCV(base, grid, cv=5).fit(a[train], log_y).predict(a[test])


def learners(noise: list | None = None) -> dict[str, Learner]:
    """The model classes compared, by name."""
    return {
        "kernel-sum NNLS": nnls_learner,
        "ridge": ridge_learner,
        "ridge x family": lambda *a: ridge_learner(*a, per_family=True),
        "GP ARD": lambda *a: gp_learner(*a, noise=noise),
        "gradient boosting": lambda *a: tree_learner(*a, kind="gbm"),
        "random forest": lambda *a: tree_learner(*a, kind="rf"),
    }


def predictor_learner(table: Table, train, log_y, test, residual_gp: bool = False) -> "np.ndarray":
    """The predictor as shipped (no inner CV: what it does with K measurements); ``residual_gp``: plus
    a GP with ARD (as :func:`gp_learner`) on its log residuals."""
    import numpy as np

    from nas_sr.cost.predictor import LatencyPredictor

    cands = table.candidates
    predictor = LatencyPredictor(bootstrap=0).fit([cands[i] for i in train], np.exp(log_y))
    mean, _ = predictor.predict(cands)
    log_mean = np.log(mean)
    if not residual_gp:
        return log_mean[test]
    return log_mean[test] + gp_learner(table, train, log_y - log_mean[train], test)


def learning_curve(table: Table, latency: Sequence[float], ks: Sequence[int], seeds: int) -> list[dict]:
    """Per K and class: train on the predictor's choice of K models (:func:`~nas_sr.cost.predictor.select`),
    score the others; medians over ``seeds``."""
    import numpy as np

    from nas_sr.cost.predictor import select

    y = np.log(np.asarray(latency, dtype=float))
    classes = {"predictor": predictor_learner, "GP ARD": gp_learner,
               "predictor + GP residual": lambda *a: predictor_learner(*a, residual_gp=True)}
    rows = []
    for k in ks:
        for name, learner in classes.items():
            runs = []
            for seed in range(seeds):
                train = np.array(select(table.candidates, k, seed=seed))
                test = np.setdiff1d(np.arange(len(y)), train)
                runs.append(score(np.exp(learner(table, train, y[train], test)), np.exp(y[test])))
            medians = {m: round(statistics.median(r[m] for r in runs), 4) for m in runs[0]}
            rows.append({"k": k, "model": name, **medians})
    return rows


def cross_val_predict(learner: Learner, table: Table, latency: Sequence[float], folds: int = 10,
                      seed: int = 0) -> "np.ndarray":
    """Predicted latency of every model by a ``learner`` trained on the other folds
    (``folds`` <= 0 or >= the model count: leave-one-out)."""
    import numpy as np
    from sklearn.model_selection import KFold, LeaveOneOut

    y = np.log(np.asarray(latency, dtype=float))
    split = LeaveOneOut() if folds <= 0 or folds >= len(y) else KFold(folds, shuffle=True, random_state=seed)
    out = np.zeros(len(y))
    for train, test in split.split(y):
        out[test] = learner(table, train, y[train], test)
    return np.exp(out)


def score(predicted: Sequence[float], truth: Sequence[float]) -> dict[str, float]:
    """Spearman rho, shares within +-10 % / +-20 %, median absolute percentage error.

    >>> score([1.0, 2.2, 2.7], [1.0, 2.0, 3.0])
    {'spearman': 1.0, 'within_10': 1.0, 'within_20': 1.0, 'mape': 0.1}
    """
    from scipy.stats import spearmanr

    errors = [abs(p / t - 1) for p, t in zip(predicted, truth)]
    return {"spearman": round(float(spearmanr(predicted, truth).statistic), 4),
            "within_10": round(float(sum(e <= 0.1 + 1e-12 for e in errors)) / len(errors), 4),
            "within_20": round(float(sum(e <= 0.2 + 1e-12 for e in errors)) / len(errors), 4),
            "mape": round(float(statistics.median(errors)), 4)}


def load_table(path: Path, scale: int, native: bool) -> tuple[Table, dict]:
    """The table's models of ``scale`` (with ``native``: those with a native-path latency) and the raw table."""
    import numpy as np

    sys.path.insert(0, str(ROOT / "benchmarks"))
    from latency_predictor import table_candidates

    from nas_sr.models.esr_ids import config_from_esr_id

    with open(path, "rb") as f:
        raw = pickle.load(f)  # trusted benchmark data shipped beside the project
    times = None
    if native:
        with open(NATIVE) as f:
            times = {r["model_id"]: float(r["median_ms"]) for r in csv.DictReader(f)}
    candidates = table_candidates(raw, scale, times)
    config = np.array([[config_from_esr_id(c.key).get(k, 0) for k in CONFIG_KEYS] for c in candidates], dtype=float)
    return Table(candidates, config, None if times is None else np.array([times[c.key] for c in candidates])), raw


def main(argv: Sequence[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devices", default="RPI,AGX,MaxQ")
    parser.add_argument("--models", default=",".join(learners()), help="model classes, comma-separated")
    parser.add_argument("--folds", type=int, default=10, help="outer folds (0: leave-one-out)")
    parser.add_argument("--scale", type=int, default=2)
    parser.add_argument("--native", action="store_true", help="this machine's native-path latency as a feature")
    parser.add_argument("--curve", default="", help="instead: K values of a learning curve (e.g. 10,20,40,80,160)")
    parser.add_argument("--seeds", type=int, default=3, help="seeds of the learning curve")
    parser.add_argument("--table", type=Path, default=SHARED / "esr" / "tests.pkl")
    args = parser.parse_args(argv)
    table, raw = load_table(args.table, args.scale, args.native)
    start = time.perf_counter()
    results = []
    if args.curve:
        print(f"{'device':<7}{'K':>4}  {'model':<25}{'spearman':>10}{'within 10%':>12}{'within 20%':>12}{'MAPE':>8}")
        for device in args.devices.split(","):
            latency = [1000.0 / float(raw[c.key][f"speed_{device}"]) for c in table.candidates]
            for row in learning_curve(table, latency, [int(k) for k in args.curve.split(",")], args.seeds):
                results.append({"device": device, **row})
                print(f"{device:<7}{row['k']:>4}  {row['model']:<25}{row['spearman']:>10.3f}"
                      f"{100 * row['within_10']:>11.1f}%{100 * row['within_20']:>11.1f}%{100 * row['mape']:>7.1f}%",
                      flush=True)
        print(f"{time.perf_counter() - start:.0f} s; medians over {args.seeds} seeds")
        print(json.dumps({"results": results}))
        return results
    print(f"{len(table.candidates)} x{args.scale} models, {args.folds or 'leave-one'}-fold"
          f"{' (+native)' if args.native else ''}")
    print(f"{'device':<7}{'model':<26}{'spearman':>10}{'within 10%':>12}{'within 20%':>12}{'MAPE':>8}{'s':>6}")
    for device in args.devices.split(","):
        latency = [1000.0 / float(raw[c.key][f"speed_{device}"]) for c in table.candidates]
        noise: list[float] = []
        classes = learners(noise)
        for name in args.models.split(","):
            tic = time.perf_counter()
            row = {"device": device, "model": name + (" +native" if args.native else ""),
                   **score(cross_val_predict(classes[name], table, latency, args.folds), latency)}
            results.append(row)
            print(f"{device:<7}{row['model']:<26}{row['spearman']:>10.3f}{100 * row['within_10']:>11.1f}%"
                  f"{100 * row['within_20']:>11.1f}%{100 * row['mape']:>7.1f}%{time.perf_counter() - tic:>6.0f}",
                  flush=True)
        if noise:
            print(f"{device}: GP white-noise sd {100 * statistics.median(noise):.1f} % (median over folds)")
    print(f"{time.perf_counter() - start:.0f} s")
    print(json.dumps({"results": results}))
    return results


if __name__ == "__main__":
    main()
