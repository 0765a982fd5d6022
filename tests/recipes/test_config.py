"""Recipe configuration: overrides parsed by field type, files merged, unknown keys refused."""

from __future__ import annotations

import pytest

from an2dl.engine import OptimizerSpec, ScheduleSpec
from an2dl.errors import ConfigError
from an2dl.recipes.cnn.lenet5 import LeNet5DigitsConfig
from an2dl.recipes.config import apply_overrides, from_dict, resolve, to_dict


def test_overrides_are_converted_to_the_field_types():
    cfg = apply_overrides(LeNet5DigitsConfig(), [
        "trainer.max_epochs=3", "optim.lr=1e-2", "optim.nesterov=false", "optim.betas=[0.8, 0.9]",
        'optim.layer_lr={"model.features": 0.001}', "trainer.max_steps=none", "data.size=16",
        "optim.schedule.name=step", "optim.schedule.step_size=2",
    ])
    assert cfg.trainer.max_epochs == 3 and cfg.optim.lr == 0.01 and cfg.optim.nesterov is False
    assert cfg.optim.betas == (0.8, 0.9) and cfg.optim.layer_lr == {"model.features": 0.001}
    assert cfg.trainer.max_steps is None and cfg.data.size == 16
    assert cfg.optim.schedule == ScheduleSpec("step", step_size=2)
    assert LeNet5DigitsConfig().trainer.max_epochs == 60  # the defaults are not mutated


def test_a_nested_dataclass_can_be_created_from_none():
    cfg = apply_overrides(LeNet5DigitsConfig(), ["optim.schedule=null"])
    assert cfg.optim.schedule is None
    cfg = apply_overrides(cfg, ["optim.schedule.name=cosine"])
    assert isinstance(cfg.optim.schedule, ScheduleSpec) and cfg.optim.schedule.name == "cosine"


def test_round_trip_through_a_dict():
    cfg = apply_overrides(LeNet5DigitsConfig(), ["optim.betas=[0.5, 0.99]", "trainer.seed=4"])
    back = from_dict(LeNet5DigitsConfig, to_dict(cfg))
    assert back == cfg and isinstance(back.optim, OptimizerSpec)


@pytest.mark.parametrize(
    "override, message",
    [
        ("trainer.epochs=3", "unknown setting 'trainer.epochs'"),
        ("nope=1", "unknown setting 'nope'"),
        ("trainer.batch_size=2.5", "trainer.batch_size must be an integer; got '2.5'"),
        ("optim.nesterov=maybe", "optim.nesterov must be a boolean"),
        ("optim.betas=[1]", "optim.betas must have 2 items; got 1"),
        ("optim.layer_lr=[1", "optim.layer_lr expects"),
        ("trainer.batch_size=null", "trainer.batch_size must be an integer; got 'null'"),
        ("optim.name=lbfgs", "optimizer name must be one of"),
    ],
)
def test_bad_overrides(override, message):
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("(", r"\(")):
        apply_overrides(LeNet5DigitsConfig(), [override])


def test_files_then_overrides(tmp_path):
    (tmp_path / "a.json").write_text('{"trainer": {"max_epochs": 2, "seed": 1}}')
    cfg = resolve(LeNet5DigitsConfig, config_file=tmp_path / "a.json", overrides=["trainer.seed=9"])
    assert cfg.trainer.max_epochs == 2 and cfg.trainer.seed == 9
    (tmp_path / "bad.yaml").write_text("- a list\n")
    with pytest.raises(ConfigError, match="must hold a mapping"):
        resolve(LeNet5DigitsConfig, config_file=tmp_path / "bad.yaml")
    (tmp_path / "bad.toml").write_text("[trainer\n")
    with pytest.raises(ConfigError, match="is not valid TOML"):
        resolve(LeNet5DigitsConfig, config_file=tmp_path / "bad.toml")
    (tmp_path / "c.ini").write_text("")
    with pytest.raises(ConfigError, match="must end in .json, .toml, .yaml or .yml"):
        resolve(LeNet5DigitsConfig, config_file=tmp_path / "c.ini")
