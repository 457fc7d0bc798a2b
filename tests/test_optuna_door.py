"""Every use nas-sr makes of Optuna's private API (``nas_sr/study/_optuna.py``, the one module that
may), one test each, on numbers worked out by hand: an Optuna release that moves or changes one
fails here, naming it. Also: nothing outside ``nas_sr/study/`` imports Optuna's private modules or
reaches into a study's private attributes."""

from __future__ import annotations

import ast
import math
import warnings
from pathlib import Path

import numpy as np
import optuna
import pytest

from nas_sr.study import _optuna

optuna.logging.set_verbosity(optuna.logging.WARNING)
PACKAGE = Path(__file__).resolve().parents[1] / "nas_sr"
#: Private attributes of Optuna's study, trial and storage objects that nas-sr reaches into (door only).
PRIVATE_ATTRS = ("_storage", "_study_id", "_trial_id", "_backend")


def _study(storage: str = "sqlite:///:memory:") -> optuna.Study:
    study = optuna.create_study(storage=storage, directions=["maximize", "minimize"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        study.set_metric_names(["psnr", "params"])
    for psnr, params in [(30.0, 100), (31.0, 400), (29.0, 500)]:
        study.add_trial(optuna.trial.create_trial(values=[psnr, params], user_attrs={"psnr": psnr}))
    return study


def _changed(what: str) -> str:
    return (f"Optuna {optuna.__version__} changed {what}, which nas-sr uses (nas_sr/study/_optuna.py); "
            f"tested with optuna {_optuna.TESTED}")


def test_compute_hypervolume():
    # Two boxes from the origin: 2x1 and 1x2 overlap in 1x1, so 3 in all; a 3-D unit cube.
    value = _optuna.compute_hypervolume(np.array([[-2.0, -1.0], [-1.0, -2.0]]), np.zeros(2))
    assert value == pytest.approx(3.0), _changed("optuna._hypervolume.compute_hypervolume")
    assert _optuna.compute_hypervolume(-np.ones((1, 3)), np.zeros(3)) == pytest.approx(1.0), \
        _changed("optuna._hypervolume.compute_hypervolume (3-D)")


def test_is_pareto_front():
    loss = np.array([[1.0, 2.0], [2.0, 1.0], [2.0, 2.0], [1.0, 2.0]])
    assert _optuna.is_pareto_front(loss).tolist() == [True, True, False, True], \
        _changed("optuna.study._multi_objective._is_pareto_front (duplicates must all stay)")


def test_fast_non_domination_rank():
    ranks = _optuna.fast_non_domination_rank(np.array([[1.0, 1.0], [2.0, 2.0], [0.0, 3.0], [3.0, 3.0]]))
    assert list(map(int, ranks)) == [0, 1, 0, 2], _changed("optuna.study._multi_objective._fast_non_domination_rank")


def test_crowding_distances():
    distances = _optuna.crowding_distances([[0.0, 2.0], [1.0, 1.0], [2.0, 0.0], [0.5, 1.5]])
    assert math.isinf(distances[0]) and math.isinf(distances[2]), \
        _changed("nsgaii _calc_crowding_distance (boundary points must be infinite)")
    # Each inner point: the span of its neighbours on each objective over the objective's range.
    assert distances[1] == pytest.approx(1.5 / 2 + 1.5 / 2) and distances[3] == pytest.approx(1.0 / 2 + 1.0 / 2), \
        _changed("nsgaii _calc_crowding_distance")


def test_storage_of_and_study_id():
    study = _study()
    storage = _optuna.storage_of(study)
    assert isinstance(storage, optuna.storages.BaseStorage), _changed("optuna.Study._storage")
    sid = _optuna.study_id(study)
    assert storage.get_study_name_from_id(sid) == study.study_name, _changed("optuna.Study._study_id")


def test_trial_id():
    study = _study()
    running = study.ask()
    storage, sid = _optuna.storage_of(study), _optuna.study_id(study)
    expected = storage.get_trial_id_from_study_id_trial_number(sid, running.number)
    assert _optuna.trial_id(running) == expected, _changed("optuna.Trial._trial_id")
    frozen = study.trials[0]
    assert _optuna.trial_id(frozen) == storage.get_trial_id_from_study_id_trial_number(sid, 0), \
        _changed("optuna.trial.FrozenTrial._trial_id")


def test_rdb_backend_unwraps_optunas_cache_and_nas_srs_retries(tmp_path):
    from nas_sr.study.storage import open_storage

    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    study = optuna.create_study(storage=open_storage(url), study_name="s")
    backend = _optuna.rdb_backend(study)
    assert isinstance(backend, optuna.storages.RDBStorage), _changed("_CachedStorage._backend")
    journal = optuna.create_study(storage=open_storage(f"journal:{tmp_path / 'j.log'}"), study_name="j")
    assert _optuna.rdb_backend(journal) is None


def test_rdb_models_read_what_the_api_wrote(tmp_path):
    import sqlalchemy as sa

    study = _study(f"sqlite:///{tmp_path / 'db.sqlite'}")
    models = _optuna.rdb_models()
    engine = _optuna.rdb_backend(study).engine
    trials, values, users = (models.TrialModel.__table__, models.TrialValueModel.__table__,
                             models.TrialUserAttributeModel.__table__)
    with engine.connect() as conn:
        numbers = [r[0] for r in conn.execute(sa.select(trials.c.number).order_by(trials.c.number))]
        psnr = [r[0] for r in conn.execute(sa.select(values.c.value).where(values.c.objective == 0)
                                           .order_by(values.c.trial_id))]
        attrs = [r[0] for r in conn.execute(sa.select(users.c.value_json).where(users.c.key == "psnr"))]
    assert numbers == [0, 1, 2], _changed("optuna.storages._rdb.models.TrialModel")
    assert psnr == [30.0, 31.0, 29.0], _changed("optuna.storages._rdb.models.TrialValueModel")
    assert attrs == ["30.0", "31.0", "29.0"], _changed("optuna.storages._rdb.models.TrialUserAttributeModel "
                                                       "(values JSON-encoded)")
    stored, kind = models.TrialValueModel.value_to_stored_repr(float("inf"))
    assert kind.name == "INF_POS", _changed("TrialValueModel.value_to_stored_repr")


def test_rdb_backend_flushes_batched_attribute_writes(tmp_path):
    """Through nas-sr's batching wrapper (nas_sr.study.batched): the RDBStorage found, and attribute
    writes held back reach the database before any SQL reads it."""
    import sqlalchemy as sa

    from nas_sr.study.storage import open_storage

    study = optuna.create_study(storage=open_storage(f"sqlite:///{tmp_path / 'db.sqlite'}"), study_name="s")
    trial = study.ask()
    trial.set_user_attr("held", 7)
    backend = _optuna.rdb_backend(study)
    assert isinstance(backend, optuna.storages.RDBStorage), _changed("_CachedStorage._backend")
    users = _optuna.rdb_models().TrialUserAttributeModel.__table__
    with backend.engine.connect() as conn:
        assert conn.execute(sa.select(users.c.value_json).where(users.c.key == "held")).scalar() == "7"


def test_create_running_trial_from_a_template(tmp_path):
    """``create_new_trial(study_id, template_trial=...)`` and ``Trial(study, trial_id)``: a RUNNING
    trial with the template's params, distributions and user attributes, that tell finishes."""
    from optuna.distributions import IntDistribution

    study = optuna.create_study(storage=f"sqlite:///{tmp_path / 'db.sqlite'}")
    study.add_trial(optuna.trial.create_trial(value=1.0))
    template = optuna.trial.create_trial(state=optuna.trial.TrialState.RUNNING, params={"x": 3},
                                         distributions={"x": IntDistribution(0, 5)}, user_attrs={"why": "test"})
    trial = _optuna.create_running_trial(study, template)
    assert isinstance(trial, optuna.Trial) and trial.number == 1, _changed("Trial(study, trial_id)")
    assert trial.suggest_int("x", 0, 5) == 3, _changed("BaseStorage.create_new_trial(template_trial=)")
    (stored,) = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,))
    assert stored.params == {"x": 3} and stored.user_attrs == {"why": "test"}
    study.tell(trial, 2.0)
    assert [t.value for t in study.trials] == [1.0, 2.0]


def test_a_missing_private_name_says_what_moved(monkeypatch):
    with pytest.raises(_optuna.OptunaChanged, match=r"optuna\._hypervolume\.no_such_function.*optuna<6"):
        _optuna._private("optuna._hypervolume", "no_such_function")


def _private_uses(path: Path) -> list[str]:
    """Imports of Optuna's private modules and reaches into private attributes of a study/storage."""
    out = []
    tree = ast.parse(path.read_text(), str(path))
    for node in ast.walk(tree):
        names = []
        if isinstance(node, ast.ImportFrom) and node.module:
            names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
        elif isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        for name in names:
            parts = name.split(".")
            if parts[0] == "optuna" and any(p.startswith("_") for p in parts[1:]):
                out.append(f"{path.relative_to(PACKAGE.parent)}:{node.lineno}: {name}")
                break
        if isinstance(node, ast.Attribute) and node.attr in PRIVATE_ATTRS:
            out.append(f"{path.relative_to(PACKAGE.parent)}:{node.lineno}: .{node.attr}")
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "getattr"
                and len(node.args) > 1 and isinstance(node.args[1], ast.Constant)
                and node.args[1].value in PRIVATE_ATTRS):
            out.append(f"{path.relative_to(PACKAGE.parent)}:{node.lineno}: getattr {node.args[1].value}")
    return out


def test_optuna_private_api_only_behind_the_door():
    found = [use for path in sorted(PACKAGE.rglob("*.py")) if "study" not in path.relative_to(PACKAGE).parts[:1]
             for use in _private_uses(path)]
    assert found == [], "Optuna's private API outside nas_sr/study/ (move it to nas_sr/study/_optuna.py):\n" + \
        "\n".join(found)


def test_the_door_itself_is_seen():
    """The check above would find the door's own uses (so it cannot pass by seeing nothing)."""
    assert len(_private_uses(PACKAGE / "study" / "_optuna.py")) >= 3


def test_one_writer_of_trial_records():
    """``set_user_attr`` appears in nas_sr/study/ only (the one writer of trial records)."""
    found = [f"{path.relative_to(PACKAGE.parent)}:{n}" for path in sorted(PACKAGE.rglob("*.py"))
             if path.relative_to(PACKAGE).parts[0] != "study"
             for n, line in enumerate(path.read_text().splitlines(), 1) if "set_user_attr" in line]
    assert found == [], "set_user_attr outside nas_sr/study/ (write through nas_sr.study.write_record):\n" + \
        "\n".join(found)
