"""Data: splits, label rules (dense folders vs sparse projects), patches, augmentation."""

from __future__ import annotations

import numpy as np
import pytest

from matlab_gui.errors import DataError
from matlab_gui.imaging.display import equalise_histogram
from matlab_gui.ml import splits
from matlab_gui.ml.augment import DEFAULT_AUGMENT, Augmenter
from matlab_gui.ml.data import (
    LabelRule,
    PatchDataset,
    PreparedImage,
    label_counts,
    mean_intensity,
)
from matlab_gui.ml.losses import IGNORE_INDEX
from matlab_gui.ml.synthetic import standardise

ODD_STEMS = ["a#1 (2)", "SE_15kv_50kx_precip - untested-2_0", "plain", "x.y"]


def test_split_csv_keeps_odd_stems_and_normalises_names(tmp_path):
    path = tmp_path / "files.csv"
    rows = ["stem,split,other"] + [f'"{s}",{sp},1' for s, sp in
                                   zip(ODD_STEMS, ["train", "validation", "test", "different_test"], strict=True)]
    path.write_text("\n".join(rows))
    assert splits.read_splits([path]) == {
        "a#1 (2)": "train", "SE_15kv_50kx_precip - untested-2_0": "val", "plain": "test",
        "x.y": "different_test",
    }


def test_split_csv_without_columns_is_a_data_error(tmp_path):
    (tmp_path / "bad.csv").write_text("stem,cv_fold\na,0\n")
    with pytest.raises(DataError, match="stem` and `split"):
        splits.read_split_csv(tmp_path / "bad.csv")


def test_stem_lists_name_their_split(tmp_path):
    (tmp_path / "train16A.txt").write_text("uhcs0007.tif\nuhcs0599.tif\n")
    (tmp_path / "validate4A.txt").write_text("uhcs0477.tif\n")
    (tmp_path / "test4A.txt").write_text("a#1 (2).png\n\n")
    assignment = splits.read_splits(sorted(tmp_path.glob("*.txt")))
    assert assignment == {"uhcs0007": "train", "uhcs0599": "train", "uhcs0477": "val", "a#1 (2)": "test"}
    with pytest.raises(DataError, match="train, val or test"):
        splits.split_name_from_list_file(tmp_path / "fold3.txt")


def test_split_entries_find_class_folder_images_by_path_or_unique_name():
    keys = ["train/CRACK/7.jpg", "train/CLEAN/7.jpg", "test/CRACK/12.jpg", "a#1 (2)"]
    assignment = {"train/CRACK/7": "val", "7": "train", "12": "test", "a#1 (2)": "train", "zz": "test"}
    # `7` names two images (ambiguous, left out); `12` one; paths match exactly.
    assert splits.match_to_keys(assignment, keys) == {
        "train/CRACK/7.jpg": "val", "test/CRACK/12.jpg": "test", "a#1 (2)": "train"}
    assert splits.stem_of("train\\CRACK\\7.JPG") == "train/CRACK/7"


def test_random_split_is_seeded_and_complete():
    stems = [f"s{i}" for i in range(20)]
    a = splits.random_split(stems, seed=1)
    assert a == splits.random_split(list(reversed(stems)), seed=1)
    assert a != splits.random_split(stems, seed=2)
    assert [len(splits.stems_in(a, s)) for s in splits.SPLITS] == [14, 3, 3]
    assert [len(splits.stems_in(splits.random_split(stems[:6]), s)) for s in splits.SPLITS] == [4, 1, 1]
    assert [len(splits.stems_in(splits.random_split(stems[:3]), s)) for s in splits.SPLITS] == [3, 0, 0]


def test_stratified_split_keeps_class_shares():
    labels = {f"a{i}": "a" for i in range(20)} | {f"b{i}": "b" for i in range(40)}
    assignment = splits.stratified_split(labels, seed=3)
    for split, share in zip(splits.SPLITS, (0.7, 0.15, 0.15), strict=True):
        chosen = splits.stems_in(assignment, split)
        assert sum(s.startswith("a") for s in chosen) == round(20 * share)
        assert sum(s.startswith("b") for s in chosen) == round(40 * share)


def test_dense_rule_keeps_every_value_a_class():
    mask = np.array([[0, 1], [2, 0]], np.uint8)
    np.testing.assert_array_equal(LabelRule.dense(3).to_target(mask), mask)
    with pytest.raises(DataError, match=r"\[2\]"):
        LabelRule.dense(2).to_target(mask, "m")


def test_sparse_rule_ignores_zero_and_maps_class_k_to_k_minus_1():
    mask = np.array([[0, 1], [2, 3]], np.uint8)
    expected = [[IGNORE_INDEX, 0], [1, 2]]
    np.testing.assert_array_equal(LabelRule.sparse([1, 2, 3]).to_target(mask), expected)
    # project class indices need not be contiguous: model class = place in the list
    gappy = np.array([[0, 5], [2, 5]], np.uint8)
    np.testing.assert_array_equal(LabelRule.sparse([2, 5]).to_target(gappy), [[IGNORE_INDEX, 1], [0, 1]])


def _prepared(h, w, sparse=False, stem="p"):
    image = np.arange(h * w, dtype=np.float32).reshape(h, w)
    target = (np.arange(h * w).reshape(h, w) % 3).astype(np.int64)
    if sparse:
        target[:] = IGNORE_INDEX
        target[h - 2, w - 2] = 1
    return PreparedImage(stem, image, target, standardise)


def test_patches_are_reproducible_and_small_images_are_padded():
    ds = PatchDataset([_prepared(10, 40), _prepared(64, 64)], patch=32, length=6, seed=7)
    first = [ds[i] for i in range(6)]
    again = [ds[i] for i in range(6)]
    assert all((a[0] == b[0]).all() and (a[1] == b[1]).all() for a, b in zip(first, again, strict=True))
    assert all(x.shape == (1, 32, 32) and y.shape == (32, 32) for x, y in first)
    ds.set_epoch(1)
    assert any(not (a[0] == ds[i][0]).all() for i, a in enumerate(first))
    small = PatchDataset([_prepared(10, 40)], patch=32, length=1)[0][1]
    assert (small[10:] == IGNORE_INDEX).all() and (small[:10] != IGNORE_INDEX).all()


def test_sparse_patches_always_contain_the_scribble():
    ds = PatchDataset([_prepared(200, 300, sparse=True)], patch=32, length=20)
    assert all((ds[i][1] == 1).sum() == 1 for i in range(20))


def test_label_counts_skip_ignored_pixels():
    counts = label_counts([_prepared(3, 3), _prepared(4, 4, sparse=True)], 3)
    assert counts.tolist() == [3, 3 + 1, 3]


def test_geometry_moves_image_and_mask_together():
    rng = np.random.default_rng(0)
    mask = rng.integers(0, 4, (16, 16))
    image = np.stack([mask, mask * 2]).astype(np.float32)
    geometric_only = {k: 0.0 for k in DEFAULT_AUGMENT} | {"hflip": 0.5, "vflip": 0.5, "rot90": 0.5}
    augment = Augmenter(geometric_only)
    changed = 0
    for seed in range(12):
        x, m = augment(image, mask, np.random.default_rng(seed))
        np.testing.assert_array_equal(x[0], m)
        np.testing.assert_array_equal(x[1], 2 * m)
        changed += not np.array_equal(m, mask)
    assert changed > 6


def test_affine_and_photometry_keep_mask_values_and_shapes():
    mask = np.zeros((32, 32), np.int64)
    mask[8:24, 8:24] = 2
    image = np.random.default_rng(1).normal(size=(3, 32, 32)).astype(np.float32)
    x, m = Augmenter({"affine": 0.2, "noise": 0.1, "blur_sharpen": 1.0})(image, mask, np.random.default_rng(2))
    assert x.shape == image.shape and x.dtype == np.float32 and m.shape == mask.shape
    assert set(np.unique(m)) <= {0, 2, IGNORE_INDEX}
    with pytest.raises(ValueError, match="unknown"):
        Augmenter({"cutmix": 1.0})


def test_histogram_equalisation_keeps_dtype_and_spreads_values():
    image = np.array([[100, 100], [101, 102]], np.uint16)
    out = equalise_histogram(image)
    assert out.dtype == np.uint16 and out.max() == 65535 and out.min() < out.max()
    rgb = np.dstack([image.astype(np.uint8)] * 3)
    assert equalise_histogram(rgb).shape == rgb.shape


def test_mean_intensity_is_bit_depth_independent():
    assert mean_intensity(np.full((4, 4), 255, np.uint8)) == 1.0
    assert mean_intensity(np.full((4, 4), 32768, np.uint16)) == pytest.approx(0.5, abs=1e-4)


def test_project_images_with_the_same_file_name_train_as_two(tmp_path):
    """Two painted `uhcs0006.tif` from different folders are two training images, not one."""
    from matlab_gui.ml.data import ProjectSegmentation
    from matlab_gui.project import ClassDef, Project

    with Project.create(tmp_path / "p.mgp", [ClassDef(1, "a", (1, 1, 1)), ClassDef(2, "b", (2, 2, 2))]) as p:
        ids = []
        for k, folder in enumerate(("a", "b")):
            image_id = p.add_image(f"{folder}/uhcs0006.tif", data=np.full((16, 16), k, np.uint8))
            p.set_mask(image_id, np.full((16, 16), k + 1, np.uint8))
            ids.append(image_id)
        source = ProjectSegmentation(p)
        assert sorted(source.stems) == sorted(ids)
        loaded = {int(source.load(key)[1][0, 0]) for key in source.stems}
        assert loaded == {1, 2}


def _rare_phase_image() -> PreparedImage:
    """A dense 256x256 mask whose class 2 is one 4x4 grain (0.02 % of the pixels)."""
    target = np.zeros((256, 256), np.int64)
    target[:, 128:] = 1
    target[200:204, 30:34] = 2
    image = target.astype(np.float32)
    return PreparedImage("rare", image, target, lambda a: np.asarray(a, np.float32)[None])


def _share_with_class(dataset, value: int) -> float:
    return np.mean([(dataset[i][1] == value).any().item() for i in range(len(dataset))])


def test_the_train_default_shows_a_rare_phase_in_many_patches():
    from matlab_gui.jobs.train import CLASS_CENTRED

    rare = _rare_phase_image()
    default = PatchDataset([rare], patch=32, length=300, seed=1, class_centred=CLASS_CENTRED)
    uniform = PatchDataset([rare], patch=32, length=300, seed=1)
    # half the patches centre on one of the 3 classes: one in six on the grain, against ~1 %
    # of uniform crops
    assert _share_with_class(default, 2) > 0.14
    assert _share_with_class(uniform, 2) < 0.05
    # the matrix and the second phase are still seen in most patches
    assert _share_with_class(default, 0) > 0.4 and _share_with_class(default, 1) > 0.4


def test_class_centred_patches_follow_scribbles_of_every_class():
    target = np.full((300, 300), IGNORE_INDEX, np.int64)
    target[10, 10:200] = 0  # a long stroke of class 0 ...
    target[280, 290] = 1  # ... and one dab of class 1
    item = PreparedImage("s", target.astype(np.float32), target,
                         lambda a: np.asarray(a, np.float32)[None])
    ds = PatchDataset([item], patch=32, length=200, seed=2, class_centred=1.0)
    labelled = [ds[i][1] for i in range(200)]
    assert all((t != IGNORE_INDEX).any() for t in labelled)
    assert 0.3 < np.mean([(t == 1).any().item() for t in labelled]) < 0.7


def test_class_centred_patches_come_from_every_image_holding_the_class():
    def item(value: float) -> PreparedImage:
        target = np.zeros((64, 64), np.int64)
        target[20:30, 20:30] = 1
        return PreparedImage(str(value), np.full((64, 64), value, np.float32), target,
                             lambda a: np.asarray(a, np.float32)[None])

    ds = PatchDataset([item(0.0), item(5.0)], patch=16, length=100, seed=3, class_centred=1.0)
    from_second = np.mean([(ds[i][0] == 5.0).all().item() for i in range(100)])
    assert 0.3 < from_second < 0.7
