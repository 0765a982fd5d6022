"""Loading weights: .safetensors and torch .pth files, legacy keys, downloads, checksums, bad files."""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from an2dl.errors import CheckpointError, ChecksumError
from an2dl.models import get_model
from an2dl.models.vision.densenet import DenseNet
from an2dl.models.weights import (
    download_weights,
    load_weights,
    read_state_dict,
    rename_legacy_keys,
    weights_cache_dir,
)


def _same(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


@pytest.fixture
def source():
    torch.manual_seed(0)
    return get_model("resnet20", num_classes=10)


def test_safetensors_round_trip(tmp_path, source):
    path = tmp_path / "w.safetensors"
    save_file(source.state_dict(), str(path))
    torch.manual_seed(1)
    model = get_model("resnet20", weights=path)
    assert _same(model, source)


def test_pth_file_read_with_weights_only(tmp_path, source):
    path = tmp_path / "w.pth"
    torch.save(source.state_dict(), path)
    torch.manual_seed(1)
    assert _same(get_model("resnet20", weights=str(path)), source)


def test_checkpoint_dict_and_data_parallel_prefix_are_unwrapped(tmp_path, source):
    path = tmp_path / "ckpt.pt"
    torch.save({"epoch": 3, "state_dict": {"module." + k: v for k, v in source.state_dict().items()}}, path)
    state = read_state_dict(path)
    assert state.keys() == source.state_dict().keys()


def _legacy_densenet_names(state: dict) -> OrderedDict:
    # torchvision's original DenseNet checkpoints: norm1 -> norm.1, conv2 -> conv.2, ..., and no
    # num_batches_tracked counters (they predate PyTorch 0.4.1)
    out = OrderedDict()
    for k, v in state.items():
        if k.endswith("num_batches_tracked"):
            continue
        for part in ("norm1", "norm2", "relu1", "relu2", "conv1", "conv2"):
            if f".{part}." in k and "denselayer" in k:
                k = k.replace(f".{part}.", f".{part[:-1]}.{part[-1]}.")
        out[k] = v
    return out


def test_legacy_densenet_keys_are_renamed(tmp_path):
    torch.manual_seed(0)
    src = DenseNet(growth_rate=4, block_config=(2, 2), num_init_features=8, num_classes=3)
    legacy = _legacy_densenet_names(src.state_dict())
    assert "features.denseblock1.denselayer1.norm.1.weight" in legacy
    path = tmp_path / "densenet-legacy.pth"
    torch.save(legacy, path)
    torch.manual_seed(1)
    dst = DenseNet(growth_rate=4, block_config=(2, 2), num_init_features=8, num_classes=3)
    load_weights(dst, path)
    assert _same(dst, src)


def test_rename_only_touches_keys_the_model_lacks():
    state = {"a.denselayer1.norm.1.weight": torch.zeros(1), "b.norm.1.weight": torch.zeros(1)}
    out = rename_legacy_keys(state, ["a.denselayer1.norm1.weight", "b.norm.1.weight"])
    assert set(out) == {"a.denselayer1.norm1.weight", "b.norm.1.weight"}


def test_weights_of_another_architecture_list_the_mismatches(tmp_path, source):
    path = tmp_path / "resnet20.safetensors"
    save_file(source.state_dict(), str(path))
    with pytest.raises(CheckpointError, match=r"does not fit CifarResNet.*missing keys: layer1\.3\.conv1\.weight"):
        get_model("resnet32", weights=path)
    with pytest.raises(CheckpointError, match=r"shape mismatches: fc\.weight: file \(10, 64\) vs model \(5, 64\)"):
        get_model("resnet20", num_classes=5, weights=path)
    with pytest.raises(CheckpointError, match=r"116 unexpected keys: "):
        get_model("lenet5", weights=path)


def test_auxiliary_heads_in_the_file_give_a_hint(tmp_path):
    torch.manual_seed(0)
    src = get_model("googlenet", aux_logits=True, small_input=True, num_classes=3)
    path = tmp_path / "googlenet.safetensors"
    save_file(src.state_dict(), str(path))
    with pytest.raises(CheckpointError, match="build the model with aux_logits=True"):
        get_model("googlenet", small_input=True, num_classes=3, weights=path)
    assert _same(get_model("googlenet", aux_logits=True, small_input=True, num_classes=3, weights=path), src)


def test_non_strict_loading_still_rejects_shape_mismatches(tmp_path, source):
    state = source.state_dict()
    del state["fc.bias"]
    path = tmp_path / "partial.pth"
    torch.save(state, path)
    model = get_model("resnet20")
    load_weights(model, path, strict=False)
    assert torch.equal(model.fc.weight, source.fc.weight)
    with pytest.raises(CheckpointError, match="shape mismatches"):
        load_weights(get_model("resnet20", num_classes=3), path, strict=False)


@pytest.mark.parametrize("suffix", [".pth", ".safetensors"])
def test_corrupt_file_is_a_clear_error(tmp_path, suffix, source):
    path = tmp_path / f"broken{suffix}"
    path.write_bytes(b"\x00not weights at all" * 10)
    with pytest.raises(CheckpointError, match="corrupt|not a valid safetensors"):
        get_model("resnet20", weights=path)


def test_truncated_pth_is_a_clear_error(tmp_path, source):
    good = tmp_path / "good.pth"
    torch.save(source.state_dict(), good)
    cut = tmp_path / "cut.pth"
    cut.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    with pytest.raises(CheckpointError, match="corrupt"):
        load_weights(get_model("resnet20"), cut)


class _NotATensor:
    pass


def test_pickled_objects_are_refused(tmp_path):
    path = tmp_path / "evil.pth"
    torch.save({"x": _NotATensor()}, path)
    with pytest.raises(CheckpointError, match="corrupt or not a PyTorch weights file"):
        read_state_dict(path)


def test_a_file_without_a_state_dict_is_refused(tmp_path):
    path = tmp_path / "list.pth"
    torch.save([torch.zeros(1)], path)
    with pytest.raises(CheckpointError, match="does not hold a state dict"):
        read_state_dict(path)
    with pytest.raises(CheckpointError, match="does not exist"):
        read_state_dict(tmp_path / "missing.pth")


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_url_download_goes_to_the_cache_and_is_reused(tmp_path, monkeypatch, source):
    monkeypatch.setenv("AN2DL_CACHE", str(tmp_path / "cache"))
    served = tmp_path / "served" / "resnet20.pth"
    served.parent.mkdir()
    torch.save(source.state_dict(), served)
    url = served.as_uri() + "#sha256=" + _sha(served)
    model = get_model("resnet20", weights=url)
    assert _same(model, source)
    cached = tmp_path / "cache" / "weights" / "resnet20.pth"
    assert cached.is_file() and weights_cache_dir() == cached.parent
    served.unlink()  # the second load needs no "network"
    assert _same(get_model("resnet20", weights=url), source)


def test_checksum_mismatch_is_rejected_and_nothing_is_cached(tmp_path, source):
    served = tmp_path / "w.pth"
    torch.save(source.state_dict(), served)
    cache = tmp_path / "cache"
    with pytest.raises(ChecksumError, match="does not match the expected SHA-256"):
        download_weights(served.as_uri(), sha256="0" * 64, cache_dir=cache)
    assert not any(cache.iterdir())


def test_torchvision_style_hash_prefix_in_the_name_is_checked(tmp_path, source):
    good = tmp_path / "good.pth"
    torch.save(source.state_dict(), good)
    digest = _sha(good)
    right = tmp_path / f"resnet20-{digest[:8]}.pth"
    right.write_bytes(good.read_bytes())
    assert download_weights(right.as_uri(), cache_dir=tmp_path / "c1").is_file()
    wrong = tmp_path / f"resnet20-{'0' * 8}.pth"
    wrong.write_bytes(good.read_bytes())
    with pytest.raises(ChecksumError, match="hash prefix in its name"):
        download_weights(wrong.as_uri(), cache_dir=tmp_path / "c2")


def test_offline_download_is_a_clear_error(tmp_path):
    # nothing listens on port 9 of the loopback interface: the connection is refused at once
    with pytest.raises(CheckpointError, match="could not download weights .* offline"):
        download_weights("http://127.0.0.1:9/resnet18.pth", cache_dir=tmp_path, timeout=5)
    with pytest.raises(CheckpointError, match="sha256="):
        download_weights("http://127.0.0.1:9/resnet18.pth#md5=abc", cache_dir=tmp_path)


def test_default_cache_is_under_torch_home(tmp_path, monkeypatch):
    monkeypatch.delenv("AN2DL_CACHE", raising=False)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "th"))
    assert weights_cache_dir() == tmp_path / "th" / "hub" / "checkpoints"
