"""Image classification architectures (notes §3.3–§3.4)."""
