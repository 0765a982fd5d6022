"""The ``an2dl`` command line (DESIGN §9)."""
