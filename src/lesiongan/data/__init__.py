"""Data layer: source readers, validation, the prepared-dataset format, procedural demo data."""
