"""Every task class of the package passes the same conformance checks (``an2dl.engine.check_task``)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import an2dl
from an2dl.data import ArrayDataset
from an2dl.data.datasets.pose_sticks import PoseDataset
from an2dl.data.text import pad_collate
from an2dl.engine import OptimizerSpec, Task, check_task
from an2dl.tasks import (
    AutoencoderTask,
    BinaryClassificationTask,
    ClassificationTask,
    GANTask,
    LanguageModelTask,
    LocalizationTask,
    MetricLearningTask,
    PoseTask,
    RegressionTask,
    SegmentationTask,
    Seq2SeqTask,
    SequenceClassificationTask,
    SequenceRegressionTask,
    VAETask,
)

N = 32
g = torch.Generator().manual_seed(0)
X = torch.randn(N, 4, generator=g)
IMAGES = torch.rand(N, 1, 8, 8, generator=g)
SGD = OptimizerSpec("sgd", lr=0.1)


def _classification():
    return ClassificationTask(an2dl.get_model("mlp", in_features=4, hidden=[8], num_outputs=3), num_classes=3,
                              top_k=(2,), optimizer=SGD)


CASES = {
    "classification": (_classification, ArrayDataset(X, torch.randint(0, 3, (N,), generator=g)), {}),
    "regression": (lambda: RegressionTask(nn.Linear(4, 2), optimizer=SGD), ArrayDataset(X, torch.randn(N, 2, generator=g)), {}),
    "binary": (lambda: BinaryClassificationTask(nn.Linear(4, 1), optimizer=SGD),
               ArrayDataset(X, torch.randint(0, 2, (N,), generator=g).float()), {}),
    "sequence-regression": (
        lambda: SequenceRegressionTask(an2dl.get_model("recurrent_regressor", input_size=2, hidden_size=8), optimizer=SGD),
        ArrayDataset(torch.randn(N, 5, 2, generator=g), torch.randint(1, 6, (N,), generator=g), torch.randn(N, 1, generator=g)),
        {}),
    "sequence-classification": (
        lambda: SequenceClassificationTask(an2dl.get_model("recurrent_classifier", num_classes=4, vocab_size=10,
                                                           hidden_size=8), num_classes=4, optimizer=SGD),
        ArrayDataset(torch.randint(0, 10, (N, 6), generator=g), torch.randint(1, 7, (N,), generator=g),
                     torch.randint(0, 4, (N,), generator=g)),
        {}),
    "language-model": (
        lambda: LanguageModelTask(an2dl.get_model("char_lstm", vocab_size=12, embedding_dim=8, hidden_size=16, num_layers=1),
                                  optimizer=SGD),
        ArrayDataset(torch.randint(1, 12, (N, 7), generator=g), torch.randint(1, 12, (N, 7), generator=g)),
        {}),
    "autoencoder": (
        lambda: AutoencoderTask(an2dl.get_model("dense_autoencoder", input_shape=(1, 8, 8), hidden=[16], latent_dim=3),
                                optimizer=SGD),
        ArrayDataset(IMAGES), {}),
    "vae": (
        lambda: VAETask(an2dl.get_model("dense_vae", input_shape=(1, 8, 8), hidden=[16], latent_dim=2), optimizer=SGD),
        ArrayDataset(IMAGES), {}),
    "segmentation": (
        lambda: SegmentationTask(an2dl.get_model("unet", base_channels=4, depth=2, padding="same", num_classes=3),
                                 num_classes=3, optimizer=SGD),
        ArrayDataset(IMAGES, torch.randint(0, 3, (N, 8, 8), generator=g)), {}),
    "localization": (
        lambda: LocalizationTask(an2dl.get_model("localizer", num_classes=3, channels=[4, 8], box_grid=2, box_hidden=8),
                                 num_classes=3, optimizer=SGD),
        ArrayDataset(IMAGES, torch.randint(0, 3, (N,), generator=g),
                     torch.tensor([1.0, 2.0, 6.0, 7.0]).expand(N, 4).clone()), {}),
    "pose": (
        lambda: PoseTask(an2dl.get_model("pose_regressor", num_joints=3, in_channels=1, input_size=8, channels=[4],
                                         hidden=[8]), keypoint_names=["a", "b", "c"], torso=(0, 1), optimizer=SGD),
        PoseDataset(IMAGES, torch.rand(N, 3, 2, generator=g) * 4 + 2, torch.randint(0, 2, (N, 3), generator=g),
                    torch.tensor([1.0, 1.0, 7.0, 7.0]).expand(N, 4).clone()), {}),
    "metric-learning": (
        lambda: MetricLearningTask(an2dl.get_model("embedding_cnn", embedding_dim=4, input_size=8, channels=(4,), hidden=(8,)),
                                   optimizer=SGD),
        ArrayDataset(IMAGES, torch.arange(N) % 4), {}),
    "seq2seq": (
        lambda: Seq2SeqTask(an2dl.get_model("seq2seq_rnn", src_vocab_size=10, tgt_vocab_size=10, embedding_dim=8,
                                            hidden_size=8, attention="mlp"), max_length=6, optimizer=SGD),
        ArrayDataset(torch.randint(4, 10, (N, 6), generator=g), torch.randint(1, 7, (N,), generator=g),
                     torch.cat([torch.randint(4, 10, (N, 4), generator=g), torch.full((N, 1), 3)], dim=1)),
        {}),
    "gan": (
        lambda: GANTask(an2dl.get_model("mlp_generator", latent_dim=4, hidden=[16], output_shape=(1, 8, 8)),
                        an2dl.get_model("mlp_discriminator", input_shape=(1, 8, 8), hidden=[16])),
        ArrayDataset(IMAGES), {"predict": False}),  # the generator predicts from noise, checked below
}


@pytest.mark.parametrize("name", list(CASES))
def test_every_task_class_conforms(name):
    make, data, kw = CASES[name]
    torch.manual_seed(0)
    metrics = check_task(make, data, **kw)
    assert any(k.endswith("/loss") or k.endswith("/d_loss") for k in metrics)


def test_the_gan_predicts_one_image_per_noise_vector():
    make, data, _ = CASES["gan"]
    task = make()
    out = an2dl.Trainer(progress=False, eval_batch_size=5).predict(task, ArrayDataset(torch.randn(7, 4)))
    assert out.shape == (7, 1, 8, 8)


def test_padded_sequence_batches_reach_the_task_by_name():
    """A dataset of variable-length sequences with pad_collate gives (tokens, lengths, targets) by name."""

    class Sequences(torch.utils.data.Dataset):
        def __init__(self):
            self.items = [(torch.randint(1, 10, (int(n),), generator=g), int(c))
                          for n, c in zip(torch.randint(2, 9, (N,), generator=g), torch.randint(0, 4, (N,), generator=g))]
            self.collate_fn = pad_collate

        def __len__(self):
            return len(self.items)

        def __getitem__(self, i):
            return self.items[i]

    class Tokens(SequenceClassificationTask):
        required_fields = ("tokens", "lengths", "targets")

        def step(self, batch, ctx):
            return self._score(self.model(batch.tokens, batch.lengths), batch.targets, ctx)

    def make():
        return Tokens(an2dl.get_model("recurrent_classifier", num_classes=4, vocab_size=10, hidden_size=8),
                      num_classes=4, optimizer=SGD)

    check_task(make, Sequences(), predict=False)


def test_token_ids_outside_the_vocabulary_are_named():
    task = CASES["language-model"][0]()
    bad = ArrayDataset(torch.full((8, 5), 12), torch.ones(8, 5, dtype=torch.long))
    with pytest.raises(ValueError, match=r"batch\.tokens.*12"):
        an2dl.Trainer(max_epochs=1, progress=False).fit(task, bad)


def test_check_task_catches_a_task_that_does_not_learn():
    class Broken(Task):
        """Logs a constant loss and never changes its parameter: the conformance check must say so."""

        def __init__(self):
            super().__init__(SGD)
            self.w = nn.Parameter(torch.zeros(1))

        def step(self, batch, ctx):
            loss = F.mse_loss(self.w.detach() * 0 + 1.0, torch.zeros(1)) + 0 * self.w.sum()
            ctx.log("loss", loss)
            return loss

    with pytest.raises(AssertionError, match="changed no parameter"):
        check_task(Broken, ArrayDataset(X, X))
