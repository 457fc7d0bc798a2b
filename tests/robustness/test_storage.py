"""Bad study storages: unknown schemes, unreachable or refusing servers, foreign or read-only files,
studies that are not there. Each ends in one line naming the URL (password masked), exit 2; a
search that cannot reach its database stops with exit 1, saying how to resume."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

UNREACHABLE = "postgresql+psycopg://nas:hunter2@127.0.0.1:1/nas"


@pytest.fixture(autouse=True)
def short_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    """Two tries, 10 ms apart: an unreachable server is given up on at once."""
    import nas_sr.study.storage as study

    monkeypatch.setattr(study, "STORAGE_TRIES", 2)
    monkeypatch.setattr(study, "STORAGE_FIRST_DELAY", 0.01)


@pytest.fixture
def no_ray(monkeypatch: pytest.MonkeyPatch) -> None:
    """A search that got past its storage would start Ray: a failure of the catalogue."""
    import nas_sr.search.driver as driver

    class Refuse:
        def __init__(self, *args, **kwargs):
            raise AssertionError("the storage was accepted: the search would start Ray")

    monkeypatch.setattr(driver, "_Runner", Refuse)


@pytest.fixture(scope="module")
def dbs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    import warnings

    import optuna

    root = tmp_path_factory.mktemp("storages")
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    url = f"sqlite:///{root / 'ok.db'}"
    study = optuna.create_study(storage=url, study_name="s", directions=["maximize", "minimize"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        study.set_metric_names(["psnr@val", "params"])
    study.add_trial(optuna.trial.create_trial(values=[30.0, 100.0], user_attrs={"params": 100, "psnr_val": 30.0}))
    optuna.create_study(storage=url, study_name="no-metrics")
    empty = optuna.create_study(storage=url, study_name="empty", directions=["maximize", "minimize"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        empty.set_metric_names(["psnr@val", "params"])
    (root / "garbage.db").write_text("this is not SQLite")
    (root / "folder.db").mkdir()
    return {"root": root, "ok": root / "ok.db", "garbage": root / "garbage.db", "folder": root / "folder.db"}


def sqlite(path: Path) -> str:
    return f"sqlite:///{path}"


STORAGE_CASES = [
    ("unknown-scheme", lambda d: "foo://bar", ["storage URL 'foo://bar': unknown scheme 'foo' (expected sqlite:///PATH"]),
    ("not-a-url", lambda d: "studies.db", ["storage URL 'studies.db': not a storage URL"]),
    ("empty-url", lambda d: "", ["storage URL '': not a storage URL"]),
    ("missing-driver", lambda d: "mysql://u:pw@127.0.0.1:1/x", ["storage URL 'mysql://u:***@127.0.0.1:1/x': its database driver is not installed"]),
    ("unreachable-postgres", lambda d: UNREACHABLE,
     ["storage URL 'postgresql+psycopg://nas:***@127.0.0.1:1/nas': study database unreachable", "Connection refused"]),
    ("not-sqlite", lambda d: sqlite(d["garbage"]), ["garbage.db': file is not a database"]),
    ("sqlite-folder", lambda d: sqlite(d["folder"]), ["folder.db is a folder, not a database file"]),
    ("journal-folder", lambda d: f"journal:{d['folder']}", ["folder.db is a folder, not a journal file"]),
    ("missing-sqlite", lambda d: sqlite(d["root"] / "none.db"), ["no study database at sqlite:///", "none.db"]),
]


@pytest.mark.parametrize("command", ["pareto", "trials", "report"])
@pytest.mark.parametrize("url, fragments", [c[1:] for c in STORAGE_CASES], ids=[c[0] for c in STORAGE_CASES])
def test_readers_name_the_storage(bad_input, dbs, tmp_path, command, url, fragments) -> None:
    extra = ["--out", str(tmp_path / "r.html")] if command == "report" else []
    line = bad_input([command, "--study", "s", "--storage", url(dbs), *extra], fragments)
    assert "hunter2" not in line


@pytest.mark.parametrize("command", ["pareto", "trials", "report"])
def test_unknown_study_lists_those_there(bad_input, dbs, tmp_path, command) -> None:
    extra = ["--out", str(tmp_path / "r.html")] if command == "report" else []
    bad_input([command, "--study", "nope", "--storage", sqlite(dbs["ok"]), *extra],
              ["no study 'nope' in sqlite:///", "(existing: empty, no-metrics, s)"])


@pytest.mark.parametrize("study, options, fragments", [
    ("s", ["--x", "speed"], ["--x 'speed': no such column in study 's' (numeric columns: params, psnr_val)"]),
    ("s", ["--y", "ssim@val"], ["--y 'ssim@val': no such column in study 's'"]),
    ("empty", [], ["study 'empty' has no COMPLETE trial to report yet (0 trials in all)"]),
], ids=["report-unknown-x", "report-unknown-y", "report-empty-study"])
def test_report_names_the_missing_column(bad_input, dbs, tmp_path, study, options, fragments) -> None:
    bad_input(["report", "--study", study, "--storage", sqlite(dbs["ok"]), "--out", str(tmp_path / "r.html"),
               *options], fragments)


def test_study_not_made_by_a_search(bad_input, dbs) -> None:
    bad_input(["pareto", "--study", "no-metrics", "--storage", sqlite(dbs["ok"])],
              ["the study has no metric names (was it created by nas-sr search?)"])


@pytest.mark.parametrize("url, fragments", [c[1:] for c in STORAGE_CASES[:4] + STORAGE_CASES[5:8]],
                         ids=[c[0] for c in STORAGE_CASES[:4] + STORAGE_CASES[5:8]])
def test_search_names_the_storage(bad_input, dbs, no_ray, tmp_path, monkeypatch, url, fragments) -> None:
    monkeypatch.chdir(tmp_path)
    bad_input(["search", "--storage", url(dbs), "--budget-steps", "1", "--no-progress"], fragments)


def test_search_with_unreachable_database_stops_saying_how_to_resume(bad_input, no_ray, tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    line = bad_input(["search", "--storage", UNREACHABLE, "--budget-steps", "1", "--no-progress"],
                     ["stopped: storage URL 'postgresql+psycopg://nas:***@127.0.0.1:1/nas': study database unreachable", "--resume"],
                     status=1)
    assert "hunter2" not in line


@pytest.fixture
def read_only_db(dbs, tmp_path: Path):
    """A copy of the study database that no one may write, root included (chattr +i when root)."""
    import shutil

    path = tmp_path / "ro.db"
    shutil.copy(dbs["ok"], path)
    os.chmod(path, 0o444)
    immutable = os.geteuid() == 0
    if immutable and subprocess.run(["chattr", "+i", str(path)], capture_output=True).returncode != 0:
        pytest.skip("running as root, where a read-only file is still writable, and chattr +i failed")
    yield path
    if immutable:
        subprocess.run(["chattr", "-i", str(path)], capture_output=True)


def test_read_only_database_is_read_but_not_written(bad_input, accepted, read_only_db, shared) -> None:
    url = sqlite(read_only_db)
    out, _ = accepted(["pareto", "--study", "s", "--storage", url, "--format", "csv"])
    assert out.splitlines()[0].startswith("number,") and len(out.splitlines()) == 2  # one trial on the front
    bad_input(["import-esr", str(shared / "esr" / "tests.pkl"), "--trust-pickle", "--storage", url],
              [f"storage URL '{url}': attempt to write a readonly database"])


def test_wrong_password_and_missing_database(bad_input, postgres_with_password) -> None:
    server = postgres_with_password
    good = server.new_database()
    line = bad_input(["pareto", "--study", "s", "--storage", server.url(good.rsplit("/", 1)[1], password="wrong")],
                     ["postgresql+psycopg://postgres:***@127.0.0.1", 'password authentication failed for user "postgres"'])
    assert "wrong" not in line and "unreachable" not in line  # no retries for a wrong password
    bad_input(["trials", "--study", "s", "--storage", server.url("nosuchdb")],
              ["postgresql+psycopg://postgres:***@127.0.0.1", 'database "nosuchdb" does not exist'])
    line = bad_input(["pareto", "--study", "s", "--storage", good], ["no study 's' in postgresql+psycopg://postgres:***@"])
    assert "secret" not in line


def test_connection_lost_mid_search_names_the_storage() -> None:
    """A storage call that keeps losing its connection (the server went away during a search) ends in
    the same 'storage URL ...' form as the errors at start, password masked."""
    import sqlalchemy.exc

    import nas_sr.study.storage as study

    class Gone:
        def get_all_studies(self):
            raise sqlalchemy.exc.OperationalError("SELECT 1", {}, ConnectionRefusedError("Connection refused"))

    storage = study.RetryingStorage(Gone(), tries=2, first_delay=0.01, url=UNREACHABLE)
    with pytest.raises(study.StorageUnavailable) as error:
        storage.get_all_studies()
    assert str(error.value).startswith("storage URL 'postgresql+psycopg://nas:***@127.0.0.1:1/nas': study "
                                       "database unreachable (get_all_studies, 2 tries): OperationalError")
    assert "hunter2" not in str(error.value)
