"""Decoding, validating and resizing source images.

Every image is decoded in full (a truncated JPEG often opens fine and only fails at the end of
the data), converted to RGB, centre-cropped to a square and resized to the target size. Large
JPEGs use libjpeg's DCT scaling (``Image.draft``), which decodes a 6000 px image at 1/2, 1/4 or
1/8 scale directly and is several times faster than decoding at full size and shrinking.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageFile, ImageOps, UnidentifiedImageError

from lesiongan.errors import DataError

# Truncated files must fail, never be padded with grey.
ImageFile.LOAD_TRUNCATED_IMAGES = False
# Dermoscopy images reach ~30 Mpx; anything far beyond is not a photograph.
Image.MAX_IMAGE_PIXELS = 200_000_000


class ImageProblem(Exception):
    """The file is not a usable image; the message says why (without the path)."""


@dataclass(frozen=True)
class ImageInfo:
    width: int
    height: int
    format: str
    mode: str


def read_image_info(path: Path) -> ImageInfo:
    """Size, format and mode from the header only (fast; does not prove the file decodes)."""
    try:
        with Image.open(path) as im:
            w, h = _oriented_size(im)
            return ImageInfo(w, h, im.format or "?", im.mode)
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError) as exc:
        raise ImageProblem(_describe(exc)) from None


def load_rgb(path: Path, min_side_px: int | None = None) -> tuple[Image.Image, ImageInfo]:
    """Decode a whole image as RGB (EXIF orientation applied).

    With ``min_side_px``, JPEGs are decoded at the smallest DCT scale whose shorter side is still
    at least ``min_side_px``. Returns the image and the info of the original file.
    """
    try:
        with Image.open(path) as im, warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            w, h = _oriented_size(im)
            info = ImageInfo(w, h, im.format or "?", im.mode)
            if min_side_px and im.format == "JPEG":
                scale = min_side_px / min(im.size)
                im.draft(
                    "RGB", (max(1, round(im.size[0] * scale)), max(1, round(im.size[1] * scale)))
                )
            im.load()
            im = ImageOps.exif_transpose(im)
            rgb = _to_rgb(im)
    except (
        UnidentifiedImageError,
        OSError,
        ValueError,
        SyntaxError,
        Image.DecompressionBombError,
        Image.DecompressionBombWarning,
    ) as exc:
        raise ImageProblem(_describe(exc)) from None
    return rgb, info


def center_crop_resize(im: Image.Image, size_px: int) -> Image.Image:
    """Largest centred square, resized to ``size_px`` (Lanczos: sharp, little aliasing)."""
    w, h = im.size
    side = min(w, h)
    left, top = (w - side) // 2, (h - side) // 2
    box = (left, top, left + side, top + side)
    if side == size_px:
        return im.crop(box)
    return im.resize((size_px, size_px), Image.Resampling.LANCZOS, box=box, reducing_gap=3.0)


def encode_png(im: Image.Image) -> bytes:
    buf = io.BytesIO()
    im.save(buf, format="PNG", compress_level=4)
    return buf.getvalue()


def _oriented_size(im: Image.Image) -> tuple[int, int]:
    w, h = im.size
    try:
        orientation = im.getexif().get(0x0112, 1)
    except Exception:  # a broken EXIF block is not a broken image
        orientation = 1
    return (h, w) if orientation in (5, 6, 7, 8) else (w, h)


def _to_rgb(im: Image.Image) -> Image.Image:
    if im.mode == "RGB":
        return im
    if im.mode in ("RGBA", "LA") or (im.mode == "P" and "transparency" in im.info):
        im = im.convert("RGBA")
        background = Image.new("RGBA", im.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, im).convert("RGB")
    if im.mode in ("I;16", "I;16B", "I;16L", "I"):
        # 16-bit greyscale: scale to 8 bit instead of clipping.
        im = im.point(lambda v: v / 256).convert("L")
    return im.convert("RGB")


def _describe(exc: BaseException) -> str:
    text = str(exc).strip() or exc.__class__.__name__
    if isinstance(exc, UnidentifiedImageError):
        return "not a readable image (unknown or corrupt format)"
    if "truncated" in text.lower():
        return "truncated image (file ends before the image data does)"
    if isinstance(exc, (Image.DecompressionBombError, Image.DecompressionBombWarning)):
        return "image too large to be a photograph (decompression bomb guard)"
    return f"cannot decode image ({text.splitlines()[0]})"


def read_prepared(path: Path | str, size_px: int) -> np.ndarray:
    """A prepared (square RGB) image as uint8 CHW ``[3, size_px, size_px]`` for training.

    BOX filtering when shrinking (each output pixel the mean of its source pixels), bicubic when
    enlarging (synthetic images smaller than the classifier's input).
    """
    try:
        with Image.open(path) as im:
            im = im.convert("RGB")
            if im.size != (size_px, size_px):
                shrink = im.size[0] >= size_px and im.size[1] >= size_px
                method = Image.Resampling.BOX if shrink else Image.Resampling.BICUBIC
                im = im.resize((size_px, size_px), method)
            return np.asarray(im, dtype=np.uint8).transpose(2, 0, 1).copy()
    except (OSError, ValueError, SyntaxError) as exc:
        raise DataError(f"{path}: cannot read image ({exc.__class__.__name__}: {exc})") from None


def read_prepared_job(args: tuple[str, int]) -> np.ndarray:
    """:func:`read_prepared` of ``(path, size_px)``, for :func:`parallel_map`."""
    return read_prepared(*args)
