"""Segmentation data (notes §3.5.1): PNG masks, the folder dataset and its bad inputs, the ISBI membrane split,
the synthetic shapes, centre-pixel patches with class-balanced sampling, mask-aware augmentation."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

import an2dl
from an2dl.data.masks import PALETTE, overlay_mask, read_mask, save_mask
from an2dl.data.patches import CenterPixelPatches
from an2dl.data.transforms import RandomAffine
from an2dl.errors import DataError, DataNotFoundError


def _folder(tmp_path, n=5, size=(12, 10), mask_kind="palette", k=3):
    rng = np.random.default_rng(0)
    (tmp_path / "images").mkdir(parents=True)
    (tmp_path / "masks").mkdir()
    masks = []
    for i in range(n):
        Image.fromarray((rng.random(size) * 255).astype(np.uint8)).save(tmp_path / "images" / f"im{i}.png")
        m = rng.integers(0, k, size)
        masks.append(m)
        if mask_kind == "palette":
            save_mask(tmp_path / "masks" / f"im{i}.png", torch.from_numpy(m))
        else:  # grey levels 0 / 255 mapped to classes
            Image.fromarray((m * 255).astype(np.uint8)).save(tmp_path / "masks" / f"im{i}.png")
    return masks


def test_palette_masks_round_trip_and_overlay():
    m = torch.tensor([[0, 1], [2, 3]])
    path = save_mask(__import__("tempfile").mkdtemp() + "/m.png", m)
    with Image.open(path) as im:
        assert im.mode == "P" and tuple(im.getpalette()[3:6]) == PALETTE[1]
    assert torch.equal(read_mask(path), m)
    over = overlay_mask(torch.full((1, 2, 2), 0.5), m, alpha=1.0)
    assert torch.equal(over[:, 0, 0], torch.full((3,), 0.5))  # background untouched
    assert torch.allclose(over[:, 0, 1], torch.tensor(PALETTE[1]) / 255.0)


def test_folder_dataset_reads_palette_and_mapped_grey_masks(tmp_path):
    masks = _folder(tmp_path / "p", n=10)
    data = an2dl.get_dataset("segmentation-folder", root=tmp_path / "p", class_names=["a", "b", "c"],
                             val_fraction=0.2, test_fraction=0.2)
    assert data.sizes() == {"train": 6, "val": 2, "test": 2}
    assert data.info.kind == "segmentation" and data.info.num_classes == 3 and data.info.input_shape == (1, 12, 10)
    x, m = data.train.tensors
    assert x.dtype == torch.float32 and m.dtype == torch.int64
    all_masks = torch.cat([d.tensors[1] for d in (data.train, data.val, data.test)])
    assert sorted(map(tuple, all_masks.flatten(1).tolist())) == sorted(map(tuple, (torch.from_numpy(np.stack(masks))
                                                                                     .flatten(1).tolist())))
    _folder(tmp_path / "g", n=4, mask_kind="grey", k=2)
    grey = an2dl.get_dataset("segmentation-folder", root=tmp_path / "g", mask_values={0: 1, 255: 0}, num_classes=2,
                             val_fraction=0.0, test_fraction=0.25, size=8)
    assert grey.train.tensors[0].shape[-2:] == (8, 8) and grey.info.preprocess["pipeline"][-1]["op"] == "resize"


def test_folder_dataset_bad_inputs_name_the_file_the_expectation_and_what_was_found(tmp_path):
    with pytest.raises(DataNotFoundError, match="images folder .* does not exist"):
        an2dl.get_dataset("segmentation-folder", root=tmp_path / "none")
    (tmp_path / "empty" / "images").mkdir(parents=True)
    (tmp_path / "empty" / "masks").mkdir()
    with pytest.raises(DataError, match="holds no image"):
        an2dl.get_dataset("segmentation-folder", root=tmp_path / "empty")

    _folder(tmp_path / "ids", n=3, k=3)
    with pytest.raises(DataError, match=r"mask im\d.png holds class ids \[2\] outside the 2 declared classes"):
        an2dl.get_dataset("segmentation-folder", root=tmp_path / "ids", num_classes=2)

    _folder(tmp_path / "jpg", n=3)
    (tmp_path / "jpg" / "masks" / "im1.png").rename(tmp_path / "jpg" / "masks" / "im1.jpg")
    with pytest.raises(DataError, match="the mask of im1.png is im1.jpg, not a PNG"):
        an2dl.get_dataset("segmentation-folder", root=tmp_path / "jpg")

    _folder(tmp_path / "size", n=3)
    save_mask(tmp_path / "size" / "masks" / "im2.png", torch.zeros(11, 10, dtype=torch.long))
    with pytest.raises(DataError, match="image im2.png is 10x12 but its mask im2.png is 10x11"):
        an2dl.get_dataset("segmentation-folder", root=tmp_path / "size")

    _folder(tmp_path / "lonely", n=3)
    (tmp_path / "lonely" / "masks" / "im0.png").unlink()
    with pytest.raises(DataError, match="image im0.png has no mask im0.png"):
        an2dl.get_dataset("segmentation-folder", root=tmp_path / "lonely")

    with pytest.raises(DataError, match="must be a PNG file"):
        read_mask(tmp_path / "mask.jpg")


def test_shapes_are_seeded_and_every_class_appears():
    a = an2dl.get_dataset("shapes-segmentation", n_train=16, n_val=0, n_test=4, size=32, seed=1)
    b = an2dl.get_dataset("shapes-segmentation", n_train=16, n_val=0, n_test=4, size=32, seed=1)
    assert torch.equal(a.train.tensors[0], b.train.tensors[0]) and a.val is None
    x, m = a.train.tensors
    assert x.shape == (16, 1, 32, 32) and 0 <= float(x.min()) and float(x.max()) <= 1
    assert set(m.unique().tolist()) == {0, 1, 2, 3}
    assert a.info.class_names == ["background", "circle", "square", "triangle"]
    c = an2dl.get_dataset("shapes-segmentation", n_train=16, n_val=0, n_test=4, size=32, seed=2)
    assert not torch.equal(a.train.tensors[0], c.train.tensors[0])


def test_membrane_is_split_by_position(tmp_path):
    from conftest import require_data

    root = require_data("membrane")
    data = an2dl.get_dataset("membrane", root=root, limit=2)
    assert data.sizes() == {"train": 2, "val": 2, "test": 2}
    assert data.info.class_names == ["cell", "membrane"] and data.info.input_shape == (1, 512, 512)
    assert data.info.extra["split"] == "sections 0-20 train, 21-23 validation, 24-29 test"
    m = data.test.tensors[1]
    assert set(m.unique().tolist()) == {0, 1} and 0.1 < float(m.double().mean()) < 0.35  # membrane is the minority
    with pytest.raises(DataNotFoundError, match="membrane: no train/image"):
        an2dl.get_dataset("membrane", root=tmp_path)


def test_centre_pixel_patches_are_labelled_by_their_centre_and_balanced():
    x = torch.rand(2, 1, 9, 8)
    m = torch.zeros(2, 9, 8, dtype=torch.long)
    m[:, 4, 4] = 1  # two pixels of class 1 among 144
    d = CenterPixelPatches(x, m, patch_size=5)
    assert len(d) == 144
    i = int((d.labels == 1).nonzero()[0])
    patch, label = d[i]
    assert label == 1 and torch.equal(patch[:, 2, 2], x[0, :, 4, 4])  # the centre of the patch is the pixel
    assert torch.equal(patch[0], x[0, 0, 2:7, 2:7])
    batch = d.__getitems__([i, 0]).value
    assert torch.equal(batch[0][0], patch) and batch[1].tolist() == [1, 0]
    w = d.sample_weights
    assert float(w[d.labels == 1].sum()) == pytest.approx(float(w[d.labels == 0].sum()))  # classes drawn equally
    sparse = CenterPixelPatches(x, m, patch_size=5, stride=2, balance=False)
    assert len(sparse) == 2 * 5 * 4 and not hasattr(sparse, "sample_weights")


def test_geometric_augmentation_keeps_mask_ids():
    data = an2dl.get_dataset("shapes-segmentation", n_train=4, n_val=0, n_test=1, size=32)
    x, m = data.train.tensors
    aug = RandomAffine(degrees=30, translate=0.1, scale=0.2).train()
    torch.manual_seed(0)
    y, t = aug(x, {"mask": m})
    assert y.shape == x.shape and t["mask"].dtype == m.dtype
    assert set(t["mask"].unique().tolist()) <= {0, 1, 2, 3}


def test_mask_patches_put_the_label_at_the_centre_of_a_mask_patch():
    x = torch.rand(1, 1, 7, 7)
    m = torch.randint(0, 3, (1, 7, 7))
    d = CenterPixelPatches(x, m, patch_size=3, mask_patches=True, balance=False)
    patch, target = d[8]  # image 0, row 1, column 1
    assert target.shape == (3, 3) and torch.equal(target, m[0, 0:3, 0:3]) and target[1, 1] == d.labels[8]
    batch = d.__getitems__([8, 9]).value
    assert batch[1].shape == (2, 3, 3)


def test_elastic_deformation_moves_masks_with_the_pixels():
    from an2dl.data.transforms import RandomElastic

    x = torch.zeros(2, 1, 24, 24)
    x[:, :, 8:16, 8:16] = 1.0
    m = (x[:, 0] > 0.5).long()
    warp = RandomElastic(sigma=3.0).train()
    y, t = warp(x, {"mask": m}, generator=torch.Generator().manual_seed(0))
    assert y.shape == x.shape and t["mask"].dtype == m.dtype and set(t["mask"].unique().tolist()) <= {0, 1}
    assert not torch.equal(t["mask"], m)  # deformed ...
    assert float(((y[:, 0] > 0.5).long() != t["mask"]).double().mean()) < 0.02  # ... with the pixels
    same, _ = RandomElastic(sigma=3.0, p=0.0).train()(x, {"mask": m})
    assert torch.allclose(same, x, atol=1e-6)  # zero displacement: the identity
    assert torch.equal(RandomElastic(sigma=3.0).eval()(x), x)  # random transforms rest in eval mode


def test_synthetic_membranes_are_thin_seeded_borders_between_cells():
    a = an2dl.get_dataset("synthetic-membrane", n_train=8, n_val=0, n_test=2, size=32, seed=3)
    b = an2dl.get_dataset("synthetic-membrane", n_train=8, n_val=0, n_test=2, size=32, seed=3)
    assert torch.equal(a.train.tensors[0], b.train.tensors[0]) and a.info.class_names == ["cell", "membrane"]
    m = a.train.tensors[1]
    assert set(m.unique().tolist()) == {0, 1} and 0.05 < float(m.double().mean()) < 0.35  # a thin minority
    from scipy import ndimage

    cells, n = ndimage.label((m[0] == 0).numpy())
    assert n >= 4  # the membranes separate the cells
