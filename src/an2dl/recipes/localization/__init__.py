"""Chapter 3.5.2 of the notes, localisation: one object's class and box with a multi-task loss (§3.5.2), class
activation maps and weakly supervised localisation (§3.5.2.1).

* ``localize-shapes`` — a two-headed network trained with ``L = α S + (1 − α) R`` on the synthetic one-object
  shapes, α chosen by k-fold cross-validation (the sweep plotted), against mean-box and centre-box baselines;
* ``localize-raccoon`` — the same network on single-raccoon crops of the raccoon photos (Pascal VOC boxes);
* ``cam-weak-localize`` — CAM networks (GAP and GMP) trained with class labels only: boxes from the thresholded
  class activation map, scored against the true boxes and against the supervised localiser of the same budget.
"""
