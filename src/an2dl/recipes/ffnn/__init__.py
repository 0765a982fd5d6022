"""Chapter 2 of the notes: the perceptron, feed-forward networks and how they are trained."""
