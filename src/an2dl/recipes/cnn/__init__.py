"""Chapter 3.1-3.4 of the notes: image filters, convolutional networks, the classic architectures, augmentation and transfer learning."""
