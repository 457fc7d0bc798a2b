"""Malformed search-space files: one-line errors naming the file, the field and the bad value.

The catalogue (``CASES``, then ``MORE_CASES``) is checked through ``load_space`` and through
``nas-sr space show``; random YAML trees in the shape of a space file either load or fail with a
:class:`SpaceError`, never anything else.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nas_sr.space import SpaceError, load_space

GOOD_BRANCH = "  - family: esr-max\n    params: {kernel_size: [3, 5], channels: {low: 1, high: 4}}\n"


def doc(params: str = "{kernel_size: [3, 5], channels: {low: 1, high: 4}}", family: str = "esr-max",
        top: str = "scales: [2]\n") -> str:
    """A search space of one branch, with the given params, family and top-level lines."""
    return f"name: t\n{top}branches:\n  - family: {family}\n    params: {params}\n"


# (id, file text or None for no file, fragments the message must contain: field path, bad value, ...)
CASES = [
    ("unknown-family", doc(family="esr-maxx"), ["branches[0].family: unknown model family", "'esr-maxx'",
                                                "esr-max, esr-tm"]),
    ("unknown-top-key", doc(top="scales: [2]\ncolour: y\n"), ["colour: unknown key", "'y'", "color"]),
    ("unknown-branch-key", doc() + "    size: 3\n", ["branches[0].size: unknown key", "(got 3)"]),
    ("unknown-hyperparameter", doc("{kernel_size: [3], channel: 4}"),
     ["branches[0].params.channel: not a hyper-parameter of esr-max", "(got 4)", "kernel_size, channels"]),
    ("missing-hyperparameter", doc("{kernel_size: [3]}"), ["branches[0].params: missing channels",
                                                           "{'kernel_size': [3]}"]),
    ("empty-list", doc("{kernel_size: [3], channels: []}"), ["branches[0].params.channels: empty list (got [])"]),
    ("low-above-high", doc("{kernel_size: [3], channels: {low: 5, high: 1}}"),
     ["branches[0].params.channels: low > high", "{'low': 5, 'high': 1}"]),
    ("step-zero", doc("{kernel_size: [3], channels: {low: 1, high: 4, step: 0}}"),
     ["branches[0].params.channels.step", "(got 0)"]),
    ("log-low-zero", doc("{width1: {low: 0, high: 8, log: true}, width2: 3}", family="espcn"),
     ["branches[0].params.width1.low: log needs low >= 1", "(got 0)"]),
    ("log-with-step", doc("{kernel_size: [3], channels: {low: 1, high: 9, step: 2, log: true}}"),
     ["branches[0].params.channels: log cannot be combined with a step", "'step': 2"]),
    ("step-not-dividing", doc("{kernel_size: [3], channels: {low: 1, high: 16, step: 4}}"),
     ["branches[0].params.channels: high - low must be a multiple of step", "'high': 16"]),
    ("range-unknown-key", doc("{kernel_size: [3], channels: {low: 1, hi: 4}}"),
     ["branches[0].params.channels.hi: unknown key", "(got 4)"]),
    ("range-missing-high", doc("{kernel_size: [3], channels: {low: 1}}"),
     ["branches[0].params.channels.high: missing required key"]),
    ("range-of-bool", doc("{trainable: {low: 0, high: 1}}", family="bicubic"),
     ["branches[0].params.trainable: a range needs an int or float", "{'low': 0, 'high': 1}"]),
    ("string-for-int", doc("{kernel_size: [3], channels: three}"),
     ["branches[0].params.channels: expected an int", "'three'"]),
    ("float-for-int", doc("{kernel_size: [3], channels: 2.5}"), ["branches[0].params.channels", "(got 2.5)"]),
    ("bool-for-int", doc("{kernel_size: [3], channels: true}"),
     ["branches[0].params.channels: expected an int, not a bool", "(got True)"]),
    ("int-for-bool", doc("{trainable: 1}", family="bicubic"),
     ["branches[0].params.trainable: expected a bool", "(got 1)"]),
    ("nested-list", doc("{kernel_size: [3, [5]], channels: 2}"),
     ["branches[0].params.kernel_size[1]: expected an int", "[5]"]),
    ("below-minimum", doc("{kernel_size: [3], channels: 0}"),
     ["branches[0].params.channels: below the minimum 1", "(got 0)"]),
    ("range-below-minimum", doc("{width1: {low: -1, high: 4}, width2: 3}", family="espcn"),
     ["branches[0].params.width1.low: below the minimum 0", "(got -1)"]),
    ("duplicate-value", doc("{kernel_size: [3, 5, 3], channels: 2}"),
     ["branches[0].params.kernel_size[2]: duplicate value", "(got 3)"]),
    ("even-kernel-size", doc("{kernel_size: [3, 4], channels: 2}"),
     ["branches[0].params: esr-max: kernel_size=4 must be odd", "'kernel_size': 4"]),
    ("duplicate-branch-name", doc() + GOOD_BRANCH, ["branches[1].name: duplicate branch name (also branches[0]", "'esr-max'"]),
    ("bad-branch-name", doc() + "    name: my branch\n", ["branches[0].name", "'my branch'"]),
    ("branch-not-mapping", "name: t\nscales: [2]\nbranches: [bicubic]\n",
     ["branches[0]: input should be a valid mapping", "'bicubic'"]),
    ("family-not-string", doc(family="3"), ["branches[0].family", "(got 3)"]),
    ("non-string-key", doc("{1: 2}"), ["branches[0].params.1: keys must be strings", "(got 1)"]),
    ("params-not-mapping", doc("[3, 5]"), ["branches[0].params: input should be a valid mapping", "[3, 5]"]),
    ("unsupported-scale", doc(top="scales: [2, 8]\n"), ["scales: esr-max (branches[0]) has no scale 8", "[2, 8]"]),
    ("string-scale", doc(top="scales: ['2']\n"), ["scales[0]: input should be a valid integer", "'2'"]),
    ("duplicate-scale", doc(top="scales: [2, 2]\n"), ["scales: duplicate scales", "[2, 2]"]),
    ("scales-not-list", doc(top="scales: 2\n"), ["scales: input should be a valid list", "(got 2)"]),
    ("unknown-color", doc(top="scales: [2]\ncolor: yuv\n"), ["color: input should be 'y' or 'rgb'", "'yuv'"]),
    ("empty-branches", "name: t\nscales: [2]\nbranches: []\n", ["branches: list should have at least 1 item",
                                                               "(got [])"]),
    ("missing-branches", "name: t\nscales: [2]\n", ["branches: missing required key"]),
    ("missing-name", "scales: [2]\nbranches:\n" + GOOD_BRANCH, ["name: missing required key"]),
    ("top-level-list", "- 1\n- 2\n", ["top level: input should be a valid mapping", "[1, 2]"]),
    ("top-level-scalar", "just text\n", ["top level", "'just text'"]),
    ("empty-file", "", ["empty file"]),
    ("comments-only", "# nothing here\n", ["empty file"]),
    ("yaml-syntax", "name: t\nscales: [2\nbranches: []\n", [":3:9: invalid YAML", "expected ',' or ']'"]),
    ("yaml-bad-indent", "name: t\nscales: [2]\nbranches:\n  - family: esr-max\n   params: {}\n",
     [":5:4: invalid YAML"]),
    ("yaml-tab", "name: t\n\tscales: [2]\n", [":2:1: invalid YAML", "'\\t'"]),
    ("yaml-python-tag", "!!python/object/apply:os.system [echo hi]\n",
     [":1:1: invalid YAML", "python/object/apply:os.system"]),
    ("not-utf8", b"name: \xff\n", ["not UTF-8 text"]),
    ("no-such-file", None, ["no such file"]),
]



EMT = "{dim: 60, num_heads: 4}"
BOMB = "".join(f"{b}: &{b} [{', '.join([f'*{a}'] * 10)}]\n" for a, b in zip("abcdefg", "bcdefgh"))
# More cases: family rules, floats, YAML features, sizes (fragments as in CASES).
MORE_CASES = [
    ("emt-width-not-divisible-by-heads", doc(EMT, family="emt", top="scales: [2]\ncolor: rgb\n"),
     ["branches[0].params: emt: dim=60 must be divisible by 2*num_heads=8", "'num_heads': 4"]),
    ("emt-width-list-vs-heads", doc("{dim: [30, 60, 90], num_heads: [1, 2]}", family="emt",
                                    top="scales: [2]\ncolor: rgb\n"),
     ["branches[0].params: emt: dim=30 must be divisible by 2*num_heads=4", "'dim': 30", "'num_heads': 2"]),
    ("emt-in-y", doc("{dim: 60}", family="emt"), ["color: emt (branches[0]) works in rgb only", "'y'"]),
    ("emt-mlp-nan", doc("{mlp_ratio: .nan}", family="emt", top="scales: [2]\ncolor: rgb\n"),
     ["branches[0].params.mlp_ratio: expected a finite float", "nan"]),
    ("emt-mlp-inf", doc("{mlp_ratio: [2.0, .inf]}", family="emt", top="scales: [2]\ncolor: rgb\n"),
     ["branches[0].params.mlp_ratio[1]: expected a finite float", "inf"]),
    ("emt-mlp-string-exponent", doc("{mlp_ratio: 1e-3}", family="emt", top="scales: [2]\ncolor: rgb\n"),
     ["branches[0].params.mlp_ratio: expected a float (YAML reads 1e-3 as a string", "'1e-3'"]),
    ("hitsr-unknown-variant", doc("{variant: [sir, big]}", family="hitsr", top="scales: [2]\ncolor: rgb\n"),
     ["branches[0].params: hitsr: variant='big' is not one of sir, sng, srf", "'variant': 'big'"]),
    ("hitsr-bad-window-ratios", doc("{window_ratios: 'a,b'}", family="hitsr", top="scales: [2]\ncolor: rgb\n"),
     ["hitsr: window_ratios='a,b' must be comma-separated numbers", "'window_ratios': 'a,b'"]),
    ("hitsr-heads-vs-width", doc("{embed_dim: 60, num_heads: 4}", family="hitsr", top="scales: [2]\ncolor: rgb\n"),
     ["hitsr: embed_dim=60 must be divisible by 2*num_heads=8", "'num_heads': 4"]),
    ("hitsr-narrow", doc("{embed_dim: 8, num_heads: 1}", family="hitsr", top="scales: [2]\ncolor: rgb\n"),
     ["hitsr: embed_dim=8 must be at least 16", "'embed_dim': 8"]),
    ("vapsr-unknown-norm", doc("{norm: batch}", family="vapsr", top="scales: [2]\ncolor: rgb\n"),
     ["vapsr: norm='batch' is not one of", "'norm': 'batch'"]),
    ("vapsr-groups-vs-width", doc("{num_feat: 48, conv_groups: 5}", family="vapsr", top="scales: [2]\ncolor: rgb\n"),
     ["vapsr: num_feat=48 is not divisible by conv_groups=5", "'conv_groups': 5"]),
    ("vapsr-even-kernel", doc("{atten_kernel: [5, 6]}", family="vapsr", top="scales: [2]\ncolor: rgb\n"),
     ["vapsr: atten_kernel=6 must be odd", "'atten_kernel': 6"]),
    ("pan-odd-width", doc("{nf: 41}", family="pan", top="scales: [2]\ncolor: rgb\n"),
     ["pan: nf=41 must be even", "'nf': 41"]),
    ("pan-bad-scpa-kernel", doc("{scpa_kernel: 4}", family="pan", top="scales: [2]\ncolor: rgb\n"),
     ["pan: scpa_kernel=4 is not one of", "'scpa_kernel': 4"]),
    ("pa-after-beyond-body", doc("{nb: 4, pa_after: 9}", family="pan", top="scales: [2]\ncolor: rgb\n"),
     ["branches[0].params: pan:", "pa_after=9", "'pa_after': 9"]),
    ("pa-even-patch", doc("{pa_after: 1, pa_patch: 4}", family="pan", top="scales: [2]\ncolor: rgb\n"),
     ["pan: pa_patch=4 must be odd", "'pa_patch': 4"]),
    ("even-kernel-in-range", doc("{kernel_size: {low: 2, high: 4}, channels: 2}"),
     ["branches[0].params: esr-max: kernel_size=2 must be odd", "'kernel_size': 2"]),
    ("fsrcnn-zero-layers", doc("{features: 56, shrink: 12, mapping_layers: 0}", family="fsrcnn"),
     ["branches[0].params.mapping_layers: below the minimum 1", "(got 0)"]),
    ("float-step-for-int", doc("{kernel_size: [3], channels: {low: 1, high: 4, step: 0.5}}"),
     ["branches[0].params.channels.step: expected an int", "(got 0.5)"]),
    ("float-range-low-above-high", doc("{mlp_ratio: {low: 3.0, high: 1.0}}", family="emt",
                                       top="scales: [2]\ncolor: rgb\n"),
     ["branches[0].params.mlp_ratio: low > high", "'low': 3.0"]),
    ("float-step-not-dividing", doc("{mlp_ratio: {low: 1.0, high: 2.0, step: 0.3}}", family="emt",
                                    top="scales: [2]\ncolor: rgb\n"),
     ["branches[0].params.mlp_ratio: high - low must be a multiple of step", "'step': 0.3"]),
    ("float-log-low-zero", doc("{mlp_ratio: {low: 0.0, high: 2.0, log: true}}", family="emt",
                               top="scales: [2]\ncolor: rgb\n"),
     ["branches[0].params.mlp_ratio.low: log needs low > 0", "(got 0.0)"]),
    ("log-not-bool", doc("{kernel_size: [3], channels: {low: 1, high: 4, log: 'yes'}}"),
     ["branches[0].params.channels.log: input should be a valid boolean", "'yes'"]),
    ("string-for-bool", doc("{trainable: maybe}", family="bicubic"),
     ["branches[0].params.trainable: expected a bool", "'maybe'"]),
    ("int-for-string", doc("{variant: 3}", family="hitsr", top="scales: [2]\ncolor: rgb\n"),
     ["branches[0].params.variant: expected a str", "(got 3)"]),
    ("empty-name", "name: ''\nscales: [2]\nbranches:\n" + GOOD_BRANCH, ["name: string should have at least 1 character", "''"]),
    ("name-not-string", "name: [a]\nscales: [2]\nbranches:\n" + GOOD_BRANCH, ["name: input should be a valid string", "['a']"]),
    ("name-is-a-date", "name: 2024-01-01\nscales: [2]\nbranches:\n" + GOOD_BRANCH,
     ["name: input should be a valid string", "datetime.date(2024, 1, 1)"]),
    ("description-not-string", doc(top="scales: [2]\ndescription: {a: 1}\n"), ["description: input should be a valid string", "{'a': 1}"]),
    ("empty-scales", doc(top="scales: []\n"), ["scales: list should have at least 1 item", "(got [])"]),
    ("scale-zero", doc(top="scales: [0]\n"), ["scales: esr-max (branches[0]) has no scale 0", "[0]"]),
    ("float-scale", doc(top="scales: [2.0]\n"), ["scales[0]: input should be a valid integer", "2.0"]),
    ("bool-scale", doc(top="scales: [true]\n"), ["scales[0]: input should be a valid integer", "True"]),
    ("null-color", doc(top="scales: [2]\ncolor: null\n"), ["color: input should be 'y' or 'rgb'", "None"]),
    ("branches-mapping", "name: t\nscales: [2]\nbranches: {family: bicubic}\n", ["branches: input should be a valid list", "{'family': 'bicubic'}"]),
    ("unhashable-key", "name: t\nscales: [2]\nbranches:\n  - family: esr-max\n    params: {[1]: 2}\n", ["invalid YAML", "unhashable"]),
    ("duplicate-key", "name: t\nscales: [2]\nscales: [3]\nbranches: [{family: bicubic}]\n",
     [":3:1: invalid YAML: duplicate key 'scales' (first at line 2)"]),
    ("duplicate-hyperparameter", doc("{kernel_size: [3], channels: 2, channels: 4}"),
     [":5:45: invalid YAML: duplicate key 'channels' (first at line 5)"]),
    ("two-documents", "name: t\n---\nname: u\n", [":2:1: invalid YAML", "expected a single document"]),
    ("unknown-tag", "name: !custom t\n", [":1:7: invalid YAML", "!custom"]),
    ("python-name-tag", "name: !!python/name:os.system\n", [":1:7: invalid YAML", "python/name:os.system"]),
    ("python-object-tag", "!!python/object:collections.OrderedDict {}\n", [":1:1: invalid YAML", "python/object:collections.OrderedDict"]),
    ("deep-nesting", "name: " + "[" * 5000 + "]" * 5000 + "\n", ["invalid YAML: nested too deeply"]),
    ("alias-bomb", "a: &a [x, x, x, x, x, x, x, x, x, x]\n" + BOMB + "name: t\nscales: [2]\nbranches: *h\n",
     ["a: unknown key", "['x', 'x'"]),
    ("alias-bomb-in-params", "a: &a [x, x, x, x, x, x, x, x, x, x]\n" + BOMB, ["unknown key"]),
    ("binary-scale", "name: t\nscales: [!!binary aGVsbG8=]\nbranches:\n" + GOOD_BRANCH,
     ["scales[0]: input should be a valid integer", "b'hello'"]),
    ("a-folder", "<dir>", ["is a directory, not a search-space file"]),
    ("an-image", b"\x89PNG\r\n\x1a\n\x00\x00", ["not UTF-8 text"]),
]
ALL_CASES = CASES + MORE_CASES


@pytest.fixture(params=ALL_CASES, ids=[case[0] for case in ALL_CASES])
def bad_file(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[Path, list[str]]:
    name, text, fragments = request.param
    path = tmp_path / f"{name}.yaml"
    if text == "<dir>":
        path.mkdir()
    elif isinstance(text, bytes):
        path.write_bytes(text)
    elif text is not None:
        path.write_text(text, encoding="utf-8")
    return path, fragments


def test_enough_cases() -> None:
    assert len(ALL_CASES) >= 90 and len({case[0] for case in ALL_CASES}) == len(ALL_CASES)


def test_load_space_names_file_field_and_value(bad_file: tuple[Path, list[str]]) -> None:
    path, fragments = bad_file
    with pytest.raises(SpaceError) as info:
        load_space(path)
    message = str(info.value)
    assert "\n" not in message and len(message) < 600
    assert message.startswith(f"{path}:")
    for fragment in fragments:
        assert fragment in message


def test_cli_prints_one_line_and_exits_2(bad_file: tuple[Path, list[str]], bad_input) -> None:
    path, fragments = bad_file
    line = bad_input(["space", "show", str(path)], fragments)
    assert line.startswith(f"nas-sr space: error: {path}:")


def test_from_dict_names_its_source() -> None:
    from nas_sr.space import SearchSpace

    with pytest.raises(SpaceError, match=r"^my-space: branches\[0\]\.family: unknown model family"):
        SearchSpace.from_dict({"name": "t", "scales": [2], "branches": [{"family": "nope"}]}, source="my-space")


@pytest.mark.parametrize("argv, fragments", [
    (["--count"], ["branches[0].params.mlp_ratio: a continuous range cannot be counted", "1.0..2.0 continuous"]),
    (["--format", "json"], ["--format goes with --enumerate"]),
])
def test_space_show_options(bad_input, tmp_path: Path, argv: list[str], fragments: list[str]) -> None:
    path = tmp_path / "continuous.yaml"
    path.write_text(doc("{mlp_ratio: {low: 1.0, high: 2.0}}", family="emt", top="scales: [2]\ncolor: rgb\n"))
    bad_input(["space", "show", str(path), *argv], fragments)


# --- property-based: random trees in the shape of a space file -----------------------------------

def _names() -> list[str]:
    from nas_sr.models.registry import family_names, get_family

    keys = {k for f in family_names() for k in get_family(f).hyperparameters}
    return sorted(keys) + ["bogus"]


SCALAR = st.one_of(st.none(), st.booleans(), st.integers(-3, 70), st.floats(allow_nan=True, width=32),
                   st.text(max_size=6), st.sampled_from(["y", "rgb", "sir", "0.5,1,2", "layernorm", "1e-3"]))
TREE = st.recursive(SCALAR, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(
    st.one_of(st.text(max_size=6), st.integers(0, 3)), inner, max_size=3), max_leaves=8)
PARAM = st.one_of(SCALAR, st.lists(SCALAR, max_size=4), TREE, st.fixed_dictionaries(
    {"low": SCALAR, "high": SCALAR}, optional={"step": SCALAR, "log": SCALAR}))


@st.composite
def space_trees(draw: st.DrawFn) -> object:
    from nas_sr.models.registry import family_names

    branch = st.one_of(TREE, st.fixed_dictionaries(
        {"family": st.one_of(st.sampled_from(family_names()), SCALAR)},
        optional={"params": st.dictionaries(st.sampled_from(_names()), PARAM, max_size=4),
                  "name": st.one_of(st.text(max_size=5), SCALAR)}))
    top = st.fixed_dictionaries({}, optional={
        "name": st.one_of(st.just("t"), SCALAR), "description": SCALAR,
        "scales": st.one_of(st.lists(st.sampled_from([1, 2, 3, 4, 8, "2", 2.0]), max_size=3), TREE),
        "color": st.one_of(st.sampled_from(["y", "rgb"]), SCALAR),
        "branches": st.one_of(st.lists(branch, max_size=3), TREE),
        "colour": SCALAR})
    return draw(st.one_of(top, TREE))


_TMP = Path(tempfile.mkdtemp(prefix="nsr-space-trees-"))


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(tree=space_trees())
def test_random_space_trees_load_or_fail_cleanly(tree: object, tally) -> None:
    import yaml

    path = _TMP / "tree.yaml"
    path.write_text(yaml.safe_dump(tree, allow_unicode=True), encoding="utf-8")
    tally("example")
    try:
        space = load_space(path)
        finite = all(branch.size() is not None for branch in space.branches)
        assert space.summary().startswith(f"search space {space.name}")
        if finite:
            assert space.count() >= 1
    except SpaceError as exc:
        message = str(exc)
        assert "\n" not in message and message.startswith(f"{path}:"), message
    except BaseException:
        tally("traceback")
        raise
