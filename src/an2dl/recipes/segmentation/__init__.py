"""Chapter 3.5.1 of the notes, semantic segmentation: FCNs, shift and stitch, U-Net, encoder–decoders,
patch-based vs full-image training.

* ``fcn-shapes`` — FCN-32s, -16s and -8s: learned upsampling with skip fusion (Long et al. 2015);
* ``shift-and-stitch-demo`` — a digit classifier made fully convolutional: heat maps, direct upsampling,
  shift and stitch equal to the dense sliding evaluation;
* ``unet-membrane`` — the U-Net on the ISBI 2012 membrane images (Ronneberger et al. 2015);
* ``encoder-decoder-vs-unet`` — U-Net vs the same encoder–decoder without skips vs an FCN, same budget;
* ``patch-vs-full`` — patch-based (centre-pixel labels, class-balanced resampling) vs full-image training
  (class-weighted loss, random masking) of the same network.
"""
