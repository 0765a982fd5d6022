"""``caption-shapes``: image captioning with and without attention over the feature map (notes §4.3).

A CNN encodes a 64×64 scene of two shapes; a GRU decoder writes its
description ("a red circle left of a blue square", see the ``caption-shapes``
dataset).  The plain captioner starts the decoder from one vector — the mean
of the feature map — and must keep colours, kinds and positions of both
shapes in it; with attention (Show, Attend and Tell: Bahdanau's score over the
8×8 positions of the feature map) each word is written from a fresh look at
the image.  Both share the data, the CNN, the decoder size, the optimiser and
the epochs.  The claim: attention gives far more exactly right captions on
held-out scenes (``test/sequence_accuracy``) and a higher BLEU.  The report
shows, for one held-out scene, where the attention looks while writing each
word.  ``an2dl predict RUN --model attention scene.png`` captions an image.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from ...data import get_dataset
from ...data.core import DataSplits
from ...data.text.specials import PAD
from ...engine.optim import OptimizerSpec
from ...errors import ConfigError
from ...models import get_model
from ...nn.attention import ATTENTION_SCORES
from ...report.plots import figure, save_figure
from ...tasks.seq2seq import Seq2SeqTask, shift_right
from ..base import register_recipe
from ..comparison import ComparisonRecipe, Variant, plot_variant_curves
from ..config import RunSettings, TrainerConfig

__all__ = ["CaptionShapes", "CaptionShapesConfig"]


@dataclass
class CaptionData:
    n_train: int = 3000  # training scenes
    n_val: int = 300  # validation scenes
    n_test: int = 500  # held-out scenes
    seed: int = 0  # seed of the draws (validation seed + 1, test seed + 2)


@dataclass
class CaptionModels:
    variants: list[str] = field(default_factory=lambda: ["plain", "attention"])  # without / with attention
    attention: str = "mlp"  # the score of the attending captioner (Show, Attend and Tell: mlp)
    channels: list[int] = field(default_factory=lambda: [16, 32, 64])  # CNN stages (each halves the map)
    hidden_size: int = 64  # decoder state and annotation vectors
    embedding_dim: int = 32  # word embeddings
    cell: str = "gru"  # rnn, lstm or gru


@dataclass
class CaptionShapesConfig(RunSettings):
    data: CaptionData = field(default_factory=CaptionData)
    model: CaptionModels = field(default_factory=CaptionModels)
    optim: OptimizerSpec = field(default_factory=lambda: OptimizerSpec("adam", lr=3e-3))
    trainer: TrainerConfig = field(default_factory=lambda: TrainerConfig(max_epochs=8, batch_size=64))


@register_recipe
class CaptionShapes(ComparisonRecipe):
    """Captioning two-shape scenes: a CNN + GRU captioner with and without attention over the feature map."""

    name = "caption-shapes"
    summary = "image captioning of two-shape scenes: CNN + GRU decoder without vs with attention over the image"
    section = "4.3"
    Config = CaptionShapesConfig
    smoke_settings = ("data.n_train=64", "data.n_val=16", "data.n_test=16", "model.hidden_size=8",
                      "model.embedding_dim=4", "model.channels=[4, 4, 4]")
    primary_metric = "test/sequence_accuracy"
    higher_is_better = True

    def variant_names(self, cfg: CaptionShapesConfig) -> list[str]:
        return list(cfg.model.variants)

    def check(self, cfg: CaptionShapesConfig) -> None:
        super().check(cfg)
        if any(v not in ("plain", "attention") for v in cfg.model.variants):
            raise ConfigError(f"model.variants items must be 'plain' or 'attention'; got {cfg.model.variants!r}")
        if cfg.model.attention not in ATTENTION_SCORES:
            raise ConfigError(f"model.attention must be one of {', '.join(ATTENTION_SCORES)}; "
                              f"got {cfg.model.attention!r}")

    def load_data(self, cfg: CaptionShapesConfig) -> DataSplits:
        d = cfg.data
        return get_dataset("caption-shapes", n_train=d.n_train, n_val=d.n_val, n_test=d.n_test, seed=d.seed)

    def build_variant(self, cfg: CaptionShapesConfig, name: str, data: DataSplits) -> Seq2SeqTask:
        m = cfg.model
        model = get_model("caption_rnn", vocab_size=len(data.info.tgt_vocab), channels=tuple(m.channels),
                          embedding_dim=m.embedding_dim, hidden_size=m.hidden_size, cell=m.cell,
                          attention=m.attention if name == "attention" else None)
        return Seq2SeqTask(model, max_length=data.test.tensors[2].shape[1], optimizer=cfg.optim)  # type: ignore

    def export_info(self, cfg: CaptionShapesConfig, data: DataSplits) -> dict[str, Any]:
        return {"preprocessing": {"input_shape": list(data.info.input_shape), "value_range": [0.0, 1.0],
                                  "input": "an RGB image of a two-shape scene",
                                  "tgt_vocab": data.info.tgt_vocab.to_dict(),
                                  "max_length": int(data.test.tensors[2].shape[1])}}  # type: ignore[union-attr]

    def summarize(self, cfg: CaptionShapesConfig, variants: list[Variant], data: DataSplits
                  ) -> tuple[dict[str, Any], list[str]]:
        acc = {v.name: v.metrics.get("test/sequence_accuracy") for v in variants}
        bleu = {v.name: v.metrics.get("test/bleu") for v in variants}
        metrics: dict[str, Any] = {}
        if "plain" in acc and "attention" in acc:
            metrics["test/attention_accuracy_margin"] = acc["attention"] - acc["plain"]
        notes = ["Held-out captions exactly right / BLEU: " + ", ".join(
            f"{n} {acc[n]:.3f} / {bleu[n]:.1f}" for n in acc)]
        images, _, tgt = data.test.tensors  # type: ignore[union-attr]
        vocab = data.info.tgt_vocab
        for i in range(4):
            said = []
            for v in variants:
                model = v.task.model.eval()
                with torch.no_grad():
                    out = model.generate(images[i:i + 1].to(next(model.parameters()).device), torch.ones(1),
                                         max_length=tgt.shape[1]).tokens[0].cpu()
                said.append(f"{v.name}: {vocab.decode(out)}")
            notes.append(f"scene {i}: reference: {vocab.decode(tgt[i])} | " + " | ".join(said))
        return metrics, notes

    def comparison_figures(self, cfg: CaptionShapesConfig, variants: list[Variant], data: DataSplits,
                           run_dir: Path, *, metrics: dict[str, Any]) -> None:
        plot_variant_curves(variants, run_dir, "val/sequence_accuracy", label="validation captions exactly right",
                            name="validation_sequence_accuracy", x="epoch",
                            caption="Share of validation captions decoded exactly right, per epoch")
        attending = [v for v in variants if v.name == "attention"]
        if not attending or data.test is None:
            return
        images, _, tgt = data.test.tensors  # type: ignore[union-attr]
        image, caption = images[:1], tgt[:1]
        n = int((caption[0] != PAD).sum())
        model = attending[0].task.model.eval()
        device = next(model.parameters()).device
        with torch.no_grad():
            _, weights = model(image.to(device), torch.ones(1), shift_right(caption).to(device),
                               return_attention=True)
            h = w = int(round(weights.shape[-1] ** 0.5))
        maps = weights[0, :n].reshape(n, 1, h, w).cpu()
        maps = F.interpolate(maps, size=image.shape[-2:], mode="bilinear", align_corners=False)[:, 0]
        words = [data.info.tgt_vocab.itos[t] for t in caption[0, :n].tolist()]
        fig = figure(figsize=(1.6 * (n + 1), 2.0))
        ax = fig.add_subplot(1, n + 1, 1)
        ax.imshow(image[0].permute(1, 2, 0).numpy())
        ax.set_title("scene", fontsize=8)
        ax.axis("off")
        for k in range(n):
            ax = fig.add_subplot(1, n + 1, k + 2)
            ax.imshow(image[0].permute(1, 2, 0).numpy())
            ax.imshow(maps[k].numpy(), cmap="magma", alpha=0.6)
            ax.set_title(words[k], fontsize=8)
            ax.axis("off")
        save_figure(fig, run_dir, "caption_attention",
                    "Where the attending captioner looks while writing each word of a held-out scene's caption "
                    "(teacher-forced): the attention weights over the 8×8 feature map, upsampled onto the image")
