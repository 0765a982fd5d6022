"""Dataset builders; each module registers its datasets on import."""
