import pytest
import torch
from torch import nn

import an2dl
from an2dl.errors import ConfigError


def test_parameter_count_matches_the_documented_layout():
    model = an2dl.get_model("lenet5", num_classes=10)
    # C1 6*(25+1), C3 16*(6*25+1), C5 120*(16*25+1), F6 84*(120+1), output 10*(84+1)
    expected = 6 * 26 + 16 * 151 + 120 * 401 + 84 * 121 + 10 * 85
    assert sum(p.numel() for p in model.parameters()) == expected == 61706


def test_feature_map_sizes_follow_the_paper():
    model = an2dl.get_model("lenet5", activation="tanh", pool="avg")
    x = torch.rand(2, 1, 32, 32)
    sizes = []
    for layer in model.features:
        x = layer(x)
        if isinstance(layer, (nn.Conv2d, nn.AvgPool2d)):
            sizes.append(tuple(x.shape[1:]))
    assert sizes == [(6, 28, 28), (6, 14, 14), (16, 10, 10), (16, 5, 5), (120, 1, 1)]


def test_interface_and_reset_classifier():
    model = an2dl.get_model("lenet5", num_classes=10, in_channels=3)
    x = torch.rand(4, 3, 32, 32)
    f = model.forward_features(x)
    assert f.shape == (4, 120)
    assert torch.equal(model.forward_head(f), model(x))
    model.reset_classifier(5)
    assert model(x).shape == (4, 5)


@pytest.mark.parametrize("shape", [(2, 1, 28, 28), (1, 32, 32), (2, 3, 32, 32)])
def test_wrong_input_shape_is_a_clear_error(shape):
    model = an2dl.get_model("lenet5")
    with pytest.raises(ValueError, match=r"LeNet5 expects input of shape \[B, 1, 32, 32\]"):
        model(torch.rand(*shape))


def test_bad_constructor_arguments():
    with pytest.raises(ConfigError, match="num_classes must be a positive integer"):
        an2dl.get_model("lenet5", num_classes=0)
    with pytest.raises(ConfigError, match="activation must be one of"):
        an2dl.get_model("lenet5", activation="swish")
