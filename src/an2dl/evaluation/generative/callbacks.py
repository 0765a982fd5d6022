"""Callbacks that follow a generative model during training: Fréchet distance per epoch, sample grids."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from ..._utils.rng import derive_seed
from ...engine.callbacks.base import Callback
from ...errors import ConfigError
from ...nn.device import module_device
from .metrics import extract_features, frechet_distance, gaussian_statistics
from .plots import save_image_grid

__all__ = ["FrechetMonitor", "SampleGrid", "Sampler"]

#: ``sampler(n, torch_generator) -> images [n, C, H, W]``
Sampler = Callable[[int, torch.Generator], torch.Tensor]


def _task_sampler(task: nn.Module) -> Sampler:
    sample = getattr(task, "sample", None)
    if not callable(sample):
        raise ConfigError(f"{type(task).__name__} has no sample(n, generator=...) method to draw images from")
    return lambda n, g: sample(n, generator=g)


@torch.no_grad()
def _draw(task: nn.Module, sampler: Sampler | None, n: int, seed: int) -> torch.Tensor:
    g = torch.Generator(device=module_device(task)).manual_seed(seed)
    was = task.training
    task.eval()
    try:
        return (sampler or _task_sampler(task))(n, g).float().cpu()
    finally:
        task.train(was)


class FrechetMonitor(Callback):
    """Log the Fréchet distance of generated samples to real images after every n-th epoch.

    The samples come from the same noise every time (a generator seeded by
    ``seed``), drawn with the task in eval mode, so the curve follows the
    model only.  The value is added to the epoch's metrics as
    ``val/<name>``; ``curve`` holds ``(epoch, step, value)`` rows, with epoch
    0 for the untrained model.

    Args:
        judge: a model with ``forward_features`` (e.g. :func:`digit_judge`).
        reference: real images ``[N, C, H, W]`` (the validation split) whose
            feature statistics are the target.
        n_samples: generated images per evaluation.
        every_n_epochs: evaluation frequency.
        sampler: ``sampler(n, torch_generator) -> images``; default ``task.sample``.
        seed: seed of the fixed noise.
        name: metric name.
        progress: show the feature extraction of ``reference`` (see :func:`extract_features`).
    """

    order = 50  # before MetricsLogger (90) and Checkpoint (100)

    def __init__(
        self,
        judge: nn.Module,
        reference: torch.Tensor,
        *,
        n_samples: int = 2000,
        every_n_epochs: int = 1,
        sampler: Sampler | None = None,
        seed: int = 0,
        name: str = "frechet",
        progress: bool | None = False,
    ) -> None:
        if isinstance(n_samples, bool) or not isinstance(n_samples, int) or n_samples < 2:
            raise ConfigError(f"FrechetMonitor n_samples must be an integer >= 2; got {n_samples!r}")
        if isinstance(every_n_epochs, bool) or not isinstance(every_n_epochs, int) or every_n_epochs <= 0:
            raise ConfigError(f"FrechetMonitor every_n_epochs must be a positive integer; got {every_n_epochs!r}")
        self.judge = judge
        self.reference_stats = gaussian_statistics(extract_features(judge, reference, progress=progress,
                                                                    what="reference images"))
        self.n_samples, self.every_n_epochs, self.sampler = n_samples, every_n_epochs, sampler
        self.seed, self.name = seed, name
        self.curve: list[tuple[int, int, float]] = []

    def value(self, task: nn.Module) -> float:
        """The Fréchet distance of ``n_samples`` current samples to the reference."""
        images = _draw(task, self.sampler, self.n_samples, derive_seed(self.seed, "frechet"))
        return frechet_distance(*gaussian_statistics(extract_features(self.judge, images)), *self.reference_stats)

    def on_fit_start(self, trainer, task) -> None:
        self.curve = [(0, 0, self.value(task))]

    def on_epoch_end(self, trainer, task, metrics) -> None:
        if (trainer.epoch + 1) % self.every_n_epochs:
            return
        fd = self.value(task)
        self.curve.append((trainer.epoch + 1, trainer.global_step, fd))
        metrics[f"val/{self.name}"] = fd
        trainer.history[-1][f"val/{self.name}"] = fd
        trainer.metrics[f"val/{self.name}"] = fd

    def state_dict(self) -> dict[str, Any]:
        return {"curve": [list(r) for r in self.curve]}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.curve = [(int(e), int(s), float(v)) for e, s, v in state["curve"]]


class SampleGrid(Callback):
    """Save a grid of samples from fixed noise after every n-th epoch (``plots/samples_epoch_NNN.png``).

    Args:
        n: images per grid.
        nrow: images per row.
        every_n_epochs: frequency.
        sampler: ``sampler(n, torch_generator) -> images``; default ``task.sample``.
        seed: seed of the fixed noise.
        prefix: file-name prefix.
    """

    order = 60

    def __init__(
        self, *, n: int = 64, nrow: int = 8, every_n_epochs: int = 1, sampler: Sampler | None = None, seed: int = 0,
        prefix: str = "samples",
    ) -> None:
        if isinstance(n, bool) or not isinstance(n, int) or n <= 0:
            raise ConfigError(f"SampleGrid n must be a positive integer; got {n!r}")
        if isinstance(every_n_epochs, bool) or not isinstance(every_n_epochs, int) or every_n_epochs <= 0:
            raise ConfigError(f"SampleGrid every_n_epochs must be a positive integer; got {every_n_epochs!r}")
        self.n, self.nrow, self.every_n_epochs, self.sampler = n, nrow, every_n_epochs, sampler
        self.seed, self.prefix = seed, prefix
        self.saved: list[str] = []

    def on_fit_start(self, trainer, task) -> None:
        self.saved = []

    def on_epoch_end(self, trainer, task, metrics) -> None:
        epoch = trainer.epoch + 1
        if epoch % self.every_n_epochs or trainer.run_dir is None or not trainer.is_global_zero:
            return
        images = _draw(task, self.sampler, self.n, derive_seed(self.seed, "grid"))
        name = f"{self.prefix}_epoch_{epoch:03d}"
        save_image_grid(images, trainer.run_dir, name, f"Samples after epoch {epoch} (step {trainer.global_step}), "
                        "from the same noise every epoch", nrow=self.nrow, title=f"epoch {epoch}")
        self.saved.append(name)

    def state_dict(self) -> dict[str, Any]:
        return {"saved": list(self.saved)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.saved = list(state["saved"])
