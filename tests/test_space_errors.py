"""Malformed search-space files: one-line errors naming the file, the field and the bad value."""

from __future__ import annotations

from pathlib import Path

import pytest

from nas_sr.cli import main
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


@pytest.fixture(params=CASES, ids=[case[0] for case in CASES])
def bad_file(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[Path, list[str]]:
    name, text, fragments = request.param
    path = tmp_path / f"{name}.yaml"
    if isinstance(text, bytes):
        path.write_bytes(text)
    elif text is not None:
        path.write_text(text, encoding="utf-8")
    return path, fragments


def test_enough_cases() -> None:
    assert len(CASES) >= 20 and len({case[0] for case in CASES}) == len(CASES)


def test_load_space_names_file_field_and_value(bad_file: tuple[Path, list[str]]) -> None:
    path, fragments = bad_file
    with pytest.raises(SpaceError) as info:
        load_space(path)
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(f"{path}:")
    for fragment in fragments:
        assert fragment in message


def test_cli_prints_one_line_and_exits_2(bad_file: tuple[Path, list[str]], capsys: pytest.CaptureFixture[str]) -> None:
    path, fragments = bad_file
    assert main(["space", "show", str(path)]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.endswith("\n") and err.count("\n") == 1 and "Traceback" not in err
    assert err.startswith(f"nas-sr space: error: {path}:") and fragments[0] in err


def test_from_dict_names_its_source() -> None:
    from nas_sr.space import SearchSpace

    with pytest.raises(SpaceError, match=r"^my-space: branches\[0\]\.family: unknown model family"):
        SearchSpace.from_dict({"name": "t", "scales": [2], "branches": [{"family": "nope"}]}, source="my-space")
