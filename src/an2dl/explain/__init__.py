"""Explaining convolutional networks (notes §3.5.2.1 "Class Activation Mapping", §3.5.2.2 "CNN visualization").

* first-layer filters: :func:`filter_grid`, :func:`plot_filters` (:mod:`.filters`);
* receptive-field arithmetic: :func:`receptive_fields`, :func:`receptive_field` (:mod:`.receptive_field`);
* the images and patches that most activate a neuron: :func:`top_activating` (:mod:`.top_activating`);
* activation maximisation ``argmax_I S_c(I) − λ‖I‖²``: :func:`maximize_class` (:mod:`.activation_max`);
* saliency ``max_ch |∂S_c/∂I|``: :func:`saliency_map` (:mod:`.saliency`);
* Grad-CAM for any convolutional layer: :func:`grad_cam` (:mod:`.gradcam`);
* class activation maps of GAP + single-FC networks: :func:`class_activation_map` (:mod:`.cam`), and weakly
  supervised boxes from them: :func:`weak_localize` (:mod:`.weak_localization`);
* overlays and ``an2dl explain``: :func:`overlay_heatmap`, :func:`explain_files` (:mod:`.overlay`).

Every function puts the model in eval mode and restores its mode, freezes its
parameters while it runs (no ``.grad`` reaches them) and removes its hooks,
also when it fails.
"""

from .activation_max import ActivationMaximization, maximize_class
from .cam import CamError, CamParts, cam_parts, class_activation_map
from .filters import filter_grid, first_conv, normalize_filters, plot_filters
from .gradcam import NoConvLayerError, conv_layers, default_gradcam_layer, grad_cam
from .overlay import METHODS, Explanation, explain_files, explanation_map, overlay_heatmap, plot_overlays
from .receptive_field import LayerField, field_box, receptive_field, receptive_fields
from .saliency import input_gradient, saliency_map
from .top_activating import TopActivations, dataset_images, top_activating
from .weak_localization import DEFAULT_THRESHOLD, cam_box, cam_boxes, largest_component, weak_localize

__all__ = [
    "DEFAULT_THRESHOLD",
    "ActivationMaximization",
    "CamError",
    "CamParts",
    "Explanation",
    "LayerField",
    "METHODS",
    "NoConvLayerError",
    "TopActivations",
    "cam_box",
    "cam_boxes",
    "cam_parts",
    "class_activation_map",
    "conv_layers",
    "dataset_images",
    "default_gradcam_layer",
    "explain_files",
    "explanation_map",
    "field_box",
    "filter_grid",
    "first_conv",
    "grad_cam",
    "input_gradient",
    "largest_component",
    "maximize_class",
    "normalize_filters",
    "overlay_heatmap",
    "plot_filters",
    "plot_overlays",
    "receptive_field",
    "receptive_fields",
    "saliency_map",
    "top_activating",
    "weak_localize",
]
