"""Loss functions written from the notes: SSE, MSE, BCE, cross-entropy, the perceptron criterion,
weight decay, the multiclass hinge, soft targets, reconstruction, ELBO, the GAN objectives and the pixel-wise
losses of segmentation."""

from .basic import (
    bce,
    bce_with_logits,
    cross_entropy,
    cross_entropy_from_probs,
    get_loss,
    l2_penalty,
    mse,
    perceptron_criterion,
    sse,
    with_l2_penalty,
)
from .classification import (
    MulticlassHingeLoss,
    SoftTargetCrossEntropy,
    multiclass_hinge_loss,
    soft_target_cross_entropy,
)
from .generative import (
    ELBO,
    discriminator_loss,
    elbo,
    gaussian_kl,
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
from .localization import MultitaskLoss, decode_boxes, encode_boxes, multitask_loss
from .metric import ContrastiveLoss, TripletLoss, contrastive_loss, triplet_loss
from .pose import (
    denormalize_keypoints,
    joint_distances,
    normalize_keypoints,
    pck,
    pose_regression_loss,
    pose_targets,
    torso_diameter,
)
from .segmentation import (
    class_frequencies,
    class_weights_from_frequencies,
    dice_loss,
    pixel_cross_entropy,
    unet_weight_map,
)
from .yolo import YoloLoss, assign_yolo_targets, decode_yolo_boxes, encode_yolo_boxes, shape_iou

__all__ = [
    "ContrastiveLoss", "TripletLoss", "contrastive_loss", "triplet_loss",
    "MultitaskLoss", "decode_boxes", "encode_boxes", "multitask_loss",
    "YoloLoss", "assign_yolo_targets", "decode_yolo_boxes", "encode_yolo_boxes", "shape_iou",
    "denormalize_keypoints", "joint_distances", "normalize_keypoints", "pck", "pose_regression_loss", "pose_targets",
    "torso_diameter",
    "class_frequencies", "class_weights_from_frequencies", "dice_loss", "pixel_cross_entropy", "unet_weight_map",
    "ELBO", "discriminator_loss", "elbo", "gaussian_kl", "generator_minimax_loss", "generator_nonsaturating_loss",
    "gradient_penalty", "kl_sparsity", "l1_sparsity", "reconstruction_l2", "reconstruction_mse", "total_variation",
    "wgan_critic_loss", "wgan_generator_loss",
    "MulticlassHingeLoss", "SoftTargetCrossEntropy", "bce", "bce_with_logits", "cross_entropy",
    "cross_entropy_from_probs", "get_loss", "l2_penalty", "mse", "multiclass_hinge_loss", "perceptron_criterion",
    "soft_target_cross_entropy", "sse", "with_l2_penalty",
]
