"""The VapSR, PAN, EMT, SPAN, RLFN and efficient-SR search spaces: what they hold, invalid combinations
rejected on loading, and a search over ``efficient_sr.yaml`` through the real driver."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from nas_sr.cli import main
from nas_sr.models import build_model, config_key, family_names
from nas_sr.space import SpaceError, load_space
from nas_sr.space.space import EXHAUSTIVE_CHECK_LIMIT

SPACES = Path(__file__).resolve().parents[1] / "search_spaces"
PA_KNOBS = 2 * 5 * 3 * 2 * 3  # pa_after x levels 1..5 x reductions x patch sizes x windows

# file -> (scales, {branch: (family, configurations per scale)}, total)
SHIPPED = {
    "vapsr": ((2, 3, 4), {
        # F 6 x A 5 x N 11 x groups 3 x k 3 x dilated k 2 x dilation 3 x norm 2 x act 3 x upsampler 3
        "vapsr": ("vapsr", 320_760),
        "vapsr-pa": ("vapsr", 320_760 // 11 * 5 * PA_KNOBS),  # N 8..24 step 4
    }, 3 * (320_760 + 320_760 // 11 * 5 * PA_KNOBS)),
    "pan": ((2, 3, 4), {
        "pan": ("pan", 6 * 4 * 5 * 2),  # nf x unf x nb x kernel
        "pan-pa": ("pan", 240 * PA_KNOBS),
    }, 3 * 240 * (1 + PA_KNOBS)),
    "emt": ((2, 3, 4), {
        # dim 3 x MTBs 7 x layers 5 x SWSA layers 5 x heads 3 x mlp 3 x long 3 x short 3
        "emt": ("emt", 42_525),
        "emt-2heads": ("emt", 42_525 // 9),  # dim 60 with 2 heads only
        "emt-pa": ("emt", 42_525 // 7 * 5 * PA_KNOBS),  # MTBs 4..8
    }, 3 * (42_525 + 4_725 + 6_075 * 5 * PA_KNOBS)),
    "efficient_sr": ((4,), {
        "esr-tm": ("esr-tm", 4), "esr-cnn": ("esr-cnn", 8), "espcn": ("espcn", 9), "fsrcnn": ("fsrcnn", 8),
        "vapsr": ("vapsr", 3 * 3 * 5 * 2 * 2), "vapsr-pa": ("vapsr", 3 * 3 * 4 * 2 * 2 * 32),
        "pan": ("pan", 3 * 2 * 3 * 2), "pan-pa": ("pan", 36 * 32),
        "emt": ("emt", 2 * 3 * 2 * 3 * 2 * 2 * 2 * 2), "emt-pa": ("emt", 576 // 3 * 2 * 32),
        "hitsr": ("hitsr", 2 * 3 * 3 * 2 * 2),
        "span": ("span", 3 * 3 * 2), "rlfn": ("rlfn", 3 * 2 * 2 * 3),
    }, 18_995),
    # C 9 x N 9 x convs 3 x gain 4 x activation 3
    "span": ((2, 3, 4), {"span": ("span", 2_916)}, 3 * 2_916),
    # F 21 x M 11 x E 4 x N 7
    "rlfn": ((2, 3, 4), {"rlfn": ("rlfn", 6_468)}, 3 * 6_468),
}


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.mark.parametrize("name", list(SHIPPED))
def test_shipped_space_holds_what_it_should(name: str) -> None:
    scales, branches, total = SHIPPED[name]
    space = load_space(SPACES / f"{name}.yaml")
    assert space.name == name and space.color == "rgb" and space.scales == scales
    assert {b.name: (b.family, b.size()) for b in space.branches} == branches
    assert space.count() == total  # no two branches share a configuration
    summary = space.summary()
    assert summary.endswith(f"total: {total} configurations") and "several branches" not in summary
    for branch in space.branches:
        has_pa = branch.name.endswith("-pa")
        if "pa_after" in branch.params:
            assert (branch.params["pa_after"].describe() == "0 (default)") is not has_pa
    assert "scales: " + ", ".join(map(str, scales)) + "; color: rgb" in summary


def test_efficient_sr_mixes_edge_and_attention_families() -> None:
    space = load_space(SPACES / "efficient_sr.yaml")
    families = {b.family for b in space.branches}
    assert {"esr-tm", "esr-cnn", "espcn", "fsrcnn", "vapsr", "pan", "emt", "span", "rlfn"} <= families
    assert ("hitsr" in families) == ("hitsr" in family_names())


@pytest.mark.parametrize("name", list(SHIPPED))
@pytest.mark.slow
def test_sampled_configurations_build_and_run(name: str) -> None:
    optuna = pytest.importorskip("optuna")
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    space = load_space(SPACES / f"{name}.yaml")
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    for _ in range(6):
        config = space.suggest(study.ask())
        with torch.no_grad():
            y = build_model(config).eval()(torch.rand(1, 3, 6, 5))
        assert y.shape == (1, 3, 6 * config["scale"], 5 * config["scale"]), config_key(config)


# --- malformed files: one line naming the file, the field and the value -------------------------

EMT_LARGE = ("n_blocks: {low: 1, high: 16}, n_layers: {low: 2, high: 16}, n_gtls: [0, 1, 2], "
             "mlp_ratio: [1.0, 2.0, 3.0], window_long: [16, 32, 64], window_short: [4, 8, 16]")


def doc(family: str, params: str, scales: str = "[2, 3, 4]") -> str:
    return f"name: t\nscales: {scales}\ncolor: rgb\nbranches:\n  - family: {family}\n    params: {{{params}}}\n"


# (id, file text, fragments the one-line message must hold)
BAD = [
    # 45 is neither end of the list, in a branch too large to check every configuration: the
    # pairwise check finds it.
    ("emt-dim-not-divisible-by-heads", doc("emt", f"dim: [30, 45, 60], num_heads: [3, 5], {EMT_LARGE}"),
     ["branches[0].params: emt: dim=45 must be divisible by 2*num_heads=6", "(got {'scale': 2, 'dim': 45"]),
    ("emt-dim-not-divisible-by-5", doc("emt", "dim: [30, 32], num_heads: 1"),
     ["branches[0].params: emt: dim=32 must be divisible by 5 (five shift groups)", "'dim': 32"]),
    ("emt-mlp-hidden-not-divisible-by-5", doc("emt", "dim: 30, num_heads: 3, mlp_ratio: [1.0, 1.3, 2.0]"),
     ["branches[0].params: emt: dim*mlp_ratio=39 must be a positive multiple of 5", "'mlp_ratio': 1.3"]),
    ("emt-more-attention-than-layers", doc("emt", "n_layers: [4, 6], n_gtls: [0, 5]"),
     ["emt: n_gtls=5 must not exceed n_layers=4", "'n_gtls': 5"]),
    ("vapsr-groups", doc("vapsr", "num_feat: [24, 30, 48], conv_groups: [1, 4], num_block: {low: 4, high: 24}, "
                                  "d_atten: {low: 32, high: 96, step: 8}, atten_kernel: [3, 5, 7], "
                                  "dilation: [2, 3, 4], activation: [gelu, relu, silu]"),
     ["branches[0].params: vapsr: num_feat=30 is not divisible by conv_groups=4", "'num_feat': 30"]),
    ("vapsr-pa-after-too-deep", doc("vapsr", "num_block: {low: 4, high: 16, step: 4}, pa_after: [2, 8]"),
     ["branches[0].params: vapsr: pa_after=8 exceeds the number of blocks (num_block=4)", "'pa_after': 8"]),
    ("vapsr-pa-after-released-depth", doc("vapsr", "pa_after: [10, 21]"),
     ["vapsr: pa_after=21 exceeds the number of blocks (num_block=20 as released at x2)"]),
    ("pa-knobs-without-pa", doc("pan", "nb: [8, 16], pa_after: [0, 4], pa_levels: [3, 5]"),
     ["branches[0].params: pan: pa_levels=3 has no effect with pa_after=0", "'pa_after': 0, 'pa_levels': 3"]),
    ("pa-too-many-levels", doc("pan", "pa_after: 4, pa_levels: {low: 1, high: 6}"),
     ["pan: pa_levels=6 must be 1..5", "'pa_levels': 6"]),
    ("pa-even-patch", doc("emt", "pa_after: 2, pa_patch: [1, 2, 3]"), ["emt: pa_patch=2 must be odd"]),
    ("pa-reduction-too-large", doc("pan", "nf: [24, 64], pa_after: 4, pa_reduction: [8, 32]"),
     ["pan: pa_reduction=32 leaves no key channels for 24 channels", "'nf': 24"]),
    ("pa-after-negative", doc("vapsr", "pa_after: [-1, 4]"),
     ["branches[0].params.pa_after[0]: below the minimum 0", "(got -1)"]),
    ("attention-family-in-y", doc("pan", "nb: 8").replace("color: rgb", "color: y"),
     ["color: pan (branches[0]) works in rgb only", "'y'"]),
]


@pytest.fixture(params=BAD, ids=[case[0] for case in BAD])
def bad_file(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[Path, list[str]]:
    name, text, fragments = request.param
    path = tmp_path / f"{name}.yaml"
    path.write_text(text, encoding="utf-8")
    return path, fragments


def test_invalid_combinations_fail_on_loading(bad_file: tuple[Path, list[str]]) -> None:
    path, fragments = bad_file
    with pytest.raises(SpaceError) as info:
        load_space(path)
    message = str(info.value)
    assert "\n" not in message and message.startswith(f"{path}: ")
    for fragment in fragments:
        assert fragment in message


def test_cli_prints_the_one_line_error(bad_file: tuple[Path, list[str]], capsys: pytest.CaptureFixture[str]) -> None:
    path, fragments = bad_file
    assert main(["space", "show", str(path)]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.count("\n") == 1 and err.startswith(f"nas-sr space: error: {path}:")
    assert fragments[0] in err


def test_large_branch_is_checked_pairwise(tmp_path: Path) -> None:
    """The EMT case above is only found because every pair of values is checked."""
    good = tmp_path / "good.yaml"
    good.write_text(doc("emt", f"dim: [30, 60], num_heads: [3, 5], {EMT_LARGE}"))
    size = load_space(good).branches[0].size()
    assert size * 3 > EXHAUSTIVE_CHECK_LIMIT and size == 2 * 2 * 16 * 15 * 3 * 3 * 3 * 3


# --- a search over efficient_sr.yaml ------------------------------------------------------------

#: Seed of the random sampler: its first three proposals are VapSR, PAN with pyramid attention
#: and VapSR with it (checked below; a change of efficient_sr.yaml may need another seed).
SEARCH_SEED = 7
#: Two training steps on tiny patches, FLOPs at 64x64, no latency.
SEARCH_SETTINGS = {"max_steps": 2, "batch_size": 2, "patch_size": 12, "patches": 8, "oversample": 1,
                   "resolution": [64, 64], "latency": False, "log_every": 1, "threads": 1}


@pytest.mark.slow
def test_search_over_efficient_sr(tmp_path: Path, bundled_crops) -> None:
    from optuna.trial import TrialState

    from nas_sr.search.driver import SearchOptions, run_search

    options = SearchOptions(
        space=load_space(SPACES / "efficient_sr.yaml"), train_images=bundled_crops("train", 96),
        val_sets={"val": bundled_crops("val", 64)}, study="efficient", storage=f"sqlite:///{tmp_path}/db.sqlite",
        trials=3, workers=1, sampler="random", seed=SEARCH_SEED, objectives="psnr,params,flops",
        settings=dict(SEARCH_SETTINGS), progress=False)
    outcome = run_search(options)
    trials = outcome.study.get_trials()
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    assert outcome.complete == len(complete) == 3 and outcome.failed == 0
    assert outcome.study.metric_names == ["psnr@val", "params", "flops"]
    configs = [json.loads(t.user_attrs["config"]) for t in complete]
    for t, config in zip(complete, configs):
        for key in ("family", "scale", "psnr_val", "ssim_val", "params", "flops", "steps", "seconds",
                    "weights_artifact", "curve"):
            assert key in t.user_attrs, f"trial {t.number} lacks {key}"
        assert t.user_attrs["family"] == config["family"] and t.user_attrs["scale"] == config["scale"] == 4
        assert t.user_attrs["steps"] == 2 and t.user_attrs["resolution"] == [64, 64]
        assert "latency_ms" not in t.user_attrs
        assert t.values == [t.user_attrs["psnr_val"], t.user_attrs["params"], t.user_attrs["flops"]]
        assert np.isfinite(t.user_attrs["psnr_val"]) and t.user_attrs["params"] > 0
    families = [c["family"] for c in configs]
    assert len(set(families)) >= 2, f"one family only ({families}): pick another SEARCH_SEED"
    assert any(c.get("pa_after", 0) > 0 for c in configs), f"no pyramid attention in {configs}"
