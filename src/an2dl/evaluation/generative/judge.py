"""The digit judge: a small MNIST classifier trained by an2dl, held out from every generative model (notes §3.7.1).

Generated digits are scored through this classifier's eyes
(:mod:`~an2dl.evaluation.generative.metrics`).  It is trained once per
setting and cached as an exported model, so later runs load it instantly.
"""

from __future__ import annotations

import json
import os

from torch import nn

from ..._utils.files import atomic_write_text, sha256_bytes
from ..._utils.progress import activity, display_mode
from ..._utils.rng import seed_everything
from ...errors import ConfigError

__all__ = ["digit_judge"]

_JUDGE_VERSION = 1


def digit_judge(
    *,
    root: str | os.PathLike | None = None,
    epochs: int = 2,
    limit_train: int | None = None,
    seed: int = 0,
    cache: bool = True,
    progress: bool | None = None,
) -> nn.Module:
    """The ``mnist_feature_cnn`` judge, trained by an2dl on the MNIST training split.

    Trained with :class:`~an2dl.tasks.ClassificationTask` (Adam, lr 1e-3,
    batch 128) for ``epochs`` on the first ``limit_train`` training images,
    and cached as an exported model in ``$AN2DL_CACHE/models/`` under a key
    of these settings, so later runs load it instantly.  It never sees the
    test split, which the recipes use as the held-out reference.

    Training takes minutes on a CPU the first time: it is announced with one
    line, ``training the digit judge (once, cached in FOLDER)``, followed on a
    terminal by the progress bar of its epochs (``progress``: ``None`` on a
    terminal only, ``True`` always, ``False`` never; off a terminal the line
    is all that is printed).

    Returns:
        The model in eval mode; ``model.judge_info`` holds its settings and
        its accuracy on the MNIST test split.
    """
    # imported on first use: training a judge needs most of the package, measuring with one does not
    from ...data import get_dataset
    from ...data.download import cache_dir
    from ...engine.callbacks import ProgressBar
    from ...engine.optim import OptimizerSpec
    from ...engine.trainer import Trainer
    from ...export import export, load
    from ...models import get_model
    from ...tasks import ClassificationTask

    if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs <= 0:
        raise ConfigError(f"digit_judge epochs must be a positive integer; got {epochs!r}")
    settings = {"version": _JUDGE_VERSION, "epochs": epochs, "limit_train": limit_train, "seed": seed}
    key = sha256_bytes(json.dumps(settings, sort_keys=True).encode())[:12]
    folder = cache_dir() / "models" / f"mnist_feature_cnn-{key}"
    info_path = folder / "judge.json"
    if cache and info_path.is_file() and (folder / "model.json").is_file():
        model = load(folder)
        model.judge_info = json.loads(info_path.read_text())
        return model
    where = f"once, cached in {folder}" if cache else "not cached: cache=False"
    with activity(f"training the digit judge ({where})", enable=progress, spinner=False):
        data = get_dataset("mnist", root=root, limit_train=limit_train, seed=seed)
        seed_everything(seed)
        model = get_model("mnist_feature_cnn")
        task = ClassificationTask(model, num_classes=10, optimizer=OptimizerSpec("adam", lr=1e-3))
        bar = ProgressBar(enable=display_mode(progress) == "live", label="judge")
        trainer = Trainer(max_epochs=epochs, batch_size=128, seed=seed, callbacks=[bar], val_every_n_epochs=None)
        trainer.fit(task, data.train)
        test = trainer.evaluate(task, data.test)
    info = {**settings, "test_accuracy": test["test/accuracy"], "train_images": len(data.train)}
    model.cpu().eval()
    model.judge_info = info
    if cache:
        export(model, folder, **task.export_metadata(class_names=[str(i) for i in range(10)],
                                                     preprocessing={"input_shape": [1, 28, 28], "value_range": [0.0, 1.0]}))
        atomic_write_text(info_path, json.dumps(info, indent=2) + "\n")
    return model
