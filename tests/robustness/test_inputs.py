"""Bad image folders, weights files and command-line arguments: one line naming the culprit, exit 2.

Greyscale, RGBA, palette and 16-bit images are accepted with the conversion ``read_image``
documents (kept HxW; alpha dropped; palette to RGB; 16-bit scaled to 8 bits, rounded), checked
here by the numbers they score.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def noise(h: int, w: int, channels: int | None = 3, dtype=np.uint8, seed: int = 0) -> np.ndarray:
    high = 65536 if dtype == np.uint16 else 256
    shape = (h, w) if channels is None else (h, w, channels)
    return np.random.default_rng(seed).integers(0, high, shape, dtype=dtype)


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Folders of good and bad images, and weights files good and bad, made once."""
    import torch

    from nas_sr.models import build_model
    from nas_sr.models.spec import config_from_spec

    root = tmp_path_factory.mktemp("inputs")
    out: dict[str, Path] = {}

    def folder(name: str, **images: np.ndarray | bytes | str) -> None:
        path = root / name
        path.mkdir()
        for file, content in images.items():
            target = path / file.replace("_", ".")
            if isinstance(content, np.ndarray):
                Image.fromarray(content).save(target)
            elif isinstance(content, bytes):
                target.write_bytes(content)
            else:
                target.write_text(content)
        out[name] = path

    ramp = np.add.outer(np.arange(40), np.arange(48)).astype(np.uint8) * 3
    smooth = np.stack([ramp, ramp[::-1], ramp[:, ::-1]], axis=2)
    folder("good", a_png=smooth)
    png = (root / "good" / "a.png").read_bytes()
    folder("empty")
    folder("text_only", notes_txt="not an image", readme_md="# nothing")
    folder("fake_png", a_png="this is text")
    folder("zero_bytes", a_png=b"")
    folder("truncated", a_png=png[: len(png) // 2])
    folder("one_pixel", a_png=noise(1, 1))
    folder("ten_pixels", a_png=noise(10, 10))
    folder("fifteen_pixels", a_png=noise(15, 40))
    folder("mixed", a_png=smooth, b_png="broken")
    out["a_file"] = root / "good" / "a.png"

    # Accepted with a conversion, each beside the 8-bit RGB/grey image it must score as.
    rgb = smooth
    rgba = np.concatenate([rgb, noise(40, 48, 1)], axis=2)
    folder("rgba", a_png=rgba)
    folder("rgb", a_png=rgb)
    grey = ramp
    folder("grey", a_png=grey)
    wide = (grey.astype(np.uint16) * 257 + np.uint16(100))
    Image.fromarray(wide).save(root / "wide.png")  # 16-bit greyscale
    (root / "grey16").mkdir()
    (root / "wide.png").rename(root / "grey16" / "a.png")
    out["grey16"] = root / "grey16"
    folder("grey16_as_8", a_png=np.clip(np.floor(wide.astype(np.float64) * 255 / 65535 + 0.5), 0, 255).astype(np.uint8))
    (root / "palette").mkdir()
    Image.fromarray(rgb).convert("P", palette=Image.Palette.ADAPTIVE, colors=16).save(root / "palette" / "a.png")
    out["palette"] = root / "palette"
    folder("palette_as_rgb", a_png=np.asarray(Image.open(root / "palette" / "a.png").convert("RGB")))

    w = root / "weights"
    w.mkdir()

    def save(name: str, data: object) -> None:
        torch.save(data, w / name)
        out[name] = w / name

    def state(spec: str) -> dict:
        return build_model(config_from_spec(spec)).state_dict()

    save("tm_s2.pt", state("eSR-TM_s2_K3_C4"))
    save("espcn.pt", state("ESPCN_s2_D12_S24"))
    save("nested.pt", {"weights": {"filter.weight": torch.zeros(1)}})
    save("checkpoint.pt", {"params": state("eSR-TM_s2_K3_C4"), "epoch": 3})
    save("a_list.pt", [torch.zeros(1)])
    save("ints.pt", {"filter.weight": 3})
    raw = (w / "tm_s2.pt").read_bytes()
    for name, content in {"truncated.pt": raw[: len(raw) // 2], "empty.pt": b"", "text.pt": b"hello",
                          "image.pt": png}.items():
        (w / name).write_bytes(content)
        out[name] = w / name
    return out


def evaluate(files: dict[str, Path], folder: str, *extra: str, model: str = "bicubic") -> list[str]:
    scale = [] if model != "bicubic" or "--scale" in extra else ["--scale", "2"]
    return ["evaluate", "--model", model, *scale, "--dataset", str(files[folder]), *extra]


# (id, argv(files), fragments the one line must hold)
DATASET_CASES = [
    ("missing-folder", lambda f: evaluate(f, "good")[:-1] + [str(f["good"] / "nope")], ["good/nope: no such image folder"]),
    ("file-not-folder", lambda f: evaluate(f, "good")[:-1] + [str(f["a_file"])], ["good/a.png: no such image folder"]),
    ("empty-folder", lambda f: evaluate(f, "empty"), ["empty: no image files (looked for .png"]),
    ("no-image-files", lambda f: evaluate(f, "text_only"), ["text_only: no image files"]),
    ("text-named-png", lambda f: evaluate(f, "fake_png"), ["fake_png/a.png: not a readable image"]),
    ("zero-byte-png", lambda f: evaluate(f, "zero_bytes"), ["zero_bytes/a.png: not a readable image"]),
    ("truncated-png", lambda f: evaluate(f, "truncated"), ["truncated/a.png: not a readable image", "truncated"]),
    ("one-broken-among-good", lambda f: evaluate(f, "mixed"), ["mixed/b.png: not a readable image"]),
    ("smaller-than-scale", lambda f: evaluate(f, "one_pixel"),
     ["one_pixel/a.png: image is 1x1, smaller than the 16x16 needed to score it at x2"]),
    ("smaller-than-ssim-window", lambda f: evaluate(f, "ten_pixels", "--scale", "4"),
     ["ten_pixels/a.png: image is 10x10, smaller than the 20x20 needed to score it at x4"]),
    ("one-row-short", lambda f: evaluate(f, "fifteen_pixels"), ["image is 40x15, smaller than the 16x16"]),
    ("tiny-for-a-network", lambda f: evaluate(f, "one_pixel", model="eSR-TM_s2_K7_C8"),
     ["one_pixel/a.png: image is 1x1, smaller than the 16x16 needed to score it at x2"]),
    ("second-dataset-missing", lambda f: evaluate(f, "good") + ["--dataset", str(f["good"] / "x")], ["good/x: no such image folder"]),
    ("search-train-missing", lambda f: ["search", "--train", str(f["good"] / "nope")], ["good/nope: no such image folder"]),
    ("search-train-empty", lambda f: ["search", "--train", str(f["empty"])], ["empty: no image files"]),
    ("search-train-truncated", lambda f: ["search", "--train", str(f["truncated"])], ["truncated/a.png: not a readable image"]),
    ("search-train-smaller-than-patch", lambda f: ["search", "--train", str(f["ten_pixels"])],
     ["ten_pixels/a.png: image is 10x10, smaller than the 24x24 needed for 12 px LR patches at x2"]),
    ("search-train-smaller-than-own-patch", lambda f: ["search", "--train", str(f["good"]), "--patch-size", "30"],
     ["good/a.png: image is 48x40, smaller than the 60x60 needed for 30 px LR patches at x2"]),
    ("search-bundled-smaller-than-patch", lambda f: ["search", "--patch-size", "300"],
     ["bundled:", "smaller than the 600x600 needed for 300 px LR patches at x2"]),
    ("search-val-missing", lambda f: ["search", "--val", str(f["good"] / "nope")], ["good/nope: no such image folder"]),
    ("search-val-fake", lambda f: ["search", "--val", str(f["fake_png"])], ["fake_png/a.png: not a readable image"]),
    ("search-val-too-small", lambda f: ["search", "--val", str(f["one_pixel"])],
     ["one_pixel/a.png: image is 1x1, smaller than the 16x16 needed to score it at x2"]),
    ("search-val-text-only", lambda f: ["search", "--val", str(f["text_only"])], ["text_only: no image files"]),
]

W = "good"
WEIGHTS_CASES = [
    ("weights-wrong-family", lambda f: evaluate(f, W, "--weights", str(f["tm_s2.pt"]), model="eSR-MAX_s2_K3_C4"),
     ["tm_s2.pt do not fit the model: shape mismatch filter.weight"]),
    ("weights-other-family-names", lambda f: evaluate(f, W, "--weights", str(f["espcn.pt"]), model="eSR-TM_s2_K3_C4"),
     ["espcn.pt do not fit the model: missing filter.weight; unexpected"]),
    ("weights-wrong-scale", lambda f: evaluate(f, W, "--weights", str(f["tm_s2.pt"]), model="eSR-TM_s3_K3_C4"),
     ["tm_s2.pt do not fit the model: shape mismatch filter.weight"]),
    ("weights-truncated", lambda f: evaluate(f, W, "--weights", str(f["truncated.pt"]), model="eSR-TM_s2_K3_C4"),
     ["truncated.pt: not a readable PyTorch weights file"]),
    ("weights-empty-file", lambda f: evaluate(f, W, "--weights", str(f["empty.pt"]), model="eSR-TM_s2_K3_C4"),
     ["empty.pt: not a readable PyTorch weights file"]),
    ("weights-text-file", lambda f: evaluate(f, W, "--weights", str(f["text.pt"]), model="eSR-TM_s2_K3_C4"),
     ["text.pt: not a readable PyTorch weights file"]),
    ("weights-an-image", lambda f: evaluate(f, W, "--weights", str(f["image.pt"]), model="eSR-TM_s2_K3_C4"),
     ["image.pt: not a readable PyTorch weights file"]),
    ("weights-a-folder", lambda f: evaluate(f, W, "--weights", str(f["a_file"].parent), model="eSR-TM_s2_K3_C4"),
     ["good: not a readable PyTorch weights file", "Is a directory"]),
    ("weights-missing", lambda f: evaluate(f, W, "--weights", str(f["a_file"].parent / "none.pt"), model="eSR-TM_s2_K3_C4"),
     ["good/none.pt: no such weights file"]),
    ("weights-list", lambda f: evaluate(f, W, "--weights", str(f["a_list.pt"]), model="eSR-TM_s2_K3_C4"),
     ["a_list.pt: not a state_dict of tensors"]),
    ("weights-not-tensors", lambda f: evaluate(f, W, "--weights", str(f["ints.pt"]), model="eSR-TM_s2_K3_C4"),
     ["ints.pt: not a state_dict of tensors"]),
    ("weights-nested-unknown-key", lambda f: evaluate(f, W, "--weights", str(f["nested.pt"]), model="eSR-TM_s2_K3_C4"),
     ["nested.pt: not a state_dict of tensors"]),
    ("weights-key-absent", lambda f: evaluate(f, W, "--weights", str(f["checkpoint.pt"]), "--weights-key", "ema",
                                              model="eSR-TM_s2_K3_C4"),
     ["checkpoint.pt: no 'ema' entry (has: params, epoch)"]),
    ("weights-key-of-flat-dict", lambda f: evaluate(f, W, "--weights", str(f["tm_s2.pt"]), "--weights-key", "params",
                                                    model="eSR-TM_s2_K3_C4"),
     ["tm_s2.pt: no 'params' entry (has: filter.weight)"]),
    ("weights-for-matlab-bicubic", lambda f: evaluate(f, W, "--weights", str(f["tm_s2.pt"])),
     ["--model bicubic is MATLAB's fixed upscaler and takes no --weights"]),
]

ARGUMENT_CASES = [
    # evaluate
    ("evaluate-scale-zero", lambda f: evaluate(f, W, "--scale", "0"), ["argument --scale: must be a positive integer, got 0"]),
    ("evaluate-scale-negative", lambda f: evaluate(f, W, "--scale=-2"), ["argument --scale: must be a positive integer, got -2"]),
    ("evaluate-scale-text", lambda f: evaluate(f, W, "--scale", "two"), ["argument --scale: not an integer: 'two'"]),
    ("evaluate-scale-unsupported", lambda f: evaluate(f, W, "--scale", "5", model="vapsr"), ["vapsr: scale=5 is not one of (2, 3, 4)"]),
    ("evaluate-scale-contradicts-id", lambda f: evaluate(f, W, "--scale", "4", model="eSR-TM_s2_K3_C4"),
     ["model 'eSR-TM_s2_K3_C4' is for scale 2, not 4"]),
    ("evaluate-bicubic-no-scale", lambda f: ["evaluate", "--model", "bicubic", "--dataset", str(f[W])], ["--model bicubic needs --scale"]),
    ("evaluate-unknown-device", lambda f: evaluate(f, W, "--device", "tpu"), ["device 'tpu' is not 'cpu', 'cuda' or 'cuda:N'"]),
    ("evaluate-device-typo", lambda f: evaluate(f, W, "--device", "cpu0", model="eSR-TM_s2_K3_C4"), ["device 'cpu0' is not"]),
    ("evaluate-unknown-model", lambda f: evaluate(f, W, model="eSR-TM_s2_K3"), ["'eSR-TM_s2_K3': eSR-TM ids take K, C fields after the scale"]),
    ("evaluate-json-array", lambda f: evaluate(f, W, "--scale", "2", model="[1, 2]"), ["'[1, 2]' is not an edge-SR model id"]),
    ("evaluate-json-unknown-key", lambda f: evaluate(f, W, model='{"family": "esr-tm", "scale": 2, "kernel_size": 3, "channels": 4, "depth": 2}'),
     ["esr-tm: unknown key(s) depth"]),
    ("evaluate-json-family-list", lambda f: evaluate(f, W, model='{"family": ["esr-tm"], "scale": 2}'),
     ["unknown model family ['esr-tm']"]),
    ("evaluate-json-string-scale", lambda f: evaluate(f, W, model='{"family": "esr-tm", "scale": "2", "kernel_size": 3, "channels": 4}'),
     ["esr-tm: scale='2' is not one of (2, 3, 4)"]),
    ("evaluate-json-float-int", lambda f: evaluate(f, W, model='{"family": "esr-tm", "scale": 2, "kernel_size": 3.5, "channels": 4}'),
     ["esr-tm: kernel_size=3.5 is not of type int"]),
    ("evaluate-y-convention", lambda f: evaluate(f, W, "--y-convention", "bt709"), ["argument --y-convention: invalid choice: 'bt709'"]),
    ("evaluate-no-dataset", lambda f: ["evaluate", "--model", "bicubic", "--scale", "2"], ["the following arguments are required: --dataset"]),
    # model info
    ("model-resolution-zero", lambda f: ["model", "info", "eSR-TM_s2_K3_C4", "--resolution", "0x720"], ["resolution '0x720' is not of the form WIDTHxHEIGHT"]),
    ("model-resolution-words", lambda f: ["model", "info", "eSR-TM_s2_K3_C4", "--resolution", "hd"], ["resolution 'hd' is not of the form"]),
    ("model-resolution-negative", lambda f: ["model", "info", "eSR-TM_s2_K3_C4", "--resolution=-5x10"], ["resolution '-5x10' is not of the form"]),
    ("model-resolution-not-divisible", lambda f: ["model", "info", "eSR-TM_s3_K3_C4", "--resolution", "1280x720"],
     ["output resolution 1280x720 is not divisible by the scale 3 (try 1278x720)"]),
    ("model-scale-zero", lambda f: ["model", "info", "vapsr", "--scale", "0"], ["argument --scale: must be a positive integer, got 0"]),
    ("model-scale-unsupported", lambda f: ["model", "info", "vapsr", "--scale", "8"], ["vapsr: scale=8 is not one of (2, 3, 4)"]),
    ("model-no-scale", lambda f: ["model", "info", "vapsr"], ["model 'vapsr' names no scale: add \"scale\" or pass --scale"]),
    ("model-repeats-zero", lambda f: ["model", "info", "eSR-TM_s2_K3_C4", "--latency", "--repeats", "0"], ["argument --repeats: must be a positive integer, got 0"]),
    ("model-threads-negative", lambda f: ["model", "info", "eSR-TM_s2_K3_C4", "--latency", "--threads=-1"], ["argument --threads: must be a positive integer, got -1"]),
    ("model-latency-device", lambda f: ["model", "info", "eSR-TM_s2_K3_C4", "--latency", "--device", "npu"], ["device 'npu' is not 'cpu', 'cuda' or 'cuda:N'"]),
    ("model-dtype", lambda f: ["model", "info", "eSR-TM_s2_K3_C4", "--dtype", "int8"], ["argument --dtype: invalid choice: 'int8'"]),
    ("model-emt-width-vs-heads", lambda f: ["model", "info", '{"family": "emt", "dim": 61}', "--scale", "2"], ["emt: dim=61 must be divisible by 5"]),
    ("model-hitsr-variant", lambda f: ["model", "info", '{"family": "hitsr", "variant": "xl"}', "--scale", "2"], ["hitsr: variant='xl' is not one of sir, sng, srf"]),
    ("model-bad-json", lambda f: ["model", "info", '{"family": "esr-tm",}', "--scale", "2"], ["is not valid JSON"]),
    ("model-empty", lambda f: ["model", "info", ""], ["'' is not an edge-SR model id"]),
    ("model-no-subcommand", lambda f: ["model"], ["the following arguments are required: SUBCOMMAND"]),
    # search: checked before anything is loaded or started
    ("search-trials-negative", lambda f: ["search", "--trials=-3"], ["argument --trials: must be positive, got -3"]),
    ("search-trials-text", lambda f: ["search", "--trials", "many"], ["argument --trials: not an integer: 'many'"]),
    ("search-workers-zero", lambda f: ["search", "--workers", "0"], ["argument --workers: must be positive, got 0"]),
    ("search-budget-negative", lambda f: ["search", "--budget-seconds=-1"], ["argument --budget-seconds: must be a positive finite number, got -1"]),
    ("search-budget-nan", lambda f: ["search", "--budget-seconds", "nan"], ["argument --budget-seconds: must be a positive finite number, got nan"]),
    ("search-budget-infinite", lambda f: ["search", "--budget-seconds", "inf"], ["argument --budget-seconds: must be a positive finite number, got inf"]),
    ("search-budget-steps-zero", lambda f: ["search", "--budget-steps", "0"], ["argument --budget-steps: must be positive, got 0"]),
    ("search-lr-infinite", lambda f: ["search", "--lr", "1e999"], ["argument --lr: must be a positive finite number, got 1e999"]),
    ("search-batch-zero", lambda f: ["search", "--batch-size", "0"], ["argument --batch-size: must be positive, got 0"]),
    ("search-cpus-zero", lambda f: ["search", "--cpus-per-trial", "0"], ["argument --cpus-per-trial: must be a positive finite number, got 0"]),
    ("search-gpus-negative", lambda f: ["search", "--gpus-per-trial=-0.5"], ["argument --gpus-per-trial: must not be negative, got -0.5"]),
    ("search-retries-negative", lambda f: ["search", "--max-retries=-1"], ["argument --max-retries: must not be negative, got -1"]),
    ("search-unknown-objective", lambda f: ["search", "--objectives", "psnr,energy"], ["unknown objective 'energy'"]),
    ("search-objective-unknown-set", lambda f: ["search", "--objectives", "ssim@Set5"], ["objective 'ssim@Set5': no validation set 'Set5' (have: val)"]),
    ("search-no-objectives", lambda f: ["search", "--objectives", " , "], ["no objectives given"]),
    ("search-constraint-no-number", lambda f: ["search", "--constraint", "params<="], ["bad constraint 'params<='"]),
    ("search-constraint-unit", lambda f: ["search", "--constraint", "flops<1G"], ["bad constraint 'flops<1G'"]),
    ("search-constraint-equals", lambda f: ["search", "--constraint", "params==100"], ["bad constraint 'params==100'"]),
    ("search-constraint-unknown-name", lambda f: ["search", "--constraint", "energy<3"], ["bad constraint 'energy<3': unknown objective 'energy'"]),
    ("search-constraint-second-bad", lambda f: ["search", "--constraint", "params<100", "--constraint", "ssim@x>0.5"],
     ["bad constraint 'ssim@x>0.5': objective 'ssim@x': no validation set 'x'"]),
    ("search-resolution-zero", lambda f: ["search", "--resolution", "1920x0"], ["resolution '1920x0' is not of the form WIDTHxHEIGHT"]),
    ("search-resolution-star", lambda f: ["search", "--resolution", "1920*1080"], ["resolution '1920*1080' is not of the form"]),
    ("search-unknown-sampler", lambda f: ["search", "--sampler", "bayes"], ["argument --sampler: invalid choice: 'bayes'"]),
    ("search-unknown-device", lambda f: ["search", "--device", "gpu"], ["argument --device: 'gpu' is not cpu, cuda or cuda:N"]),
    ("search-precision", lambda f: ["search", "--precision", "fp8"], ["argument --precision: invalid choice: 'fp8'"]),
    ("search-early-stopping-unknown", lambda f: ["search", "--early-stopping", "hyperband"], ["argument --early-stopping: invalid choice: 'hyperband'"]),
    ("search-mo-asha-no-steps", lambda f: ["search", "--early-stopping", "mo-asha", "--budget-seconds", "10"],
     ["--early-stopping mo-asha needs a steps budget (--budget-steps)"]),
    ("search-mo-asha-min-steps", lambda f: ["search", "--early-stopping", "mo-asha", "--budget-steps", "4", "--min-steps", "9"],
     ["--min-steps 9 leaves no rung below the budget of 4 steps"]),
    ("search-space-missing", lambda f: ["search", "--space", str(f[W] / "space.yaml")], ["good/space.yaml: no such file"]),
    ("search-space-an-image", lambda f: ["search", "--space", str(f["a_file"])], ["good/a.png: not UTF-8 text"]),
    # pareto / trials / report options
    ("pareto-format", lambda f: ["pareto", "--format", "xml"], ["argument --format: invalid choice: 'xml'"]),
    ("trials-state", lambda f: ["trials", "--state", "done"], ["argument --state: invalid choice: 'done'"]),
    ("report-top-text", lambda f: ["report", "--top", "all"], ["argument --top: invalid int value: 'all'"]),
    ("unknown-command", lambda f: ["train"], ["argument COMMAND: invalid choice: 'train'"]),
]

CASES = DATASET_CASES + WEIGHTS_CASES + ARGUMENT_CASES


def test_catalogue_size() -> None:
    assert len(CASES) >= 100 and len({c[0] for c in CASES}) == len(CASES)


@pytest.fixture
def no_search(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """A search case must fail in its checks: reaching the driver is a failure of the catalogue."""
    import nas_sr.search.driver as driver

    def refuse(opts):
        raise AssertionError("the bad input passed every check: the search would start")

    monkeypatch.setattr(driver, "run_search", refuse)
    monkeypatch.chdir(tmp_path)  # its default storage, studies/default.db, stays here


@pytest.mark.parametrize("argv, fragments", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input_is_one_line(bad_input, files, no_search, argv, fragments) -> None:
    bad_input(argv(files), fragments)


@pytest.mark.parametrize("folder, twin", [("rgba", "rgb"), ("grey16", "grey16_as_8"), ("palette", "palette_as_rgb")])
def test_converted_images_score_as_their_8_bit_twin(accepted, files, folder, twin) -> None:
    """RGBA drops alpha, 16-bit is scaled to 8 bits (rounded), a palette becomes RGB: each scores
    exactly as the 8-bit file of that conversion does."""
    from nas_sr.data import read_image

    converted, expected = read_image(files[folder] / "a.png"), read_image(files[twin] / "a.png")
    assert converted.dtype == np.uint8 and np.array_equal(converted, expected)
    rows = [json.loads(accepted(evaluate(files, name, "--format", "json"))[0])[0] for name in (folder, twin)]
    assert rows[0]["psnr"] == pytest.approx(rows[1]["psnr"], abs=1e-9) and rows[0]["ssim"] == rows[1]["ssim"]
    assert 20 < rows[0]["psnr"] < 80


def test_greyscale_is_its_own_y(accepted, files) -> None:
    """A greyscale file stays HxW and is its own Y: it scores as the RGB image of three equal planes
    under the uint8 convention's rounding of Y (equal planes give Y = 16 + 219/255 * grey, rounded)."""
    from nas_sr.data import read_image
    from nas_sr.protocol import evaluate as protocol_evaluate, matlab_bicubic

    grey = read_image(files["grey"] / "a.png")
    assert grey.ndim == 2 and grey.dtype == np.uint8
    row = json.loads(accepted(evaluate(files, "grey", "--format", "json"))[0])[0]
    direct = protocol_evaluate(matlab_bicubic(2), [("a", grey)], 2, "y", "uint8", quantize=False)
    assert row["psnr"] == pytest.approx(direct.psnr, abs=1e-9) and len(row["images"]) == 1


@pytest.mark.shared
@pytest.mark.parametrize("model, file, fragment", [
    ("vapsr", "PAN/PANx2_DF2K.pth", "PANx2_DF2K.pth do not fit the model: missing blocks.0"),
    ("emt", "VapSR/VapSR_X2.pth", "VapSR_X2.pth do not fit the model: missing body.0.0"),
])
def test_released_weights_of_another_family(bad_input, shared, files, model, file, fragment) -> None:
    line = bad_input(evaluate(files, W, "--scale", "2", "--weights", str(shared / "weights" / file), model=model),
                     [fragment, "in all)"])
    assert len(line) < 700  # long name lists are cut, with their count
