import pytest
import torch
from torch import nn

from an2dl.data.transforms import Affine, HorizontalFlip, RandomAffine
from an2dl.errors import ConfigError
from an2dl.tta import tta_predict, tta_views


def _model():
    torch.manual_seed(0)
    return nn.Sequential(nn.Flatten(), nn.Linear(16, 3))


def test_identity_views_give_the_plain_prediction():
    model, x = _model(), torch.rand(5, 1, 4, 4)
    expected = model(x).softmax(1)
    for reduce in ("mean", "max"):
        torch.testing.assert_close(tta_predict(model, x, [None, None], reduce=reduce), expected)


def test_mean_max_and_vote_by_hand():
    model, x = _model(), torch.rand(6, 1, 4, 4)
    views = [None, HorizontalFlip(), lambda t: t.flip(-2)]
    p = torch.stack([model(x).softmax(1), model(x.flip(-1)).softmax(1), model(x.flip(-2)).softmax(1)])
    torch.testing.assert_close(tta_predict(model, x, views), p.mean(0), atol=1e-6, rtol=0)
    torch.testing.assert_close(tta_predict(model, x, views, reduce="max"), p.amax(0), atol=1e-6, rtol=0)
    votes = tta_predict(model, x, views, reduce="vote")
    for i in range(6):
        for k in range(3):
            assert votes[i, k].item() == pytest.approx(float((p[:, i].argmax(1) == k).sum()) / 3)


def test_chunking_random_views_and_mode():
    model, x = _model(), torch.rand(7, 1, 4, 4)
    model.train()
    views = [None, RandomAffine(degrees=30).eval(), Affine(translate=(1, 0))]
    a = tta_predict(model, x, views, generator=torch.Generator().manual_seed(1))
    b = tta_predict(model, x, views, generator=torch.Generator().manual_seed(1), batch_size=4)
    torch.testing.assert_close(a, b)
    c = tta_predict(model, x, views, generator=torch.Generator().manual_seed(2))
    assert not torch.allclose(a, c)  # the random view draws anew
    assert model.training and not views[1].training  # modes restored


def test_views_shape():
    x = torch.rand(2, 3, 5, 5)
    assert tta_views(x, [None, HorizontalFlip()]).shape == (2, 2, 3, 5, 5)


def test_bad_input():
    model, x = _model(), torch.rand(2, 1, 4, 4)
    with pytest.raises(ConfigError, match="reduce must be one of"):
        tta_predict(model, x, [None], reduce="median")
    with pytest.raises(ConfigError, match="non-empty list"):
        tta_predict(model, x, [])
    with pytest.raises(ValueError, match=r"\[B, C, H, W\]"):
        tta_predict(model, x[0], [None])
    with pytest.raises(ValueError, match="must keep the input shape"):
        tta_predict(model, x, [lambda t: t[..., :2, :2]])
    with pytest.raises(ConfigError, match="batch_size must be a positive integer"):
        tta_predict(model, x, [None], batch_size=0)
    with pytest.raises(ConfigError, match="must be None, an an2dl Transform or a callable"):
        tta_predict(model, x, [3])
