"""nas_sr.data: image sets, bundled photos and the patch bank."""

from __future__ import annotations

import socket
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from nas_sr.data import (
    BUNDLED_TRAIN, BUNDLED_VAL, ImageError, ImageSet, bundled_images, load_bundled, load_folder,
    load_paired,
)
from nas_sr.data.patches import PatchBank
from nas_sr.protocol import luma, make_lr, mod_crop

RNG = np.random.default_rng(1234)


def noise(h: int, w: int, channels: int = 3) -> np.ndarray:
    shape = (h, w, channels) if channels > 1 else (h, w)
    return RNG.integers(0, 256, shape, dtype=np.uint8)


def save(path: Path, array: np.ndarray) -> Path:
    Image.fromarray(array).save(path)
    return path


# --- image sets ------------------------------------------------------------------------------


def test_folder_loads_rgb_grey_16bit_and_rgba(tmp_path: Path) -> None:
    save(tmp_path / "a_rgb.png", noise(40, 30))
    save(tmp_path / "b_grey.png", noise(32, 32, 1))
    save(tmp_path / "c_rgba.png", np.dstack([noise(20, 24), np.full((20, 24), 128, np.uint8)]))
    Image.fromarray(np.full((16, 18), 65535, np.uint16)).save(tmp_path / "d_16bit.png")
    (tmp_path / "notes.txt").write_text("not an image")

    images = load_folder(tmp_path)

    assert isinstance(images, ImageSet) and images.name == tmp_path.name and images.lr is None
    assert images.names == ("a_rgb", "b_grey", "c_rgba", "d_16bit")
    shapes = [image.shape for _, image in images]
    assert shapes == [(40, 30, 3), (32, 32), (20, 24, 3), (16, 18)]
    assert all(image.dtype == np.uint8 for _, image in images)
    assert images[3][1].min() == 255  # 16-bit white stays white


def test_many_files_show_a_progress_bar(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    for i in range(21):
        save(tmp_path / f"{i:02d}.png", noise(8, 8))
    assert len(load_folder(tmp_path)) == 21
    assert "loading" in capsys.readouterr().err


def test_paired_folder_with_scale_suffix(tmp_path: Path) -> None:
    (tmp_path / "hr").mkdir()
    (tmp_path / "lr").mkdir()
    hr = noise(41, 50)  # odd height: mod-cropped to 40
    save(tmp_path / "hr" / "0001.png", hr)
    save(tmp_path / "lr" / "0001x2.png", make_lr(hr, 2, "rgb"))
    save(tmp_path / "hr" / "0002.png", noise(20, 20))
    save(tmp_path / "lr" / "0002.png", noise(10, 10))  # same-name partner

    pairs = load_paired(tmp_path / "hr", tmp_path / "lr", scale=2)

    assert pairs.names == ("0001", "0002") and pairs.lr is not None
    assert pairs[0][1].shape == (40, 50, 3) and np.array_equal(pairs[0][1], hr[:40])
    assert pairs.lr[0].shape == (20, 25, 3) and pairs.lr[1].shape == (10, 10, 3)


def one_line_error(call, *args, **kwargs) -> str:
    with pytest.raises(ImageError) as info:
        call(*args, **kwargs)
    message = str(info.value)
    assert isinstance(info.value, ValueError) and "\n" not in message
    return message


def test_paired_errors_name_the_files(tmp_path: Path) -> None:
    (tmp_path / "hr").mkdir()
    (tmp_path / "lr").mkdir()
    hr_file = save(tmp_path / "hr" / "0001.png", noise(40, 40))
    lr_file = save(tmp_path / "lr" / "0001x2.png", noise(19, 20))
    message = one_line_error(load_paired, tmp_path / "hr", tmp_path / "lr", scale=2)
    assert message.startswith(str(lr_file)) and str(hr_file) in message and "20x19" in message

    lr_file.rename(tmp_path / "lr" / "other.png")
    message = one_line_error(load_paired, tmp_path / "hr", tmp_path / "lr", scale=2)
    assert message.startswith(str(hr_file)) and "no LR partner" in message


def truncated_png(folder: Path) -> Path:
    path = save(folder / "cut.png", noise(64, 64))
    path.write_bytes(path.read_bytes()[:400])
    return path


def text_as_png(folder: Path) -> Path:
    (folder / "text.png").write_text("hello")
    return folder / "text.png"


@pytest.mark.parametrize(
    "make, kwargs, problem",
    [
        (lambda d: d / "missing", {}, "no such image folder"),
        (lambda d: d, {}, "no image files"),
        (truncated_png, {}, "not a readable image"),
        (text_as_png, {}, "not a readable image"),
        (lambda d: save(d / "tiny.png", noise(30, 40)), {"scale": 2, "patch_size": 16}, "smaller than the 32x32"),
        (lambda d: save(d / "dot.png", noise(1, 5)), {"scale": 3}, "smaller than the 3x3 needed for scale x3"),
    ],
    ids=["missing-folder", "empty-folder", "truncated", "text-as-png", "smaller-than-patch", "smaller-than-scale"],
)
def test_folder_errors_are_one_line_and_name_the_culprit(tmp_path: Path, make, kwargs, problem) -> None:
    culprit = make(tmp_path)  # the folder itself, or a bad file in it
    folder = culprit if culprit.is_dir() or not culprit.exists() else culprit.parent
    message = one_line_error(load_folder, folder, **kwargs)
    assert message.startswith(f"{culprit}: ") and problem in message


# --- bundled photos ----------------------------------------------------------------------------


def test_bundled_photos_load_without_network(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_network(*args, **kwargs):
        raise AssertionError("bundled images must not touch the network")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    monkeypatch.setattr(socket, "create_connection", no_network)
    train, val = bundled_images("train"), bundled_images("val")

    assert [name for name, _ in val] == list(BUNDLED_VAL) == ["chelsea", "coffee"]
    assert [name for name, _ in train] == list(BUNDLED_TRAIN)
    assert len(train) == 6 and not set(BUNDLED_TRAIN) & set(BUNDLED_VAL)
    for _, image in train + val:
        assert image.dtype == np.uint8 and image.ndim in (2, 3) and min(image.shape[:2]) >= 256
        assert image.ndim == 2 or image.shape[2] == 3
    assert load_bundled("val", scale=4, patch_size=48).name == "bundled-val"
    with pytest.raises(ValueError, match="'train' or 'val'"):
        bundled_images("test")  # type: ignore[arg-type]


# --- patch bank --------------------------------------------------------------------------------


def find(haystack: np.ndarray, needle: np.ndarray) -> list[tuple[int, int]]:
    """Every (y, x) where ``needle`` (hxwxC) occurs in ``haystack`` (HxWxC)."""
    h, w = needle.shape[:2]
    windows = np.lib.stride_tricks.sliding_window_view(haystack, (h, w), axis=(0, 1))
    hits = np.all(windows == np.moveaxis(needle, 2, 0)[None, None], axis=(2, 3, 4))
    return [tuple(map(int, yx)) for yx in np.argwhere(hits)]


def as_uint8(patches: torch.Tensor) -> np.ndarray:
    return np.rint(patches.permute(0, 2, 3, 1).numpy() * 255).astype(np.uint8)


@pytest.mark.parametrize("color, channels", [("y", 1), ("rgb", 3)])
@pytest.mark.parametrize("grey", [False, True], ids=["rgb-image", "grey-image"])
def test_patches_are_protocol_lr_aligned_with_hr_crops(color, channels, grey) -> None:
    scale, p = 3, 6
    image = noise(50, 61, 1 if grey else 3)  # 61 -> mod-cropped to 60
    bank = PatchBank.from_images([("noise", image)], scale, p, color, count=12, seed=0)

    assert bank.lr.shape == (12, channels, p, p) and bank.hr.shape == (12, channels, 18, 18)
    assert bank.lr.dtype == bank.hr.dtype == torch.float32 and bank.scale == scale
    assert 0 <= bank.lr.min() and bank.hr.max() <= 1
    lr_full = make_lr(image, scale, color)
    lr_full = lr_full[:, :, None] if lr_full.ndim == 2 else lr_full
    hr_full = mod_crop(image, scale)
    hr_full = luma(hr_full, "uint8")[:, :, None] if color == "y" else hr_full
    hr_full = np.repeat(hr_full[:, :, None], 3, axis=2) if hr_full.ndim == 2 else hr_full
    for lr, hr in zip(as_uint8(bank.lr), as_uint8(bank.hr)):
        [(y, x)] = find(hr_full, hr)  # noise: each HR patch occurs once
        assert y % scale == 0 and x % scale == 0
        assert np.array_equal(lr, lr_full[y // scale : y // scale + p, x // scale : x // scale + p])


def test_paired_lr_images_replace_the_degradation() -> None:
    hr = noise(40, 40)
    lr = noise(20, 20)  # unrelated to hr: only the given LR can produce these patches
    bank = PatchBank.from_images([("pair", hr)], 2, 5, "rgb", count=8, seed=3, lr_images=[lr])
    for lr_patch, hr_patch in zip(as_uint8(bank.lr), as_uint8(bank.hr)):
        [(y, x)] = find(hr, hr_patch)
        assert np.array_equal(lr_patch, lr[y // 2 : y // 2 + 5, x // 2 : x // 2 + 5])


def test_banks_and_batches_are_seeded() -> None:
    images = [("a", noise(64, 64)), ("b", noise(48, 80, 1))]
    make = lambda seed: PatchBank.from_images(images, 2, 8, "y", count=32, seed=seed)  # noqa: E731
    one, same, other = make(7), make(7), make(8)
    assert torch.equal(one.lr, same.lr) and torch.equal(one.hr, same.hr)
    assert not torch.equal(one.hr, other.hr)

    batch = lambda seed: one.batch(16, torch.Generator().manual_seed(seed))  # noqa: E731
    (lr1, hr1), (lr2, hr2), (lr3, _) = batch(5), batch(5), batch(6)
    assert torch.equal(lr1, lr2) and torch.equal(hr1, hr2) and not torch.equal(lr1, lr3)


def test_flips_and_rotations_keep_lr_and_hr_aligned() -> None:
    # HR = nearest-neighbour upscaling of LR commutes with every flip and 90-degree turn, so it
    # stays exact only if LR and HR are transformed identically.
    lr = torch.rand(4, 3, 5, 5, generator=torch.Generator().manual_seed(0))
    hr = lr.repeat_interleave(2, -1).repeat_interleave(2, -2)
    bank = PatchBank(lr, hr)
    lr_b, hr_b = bank.batch(400, torch.Generator().manual_seed(1))
    assert torch.equal(hr_b, lr_b.repeat_interleave(2, -1).repeat_interleave(2, -2))

    variants = set()
    for patch in lr_b:  # each is one of the 8 symmetries of a bank patch, and all 8 occur
        found = [(i, k, f) for i in range(4) for k in range(4) for f in (False, True)
                 if torch.equal(patch, torch.rot90(lr[i].flip(-1) if f else lr[i], k, (-2, -1)))]
        assert len(found) == 1
        variants.add(found[0][1:])
    assert len(variants) == 8


def test_images_are_sampled_by_area() -> None:
    small, large = np.full((32, 32), 10, np.uint8), np.full((64, 64), 200, np.uint8)
    bank = PatchBank.from_images([("small", small), ("large", large)], 2, 4, "y", count=2000, seed=0)
    share_large = (bank.lr[:, 0, 0, 0] > 0.5).float().mean().item()
    assert abs(share_large - 0.8) < 0.04


def test_bank_errors_name_the_image() -> None:
    with pytest.raises(ImageError, match=r"^small: image is 40x20, smaller than the 24x24"):
        PatchBank.from_images([("ok", noise(64, 64)), ("small", noise(20, 40))], 2, 12, "rgb", 4, 0)
    with pytest.raises(ValueError, match="color must be"):
        PatchBank.from_images([("ok", noise(64, 64))], 2, 12, "ycbcr", 4, 0)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="no images"):
        PatchBank.from_images([], 2, 12, "y", 4, 0)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_bank_on_cuda_matches_the_cpu_bank() -> None:
    images = [("a", noise(64, 64))]
    cpu = PatchBank.from_images(images, 2, 8, "rgb", 16, seed=0)
    gpu = PatchBank.from_images(images, 2, 8, "rgb", 16, seed=0, device="cuda")
    assert gpu.lr.is_cuda and torch.equal(gpu.hr.cpu(), cpu.hr)
    lr, hr = gpu.batch(8, torch.Generator().manual_seed(0))
    assert lr.is_cuda and torch.equal(hr.cpu(), cpu.batch(8, torch.Generator().manual_seed(0))[1])
    lr, hr = gpu.batch(8, torch.Generator("cuda").manual_seed(0))
    assert lr.is_cuda and hr.shape == (8, 3, 16, 16)


# --- shared data sets --------------------------------------------------------------------------


@pytest.mark.shared
def test_t91_and_set14_load(shared: Path) -> None:
    t91 = shared / "datasets" / "T91"
    if not t91.is_dir():
        pytest.skip(f"{t91} not found")
    images = load_folder(t91, scale=4)
    assert len(images) == 91 and all(image.ndim == 3 for _, image in images)
    set14 = dict(load_folder(shared / "datasets" / "Set14"))
    assert len(set14) == 14 and set14["bridge"].ndim == 2
