"""Sharded data parallelism (``Trainer(strategy="fsdp")``): PyTorch's FSDP2 through Lightning Fabric.

Every process holds a shard (a ``DTensor``) of each parameter, of its gradient and of the optimiser state; the
full parameters of a block are gathered just before its forward and backward and freed after
(:func:`torch.distributed.fsdp.fully_shard`).  The gradients are averaged over the processes, as under DDP, so
with the Trainer's global batch a sharded run follows the single-process run.

Fabric's own ``FSDPStrategy`` runs on GPUs only; its ``ModelParallelStrategy`` applies FSDP2 through a
``parallelize_fn`` on any device, gloo included, and is what ``strategy="fsdp"`` builds
(:func:`fsdp_strategy`).  What the rest of an2dl needs from a model — checkpoints written by rank 0,
evaluation, export — is full tensors, so this module also

* trains a *copy* of the task (:func:`sharded_copy`) and leaves the user's task unsharded: after ``fit`` the
  trained weights are gathered into it (:func:`gather_into`) on every process, so evaluation, ``export`` and
  ``predict`` see an ordinary module;
* turns the sharded model and optimiser state into full tensors for a checkpoint (:func:`full_tensors`, a
  collective every process calls in the same order) and back into shards on resume (:func:`load_sharded`,
  :func:`shard_optimizer_state`), so checkpoints are the same safetensors files as under DDP and a sharded
  run resumes from them, on any number of processes.
"""

from __future__ import annotations

import copy
from typing import Any

import torch
from torch import nn

from ..errors import ConfigError

__all__ = [
    "fsdp_strategy",
    "has_parameters",
    "is_sharded",
    "sharded_copy",
    "full_tensors",
    "load_sharded",
    "shard_optimizer_state",
    "gather_into",
]


def fsdp_strategy(processes: int) -> Any:
    """Fabric's ``ModelParallelStrategy`` with FSDP2 over all ``processes`` (no tensor parallelism)."""
    from lightning_fabric.strategies import ModelParallelStrategy

    return ModelParallelStrategy(parallelize_fn=_shard_task, data_parallel_size=processes, tensor_parallel_size=1)


def _shard_task(task: nn.Module, mesh: Any) -> nn.Module:
    """Apply ``fully_shard`` to every child module of ``task`` that holds parameters (``task.model``; a GAN's
    generator and discriminator): each is one unit, whose parameters, gradients and optimiser state are
    sharded at rest and whose parameters are gathered whole for a training step.

    The gathering is hooked on the unit's ``forward`` and on its other public methods (an autoencoder task
    calls ``model.encode`` and ``model.decode``), registered with ``register_fsdp_forward_method``; the
    parameters stay gathered from the first such call to the end of the backward pass
    (``reshard_after_forward=False``), so methods that call one another and weights shared between
    submodules work unchanged.  Finer units (one per Transformer block) would gather less at a time but
    depend on how each model calls its blocks; they are not made.  The task itself is not sharded (its steps,
    not its forward, are the entry points) and must not hold parameters directly.
    """
    from torch.distributed.fsdp import fully_shard, register_fsdp_forward_method

    direct = [name for name, _ in task.named_parameters(recurse=False)]
    if direct:
        raise ConfigError(f"strategy 'fsdp' shards the task's modules; {type(task).__name__} holds parameters "
                          f"of its own ({', '.join(direct)}): move them into a submodule")
    dp_mesh = mesh["data_parallel"]
    for child in task.children():
        if not has_parameters(child):
            continue
        fully_shard(child, mesh=dp_mesh, reshard_after_forward=False)
        for name in _public_methods(type(child)):
            register_fsdp_forward_method(child, name)
    return task


def _public_methods(cls: type) -> list[str]:
    """Public methods that ``cls`` and its bases below ``nn.Module`` define (not properties, not ``forward``)."""
    names: list[str] = []
    for klass in cls.__mro__:
        if klass is nn.Module or not issubclass(klass, nn.Module):
            continue
        for name, value in vars(klass).items():
            if not name.startswith("_") and name != "forward" and callable(value) and name not in names \
                    and not isinstance(value, (staticmethod, classmethod, type)):
                names.append(name)
    return names


def has_parameters(module: nn.Module) -> bool:
    """Whether ``module`` (or a module inside it) holds at least one parameter."""
    return any(True for _ in module.parameters())


def is_sharded(module: nn.Module) -> bool:
    """Whether any parameter of ``module`` is a ``DTensor`` shard."""
    from torch.distributed.tensor import DTensor

    return any(isinstance(p, DTensor) for p in module.parameters())


def sharded_copy(task: nn.Module) -> nn.Module:
    """The copy of ``task`` that the strategy shards and the Trainer trains (``task`` stays whole)."""
    return copy.deepcopy(task)


def full_tensors(tree: Any) -> Any:
    """``tree`` (dicts, lists, tuples) with every ``DTensor`` replaced by the full tensor it shards.

    A collective: every process must call it on trees of the same structure, in the same order.
    """
    from torch.distributed.tensor import DTensor

    if isinstance(tree, DTensor):
        return tree.full_tensor()
    if isinstance(tree, dict):
        return {k: full_tensors(v) for k, v in tree.items()}
    if isinstance(tree, (list, tuple)):
        return type(tree)(full_tensors(v) for v in tree)
    return tree


def _shard_like(full: torch.Tensor, like: Any) -> Any:
    from torch.distributed.tensor import distribute_tensor

    return distribute_tensor(full.to(device=like.device, dtype=like.dtype), like.device_mesh, like.placements)


def load_sharded(module: nn.Module, state: dict[str, torch.Tensor]) -> None:
    """Load the full tensors of ``state`` into ``module``, sharding each as its parameter or buffer is sharded.

    Raises:
        RuntimeError: as ``load_state_dict(strict=True)`` does for missing, unexpected or misshapen keys.
    """
    from torch.distributed.tensor import DTensor

    current = module.state_dict()
    converted = {}
    for key, value in state.items():
        like = current.get(key)
        if isinstance(like, DTensor) and not isinstance(value, DTensor):
            if tuple(value.shape) != tuple(like.shape):
                raise RuntimeError(f"size mismatch for {key}: copying a param with shape {tuple(value.shape)}, "
                                   f"the current model has {tuple(like.shape)}")
            value = _shard_like(value, like)
        converted[key] = value
    module.load_state_dict(converted, strict=True)


def shard_optimizer_state(optimizer: torch.optim.Optimizer) -> None:
    """After ``optimizer.load_state_dict`` of full tensors: shard each per-parameter state tensor of a
    parameter's shape (momentum, Adam's moments) as the parameter is sharded."""
    from torch.distributed.tensor import DTensor

    for group in optimizer.param_groups:
        for p in group["params"]:
            if not isinstance(p, DTensor):
                continue
            state = optimizer.state.get(p, {})
            for k, v in list(state.items()):
                if isinstance(v, torch.Tensor) and not isinstance(v, DTensor) and tuple(v.shape) == tuple(p.shape):
                    state[k] = _shard_like(v, p)


def gather_into(target: nn.Module, sharded: nn.Module) -> None:
    """Copy the trained weights of ``sharded`` into the unsharded ``target`` (a collective on every process)."""
    target.load_state_dict(full_tensors(sharded.state_dict()), strict=True)
