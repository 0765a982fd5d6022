"""``word2vec-skipgram`` and ``word2vec-cbow``: word vectors from context (notes §4.2.5).

The notes: "the meaning of a word can be inferred from the surrounding
context"; skip-gram projects the centre word and predicts its neighbours, CBOW
averages the projections of the neighbours and predicts the centre word.  Both
recipes train :class:`~an2dl.models.language.Word2Vec` on the same text and
report what the vectors learned: the nearest neighbours of a few query words,
a 2-D PCA projection of frequent words, and — when gensim is installed, whose
wheel ships the benchmark files — analogy accuracy on ``questions-words.txt``
(3CosAdd and 3CosMul) and the Spearman correlation with human judgements on
WordSim-353 and SimLex-999.

Text: every sentence of the corpus (default wikitext-2, i.e. its ``valid.txt``
and ``test.txt``, 455,097 tokens; the loader's train / val / test splits are
joined, lower-cased), since word vectors are judged on the external
benchmarks, not on held-out text.  ``trainer.max_epochs`` is the number of
passes, ``trainer.seed`` the seed; training does not go through the Trainer
(word2vec's sparse SGD is its own loop; ``model.workers=2`` trains with two
Hogwild threads, which makes runs differ from one another).  The vectors are written to
``vectors.bin`` and ``vectors.txt`` (word2vec formats) in the run directory.

Measured with the defaults (10 epochs, dim 100, window 5, 5 negatives, min_count 5 → 6,969 words, sample
1e-3, seed 0; ``an2dl run word2vec-skipgram`` / ``word2vec-cbow``), gensim 4.4 with the same settings and
one worker in brackets (analogies over the 13.6 % of questions whose words are in the vocabulary):

===========  =================  ========  ===============  ===============
recipe       3CosAdd            3CosMul   WordSim-353 (ρ)  SimLex-999 (ρ)
===========  =================  ========  ===============  ===============
skip-gram    2.11 % (2.00 %)    1.92 %    0.260 (0.243)    0.082 (0.071)
CBOW         1.92 % (1.92 %)    1.51 %    0.132 (0.110)    0.030 (0.021)
===========  =================  ========  ===============  ===============

Nearest to *war* (skip-gram): outbreak, civil, commonwealth, conflict, manpower, wars; to *music*: video,
performance, remix, soundtrack.  Half a million words is far too little text for analogies (chance is
1 / 6,969, so 2 % is 150 times chance, but far from the 50-60 % Mikolov et al. report after hundreds of millions of words); the
similarity correlations vary by ±0.05 between seeds at this size.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ...data.datasets.word_corpora import CORPORA, load_word_corpus
from ...errors import ConfigError
from ...models.language import Word2Vec, WordVectors
from .._variants import note_unused_trainer_settings
from ..base import Recipe, RunResult, finish_report, register_recipe, write_results, write_run_config
from ..config import TrainerConfig

__all__ = ["Word2VecCBOW", "Word2VecConfig", "Word2VecSkipGram", "benchmark_files"]


@dataclass
class Word2VecData:
    corpus: str = "wikitext-2"  # "wikitext-2", "ptb" or "gutenberg" (all of its sentences are trained on)
    root: str | None = None  # folder with the corpus files (default: $AN2DL_DATA_DIR/<corpus>)
    max_sentences: int | None = None  # keep at most this many sentences per split (quick runs); None: all
    lowercase: bool = True  # the benchmark files are matched lower-cased


@dataclass
class Word2VecModel:
    dim: int = 100  # vector size D
    window: int = 5  # largest centre-context distance; each centre draws b ~ U{1..window}
    negative: int = 5  # negative samples per positive (0: hierarchical softmax only)
    hs: bool = False  # hierarchical softmax over a Huffman tree
    min_count: int = 5  # rarer words are dropped
    sample: float = 1e-3  # frequent-word subsampling threshold t (0: off)
    alpha: float = 0.025  # learning rate at the start, decayed linearly ...
    min_alpha: float = 1e-4  # ... to this at the end
    batch_size: int = 512  # (centre, output) examples per sparse update
    workers: int = 1  # Hogwild threads (1: in order, reproducible for a seed)


@dataclass
class Word2VecConfig:
    data: Word2VecData = field(default_factory=Word2VecData)
    model: Word2VecModel = field(default_factory=Word2VecModel)
    queries: list[str] = field(default_factory=lambda: ["king", "city", "war", "music", "river", "january",
                                                        "good", "film"])  # nearest-neighbour table rows
    neighbours: int = 8  # neighbours listed per query word
    plot_words: int = 120  # frequent words in the PCA plot (after skipping the 30 most frequent)
    evaluate: bool = True  # analogy / similarity benchmarks (need gensim's test data)
    # max_epochs: passes over the text; seed: initialisation, subsampling, windows, negatives
    trainer: TrainerConfig = field(default_factory=TrainerConfig)


def benchmark_files() -> dict[str, Path] | None:
    """The analogy and similarity files shipped in gensim's wheel (``gensim/test/test_data/``), or ``None``."""
    try:
        import importlib.util

        spec = importlib.util.find_spec("gensim")
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    folder = Path(next(iter(spec.submodule_search_locations))) / "test" / "test_data"
    files = {"analogy": folder / "questions-words.txt", "wordsim353": folder / "wordsim353.tsv",
             "simlex999": folder / "simlex999.txt"}
    return files if all(p.is_file() for p in files.values()) else None


class _Word2VecRecipe(Recipe):
    architecture = "skipgram"
    section = "4.2.5"
    Config = Word2VecConfig
    cannot_resume = "word2vec trains in seconds with its own sparse SGD loop and keeps no checkpoints"
    smoke_settings = ("data.max_sentences=300", "model.dim=16", "model.min_count=2", "plot_words=30",
                      "evaluate=false")

    def no_model(self, cfg: Word2VecConfig) -> str | None:
        return (f"{self.name} holds no network to evaluate, export or predict with: its word vectors are in the run's "
                f"vectors.bin / vectors.txt (word2vec formats; an2dl.models.language.WordVectors.load), which "
                f"'an2dl predict RUN_DIR --similar WORD' and '--analogy A B C' query")

    def run(self, cfg: Word2VecConfig, run_dir: Path, *, resume: bool = False,
            progress: bool | None = None) -> RunResult:
        if cfg.data.corpus not in CORPORA:
            raise ConfigError(f"{self.name} data.corpus must be one of {list(CORPORA)}; got {cfg.data.corpus!r}")
        epochs = cfg.trainer.max_epochs
        if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 1:
            raise ConfigError(f"{self.name} trainer.max_epochs (the passes over the text) must be a positive integer; "
                              f"got {epochs!r}")
        if isinstance(cfg.neighbours, bool) or not isinstance(cfg.neighbours, int) or cfg.neighbours < 1:
            raise ConfigError(f"{self.name} neighbours must be a positive integer; got {cfg.neighbours!r}")
        notes = note_unused_trainer_settings(self.name, cfg, ("max_epochs", "seed"),
                                             "word2vec is trained by its own sparse SGD loop, not the Trainer")
        write_run_config(run_dir, self.name, cfg)
        corpus = load_word_corpus(cfg.data.corpus, root=cfg.data.root, max_sentences=cfg.data.max_sentences)
        sentences = corpus.train + corpus.val + corpus.test
        if cfg.data.lowercase:
            sentences = [[w.lower() for w in s] for s in sentences]
        m = cfg.model
        t0 = time.perf_counter()
        w2v = Word2Vec(architecture=self.architecture, dim=m.dim, window=m.window, negative=m.negative, hs=m.hs,
                       min_count=m.min_count, sample=m.sample, epochs=epochs, alpha=m.alpha, min_alpha=m.min_alpha,
                       batch_size=m.batch_size, workers=m.workers, seed=cfg.trainer.seed).fit(sentences)
        wv = w2v.wv_
        metrics: dict[str, float] = {
            "vocab_size": float(len(wv)), "train_tokens": float(sum(len(s) for s in sentences)),
            "words_per_second": w2v.words_per_second_, "train/loss_last_epoch": w2v.history_[-1],
            "train/loss_first_epoch": w2v.history_[0],
        }
        notes.append(f"text: every sentence of {cfg.data.corpus} ({corpus.split}; the three parts joined), "
                     f"{metrics['train_tokens']:.0f} tokens, {len(wv)} words seen at least {m.min_count} times")
        table = {}
        for q in cfg.queries:
            if q in wv:
                table[q] = wv.most_similar(q, topn=cfg.neighbours)
                notes.append(f"nearest to {q!r}: " + ", ".join(f"{w} ({s:.2f})" for w, s in table[q]))
            else:
                notes.append(f"query {q!r} is not in the vocabulary")
        files = benchmark_files() if cfg.evaluate else None
        if cfg.evaluate and files is None:
            notes.append("benchmarks skipped: gensim (whose wheel ships questions-words.txt, WordSim-353 and "
                         "SimLex-999) is not installed")
        if files is not None:
            for method in ("3cosadd", "3cosmul"):
                res = wv.evaluate_analogies(files["analogy"], method=method)
                metrics[f"analogy/accuracy_{method}"] = res["accuracy"]
                metrics["analogy/coverage"] = res["coverage"]
            for name in ("wordsim353", "simlex999"):
                res = wv.evaluate_word_pairs(files[name])
                metrics[f"{name}/spearman"] = res["spearman"]
                metrics[f"{name}/coverage"] = res["coverage"]
        wv.save(run_dir / "vectors.bin", binary=True)
        wv.save(run_dir / "vectors.txt")
        write_results(run_dir, metrics, fit_seconds=round(time.perf_counter() - t0, 3), notes=notes)
        self._plots(run_dir, wv, cfg.plot_words, w2v.history_)
        finish_report(run_dir, device="cpu")
        return RunResult(self.name, run_dir, metrics, cfg, extra={"vectors": wv, "neighbours": table})

    def _plots(self, run_dir: Path, wv: WordVectors, n_words: int, history: list[float]) -> None:
        from ...report.plots import figure, save_figure

        skip = min(30, max(0, len(wv) - n_words))
        words = wv.words[skip:skip + n_words]
        x = wv._unit[skip:skip + len(words)].astype(np.float64)
        x = x - x.mean(0)
        _, _, vt = np.linalg.svd(x, full_matrices=False)
        xy = x @ vt[:2].T  # the two principal directions
        fig = figure(figsize=(10, 5))
        ax = fig.add_subplot(1, 2, 1)
        ax.scatter(xy[:, 0], xy[:, 1], s=4, color="tab:blue")
        for (px, py), w in zip(xy, words):
            ax.annotate(w, (px, py), fontsize=6)
        ax.set_xlabel("PC 1")
        ax.set_ylabel("PC 2")
        ax = fig.add_subplot(1, 2, 2)
        ax.plot(range(1, len(history) + 1), history, "-o", ms=3)
        ax.set_xlabel("epoch")
        ax.set_ylabel("negative log-likelihood per example")
        ax.grid(alpha=0.3)
        save_figure(fig, run_dir, "word2vec_pca",
                    f"Left: {len(words)} frequent words (ranks {skip + 1}-{skip + len(words)}) projected on the two "
                    f"principal components of their unit vectors. Right: the training objective per epoch.")


@register_recipe
class Word2VecSkipGram(_Word2VecRecipe):
    """Skip-gram word vectors on WikiText-2 with neighbours, PCA and benchmark scores (notes §4.2.5)."""

    name = "word2vec-skipgram"
    summary = "word2vec skip-gram on WikiText-2: neighbours, PCA of frequent words, analogy/similarity scores (§4.2.5)"
    architecture = "skipgram"


@register_recipe
class Word2VecCBOW(_Word2VecRecipe):
    """CBOW (averaged context projections) word vectors on WikiText-2 (notes §4.2.5)."""

    name = "word2vec-cbow"
    summary = "word2vec CBOW on WikiText-2: neighbours, PCA of frequent words, analogy/similarity scores (§4.2.5)"
    architecture = "cbow"
