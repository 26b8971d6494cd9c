"""The Arabic web font, served by the app itself from Debian's fonts-noto-core (which
scripts/setup.sh installs), so that every browser shows Arabic in Noto Naskh Arabic rather than
whatever its system has, with no font fetched from anywhere else.

Only the files named in ``FONTS`` are served, from the folders in ``FONT_DIRS``; a missing one is
a 404, and the page then falls back to the next font in ``ui.app.FONT_STACK``.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, HTTPException
from fastapi.responses import FileResponse

FONT_DIRS = (Path("/usr/share/fonts/truetype/noto"), Path("/usr/share/fonts/opentype/noto"))
FONTS = frozenset({"NotoNaskhArabic-Regular.ttf", "NotoNaskhArabic-Bold.ttf"})
#: The files never change under a name; a browser may keep them a day.
CACHE_CONTROL = "public, max-age=86400"


def font_path(name: str) -> Path | None:
    """The file for font ``name`` if it is one of ``FONTS`` and installed."""
    if name not in FONTS:
        return None
    return next((d / name for d in FONT_DIRS if (d / name).is_file()), None)


def create_font_router() -> APIRouter:
    router = APIRouter()

    @router.get("/fonts/{name}", include_in_schema=False)
    def font(name: str) -> FileResponse:
        path = font_path(name)
        if path is None:
            raise HTTPException(404, "no such font")
        return FileResponse(path, media_type="font/ttf", headers={"Cache-Control": CACHE_CONTROL})

    return router
