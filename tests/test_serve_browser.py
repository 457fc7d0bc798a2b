"""``nas-sr serve`` in headless Chromium (Debian's ``chromium`` + ``chromium-driver``, Selenium with the
system chromedriver; nothing is downloaded): the plot's points, switching axes, clicking a point to its
trial page with crops. Screenshots go to ``$NAS_SR_ARTIFACTS`` (default: the test's tmp folder)."""

from __future__ import annotations

import json
import os
import shutil
import threading
from pathlib import Path

import pytest

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
TRAINED = {"family": "esr-tm", "scale": 2, "color": "y", "kernel_size": 3, "channels": 2}

pytestmark = pytest.mark.skipif(
    not (os.access(CHROMIUM, os.X_OK) and os.access(CHROMEDRIVER, os.X_OK)),
    reason=f"headless browser test needs {CHROMIUM} and {CHROMEDRIVER} (apt-get install chromium chromium-driver)")


@pytest.fixture(scope="module")
def artifacts(tmp_path_factory) -> Path:
    folder = Path(os.environ.get("NAS_SR_ARTIFACTS") or tmp_path_factory.mktemp("screenshots"))
    folder.mkdir(parents=True, exist_ok=True)
    print(f"\nscreenshots of the browser test: {folder}")
    return folder


@pytest.fixture(scope="module")
def server(tmp_path_factory, one_torch_thread):
    """A served demo study plus one briefly trained eSR-TM with its weights artifact, cheapest of all
    (so on the front): (server, StudyView, the trained trial's number)."""
    import torch
    from optuna.artifacts import FileSystemArtifactStore, upload_artifact

    from nas_sr.browse.demo import make_demo_study
    from nas_sr.browse.query import open_study
    from nas_sr.browse.serve import make_server
    from nas_sr.cost import model_cost
    from nas_sr.data import load_bundled
    from nas_sr.study.storage import artifact_dir
    from nas_sr.train import TrainSettings, train

    folder = tmp_path_factory.mktemp("serve_browser")
    url = f"sqlite:///{folder / 'nas.db'}"
    study = make_demo_study(url, "demo", trials=40, seed=2)
    result = train(dict(TRAINED), load_bundled("train"), {"val": load_bundled("val")},
                   TrainSettings(max_steps=60, threads=1, patches=500))
    cost = model_cost(TRAINED, (64, 64))
    trial = study.ask()
    for key, value in {"config": json.dumps(TRAINED), "family": "esr-tm", "scale": 2, **result.metrics,
                       "params": cost.params, "flops": cost.flops, "latency_ms": 0.001,
                       "curve": [list(map(float, p)) for p in result.curve]}.items():
        trial.set_user_attr(key, value)
    weights = folder / "weights.pt"
    torch.save(result.state_dict, weights)
    store = artifact_dir(url)
    store.mkdir(parents=True, exist_ok=True)
    trial.set_user_attr("weights_artifact", upload_artifact(
        artifact_store=FileSystemArtifactStore(str(store)), file_path=str(weights), study_or_trial=trial))
    study.tell(trial, [result.metrics["psnr_val"], 0.001, cost.params])
    served = make_server("demo", url, port=0)
    threading.Thread(target=served.serve_forever, daemon=True).start()
    yield served, open_study("demo", url), trial.number
    served.shutdown()
    served.server_close()


@pytest.fixture(scope="module")
def browser():
    webdriver = pytest.importorskip("selenium.webdriver", reason="selenium not installed (pip install selenium)")
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    options = Options()
    options.binary_location = CHROMIUM  # with both paths given, Selenium Manager downloads nothing
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1400,1000",
                 "--enable-unsafe-swiftshader"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})  # failed requests show in the console log
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(120)
    yield driver
    driver.quit()


def rendered(driver, after: float = 0.0, timeout: float = 120) -> float:
    """Wait until the page has drawn the front (after the draw stamped ``after``); its time stamp."""
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(driver, timeout).until(
        lambda d: d.execute_script("return (window.nasSr && window.nasSr.rendered) || 0") > after
        or d.execute_script("return document.getElementById('error').textContent"))
    assert driver.execute_script("return document.getElementById('error').textContent") == ""
    return driver.execute_script("return window.nasSr.rendered")


#: Per trace of the drawn plot: name, type, trial numbers (customdata) and x values, read from plotly's div.
PLOT = """const gd = document.getElementById('front');
return gd._fullData.map((t) => ({name: t.name, type: t.type, x: Array.from(t.x || []),
                                 numbers: t.customdata ? Array.from(t.customdata) : null}));"""

#: Hover trial ``arguments[0]`` of the drawn front as the mouse would; the hover label's text up to its
#: x value (what the user reads: "trial N (family)" and the config).
HOVER = """const gd = document.getElementById('front');
for (let i = 0; i < gd.data.length; i++) {
  const j = Array.from(gd.data[i].customdata || []).indexOf(arguments[0]);
  if (j >= 0) { Plotly.Fx.hover(gd, [{curveNumber: i, pointNumber: j}]); break; }
}
const text = document.querySelector('#front .hoverlayer .hovertext text.nums').textContent;
Plotly.Fx.unhover(gd);
return text.slice(0, text.indexOf('latency_ms=') + 'latency_ms='.length);"""


def test_page_plot_axes_and_click_to_trial(server, browser, artifacts):
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select, WebDriverWait

    served, view, trained = server
    complete = view.trials("COMPLETE")
    browser.get(served.url)
    stamp = rendered(browser)
    traces = browser.execute_script(PLOT)
    numbers = sorted(n for t in traces if t["numbers"] for n in t["numbers"])
    assert numbers == sorted(complete.index)  # every COMPLETE trial drawn once
    front = next(t for t in traces if t["name"].startswith("Pareto front"))
    assert sorted(front["numbers"]) == sorted(view.pareto(["latency_ms", "psnr@val"]).index)
    drawn = {n: x for t in traces if t["numbers"] for n, x in zip(t["numbers"], t["x"])}
    assert all(drawn[n] == pytest.approx(complete.loc[n, "latency_ms"]) for n in complete.index)
    browser.save_screenshot(str(artifacts / "serve_front.png"))
    config = complete.loc[trained, "config"]
    assert browser.execute_script(HOVER, trained) == f"trial {trained} (esr-tm){config}latency_ms="
    assert not [e["message"] for e in browser.get_log("browser") if "404" in e["message"]]  # favicon.ico included

    Select(browser.find_element(By.ID, "x")).select_by_value("params")
    stamp = rendered(browser, stamp)
    traces = browser.execute_script(PLOT)
    drawn = {n: x for t in traces if t["numbers"] for n, x in zip(t["numbers"], t["x"])}
    assert sorted(drawn) == sorted(complete.index)
    assert all(drawn[n] == complete.loc[n, "params"] for n in complete.index)
    assert browser.execute_script("return document.getElementById('front').layout.xaxis.title.text") == "params"
    front = next(t for t in traces if t["name"].startswith("Pareto front"))
    assert sorted(front["numbers"]) == sorted(view.pareto(["params", "psnr@val"]).index)
    assert "x=params" in browser.current_url  # the choice is kept in the address
    browser.save_screenshot(str(artifacts / "serve_front_params.png"))

    Select(browser.find_element(By.ID, "z")).select_by_value("latency_ms")
    stamp = rendered(browser, stamp)
    assert {t["type"] for t in browser.execute_script(PLOT)} == {"scatter3d"}
    texts = browser.execute_script("return document.getElementById('front')._fullData.map((t) => t.text)")
    assert f"trial {trained} (esr-tm)<br>{config}" in [s for t in texts if isinstance(t, list) for s in t]
    assert not [s for t in texts if isinstance(t, list) for s in t if "&quot;" in s]
    browser.save_screenshot(str(artifacts / "serve_front_3d.png"))
    Select(browser.find_element(By.ID, "z")).select_by_value("")
    stamp = rendered(browser, stamp)

    trace, point = browser.execute_script("""const gd = document.getElementById('front');
        for (let i = 0; i < gd.data.length; i++) {
          const j = Array.from(gd.data[i].customdata || []).indexOf(arguments[0]);
          if (j >= 0) return [i, j];
        }""", trained)
    marker = browser.execute_script("return document.querySelectorAll('#front .scatterlayer .trace')[arguments[0]]"
                                    ".querySelectorAll('path.point')[arguments[1]]", trace, point)
    ActionChains(browser).move_to_element(marker).click().perform()
    WebDriverWait(browser, 120).until(lambda d: d.current_url.endswith(f"/trial/{trained}"))
    WebDriverWait(browser, 120).until(lambda d: d.find_elements(By.CSS_SELECTOR, "#crops img"))
    images = browser.find_elements(By.CSS_SELECTOR, "#crops img")
    assert [i.get_attribute("alt") for i in images] == ["HR", "bicubic", "candidate"]
    assert all(i.get_attribute("src").startswith("data:image/png;base64,") for i in images)
    assert all(browser.execute_script("return arguments[0].naturalWidth", i) > 0 for i in images)
    captions = [c.text for c in browser.find_elements(By.CSS_SELECTOR, "#crops figcaption")]
    assert captions[0] == "HR" and all(c.endswith(" dB") for c in captions[1:])
    browser.set_window_size(1400, 1700)
    browser.save_screenshot(str(artifacts / "serve_trial.png"))
    print(f"screenshots: {', '.join(sorted(p.name for p in artifacts.glob('serve_*.png')))} in {artifacts}")
