"""Layers written from the notes (activations, initialisation, normalisation, dropout, recurrent cells, attention, ...)."""
