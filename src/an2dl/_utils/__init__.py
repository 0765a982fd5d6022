"""Helpers below every other layer (DESIGN §3): seeding and random generators (``rng``), atomic file
writes and SHA-256 digests (``files``), the cache folder (``cache``), progress display (``progress``) and
the layer table of the package (``layers``)."""
