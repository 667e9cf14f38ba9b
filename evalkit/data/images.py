"""Read user images as they are: folders of image files and .npz arrays.

Images come back as float32 tensors (N, C, H, W). Integer pixels are scaled to [0, 1]
by their stored bit depth (8-bit by 255, 16-bit by 65535); float arrays are kept as
they are (so an ``in_range`` check can see out-of-range values). What is read, what is
refused and why is written down in docs/images.md; the rules in short:

* a folder is grey when every image in it is grey (grey modes, LA, a palette of grey
  entries only, a WebP whose channels agree), otherwise every image is read as RGB;
* EXIF orientation is applied; transparency that is not fully opaque is refused (the
  background it stands for is the user's to choose);
* a PNG whose pixel data does not match its header's size is refused, never decoded;
* an .npz array is channels-first or channels-last by its shape, refused when both
  readings fit (an optional ``layout`` member says which), and an archive with two
  members of one name is refused.

Nothing here imports torch until pixels are turned into a tensor, so validation can
read shapes from headers without it.
"""

from __future__ import annotations

import io
import logging
import warnings
import zipfile
import zlib
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from .._errors import DataError
from .._io import memory_cap, open_regular, read_regular

if TYPE_CHECKING:
    from torch import Tensor

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp"}
# Sizes are read from headers before anything is decoded: a small file may claim a huge image.
MAX_IMAGE_PIXELS = 8192 * 8192
MAX_ARRAY_BYTES = 16 << 30  # and never more than the machine can hold: _io.memory_cap
IGNORED = {".ds_store", "thumbs.db", "desktop.ini"}

SIXTEEN_BIT_MODES = {"I;16", "I;16L", "I;16B", "I;16N", "I"}
GREY_MODES = {"1", "L", "LA", "La"} | SIXTEEN_BIT_MODES
ALPHA_MODES = {"LA", "La", "PA", "RGBA", "RGBa"}
PALETTE_MODES = {"P", "PA"}
COLOUR_MODES = {"RGB", "RGBA", "RGBa", "RGBX", "CMYK", "YCbCr"}
KNOWN_MODES = GREY_MODES | PALETTE_MODES | COLOUR_MODES
# Lossy WebP stores YUV: a grey picture decodes with its channels up to one level apart.
WEBP_GREY_TOLERANCE = 1
# Orientations 5..8 turn the picture a quarter: its height and width trade places.
QUARTER_TURNS = {5, 6, 7, 8}
CHANNEL_COUNTS = (1, 3, 4)
LAYOUTS = ("NCHW", "NHWC")

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
PNG_CHANNELS = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}  # by colour type
ADAM7 = ((0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2))
INFLATE_STEP = 1 << 20
MAX_FILE_BYTES = 1 << 30  # one image file read whole


def infer_format(path: Path, fmt: str | None) -> str:
    if fmt:
        return fmt
    if path.suffix.lower() == ".npz":
        return "npz"
    return "folder"


# ---------------------------------------------------------------- arrays


def array_layout(shape: tuple, where: str, layout: str | None = None) -> tuple[str, tuple[int, int, int]]:
    """(layout, (C, H, W)) of an image array of ``shape``: "NHW", "NCHW" or "NHWC".

    A 4-d array is channels-last when only its last axis is a channel count (1, 3, 4),
    channels-first when only its second is; when both are and only one of them is 1, that
    one (an image is not one pixel tall); when neither is, the axis smaller than the two
    others is the channels. When both readings fit, e.g. (N, 4, 4, 3), nothing is
    guessed: the error names the shape and the ``layout`` member that settles it."""
    shape = tuple(int(v) for v in shape)
    if len(shape) == 3:
        return "NHW", (1, shape[1], shape[2])
    if len(shape) != 4:
        raise DataError(f"{where}: images must be (N,H,W), (N,H,W,C) or (N,C,H,W); got shape {shape}")
    _, a, b, c = shape
    chosen = layout or _guess_layout(a, b, c)
    if chosen is None:
        raise DataError(
            f"{where}: images of shape {shape} read both as (N, H, W, C), {a}x{b} images of {c} channel(s), "
            f"and as (N, C, H, W), {a} channel(s) of {b}x{c}; evalkit does not guess: add a `layout` member "
            f"to the .npz, e.g. np.savez(path, images=images, layout='NHWC') for channels last "
            f"(or layout='NCHW')")
    return chosen, ((c, a, b) if chosen == "NHWC" else (a, b, c))


def _guess_layout(a: int, b: int, c: int) -> str | None:
    first, last = a in CHANNEL_COUNTS, c in CHANNEL_COUNTS
    if first != last:
        return "NCHW" if first else "NHWC"
    if first and (a == 1) != (c == 1):  # e.g. (N, 1, 2, 4): one channel of 2x4, not 1x2 images of 4 channels
        return "NCHW" if a == 1 else "NHWC"
    if not first and a < min(b, c):  # e.g. (N, 2, 64, 64): two channels of 64x64
        return "NCHW"
    if not first and c < min(a, b):
        return "NHWC"
    return None


def scale_pixels(arr: np.ndarray, where: str) -> np.ndarray:
    """float32 pixels: uint8 / 255, uint16 / 65535, bool as 0/1, floats as they are.
    Other integer types say nothing of their range, so they are refused."""
    if arr.dtype == np.uint8:
        return arr.astype(np.float32) / np.float32(255)
    if arr.dtype == np.uint16:
        return arr.astype(np.float32) / np.float32(65535)
    if arr.dtype == np.bool_ or np.issubdtype(arr.dtype, np.floating):
        return arr.astype(np.float32)
    if np.issubdtype(arr.dtype, np.integer):
        raise DataError(f"{where}: images of dtype {arr.dtype} do not say their pixel range; store them as "
                        "uint8 (0..255), uint16 (0..65535) or float in [0, 1] (e.g. images.astype(np.uint8))")
    raise DataError(f"{where}: images must be uint8, uint16 or float arrays, got dtype {arr.dtype}")


def to_nchw(arr: np.ndarray, where: str, layout: str | None = None) -> Tensor:
    """Accept (N,H,W), (N,H,W,C) or (N,C,H,W) (see ``array_layout``); return float32 NCHW."""
    import torch

    arr = np.asarray(arr)
    found, _ = array_layout(arr.shape, where, layout)
    if found == "NHW":
        arr = arr[:, None]
    elif found == "NHWC":
        arr = arr.transpose(0, 3, 1, 2)
    return torch.from_numpy(np.ascontiguousarray(scale_pixels(arr, where)))


# ---------------------------------------------------------------- image files


@dataclass(frozen=True)
class Header:
    """What a file's header says: grey or colour, and its size after EXIF orientation."""

    grey: bool
    height: int
    width: int


def _cannot(f: Path, exc: BaseException) -> DataError:
    return DataError(f"{f}: cannot read image ({type(exc).__name__}: {exc}); re-save it as PNG")


@contextmanager
def _strict_pillow():
    """Pillow pads truncated files with grey when LOAD_TRUNCATED_IMAGES is set (a plugin may
    set it): never while evalkit reads, so a truncated file is an error, not data. Pillow's
    own size warning is silenced: the size is checked here, naming the file."""
    from PIL import Image, ImageFile

    saved, ImageFile.LOAD_TRUNCATED_IMAGES = ImageFile.LOAD_TRUNCATED_IMAGES, False
    try:
        with warnings.catch_warnings():  # sizes are checked here, against MAX_IMAGE_PIXELS, with the file named
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            yield
    finally:
        ImageFile.LOAD_TRUNCATED_IMAGES = saved


def _check_pixels(f: Path, im) -> None:
    """Refuse an image whose header claims more than MAX_IMAGE_PIXELS, before its pixels are decoded."""
    w, h = im.size
    if w * h > MAX_IMAGE_PIXELS:
        raise DataError(f"{f}: the image claims {w}x{h} pixels, more than evalkit decodes ({MAX_IMAGE_PIXELS}); "
                        "resize it (a decompression bomb looks like this)")


def _check_opened(f: Path, im) -> None:
    """Refusals that the header alone decides: size, animation, unknown modes."""
    _check_pixels(f, im)
    frames = getattr(im, "n_frames", 1)
    if frames > 1:
        raise DataError(f"{f}: holds {frames} frames (an animation); evalkit reads one image per file: "
                        "save each frame as its own file")
    if im.mode not in KNOWN_MODES:
        raise DataError(f"{f}: unsupported image mode {im.mode}; save it as 8- or 16-bit grey, or RGB")


def _palette_grey(im) -> bool:
    """A palette image is grey when every entry of its palette is (decided without decoding)."""
    pal = im.getpalette()
    if not pal:
        return True
    entries = np.asarray(pal).reshape(-1, 3)
    return bool((entries[:, 0] == entries[:, 1]).all() and (entries[:, 1] == entries[:, 2]).all())


def _rgb_grey(rgb: np.ndarray) -> bool:
    spread = rgb.max(axis=-1).astype(np.int16) - rgb.min(axis=-1).astype(np.int16)
    return int(spread.max(initial=0)) <= WEBP_GREY_TOLERANCE


def _header_grey(im) -> bool:
    if im.mode in GREY_MODES:
        return True
    if im.mode in PALETTE_MODES:
        return _palette_grey(im)
    if im.format == "WEBP":  # WebP stores no grey mode: only the pixels can say
        im.load()
        return _rgb_grey(np.asarray(im.convert("RGB")))
    return False


def _orientation(im) -> int:
    # Pillow finds a PNG's EXIF that follows the pixel data only by decoding it; the
    # header reads what precedes the data (where writers put it), the decoder the rest.
    if im.format == "PNG" and "exif" not in im.info:
        return 1
    value = im.getexif().get(0x0112, 1)
    return value if isinstance(value, int) else 1


def read_header(f: Path) -> Header:
    """Grey or colour and (H, W) of one image file, from its header (a WebP is decoded: see above)."""
    from PIL import Image

    try:
        with open_regular(f) as fh, _strict_pillow(), Image.open(fh) as im:  # a FIFO would block forever
            _check_opened(f, im)
            grey, (w, h) = _header_grey(im), im.size
            if _orientation(im) in QUARTER_TURNS:
                w, h = h, w
    except DataError:
        raise
    except Exception as exc:  # a data file may make Pillow raise anything: it is the file's fault
        raise _cannot(f, exc) from None
    return Header(grey, h, w)


def _png_chunks(data: bytes) -> tuple[bytes | None, bytes]:
    """(IHDR body, the IDAT bodies joined) of a PNG file's bytes."""
    pos, ihdr, idat = len(PNG_SIGNATURE), None, []
    while pos + 8 <= len(data):
        n, kind = int.from_bytes(data[pos:pos + 4], "big"), data[pos + 4:pos + 8]
        body = data[pos + 8:pos + 8 + n]
        if kind == b"IHDR" and ihdr is None:
            ihdr = body
        elif kind == b"IDAT":
            idat.append(body)
        elif kind == b"IEND":
            break
        pos += 12 + n
    return ihdr, b"".join(idat)


def _png_raw_size(w: int, h: int, bits: int, interlaced: bool) -> int:
    """Bytes of filtered scanlines that a PNG of this header decompresses to (PNG spec, 7.2 and 8.2)."""
    total = 0
    for x0, y0, dx, dy in (ADAM7 if interlaced else ((0, 0, 1, 1),)):
        pw, ph = max(0, -(-(w - x0) // dx)), max(0, -(-(h - y0) // dy))
        if pw and ph:
            total += ph * (1 + (pw * bits + 7) // 8)
    return total


def _inflated_size(stream: bytes, limit: int) -> tuple[int, bool]:
    """(bytes the zlib stream inflates to, counted up to limit + 1; whether the stream ends)."""
    d, n, rest = zlib.decompressobj(), 0, stream
    while rest and n <= limit:
        n += len(d.decompress(rest, INFLATE_STEP))
        rest = d.unconsumed_tail
    if n <= limit:
        n += len(d.flush())
    return n, d.eof


def check_png_data(f: Path, data: bytes) -> None:
    """Refuse a PNG whose pixel data is not the size its header says: Pillow decodes the
    header's size from whatever data there is, and data of another size decodes to garbage."""
    ihdr, idat = _png_chunks(data)
    if ihdr is None or len(ihdr) != 13 or ihdr[9] not in PNG_CHANNELS:
        return  # not a PNG Pillow would decode: it refuses the file itself
    w, h = int.from_bytes(ihdr[0:4], "big"), int.from_bytes(ihdr[4:8], "big")
    want = _png_raw_size(w, h, ihdr[8] * PNG_CHANNELS[ihdr[9]], ihdr[12] == 1)
    got, ends = _inflated_size(idat, want)
    if got == want and ends:
        return
    found = f"more than {want}" if got > want else f"{got}" + ("" if ends else ", and the stream stops short")
    raise DataError(f"{f}: the PNG header says {w}x{h} pixels ({want} bytes of pixel data) but its data holds "
                    f"{found} bytes; the file is corrupt or was written with a wrong header: re-save it")


def _transparent(im) -> bool:
    """Whether any pixel is less than fully opaque (alpha channel or a tRNS colour)."""
    key = im.info.get("transparency")
    if im.mode in SIXTEEN_BIT_MODES:
        return key is not None and bool((np.asarray(im) == key).any())
    if im.mode not in ALPHA_MODES and key is None:
        return False
    return int(np.asarray(im.convert("RGBA").getchannel("A")).min()) < 255


def _sixteen(f: Path, im) -> np.ndarray:
    arr = np.asarray(im)
    if arr.size and (arr.min() < 0 or arr.max() > 65535):
        raise DataError(f"{f}: {im.mode} pixels outside 0..65535; save it as an 8- or 16-bit image")
    return arr.astype(np.float32) / np.float32(65535)


def _pixels(f: Path, im, fmt: str | None) -> tuple[bool, np.ndarray]:
    """(grey, float32 (C, H, W) in [0, 1]) of a decoded, oriented image."""
    if _transparent(im):
        raise DataError(f"{f}: has transparent pixels; evalkit does not guess the background they stand for: "
                        "flatten the image onto the background you mean, or save it without alpha")
    if im.mode in SIXTEEN_BIT_MODES:
        return True, _sixteen(f, im)[None]
    grey = im.mode in GREY_MODES or (im.mode in PALETTE_MODES and _palette_grey(im))
    if not grey:
        rgb = np.asarray(im.convert("RGB"))
        if fmt != "WEBP" or not _rgb_grey(rgb):
            return False, rgb.transpose(2, 0, 1).astype(np.float32) / np.float32(255)
    return True, np.asarray(im.convert("L")).astype(np.float32)[None] / np.float32(255)


def decode_image(f: Path) -> tuple[bool, np.ndarray]:
    """(grey, float32 (C, H, W) in [0, 1]) of one image file, EXIF orientation applied.
    Truncated data, data that disagrees with the header and transparency are refused."""
    from PIL import Image, ImageOps

    try:
        data = read_regular(f, limit=MAX_FILE_BYTES, why="an image file of at most 8192x8192 pixels is far smaller")
        with _strict_pillow(), Image.open(io.BytesIO(data)) as im:
            _check_opened(f, im)  # the header's claims first: a bomb is refused before anything inflates
            fmt = im.format
            if fmt == "PNG" and data.startswith(PNG_SIGNATURE):
                check_png_data(f, data)
            im.load()
            return _pixels(f, ImageOps.exif_transpose(im), fmt)
    except DataError:
        raise
    except Exception as exc:  # a data file may make Pillow raise anything: it is the file's fault
        raise _cannot(f, exc) from None


def _hwc(shape) -> str:
    c, h, w = shape
    return f"{h}x{w}x{c}"


def _image_files(path: Path) -> list[Path]:
    """The image files of a folder in sorted-name order; anything else in it is refused."""
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
    return files


class Folder:
    """A folder of image files, read lazily in sorted-name order. Every header is read
    when it opens: the folder's size and channels are decided from all of them."""

    def __init__(self, path: Path):
        files = _image_files(path)
        self.path, self.files, self.labels = path, files, None
        heads = [read_header(f) for f in files]
        colour = [f.name for f, h in zip(files, heads) if not h.grey]
        self.grey = not colour
        if colour and len(colour) < len(files):
            log.warning("%s: %d of %d images are colour (first: %s), so every image is read as RGB "
                        "(grey ones with three equal channels)", path, len(colour), len(files), colour[0])
        self.image_shape = (1 if self.grey else 3, heads[0].height, heads[0].width)
        for f, h in zip(files, heads):
            self._check_size(f, (self.image_shape[0], h.height, h.width))

    def __len__(self) -> int:
        return len(self.files)

    def _check_size(self, f: Path, shape: tuple) -> None:
        if tuple(shape) != self.image_shape:
            raise DataError(
                f"{self.path}: images of mixed sizes: {self.files[0].name} is {_hwc(self.image_shape)} "
                f"but {f.name} is {_hwc(shape)}; resize them to one size first"
            )

    def _read(self, f: Path) -> np.ndarray:
        grey, arr = decode_image(f)
        if grey and not self.grey:
            arr = np.repeat(arr, 3, axis=0)
        elif self.grey and not grey:
            raise DataError(f"{f}: decodes as a colour image though its header reads as grey; re-save it")
        self._check_size(f, arr.shape)  # e.g. an EXIF turn found only after the pixel data
        return arr

    def slice(self, start: int, stop: int) -> Tensor:
        import torch

        return torch.from_numpy(np.stack([self._read(f) for f in self.files[start:stop]]))

    def check_all(self) -> None:
        """Every header was read when the folder opened; pixels are checked as they are decoded."""


# ---------------------------------------------------------------- .npz archives


def _npz_members(path: Path, zf: zipfile.ZipFile) -> dict[str, zipfile.ZipInfo]:
    """Array name -> member. Two members of one name are refused: numpy would read the last."""
    members: dict[str, zipfile.ZipInfo] = {}
    for info in zf.infolist():
        key = info.filename[:-4] if info.filename.endswith(".npy") else info.filename
        if key in members:
            raise DataError(f"{path}: holds two members named {info.filename!r} (array {key!r}); numpy would "
                            "silently read only the last: rebuild the file with one np.savez call")
        members[key] = info
    return members


def _array_header(path: Path, zf: zipfile.ZipFile, info: zipfile.ZipInfo) -> tuple[tuple, np.dtype]:
    """(shape, dtype) of one .npy member from its header, refused when it would unpack too large."""
    with zf.open(info) as fh:
        version = np.lib.format.read_magic(fh)
        read = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
        shape, _, dtype = read(fh)  # parsed with ast.literal_eval: a header never runs code
    elements = int(np.prod(shape, dtype=object))
    need = elements * dtype.itemsize + elements * 4  # as stored, then as float32 (to_nchw): both at once
    cap, why = memory_cap()
    cap, why = (cap, why) if cap < MAX_ARRAY_BYTES else (MAX_ARRAY_BYTES, "evalkit's limit of 16 GiB")
    if need > cap or info.file_size > cap:  # the zip member's header, read before anything is inflated
        raise DataError(f"{path}: array {info.filename.removesuffix('.npy')!r} of shape {shape} would take {need} "
                        f"bytes in memory (inflated to {max(info.file_size, elements * dtype.itemsize)} bytes, then "
                        f"as float32); evalkit loads at most {cap} here ({why}): refusing to load it")
    return tuple(shape), dtype


@dataclass(frozen=True)
class NpzHeader:
    """What an .npz says about itself before its images are loaded."""

    key: str  # the images array
    member: str
    shape: tuple
    labels: bool
    layout: str | None


def _images_key(path: Path, keys: list[str]) -> str:
    if "images" in keys:
        return "images"
    arrays = [k for k in keys if k != "layout"]
    if len(arrays) == 1:
        return arrays[0]
    raise DataError(f"{path}: no 'images' array (arrays found: {', '.join(keys)})")


def _layout_member(path: Path, zf: zipfile.ZipFile, info: zipfile.ZipInfo) -> str:
    _array_header(path, zf, info)
    with zf.open(info) as fh:
        value = np.lib.format.read_array(fh, allow_pickle=False)
    text = str(value) if value.shape == () and value.dtype.kind == "U" else None
    if text not in LAYOUTS:
        raise DataError(f"{path}: the 'layout' member must be the string 'NCHW' or 'NHWC', got {value!r}")
    return text


def read_npz_header(path: Path) -> NpzHeader:
    """The images array's name, member and shape, read from headers alone."""
    if not path.is_file():
        raise DataError(f"{path}: .npz file not found")
    try:
        with open_regular(path) as fh, zipfile.ZipFile(fh) as zf:
            members = _npz_members(path, zf)
            key = _images_key(path, list(members))
            shape, _ = _array_header(path, zf, members[key])
            if "labels" in members:
                _array_header(path, zf, members["labels"])
            layout = _layout_member(path, zf, members["layout"]) if "layout" in members else None
    except DataError:
        raise
    except Exception as exc:  # zip and npy parsing of a user's file: its fault, whatever is raised
        raise DataError(f"{path}: not a readable .npz file ({type(exc).__name__}: {exc})") from None
    return NpzHeader(key, members[key].filename, shape, "labels" in members, layout)


class NpzImages:
    """An .npz with an ``images`` array (or a single array), optional ``labels`` and ``layout``."""

    def __init__(self, path: Path):
        head = read_npz_header(path)
        where = f"{path} (member {head.member!r})"
        array_layout(head.shape, where, head.layout)  # refuse an ambiguous shape before loading
        try:
            with open_regular(path) as fh, np.load(fh, allow_pickle=False) as data:
                images = data[head.key]
                labels = data["labels"] if head.labels else None
        except Exception as exc:  # headers were sound; a broken body is still the file's fault
            raise DataError(f"{path}: not a readable .npz file ({type(exc).__name__}: {exc})") from None
        self.images = to_nchw(images, where, head.layout)
        if len(self.images) == 0:
            raise DataError(f"{path}: holds no images")
        self.labels = None
        if labels is not None:
            self.labels = _labels(path, labels, len(self.images))
        self.image_shape = tuple(self.images.shape[1:])
        self.path = path

    def __len__(self) -> int:
        return len(self.images)

    def slice(self, start: int, stop: int) -> Tensor:
        return self.images[start:stop]

    def check_all(self) -> None:
        pass


def _labels(path: Path, labels: np.ndarray, n: int):
    import torch

    labels = np.asarray(labels)
    if labels.shape != (n,) or not np.issubdtype(labels.dtype, np.integer):
        raise DataError(f"{path}: 'labels' must be an integer array of length {n}, got {labels.dtype} {labels.shape}")
    return torch.from_numpy(labels.astype(np.int64))


def open_images(path: Path, fmt: str | None):
    fmt = infer_format(path, fmt)
    return NpzImages(path) if fmt == "npz" else Folder(path)


def image_set_count(path: Path, fmt: str | None) -> int:
    """How many images an image folder or .npz holds, from file names and headers alone: for
    validation (a subject asked for more samples than it holds is refused before anything runs)."""
    if infer_format(path, fmt) == "npz":
        return int(read_npz_header(path).shape[0])
    return len(_image_files(path))


def image_set_shape(path: Path, fmt: str | None) -> tuple[int, int, int]:
    """(C, H, W) of an image folder or .npz from headers, without torch and without decoding
    pixels (except a WebP's, to see whether it is grey): for validation."""
    if infer_format(path, fmt) == "npz":
        head = read_npz_header(path)
        return array_layout(head.shape, f"{path} (member {head.member!r})", head.layout)[1]
    return Folder(path).image_shape
