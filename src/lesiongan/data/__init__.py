"""Data layer: source readers, validation, the prepared-dataset format and the procedural demo data."""
