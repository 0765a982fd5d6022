import pytest
import torch
import torch.nn.functional as F

import an2dl
from an2dl.errors import ConfigError
from an2dl.losses.classification import (
    MulticlassHingeLoss,
    SoftTargetCrossEntropy,
    multiclass_hinge_loss,
    soft_target_cross_entropy,
)
from an2dl.models.classic import KNNClassifier, LinearClassifier, pairwise_distances


# ---------------------------------------------------------------- linear classifier
def test_linear_scores_are_wx_on_the_column_major_vector():
    model = LinearClassifier(input_shape=(2, 3, 4), num_classes=5, bias=False).double()
    x = torch.rand(6, 2, 3, 4, dtype=torch.float64)
    # notes §3.2.1: each channel linearised column by column
    flat = torch.stack([torch.cat([x[b, c].T.reshape(-1) for c in range(2)]) for b in range(6)])
    W = model.classifier.weight.detach()
    torch.testing.assert_close(model(x), flat @ W.T)
    # templates undo the flattening: score = <template, image>
    t = model.templates()
    assert t.shape == (5, 2, 3, 4)
    torch.testing.assert_close(model(x), torch.einsum("lchw,bchw->bl", t, x))


def test_linear_classifier_registered_and_interface():
    model = an2dl.get_model("linear_classifier")
    x = torch.rand(3, 1, 8, 8)
    assert model(x).shape == (3, 10)
    assert sum(p.numel() for p in model.parameters()) == 64 * 10 + 10
    model.reset_classifier(3)
    assert model(x).shape == (3, 3)
    with pytest.raises(ValueError, match=r"expects input of shape \[B, 1, 8, 8\]"):
        model(torch.rand(3, 1, 9, 9))
    with pytest.raises(ConfigError, match="num_classes must be an integer >= 2"):
        LinearClassifier(num_classes=1)
    with pytest.raises(ConfigError, match="input_shape must be positive integers"):
        LinearClassifier(input_shape=(0, 3))


# ---------------------------------------------------------------- losses
def test_hinge_loss_by_hand_and_against_multi_margin_loss():
    s = torch.tensor([[3.2, 5.1, -1.7], [1.3, 4.9, 2.0], [2.2, 2.5, -3.1]])
    y = torch.tensor([0, 1, 2])
    # the classic worked example: 2.9, 0, 12.9
    per = multiclass_hinge_loss(s, y, reduction="none")
    torch.testing.assert_close(per, torch.tensor([2.9, 0.0, 12.9]))
    g = torch.Generator().manual_seed(0)
    s = torch.randn(16, 7, generator=g, dtype=torch.float64)
    y = torch.randint(0, 7, (16,), generator=g)
    for margin in (1.0, 0.5):
        torch.testing.assert_close(multiclass_hinge_loss(s, y, margin=margin), 7 * F.multi_margin_loss(s, y, margin=margin))
    assert MulticlassHingeLoss(reduction="sum")(s, y).item() == pytest.approx(multiclass_hinge_loss(s, y).item() * 16)


def test_soft_target_cross_entropy():
    g = torch.Generator().manual_seed(1)
    logits = torch.randn(8, 5, generator=g, dtype=torch.float64)
    target = torch.softmax(torch.randn(8, 5, generator=g, dtype=torch.float64), 1)
    torch.testing.assert_close(soft_target_cross_entropy(logits, target), F.cross_entropy(logits, target))
    hard = torch.randint(0, 5, (8,), generator=g)
    torch.testing.assert_close(soft_target_cross_entropy(logits, F.one_hot(hard, 5).double()), F.cross_entropy(logits, hard))
    torch.testing.assert_close(SoftTargetCrossEntropy()(logits, hard), F.cross_entropy(logits, hard))


def test_loss_bad_input():
    with pytest.raises(ValueError, match=r"scores of shape \[B, C\]"):
        multiclass_hinge_loss(torch.rand(3), torch.tensor([0, 1, 2]))
    with pytest.raises(ValueError, match="int64 class indices"):
        multiclass_hinge_loss(torch.rand(3, 2), torch.tensor([0.0, 1.0, 1.0]))
    with pytest.raises(ConfigError, match="margin must be positive"):
        multiclass_hinge_loss(torch.rand(3, 2), torch.tensor([0, 1, 1]), margin=0)
    with pytest.raises(ConfigError, match="reduction must be one of"):
        soft_target_cross_entropy(torch.rand(3, 2), torch.tensor([0, 1, 1]), reduction="avg")
    with pytest.raises(ValueError, match="probabilities matching logits"):
        soft_target_cross_entropy(torch.rand(3, 2), torch.rand(3, 3))


# ---------------------------------------------------------------- k-NN
@pytest.mark.parametrize("metric", ["euclidean", "manhattan"])
def test_pairwise_distances_match_the_definition(metric):
    g = torch.Generator().manual_seed(2)
    a, b = torch.rand(7, 5, generator=g, dtype=torch.float64), torch.rand(4, 5, generator=g, dtype=torch.float64)
    diff = a[:, None] - b[None]
    ref = diff.pow(2).sum(-1).sqrt() if metric == "euclidean" else diff.abs().sum(-1)
    torch.testing.assert_close(pairwise_distances(a, b, metric=metric), ref)


@pytest.mark.parametrize("metric, sk", [("euclidean", "euclidean"), ("manhattan", "manhattan")])
def test_knn_neighbours_match_scikit_learn_on_digits(metric, sk):
    from sklearn.datasets import load_digits
    from sklearn.neighbors import KNeighborsClassifier

    d = load_digits()
    x = torch.tensor(d.data[:1200], dtype=torch.float64)
    y = torch.tensor(d.target[:1200])
    q = torch.tensor(d.data[1200:1500], dtype=torch.float64)
    ours = KNNClassifier(k=5, metric=metric, query_chunk=64, train_chunk=300).fit(x, y)
    theirs = KNeighborsClassifier(n_neighbors=5, metric=sk, algorithm="brute").fit(x.numpy(), y.numpy())
    dist, _ = ours.kneighbors(q)
    ref_d, _ = theirs.kneighbors(q.numpy())
    torch.testing.assert_close(dist, torch.from_numpy(ref_d), atol=1e-6, rtol=0)
    pred = ours.predict(q)
    votes = (ours.predict_proba(q) * 5).round()
    top2 = votes.topk(2, dim=1).values
    untied = top2[:, 0] > top2[:, 1]
    assert untied.sum() > 250
    assert torch.equal(pred[untied], torch.from_numpy(theirs.predict(q.numpy()))[untied])


def test_knn_chunking_does_not_change_results():
    g = torch.Generator().manual_seed(3)
    x, y = torch.rand(200, 6, generator=g), torch.randint(0, 4, (200,), generator=g)
    q = torch.rand(50, 6, generator=g)
    a = KNNClassifier(k=7, query_chunk=1000, train_chunk=1000).fit(x, y)
    b = KNNClassifier(k=7, query_chunk=7, train_chunk=13).fit(x, y)
    for ra, rb in zip(a.kneighbors(q), b.kneighbors(q)):
        torch.testing.assert_close(ra, rb)
    assert torch.equal(a.predict(q), b.predict(q))


def test_knn_tie_breaking_is_deterministic():
    # training points on a line; the query at 0 has neighbours at distances 1 (class 1), 2 (class 0), 3 (class 1), 4 (class 0)
    x = torch.tensor([[1.0], [2.0], [3.0], [4.0]])
    y = torch.tensor([1, 0, 1, 0])
    knn = KNNClassifier(k=4).fit(x, y)
    assert knn.predict(torch.tensor([[0.0]])).item() == 1  # 2-2 tie: the class of the nearest neighbour
    knn = KNNClassifier(k=4).fit(x, torch.tensor([0, 1, 0, 1]))
    assert knn.predict(torch.tensor([[0.0]])).item() == 0
    # equal distances: ordered by training index
    xs = torch.tensor([[1.0], [-1.0], [1.0]])
    _, idx = KNNClassifier(k=3).fit(xs, torch.tensor([0, 1, 2])).kneighbors(torch.tensor([[0.0]]))
    assert idx.tolist() == [[0, 1, 2]]
    assert KNNClassifier(k=2).fit(xs, torch.tensor([2, 1, 0])).predict(torch.tensor([[0.0]])).item() == 2


def test_knn_bad_input():
    with pytest.raises(ConfigError, match="k must be a positive integer"):
        KNNClassifier(k=0)
    with pytest.raises(ConfigError, match="metric must be one of"):
        KNNClassifier(metric="cosine")
    with pytest.raises(ConfigError, match="not fitted"):
        KNNClassifier().predict(torch.rand(2, 3))
    with pytest.raises(ConfigError, match="exceeds the 3 training samples"):
        KNNClassifier(k=5).fit(torch.rand(3, 2), torch.tensor([0, 1, 0]))
    knn = KNNClassifier().fit(torch.rand(3, 2), torch.tensor([0, 1, 0]))
    with pytest.raises(ValueError, match="has 3 features per sample"):
        knn.predict(torch.rand(2, 3))
    with pytest.raises(ValueError, match="int64 labels"):
        KNNClassifier().fit(torch.rand(3, 2), torch.tensor([0.0, 1.0, 0.0]))
    with pytest.raises(ValueError, match=r"\[N, D\] and \[M, D\]"):
        pairwise_distances(torch.rand(3, 2), torch.rand(3, 3))
