"""Metric learning: Siamese/triplet training of an embedding and its retrieval metrics (notes §3.5.6).

:class:`MetricLearningTask` trains an embedding net ``f_w`` so that images of
one class lie closer together than images of different classes,

    ‖f_w(I) − f_w(T_i)‖₂ < ‖f_w(I) − f_w(T_j)‖₂   (T_i of I's class, T_j of another),

with a pair loss (contrastive, Siamese pairs) or the triplet loss over the
pairs and triplets of each batch (:mod:`an2dl.losses.metric`).  A batch of
``B`` images through one network is the Siamese network of the notes: every
pair shares the weights because it is the same module.

Evaluation measures retrieval on the whole split, with every image in turn a
query and the rest of the split the references:

* ``recall_at_k``: the fraction of queries with an image of their class among
  their ``k`` nearest neighbours (Jégou et al. 2011; recall@1 is
  pytorch-metric-learning's ``precision_at_1``);
* ``map_at_r``: mean average precision at ``R`` (Musgrave, Belongie & Lim 2020,
  *A Metric Learning Reality Check*): with ``R`` the number of other images of
  the query's class, ``AP@R = (1/R) Σ_{i≤R} P(i)·rel(i)`` over its ``R``
  nearest neighbours;
* ``roc_auc``: verification — the area under the ROC curve of "same class?"
  decided by ``−‖f(I_i) − f(I_j)‖₂`` over every pair (scikit-learn).

Queries whose class has no other image in the split are left out.
Identification against enrolled templates is :class:`~an2dl.models.metric.Gallery`.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..data.batch import Batch
from ..engine.metrics import metric, register_metric
from ..engine.optim import OptimizerSpec
from ..engine.prediction import Prediction, PredictOptions
from ..engine.task import StepContext, Task, call_model
from ..errors import ConfigError
from ..losses.metric import TripletLoss
from ..losses.mining import pairwise_distances
from ..models.metric import Gallery

__all__ = ["MetricLearningTask", "retrieval_metrics", "identification_scores", "gallery_path", "GALLERY_FILE"]

#: the file of a run's gallery, beside its exported model (``<run_dir>/model/gallery.safetensors``)
GALLERY_FILE = "gallery.safetensors"


def gallery_path(run_dir: str | Path) -> Path:
    """Where a run keeps its gallery: beside ``model.json`` (``run_dir/model/`` or ``run_dir`` itself)."""
    run_dir = Path(run_dir)
    if (run_dir / "model.json").is_file():
        return run_dir / GALLERY_FILE
    return run_dir / "model" / GALLERY_FILE


def retrieval_metrics(embeddings: torch.Tensor, labels: torch.Tensor, *, ks: Sequence[int] = (1,)) -> dict[str, float]:
    """Recall@k, mAP@R and verification ROC AUC of a set of embeddings (leave-one-out retrieval).

    Args:
        embeddings: ``[N, D]``.
        labels: class ids ``[N]``.
        ks: the ``k`` of each recall@k.

    Returns:
        ``{"recall_at_<k>": ..., "map_at_r": ..., "roc_auc": ...}`` (NaN when no
        query has another image of its class, or no pair of different classes exists).
    """
    from sklearn.metrics import roc_auc_score

    if embeddings.dim() != 2 or labels.shape != embeddings.shape[:1]:
        raise ConfigError(f"retrieval_metrics needs embeddings [N, D] and labels [N]; got {list(embeddings.shape)} "
                          f"and {list(labels.shape)}")
    for k in ks:
        if not isinstance(k, int) or k < 1:
            raise ConfigError(f"ks must be positive integers; got {k!r}")
    e = embeddings.detach().double().cpu()
    y = labels.detach().cpu()
    n = len(y)
    d = pairwise_distances(e)
    d.fill_diagonal_(torch.inf)  # a query is not its own neighbour
    same = y[:, None] == y[None, :]
    same.fill_diagonal_(False)
    r = same.sum(1)
    valid = r > 0
    out: dict[str, float] = {}
    if n < 2 or not bool(valid.any()):
        out.update({f"recall_at_{k}": float("nan") for k in ks})
        out["map_at_r"] = float("nan")
    else:
        # stable sort: ties between neighbours go to the lower index, as a brute-force scan would
        order = torch.sort(d, dim=1, stable=True).indices[:, : n - 1]
        rel = torch.gather(same, 1, order)  # [N, N-1]: is the i-th neighbour of the query's class?
        for k in ks:
            out[f"recall_at_{k}"] = float(rel[valid, :k].any(1).double().mean())
        ranks = torch.arange(1, n, dtype=torch.double)
        precision = rel.double().cumsum(1) / ranks
        within_r = ranks[None, :] <= r[:, None]
        ap = (precision * rel * within_r).sum(1) / r.clamp(min=1)
        out["map_at_r"] = float(ap[valid].mean())
    i, j = torch.triu_indices(n, n, offset=1)
    genuine = (y[i] == y[j]).numpy()
    if genuine.all() or not genuine.any():
        out["roc_auc"] = float("nan")
    else:
        out["roc_auc"] = float(roc_auc_score(genuine, (-d[i, j]).numpy()))
    return out


def identification_scores(templates: torch.Tensor, template_labels: torch.Tensor, queries: torch.Tensor,
                          query_labels: torch.Tensor, *, unknown: Sequence[int] = (),
                          acceptance: float = 0.95) -> dict[str, float]:
    """Closed- and open-set identification of queries against enrolled templates (notes §3.5.6).

    * ``accuracy``: every template enrolled (name = its label); the fraction
      of queries whose nearest template has their label.
    * open set: the templates of the ``unknown`` labels are not enrolled, and
      their queries play strangers.  The threshold is the ``acceptance``
      quantile of the known queries' nearest-template distances (so that
      fraction of genuine users is accepted); ``rejection_rate`` is the
      fraction of strangers farther than it, ``open_set_accuracy`` the fraction
      of known queries accepted *and* named correctly.

    Args:
        templates: ``[T, D]`` template embeddings; template_labels ``[T]``.
        queries: ``[Q, D]``; query_labels ``[Q]`` (labels of enrolled classes and of ``unknown``).
        unknown: labels left out of the open-set gallery (empty: no open-set figures).
        acceptance: genuine acceptance rate in (0, 1] that sets the threshold.

    Returns:
        ``{"accuracy", "threshold", "rejection_rate", "open_set_accuracy"}`` (the last three only with ``unknown``).
    """
    if not 0 < acceptance <= 1:
        raise ConfigError(f"acceptance must lie in (0, 1]; got {acceptance!r}")
    gallery = Gallery()
    for c in torch.unique(template_labels).tolist():
        gallery.enroll_embeddings(str(c), templates[template_labels == c])
    names = gallery.identify_embeddings(queries).names
    truth = [str(c) for c in query_labels.tolist()]
    out = {"accuracy": sum(a == b for a, b in zip(names, truth)) / max(1, len(truth))}
    if unknown:
        stranger = torch.isin(query_labels, torch.tensor(list(unknown), dtype=query_labels.dtype))
        known_templates = ~torch.isin(template_labels, torch.tensor(list(unknown), dtype=template_labels.dtype))
        if stranger.all() or not stranger.any() or not known_templates.any():
            raise ConfigError("identification_scores needs queries of enrolled and of unknown classes and at least "
                              f"one enrolled template; got unknown={list(unknown)}")
        open_gallery = Gallery()
        for c in torch.unique(template_labels[known_templates]).tolist():
            open_gallery.enroll_embeddings(str(c), templates[template_labels == c])
        known = open_gallery.identify_embeddings(queries[~stranger])
        threshold = float(torch.quantile(known.distances.double(), acceptance))
        strangers = open_gallery.identify_embeddings(queries[stranger], threshold=threshold)
        accepted = open_gallery.identify_embeddings(queries[~stranger], threshold=threshold).names
        known_truth = [t for t, s in zip(truth, stranger.tolist()) if not s]
        out["threshold"] = threshold
        out["rejection_rate"] = sum(n == "unknown" for n in strangers.names) / len(strangers.names)
        out["open_set_accuracy"] = sum(a == b for a, b in zip(accepted, known_truth)) / len(known_truth)
    return out


def _retrieval_class() -> type:
    from torchmetrics import Metric

    class _Retrieval(Metric):
        """Gathers a split's embeddings and labels; ``compute`` gives :func:`retrieval_metrics`."""

        full_state_update = False

        def __init__(self, ks: Sequence[int] = (1,)) -> None:
            super().__init__()
            self.ks = tuple(ks)
            self.add_state("embeddings", default=[], dist_reduce_fx="cat")
            self.add_state("labels", default=[], dist_reduce_fx="cat")

        def update(self, embeddings: torch.Tensor, labels: torch.Tensor) -> None:
            self.embeddings.append(embeddings.detach())
            self.labels.append(labels.detach())

        def compute(self) -> dict[str, torch.Tensor]:
            from torchmetrics.utilities import dim_zero_cat

            if not self.embeddings:
                return {}
            values = retrieval_metrics(dim_zero_cat(self.embeddings), dim_zero_cat(self.labels), ks=self.ks)
            return {k: torch.tensor(v, dtype=torch.float64) for k, v in values.items()}

    return _Retrieval


@register_metric("retrieval")
def _retrieval(*, ks: Sequence[int] = (1,)) -> Any:
    """recall@k, mAP@R and verification ROC AUC of a split's embeddings (:func:`retrieval_metrics`)."""
    return _retrieval_class()(ks=ks)


class MetricLearningTask(Task):
    """Train an embedding net with a metric-learning loss on labelled batches (notes §3.5.6).

    Logged metrics: ``loss`` on every split; at validation and test
    ``recall_at_<k>``, ``map_at_r`` and ``roc_auc`` of the whole split
    (:func:`retrieval_metrics`).

    Args:
        model: ``f_w``, maps ``[B, ...]`` inputs to embeddings ``[B, D]``
            (e.g. ``an2dl.get_model("embedding_cnn")``).
        loss: ``loss(embeddings, labels) -> scalar``: a
            :class:`~an2dl.losses.ContrastiveLoss` (Siamese pairs) or a
            :class:`~an2dl.losses.TripletLoss` with its mining (default:
            ``TripletLoss(margin=0.2, mining="batch_hard")``, a margin suited to
            L2-normalised embeddings).
        optimizer: :class:`OptimizerSpec` (default Adam, lr 1e-3).
        recall_at: the ``k`` of each logged recall@k.
        augment: module applied to training inputs only.

    Batch-hard and semi-hard mining need several images per class in each
    batch: train on a :class:`~an2dl.data.pk_sampling.PKDataset` with
    ``Trainer(batch_size=P*K, shuffle=False)``.

    Shape:
        batch ``(x, y)`` with ``y`` int64 class ids ``[B]``; ``predict_step``
        returns the embeddings ``[B, D]``.
    """

    kind = "metric_learning"
    required_fields = ("inputs", "targets")
    augment_fields = {"targets": "label"}

    def __init__(self, model: nn.Module, *, loss: nn.Module | None = None, optimizer: OptimizerSpec | None = None,
                 recall_at: Sequence[int] = (1,), augment: nn.Module | None = None) -> None:
        super().__init__(optimizer if optimizer is not None else OptimizerSpec("adam", lr=1e-3), augment=augment)
        if loss is not None and not callable(loss):
            raise ConfigError(f"loss must be a callable loss(embeddings, labels), e.g. TripletLoss(); got {loss!r}")
        for k in recall_at:
            if not isinstance(k, int) or isinstance(k, bool) or k < 1:
                raise ConfigError(f"recall_at values must be positive integers; got {k!r}")
        self.model = model
        self.loss_fn = loss if loss is not None else TripletLoss(margin=0.2, mining="batch_hard")
        self.recall_at = tuple(recall_at)
        self.declare_metrics({"retrieval": metric("retrieval", ks=self.recall_at, splits=("val", "test"))})

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)

    def check_batch(self, batch: Batch, split: str) -> None:
        """The required fields, and targets that are integer class ids ``[B]``."""
        super().check_batch(batch, split)
        if split == "predict":
            return
        y = batch.targets
        if not isinstance(y, torch.Tensor) or y.dim() != 1 or y.is_floating_point() or y.dtype == torch.bool:
            raise ConfigError(f"{type(self).__name__} targets must be integer class ids of shape [B]; got "
                              f"{getattr(y, 'dtype', type(y).__name__)} {list(getattr(y, 'shape', []))}")

    def _embed(self, x: torch.Tensor) -> torch.Tensor:
        z = call_model(self.model, x, owner=type(self).__name__)
        if not isinstance(z, torch.Tensor) or z.dim() != 2:
            raise ConfigError(f"the model of {type(self).__name__} must return embeddings [B, D]; got "
                              f"{list(getattr(z, 'shape', []))}")
        return z

    def step(self, batch: Batch, ctx: StepContext) -> torch.Tensor:
        z = self._embed(batch.inputs)
        loss = self.loss_fn(z, batch.targets)
        ctx.log("loss", loss)
        if not ctx.training:
            self.update_metrics(ctx, z.detach(), batch.targets)
        return loss

    def predict_step(self, batch: Batch, ctx: StepContext) -> torch.Tensor:
        return self._embed(batch.inputs)

    @classmethod
    def predict_inputs(cls, model: nn.Module, meta: dict, inputs: Sequence[str], *,
                       options: PredictOptions) -> Prediction:
        """The embedding norm of each image and, when the run has a gallery, its nearest entry.

        Images are prepared as for a classifier (the model's recorded
        pipeline or its ``preprocessing.input_shape``).  The gallery is
        ``<run_dir>/model/gallery.safetensors`` (written by the recipe or by
        ``an2dl enroll``); its threshold rejects as ``unknown``.

        Returns:
            One line per image, ``"<input>: embedding norm n; nearest <name> (distance d)"``
            (the second part only with a gallery); ``values`` holds
            ``(input, embedding [D], name or None, distance or None)``.
        """
        from .predictors import _call, _image_batch, _input_shape, _require_inputs

        _require_inputs(inputs, cls.kind, options, "image files (PNG/JPEG) or .npy images to embed")
        x, warnings = _image_batch(model, meta, inputs, options, _input_shape(meta, options, image=True))
        z = _call(model, x).float()
        out = Prediction(warnings=warnings)
        path = gallery_path(options.run_dir) if options.run_dir is not None else None
        found = None
        if path is not None and path.is_file():
            gallery = Gallery.load(path)
            if len(gallery):
                found = gallery.identify_embeddings(z)
        for b, (src, emb) in enumerate(zip(inputs, z)):
            line = f"{src}: embedding norm {float(emb.norm()):.4g}"
            if found is not None:
                line += f"; nearest {found.names[b]} (distance {float(found.distances[b]):.4g})"
                out.values.append((src, emb, found.names[b], float(found.distances[b])))
            else:
                out.values.append((src, emb, None, None))
            out.lines.append(line)
        return out
