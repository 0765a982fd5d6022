import pytest
import torch
from torch import nn

from an2dl.data import ArrayDataset
from an2dl.data.balance import balance_classes, class_counts, inverse_frequency_weights
from an2dl.data.transforms import (
    COCO_KEYPOINT_NAMES,
    Affine,
    AugmentedDataset,
    CenterCrop,
    ClassSpecific,
    ColorJitter,
    Compose,
    CutMix,
    GaussianNoise,
    HorizontalFlip,
    Mixup,
    RandomAffine,
    RandomApply,
    RandomBrightness,
    RandomContrast,
    RandomCrop,
    RandomHorizontalFlip,
    RandomHue,
    RandomResizedCrop,
    RandomRotation,
    RandomSaturation,
    RandomVerticalFlip,
    Resize,
    flip_map_from_names,
)
from an2dl.data.transforms.photometric import hsv_to_rgb, rgb_to_grayscale, rgb_to_hsv
from an2dl.engine.sampling import EpochBatchSampler
from an2dl.errors import ConfigError


def _g(seed=0):
    return torch.Generator().manual_seed(seed)


# ---------------------------------------------------------------- geometry, by hand
def test_horizontal_flip_moves_image_boxes_masks_and_keypoints():
    x = torch.rand(3, 6, 8, generator=_g())
    mask = torch.randint(0, 4, (6, 8), generator=_g(1))
    target = {
        "label": 2,
        "mask": mask,
        "boxes": torch.tensor([[1.0, 2.0, 3.0, 5.0]]),
        "labels": torch.tensor([7]),
        "keypoints": torch.tensor([[[1.5, 2.5, 2.0], [6.5, 0.5, 1.0], [3.0, 3.0, 0.0]]]),
        "image_id": "a",
    }
    out, t = HorizontalFlip(flip_map=[1, 0, 2])(x, target)
    torch.testing.assert_close(out, x.flip(-1), atol=1e-5, rtol=0)
    assert torch.equal(t["mask"], mask.flip(-1))
    assert t["boxes"].tolist() == [[5.0, 2.0, 7.0, 5.0]]  # x -> W - x, x1/x2 swapped
    assert t["labels"].tolist() == [7] and t["label"] == 2 and t["image_id"] == "a"
    # points mapped (x -> 8 - x) and the left/right pair swapped through the flip map
    assert t["keypoints"].tolist() == [[[1.5, 0.5, 1.0], [6.5, 2.5, 2.0], [5.0, 3.0, 0.0]]]


def test_vertical_flip_and_double_flip_restores():
    x = torch.rand(2, 1, 5, 7, generator=_g())
    v = RandomVerticalFlip(p=1.0)
    torch.testing.assert_close(v(x), x.flip(-2), atol=1e-5, rtol=0)
    kp = [torch.tensor([[[1.0, 1.0, 2.0], [2.0, 2.0, 2.0]]])] * 2
    f = HorizontalFlip(flip_map=[1, 0])
    out, t = f(*f(x, {"keypoints": kp}))
    torch.testing.assert_close(out, x, atol=1e-5, rtol=0)
    assert torch.equal(t["keypoints"][0], kp[0])


def test_rotation_by_90_degrees_is_exact():
    x = torch.rand(1, 6, 6, generator=_g())
    out, t = Affine(angle=90)(x, {"boxes": torch.tensor([[0.0, 0.0, 2.0, 1.0]]), "mask": torch.arange(36).view(6, 6)})
    # counter-clockwise on screen: the top row becomes the left column, read bottom-up
    torch.testing.assert_close(out, torch.rot90(x, 1, dims=(-2, -1)), atol=1e-5, rtol=0)
    assert torch.equal(t["mask"], torch.rot90(torch.arange(36).view(6, 6), 1))
    torch.testing.assert_close(t["boxes"], torch.tensor([[0.0, 4.0, 1.0, 6.0]]))


def test_translation_shifts_pixels_and_targets():
    x = torch.rand(1, 8, 8, generator=_g())
    out, t = Affine(translate=(2, 1))(x, {"boxes": torch.tensor([[0.0, 0.0, 3.0, 3.0], [6.0, 6.0, 8.0, 8.0]]),
                                          "labels": torch.tensor([1, 2])})
    torch.testing.assert_close(out[:, 1:, 2:], x[:, :-1, :-2], atol=1e-5, rtol=0)
    assert out[:, 0].abs().max() == 0 and out[:, :, :2].abs().max() == 0  # filled with 0
    # the second box moves to (8, 7, 10, 9) -> clipped to (8, 7, 8, 8): empty, dropped with its label
    assert t["boxes"].tolist() == [[2.0, 1.0, 5.0, 4.0]] and t["labels"].tolist() == [1]


def test_boxes_outside_the_image_are_clipped_then_dropped_when_empty():
    x = torch.zeros(1, 10, 10)
    boxes = torch.tensor([[-5.0, -5.0, 4.0, 4.0], [12.0, 1.0, 15.0, 3.0], [3.0, 3.0, 3.0, 6.0], [2.0, 8.0, 20.0, 30.0]])
    _, t = Resize(size=10)(x, {"boxes": boxes, "labels": torch.arange(4)})
    assert t["boxes"].tolist() == [[0.0, 0.0, 4.0, 4.0], [2.0, 8.0, 10.0, 10.0]]
    assert t["labels"].tolist() == [0, 3]


def test_resize_and_crops_scale_targets():
    x = torch.rand(1, 8, 12, generator=_g())
    out, t = Resize(size=(4, 6))(x, {"boxes": torch.tensor([[2.0, 2.0, 6.0, 4.0]]),
                                "keypoints": torch.tensor([[[4.0, 6.0, 2.0]]])})
    assert out.shape == (1, 4, 6)
    torch.testing.assert_close(out, torch.nn.functional.interpolate(x[None], size=(4, 6), mode="bilinear")[0], atol=1e-5, rtol=0)
    assert t["boxes"].tolist() == [[1.0, 1.0, 3.0, 2.0]] and t["keypoints"].tolist() == [[[2.0, 3.0, 2.0]]]
    out, t = CenterCrop(size=4)(x, {"keypoints": torch.tensor([[[5.0, 3.0, 2.0], [0.5, 0.5, 2.0]]])})
    torch.testing.assert_close(out, x[:, 2:6, 4:8], atol=1e-5, rtol=0)
    assert t["keypoints"].tolist() == [[[1.0, 1.0, 2.0], [-3.5, -1.5, 0.0]]]  # the second left the image


def test_random_crop_cuts_grid_aligned_windows():
    x = torch.arange(2 * 9 * 9, dtype=torch.float32).view(2, 1, 9, 9) / 200
    out = RandomCrop(size=4)(x, generator=_g(3))
    for b in range(2):
        hits = [(i, j) for i in range(6) for j in range(6) if torch.allclose(x[b, :, i : i + 4, j : j + 4], out[b], atol=1e-5)]
        assert len(hits) == 1
    padded = RandomCrop(size=9, padding=3)(x, generator=_g(4))
    assert padded.shape == x.shape


def test_random_resized_crop_output_and_area():
    x = torch.rand(16, 3, 20, 30, generator=_g())
    out, t = RandomResizedCrop(size=10, scale=(0.25, 0.5))(x, {"boxes": [torch.tensor([[0.0, 0.0, 30.0, 20.0]])] * 16},
                                                      generator=_g(5))
    assert out.shape == (16, 3, 10, 10)
    # the whole-image box becomes the whole output
    for b in t["boxes"]:
        assert b.tolist() == [[0.0, 0.0, 10.0, 10.0]]


def test_compose_fuses_geometric_steps_into_one_resampling():
    x = torch.rand(4, 1, 12, 12, generator=_g())
    steps = [RandomAffine(degrees=20, scale=0.1), RandomHorizontalFlip(p=0.5), RandomAffine(translate=0.1)]
    fused = Compose(steps)(x, generator=_g(7))
    unfused = Compose(steps, fuse=False)(x, generator=_g(7))
    # same draws, same maps: the interiors agree up to the extra interpolation of the unfused chain
    inner = (slice(None), slice(None), slice(4, 8), slice(4, 8))
    assert (fused[inner] - unfused[inner]).abs().mean() < 0.1
    assert not torch.equal(fused, unfused)


# ---------------------------------------------------------------- photometric
def test_photometric_definitions():
    x = torch.rand(5, 3, 4, 4, generator=_g())
    torch.testing.assert_close(RandomBrightness(brightness=(0.5, 0.5))(x), x * 0.5)
    grey = rgb_to_grayscale(x)
    torch.testing.assert_close(RandomSaturation(saturation=(0.0, 0.0))(x), grey.expand_as(x))
    mean = grey.mean(dim=(1, 2, 3), keepdim=True)
    torch.testing.assert_close(RandomContrast(contrast=(0.0, 0.0))(x), mean.expand_as(x))
    torch.testing.assert_close(hsv_to_rgb(rgb_to_hsv(x)), x, atol=1e-5, rtol=0)
    # a hue shift of a whole turn changes nothing; a third of a turn cycles R -> G -> B
    red = torch.zeros(1, 3, 2, 2)
    red[:, 0] = 1.0
    hsv = rgb_to_hsv(red)
    hsv[:, 0] = (hsv[:, 0] + 1 / 3) % 1
    torch.testing.assert_close(hsv_to_rgb(hsv), red.roll(1, dims=1), atol=1e-6, rtol=0)
    assert RandomHue(hue=0.2)(torch.rand(2, 1, 3, 3)).shape == (2, 1, 3, 3)  # grey: identity
    out = ColorJitter(brightness=0.8, contrast=0.8, saturation=0.8, hue=0.3)(x, generator=_g(1))
    assert out.min() >= 0 and out.max() <= 1 and not torch.equal(out, x)
    noisy = GaussianNoise(std=0.1)(torch.full((1, 1, 64, 64), 0.5), generator=_g(2))
    assert abs(noisy.std().item() - 0.1) < 0.01


def test_photometric_leaves_targets_alone():
    x = torch.rand(3, 8, 8, generator=_g())
    t = {"boxes": torch.tensor([[1.0, 1.0, 4.0, 4.0]]), "mask": torch.ones(8, 8, dtype=torch.long)}
    _, out = ColorJitter(brightness=0.5, contrast=0.5)(x, t)
    assert torch.equal(out["boxes"], t["boxes"]) and torch.equal(out["mask"], t["mask"])


# ---------------------------------------------------------------- randomness and modes
def test_same_generator_same_result_and_eval_mode_is_identity():
    x = torch.rand(6, 3, 10, 10, generator=_g())
    t = Compose([RandomAffine(degrees=30, translate=0.2, scale=0.2), ColorJitter(brightness=0.4), GaussianNoise(std=0.05)])
    assert torch.equal(t(x, generator=_g(11)), t(x, generator=_g(11)))
    assert not torch.equal(t(x, generator=_g(11)), t(x, generator=_g(12)))
    torch.manual_seed(5)
    a = t(x)
    torch.manual_seed(5)
    assert torch.equal(a, t(x))  # the global generator (reseeded by the trainer per step)
    t.eval()
    assert torch.equal(t(x), x)
    assert not torch.equal(Resize(size=5).eval()(x), x[..., :5, :5])  # deterministic transforms always apply


def test_augmentation_as_a_layer_is_active_only_in_training():
    torch.manual_seed(0)
    model = nn.Sequential(RandomAffine(degrees=25, translate=0.2), nn.Flatten(), nn.Linear(64, 3))
    x = torch.rand(4, 1, 8, 8, generator=_g())
    model.eval()
    clean = model[2](x.flatten(1))
    assert torch.equal(model(x), clean)
    model.train()
    assert not torch.allclose(model(x), clean)
    model(x).sum().backward()
    assert model[2].weight.grad is not None


def test_per_sample_and_batched_paths_apply_the_same_maps():
    x = torch.rand(1, 9, 9, generator=_g())
    t = RandomAffine(degrees=40, translate=0.2, scale=0.3)
    single = t(x, generator=_g(9))
    batched = t(x[None], generator=_g(9))[0]
    assert torch.equal(single, batched)


def test_random_apply_and_probability_zero():
    x = torch.rand(64, 1, 4, 4, generator=_g())
    out = RandomApply(HorizontalFlip(), p=0.5)(x, generator=_g(1))
    flipped = [bool(torch.allclose(o, xi.flip(-1), atol=1e-5)) for o, xi in zip(out, x)]
    same = [bool(torch.equal(o, xi)) for o, xi in zip(out, x)]
    assert all(f or s for f, s in zip(flipped, same)) and 15 < sum(flipped) < 49
    assert torch.equal(RandomHorizontalFlip(p=0.0)(x), x)


def test_class_specific_transforms():
    x = torch.rand(6, 1, 5, 5, generator=_g())
    y = torch.tensor([0, 1, 2, 0, 1, 2])
    t = ClassSpecific({1: HorizontalFlip(), 2: RandomVerticalFlip(p=1.0)})
    out, y_out = t(x, y)
    assert torch.equal(y_out, y)
    for i in range(6):
        expected = {0: x[i], 1: x[i].flip(-1), 2: x[i].flip(-2)}[int(y[i])]
        torch.testing.assert_close(out[i], expected, atol=1e-5, rtol=0)
    with pytest.raises(ValueError, match="needs class labels"):
        t(x)
    with pytest.raises(ValueError, match="different shapes"):
        ClassSpecific({1: Resize(size=3)})(x, y)


# ---------------------------------------------------------------- Mixup / CutMix
def test_mixup_mixes_inputs_and_one_hot_targets():
    b = 8
    x = torch.arange(b, dtype=torch.float32).view(b, 1, 1, 1).expand(b, 1, 3, 3) / b
    y = torch.arange(b)
    xm, ym = Mixup(alpha=0.4, num_classes=b)(x, y, generator=_g(3))
    torch.testing.assert_close(ym.sum(1), torch.ones(b))
    # the image value is the label-weighted mean of the sources' values (value i/b for class i)
    torch.testing.assert_close(xm[:, 0, 0, 0], (ym * (torch.arange(b) / b)).sum(1))


def test_cutmix_label_weights_are_the_pasted_areas():
    b, h, w = 6, 10, 10
    x = torch.arange(b, dtype=torch.float32).view(b, 1, 1, 1).expand(b, 1, h, w).contiguous() / b
    y = torch.arange(b)
    for seed in range(5):
        xm, ym = CutMix(alpha=1.0, num_classes=b)(x, y, generator=_g(seed))
        for i in range(b):
            frac = torch.stack([(xm[i] == c / b).float().mean() for c in range(b)])
            torch.testing.assert_close(frac, ym[i])
    m = torch.arange(b).view(b, 1, 1).expand(b, h, w).contiguous()
    xm, t = CutMix(alpha=1.0, num_classes=b)(x, {"label": y, "mask": m}, generator=_g(2))
    assert torch.equal((xm[:, 0] * b).round().long(), t["mask"])


def test_mixing_errors():
    x, y = torch.rand(4, 1, 4, 4), torch.tensor([0, 1, 2, 3])
    for alpha in (0.0, -1.0):
        with pytest.raises(ConfigError, match="alpha must be > 0"):
            Mixup(alpha=alpha, num_classes=4)
    with pytest.raises(ConfigError, match="num_classes must be an integer >= 2"):
        CutMix(num_classes=1)
    with pytest.raises(ValueError, match="mixes the samples of a batch"):
        Mixup(num_classes=4)(x[0], y[0])
    with pytest.raises(ValueError, match="mixes the samples of a batch"):
        Compose([RandomHorizontalFlip(), Mixup(num_classes=4)])(x[0])
    with pytest.raises(ValueError, match="labels too"):
        Mixup(num_classes=4)(x)
    with pytest.raises(ValueError, match=r"labels must lie in \[0, 3\)"):
        Mixup(num_classes=3)(x, y)
    with pytest.raises(TypeError, match="not boxes or keypoints"):
        CutMix(num_classes=4)(x, {"label": y, "boxes": [torch.zeros(0, 4)] * 4})


# ---------------------------------------------------------------- dataset wrapper, collate, balancing
def test_augmented_dataset_is_a_function_of_seed_epoch_and_index():
    x = torch.rand(10, 1, 6, 6, generator=_g())
    y = torch.arange(10)
    ds = AugmentedDataset(ArrayDataset(x, y), RandomAffine(degrees=30, translate=0.2), seed=3)
    a = ds[4]
    assert torch.equal(ds[4][0], a[0]) and int(a[1]) == 4
    ds.set_epoch(1)
    b = ds[4][0]
    assert not torch.equal(a[0], b)
    ds.set_epoch(0)
    assert torch.equal(ds[4][0], a[0])
    other = AugmentedDataset(ArrayDataset(x, y), RandomAffine(degrees=30, translate=0.2), seed=4)
    assert not torch.equal(other[4][0], a[0])
    batch = ds.collate_fn([ds[i] for i in range(3)])
    assert batch[0].shape == (3, 1, 6, 6) and batch[1].tolist() == [0, 1, 2]


def test_augmented_dataset_with_detection_targets_and_collate():
    class Det(torch.utils.data.Dataset):
        def __len__(self):
            return 3

        def __getitem__(self, i):
            boxes = torch.tensor([[1.0, 1.0, 4.0, 4.0]] * (i + 1))
            return torch.rand(3, 8, 8), {"boxes": boxes, "labels": torch.ones(i + 1, dtype=torch.long)}

    ds = AugmentedDataset(Det(), Compose([RandomHorizontalFlip(p=1.0), RandomAffine(translate=0.1)]))
    images, targets = ds.collate_fn([ds[i] for i in range(3)])
    assert images.shape == (3, 3, 8, 8)
    assert [len(b) for b in targets["boxes"]] == [1, 2, 3]
    # the batched path accepts this collated form and the torchvision list-of-dicts form
    out, t = RandomHorizontalFlip(p=1.0)(images, targets)
    assert [len(b) for b in t["boxes"]] == [1, 2, 3]
    as_list = [{"boxes": targets["boxes"][i], "labels": targets["labels"][i]} for i in range(3)]
    out2, t2 = RandomHorizontalFlip(p=1.0)(images, as_list)
    assert torch.equal(out, out2) and all(torch.equal(a["boxes"], b) for a, b in zip(t2, t["boxes"]))


def test_trainer_sets_the_epoch_of_augmented_datasets():
    from an2dl.engine import OptimizerSpec, Trainer
    from an2dl.tasks import ClassificationTask

    class Recording(AugmentedDataset):
        seen: list[int] = []

        def set_epoch(self, epoch):
            super().set_epoch(epoch)
            self.seen.append(epoch)

    x, y = torch.rand(16, 1, 8, 8, generator=_g()), torch.arange(16) % 2
    ds = Recording(ArrayDataset(x, y), RandomHorizontalFlip())
    model = nn.Sequential(nn.Flatten(), nn.Linear(64, 2))
    task = ClassificationTask(model, num_classes=2, optimizer=OptimizerSpec("sgd", lr=0.1))
    Trainer(max_epochs=2, batch_size=8, progress=False, accelerator="cpu", checkpoint=False).fit(task, ds)
    assert ds.seen == [0, 1]


def test_class_balancing_weights_and_sampler():
    y = torch.tensor([0] * 90 + [1] * 9 + [2] * 1)
    assert class_counts(y).tolist() == [90, 9, 1]
    w = inverse_frequency_weights(y)
    assert w.mean().item() == pytest.approx(1.0)
    totals = torch.zeros(3, dtype=torch.float64).index_add_(0, y, w)
    torch.testing.assert_close(totals, torch.full((3,), 100 / 3, dtype=torch.float64))
    ds = balance_classes(ArrayDataset(torch.zeros(100, 1), y))
    order = EpochBatchSampler(100, 100, weights=ds.sample_weights, seed=0, epoch=0)._order()
    drawn = torch.bincount(y[order], minlength=3)
    assert drawn.min() > 15  # without balancing class 2 would appear about once
    with pytest.raises(ValueError, match="1-D integer tensor"):
        inverse_frequency_weights(torch.rand(4))
    with pytest.raises(ConfigError, match="needs labels"):
        balance_classes(ArrayDataset(torch.zeros(3, 1)))


# ---------------------------------------------------------------- keypoint flip maps
def test_flip_map_from_names():
    fm = flip_map_from_names(COCO_KEYPOINT_NAMES)
    assert fm[:5] == [0, 2, 1, 4, 3] and len(fm) == 17
    assert flip_map_from_names(["left hand", "nose", "right hand"]) == [2, 1, 0]
    with pytest.raises(ConfigError, match="has no partner"):
        flip_map_from_names(["left_eye", "nose"])


# ---------------------------------------------------------------- bad input
def test_bad_images():
    t = RandomHorizontalFlip()
    with pytest.raises(ValueError, match=r"\[C, H, W\] or \[B, C, H, W\]"):
        t(torch.rand(8, 8))
    with pytest.raises(TypeError, match="floating-point"):
        t(torch.zeros(1, 8, 8, dtype=torch.uint8))
    with pytest.raises(ValueError, match=r"values must lie in \[0, 1\]"):
        t(torch.rand(1, 8, 8) * 255)
    with pytest.raises(TypeError, match="must be a torch.Tensor"):
        t([[0.0]])


def test_bad_targets():
    x = torch.rand(1, 8, 8)
    t = RandomHorizontalFlip(p=1.0)
    with pytest.raises(ValueError, match="x2 >= x1 and y2 >= y1"):
        t(x, {"boxes": torch.tensor([[5.0, 1.0, 2.0, 3.0]])})
    with pytest.raises(ValueError, match=r"shape \[N, 4\]"):
        t(x, {"boxes": torch.tensor([1.0, 1.0, 2.0, 3.0])})
    with pytest.raises(ValueError, match="must agree on N"):
        t(x, {"boxes": torch.tensor([[1.0, 1.0, 2.0, 3.0]]), "labels": torch.tensor([1, 2])})
    with pytest.raises(ValueError, match=r"keypoints'\] must be float \[N, K, 3\]"):
        t(x, {"keypoints": torch.zeros(1, 4, 2)})
    with pytest.raises(ValueError, match="flip map has length 2 but the keypoints have K=3"):
        RandomHorizontalFlip(p=1.0, flip_map=[1, 0])(x, {"keypoints": torch.zeros(1, 3, 3)})
    with pytest.raises(ConfigError, match="its own inverse"):
        RandomHorizontalFlip(flip_map=[1, 2, 0])
    with pytest.raises(ValueError, match=r"mask'\] must be \[H, W\]"):
        t(x, {"mask": torch.zeros(4, 4, dtype=torch.long)})
    with pytest.raises(TypeError, match="integer class ids"):
        t(x, {"mask": torch.zeros(8, 8)})
    with pytest.raises(ValueError, match="list of 2 tensors"):
        t(torch.rand(2, 1, 8, 8), {"boxes": torch.zeros(0, 4)})
    with pytest.raises(TypeError, match="target must be a class label tensor"):
        t(x, "cat")


@pytest.mark.parametrize(
    "make, match",
    [
        (lambda: RandomAffine(degrees=-1), "degrees must be >= 0"),
        (lambda: RandomAffine(translate=1.5), "translate must be a fraction"),
        (lambda: RandomAffine(scale=1.0), r"scale must be in \[0, 1\)"),
        (lambda: RandomRotation(degrees=10, p=2), "p must be a probability"),
        (lambda: RandomCrop(size=0), "size must be a positive integer"),
        (lambda: RandomResizedCrop(size=8, scale=(0.5, 0.1)), "scale must be"),
        (lambda: Resize(size=8, interpolation="cubic"), "interpolation must be one of"),
        (lambda: RandomBrightness(brightness=-0.1), "brightness must be"),
        (lambda: RandomHue(hue=0.7), r"hue must be in \[0, 0.5\]"),
        (lambda: GaussianNoise(std=0), "std must be a positive number"),
        (lambda: Compose([lambda x: x]), "must be an an2dl Transform"),
        (lambda: ClassSpecific({}), "at least one"),
        (lambda: Affine(scale=0), "scale must be positive"),
    ],
)
def test_bad_settings(make, match):
    with pytest.raises(ConfigError, match=match):
        make()


def test_random_crop_larger_than_image():
    with pytest.raises(ValueError, match="exceeds the padded image"):
        RandomCrop(size=12)(torch.rand(1, 8, 8))


def test_rotation_about_the_centre_keeps_the_centre():
    x = torch.zeros(1, 9, 9)
    x[0, 4, 4] = 1.0
    out, t = RandomRotation(degrees=(33, 33))(x, {"keypoints": torch.tensor([[[4.5, 4.5, 2.0]]])})
    assert out[0, 4, 4] > 0.5
    torch.testing.assert_close(t["keypoints"][0, 0, :2], torch.tensor([4.5, 4.5]))
    assert int(out.flatten().argmax()) == 4 * 9 + 4


def test_classification_task_trains_on_mixup_soft_targets():
    from an2dl.engine import OptimizerSpec, Trainer
    from an2dl.tasks import ClassificationTask

    g = _g(5)
    x, y = torch.rand(64, 1, 8, 8, generator=g), torch.randint(0, 3, (64,), generator=g)
    model = nn.Sequential(nn.Flatten(), nn.Linear(64, 3))
    seen = []

    def loss(logits, target):
        seen.append(target.shape)
        return torch.nn.functional.cross_entropy(logits, target)

    augment = Compose([RandomAffine(degrees=10), Mixup(alpha=0.4, num_classes=3)])
    task = ClassificationTask(model, num_classes=3, loss=loss, augment=augment, optimizer=OptimizerSpec("sgd", lr=0.1))
    trainer = Trainer(max_epochs=1, batch_size=16, progress=False, accelerator="cpu", checkpoint=False)
    metrics = trainer.fit(task, ArrayDataset(x, y), ArrayDataset(x, y))
    assert seen[0] == (16, 3)  # soft targets in training
    assert any(len(s) == 1 for s in seen)  # hard labels at validation
    assert 0 <= metrics["train/accuracy"] <= 1 and torch.isfinite(torch.tensor(metrics["train/loss"]))


def test_batched_augmentation_in_training_is_a_function_of_the_seed():
    from an2dl.engine import OptimizerSpec, Trainer
    from an2dl.tasks import ClassificationTask

    x, y = torch.rand(48, 1, 8, 8, generator=_g(8)), torch.arange(48) % 3

    def train(seed):
        torch.manual_seed(0)
        model = nn.Sequential(nn.Flatten(), nn.Linear(64, 3))
        augment = Compose([RandomAffine(degrees=20, translate=0.1), GaussianNoise(std=0.05), CutMix(num_classes=3)])
        task = ClassificationTask(model, num_classes=3, augment=augment, optimizer=OptimizerSpec("sgd", lr=0.5))
        Trainer(max_epochs=2, batch_size=16, seed=seed, progress=False, accelerator="cpu", checkpoint=False).fit(
            task, ArrayDataset(x, y))
        return model[1].weight.detach().clone()

    a = train(1)
    assert torch.equal(a, train(1))  # augmentation draws are reseeded per (seed, epoch, step)
    assert not torch.equal(a, train(2))


def test_transforms_inside_a_model_support_module_apply():
    model = nn.Sequential(Compose([RandomAffine(degrees=5), ColorJitter(brightness=0.1)]), nn.Flatten(), nn.Linear(16, 2))
    seen = []
    model.apply(lambda m: seen.append(type(m).__name__))  # nn.Module.apply must keep its meaning
    assert "RandomAffine" in seen and "Linear" in seen


def test_per_sample_augmentation_resumes_bit_exactly(tmp_path):
    from an2dl.engine import Checkpoint, OptimizerSpec, Trainer
    from an2dl.engine.checkpoint import list_checkpoints
    from an2dl.tasks import ClassificationTask

    x, y = torch.rand(40, 1, 8, 8, generator=_g(9)), torch.arange(40) % 2

    def run(run_dir, ckpt=None):
        torch.manual_seed(0)
        model = nn.Sequential(nn.Flatten(), nn.Linear(64, 2))
        task = ClassificationTask(model, num_classes=2, optimizer=OptimizerSpec("sgd", lr=0.3, momentum=0.9))
        ds = AugmentedDataset(ArrayDataset(x, y), Compose([RandomAffine(degrees=30, translate=0.2), GaussianNoise(std=0.1)]),
                              seed=5)
        trainer = Trainer(max_epochs=2, batch_size=8, seed=3, run_dir=run_dir, progress=False, accelerator="cpu",
                          callbacks=[Checkpoint(every_n_steps=1, keep_last=100)])
        trainer.fit(task, ds, ckpt_path=ckpt)
        return model[1].weight.detach().clone()

    ref = run(tmp_path / "ref")
    mid = list_checkpoints(tmp_path / "ref" / "checkpoints")[6]  # inside the second epoch
    assert torch.equal(run(tmp_path / "resumed", ckpt=mid), ref)
