"""``ngram-gutenberg``: N-gram language models, their smoothing, and the sparsity of long contexts (notes §4.2.3).

The notes: an N-gram model conditions each word on the previous ``n - 1``
words and estimates the factors from counts, "incorporating smoothing
techniques to handle unseen word sequences"; its main issue is data
sparsity, so one limits the context size, a trade-off between the longer
patterns a longer context can capture and the statistics it can gather.

The recipe fits :class:`~an2dl.models.language.NGramLM` of every order in
``orders`` and every smoothing in ``smoothings`` on the Gutenberg books
(each book's first 80 % of sentences; vocabulary: words seen at least
``data.min_count`` times, the rest ``<unk>``) and reports the perplexity of
the held-out last 10 % of each book, the share of held-out n-grams never seen
in training for every n, and a few sentences drawn from the best model.

Measured with the defaults (perplexity on the test tail, 109,395 words + one
``</s>`` per sentence; ``an2dl run ngram-gutenberg``):

===================  =====  =====  ======  ======  ======
smoothing            n=1    n=2    n=3     n=4     n=5
===================  =====  =====  ======  ======  ======
add-k (k = 0.01)     504.0  319.2  1744.5  6024.2  8976.6
absolute             504.0  196.8  189.1   194.7   199.1
kneser-ney           504.0  185.6  168.2   165.8   165.1
modified-kneser-ney  504.2  183.4  164.1   161.6   160.9
katz                 504.0  195.0  186.5   193.7   197.7
===================  =====  =====  ======  ======  ======

Unseen held-out n-grams: 0.0 % (n = 1), 20.2 %, 57.5 %, 80.8 %, 88.3 % (n = 5).
The counts and perplexities are deterministic (no seed enters them); the
seed only draws the samples.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from pathlib import Path

from ...data.datasets.word_corpora import load_word_corpus, word_vocabulary
from ...errors import ConfigError
from ...models.language import SMOOTHINGS, NGramLM
from .._variants import note_unused_trainer_settings
from ..base import Recipe, RunResult, finish_report, register_recipe, write_results, write_run_config
from ..config import TrainerConfig

__all__ = ["NGramGutenberg", "NGramGutenbergConfig"]


@dataclass
class NGramData:
    root: str | None = None  # folder with the 13 books (default: $AN2DL_DATA_DIR/gutenberg)
    min_count: int = 2  # words seen fewer times in training are <unk>
    max_sentences: int | None = None  # keep at most this many sentences per split (quick runs); None: all


@dataclass
class NGramGutenbergConfig:
    data: NGramData = field(default_factory=NGramData)
    orders: list[int] = field(default_factory=lambda: [1, 2, 3, 4, 5])  # the n of each model
    smoothings: list[str] = field(default_factory=lambda: list(SMOOTHINGS))  # see an2dl.models.language.ngram
    k: float = 0.01  # add-k pseudo-count (1 = Laplace, far too much mass for unseen words at this vocabulary size)
    samples: int = 3  # sentences drawn from the best model
    # seed: of the samples; nothing is trained by gradient descent, so the other settings do not apply
    trainer: TrainerConfig = field(default_factory=TrainerConfig)


@register_recipe
class NGramGutenberg(Recipe):
    """Perplexity of smoothed N-gram models vs n, and the unseen-n-gram rate vs n, on Gutenberg (notes §4.2.3)."""

    name = "ngram-gutenberg"
    summary = "N-gram language models on Gutenberg: smoothing variants, perplexity and unseen n-grams vs n (§4.2.3)"
    section = "4.2.3"
    Config = NGramGutenbergConfig
    cannot_resume = "N-gram models are counted in seconds, not trained, and keep no checkpoints"
    smoke_settings = ("data.max_sentences=2000", "orders=[1,2]", 'smoothings=["kneser-ney","add-k"]', "samples=1")

    def no_model(self, cfg: NGramGutenbergConfig) -> str | None:
        return ("ngram-gutenberg holds no trained network to evaluate, export or predict with: its N-gram models are "
                "counted again from the corpus in seconds (an2dl run ngram-gutenberg)")

    def run(self, cfg: NGramGutenbergConfig, run_dir: Path, *, resume: bool = False,
            progress: bool | None = None) -> RunResult:
        if not cfg.orders or any(isinstance(n, bool) or not isinstance(n, int) or n < 1 for n in cfg.orders):
            raise ConfigError(f"ngram-gutenberg orders must be a non-empty list of positive integers; got {cfg.orders!r}")
        if not cfg.smoothings or any(s not in SMOOTHINGS for s in cfg.smoothings):
            raise ConfigError(f"ngram-gutenberg smoothings must be a non-empty list of names of {list(SMOOTHINGS)}; "
                              f"got {cfg.smoothings!r}")
        if isinstance(cfg.samples, bool) or not isinstance(cfg.samples, int) or cfg.samples < 0:
            raise ConfigError(f"ngram-gutenberg samples must be a non-negative integer; got {cfg.samples!r}")
        notes = note_unused_trainer_settings(self.name, cfg, ("seed",),
                                             "N-gram models are counted, not trained; the seed draws the samples")
        write_run_config(run_dir, self.name, cfg)
        t0 = time.perf_counter()
        corpus = load_word_corpus("gutenberg", root=cfg.data.root, max_sentences=cfg.data.max_sentences)
        vocab = word_vocabulary(corpus.train, min_count=cfg.data.min_count)
        orders = sorted(set(cfg.orders))
        metrics: dict[str, float] = {}
        table: dict[str, dict[int, float]] = {}
        models: dict[tuple[str, int], NGramLM] = {}
        for sm in cfg.smoothings:
            table[sm] = {}
            for n in orders:
                lm = NGramLM(n, smoothing=sm, k=cfg.k).fit(corpus.train, vocab=vocab)
                ppl = lm.perplexity(corpus.test)
                table[sm][n] = ppl
                metrics[f"test/perplexity_{sm}_n{n}"] = ppl
                metrics[f"val/perplexity_{sm}_n{n}"] = lm.perplexity(corpus.val)
                models[sm, n] = lm
        top = models[cfg.smoothings[0], orders[-1]]
        unseen = {n: top.unseen_rate(corpus.test, order=n) for n in orders if n <= top.n}
        for n, r in unseen.items():
            metrics[f"test/unseen_rate_n{n}"] = r
        best = min(models, key=lambda key: metrics[f"val/perplexity_{key[0]}_n{key[1]}"])  # chosen on validation
        metrics["test/perplexity_best"] = table[best[0]][best[1]]
        metrics["vocab_size"] = float(len(vocab) - 2)
        metrics["train_tokens"] = float(corpus.num_tokens()["train"])
        notes.append(f"split: {corpus.split}; vocabulary: {len(vocab) - 2} predicted tokens (words seen at least "
                     f"{cfg.data.min_count} times, <unk>, </s>)")
        notes.append("perplexity on the test tail (rows: smoothing, columns: n): " + "; ".join(
            f"{sm}: " + ", ".join(f"n={n} {p:.1f}" for n, p in row.items()) for sm, row in table.items()))
        notes.append("unseen test n-grams: " + ", ".join(f"n={n} {100 * r:.1f} %" for n, r in unseen.items()))
        notes.append(f"best on validation: {best[0]}, n={best[1]}")
        for i in range(cfg.samples):
            words = models[best].sample(seed=cfg.trainer.seed * 1000 + i, max_words=40)
            notes.append(f"sample {i + 1}: {' '.join(words)}")
        write_results(run_dir, metrics, fit_seconds=round(time.perf_counter() - t0, 3), notes=notes)
        self._plots(run_dir, table, unseen)
        finish_report(run_dir, device="cpu")
        return RunResult(self.name, run_dir, metrics, cfg, extra={"table": table, "unseen": unseen})

    @staticmethod
    def _plots(run_dir: Path, table: dict[str, dict[int, float]], unseen: dict[int, float]) -> None:
        from ...report.plots import figure, save_figure

        fig = figure(figsize=(9, 3.4))
        ax = fig.add_subplot(1, 2, 1)
        for sm, row in table.items():
            ax.plot(list(row), [math.log10(p) for p in row.values()], "-o", ms=3, label=sm)
        ax.set_xlabel("n (order)")
        ax.set_ylabel("log10 test perplexity")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
        ax = fig.add_subplot(1, 2, 2)
        ax.plot(list(unseen), [100 * r for r in unseen.values()], "-o", color="k")
        ax.set_xlabel("n (order)")
        ax.set_ylabel("held-out n-grams unseen in training (%)")
        ax.grid(alpha=0.3)
        save_figure(fig, run_dir, "ngram_sparsity",
                    "Left: test perplexity against n for each smoothing. Right: the share of held-out n-grams never "
                    "seen in training. Longer contexts see ever fewer of their n-grams (sparsity); models that back "
                    "off to shorter contexts keep improving slowly, add-k (order n only) degrades.")
