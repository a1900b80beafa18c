"""JPEG encoding for the social images: sRGB, tagged, and under a byte limit."""

from __future__ import annotations

import functools
import io

from PIL import Image, ImageCms

from services.social.look import JpegSettings

LOWEST_QUALITY = 60


@functools.lru_cache(maxsize=1)
def srgb_profile() -> bytes:
    """An sRGB ICC profile (Little CMS's built-in, under 1 KB), so no viewer has to guess."""
    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


def encode(image: Image.Image, settings: JpegSettings, *, max_bytes: int) -> bytes:
    """``image`` as an sRGB JPEG of at most ``max_bytes``, lowering quality if it must."""
    quality = settings.quality
    while True:
        buffer = io.BytesIO()
        image.convert("RGB").save(
            buffer,
            "JPEG",
            quality=quality,
            optimize=settings.optimize,
            progressive=settings.progressive,
            subsampling=settings.subsampling,
            icc_profile=srgb_profile(),
        )
        data = buffer.getvalue()
        if len(data) <= max_bytes or quality <= LOWEST_QUALITY:
            if len(data) > max_bytes:
                raise ValueError(f"cannot encode the image under {max_bytes} bytes")
            return data
        quality -= 5
