"""Chapter 1 of the notes: what learning from data means — here, clustering as unsupervised learning (§1.1.2)."""
