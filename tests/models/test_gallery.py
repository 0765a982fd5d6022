"""Identification by templates (notes §3.5.6): enrolment, removal, exact batched argmin, rejection, safetensors."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import an2dl
from an2dl.errors import CheckpointError, ConfigError
from an2dl.models.metric import UNKNOWN, EmbeddingNet, Gallery


def _flat_gallery(**kw):
    return Gallery(nn.Flatten(), input_shape=(1, 2, 2), **kw)


def test_identify_is_the_argmin_of_the_notes_equal_to_a_brute_force_loop():
    g = torch.Generator().manual_seed(0)
    gallery = Gallery(chunk_size=7)  # several chunks of queries
    templates = torch.randn(10, 6, generator=g, dtype=torch.float64)
    for j in range(10):
        gallery.enroll_embeddings(f"person{j % 4}", templates[j])
    queries = torch.randn(23, 6, generator=g, dtype=torch.float64)
    out = gallery.identify_embeddings(queries)
    for b, q in enumerate(queries):
        dists = [torch.sqrt(((q - t) ** 2).sum()).item() for t in templates]
        j = min(range(10), key=lambda k: dists[k])
        assert out.indices[b].item() == j and out.names[b] == f"person{j % 4}"
        assert out.distances[b].item() == pytest.approx(dists[j], rel=1e-12)


def test_enroll_images_remove_and_reject_unknown_faces():
    gallery = _flat_gallery(threshold=1.0)
    gallery.enroll("ann", torch.zeros(1, 2, 2))  # one image [C, H, W]
    gallery.enroll("bob", torch.full((2, 1, 2, 2), 3.0))  # two templates
    assert gallery.identities == ["ann", "bob"] and len(gallery) == 3
    queries = torch.stack([torch.full((1, 2, 2), 0.1), torch.full((1, 2, 2), 2.9), torch.full((1, 2, 2), 1.5)])
    out = gallery.identify(queries)
    # distances 0.2, 0.2 and 3.0 (to ann, 2·1.5) -> the third is farther than the threshold
    assert out.names == ["ann", "bob", UNKNOWN]
    assert gallery.identify(queries, threshold=10.0).names == ["ann", "bob", "ann"]
    assert gallery.remove("bob") == 2 and gallery.identities == ["ann"]
    assert gallery.identify(queries).names == ["ann", UNKNOWN, UNKNOWN]


def test_the_gallery_round_trips_through_safetensors(tmp_path):
    gallery = _flat_gallery(threshold=0.5)
    gallery.enroll("ann", torch.rand(2, 1, 2, 2))
    gallery.enroll("bob", torch.rand(1, 2, 2))
    path = gallery.save(tmp_path / "gallery.safetensors")
    back = Gallery.load(path, nn.Flatten())
    assert back.names == gallery.names and back.threshold == 0.5 and back.input_shape == (1, 2, 2)
    assert torch.equal(back.templates, gallery.templates)
    q = torch.rand(5, 1, 2, 2)
    assert back.identify(q).names == gallery.identify(q).names
    (tmp_path / "other.safetensors").write_bytes(b"not a file")
    with pytest.raises(CheckpointError, match="is not a readable safetensors file"):
        Gallery.load(tmp_path / "other.safetensors")
    with pytest.raises(CheckpointError, match="no gallery file"):
        Gallery.load(tmp_path / "missing.safetensors")


def test_bad_input_is_named():
    gallery = _flat_gallery()
    with pytest.raises(ConfigError, match="the gallery is empty; enroll at least one template first"):
        gallery.identify(torch.zeros(1, 1, 2, 2))
    with pytest.raises(ConfigError, match=r"enroll: images must have shape \[B, 1, 2, 2\] \(or \[1, 2, 2\] for one\); "
                                          r"got \[1, 3, 2, 2\]"):
        gallery.enroll("ann", torch.zeros(1, 3, 2, 2))
    with pytest.raises(ConfigError, match="name must be a non-empty string"):
        gallery.enroll("", torch.zeros(1, 2, 2))
    with pytest.raises(ConfigError, match="'unknown' is the name of rejected queries"):
        gallery.enroll(UNKNOWN, torch.zeros(1, 2, 2))
    gallery.enroll("anna", torch.zeros(1, 2, 2))
    with pytest.raises(ConfigError, match=r"'ann' is not enrolled; did you mean 'anna'"):
        gallery.remove("ann")
    with pytest.raises(ConfigError, match="gallery's dimension D=4; got D=3"):
        gallery.identify_embeddings(torch.zeros(2, 3))
    with pytest.raises(ConfigError, match="threshold must be a non-negative distance or None; got -1"):
        Gallery(threshold=-1)
    with pytest.raises(ConfigError, match="this gallery has no embedding network"):
        Gallery().enroll("x", torch.zeros(1, 2, 2))


def test_embedding_cnn_gives_unit_embeddings_and_shares_its_weights():
    net = an2dl.get_model("embedding_cnn", embedding_dim=8, channels=(4,), hidden=(16,))
    assert isinstance(net, EmbeddingNet)
    x = torch.rand(3, 1, 28, 28)
    z = net(x)
    assert z.shape == (3, 8)
    torch.testing.assert_close(z.norm(dim=1), torch.ones(3))
    # a Siamese pair is the same network applied twice: the two branches' outputs equal the batched output
    torch.testing.assert_close(torch.cat([net(x[:1]), net(x[1:])]), z)
    raw = an2dl.get_model("embedding_cnn", embedding_dim=8, channels=(4,), hidden=(16,), normalize=False)
    assert not torch.allclose(raw(x).norm(dim=1), torch.ones(3))
    with pytest.raises(ConfigError, match="embedding_dim must be a positive integer; got 0"):
        an2dl.get_model("embedding_cnn", embedding_dim=0)
