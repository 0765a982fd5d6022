"""Chapter 3.5.2 of the notes, "CNN visualization" (§3.5.2.2) and the Grad-CAM/CAM explanations (§3.5.2.1).

* ``visualize-filters`` — first-layer filters before and after training, top-activating receptive-field patches;
* ``activation-maximization`` — the image of each class by gradient ascent on ``S_c(I) − λ‖I‖²``;
* ``saliency-gradcam`` — saliency and Grad-CAM on digits pasted at random places: how much of each map lies on the digit.

The methods themselves are in :mod:`an2dl.explain`.
"""
