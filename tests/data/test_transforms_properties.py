"""Property tests: every geometric transform moves the image and all its targets consistently."""

import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from an2dl.data.transforms import (
    Affine,
    CenterCrop,
    Compose,
    CutMix,
    HorizontalFlip,
    Mixup,
    RandomAffine,
    RandomCrop,
    RandomHorizontalFlip,
    RandomResizedCrop,
    RandomVerticalFlip,
    Resize,
)
from an2dl.data.transforms.photometric import hsv_to_rgb, rgb_to_hsv

SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
NEAREST = {"interpolation": "nearest"}


@st.composite
def scenes(draw):
    """An image with one bright rectangle, its box, mask, instance mask and interior keypoints."""
    h, w = draw(st.integers(14, 26)), draw(st.integers(14, 26))
    rh, rw = draw(st.integers(6, h - 2)), draw(st.integers(6, w - 2))
    r0, c0 = draw(st.integers(0, h - rh)), draw(st.integers(0, w - rw))
    image = torch.zeros(1, h, w, dtype=torch.float64)
    image[:, r0 : r0 + rh, c0 : c0 + rw] = 1.0
    mask = image[0].long()
    # keypoints at the centres of pixels at least 2 pixels inside the rectangle
    kr = draw(st.lists(st.integers(r0 + 2, r0 + rh - 3), min_size=2, max_size=2))
    kc = draw(st.lists(st.integers(c0 + 2, c0 + rw - 3), min_size=2, max_size=2))
    kp = torch.tensor([[[c + 0.5, r + 0.5, 2.0] for r, c in zip(kr, kc)]], dtype=torch.float64)
    target = {
        "label": 3,
        "mask": mask,
        "boxes": torch.tensor([[c0, r0, c0 + rw, r0 + rh]], dtype=torch.float64),
        "labels": torch.tensor([5]),
        "masks": mask[None].bool(),
        "keypoints": kp,
    }
    return image, target


def _geometric(draw, size, axis_aligned):
    h, w = size
    options = [
        lambda: HorizontalFlip(**NEAREST),
        lambda: RandomVerticalFlip(p=1.0, **NEAREST),
        lambda: RandomCrop(size=(draw(st.integers(8, h)), draw(st.integers(8, w))), padding=draw(st.integers(3, 4)), **NEAREST),
        lambda: Resize(size=(draw(st.integers(h, 2 * h)), draw(st.integers(w, 2 * w))), **NEAREST),
        lambda: CenterCrop(size=(draw(st.integers(8, h + 4)), draw(st.integers(8, w + 4))), **NEAREST),
        lambda: Affine(translate=(draw(st.floats(-5, 5)), draw(st.floats(-5, 5))), scale=draw(st.floats(0.8, 1.25)), **NEAREST),
        lambda: RandomResizedCrop(size=(h, w), scale=(0.4, 1.0), **NEAREST),
    ]
    if not axis_aligned:
        options += [
            lambda: Affine(angle=draw(st.floats(-45, 45)), scale=draw(st.floats(0.8, 1.25)), **NEAREST),
            lambda: RandomAffine(degrees=45, translate=0.2, scale=0.2, **NEAREST),
        ]
    return options[draw(st.integers(0, len(options) - 1))]()


@st.composite
def pipelines(draw, axis_aligned=False):
    n = draw(st.integers(1, 2))
    # sizes only matter for the crops' bounds; the scenes are at least 14x14
    return Compose([_geometric(draw, (14, 14), axis_aligned) for _ in range(n)], fuse=draw(st.booleans()))


def _bright_centres(image):
    rows, cols = (image[0] > 0.5).nonzero(as_tuple=True)
    return cols.double() + 0.5, rows.double() + 0.5


@SETTINGS
@given(scene=scenes(), transform=pipelines(), seed=st.integers(0, 2**31))
def test_image_masks_boxes_and_keypoints_move_together(scene, transform, seed):
    image, target = scene
    out, t = transform(image, target, generator=torch.Generator().manual_seed(seed))
    h, w = out.shape[-2:]
    # masks are warped by the same map as the image (both nearest-neighbour here)
    assert torch.equal(out[0].long(), t["mask"])
    assert t["masks"].shape[0] == t["boxes"].shape[0] == t["labels"].shape[0] == t["keypoints"].shape[0]
    xs, ys = _bright_centres(out)
    if t["boxes"].shape[0] == 0:
        # dropped only when the rectangle left the image: then no pixel shows it
        assert len(xs) == 0
    else:
        assert torch.equal(t["masks"][0], t["mask"].bool())
        assert t["labels"].tolist() == [5]
        x1, y1, x2, y2 = t["boxes"][0].tolist()
        assert 0 <= x1 < x2 <= w and 0 <= y1 < y2 <= h
        # one fused resampling: exact; a chain of resamplings may shift edges by half a pixel per step
        single = transform.fuse or len(transform.transforms) == 1
        eps = 1e-6 if single else 1.0 + 1e-6
        inside_box = (xs >= x1 - eps) & (xs <= x2 + eps) & (ys >= y1 - eps) & (ys <= y2 + eps)
        assert bool(inside_box.all()), (t["boxes"], xs[~inside_box], ys[~inside_box])
        kp = t["keypoints"][0]
        inside = (kp[:, 0] >= 0) & (kp[:, 0] < w) & (kp[:, 1] >= 0) & (kp[:, 1] < h)
        visible = kp[:, 2] > 0
        # a point that left an intermediate image of a chain stays invisible, like the pixels it covered
        assert torch.equal(visible, inside) if single else bool((visible <= inside).all())
        for x, y, v in kp.tolist():
            if v > 0:  # a visible keypoint sits on the bright rectangle
                assert out[0, int(y), int(x)] == 1.0
    assert t["label"] == 3


@SETTINGS
@given(scene=scenes(), transform=pipelines(axis_aligned=True), seed=st.integers(0, 2**31))
def test_axis_aligned_maps_keep_boxes_tight(scene, transform, seed):
    image, target = scene
    out, t = transform(image, target, generator=torch.Generator().manual_seed(seed))
    xs, ys = _bright_centres(out)
    if len(xs) == 0 or t["boxes"].shape[0] == 0:
        return
    x1, y1, x2, y2 = t["boxes"][0].tolist()
    # the bright pixels fill the box up to less than one pixel on each side
    assert xs.min() - 0.5 < x1 + 1 and xs.max() + 0.5 > x2 - 1
    assert ys.min() - 0.5 < y1 + 1 and ys.max() + 0.5 > y2 - 1


@SETTINGS
@given(scene=scenes(), flips=st.lists(st.sampled_from(["h", "v", "a"]), min_size=1, max_size=4))
def test_flip_maps_swap_left_and_right_once_per_mirror(scene, flips):
    image, target = scene

    def build(flip_map):
        steps = []
        for f in flips:
            if f == "h":
                steps.append(HorizontalFlip(flip_map=flip_map))
            elif f == "v":
                steps.append(RandomVerticalFlip(p=1.0, flip_map=flip_map))
            else:
                steps.append(Affine(angle=30.0))
        return Compose(steps)

    _, with_map = build([1, 0])(image, target)
    _, without = build(None)(image, target)
    mirrors = sum(f in "hv" for f in flips)
    expected = without["keypoints"][:, [1, 0]] if mirrors % 2 else without["keypoints"]
    assert torch.equal(with_map["keypoints"], expected)


@SETTINGS
@given(scene=scenes(), seed=st.integers(0, 2**31))
def test_batched_path_equals_per_sample_path_for_each_sample(scene, seed):
    image, target = scene
    t = Compose([RandomHorizontalFlip(p=1.0, **NEAREST), Affine(angle=15.0, **NEAREST)])
    single_img, single_t = t(image, target)
    batch_t = {k: ([v, v] if k in ("boxes", "labels", "masks", "keypoints") else torch.stack([torch.as_tensor(v)] * 2))
               for k, v in target.items()}
    batch_img, bt = t(torch.stack([image, image]), batch_t)
    for i in range(2):
        assert torch.equal(batch_img[i], single_img)
        assert torch.equal(bt["boxes"][i], single_t["boxes"]) and torch.equal(bt["keypoints"][i], single_t["keypoints"])
        assert torch.equal(bt["mask"][i], single_t["mask"])


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**31), b=st.integers(2, 6), alpha=st.floats(0.05, 4.0))
def test_mixed_targets_are_probability_vectors(seed, b, alpha):
    x = torch.rand(b, 1, 6, 6, generator=torch.Generator().manual_seed(seed))
    y = torch.randint(0, 4, (b,), generator=torch.Generator().manual_seed(seed + 1))
    for mix in (Mixup(alpha=alpha, num_classes=4), CutMix(alpha=alpha, num_classes=4)):
        xm, ym = mix(x, y, generator=torch.Generator().manual_seed(seed))
        assert ym.shape == (b, 4) and bool((ym >= 0).all())
        torch.testing.assert_close(ym.sum(1), torch.ones(b))
        assert xm.min() >= 0 and xm.max() <= 1
        # each sample keeps at least the weight of its own label
        assert bool((ym.gather(1, y[:, None]) > 0).all() | (ym.max(1).values >= 0.5).all())


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**31))
def test_hsv_round_trip(seed):
    x = torch.rand(2, 3, 5, 5, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    torch.testing.assert_close(hsv_to_rgb(rgb_to_hsv(x)), x, atol=1e-9, rtol=0)
