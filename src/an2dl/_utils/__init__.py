"""Helpers below every other layer: seeding and random generators (DESIGN §3, §6)."""
