"""Where the built reading workstation is: the Vite manifest in ``settings.VIEWER_DIST``."""

import json
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.templatetags.static import static

ENTRY = "index.html"


@dataclass(frozen=True)
class ViewerAssets:
    script: str
    styles: tuple[str, ...]


_cache: dict[tuple[Path, float], ViewerAssets] = {}


def viewer_assets() -> ViewerAssets | None:
    """Static URLs of the bundle's entry script and CSS, or None when the viewer is not built.

    ``.vite/`` is a dot folder that collectstatic skips, so the manifest is read from the
    build output, once per build (keyed by its modification time).
    """
    manifest = Path(settings.VIEWER_DIST) / ".vite" / "manifest.json"
    try:
        key = (manifest, manifest.stat().st_mtime)
    except FileNotFoundError:
        return None
    if key not in _cache:
        entry = json.loads(manifest.read_text())[ENTRY]
        _cache.clear()
        _cache[key] = ViewerAssets(
            script=static(f"viewer/{entry['file']}"),
            styles=tuple(static(f"viewer/{css}") for css in entry.get("css", [])),
        )
    return _cache[key]
