"""Tasks for autoencoders, VAEs and GANs (notes §3.6–§3.7).

* :class:`AutoencoderTask` minimises the reconstruction loss plus ``λ·R`` (§3.6).
* :class:`VAETask` minimises the negative ELBO (Kingma & Welling 2014).
* :class:`GANTask` plays the two-player game of §3.7.1 with alternating
  updates through the trainer's manual optimisation: one optimiser per
  player, a discriminator (critic) step on every batch and a generator step
  every ``critic_steps`` batches; the WGAN variants clip the critic's weights
  or add the gradient penalty.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ..data.batch import Batch
from ..engine.optim import OptimizerSpec
from ..engine.prediction import IMAGE_INPUT_OPTIONS, Prediction, PredictOptions
from ..engine.task import StepContext, Task
from ..errors import ConfigError
from ..losses.generative import (
    discriminator_loss,
    elbo,
    generator_minimax_loss,
    generator_nonsaturating_loss,
    gradient_penalty,
    kl_sparsity,
    l1_sparsity,
    reconstruction_l2,
    reconstruction_mse,
    total_variation,
    wgan_critic_loss,
    wgan_generator_loss,
)
from ..nn.device import module_device, randn

__all__ = ["AutoencoderTask", "VAETask", "GANTask", "GAN_LOSSES", "clip_weights_"]

Regularizer = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def _images(batch: Batch) -> torch.Tensor:
    x = batch.inputs
    if not isinstance(x, torch.Tensor) or x.dim() < 2:
        got = list(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
        raise TypeError(f"batch.inputs must be a tensor of images [B, ...]; got {got}")
    return x


class AutoencoderTask(Task):
    """Train an autoencoder on ``L = Σ_s ‖s − D(E(s))‖₂ + λ·R(s)`` (notes §3.6).

    Args:
        model: has ``encode(x) -> z`` and ``decode(z) -> x̂`` (e.g. ``dense_autoencoder``).
        loss: ``"l2"`` — the notes' sum of per-sample L2 norms, divided by the
            batch size so that the learning rate does not depend on it;
            ``"mse"`` — mean squared error; ``"bce"`` — pixel-wise binary cross-entropy.
        regularizer: ``R``: ``"l1"`` (L1 sparsity of the code), ``"kl"`` (KL
            sparsity of a sigmoid code towards ``sparsity_target``), ``"tv"``
            (total variation of the reconstruction), a callable
            ``R(code, reconstruction) -> scalar``, or ``None``.
        reg_weight: λ ≥ 0.
        sparsity_target: ρ of the KL sparsity penalty.
        optimizer: :class:`OptimizerSpec` (default Adam, lr 1e-3).
        augment: training-time transform of the images, applied by the Task base (the target is the augmented image).

    Logged (per split): ``loss``, ``l2`` (mean per-image ‖s − D(E(s))‖₂), ``mse``
    and ``reg`` (when a regulariser is set).

    Shape:
        batch ``x`` or ``(x, ...)`` with ``x`` ``[B, C, H, W]`` in [0, 1] (labels
        are ignored: training is unsupervised); ``predict_step`` returns reconstructions.
    """

    kind = "autoencoder"
    LOSSES = ("l2", "mse", "bce")
    REGULARIZERS = ("l1", "kl", "tv")

    def __init__(
        self,
        model: nn.Module,
        *,
        loss: str = "l2",
        regularizer: str | Regularizer | None = None,
        reg_weight: float = 0.0,
        sparsity_target: float = 0.05,
        optimizer: OptimizerSpec | None = None,
        augment: nn.Module | None = None,
    ) -> None:
        super().__init__(optimizer or OptimizerSpec("adam", lr=1e-3), augment=augment)
        if not (hasattr(model, "encode") and hasattr(model, "decode")):
            raise ConfigError(f"AutoencoderTask needs a model with encode() and decode(); got {type(model).__name__}")
        if loss not in self.LOSSES:
            raise ConfigError(f"AutoencoderTask loss must be one of {self.LOSSES}; got {loss!r}")
        if regularizer is not None and not callable(regularizer) and regularizer not in self.REGULARIZERS:
            raise ConfigError(
                f"AutoencoderTask regularizer must be one of {self.REGULARIZERS}, a callable or None; got {regularizer!r}"
            )
        if not isinstance(reg_weight, (int, float)) or reg_weight < 0:
            raise ConfigError(f"AutoencoderTask reg_weight must be a number >= 0; got {reg_weight!r}")
        if not 0 < sparsity_target < 1:
            raise ConfigError(f"AutoencoderTask sparsity_target must be in (0, 1); got {sparsity_target!r}")
        self.model = model
        self.loss_name = loss
        self.regularizer = regularizer
        self.reg_weight = float(reg_weight)
        self.sparsity_target = float(sparsity_target)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)

    def reconstruction_loss(self, x: torch.Tensor, x_hat: torch.Tensor) -> torch.Tensor:
        """The configured reconstruction term, averaged over the batch."""
        if self.loss_name == "l2":
            return reconstruction_l2(x, x_hat, reduction="mean")
        if self.loss_name == "mse":
            return reconstruction_mse(x, x_hat)
        return F.binary_cross_entropy(x_hat, x, reduction="none").flatten(1).sum(1).mean()

    def regularization(self, code: torch.Tensor, x_hat: torch.Tensor) -> torch.Tensor:
        """``R``: L1 or KL sparsity of the code, total variation of the output, or the callable's value."""
        r = self.regularizer
        if r == "l1":
            return l1_sparsity(code)
        if r == "kl":
            return kl_sparsity(code, target=self.sparsity_target)
        if r == "tv":
            return total_variation(x_hat)
        value = r(code, x_hat)  # type: ignore[misc, operator]
        if not isinstance(value, torch.Tensor) or value.dim() != 0:
            raise ValueError("a regularizer callable must return a scalar tensor")
        return value

    def step(self, batch: Batch, ctx: StepContext) -> torch.Tensor:
        x = _images(batch)
        code = self.model.encode(x)
        x_hat = self.model.decode(code)
        loss = self.reconstruction_loss(x, x_hat)
        if self.regularizer is not None:
            reg = self.regularization(code, x_hat)
            ctx.log("reg", reg)
            loss = loss + self.reg_weight * reg
        ctx.log("loss", loss)
        with torch.no_grad():
            ctx.log("l2", reconstruction_l2(x, x_hat, reduction="mean"))
            ctx.log("mse", reconstruction_mse(x, x_hat))
        return loss


    def predict_step(self, batch: Batch, ctx: StepContext) -> torch.Tensor:
        return self.model(_images(batch))

    @classmethod
    def predict_inputs(cls, model: nn.Module, meta: dict, inputs: Sequence[str], *,
                       options: PredictOptions) -> Prediction:
        """Reconstruct image files: ``digit.png`` -> ``digit.recon.png`` beside it, or in ``--out DIR``.

        Each image is brought to ``preprocessing.input_shape`` (channels, size,
        values in [0, 1]) and written back as ``D(E(s))`` at that size.

        Returns:
            One line per image, ``"<input>: <reconstruction> (l2 error e)"``; ``values``
            holds ``(input, reconstruction file)``.
        """
        from .predictors import reconstruct_inputs

        options.refuse_unused(cls.kind, ("out", *IMAGE_INPUT_OPTIONS))
        return reconstruct_inputs(model, meta, inputs, options, kind=cls.kind)


class VAETask(Task):
    """Train a VAE by minimising the negative ELBO (Kingma & Welling 2014).

    Args:
        model: has ``encode``, ``reparameterize``, ``decode_logits`` and ``sample`` (e.g. ``dense_vae``).
        likelihood: ``"bernoulli"`` or ``"gaussian"`` (see :func:`an2dl.losses.generative.elbo`).
        beta: weight of the KL term (1: the ELBO).
        optimizer: :class:`OptimizerSpec` (default Adam, lr 1e-3).
        augment: training-time transform of the images, applied by the Task base (the target is the augmented image).

    Logged: ``loss`` (−ELBO, nats per image; at validation with one draw of
    ``z`` per image), ``reconstruction``, ``kl`` and, at validation, ``mse`` of
    the reconstruction from the posterior mean.
    """

    kind = "vae"
    def __init__(
        self, model: nn.Module, *, likelihood: str = "bernoulli", beta: float = 1.0, optimizer: OptimizerSpec | None = None,
        augment: nn.Module | None = None,
    ) -> None:
        super().__init__(optimizer or OptimizerSpec("adam", lr=1e-3), augment=augment)
        for name in ("encode", "reparameterize", "decode_logits", "sample"):
            if not hasattr(model, name):
                raise ConfigError(f"VAETask needs a VAE model with {name}(); got {type(model).__name__}")
        if likelihood not in ("bernoulli", "gaussian"):
            raise ConfigError(f"VAETask likelihood must be 'bernoulli' or 'gaussian'; got {likelihood!r}")
        if not isinstance(beta, (int, float)) or beta < 0:
            raise ConfigError(f"VAETask beta must be a number >= 0; got {beta!r}")
        self.model = model
        self.likelihood = likelihood
        self.beta = float(beta)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)

    def step(self, batch: Batch, ctx: StepContext) -> torch.Tensor:
        x = _images(batch)
        mu, logvar = self.model.encode(x)
        z = self.model.reparameterize(mu, logvar)
        terms = elbo(x, self.model.decode_logits(z), mu, logvar, likelihood=self.likelihood, beta=self.beta)
        ctx.log("loss", terms.loss)
        ctx.log("reconstruction", terms.reconstruction)
        ctx.log("kl", terms.kl)
        if not ctx.training:
            ctx.log("mse", reconstruction_mse(x, self.model.decode(mu)))
        return terms.loss


    def predict_step(self, batch: Batch, ctx: StepContext) -> torch.Tensor:
        return self.model(_images(batch))

    def sample(self, n: int, *, generator: torch.Generator | None = None) -> torch.Tensor:
        """``n`` images decoded from the prior ``N(0, I)``."""
        return self.model.sample(n, generator=generator)

    @classmethod
    def predict_inputs(cls, model: nn.Module, meta: dict, inputs: Sequence[str], *,
                       options: PredictOptions) -> Prediction:
        """Reconstruct image files (from the posterior mean) and/or draw ``--samples N`` images from the prior.

        Image inputs are reconstructed as by
        :meth:`AutoencoderTask.predict_inputs`; ``--samples N`` (default 16
        when no image is given) decodes ``z ~ N(0, I)`` drawn with ``--seed``
        into one PNG grid, in ``--out DIR`` or ``<run_dir>/samples``.

        Returns:
            The reconstructions' lines, then ``"<n> samples (seed <s>): <grid file>"``.
        """
        from .predictors import draw_samples, reconstruct_inputs

        # --clip, --invert and --max-pixels are about input images: without inputs they would do nothing
        options.refuse_unused(cls.kind, ("samples", "seed", "out", *(IMAGE_INPUT_OPTIONS if inputs else ())))
        result = Prediction()
        if inputs:
            result = reconstruct_inputs(model, meta, inputs, options, kind=cls.kind)
        if options.samples is not None or not inputs:
            drawn = draw_samples(model, meta, options, kind=cls.kind)
            result.lines += drawn.lines
            result.files += drawn.files
            result.values += drawn.values
        return result


#: the adversarial objectives :class:`GANTask` knows
GAN_LOSSES = ("minimax", "nonsaturating", "wgan", "wgan-gp")


@torch.no_grad()
def clip_weights_(module: nn.Module, clip_value: float) -> None:
    """Clamp every parameter of ``module`` to ``[-c, c]`` (the WGAN critic's Lipschitz constraint,
    Arjovsky et al. 2017, algorithm 1)."""
    for p in module.parameters():
        p.clamp_(-clip_value, clip_value)


def _default_optimizer(loss: str) -> OptimizerSpec:
    if loss == "wgan":  # Arjovsky et al. 2017: RMSProp, lr 5e-5
        return OptimizerSpec("rmsprop", lr=5e-5)
    if loss == "wgan-gp":  # Gulrajani et al. 2017: Adam, lr 1e-4, betas (0, 0.9)
        return OptimizerSpec("adam", lr=1e-4, betas=(0.0, 0.9))
    return OptimizerSpec("adam", lr=2e-4, betas=(0.5, 0.999))  # Radford et al. 2016


class GANTask(Task):
    """The adversarial game of §3.7.1 with alternating updates (Goodfellow et al. 2014, algorithm 1).

    Every training batch of real images gives one discriminator (critic)
    step on ``D``'s loss over the real batch and as many generated images;
    every ``critic_steps``-th batch is followed by a generator step on fresh
    noise.  Both steps go through the trainer's manual optimisation
    (``automatic_optimization = False``): ``ctx.optimizers`` holds the
    generator's and the discriminator's optimisers, built from one
    :class:`OptimizerSpec` each with ``params="generator"`` and
    ``params="discriminator"``, and the task calls ``ctx.backward`` and
    ``ctx.step`` itself.  During the generator step ``D``'s parameters do not
    require gradients, so only ``G`` receives them.

    Args:
        generator: ``G``, maps ``[B, latent_dim]`` noise to images; has ``latent_dim``.
        discriminator: ``D``, maps images to ``[B]`` logits (scores for the WGAN losses).
        loss: ``"nonsaturating"`` (default: ``D`` on the notes' binary
            cross-entropy, ``G`` on ``−log D(G(z))``), ``"minimax"`` (``G`` on
            the notes' ``log(1 − D(G(z)))``), ``"wgan"`` (critic loss with
            weight clipping) or ``"wgan-gp"`` (critic loss with gradient penalty).
        critic_steps: discriminator steps per generator step (≥ 1; 5 in the WGAN papers).
        clip_value: WGAN weight clipping ``c`` (only with ``loss="wgan"``; default 0.01 there).
        gp_weight: λ of the gradient penalty (only with ``loss="wgan-gp"``; 10 in the paper).
        g_optimizer, d_optimizer: the players' optimisers (defaults: Adam 2e-4,
            betas (0.5, 0.999) for the BCE losses; RMSprop 5e-5 for ``wgan``;
            Adam 1e-4, betas (0, 0.9) for ``wgan-gp``); their ``params`` field is
            set to ``"generator"`` / ``"discriminator"``.

    Logged: ``d_loss``, ``g_loss``; ``d_real`` and ``d_fake`` (mean ``D``
    probability on real and generated images) for the BCE losses;
    ``wasserstein`` (the critic's estimate ``E f(s) − E f(G(z))``) and ``gp``
    for the WGAN losses.

    Departure: a schedule with ``interval="step"`` advances on every batch
    for both players, also when the generator did not step.
    """

    kind = "gan"
    automatic_optimization = False

    def __init__(
        self,
        generator: nn.Module,
        discriminator: nn.Module,
        *,
        loss: str = "nonsaturating",
        critic_steps: int = 1,
        clip_value: float | None = None,
        gp_weight: float = 10.0,
        g_optimizer: OptimizerSpec | None = None,
        d_optimizer: OptimizerSpec | None = None,
    ) -> None:
        if loss not in GAN_LOSSES:
            raise ConfigError(f"GANTask loss must be one of {GAN_LOSSES}; got {loss!r}")
        if isinstance(critic_steps, bool) or not isinstance(critic_steps, int) or critic_steps < 1:
            raise ConfigError(f"GANTask critic_steps must be an integer >= 1; got {critic_steps!r}")
        if clip_value is not None:
            if loss != "wgan":
                raise ConfigError(f"GANTask clip_value is the weight clipping of loss='wgan'; got it with loss={loss!r}")
            if not isinstance(clip_value, (int, float)) or clip_value <= 0:
                raise ConfigError(f"GANTask clip_value must be a number > 0; got {clip_value!r}")
        if not isinstance(gp_weight, (int, float)) or gp_weight <= 0:
            raise ConfigError(f"GANTask gp_weight must be a number > 0; got {gp_weight!r}")
        latent_dim = getattr(generator, "latent_dim", None)
        if not isinstance(latent_dim, int) or latent_dim <= 0:
            raise ConfigError(f"GANTask needs a generator with a positive integer latent_dim; got {type(generator).__name__}")
        specs = []
        for spec, who in ((g_optimizer, "generator"), (d_optimizer, "discriminator")):
            spec = spec if spec is not None else _default_optimizer(loss)
            if not isinstance(spec, OptimizerSpec):
                raise ConfigError(f"GANTask {who[0]}_optimizer must be an OptimizerSpec; got {type(spec).__name__}")
            specs.append(dataclasses.replace(spec, params=who))
        super().__init__(specs)
        self.generator = generator
        self.discriminator = discriminator
        self.latent_dim = latent_dim
        self.loss = loss
        self.critic_steps = critic_steps
        self.clip_value = float(clip_value) if clip_value is not None else (0.01 if loss == "wgan" else None)
        self.gp_weight = float(gp_weight)

    @property
    def is_wasserstein(self) -> bool:
        return self.loss in ("wgan", "wgan-gp")

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.generator(z)

    def noise(self, n: int, device: torch.device | str, *, generator: torch.Generator | None = None) -> torch.Tensor:
        """``n`` draws of ``z ~ φ_z = N(0, I)``: ``[n, latent_dim]``."""
        return randn(n, self.latent_dim, generator=generator, device=device)

    @torch.no_grad()
    def sample(self, n: int, *, generator: torch.Generator | None = None) -> torch.Tensor:
        """``n`` generated images ``G(z)``."""
        return self.generator(self.noise(n, module_device(self.generator), generator=generator))

    def _discriminator_terms(
        self, real: torch.Tensor, fake: torch.Tensor, ctx: StepContext
    ) -> torch.Tensor:
        d_real, d_fake = self.discriminator(real), self.discriminator(fake)
        if self.is_wasserstein:
            loss = wgan_critic_loss(d_real, d_fake)
            ctx.log("wasserstein", -loss.detach())
            if self.loss == "wgan-gp" and ctx.training:
                gp = gradient_penalty(self.discriminator, real, fake)
                ctx.log("gp", gp.detach())
                loss = loss + self.gp_weight * gp
        else:
            loss = discriminator_loss(d_real, d_fake)
            ctx.log("d_real", torch.sigmoid(d_real.detach()).mean())
            ctx.log("d_fake", torch.sigmoid(d_fake.detach()).mean())
        ctx.log("d_loss", loss.detach())
        return loss

    def _generator_loss(self, scores: torch.Tensor) -> torch.Tensor:
        if self.is_wasserstein:
            return wgan_generator_loss(scores)
        if self.loss == "minimax":
            return generator_minimax_loss(scores)
        return generator_nonsaturating_loss(scores)

    def training_step(self, batch: Batch, ctx: StepContext) -> dict[str, torch.Tensor]:
        real = _images(batch)
        opt_g, opt_d = ctx.optimizers
        n = real.shape[0]
        # discriminator (critic) step: maximise its objective on real vs generated images
        opt_d.zero_grad(set_to_none=True)
        with torch.no_grad():
            fake = self.generator(self.noise(n, real.device))
        d_loss = self._discriminator_terms(real, fake, ctx)
        ctx.backward(d_loss)
        ctx.step(opt_d)
        if self.clip_value is not None:
            clip_weights_(self.discriminator, self.clip_value)
        out = {"loss": d_loss.detach()}
        # generator step every `critic_steps` batches, through a frozen discriminator
        if (ctx.global_step + 1) % self.critic_steps == 0:
            opt_g.zero_grad(set_to_none=True)
            flags = [p.requires_grad for p in self.discriminator.parameters()]
            self.discriminator.requires_grad_(False)
            try:
                scores = self.discriminator(self.generator(self.noise(n, real.device)))
                g_loss = self._generator_loss(scores)
                ctx.backward(g_loss)
            finally:
                for p, flag in zip(self.discriminator.parameters(), flags):
                    p.requires_grad_(flag)
            ctx.step(opt_g)
            ctx.log("g_loss", g_loss.detach())
            out["g_loss"] = g_loss.detach()
        return out

    def validation_step(self, batch: Batch, ctx: StepContext) -> torch.Tensor:
        real = _images(batch)
        fake = self.generator(self.noise(real.shape[0], real.device))
        d_loss = self._discriminator_terms(real, fake, ctx)
        ctx.log("g_loss", self._generator_loss(self.discriminator(fake)))
        return d_loss

    def predict_step(self, batch: Batch, ctx: StepContext) -> torch.Tensor:
        """Images for a batch of noise vectors ``[B, latent_dim]``."""
        return self.generator(_images(batch))

    @classmethod
    def predict_inputs(cls, model: nn.Module, meta: dict, inputs: Sequence[str], *,
                       options: PredictOptions) -> Prediction:
        """Draw ``--samples N`` images (default 16) from the exported generator into one PNG grid.

        The noise ``z ~ N(0, I)`` comes from a generator seeded with ``--seed``
        (default 0); the grid goes to ``--out DIR`` or ``<run_dir>/samples``.
        A GAN generates from noise, so it takes no input files.

        Returns:
            One line ``"<n> samples (seed <s>): <grid file>"``; ``values`` holds the images ``[n, C, H, W]``.
        """
        from .predictors import draw_samples

        options.refuse_unused(cls.kind, ("samples", "seed", "out"))
        if inputs:
            raise ConfigError(f"the gan model of {options.source} generates from noise and takes no inputs; got "
                              f"{inputs[0]!r} (use --samples N)")
        return draw_samples(model, meta, options, kind=cls.kind)
