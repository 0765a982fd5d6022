"""Vocabularies: special ids, frequency cut-off and order, encode/decode round trips, JSON files (notes §4.2.2)."""

import ast
import json
import random
from pathlib import Path

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from an2dl.data.text import (
    EOS,
    PAD,
    SOS,
    SPECIALS,
    UNK,
    CharTokenizer,
    SubwordTokenizer,
    Vocabulary,
    WordTokenizer,
    check_token_ids,
)
from an2dl.errors import ConfigError, DataError

SRC = Path(__file__).resolve().parents[2] / "src" / "an2dl"
CORPUS = ["The cat sat on the mat.", "The dog sat on the log!", "A cat and a dog: friends?"] * 3


# ---------------------------------------------------------------------------------------------------- specials
def test_the_special_ids_are_those_of_the_design():
    assert (PAD, UNK, SOS, EOS) == (0, 1, 2, 3)
    assert SPECIALS == ("<pad>", "<unk>", "<sos>", "<eos>")
    for vocab in (Vocabulary.build(CORPUS), Vocabulary.build(CORPUS, tokenizer="word"),
                  Vocabulary.build(CORPUS, tokenizer="subword", max_size=60)):
        assert vocab.itos[:4] == list(SPECIALS)
        assert [vocab.stoi[s] for s in SPECIALS] == [PAD, UNK, SOS, EOS]


def test_the_special_tokens_are_written_down_in_one_module_only():
    """No module but data/text/specials.py spells a special token as a string of its own."""
    owners = []
    for path in SRC.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Constant) and node.value in SPECIALS:
                owners.append(path.relative_to(SRC).as_posix())
    assert set(owners) == {"data/text/specials.py"}


# ------------------------------------------------------------------------------------------------------- build
def test_build_orders_by_count_then_code_point():
    vocab = Vocabulary.build("abracadabra")  # a:5, b:2, r:2, c:1, d:1
    assert vocab.itos[4:] == ["a", "b", "r", "c", "d"] and vocab.counts == [5, 2, 2, 1, 1]
    words = Vocabulary.build(["The cat sat.", "the dog sat!"], tokenizer="word")
    assert words.itos[4:] == ["sat", "the", "!", ".", "cat", "dog"]
    assert words.counts == [2, 2, 1, 1, 1, 1]


def test_min_freq_and_max_size_send_rare_tokens_to_unk():
    texts = ["The cat sat.", "the dog sat!"]
    frequent = Vocabulary.build(texts, tokenizer="word", min_freq=2)
    assert frequent.itos[4:] == ["sat", "the"]
    assert frequent.encode("the cat sat").tolist() == [5, UNK, 4]
    assert frequent.decode(frequent.encode("the cat sat"), skip_specials=False) == "the <unk> sat"
    small = Vocabulary.build(texts, tokenizer="word", max_size=5)
    assert len(small) == 5 and small.itos[4] == "sat"
    assert len(Vocabulary.build(texts, tokenizer="word", max_size=4)) == 4  # specials only


@settings(max_examples=40, deadline=None)
@given(st.lists(st.text(alphabet="abcde .,!", max_size=30), min_size=1, max_size=6), st.randoms())
def test_the_same_corpus_gives_the_same_ids_in_any_order(texts, rnd):
    shuffled = list(texts)
    rnd.shuffle(shuffled)
    for tokenizer in ("char", "word"):
        assert Vocabulary.build(texts, tokenizer=tokenizer) == Vocabulary.build(shuffled, tokenizer=tokenizer)


@pytest.mark.parametrize("kwargs,match", [
    ({"min_freq": 0}, "min_freq must be a positive integer; got 0"),
    ({"max_size": 3}, "max_size must be None or an integer >= 4"),
    ({"tokenizer": "subword"}, "needs max_size"),
    ({"tokenizer": "bytes"}, "tokenizer must be a Tokenizer or one of"),
])
def test_build_rejects_bad_settings(kwargs, match):
    with pytest.raises(ConfigError, match=match):
        Vocabulary.build(CORPUS, **kwargs)


def test_the_constructor_rejects_tokens_that_would_break_the_numbering():
    with pytest.raises(ConfigError, match="'a' appears twice"):
        Vocabulary(["a", "b", "a"])
    with pytest.raises(ConfigError, match="special token '<unk>'"):
        Vocabulary(["a", "<unk>"], tokenizer="word")
    with pytest.raises(ConfigError, match="single characters; tokens\\[1\\] is 'bc'"):
        Vocabulary(["a", "bc"], tokenizer="char")
    with pytest.raises(ConfigError, match="non-empty str"):
        Vocabulary(["a", ""], tokenizer="word")
    with pytest.raises(ConfigError, match="one non-negative integer per token"):
        Vocabulary(["a", "b"], counts=[3])
    with pytest.raises(ConfigError, match="needs a trained model"):
        Vocabulary(["a"], tokenizer="subword")
    with pytest.raises(TypeError, match="texts\\[1\\] must be a str"):
        Vocabulary.build(["a", 3])


# ------------------------------------------------------------------------------------------------ round trips
@settings(max_examples=60, deadline=None)
@given(st.text(max_size=80))
def test_characters_round_trip_exactly(text):
    vocab = Vocabulary.build(text)
    ids = vocab.encode(text)
    assert ids.dtype == torch.int64 and ids.shape == (len(text),)
    assert vocab.decode(ids) == text
    assert not bool((ids < len(SPECIALS)).any())


@settings(max_examples=60, deadline=None)
@given(st.text(alphabet="abcxyz", min_size=1, max_size=10), st.text(max_size=40))
def test_character_lookup_is_the_dictionary_lookup(corpus, text):
    vocab = Vocabulary.build(corpus)
    assert vocab.encode(text).tolist() == [vocab.stoi.get(c, UNK) for c in text]


def test_character_encoding_marks_sequences_and_unknowns():
    vocab = Vocabulary.build("hello world")
    ids = vocab.encode("hello!", add_sos=True, add_eos=True)
    assert ids[0] == SOS and ids[-1] == EOS and ids[-2] == UNK
    assert vocab.decode(ids) == "hello"
    assert vocab.decode(ids, skip_specials=False) == "<sos>hello<unk><eos>"
    assert vocab.decode([]) == ""
    assert "h" in vocab and "<pad>" in vocab and "!" not in vocab


def test_words_round_trip_to_the_normalised_text():
    vocab = Vocabulary.build(CORPUS, tokenizer="word")
    for text in CORPUS:
        assert vocab.decode(vocab.encode(text)) == vocab.tokenizer.normalize(text)
    assert vocab.decode(vocab.encode("The CAT sat on the\nMAT!")) == "the cat sat on the mat !"
    assert vocab.encode("the zebra sat").tolist() == [vocab.stoi["the"], UNK, vocab.stoi["sat"]]
    assert vocab.decode(vocab.encode("the zebra sat", add_sos=True, add_eos=True),
                        skip_specials=False) == "<sos> the <unk> sat <eos>"


@settings(max_examples=40, deadline=None)
@given(st.lists(st.sampled_from(["Cat", "dog", "sat", "ﬁsh", ",", "!", "don't", "Ｍat"]), max_size=12),
       st.sampled_from([" ", "  ", "\n", "\t "]))
def test_known_words_round_trip_whatever_the_spacing_and_case(words, space):
    vocab = Vocabulary.build(["cat dog sat fish , ! don't mat"], tokenizer="word")
    text = space.join(words)
    ids = vocab.encode(text)
    assert UNK not in ids.tolist()
    assert vocab.decode(ids) == " ".join(vocab.tokenizer.tokenize(text)) == vocab.tokenizer.normalize(text)


def test_subwords_round_trip_and_keep_the_specials_first():
    tokenizer = SubwordTokenizer.train(CORPUS, vocab_size=60)
    assert tokenizer.pieces[:4] == list(SPECIALS)
    vocab = Vocabulary.build(CORPUS, tokenizer=tokenizer)
    assert vocab.itos == tokenizer.pieces  # the model's own ids
    assert sum(vocab.counts) == sum(len(tokenizer.tokenize(t)) for t in CORPUS)
    for text in CORPUS + ["the   dog\tsat on  the cat", "cats and frogs on a log."]:
        assert vocab.decode(vocab.encode(text)) == tokenizer.normalize(text)
    ids = vocab.encode("The élan", add_sos=True, add_eos=True)
    assert ids.tolist().count(UNK) == 1  # "é" was never seen; "lan" is spelt from pieces
    assert vocab.decode(ids, skip_specials=False) == "<sos> The <unk>lan <eos>"
    assert vocab.decode(ids) == "The lan"
    with pytest.raises(ConfigError, match="min_freq applies to character and word"):
        Vocabulary.build(CORPUS, tokenizer=tokenizer, min_freq=2)
    with pytest.raises(ConfigError, match="max_size=20 is smaller than the subword model's"):
        Vocabulary.build(CORPUS, tokenizer=tokenizer, max_size=20)
    with pytest.raises(ConfigError, match="subword vocabulary's tokens must be its model's"):
        Vocabulary(vocab.itos[5:], tokenizer=tokenizer)


# ------------------------------------------------------------------------------------------------------- files
@pytest.mark.parametrize("level", ["char", "word", "subword"])
def test_save_and_load_give_an_equal_vocabulary(tmp_path, level):
    vocab = (Vocabulary.build(CORPUS, tokenizer="subword", max_size=60) if level == "subword"
             else Vocabulary.build(CORPUS, tokenizer=level, min_freq=2))
    path = vocab.save(tmp_path / f"{level}.json")
    again = Vocabulary.load(path)
    assert again == vocab and again.counts == vocab.counts and again.level == level
    assert torch.equal(again.encode(CORPUS[2]), vocab.encode(CORPUS[2]))
    assert Vocabulary.from_dict(json.loads(json.dumps(vocab.to_dict()))) == vocab
    assert json.loads(path.read_text())["format"] == "an2dl.vocabulary"
    assert [p.name for p in tmp_path.iterdir()] == [f"{level}.json"]  # no temporary file left behind


def test_a_word_tokenizers_options_are_saved(tmp_path):
    vocab = Vocabulary.build(["Straße ＡＢＣ"], tokenizer=WordTokenizer(normalization="NFC", lowercase=False))
    again = Vocabulary.load(vocab.save(tmp_path / "v.json"))
    assert again.tokenizer == WordTokenizer(normalization="NFC", lowercase=False)
    assert again.tokenizer != WordTokenizer()
    assert again.decode(again.encode("Straße ＡＢＣ")) == "Straße ＡＢＣ"


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.data())
def test_a_truncated_file_is_reported_with_its_path(tmp_path, data):
    path = Vocabulary.build(CORPUS, tokenizer="word").save(tmp_path / "vocab.json")
    content = path.read_bytes()
    cut = data.draw(st.integers(0, len(content.rstrip()) - 1))
    path.write_bytes(content[:cut])
    with pytest.raises(DataError) as err:
        Vocabulary.load(path)
    message = str(err.value)
    assert str(path) in message and "truncated or corrupt" in message and "expected a JSON object" in message
    assert f"of {cut} bytes" in message


def test_corrupt_and_foreign_files_are_reported(tmp_path):
    path = tmp_path / "v.json"
    Vocabulary.build("abc").save(path)
    good = json.loads(path.read_text())
    path.write_bytes(b'{"format": "an2dl.vocabulary", \xff\xfe}')
    with pytest.raises(DataError, match="not UTF-8"):
        Vocabulary.load(path)
    path.write_text("[1, 2, 3]")
    with pytest.raises(DataError, match=r"v\.json: expected a JSON object .* found a JSON list"):
        Vocabulary.load(path)
    path.write_text(json.dumps({**good, "format": "something-else"}))
    with pytest.raises(DataError, match="found an object with format 'something-else'"):
        Vocabulary.load(path)
    path.write_text(json.dumps({**good, "version": 99}))
    with pytest.raises(DataError, match="expected format version 1; found 99"):
        Vocabulary.load(path)
    path.write_text(json.dumps({**good, "specials": ["<pad>", "<eos>", "<sos>", "<unk>"]}))
    with pytest.raises(DataError, match=r"v\.json: a vocabulary's special tokens must be"):
        Vocabulary.load(path)
    path.write_text(json.dumps({**good, "tokens": ["a", "a"]}))
    with pytest.raises(DataError, match="appears twice"):
        Vocabulary.load(path)
    path.write_text(json.dumps({k: v for k, v in good.items() if k != "tokenizer"}))
    with pytest.raises(DataError, match=r"missing \['tokenizer'\]"):
        Vocabulary.load(path)
    with pytest.raises(FileNotFoundError, match="nothere.json does not exist"):
        Vocabulary.load(tmp_path / "nothere.json")


def test_the_older_character_form_reads_with_the_same_ids():
    vocab = Vocabulary.from_dict({"type": "char", "chars": [" ", "a", "b"]})
    assert vocab.itos == [*SPECIALS, " ", "a", "b"] and vocab.tokenizer == CharTokenizer()
    assert vocab.encode("ab a").tolist() == [5, 6, 4, 5]
    with pytest.raises(DataError, match="missing"):
        Vocabulary.from_dict({"type": "word"})


# --------------------------------------------------------------------------------------------- check_token_ids
def test_check_token_ids_names_the_argument_and_the_offending_id():
    check_token_ids(torch.tensor([[0, 4], [9, 2]]), 10)
    check_token_ids([], 10)
    with pytest.raises(ValueError, match=r"batch\.tokens must hold token ids in \[0, 10\).*the first 10 at index \[1, 0\]"):
        check_token_ids(torch.tensor([[0, 4], [10, 2]]), 10, name="batch.tokens")
    with pytest.raises(ValueError, match=r"^tokens must hold .* 2 id\(s\) outside, the first -1 at index \[1\]"):
        check_token_ids([3, -1, 12], 10)
    with pytest.raises(TypeError, match="targets must be integer token ids; got dtype torch.float32"):
        check_token_ids(torch.tensor([1.0]), 10, name="targets")
    with pytest.raises(ValueError, match="vocab_size must be a positive integer; got 0"):
        check_token_ids([1], 0)


def test_decode_checks_its_ids():
    vocab = Vocabulary.build("abc")
    with pytest.raises(ValueError, match=r"ids must hold token ids in \[0, 7\).*the first 7"):
        vocab.decode([4, 7])
    with pytest.raises(ValueError, match=r"1-D sequence \[N\]; got shape \[1, 2\]"):
        vocab.decode(torch.tensor([[4, 5]]))
    with pytest.raises(TypeError, match="dtype torch.float32"):
        vocab.decode([4.0, 5.5])
    with pytest.raises(TypeError, match="text must be a str"):
        vocab.encode(["a"])


def test_a_large_text_round_trips():
    rnd = random.Random(0)
    text = "".join(rnd.choice("abcdefgh \n") for _ in range(200_000))
    vocab = Vocabulary.build(text)
    ids = vocab.encode(text + "Z")
    assert ids.shape == (200_001,) and ids[-1] == UNK and vocab.decode(ids[:-1]) == text
