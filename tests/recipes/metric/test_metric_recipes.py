"""Metric-learning recipes on real MNIST: learned distances beat pixel distances; metric-learned features identify
digits never seen in training."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

import an2dl
from an2dl.cli.main import main
from an2dl.errors import ConfigError
from conftest import require_data


def test_bad_settings_are_rejected(tmp_path):
    with pytest.raises(ConfigError, match="must not overlap"):
        an2dl.run("identify-unseen-digits", ["data.unseen_digits=[6, 7, 8]"], runs_root=tmp_path, progress=False)
    with pytest.raises(ConfigError, match="variants must be among classifier, contrastive, triplet; got 'siamese'"):
        an2dl.run("identify-unseen-digits", ['variants=["siamese"]'], runs_root=tmp_path, progress=False)
    with pytest.raises(ConfigError, match=r"eval.stranger must be one of data.unseen_digits \(7, 8, 9\)"):
        an2dl.run("identify-unseen-digits", ["eval.stranger=3"], runs_root=tmp_path, progress=False)
    with pytest.raises(ConfigError, match="loss.mining must be one of"):
        an2dl.run("identify-unseen-digits", ["loss.mining=hardest"], runs_root=tmp_path, progress=False)
    with pytest.raises(ConfigError, match="eval.classifier_features must be 'trunk' or 'penultimate'; got 'logits'"):
        an2dl.run("identify-unseen-digits", ["eval.classifier_features=logits"], runs_root=tmp_path, progress=False)
    with pytest.raises(ConfigError, match="eval.trials must be a positive integer; got 0"):
        an2dl.run("identify-unseen-digits", ["eval.trials=0"], runs_root=tmp_path, progress=False)
    with pytest.raises(ConfigError, match="loss.mining must be one of"):
        an2dl.run("triplet-mnist", ["loss.mining=hardest"], runs_root=tmp_path, progress=False)


@pytest.mark.slow
def test_metric_learned_features_identify_unseen_digits_better_than_a_classifiers(tmp_path, capsys):
    """Train on 2,000 images of the digits 0-6 (4 epochs of 7×8 batches), enrol 7, 8, 9 with one template each
    (mean of 10 draws), identify 900 test images of 7-9.  Measured (seeds 0, 1, 2; trainer.seed = data.seed):

    ============================  ======================  ======================  ======================
    unseen digits                 classifier (conv feat.)  contrastive             triplet (batch-all)
    ============================  ======================  ======================  ======================
    identification accuracy       0.566 / 0.590 / 0.548   0.551 / 0.675 / 0.608   0.628 / 0.640 / 0.561
    recall@1                      0.960 / 0.950 / 0.947   0.846 / 0.878 / 0.871   0.897 / 0.894 / 0.928
    9s rejected (95 % genuine)    0.045 / 0.077 / 0.049   0.116 / 0.136 / 0.137   0.163 / 0.285 / 0.054
    ============================  ======================  ======================  ======================

    The best metric-learned variant beats the classifier's features on identification by at least 0.060
    (0.061, 0.085, 0.060) and the contrastive one rejects more strangers by at least 0.059; each single
    method wins in most seeds, not all (contrastive −0.015 at seed 0, triplet +0.013 at seed 2).  The
    classifier's convolutional features keep the better recall@1 (a nearest neighbour among 900 images,
    not one template): the margin is asserted where the notes place it, identification by templates.
    """
    require_data("mnist")
    run_dir = tmp_path / "run"
    result = an2dl.run("identify-unseen-digits", ["data.limit_train=2000", "trainer.max_epochs=4",
                                                  "data.limit_unseen=900", "eval.trials=10"],
                       run_dir=run_dir, progress=False)
    m = result.metrics
    best = max(m["unseen/accuracy_contrastive"], m["unseen/accuracy_triplet"])
    assert best > m["unseen/accuracy_classifier"] + 0.03, m
    assert m["unseen/rejection_rate_contrastive"] > m["unseen/rejection_rate_classifier"] + 0.03, m
    assert m["best_model"] in ("contrastive", "triplet")
    saved = json.loads((run_dir / "results.json").read_text())["metrics"]
    assert saved["unseen/accuracy_triplet"] == pytest.approx(m["unseen/accuracy_triplet"])
    assert (run_dir / "plots" / "unseen_identification.png").is_file()
    assert (run_dir / "plots" / "unseen_embeddings.png").is_file()

    # the triplet variant's gallery names an enrolled digit from its own template image
    gallery = an2dl.models.metric.Gallery.load(run_dir / "variants" / "triplet" / "model" / "gallery.safetensors")
    assert gallery.identities == ["7", "8", "9"]
    mnist = an2dl.get_dataset("mnist", val_fraction=1 / 12, seed=0)
    x, y = mnist.test.tensors[0], mnist.test.tensors[1]
    i = int((y == 8).nonzero()[0])
    Image.fromarray((x[i, 0].numpy() * 255).round().astype(np.uint8)).save(tmp_path / "eight.png")
    assert main(["predict", str(run_dir), "--model", "triplet", str(tmp_path / "eight.png")]) == 0
    line = capsys.readouterr().out.strip()
    assert line.startswith(f"{tmp_path / 'eight.png'}: embedding norm 1; nearest ")

    # an2dl identify / enroll on the same run: the contrastive variant has no gallery until something is enrolled
    eight = str(tmp_path / "eight.png")
    assert main(["identify", str(run_dir), "--model", "contrastive", eight]) == 2
    assert "the gallery is empty; enroll templates first" in capsys.readouterr().err
    assert main(["enroll", str(run_dir), "--model", "contrastive", "eight", eight]) == 0
    assert "eight enrolled with 1 template(s); 1 identities, 1 templates" in capsys.readouterr().out
    assert main(["identify", str(run_dir), "--model", "contrastive", eight]) == 0
    assert capsys.readouterr().out.strip() == f"{eight}: eight (distance 0)"
    assert main(["identify", str(run_dir), "--model", "triplet", eight]) == 0
    assert capsys.readouterr().out.strip().split(": ")[1].split(" (")[0] in ("7", "8", "9")
    assert main(["identify", str(run_dir), "--model", "classifier", eight]) == 2
    assert "need an embedding model (task kind 'metric_learning')" in capsys.readouterr().err


@pytest.mark.slow
@pytest.mark.parametrize("name", ["siamese-mnist", "triplet-mnist"])
def test_a_learned_distance_separates_the_digits_better_than_pixels(name, tmp_path):
    """1,500 training images, 3 epochs of 10×8 batches, 600 test images.  Measured (seeds 0, 1, 2):

    ===============  ==========================  ==========================  ==========================
    test             siamese-mnist (contrastive)  triplet-mnist (semi-hard)   raw pixels
    ===============  ==========================  ==========================  ==========================
    ROC AUC          0.952 / 0.970 / 0.971        0.972 / 0.980 / 0.973       0.728
    mAP@R            0.606 / 0.696 / 0.692        0.744 / 0.787 / 0.747       0.305
    recall@1         0.905 / 0.935 / 0.920        0.927 / 0.938 / 0.925       0.830
    ===============  ==========================  ==========================  ==========================

    The notes' aim, ``‖f(I) − f(T_i)‖ < ‖f(I) − f(T_j)‖`` for ``T_i`` of I's class, holds for a random genuine and
    impostor pair with probability ROC AUC: at least 0.22 above the pixel distance's, and mAP@R at least 0.30.
    (With batch-hard mining and squared distances the triplet net stalls at a test loss ≈ m, the collapse
    FaceNet avoided with semi-hard negatives: recall@1 0.787 at the recipe's full size, seed 0.)
    """
    require_data("mnist")
    result = an2dl.run(name, ["data.limit_train=1500", "trainer.max_epochs=3", "data.limit_eval=600"],
                       run_dir=tmp_path / "run", progress=False)
    m = result.metrics
    assert m["test/roc_auc"] > m["test/roc_auc_pixels"] + 0.15, m
    assert m["test/map_at_r"] > m["test/map_at_r_pixels"] + 0.2, m
    assert m["test/recall_at_1"] > m["test/recall_at_1_pixels"], m
    for plot in ("embedding_pca", "nearest_neighbours", "verification_roc"):
        assert (tmp_path / "run" / "plots" / f"{plot}.png").is_file()
    assert json.loads((tmp_path / "run" / "model" / "model.json").read_text())["task"] == "metric_learning"
