"""Tokenizers: normalisation, the word rule, sentencepiece subwords (notes §4.2.3)."""

import pickle
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from an2dl.data.text import (
    SPECIALS,
    CharTokenizer,
    SubwordTokenizer,
    WordTokenizer,
    normalize_text,
    tokenizer_from_dict,
)
from an2dl.errors import ConfigError, DataError

CORPUS = ["The quick brown fox jumps over the lazy dog.", "The dog sleeps; the fox runs!",
          "A fox is quick, and the dog is lazy."] * 4


# --------------------------------------------------------------------------------------------------- normalisation
def test_nfkc_folds_compatibility_characters_and_lowercasing_is_optional():
    assert normalize_text("ﬁne Ｃａｔ x²") == "fine Cat x2"
    assert normalize_text("ﬁne Ｃａｔ x²", lowercase=True) == "fine cat x2"
    assert normalize_text("ﬁne", normalization=None) == "ﬁne"
    assert normalize_text("İ", normalization="NFC", lowercase=True) == "i\u0307"
    with pytest.raises(TypeError, match="text must be a str; got bytes"):
        normalize_text(b"abc")


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=40), st.sampled_from(["NFKC", "NFC", "NFKD", "NFD", None]), st.booleans())
def test_normalising_twice_changes_nothing(text, form, lowercase):
    once = normalize_text(text, normalization=form, lowercase=lowercase)
    assert normalize_text(once, normalization=form, lowercase=lowercase) == once


# ------------------------------------------------------------------------------------------------------ words
def test_words_and_punctuation_are_split_by_the_documented_rule():
    tok = WordTokenizer()
    assert tok.tokenize("Don't stop, Mr. Smith!") == ["don't", "stop", ",", "mr", ".", "smith", "!"]
    assert tok.tokenize("  3.14\tis π…\n") == ["3", ".", "14", "is", "π", ".", ".", "."]  # NFKC: … -> ...
    assert tok.tokenize("l’été_2") == ["l’été_2"]
    assert WordTokenizer(lowercase=False).tokenize("Hi, Bob") == ["Hi", ",", "Bob"]
    assert tok.normalize("Hi,   there!") == "hi , there !"
    assert tok.detokenize(["hi", "<unk>", "!"]) == "hi <unk> !"


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.characters(categories=["L", "N", "P", "S", "Zs"]), max_size=40))
def test_word_normalisation_is_stable(text):
    tok = WordTokenizer()
    normal = tok.normalize(text)
    assert tok.normalize(normal) == normal
    assert tok.tokenize(normal) == tok.tokenize(text)
    assert "  " not in normal and normal == normal.strip()


def test_characters_are_kept_as_they_are_by_default():
    assert CharTokenizer().tokenize("Ａb\n") == ["Ａ", "b", "\n"]
    assert CharTokenizer(normalization="NFKC", lowercase=True).tokenize("Ａb") == ["a", "b"]
    assert CharTokenizer().detokenize(["a", "<sos>", "b"]) == "a<sos>b"


@pytest.mark.parametrize("kwargs,match", [
    ({"normalization": "nfkc"}, "normalization must be one of"),
    ({"lowercase": 1}, "lowercase must be True or False; got 1"),
])
def test_tokenizer_options_are_checked(kwargs, match):
    with pytest.raises(ConfigError, match=match):
        WordTokenizer(**kwargs)


def test_tokenizers_read_back_from_their_json_form():
    for tok in (CharTokenizer(), WordTokenizer(lowercase=False), WordTokenizer(normalization=None)):
        assert tokenizer_from_dict(tok.to_dict()) == tok
    with pytest.raises(DataError, match="level must be one of"):
        tokenizer_from_dict({"level": "sentence"})
    with pytest.raises(DataError, match="lowercase a bool"):
        tokenizer_from_dict({"level": "word", "normalization": "NFKC", "lowercase": "yes"})
    with pytest.raises(DataError, match="not valid base64"):
        tokenizer_from_dict({"level": "subword", "normalization": "NFKC", "lowercase": False, "model": "@@@"})


# ---------------------------------------------------------------------------------------------------- subwords
@pytest.mark.parametrize("model_type", ["bpe", "unigram"])
def test_subword_models_put_the_specials_first_and_train_deterministically(model_type):
    a = SubwordTokenizer.train(CORPUS, vocab_size=60, model_type=model_type)
    b = SubwordTokenizer.train(list(CORPUS), vocab_size=60, model_type=model_type)
    assert a.model_proto == b.model_proto
    assert a.pieces[:4] == list(SPECIALS) and len(a.pieces) <= 60
    for text in CORPUS:
        assert a.detokenize(a.tokenize(text)) == a.normalize(text)
    assert any(len(p.lstrip("▁")) > 2 for p in a.pieces)  # frequent words became whole pieces


def test_subword_normalisation_collapses_whitespace_and_can_lowercase():
    tok = SubwordTokenizer.train(CORPUS, vocab_size=60, lowercase=True)
    assert tok.normalize("  The\tQUICK\n\nfox ") == "the quick fox"
    assert tok.detokenize(tok.tokenize("  The\tQUICK\n\nfox ")) == "the quick fox"
    assert tok.detokenize(["<sos>", *tok.tokenize("the fox"), "<eos>"]) == "<sos> the fox <eos>"


def test_subword_tokenizers_pickle_and_read_back():
    tok = SubwordTokenizer.train(CORPUS, vocab_size=50)
    again = pickle.loads(pickle.dumps(tok))
    assert again == tok and again.tokenize("the lazy fox") == tok.tokenize("the lazy fox")
    assert tokenizer_from_dict(tok.to_dict()) == tok


def test_subword_training_and_loading_report_bad_input():
    with pytest.raises(ConfigError, match="vocab_size must be an integer > 4"):
        SubwordTokenizer.train(CORPUS, vocab_size=4)
    with pytest.raises(ConfigError, match="vocab_size=10.*smaller than required_chars"):
        SubwordTokenizer.train(CORPUS, vocab_size=10)
    with pytest.raises(ConfigError, match="model_type must be one of"):
        SubwordTokenizer.train(CORPUS, vocab_size=50, model_type="word")
    with pytest.raises(ConfigError, match="at least one text"):
        SubwordTokenizer.train(["", "  \n"], vocab_size=50)
    with pytest.raises(ConfigError, match="character_coverage must be in"):
        SubwordTokenizer.train(CORPUS, vocab_size=50, character_coverage=0)
    with pytest.raises(DataError, match="not a sentencepiece model"):
        SubwordTokenizer(b"not a model")
    with pytest.raises(TypeError, match="model_proto must be bytes"):
        SubwordTokenizer("model")


def test_a_missing_sentencepiece_says_how_to_install_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "sentencepiece", None)  # import sentencepiece now raises ImportError
    with pytest.raises(ImportError, match=r"pip install 'an2dl\[text\]'"):
        SubwordTokenizer.train(CORPUS, vocab_size=50)
