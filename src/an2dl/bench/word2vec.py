"""word2vec (notes §4.2.5): an2dl's batched sparse-SGD trainer against gensim 4 on the same text and settings."""

from __future__ import annotations

import time

from . import register_benchmark

__all__ = ["WORKERS", "word2vec"]

#: the worker counts compared (the same on both sides)
WORKERS = (1, 2)


@register_benchmark("word2vec")
def word2vec(quick: bool = False) -> dict:
    """Words per second and benchmark scores of an2dl's :class:`Word2Vec` and gensim's, trained in this process.

    Same text (WikiText-2 valid + test, lower-cased; the first 2,000 lines of each split when ``quick``), same
    hyper-parameters (dimension 100, window 5, 5 negatives, min_count 5, sample 1e-3, alpha 0.025 → 1e-4,
    seed 0), for skip-gram and CBOW, each with 1 and with 2 workers on both sides (``WORKERS``; gensim's
    worker threads against an2dl's Hogwild threads).  Words per second count the raw tokens of all epochs over
    the training time (vocabulary building excluded for both); ``cpu_ratio`` compares the CPU seconds of the
    process instead (all threads), which other programs on the same cores disturb less.  Ratios are an2dl / gensim: above 1 is faster or
    better.  ``torch.get_num_threads()`` is left as the caller set it (``an2dl bench`` prints it; measure with
    ``OMP_NUM_THREADS=1``).  Needs gensim (the ``dev`` extra) and ``AN2DL_DATA_DIR``.
    """
    try:
        from gensim.models import Word2Vec as GensimWord2Vec
    except ImportError as e:
        raise RuntimeError("the word2vec benchmark compares with gensim: pip install 'an2dl[dev]'") from e
    from ..data.datasets.word_corpora import load_word_corpus
    from ..models.language import Word2Vec, WordVectors
    from ..recipes.language.word2vec import benchmark_files

    corpus = load_word_corpus("wikitext-2", max_sentences=2000 if quick else None)
    sentences = [[w.lower() for w in s] for s in corpus.train + corpus.val + corpus.test]
    tokens = sum(len(s) for s in sentences)
    epochs = 2 if quick else 5
    files = benchmark_files()
    settings = dict(dim=100, window=5, negative=5, min_count=5, sample=1e-3, alpha=0.025, min_alpha=1e-4)
    results: dict = {"tokens": tokens, "epochs": epochs, **settings}

    def scores(wv: WordVectors) -> dict[str, float]:
        if files is None:
            return {}
        return {"analogy": wv.evaluate_analogies(files["analogy"])["accuracy"],
                "wordsim353": wv.evaluate_word_pairs(files["wordsim353"])["spearman"],
                "simlex999": wv.evaluate_word_pairs(files["simlex999"])["spearman"]}

    for arch in ("skipgram", "cbow"):
        for workers in WORKERS:
            ours = Word2Vec(architecture=arch, epochs=epochs, seed=0, workers=workers, **settings).fit(sentences)
            g = GensimWord2Vec(vector_size=100, window=5, negative=5, min_count=5, sample=1e-3, alpha=0.025,
                               min_alpha=1e-4, sg=int(arch == "skipgram"), hs=0, workers=workers, seed=0)
            g.build_vocab(sentences)
            t0, c0 = time.perf_counter(), time.process_time()
            g.train(sentences, total_examples=len(sentences), epochs=epochs)
            g_seconds, g_cpu = time.perf_counter() - t0, time.process_time() - c0
            theirs = WordVectors(list(g.wv.index_to_key), g.wv.vectors)
            row = {"an2dl_words_per_s": ours.words_per_second_, "gensim_words_per_s": tokens * epochs / g_seconds}
            row["speed_ratio"] = row["an2dl_words_per_s"] / row["gensim_words_per_s"]
            # per CPU-second of the process (all threads): less sensitive to other programs sharing the cores
            row["cpu_ratio"] = g_cpu / ours.train_cpu_seconds_
            print(f"{arch} ({workers} worker{'s' if workers > 1 else ''}): an2dl {row['an2dl_words_per_s']:10.0f} "
                  f"words/s   gensim {row['gensim_words_per_s']:10.0f} words/s   ratio {row['speed_ratio']:.2f}   "
                  f"(CPU-time ratio {row['cpu_ratio']:.2f}; {tokens} tokens x {epochs} epochs)")
            a, b = scores(ours.wv_), scores(theirs)
            for k in a:
                row[f"an2dl_{k}"], row[f"gensim_{k}"] = a[k], b[k]
                print(f"{arch} ({workers}): {k:<10} an2dl {a[k]:.4f}   gensim {b[k]:.4f}   "
                      f"difference {a[k] - b[k]:+.4f}")
            results[arch if workers == 1 else f"{arch}_workers{workers}"] = row
    return results
