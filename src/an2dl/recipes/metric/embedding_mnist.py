"""``siamese-mnist`` and ``triplet-mnist``: one metric-learning loss, its embedding and its retrieval (notes §3.5.6).

The embedding net of §3.5.6 (the plain CNN with an L2-normalised embedding
output, :func:`~an2dl.models.metric.embedding_cnn`) trained on MNIST with one
loss:

* ``siamese-mnist`` — a Siamese network on every pair of each batch, with
  Hadsell et al.'s contrastive loss (the notes' ``L``, which they leave undefined);
* ``triplet-mnist`` — the notes' triplet loss on the triplets of each batch
  picked by ``loss.mining`` (batch-hard by default).

Both train on class-balanced P×K batches (10 digits × K images,
:class:`~an2dl.data.pk_sampling.PKDataset`).  The test split is measured by
retrieval (``test/recall_at_1``, ``test/map_at_r``) and verification
(``test/roc_auc``: is a pair the same digit, decided by its distance), beside
the same measures of the raw-pixel distance ``‖I − T‖₂`` (``*_pixels``), the
notes' first identification rule before any learning.  The
report draws the test embeddings in 2-D (PCA), a grid of queries with their
nearest neighbours, and the verification ROC curve.  ``an2dl resume``
continues the training exactly (the P×K batches are a function of the seed,
the epoch and the step).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import torch

from ...data import get_dataset
from ...data.core import DataSplits
from ...data.pk_sampling import PKDataset
from ...engine.optim import OptimizerSpec
from ...engine.trainer import Trainer
from ...errors import ConfigError
from ...losses import ContrastiveLoss, TripletLoss
from ...losses.mining import MINING_STRATEGIES, pairwise_distances
from ...models import get_model
from ...tasks import MetricLearningTask, retrieval_metrics
from ..base import Recipe, RunResult, register_recipe
from ..cnn.transfer_mnist import split_digits
from ..config import RunSettings, TrainerConfig, to_dict, trainer_kwargs

__all__ = ["SiameseMNIST", "TripletMNIST", "EmbeddingMNISTConfig"]


@dataclass
class EmbeddingData:
    root: str | None = None  # MNIST IDX folder (default: $AN2DL_DATA_DIR/mnist, the cache, a download)
    limit_train: int = 3000  # training images (CPU-cheap)
    limit_eval: int = 1000  # validation / test images
    seed: int = 0  # validation split and P×K batches


@dataclass
class EmbeddingModel:
    embedding_dim: int = 32  # width of the L2-normalised embedding
    channels: tuple[int, ...] = (16, 32)  # filters of the conv blocks
    hidden: tuple[int, ...] = (128,)  # dense layers before the embedding


@dataclass
class EmbeddingLoss:
    margin: float | None = None  # m (None: 0.5 for the contrastive loss, 0.2 for the triplet loss)
    mining: str = "semi_hard"  # triplet-mnist: random, batch_all, batch_hard or semi_hard (FaceNet's choice)
    squared: bool = True  # triplet-mnist: squared distances as the notes write the loss (False: ‖·‖₂, Hermans et al.)


@dataclass
class EmbeddingMNISTConfig(RunSettings):
    data: EmbeddingData = field(default_factory=EmbeddingData)
    model: EmbeddingModel = field(default_factory=EmbeddingModel)
    loss: EmbeddingLoss = field(default_factory=EmbeddingLoss)
    k: int = 8  # images per digit in a batch: batches of 10 × k (trainer.batch_size is not used)
    optim: OptimizerSpec = field(default_factory=lambda: OptimizerSpec("adam", lr=1e-3))
    neighbours: int = 6  # nearest neighbours drawn per query in the report's grid
    trainer: TrainerConfig = field(default_factory=lambda: TrainerConfig(max_epochs=4))


class _EmbeddingMNIST(Recipe):
    """Shared flow: an embedding net on P×K batches of all ten digits, one loss."""

    Config = EmbeddingMNISTConfig
    section = "3.5.6"
    smoke_settings = ("data.limit_train=100", "data.limit_eval=40", "k=2", "model.channels=[4]", "model.hidden=[16]")
    default_margin = 0.5

    def loss(self, cfg: EmbeddingMNISTConfig) -> torch.nn.Module:
        raise TypeError(f"{type(self).__name__} must define loss(cfg)")

    def build(self, cfg: EmbeddingMNISTConfig) -> tuple[MetricLearningTask, DataSplits]:
        if cfg.loss.mining not in MINING_STRATEGIES:
            raise ConfigError(f"loss.mining must be one of {', '.join(MINING_STRATEGIES)}; got {cfg.loss.mining!r}")
        d, m = cfg.data, cfg.model
        mnist = get_dataset("mnist", root=d.root, val_fraction=1 / 12, seed=d.seed)
        digits = tuple(range(10))
        train = split_digits(mnist.train, digits, limit=d.limit_train)
        val = split_digits(mnist.val, digits, limit=d.limit_eval)
        test = split_digits(mnist.test, digits, limit=d.limit_eval)
        pk = PKDataset(train, train.tensors[1], p=10, k=cfg.k, seed=d.seed)
        net = get_model("embedding_cnn", embedding_dim=m.embedding_dim, channels=list(m.channels), hidden=list(m.hidden))
        task = MetricLearningTask(net, loss=self.loss(cfg), optimizer=cfg.optim, recall_at=(1, 5))
        return task, DataSplits(pk, val, test, mnist.info)

    def margin(self, cfg: EmbeddingMNISTConfig) -> float:
        return self.default_margin if cfg.loss.margin is None else cfg.loss.margin

    def make_trainer(self, cfg: EmbeddingMNISTConfig, run_dir: Path, *, progress: bool | None = None) -> Trainer:
        # the P×K dataset lays its batches out in order: no shuffling, and the batch is 10 × k
        kw = trainer_kwargs(cfg.trainer) | {"batch_size": 10 * cfg.k}
        return Trainer(**kw, shuffle=False, run_dir=run_dir, callbacks=self.callbacks(cfg), progress=progress,
                       config={"recipe": self.name, **to_dict(cfg)})

    def extra_metrics(self, cfg: EmbeddingMNISTConfig, task: MetricLearningTask,
                      data: DataSplits) -> tuple[dict[str, float], list[str]]:
        """The baseline distance: the same retrieval and verification on raw pixels (``‖I − T‖₂``, the notes'
        first identification rule)."""
        x, y = data.test.tensors
        pixels = retrieval_metrics(x.flatten(1), y, ks=(1, 5))
        metrics = {f"test/{k}_pixels": v for k, v in pixels.items()}
        note = (f"Raw-pixel distance on the same test images: recall@1 {pixels['recall_at_1']:.3f}, "
                f"mAP@R {pixels['map_at_r']:.3f}, verification ROC AUC {pixels['roc_auc']:.3f}.")
        return metrics, [note]

    def figures(self, result: RunResult) -> None:
        from sklearn.decomposition import PCA
        from sklearn.metrics import roc_curve

        from ...report.plots import figure, save_figure

        cfg, task, data = result.config, result.task, result.data
        x, y = data.test.tensors
        task.eval()
        with torch.no_grad():
            z = torch.cat([task.model(x[i:i + 500]) for i in range(0, len(x), 500)])
        # 1. the embedding in 2-D
        p = PCA(n_components=2, random_state=0).fit_transform(z.numpy())
        fig = figure(figsize=(4.6, 4.2))
        ax = fig.add_subplot(1, 1, 1)
        for c in range(10):
            sel = (y == c).numpy()
            ax.scatter(p[sel, 0], p[sel, 1], s=4, label=str(c))
        ax.legend(fontsize=7, markerscale=3, ncol=2)
        ax.set_xticks([])
        ax.set_yticks([])
        save_figure(fig, result.run_dir, "embedding_pca", "Test digits in the learned embedding, first two principal "
                                                         "components, one colour per digit")
        # 2. queries and their nearest neighbours
        d = pairwise_distances(z)
        d.fill_diagonal_(torch.inf)
        n = cfg.neighbours
        queries = [int((y == c).nonzero()[0]) for c in torch.unique(y).tolist()]  # one per digit present
        fig = figure(figsize=(1.0 * (n + 1), 1.0 * len(queries)))
        for r, q in enumerate(queries):
            row = [q, *d[q].argsort()[:n].tolist()]
            for j, i in enumerate(row):
                ax = fig.add_subplot(len(queries), n + 1, r * (n + 1) + j + 1)
                ax.imshow(x[i, 0].numpy(), cmap="gray" if j == 0 or int(y[i]) == int(y[q]) else "Reds_r")
                ax.set_xticks([])
                ax.set_yticks([])
        save_figure(fig, result.run_dir, "nearest_neighbours",
                    f"One test query per digit (first column) and its {n} nearest test images in the embedding; "
                    "neighbours of another digit in red")
        # 3. verification ROC over every test pair
        i, j = torch.triu_indices(len(y), len(y), offset=1)
        fpr, tpr, _ = roc_curve((y[i] == y[j]).numpy(), (-d[i, j]).numpy())
        fig = figure(figsize=(4.2, 4.0))
        ax = fig.add_subplot(1, 1, 1)
        ax.plot(fpr, tpr)
        ax.plot([0, 1], [0, 1], ":", color="gray")
        ax.set_xlabel("false accept rate (pairs of different digits)")
        ax.set_ylabel("true accept rate (pairs of one digit)")
        save_figure(fig, result.run_dir, "verification_roc",
                    f"Verification by distance on every pair of test images: ROC, AUC {result.metrics.get('test/roc_auc', float('nan')):.3f}")


@register_recipe
class SiameseMNIST(_EmbeddingMNIST):
    """A Siamese embedding net trained on MNIST pairs with the contrastive loss."""

    name = "siamese-mnist"
    summary = "Siamese network + contrastive loss on MNIST pairs: embedding, nearest neighbours, verification ROC"

    def loss(self, cfg: EmbeddingMNISTConfig) -> torch.nn.Module:
        return ContrastiveLoss(margin=self.margin(cfg))


@register_recipe
class TripletMNIST(_EmbeddingMNIST):
    """An embedding net trained on MNIST with the notes' triplet loss and a mining strategy."""

    name = "triplet-mnist"
    summary = "triplet loss with batch-hard (or random, batch-all, semi-hard) mining on MNIST: embedding, neighbours, ROC"
    default_margin = 0.2

    def loss(self, cfg: EmbeddingMNISTConfig) -> torch.nn.Module:
        return TripletLoss(margin=self.margin(cfg), mining=cfg.loss.mining, squared=cfg.loss.squared)
