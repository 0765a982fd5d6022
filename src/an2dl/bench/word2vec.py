"""word2vec (notes §4.2.5): an2dl's batched sparse-SGD trainer against gensim 4 on the same text and settings."""

from __future__ import annotations

import time

from . import register_benchmark

__all__ = ["word2vec"]


@register_benchmark("word2vec")
def word2vec(quick: bool = False) -> dict:
    """Words per second and benchmark scores of an2dl's :class:`Word2Vec` and gensim's, trained in this process.

    Same text (WikiText-2 valid + test, lower-cased; the first 2,000 lines of each split when ``quick``), same
    hyper-parameters (dimension 100, window 5, 5 negatives, min_count 5, sample 1e-3, alpha 0.025 → 1e-4, one
    worker each, seed 0), for skip-gram and CBOW.  Words per second count the raw tokens of all epochs over the
    training time (vocabulary building excluded for both).  Ratios are an2dl / gensim: above 1 is faster or
    better.  Needs gensim (the ``dev`` extra) and ``AN2DL_DATA_DIR``.
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
        ours = Word2Vec(architecture=arch, epochs=epochs, seed=0, **settings).fit(sentences)
        g = GensimWord2Vec(vector_size=100, window=5, negative=5, min_count=5, sample=1e-3, alpha=0.025,
                           min_alpha=1e-4, sg=int(arch == "skipgram"), hs=0, workers=1, seed=0)
        g.build_vocab(sentences)
        t0 = time.perf_counter()
        g.train(sentences, total_examples=len(sentences), epochs=epochs)
        g_seconds = time.perf_counter() - t0
        theirs = WordVectors(list(g.wv.index_to_key), g.wv.vectors)
        row = {"an2dl_words_per_s": ours.words_per_second_, "gensim_words_per_s": tokens * epochs / g_seconds}
        row["speed_ratio"] = row["an2dl_words_per_s"] / row["gensim_words_per_s"]
        print(f"{arch}: an2dl {row['an2dl_words_per_s']:10.0f} words/s   gensim {row['gensim_words_per_s']:10.0f} "
              f"words/s   ratio {row['speed_ratio']:.2f}   ({tokens} tokens x {epochs} epochs, 1 worker each)")
        a, b = scores(ours.wv_), scores(theirs)
        for k in a:
            row[f"an2dl_{k}"], row[f"gensim_{k}"] = a[k], b[k]
            print(f"{arch}: {k:<10} an2dl {a[k]:.4f}   gensim {b[k]:.4f}   difference {a[k] - b[k]:+.4f}")
        results[arch] = row
    return results
