"""Conversations for chatbots (notes §4.3.1): the English conversations of the ``chatterbot-corpus`` package.

The corpus (2,026 short conversations in 21 topic files; MIT or BSD licensed,
read from the installed package, never copied) is turned into
(context, reply) pairs: every utterance after the first is a reply, and its
context is the ``turns`` utterances before it, oldest first, joined by
``" | "`` (a separator token the word tokenizer keeps).  ``turns = 1`` is the
single-turn chatbot (question → answer); ``turns > 1`` gives the multi-turn
one its previous exchanges.  The split is by **conversation** (seeded shuffle;
``val_fraction`` and ``test_fraction`` of them), so no exchange is shared
between splits; :attr:`~an2dl.data.datasets.translation.TranslationInfo.test_references`
holds every reply the test split gives to the same context.  One word
vocabulary of the training utterances serves both sides (``min_freq``).
"""

from __future__ import annotations

import importlib.util
import random
from pathlib import Path
from typing import Any

from ...errors import ConfigError, DataError, DataNotFoundError
from ..core import DataSplits
from ..registry import register_dataset
from ..text import Vocabulary, WordTokenizer
from .translation import TranslationInfo, encode_pairs

__all__ = ["read_chatterbot", "chatterbot", "SEPARATOR", "dialogue_pairs"]

#: joins the utterances of a context
SEPARATOR = " | "


def _corpus_folder(language: str) -> Path:
    spec = importlib.util.find_spec("chatterbot_corpus")
    if spec is None or not spec.submodule_search_locations:
        raise DataNotFoundError("the chatbot recipes read the conversations of the chatterbot-corpus package, which is "
                                "not installed; install it with pip install 'an2dl[chat]'")
    folder = Path(list(spec.submodule_search_locations)[0]) / "data" / language
    if not folder.is_dir():
        known = sorted(p.name for p in folder.parent.iterdir() if p.is_dir())
        raise ConfigError(f"chatterbot-corpus has no language {language!r}; it has {', '.join(known)}")
    return folder


def read_chatterbot(language: str = "english") -> list[list[str]]:
    """The conversations (lists of utterances) of the installed ``chatterbot-corpus``, file by file in name order.

    Entries that are not a list of utterances (a handful of the corpus's are a bare string) and conversations of
    fewer than two utterances are left out.
    """
    import yaml

    conversations = []
    for path in sorted(_corpus_folder(language).glob("*.yml")):
        doc = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        for conv in doc.get("conversations") or []:
            # a few entries of the corpus are a bare string or hold a nested list: not a conversation, skipped
            if not isinstance(conv, list) or not all(isinstance(u, (str, int, float)) for u in conv):
                continue
            utterances = [str(u).strip() for u in conv if str(u).strip()]
            if len(utterances) >= 2:
                conversations.append(utterances)
    if not conversations:
        raise DataError(f"chatterbot-corpus {language}: no conversation of two utterances or more")
    return conversations


def dialogue_pairs(conversation: list[list[str]], turns: int) -> list[tuple[list[str], list[str]]]:
    """(context, reply) token lists of one tokenised conversation: each reply with its ``turns`` predecessors,
    joined by the separator token ``|``."""
    pairs = []
    for k in range(1, len(conversation)):
        context: list[str] = []
        for u in conversation[max(0, k - turns):k]:
            context += (["|"] if context else []) + u
        pairs.append((context, conversation[k]))
    return pairs


@register_dataset("chatterbot")
def chatterbot(*, language: str = "english", turns: int = 1, max_words: int | None = 20, min_freq: int = 1,
               val_fraction: float = 0.1, test_fraction: float = 0.1, seed: int = 0) -> DataSplits:
    """(context, reply) pairs of the chatterbot corpus, split by conversation (see the module docstring).

    Args:
        turns: utterances of context (1: the question only).
        max_words: drop pairs whose question (the last utterance of the context) or reply is longer (``None``:
            keep all); the same pairs are kept whatever ``turns``.
        min_freq: vocabulary cut-off over the training utterances.
        val_fraction, test_fraction: shares of the conversations.
        seed: seed of the conversation shuffle.

    Returns:
        :class:`DataSplits` of ``(context ids [N, S], lengths [N], reply ids [N, T])`` with ``<eos>``-terminated
        replies; ``info`` a :class:`TranslationInfo` whose two vocabularies are the same.
    """
    for name, value in (("turns", turns), ("min_freq", min_freq)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ConfigError(f"chatterbot {name} must be a positive integer; got {value!r}")
    if max_words is not None and (isinstance(max_words, bool) or not isinstance(max_words, int) or max_words < 1):
        raise ConfigError(f"chatterbot max_words must be None or a positive integer; got {max_words!r}")
    for name, value in (("val_fraction", val_fraction), ("test_fraction", test_fraction)):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < 1:
            raise ConfigError(f"chatterbot {name} must be a fraction in (0, 1); got {value!r}")
    tok = WordTokenizer()
    conversations = [[tok.tokenize(u) for u in c] for c in read_chatterbot(language)]
    order = list(range(len(conversations)))
    random.Random(seed).shuffle(order)
    n_test, n_val = round(len(order) * test_fraction), round(len(order) * val_fraction)
    split_of = {c: "test" if i < n_test else "val" if i < n_test + n_val else "train" for i, c in enumerate(order)}
    parts: dict[str, list[tuple[list[str], list[str]]]] = {"train": [], "val": [], "test": []}
    train_utterances: list[list[str]] = []
    for c, conv in enumerate(conversations):
        conv = [u for u in conv if u]
        if split_of[c] == "train":
            train_utterances += conv
        for context, reply in dialogue_pairs(conv, turns):
            question = context[len(context) - context[::-1].index("|"):] if "|" in context else context
            if max_words is None or (len(question) <= max_words and len(reply) <= max_words):
                parts[split_of[c]].append((context, reply))
    for name, pairs in parts.items():
        if not pairs:
            raise DataError(f"chatterbot: the {name} split holds no pair; loosen max_words or the fractions")
    vocab = Vocabulary.build([" ".join(u) for u in train_utterances] + ["|"], tokenizer=tok, min_freq=min_freq)
    refs: dict[tuple[str, ...], list[list[str]]] = {}
    for context, reply in parts["test"]:
        refs.setdefault(tuple(context), []).append(reply)
    extra: dict[str, Any] = {"pairs": {k: len(v) for k, v in parts.items()}, "conversations": len(conversations),
                             "turns": turns, "split": f"by conversation, seed {seed}",
                             "source": "chatterbot-corpus (installed package)"}
    info = TranslationInfo("chatterbot", input_shape=(max(len(c) for c, _ in parts["train"]),), src_vocab=vocab,
                           tgt_vocab=vocab, source_language="en", target_language="en",
                           test_references=[refs[tuple(c)] for c, _ in parts["test"]],
                           test_sources=[c for c, _ in parts["test"]], extra=extra)
    return DataSplits(*(encode_pairs(parts[k], vocab, vocab) for k in ("train", "val", "test")), info)
