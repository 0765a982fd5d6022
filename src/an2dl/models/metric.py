"""Embedding networks and template galleries: identification by templates (notes §3.5.6).

The notes identify an input by comparing it with one stored template per
person instead of retraining a classifier for every new person::

    î = argmin_j ‖f_w(I) − f_w(T_j)‖₂

:class:`Gallery` stores the templates' embeddings ``f_w(T_j)`` under names
(enrolment adds one, removal deletes it), and :meth:`Gallery.identify`
returns the nearest template's name for a batch of inputs — or
``"unknown"`` when even the nearest one is farther than a rejection
threshold (open-set identification: a face that belongs to nobody
enrolled).  Distances are computed exactly (difference form), in chunks of
queries, so a large batch gives the same answer as a loop over its images.

:class:`EmbeddingNet` is the shared-weight ``f_w`` of a Siamese network: a
backbone whose output is the embedding, L2-normalised on request (then
every distance lies in ``[0, 2]`` and the margin of the contrastive and
triplet losses has a fixed scale, as in FaceNet).  ``embedding_cnn`` builds
one from the plain CNN of §3.3.

Templates are saved and loaded with safetensors (the names, the threshold
and the input shape in its string metadata); nothing is pickled.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import CheckpointError, ConfigError
from ..losses.mining import pairwise_distances
from ..registry import close_matches
from ._registry import register_model
from .vision.plain_cnn import plain_cnn

__all__ = ["EmbeddingNet", "embedding_cnn", "Gallery", "Identification", "UNKNOWN"]

#: the name :meth:`Gallery.identify` gives an input farther than the threshold from every template
UNKNOWN = "unknown"


class EmbeddingNet(nn.Module):
    """``f_w``: a backbone whose output ``[B, D]`` is an embedding, optionally L2-normalised.

    Args:
        backbone: any module mapping inputs to ``[B, D]``.
        normalize: divide each embedding by its L2 norm (points on the unit sphere).

    Shape:
        input as the backbone's; output ``[B, D]``.
    """

    def __init__(self, backbone: nn.Module, *, normalize: bool = True) -> None:
        super().__init__()
        self.backbone = backbone
        self.normalize = normalize

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = self.backbone(x)
        return F.normalize(z, dim=1) if self.normalize else z


@register_model("embedding_cnn", input_shape=(1, 28, 28))
def embedding_cnn(
    *,
    embedding_dim: int = 32,
    in_channels: int = 1,
    input_size: int | Sequence[int] = 28,
    channels: Sequence[int] = (32, 64),
    hidden: Sequence[int] = (128,),
    batch_norm: bool = False,
    normalize: bool = True,
) -> EmbeddingNet:
    """The plain CNN of §3.3 with an ``embedding_dim``-wide linear output as ``f_w`` (see :class:`EmbeddingNet`)."""
    if not isinstance(embedding_dim, int) or isinstance(embedding_dim, bool) or embedding_dim < 1:
        raise ConfigError(f"embedding_cnn embedding_dim must be a positive integer; got {embedding_dim!r}")
    backbone = plain_cnn(num_classes=embedding_dim, in_channels=in_channels, input_size=input_size, channels=channels,
                         hidden=hidden, batch_norm=batch_norm)
    return EmbeddingNet(backbone, normalize=normalize)


@dataclass(frozen=True)
class Identification:
    """What :meth:`Gallery.identify` found for each query.

    Attributes:
        names: the nearest template's name, or :data:`UNKNOWN` when rejected (``B`` strings).
        distances: ``‖f(I) − f(T_ĵ)‖₂`` to the nearest template ``[B]``.
        indices: row ``ĵ`` of the nearest template in :attr:`Gallery.templates` ``[B]`` (also when rejected).
    """

    names: list[str]
    distances: torch.Tensor
    indices: torch.Tensor


class Gallery:
    """Named templates and nearest-template identification with optional open-set rejection.

    Args:
        embed: ``f_w`` (e.g. an :class:`EmbeddingNet`), used by :meth:`enroll`
            and :meth:`identify` on images; ``None`` for a gallery of embeddings only.
        input_shape: the shape of one image ``(C, H, W)`` that ``embed``
            takes; enrolled and identified images are checked against it.
        threshold: default rejection distance: a query whose nearest template is
            farther than this is ``"unknown"`` (``None``: closed set, never rejects).
        chunk_size: queries per distance computation (bounds the memory to ``chunk_size × N``).

    A name may own several templates (several images of one person); the
    nearest of all templates decides.
    """

    def __init__(self, embed: Callable[[torch.Tensor], torch.Tensor] | None = None, *,
                 input_shape: Sequence[int] | None = None, threshold: float | None = None,
                 chunk_size: int = 1024) -> None:
        self.embed = embed
        self.input_shape = tuple(int(s) for s in input_shape) if input_shape is not None else None
        self.threshold = self._check_threshold(threshold)
        if not isinstance(chunk_size, int) or chunk_size < 1:
            raise ConfigError(f"chunk_size must be a positive integer; got {chunk_size!r}")
        self.chunk_size = chunk_size
        self.templates = torch.empty(0, 0)
        self.names: list[str] = []

    # ---- validation
    @staticmethod
    def _check_threshold(threshold: float | None) -> float | None:
        if threshold is None:
            return None
        if isinstance(threshold, bool) or not isinstance(threshold, (int, float)) or not threshold >= 0:
            raise ConfigError(f"threshold must be a non-negative distance or None; got {threshold!r}")
        return float(threshold)

    def _images(self, images: torch.Tensor, what: str) -> torch.Tensor:
        if self.embed is None:
            raise ConfigError(f"this gallery has no embedding network; {what} embeddings with the *_embeddings methods")
        if not isinstance(images, torch.Tensor) or not images.is_floating_point():
            raise ConfigError(f"{what}: images must be a float tensor; got {getattr(images, 'dtype', type(images).__name__)}")
        if self.input_shape is not None:
            if tuple(images.shape) == self.input_shape:
                images = images.unsqueeze(0)
            if images.dim() != len(self.input_shape) + 1 or tuple(images.shape[1:]) != self.input_shape:
                want = ", ".join(str(s) for s in self.input_shape)
                raise ConfigError(f"{what}: images must have shape [B, {want}] (or [{want}] for one); "
                                  f"got {list(images.shape)}")
        return images

    def _embed(self, images: torch.Tensor) -> torch.Tensor:
        assert self.embed is not None
        module = self.embed if isinstance(self.embed, nn.Module) else None
        was_training = module.training if module is not None else False
        if module is not None:
            module.eval()
        try:
            with torch.no_grad():
                out = torch.cat([self.embed(images[i:i + self.chunk_size]) for i in range(0, len(images), self.chunk_size)])
        finally:
            if module is not None:
                module.train(was_training)
        return out

    def _embeddings(self, embeddings: torch.Tensor, what: str) -> torch.Tensor:
        if not isinstance(embeddings, torch.Tensor) or not embeddings.is_floating_point() or embeddings.dim() not in (1, 2):
            raise ConfigError(f"{what}: embeddings must be a float tensor [B, D] (or [D] for one); got "
                              f"{getattr(embeddings, 'dtype', type(embeddings).__name__)} {list(getattr(embeddings, 'shape', []))}")
        embeddings = embeddings.detach().reshape(-1, embeddings.shape[-1])
        if len(self.names) and embeddings.shape[1] != self.templates.shape[1]:
            raise ConfigError(f"{what}: embeddings must have the gallery's dimension D={self.templates.shape[1]}; "
                              f"got D={embeddings.shape[1]}")
        return embeddings

    # ---- enrolment
    def enroll(self, name: str, images: torch.Tensor) -> None:
        """Add the templates ``f_w(T)`` of ``images`` ``[B, C, H, W]`` (or one ``[C, H, W]``) under ``name``."""
        self.enroll_embeddings(name, self._embed(self._images(images, "enroll")))

    def enroll_embeddings(self, name: str, embeddings: torch.Tensor) -> None:
        """Add template embeddings ``[B, D]`` (or one ``[D]``) under ``name``."""
        if not isinstance(name, str) or not name.strip():
            raise ConfigError(f"enroll: name must be a non-empty string; got {name!r}")
        if name == UNKNOWN:
            raise ConfigError(f"enroll: {UNKNOWN!r} is the name of rejected queries; choose another name")
        embeddings = self._embeddings(embeddings, "enroll")
        self.templates = embeddings.clone() if not self.names else torch.cat([self.templates, embeddings.to(self.templates)])
        self.names += [name] * len(embeddings)

    def remove(self, name: str) -> int:
        """Delete every template of ``name``; returns how many were removed.

        Raises:
            ConfigError: ``name`` is not enrolled (the closest enrolled names are suggested).
        """
        if name not in self.names:
            near = close_matches(name, self.identities) if isinstance(name, str) else []
            hint = f"; did you mean {', '.join(repr(n) for n in near)}?" if near else ""
            raise ConfigError(f"remove: {name!r} is not enrolled{hint} (enrolled: {', '.join(self.identities) or 'none'})")
        keep = torch.tensor([n != name for n in self.names], dtype=torch.bool)
        removed = int((~keep).sum())
        self.templates = self.templates[keep]
        self.names = [n for n in self.names if n != name]
        return removed

    @property
    def identities(self) -> list[str]:
        """The enrolled names, each once, in enrolment order."""
        return list(dict.fromkeys(self.names))

    def __len__(self) -> int:
        """The number of templates."""
        return len(self.names)

    # ---- identification
    def distances(self, embeddings: torch.Tensor) -> torch.Tensor:
        """``‖f(I_b) − f(T_j)‖₂`` for every query and template ``[B, N]``."""
        if not self.names:
            raise ConfigError("identify: the gallery is empty; enroll at least one template first")
        q = self._embeddings(embeddings, "identify").to(self.templates)
        return torch.cat([pairwise_distances(q[i:i + self.chunk_size], self.templates)
                          for i in range(0, len(q), self.chunk_size)])

    def identify(self, images: torch.Tensor, *, threshold: float | None = None) -> Identification:
        """The nearest template of each image ``[B, C, H, W]`` (or one ``[C, H, W]``); see :meth:`identify_embeddings`."""
        if not self.names:
            raise ConfigError("identify: the gallery is empty; enroll at least one template first")
        return self.identify_embeddings(self._embed(self._images(images, "identify")), threshold=threshold)

    def identify_embeddings(self, embeddings: torch.Tensor, *, threshold: float | None = None) -> Identification:
        """``î = argmin_j ‖f(I) − f(T_j)‖₂`` for each query embedding ``[B, D]``; rejected beyond the threshold.

        Args:
            embeddings: query embeddings ``[B, D]`` (or one ``[D]``).
            threshold: rejection distance for this call (default: the gallery's).
        """
        limit = self._check_threshold(threshold) if threshold is not None else self.threshold
        d = self.distances(embeddings)
        best, idx = d.min(dim=1)  # ties: the first (earliest enrolled) template
        names = [UNKNOWN if limit is not None and b > limit else self.names[i] for b, i in zip(best.tolist(), idx.tolist())]
        return Identification(names, best, idx)

    # ---- persistence
    def save(self, path: str | os.PathLike) -> Path:
        """Write the templates, names, threshold and input shape to a safetensors file."""
        from safetensors.torch import save_file

        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        meta = {"format": "an2dl-gallery", "names": json.dumps(self.names), "threshold": json.dumps(self.threshold),
                "input_shape": json.dumps(list(self.input_shape) if self.input_shape is not None else None)}
        tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
        save_file({"templates": self.templates.contiguous()}, str(tmp), metadata=meta)
        os.replace(tmp, path)
        return path

    @classmethod
    def load(cls, path: str | os.PathLike, embed: Callable[[torch.Tensor], torch.Tensor] | None = None) -> Gallery:
        """Read a gallery written by :meth:`save`; ``embed`` is the embedding net to use with it."""
        from safetensors import safe_open

        path = Path(path)
        if not path.is_file():
            raise CheckpointError(f"no gallery file at {path}")
        try:
            with safe_open(str(path), framework="pt") as f:
                meta = f.metadata() or {}
                templates = f.get_tensor("templates") if meta.get("format") == "an2dl-gallery" else None
        except Exception as e:  # safetensors reports a damaged header with its own error types
            raise CheckpointError(f"{path} is not a readable safetensors file: {e}") from e
        if templates is None:
            raise CheckpointError(f"{path} is not an an2dl gallery (format {meta.get('format')!r})")
        shape = json.loads(meta["input_shape"])
        gallery = cls(embed, input_shape=shape, threshold=json.loads(meta["threshold"]))
        gallery.names = list(json.loads(meta["names"]))
        gallery.templates = templates
        if len(gallery.names) != len(templates):
            raise CheckpointError(f"{path}: {len(gallery.names)} names for {len(templates)} templates")
        return gallery
