"""Reader-facing pages that host the reading workstation (viewer_static)."""
