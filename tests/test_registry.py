import pytest

import an2dl
from an2dl.errors import ConfigError, UnknownNameError
from an2dl.registry import Registry


def test_duplicate_names_are_rejected():
    reg = Registry("thing")
    reg.add("a", 1)
    with pytest.raises(ConfigError, match="already registered"):
        reg.add("a", 2)


def test_unknown_model_suggests_close_matches():
    with pytest.raises(UnknownNameError, match="did you mean 'lenet5'"):
        an2dl.get_model("lenet")


def test_unknown_dataset_and_recipe_suggest_close_matches():
    with pytest.raises(UnknownNameError, match="'digits'"):
        an2dl.get_dataset("digit")
    with pytest.raises(UnknownNameError, match="'lenet5-digits'"):
        an2dl.run("lenet5-digit")


def test_listing_with_patterns():
    assert "lenet5" in an2dl.list_models()
    assert an2dl.list_recipes("lenet5-*") == ["lenet5-digits", "lenet5-mnist"]
