"""Shot boundary detection and scene assembly."""
