"""``identify-unseen-digits``: identification by templates of classes never seen in training (notes §3.5.6).

The enrolment scenario of the notes, on MNIST: a network is trained on the
digits 0–6 only; the digits 7, 8 and 9 play new people.  Each is *enrolled*
with one template image (no retraining), and their test images are
identified by the nearest template, ``î = argmin_j ‖f(I) − f(T_j)‖₂``.

Three feature extractors ``f`` are compared on the same data and batches:

* ``classifier`` — a plain CNN trained with cross-entropy on 0–6; ``f`` is its
  penultimate layer (the notes' "latent representation … not specifically
  trained for comparison");
* ``contrastive`` — the same CNN with an L2-normalised embedding output,
  trained as a Siamese network on every pair of each batch with Hadsell's
  contrastive loss;
* ``triplet`` — the same embedding net trained with the notes' triplet loss
  on batch-hard (default) or semi-hard triplets.

Every variant trains on the same class-balanced P×K batches
(:class:`~an2dl.data.pk_sampling.PKDataset`, P = 7 digits × K images).
For the unseen digits the recipe reports, per variant (``results.json``):
``unseen/accuracy_<v>`` — closed-set identification accuracy with one
template per digit, averaged over ``eval.trials`` random template draws;
``unseen/recall_at_1_<v>`` and ``unseen/map_at_r_<v>`` — leave-one-out
retrieval among the unseen test images; ``unseen/rejection_rate_<v>`` —
the open set: only 7 and 8 are enrolled, 9s are strangers, and the threshold
accepts ``eval.acceptance`` (95 %) of the genuine 7s and 8s.  The claim: the
metric-learned features identify unseen digits better than the classifier's.

The triplet variant's gallery (one template of each unseen digit) is saved
beside its model (``variants/triplet/model/gallery.safetensors``), so
``an2dl predict RUN --model triplet IMAGE`` names the nearest digit.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import torch

from ...data import get_dataset
from ...data.core import ArrayDataset, DataSplits
from ...data.pk_sampling import PKDataset
from ...engine.optim import OptimizerSpec
from ...engine.trainer import Trainer
from ...errors import ConfigError
from ...losses import ContrastiveLoss, TripletLoss
from ...losses.mining import MINING_STRATEGIES
from ...models import get_model
from ...models.metric import Gallery
from ...tasks import ClassificationTask, MetricLearningTask
from ...tasks.metric import GALLERY_FILE, identification_scores, retrieval_metrics
from .._variants import variant_dir
from ..base import register_recipe
from ..cnn.transfer_mnist import split_digits
from ..comparison import ComparisonRecipe, Variant, plot_variant_curves
from ..config import RunSettings, TrainerConfig, to_dict, trainer_kwargs

__all__ = ["IdentifyUnseenDigits", "IdentifyUnseenConfig", "features"]

VARIANTS = ("classifier", "contrastive", "triplet")


@dataclass
class UnseenData:
    root: str | None = None  # MNIST IDX folder (default: $AN2DL_DATA_DIR/mnist, the cache, a download)
    seen_digits: tuple[int, ...] = (0, 1, 2, 3, 4, 5, 6)  # the classes trained on
    unseen_digits: tuple[int, ...] = (7, 8, 9)  # the classes enrolled with templates after training
    limit_train: int = 3000  # training images of the seen digits (CPU-cheap; MNIST has ~42,000)
    limit_eval: int = 1000  # validation / test images of the seen digits
    limit_unseen: int = 1500  # test images of the unseen digits that are identified
    seed: int = 0  # validation split, P×K batches and template draws


@dataclass
class PKSettings:
    p: int = 7  # classes per batch (at most the number of seen digits)
    k: int = 8  # images per class: the batch is P×K (trainer.batch_size is not used)
    batches_per_epoch: int | None = None  # default: limit_train // (P×K), about one pass


@dataclass
class EmbeddingSettings:
    embedding_dim: int = 32  # width of the metric variants' embedding (L2-normalised)
    channels: tuple[int, ...] = (16, 32)  # filters of the conv blocks (shared by every variant)
    hidden: tuple[int, ...] = (128,)  # dense layers before the output (the classifier's features: the last)
    normalize: bool = True  # L2-normalise the metric variants' embeddings (FaceNet); False: raw outputs


@dataclass
class LossSettings:
    contrastive_margin: float = 0.5  # m of the contrastive loss (embeddings on the unit sphere: distances ≤ 2)
    triplet_margin: float = 0.2  # m of the triplet loss (squared distances, ≤ 4)
    mining: str = "batch_all"  # triplet mining: random, batch_all, batch_hard or semi_hard


@dataclass
class EvalSettings:
    trials: int = 20  # random draws of the one-template-per-digit gallery averaged
    templates: int = 1  # templates enrolled per unseen digit
    stranger: int = 9  # the unseen digit left out of the open-set gallery
    acceptance: float = 0.95  # genuine acceptance rate that sets the open-set threshold
    classifier_features: str = "trunk"  # the classifier's f: "trunk" (flattened conv features) or "penultimate"


@dataclass
class IdentifyUnseenConfig(RunSettings):
    data: UnseenData = field(default_factory=UnseenData)
    pk: PKSettings = field(default_factory=PKSettings)
    model: EmbeddingSettings = field(default_factory=EmbeddingSettings)
    loss: LossSettings = field(default_factory=LossSettings)
    eval: EvalSettings = field(default_factory=EvalSettings)
    variants: tuple[str, ...] = VARIANTS  # which of classifier, contrastive, triplet to train
    optim: OptimizerSpec = field(default_factory=lambda: OptimizerSpec("adam", lr=1e-3))
    trainer: TrainerConfig = field(default_factory=lambda: TrainerConfig(max_epochs=6))


def features(task: Any, x: torch.Tensor, *, classifier_features: str = "trunk", batch_size: int = 512) -> torch.Tensor:
    """``f(x)`` ``[N, D]`` of a trained variant: the embedding, or a classifier's latent representation.

    A classifier's ``f`` is the output of its convolutional feature extractor, flattened
    (``"trunk"``, the notes' "feature extraction part"), or its penultimate dense layer (``"penultimate"``).
    """
    model = task.model
    model.eval()
    out = []
    with torch.no_grad():
        for i in range(0, len(x), batch_size):
            xb = x[i:i + batch_size]
            if isinstance(task, ClassificationTask):
                trunk = model.forward_features(xb)
                out.append(trunk.flatten(1) if classifier_features == "trunk" else model.pre_logits(trunk))
            else:
                out.append(model(xb))
    return torch.cat(out)


@register_recipe
class IdentifyUnseenDigits(ComparisonRecipe):
    """Train on MNIST 0–6; enrol 7–9 with one template each; classifier features vs contrastive vs triplet."""

    name = "identify-unseen-digits"
    summary = "metric learning: identify unseen digits 7-9 by one template each; classifier vs contrastive vs triplet"
    section = "3.5.6"
    Config = IdentifyUnseenConfig
    primary_metric: ClassVar[str] = "unseen/accuracy"
    higher_is_better: ClassVar[bool] = True
    smoke_settings = ("data.limit_train=140", "data.limit_eval=70", "data.limit_unseen=60", "pk.k=4",
                      "eval.trials=2", "model.channels=[4]", "model.hidden=[16]")

    def check(self, cfg: IdentifyUnseenConfig) -> None:
        super().check(cfg)
        d = cfg.data
        for v in cfg.variants:
            if v not in VARIANTS:
                raise ConfigError(f"variants must be among {', '.join(VARIANTS)}; got {v!r}")
        if set(d.seen_digits) & set(d.unseen_digits):
            raise ConfigError(f"data.seen_digits {d.seen_digits} and data.unseen_digits {d.unseen_digits} must not overlap")
        if len(d.unseen_digits) < 2 or cfg.eval.stranger not in d.unseen_digits:
            raise ConfigError(f"eval.stranger must be one of data.unseen_digits {d.unseen_digits} (at least 2); "
                              f"got {cfg.eval.stranger}")
        if cfg.loss.mining not in MINING_STRATEGIES:
            raise ConfigError(f"loss.mining must be one of {', '.join(MINING_STRATEGIES)}; got {cfg.loss.mining!r}")
        if cfg.eval.classifier_features not in ("trunk", "penultimate"):
            raise ConfigError(f"eval.classifier_features must be 'trunk' or 'penultimate'; "
                              f"got {cfg.eval.classifier_features!r}")
        for key in ("trials", "templates"):
            value = getattr(cfg.eval, key)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ConfigError(f"eval.{key} must be a positive integer; got {value!r}")

    def variant_names(self, cfg: IdentifyUnseenConfig) -> list[str]:
        return list(cfg.variants)

    # ---- data
    def _splits(self, cfg: IdentifyUnseenConfig) -> tuple[DataSplits, ArrayDataset, ArrayDataset]:
        d = cfg.data
        mnist = get_dataset("mnist", root=d.root, val_fraction=1 / 12, seed=d.seed)
        seen_train = split_digits(mnist.train, d.seen_digits, limit=d.limit_train)
        val = split_digits(mnist.val, d.seen_digits, limit=d.limit_eval)
        test = split_digits(mnist.test, d.seen_digits, limit=d.limit_eval)
        # the unseen digits keep their own labels: templates from the training images, queries from the test images
        unseen_pool = split_digits(mnist.train, d.unseen_digits)
        unseen_test = split_digits(mnist.test, d.unseen_digits, limit=d.limit_unseen)
        digits = torch.tensor(d.unseen_digits)
        unseen_pool = ArrayDataset(unseen_pool.tensors[0], digits[unseen_pool.tensors[1]])
        unseen_test = ArrayDataset(unseen_test.tensors[0], digits[unseen_test.tensors[1]])
        y = seen_train.tensors[1]
        train = PKDataset(seen_train, y, p=cfg.pk.p, k=cfg.pk.k, num_batches=cfg.pk.batches_per_epoch, seed=d.seed)
        info = dataclasses.replace(mnist.info, class_names=[str(c) for c in d.seen_digits])
        return DataSplits(train, val, test, info), unseen_pool, unseen_test

    def load_data(self, cfg: IdentifyUnseenConfig) -> DataSplits:
        data, self._unseen_pool, self._unseen_test = self._splits(cfg)
        return data

    # ---- variants
    def build_variant(self, cfg: IdentifyUnseenConfig, name: str, data: DataSplits) -> Any:
        m, L = cfg.model, cfg.loss
        if name == "classifier":
            net = get_model("plain_cnn", num_classes=len(cfg.data.seen_digits), channels=list(m.channels),
                            hidden=list(m.hidden))
            return ClassificationTask(net, num_classes=len(cfg.data.seen_digits), optimizer=cfg.optim)
        net = get_model("embedding_cnn", embedding_dim=m.embedding_dim, channels=list(m.channels), hidden=list(m.hidden),
                        normalize=m.normalize)
        loss = (ContrastiveLoss(margin=L.contrastive_margin) if name == "contrastive"
                else TripletLoss(margin=L.triplet_margin, mining=L.mining))
        return MetricLearningTask(net, loss=loss, optimizer=cfg.optim)

    def make_trainer(self, cfg: IdentifyUnseenConfig, run_dir: Path, *, progress: bool | None = None) -> Trainer:
        # the P×K dataset lays the batches out in order: no shuffling, and the batch is P×K
        kw = trainer_kwargs(cfg.trainer) | {"batch_size": cfg.pk.p * cfg.pk.k}
        return Trainer(**kw, shuffle=False, run_dir=run_dir, callbacks=self.callbacks(cfg), progress=progress,
                       config={"recipe": self.name, **to_dict(cfg)})

    # ---- the unseen digits
    def _templates(self, cfg: IdentifyUnseenConfig, trial: int) -> torch.Tensor:
        """Indices into the unseen training pool: ``eval.templates`` random images of each unseen digit."""
        y = self._unseen_pool.tensors[1]
        g = torch.Generator().manual_seed(cfg.data.seed * 1000 + trial)
        picked = []
        for c in cfg.data.unseen_digits:
            idx = torch.nonzero(y == c).flatten()
            picked.append(idx[torch.randperm(len(idx), generator=g)[: cfg.eval.templates]])
        return torch.cat(picked)

    def _unseen_scores(self, cfg: IdentifyUnseenConfig, v: Variant) -> dict[str, float]:
        e = cfg.eval
        pool_x, pool_y = self._unseen_pool.tensors
        qx, qy = self._unseen_test.tensors
        q = features(v.task, qx, classifier_features=e.classifier_features)
        picks = [self._templates(cfg, t) for t in range(e.trials)]
        used = torch.unique(torch.cat(picks))
        z_pool = torch.zeros(len(pool_x), q.shape[1])
        z_pool[used] = features(v.task, pool_x[used], classifier_features=e.classifier_features)
        trials = [identification_scores(z_pool[p], pool_y[p], q, qy, unknown=(e.stranger,), acceptance=e.acceptance)
                  for p in picks]
        retrieval = retrieval_metrics(q, qy)
        mean = {k: sum(t[k] for t in trials) / len(trials) for k in ("accuracy", "rejection_rate", "open_set_accuracy")}
        return {"unseen/accuracy": mean["accuracy"], "unseen/rejection_rate": mean["rejection_rate"],
                "unseen/open_set_accuracy": mean["open_set_accuracy"], "unseen/recall_at_1": retrieval["recall_at_1"],
                "unseen/map_at_r": retrieval["map_at_r"], "unseen/roc_auc": retrieval["roc_auc"]}

    def summarize(self, cfg: IdentifyUnseenConfig, variants: list[Variant], data: DataSplits):
        extra: dict[str, Any] = {}
        notes = []
        for v in variants:
            scores = self._unseen_scores(cfg, v)
            v.metrics.update(scores)  # primary_metric ranks the variants by it
            extra.update({f"{k}_{v.name}": val for k, val in scores.items()})
            notes.append(f"{v.name}: unseen digits {list(cfg.data.unseen_digits)} identified with "
                         f"{scores['unseen/accuracy']:.1%} accuracy ({cfg.eval.templates} template(s) per digit, "
                         f"mean of {cfg.eval.trials} draws), recall@1 {scores['unseen/recall_at_1']:.1%}, "
                         f"{scores['unseen/rejection_rate']:.1%} of the {cfg.eval.stranger}s rejected as unknown at "
                         f"{cfg.eval.acceptance:.0%} genuine acceptance.")
            if v.name == "triplet" and v.task is not None:
                self._save_gallery(cfg, v, self._run_dir)
        base = extra.get("unseen/accuracy_classifier")
        for v in variants:
            if v.name != "classifier" and base is not None:
                extra[f"unseen/accuracy_gain_{v.name}"] = extra[f"unseen/accuracy_{v.name}"] - base
        return extra, notes

    def _save_gallery(self, cfg: IdentifyUnseenConfig, v: Variant, run_dir: Path) -> None:
        pool_x, pool_y = self._unseen_pool.tensors
        gallery = Gallery(v.task.model, input_shape=tuple(pool_x.shape[1:]))
        for i in self._templates(cfg, 0).tolist():
            gallery.enroll(str(int(pool_y[i])), pool_x[i])
        gallery.save(variant_dir(run_dir, v.name) / "model" / GALLERY_FILE)

    def run(self, cfg: IdentifyUnseenConfig, run_dir: Path, *, resume: bool = False, progress: bool | None = None):
        self._run_dir = run_dir
        return super().run(cfg, run_dir, resume=resume, progress=progress)

    # ---- figures
    def comparison_figures(self, cfg: IdentifyUnseenConfig, variants: list[Variant], data: DataSplits,
                           run_dir: Path, *, metrics: dict[str, Any]) -> None:
        from ...report.plots import figure, save_figure

        plot_variant_curves(variants, run_dir, "train/loss", label="training loss", name="training_loss",
                            caption="Training loss of each variant (each its own loss: cross-entropy, contrastive, "
                                    "triplet)", x="epoch")
        names = [v.name for v in variants]
        fig = figure(figsize=(6.5, 3.2))
        ax = fig.add_subplot(1, 1, 1)
        keys = [("unseen/accuracy", "identification"), ("unseen/recall_at_1", "recall@1"),
                ("unseen/rejection_rate", "strangers rejected")]
        width = 0.8 / len(keys)
        for j, (key, label) in enumerate(keys):
            ax.bar([i + j * width for i in range(len(names))], [v.metrics.get(key, 0.0) for v in variants], width,
                   label=label)
        ax.set_xticks([i + width for i in range(len(names))], names)
        ax.set_ylim(0, 1)
        ax.set_ylabel("unseen digits")
        ax.legend(fontsize=8)
        save_figure(fig, run_dir, "unseen_identification",
                    f"Digits {list(cfg.data.unseen_digits)}, never seen in training, identified by one template each: "
                    "accuracy, recall@1 and the open-set rejection rate per feature extractor")
        self._embedding_figure(cfg, variants, run_dir)

    def _embedding_figure(self, cfg: IdentifyUnseenConfig, variants: list[Variant], run_dir: Path) -> None:
        from sklearn.decomposition import PCA

        from ...report.plots import figure, save_figure

        qx, qy = self._unseen_test.tensors
        fig = figure(figsize=(3.2 * len(variants), 3.2))
        for i, v in enumerate(variants):
            z = PCA(n_components=2, random_state=0).fit_transform(
                features(v.task, qx, classifier_features=cfg.eval.classifier_features).numpy())
            ax = fig.add_subplot(1, len(variants), i + 1)
            for c in cfg.data.unseen_digits:
                sel = (qy == c).numpy()
                ax.scatter(z[sel, 0], z[sel, 1], s=4, label=str(c))
            ax.set_title(v.name, fontsize=9)
            ax.set_xticks([])
            ax.set_yticks([])
        fig.axes[0].legend(fontsize=7, markerscale=3)
        save_figure(fig, run_dir, "unseen_embeddings",
                    "The unseen digits' test images in each variant's feature space (2-D PCA)")
