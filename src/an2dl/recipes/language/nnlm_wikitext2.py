"""``nnlm-wikitext2``: Bengio et al.'s neural network language model against the best N-gram (notes §4.2.4).

The notes: the NNLM projects the previous words with a shared matrix ``C``,
concatenates the projections, passes them through a non-linear layer and
predicts the next word with a softmax; Bengio et al. (2003) introduced it
"with the aim of improving language model accuracy" — "their work
demonstrated significant improvements in LM performance" over smoothed
N-grams, notably by mixing the two models' probabilities.

Data: WikiText-2 as held here (``valid.txt`` and ``test.txt`` only):
``valid.txt``'s first 90 % of lines train, its last 10 % validate (early
choice of the mixture weight), ``test.txt`` is the held-out text; one
sentence per line, ``</s>`` at its end, the vocabulary = training words seen
at least ``data.min_count`` times (others ``<unk>``).  Both models read the
same ``n - 1 = data.context_size`` previous tokens (``<s>`` padded), are
scored on the same test tokens and share the vocabulary.  The N-gram model is
:class:`~an2dl.models.language.NGramLM` (modified Kneser–Ney by default) of
the same order; the mixture is ``λ p_NNLM + (1 − λ) p_N-gram`` with λ chosen
on the validation lines from {0, 0.05, …, 1}.

Measured (``an2dl run nnlm-wikitext2``, defaults: n = 5, m = 60, h = 100,
direct connections, dropout 0.25, Adam 1e-3, batches of 256, early stopping
on the validation loss; 4 epochs, the best at epoch 3, 298 s of training on one
CPU core; seed 0), test perplexity on the 244,102 test tokens, vocabulary of
8,542 predicted tokens: modified-KN 5-gram 165.9; NNLM alone 206.7; mixture
152.7 (λ = 0.35).  Without dropout (measured with a plain training loop of
the same model and optimiser) the NNLM reaches 224.3 / 212.6 / 219.4
after epochs 1 / 2 / 3 (mixtures 156.8 / 154.4 / 153.1): on 195k training
words the NNLM alone does not reach the smoothed 5-gram within this budget,
their mixture beats it — the form in which the test asserts the claim (its
reduced setting and per-seed figures are in its docstring).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from ...data import get_dataset
from ...data.core import DataSplits
from ...data.datasets.word_corpora import load_word_corpus
from ...engine.optim import OptimizerSpec
from ...errors import ConfigError
from ...models import get_model
from ...models.language import SMOOTHINGS, NGramLM, nnlm_parameter_count
from ...tasks.sequence import LanguageModelTask
from ..base import Recipe, register_recipe
from ..config import EarlyStoppingConfig, RunSettings, TrainerConfig

__all__ = ["NNLMWikiText2", "NNLMWikiText2Config"]


@dataclass
class WikiData:
    root: str | None = None  # folder with valid.txt and test.txt (default: $AN2DL_DATA_DIR/wikitext-2)
    context_size: int = 4  # n - 1 previous words read by both models (n = 5 as Bengio et al.'s best models)
    min_count: int = 2  # training words seen fewer times are <unk>
    max_sentences: int | None = None  # keep at most this many lines per split (quick runs); None: all


@dataclass
class NNLMModelConfig:
    embedding_dim: int = 60  # m, the width of a row of C
    hidden_size: int = 100  # h, tanh units
    direct: bool = True  # direct connections W from the projections to the softmax
    dropout: float = 0.25  # on the projections and the hidden layer (the paper used none; 195k training words overfit)


@dataclass
class NGramConfig:
    smoothing: str = "modified-kneser-ney"  # the best N-gram smoothing of ngram-gutenberg


@dataclass
class NNLMWikiText2Config(RunSettings):
    data: WikiData = field(default_factory=WikiData)
    model: NNLMModelConfig = field(default_factory=NNLMModelConfig)
    ngram: NGramConfig = field(default_factory=NGramConfig)
    optim: OptimizerSpec = field(default_factory=lambda: OptimizerSpec("adam", lr=1e-3))
    trainer: TrainerConfig = field(default_factory=lambda: TrainerConfig(max_epochs=6, batch_size=256,
                                                                          eval_batch_size=1024))
    # stop when the validation loss rises and keep the best epoch's weights
    early_stopping: EarlyStoppingConfig = field(default_factory=lambda: EarlyStoppingConfig(enabled=True, patience=1))


def _token_log_probs(task: LanguageModelTask, ds: Any, batch: int = 2048) -> np.ndarray:
    """The NNLM's natural log-probability of every target of ``ds`` (its order: the N-gram's predicted tokens)."""
    model = task.model
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    out = []
    with torch.no_grad():
        for i in range(0, len(ds), batch):
            x, y = ds.__getitems__(list(range(i, min(i + batch, len(ds))))).value
            logits = model(x.to(device))[:, 0]  # (B, V)
            out.append(logits.log_softmax(-1).gather(1, y.to(device)).squeeze(1).double().cpu())
    model.train(was_training)
    return torch.cat(out).numpy()


def _mix(lp_a: np.ndarray, lp_b: np.ndarray, lam: float) -> float:
    """Perplexity of ``lam p_a + (1 - lam) p_b``."""
    return float(np.exp(-np.logaddexp(np.log(lam) + lp_a if lam > 0 else -np.inf,
                                      np.log1p(-lam) + lp_b if lam < 1 else -np.inf).mean()))


@register_recipe
class NNLMWikiText2(Recipe):
    """Bengio et al.'s NNLM and its mixture with a smoothed N-gram, on WikiText-2 (notes §4.2.4)."""

    name = "nnlm-wikitext2"
    summary = "Bengio et al.'s NNLM vs a modified Kneser-Ney 5-gram (and their mixture) on WikiText-2 (§4.2.4)"
    section = "4.2.3, 4.2.4"
    Config = NNLMWikiText2Config
    smoke_settings = ("data.max_sentences=200", "model.embedding_dim=8", "model.hidden_size=8",
                      "trainer.max_epochs=1")

    def build(self, cfg: NNLMWikiText2Config) -> tuple[LanguageModelTask, DataSplits]:
        if cfg.ngram.smoothing not in SMOOTHINGS:
            raise ConfigError(f"nnlm-wikitext2 ngram.smoothing must be one of {list(SMOOTHINGS)}; "
                              f"got {cfg.ngram.smoothing!r}")
        d, m = cfg.data, cfg.model
        data = get_dataset("wikitext2-words", root=d.root, context_size=d.context_size, min_count=d.min_count,
                           max_sentences=d.max_sentences)
        model = get_model("nnlm", vocab_size=len(data.info.vocab), context_size=d.context_size,
                          embedding_dim=m.embedding_dim, hidden_size=m.hidden_size, direct=m.direct,
                          dropout=m.dropout, sequence_output=True)
        return LanguageModelTask(model, optimizer=cfg.optim), data

    def export_info(self, cfg: NNLMWikiText2Config, data: DataSplits) -> dict[str, Any]:
        vocab = data.info.vocab
        return {"class_names": list(vocab.itos),
                "preprocessing": {"vocab": vocab.to_dict(), "input": "word ids [B, n - 1], oldest first",
                                  "input_shape": [cfg.data.context_size]}}

    def figures(self, result: Any) -> None:
        """The per-epoch curves of the report are enough; the comparison is in the metrics and notes."""

    def extra_metrics(self, cfg: NNLMWikiText2Config, task: LanguageModelTask,
                      data: DataSplits) -> tuple[dict[str, Any], list[str]]:
        corpus = load_word_corpus("wikitext-2", root=cfg.data.root, max_sentences=cfg.data.max_sentences)
        n = cfg.data.context_size + 1
        ngram = NGramLM(n, smoothing=cfg.ngram.smoothing).fit(corpus.train, vocab=data.info.vocab)
        ng_val, ng_test = ngram.log_probs(corpus.val), ngram.log_probs(corpus.test)
        nn_val, nn_test = _token_log_probs(task, data.val), _token_log_probs(task, data.test)
        if len(nn_test) != len(ng_test) or len(nn_val) != len(ng_val):
            raise AssertionError("the NNLM and the N-gram model must score the same tokens")
        grid = np.linspace(0.0, 1.0, 21)
        lam = float(grid[int(np.argmin([_mix(nn_val, ng_val, g) for g in grid]))])
        V, m, h = len(data.info.vocab), cfg.model.embedding_dim, cfg.model.hidden_size
        metrics = {
            "nnlm/test_perplexity": float(math.exp(-nn_test.mean())),
            "ngram/test_perplexity": float(math.exp(-ng_test.mean())),
            "ngram/val_perplexity": float(math.exp(-ng_val.mean())),
            "mixture/test_perplexity": _mix(nn_test, ng_test, lam),
            "mixture/lambda": lam,
            "nnlm/parameters": float(nnlm_parameter_count(V, n, m, h, direct=cfg.model.direct)),
            "test_tokens": float(len(ng_test)),
        }
        notes = [f"split: {corpus.split}; vocabulary {V - 2} predicted tokens; {len(ng_test)} test tokens",
                 f"test perplexity: {cfg.ngram.smoothing} {n}-gram {metrics['ngram/test_perplexity']:.1f}, NNLM "
                 f"{metrics['nnlm/test_perplexity']:.1f}, mixture (lambda = {lam:.2f}, chosen on validation) "
                 f"{metrics['mixture/test_perplexity']:.1f}"]
        return metrics, notes
