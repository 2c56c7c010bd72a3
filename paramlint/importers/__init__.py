"""Front doors for formats other than paramlint's own: each turns its file into format-1 data."""
