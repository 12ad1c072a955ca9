"""Media files: finding them (scanner), decoding photos (images) and sampling videos (video), thumbnails."""
