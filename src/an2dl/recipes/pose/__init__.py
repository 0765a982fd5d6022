"""Chapter 3.5.3 of the notes, human pose estimation as CNN regression of the 2k joint coordinates.

* ``pose-sticks`` — a CNN regresses the 14 joints of synthetic stick figures (occlusions, textured
  backgrounds), normalised to the person box, with invisible joints masked out of the loss and
  left/right-swapping flips; compared with the mean pose of the training set placed in each test box
  (PCK@0.2 with the torso diameter, mean pixel error; DeepPose, Toshev & Szegedy 2014).
"""
