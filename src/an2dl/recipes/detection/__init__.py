"""Chapter 3.5.4 of the notes, object detection: recipes that train and compare detectors on synthetic shapes and
on the raccoon photos, judged by mean average precision."""
