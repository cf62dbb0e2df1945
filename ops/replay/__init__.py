"""The bundled replay site: every source in its real format, invented content."""
