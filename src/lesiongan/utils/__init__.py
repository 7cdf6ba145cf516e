"""Cross-cutting helpers: output directories, provenance, hashing."""
