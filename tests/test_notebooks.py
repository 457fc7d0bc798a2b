"""The example notebooks run, top to bottom, against a small study the test creates."""

from __future__ import annotations

from pathlib import Path

import pytest

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"


@pytest.mark.slow
def test_explore_study_notebook_runs(tmp_path, monkeypatch):
    nbformat = pytest.importorskip("nbformat", reason="needs the test extras (nbformat, nbclient, ipykernel)")
    nbclient = pytest.importorskip("nbclient", reason="needs the test extras (nbformat, nbclient, ipykernel)")
    pytest.importorskip("ipykernel", reason="needs the test extras (nbformat, nbclient, ipykernel)")
    from nas_sr.browse.demo import make_demo_study

    url = f"sqlite:///{tmp_path}/nas.db"
    make_demo_study(url, "nb", trials=80, seed=1)
    export = tmp_path / "chosen.csv"
    monkeypatch.setenv("NAS_SR_STUDY", "nb")
    monkeypatch.setenv("NAS_SR_STORAGE", url)
    monkeypatch.setenv("NAS_SR_EXPORT", str(export))
    notebook = nbformat.read(NOTEBOOKS / "explore_study.ipynb", as_version=4)
    nbclient.NotebookClient(notebook, timeout=120, kernel_name="python3",
                            resources={"metadata": {"path": str(tmp_path)}}).execute()
    errors = [o for c in notebook.cells if c.cell_type == "code" for o in c.get("outputs", [])
              if o.get("output_type") == "error"]
    assert not errors
    text = "".join(o.get("text", "") for c in notebook.cells if c.cell_type == "code" for o in c.get("outputs", []))
    assert "Pareto-optimal trials" in text and "wrote" in text
    assert export.exists() and export.read_text().startswith("number,")
