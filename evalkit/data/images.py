"""Read user images: folders of PNG/JPEG and .npz arrays, any channel count and size.

Images come back as float32 tensors (N, C, H, W). uint8 data is scaled to [0, 1];
float data is kept as it is (so an ``in_range`` check can see out-of-range values).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from .._errors import DataError

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp"}
# Sizes are read from headers before anything is decoded: a small file may claim a huge image.
MAX_IMAGE_PIXELS = 8192 * 8192
MAX_ARRAY_BYTES = 16 << 30
IGNORED = {".ds_store", "thumbs.db", "desktop.ini"}


def infer_format(path: Path, fmt: str | None) -> str:
    if fmt:
        return fmt
    if path.suffix.lower() == ".npz":
        return "npz"
    return "folder"


def to_nchw(arr: np.ndarray, where: str) -> Tensor:
    """Accept (N,H,W), (N,H,W,C) with C in 1/3/4, or (N,C,H,W); return float32 NCHW."""
    if arr.ndim == 3:
        arr = arr[:, None]
    elif arr.ndim == 4:
        if arr.shape[-1] in (1, 3, 4) and arr.shape[1] not in (1, 3, 4):
            arr = arr.transpose(0, 3, 1, 2)
    else:
        raise DataError(f"{where}: images must be (N,H,W), (N,H,W,C) or (N,C,H,W); got shape {arr.shape}")
    if arr.dtype == np.uint8:
        t = torch.from_numpy(np.ascontiguousarray(arr)).float().div_(255.0)
    elif np.issubdtype(arr.dtype, np.floating) or np.issubdtype(arr.dtype, np.integer):
        t = torch.from_numpy(np.ascontiguousarray(arr).astype(np.float32))
    else:
        raise DataError(f"{where}: images must be uint8 or float arrays, got dtype {arr.dtype}")
    return t


class Folder:
    """A folder of image files, read lazily in sorted-name order."""

    def __init__(self, path: Path):
        if not path.exists():
            raise DataError(f"{path}: image folder not found")
        if not path.is_dir():
            raise DataError(f"{path}: not a folder (for an .npz file use format: npz)")
        files = sorted(p for p in path.iterdir() if p.is_file() and p.name.lower() not in IGNORED)
        others = [p.name for p in files if p.suffix.lower() not in IMAGE_SUFFIXES]
        if others:
            shown = ", ".join(others[:5]) + (", ..." if len(others) > 5 else "")
            raise DataError(
                f"{path}: holds {len(others)} file(s) that are not images ({shown}); "
                f"keep only {', '.join(sorted(IMAGE_SUFFIXES))} files in an image folder"
            )
        if not files:
            raise DataError(f"{path}: the folder holds no images")
        self.path, self.files = path, files
        first = self._read(files[0])
        self.image_shape = tuple(first.shape)
        self.labels = None

    def __len__(self) -> int:
        return len(self.files)

    def _read(self, f: Path) -> np.ndarray:
        from PIL import Image, UnidentifiedImageError

        try:
            with Image.open(f) as im:
                _check_pixels(f, im)
                if im.mode in ("L", "1", "I;16", "I", "F"):
                    arr = np.asarray(im.convert("L"))[None]
                elif im.mode in ("RGB", "RGBA", "P", "CMYK", "YCbCr", "LA"):
                    arr = np.asarray(im.convert("RGB")).transpose(2, 0, 1)
                else:
                    raise DataError(f"{f}: unsupported image mode {im.mode}")
        except (UnidentifiedImageError, OSError, Image.DecompressionBombError, ValueError) as exc:
            raise DataError(f"{f}: cannot read image ({exc})") from None
        return arr

    def slice(self, start: int, stop: int) -> Tensor:
        arrs = []
        for f in self.files[start:stop]:
            a = self._read(f)
            if tuple(a.shape) != self.image_shape:
                raise DataError(
                    f"{self.path}: images of mixed sizes: {self.files[0].name} is {_hwc(self.image_shape)} "
                    f"but {f.name} is {_hwc(a.shape)}; resize them to one size first"
                )
            arrs.append(a)
        return torch.from_numpy(np.stack(arrs)).float().div_(255.0)

    def check_all(self) -> None:
        """Read every header once so mixed sizes fail before sampling starts."""
        from PIL import Image

        for f in self.files[1:]:
            try:
                with Image.open(f) as im:
                    _check_pixels(f, im)
                    c = 1 if im.mode in ("L", "1", "I;16", "I", "F") else 3
                    shape = (c, im.height, im.width)
            except (OSError, Image.DecompressionBombError, ValueError) as exc:
                raise DataError(f"{f}: cannot read image ({exc})") from None
            if shape != self.image_shape:
                raise DataError(
                    f"{self.path}: images of mixed sizes: {self.files[0].name} is {_hwc(self.image_shape)} "
                    f"but {f.name} is {_hwc(shape)}; resize them to one size first"
                )


def _check_pixels(f: Path, im) -> None:
    """Refuse an image whose header claims more than MAX_IMAGE_PIXELS, before its pixels are decoded."""
    w, h = im.size
    if w * h > MAX_IMAGE_PIXELS:
        raise DataError(f"{f}: the image claims {w}x{h} pixels, more than evalkit decodes ({MAX_IMAGE_PIXELS}); "
                        "resize it (a decompression bomb looks like this)")


def _check_npz_sizes(path: Path) -> None:
    """Read every array header in an .npz and refuse one that would unpack to more than MAX_ARRAY_BYTES."""
    import zipfile

    try:
        with zipfile.ZipFile(path) as zf:
            for info in zf.infolist():
                if not info.filename.endswith(".npy"):
                    continue
                with zf.open(info) as fh:
                    version = np.lib.format.read_magic(fh)
                    read = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
                    shape, _, dtype = read(fh)  # parsed with ast.literal_eval: a header never runs code
                size = int(np.prod(shape, dtype=object)) * dtype.itemsize
                if size > MAX_ARRAY_BYTES or info.file_size > MAX_ARRAY_BYTES:
                    raise DataError(f"{path}: array {info.filename[:-4]!r} of shape {shape} would take {size} bytes "
                                    f"(at most {MAX_ARRAY_BYTES}); refusing to load it")
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise DataError(f"{path}: not a readable .npz file ({exc})") from None


def _hwc(shape) -> str:
    c, h, w = shape
    return f"{h}x{w}x{c}"


class NpzImages:
    """An .npz with an ``images`` array (or a single array) and optional ``labels``."""

    def __init__(self, path: Path):
        if not path.is_file():
            raise DataError(f"{path}: .npz file not found")
        _check_npz_sizes(path)
        try:
            with np.load(path, allow_pickle=False) as data:
                keys = list(data.keys())
                key = "images" if "images" in keys else (keys[0] if len(keys) == 1 else None)
                if key is None:
                    raise DataError(f"{path}: no 'images' array (arrays found: {', '.join(keys)})")
                images = data[key]
                labels = data["labels"] if "labels" in keys else None
        except (ValueError, OSError) as exc:
            raise DataError(f"{path}: not a readable .npz file ({exc})") from None
        self.images = to_nchw(images, str(path))
        if len(self.images) == 0:
            raise DataError(f"{path}: holds no images")
        self.labels = None
        if labels is not None:
            labels = np.asarray(labels)
            if labels.shape != (len(self.images),) or not np.issubdtype(labels.dtype, np.integer):
                raise DataError(f"{path}: 'labels' must be an integer array of length {len(self.images)}, got {labels.dtype} {labels.shape}")
            self.labels = torch.from_numpy(labels.astype(np.int64))
        self.image_shape = tuple(self.images.shape[1:])
        self.path = path

    def __len__(self) -> int:
        return len(self.images)

    def slice(self, start: int, stop: int) -> Tensor:
        return self.images[start:stop]

    def check_all(self) -> None:
        pass


def open_images(path: Path, fmt: str | None):
    fmt = infer_format(path, fmt)
    return NpzImages(path) if fmt == "npz" else Folder(path)
