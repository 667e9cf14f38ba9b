"""The FID Inception-v3 feature space (``inception-fid``): pool3 features, 2,048-d.

FID as papers report it is the Fréchet distance in the feature space of one frozen
network: the TensorFlow Inception graph of 2015-12-05 that the original TTUR code
ran. pytorch-fid and torch-fidelity ship the same port of it (one weights file,
byte-identical under two names); this module is evalkit's own ``torch.nn`` version
of that graph, built so the file loads into it as it is (the parameter names are the
file's keys). Where the graph differs from torchvision's Inception-v3 it follows the
graph, and says so at the spot: average pools that ignore the zero padding, a max
pool in the last block, 1008 classes in the unused head, and TensorFlow 1.x bilinear
resizing to 299x299.

The weights are the user's file (nothing is downloaded): :func:`find_weights` looks
where the docs say, :func:`verified_weights` holds the file to the published SHA-256.
"""

from __future__ import annotations

import os
from pathlib import Path
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .._builtins import INCEPTION_FID_PREPROCESSING
from .._digest import file_sha256
from .._errors import CheckpointError, DataError, SpecError
from .features import Extractor
from .preprocess import tf1_resize_bilinear

__all__ = ["FIDInceptionV3", "InceptionFID", "tf1_resize_bilinear", "find_weights", "load_weights",
           "verified_weights", "inception_fid", "STANDARD_SHA256", "WEIGHTS_NAMES", "WEIGHTS_URLS"]

# --------------------------------------------------------------------------- the weights file

# The two names the file is cached under by the tools that download it (torch hub's
# `checkpoints` folder, file name = the URL's last part): pytorch-fid's, then torch-fidelity's.
WEIGHTS_NAMES = ("pt_inception-2015-12-05-6726825d.pth", "weights-inception-2015-12-05-6726825d.pth")
WEIGHTS_URLS = (
    "https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/pt_inception-2015-12-05-6726825d.pth",
    "https://github.com/toshas/torch-fidelity/releases/download/v0.2.0/weights-inception-2015-12-05-6726825d.pth",
)

# The SHA-256 of the standard file (95,628,359 bytes). Neither tool states it in its own code
# (both load with check_hash off); its first 8 hex digits are the "6726825d" in both file names
# (torch hub's naming convention), and the full digest is the one public projects pin for these
# URLs: genforce/genforce `metrics/inception.py` gives it for pytorch-fid's URL, and other public
# evaluation code gives the same digest and size for torch-fidelity's, so the two downloads are
# the same bytes. It was not recomputed here: no copy of the file was at hand (no network).
STANDARD_SHA256 = "6726825d0af5f729cebd5821db510b11b1cfad8faad88a03f1befd49fb9129b2"
NAME_PREFIX = STANDARD_SHA256[:8]

WEIGHTS_ENV = "EVALKIT_INCEPTION_WEIGHTS"
ALLOW_ANY_ENV = "EVALKIT_INCEPTION_ALLOW_ANY_WEIGHTS"  # "1": load weights of any digest (tests, experiments)

CODE_VERSION = "inception-fid-v1"  # bump when the graph or the preprocessing changes a number
SIZE: tuple[int, int] = INCEPTION_FID_PREPROCESSING.size or (299, 299)  # the declared size is the one used


def _torch_home() -> Path:
    """torch hub's home, computed as torch does ($TORCH_HOME, else $XDG_CACHE_HOME/torch, else
    ~/.cache/torch) without importing torch, so validation stays cheap."""
    if env := os.environ.get("TORCH_HOME"):
        return Path(env).expanduser()
    cache = os.environ.get("XDG_CACHE_HOME") or "~/.cache"
    return Path(cache).expanduser() / "torch"


def cache_candidates() -> list[Path]:
    """Where pytorch-fid and torch-fidelity leave the file after their first download."""
    folders = [_torch_home() / "hub" / "checkpoints"]
    default = Path("~/.cache/torch/hub/checkpoints").expanduser()
    if default not in folders:  # a TORCH_HOME set today does not hide a file cached before it was set
        folders.append(default)
    return [folder / name for folder in folders for name in WEIGHTS_NAMES]


def _how_to_get() -> str:
    return (f"download it from {WEIGHTS_URLS[0]} (or {WEIGHTS_URLS[1]}, the same file) and name it in the spec "
            f"(`feature_weights: path/to/{WEIGHTS_NAMES[0]}`) or in ${WEIGHTS_ENV}")


def _in_folder(path: Path, origin: str) -> Path:
    """A named folder holds the file under one of its two standard names."""
    for name in WEIGHTS_NAMES:
        if (path / name).is_file():
            return path / name
    raise SpecError(f"inception-fid: {origin} names the folder {path}, which holds neither "
                    f"{' nor '.join(WEIGHTS_NAMES)}; {_how_to_get()}")


def find_weights(weights: str | Path | None = None) -> Path:
    """The weights file: ``weights`` (the spec's ``feature_weights``), else ``$EVALKIT_INCEPTION_WEIGHTS``,
    else the first of :func:`cache_candidates` that exists. A path the user named that does not
    exist is an error, never a reason to look elsewhere (the run would use a file they did not pick)."""
    for origin, named in (("feature_weights", weights), (f"${WEIGHTS_ENV}", os.environ.get(WEIGHTS_ENV) or None)):
        if named is None:
            continue
        path = Path(named).expanduser()
        if path.is_dir():
            return _in_folder(path, origin)
        if not path.is_file():
            raise SpecError(f"inception-fid: {origin} names {path}, which does not exist; {_how_to_get()}")
        return path
    for path in cache_candidates():
        if path.is_file():
            return path
    looked = "\n  ".join(["feature_weights in the spec (not set)", f"${WEIGHTS_ENV} (not set)",
                          *map(str, cache_candidates())])
    raise SpecError(f"inception-fid: the Inception weights file was not found; looked at\n  {looked}\n{_how_to_get()}")


def _allow_any() -> bool:
    return os.environ.get(ALLOW_ANY_ENV, "").strip().lower() in ("1", "true", "yes")


def _named_prefix(path: Path) -> str | None:
    """The hex digits a torch-hub style name carries (``name-<hex>.pth``), or None."""
    tail = path.stem.rsplit("-", 1)[-1].lower()
    return tail if len(tail) >= 8 and all(c in "0123456789abcdef" for c in tail) else None


def verified_weights(path: Path) -> tuple[str, bool]:
    """(the file's SHA-256, whether it is the standard file). Refused: a file whose name carries a
    digest prefix its bytes do not have (a truncated or swapped download; always, as torch hub
    checks it), and any file but the standard one unless ``$EVALKIT_INCEPTION_ALLOW_ANY_WEIGHTS=1``."""
    sha = file_sha256(path)
    copy = path.suffix == ".safetensors"  # other bytes than its source by nature: its metadata is checked instead
    prefix = None if copy else _named_prefix(path)
    if prefix is not None and not sha.startswith(prefix):
        raise SpecError(f"inception-fid: {path} is named for SHA-256 {prefix}..., but its SHA-256 is {sha}: "
                        f"an incomplete or different file; {_how_to_get()}")
    standard = sha == STANDARD_SHA256
    if not standard and not copy and not _allow_any():
        raise SpecError(f"inception-fid: {path} has SHA-256 {sha}, but the standard FID Inception weights have "
                        f"{STANDARD_SHA256}; FID from other weights is not the FID papers report. {_how_to_get()}; "
                        f"or set {ALLOW_ANY_ENV}=1 to use these weights anyway (reported as unverified)")
    return sha, standard


# A .safetensors copy has other bytes than the .pth it was made from, so it carries the digest
# of its source and of its own tensors in its metadata (written by :func:`save_safetensors`).
_META_SOURCE, _META_TENSORS = "evalkit.source_sha256", "evalkit.tensors_sha256"


def tensors_sha256(state: dict[str, Tensor]) -> str:
    """SHA-256 over names, dtypes, shapes and bytes of a state dict: the same for a .pth and its copy."""
    import hashlib

    h = hashlib.sha256()
    for key in sorted(state):
        t = state[key].detach().cpu().contiguous()
        h.update(f"{key}:{t.dtype}:{tuple(t.shape)}\n".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


def save_safetensors(source: Path, out: Path) -> Path:
    """Copy a (verified) .pth into a .safetensors file that states which file it came from."""
    from safetensors.torch import save_file

    sha, _ = verified_weights(source)
    state = _read_pth(source)
    save_file({k: v.contiguous() for k, v in state.items()}, str(out),
              metadata={_META_SOURCE: sha, _META_TENSORS: tensors_sha256(state)})
    return out


def _read_pth(path: Path) -> dict[str, Tensor]:
    try:  # weights_only: a pickle that names code is refused by torch's restricted unpickler, not run
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - every way a file fails to load is one message
        raise CheckpointError(f"inception-fid: {path} is not a plain PyTorch state dict evalkit can load safely "
                              f"({type(exc).__name__}: {str(exc)[:300]}); {_how_to_get()}") from None
    if not isinstance(state, dict) or not all(isinstance(v, Tensor) for v in state.values()):
        raise CheckpointError(f"inception-fid: {path} holds a {type(state).__name__}, not a state dict of tensors")
    return dict(state)


def _read_safetensors(path: Path) -> tuple[dict[str, Tensor], str]:
    """The tensors and the SHA-256 of the .pth they were copied from (checked against the tensors)."""
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="pt") as fh:
            meta = fh.metadata() or {}
            state = {k: fh.get_tensor(k) for k in fh.keys()}
    except Exception as exc:  # noqa: BLE001
        raise CheckpointError(f"inception-fid: {path} is not a readable .safetensors file "
                              f"({type(exc).__name__}: {str(exc)[:300]})") from None
    source = meta.get(_META_SOURCE)
    if source is None or meta.get(_META_TENSORS) != tensors_sha256(state):
        raise SpecError(f"inception-fid: {path} does not say which weights it holds (its metadata lacks "
                        f"{_META_SOURCE}/{_META_TENSORS} or disagrees with its tensors); make it with "
                        "evalkit.observe.inception.save_safetensors from the .pth, or name the .pth itself")
    return state, source


def load_weights(path: Path) -> tuple[dict[str, Tensor], str, bool]:
    """(state dict, the digest that names these weights, whether they are the standard ones)."""
    sha, standard = verified_weights(path)
    if path.suffix != ".safetensors":
        return _read_pth(path), sha, standard
    state, source = _read_safetensors(path)
    standard = source == STANDARD_SHA256
    if not standard and not _allow_any():
        raise SpecError(f"inception-fid: {path} was made from weights of SHA-256 {source}, not the standard "
                        f"{STANDARD_SHA256}. {_how_to_get()}; or set {ALLOW_ANY_ENV}=1 to use them anyway")
    return state, source, standard


# --------------------------------------------------------------------------- the network


class ConvBNReLU(nn.Module):
    """Convolution without bias, batch norm (eps 1e-3, TensorFlow's), ReLU: the graph's unit.
    Submodules are named ``conv`` and ``bn`` because the weights file's keys are."""

    def __init__(self, cin: int, cout: int, kernel: int | tuple[int, int], stride: int = 1,
                 padding: int | tuple[int, int] = 0):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, kernel, stride=stride, padding=padding, bias=False)
        self.bn = nn.BatchNorm2d(cout, eps=0.001)

    def forward(self, x: Tensor) -> Tensor:
        return F.relu(self.bn(self.conv(x)))


def _pool_same(x: Tensor) -> Tensor:
    """The 3x3 'SAME' average pool of the A, C and first E blocks. TensorFlow divides by the
    pixels inside the image only, so border averages are not pulled toward zero (torchvision's
    default counts the padding)."""
    return F.avg_pool2d(x, kernel_size=3, stride=1, padding=1, count_include_pad=False)


class Block35(nn.Module):
    """Mixed_5b/5c/5d (35x35): 1x1 | 1x1 -> 5x5 | 1x1 -> 3x3 -> 3x3 | pool -> 1x1."""

    def __init__(self, cin: int, pool_out: int):
        super().__init__()
        self.branch1x1 = ConvBNReLU(cin, 64, 1)
        self.branch5x5_1 = ConvBNReLU(cin, 48, 1)
        self.branch5x5_2 = ConvBNReLU(48, 64, 5, padding=2)
        self.branch3x3dbl_1 = ConvBNReLU(cin, 64, 1)
        self.branch3x3dbl_2 = ConvBNReLU(64, 96, 3, padding=1)
        self.branch3x3dbl_3 = ConvBNReLU(96, 96, 3, padding=1)
        self.branch_pool = ConvBNReLU(cin, pool_out, 1)

    def forward(self, x: Tensor) -> Tensor:
        return torch.cat([
            self.branch1x1(x),
            self.branch5x5_2(self.branch5x5_1(x)),
            self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x))),
            self.branch_pool(_pool_same(x)),
        ], 1)


class Reduce35to17(nn.Module):
    """Mixed_6a: stride-2 3x3 | 1x1 -> 3x3 -> stride-2 3x3 | stride-2 max pool."""

    def __init__(self, cin: int):
        super().__init__()
        self.branch3x3 = ConvBNReLU(cin, 384, 3, stride=2)
        self.branch3x3dbl_1 = ConvBNReLU(cin, 64, 1)
        self.branch3x3dbl_2 = ConvBNReLU(64, 96, 3, padding=1)
        self.branch3x3dbl_3 = ConvBNReLU(96, 96, 3, stride=2)

    def forward(self, x: Tensor) -> Tensor:
        deep = self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x)))
        return torch.cat([self.branch3x3(x), deep, F.max_pool2d(x, kernel_size=3, stride=2)], 1)


def _row7(cin: int, cout: int) -> ConvBNReLU:
    return ConvBNReLU(cin, cout, (1, 7), padding=(0, 3))


def _col7(cin: int, cout: int) -> ConvBNReLU:
    return ConvBNReLU(cin, cout, (7, 1), padding=(3, 0))


class Block17(nn.Module):
    """Mixed_6b..6e (17x17): 3x3 convolutions factored into 1x7 and 7x1 pairs."""

    def __init__(self, cin: int, mid: int):
        super().__init__()
        self.branch1x1 = ConvBNReLU(cin, 192, 1)
        self.branch7x7_1 = ConvBNReLU(cin, mid, 1)
        self.branch7x7_2 = _row7(mid, mid)
        self.branch7x7_3 = _col7(mid, 192)
        self.branch7x7dbl_1 = ConvBNReLU(cin, mid, 1)
        self.branch7x7dbl_2 = _col7(mid, mid)
        self.branch7x7dbl_3 = _row7(mid, mid)
        self.branch7x7dbl_4 = _col7(mid, mid)
        self.branch7x7dbl_5 = _row7(mid, 192)
        self.branch_pool = ConvBNReLU(cin, 192, 1)

    def forward(self, x: Tensor) -> Tensor:
        short = self.branch7x7_3(self.branch7x7_2(self.branch7x7_1(x)))
        deep = self.branch7x7dbl_1(x)
        for conv in (self.branch7x7dbl_2, self.branch7x7dbl_3, self.branch7x7dbl_4, self.branch7x7dbl_5):
            deep = conv(deep)
        return torch.cat([self.branch1x1(x), short, deep, self.branch_pool(_pool_same(x))], 1)


class Reduce17to8(nn.Module):
    """Mixed_7a: 1x1 -> stride-2 3x3 | 1x1 -> 1x7 -> 7x1 -> stride-2 3x3 | stride-2 max pool."""

    def __init__(self, cin: int):
        super().__init__()
        self.branch3x3_1 = ConvBNReLU(cin, 192, 1)
        self.branch3x3_2 = ConvBNReLU(192, 320, 3, stride=2)
        self.branch7x7x3_1 = ConvBNReLU(cin, 192, 1)
        self.branch7x7x3_2 = _row7(192, 192)
        self.branch7x7x3_3 = _col7(192, 192)
        self.branch7x7x3_4 = ConvBNReLU(192, 192, 3, stride=2)

    def forward(self, x: Tensor) -> Tensor:
        short = self.branch3x3_2(self.branch3x3_1(x))
        deep = self.branch7x7x3_4(self.branch7x7x3_3(self.branch7x7x3_2(self.branch7x7x3_1(x))))
        return torch.cat([short, deep, F.max_pool2d(x, kernel_size=3, stride=2)], 1)


class Block8(nn.Module):
    """Mixed_7b/7c (8x8): each 3x3 split into parallel 1x3 and 3x1 halves.

    ``max_pool``: the pool branch of the last block (Mixed_7c) is a 3x3 *max* pool in the
    2015 graph, where torchvision (and the paper) have an average pool; FID's features
    come from the graph, so this one follows it. Mixed_7b keeps the padding-free average."""

    def __init__(self, cin: int, max_pool: bool):
        super().__init__()
        self.max_pool = max_pool
        self.branch1x1 = ConvBNReLU(cin, 320, 1)
        self.branch3x3_1 = ConvBNReLU(cin, 384, 1)
        self.branch3x3_2a = ConvBNReLU(384, 384, (1, 3), padding=(0, 1))
        self.branch3x3_2b = ConvBNReLU(384, 384, (3, 1), padding=(1, 0))
        self.branch3x3dbl_1 = ConvBNReLU(cin, 448, 1)
        self.branch3x3dbl_2 = ConvBNReLU(448, 384, 3, padding=1)
        self.branch3x3dbl_3a = ConvBNReLU(384, 384, (1, 3), padding=(0, 1))
        self.branch3x3dbl_3b = ConvBNReLU(384, 384, (3, 1), padding=(1, 0))
        self.branch_pool = ConvBNReLU(cin, 192, 1)

    def forward(self, x: Tensor) -> Tensor:
        mid = self.branch3x3_1(x)
        deep = self.branch3x3dbl_2(self.branch3x3dbl_1(x))
        pooled = F.max_pool2d(x, kernel_size=3, stride=1, padding=1) if self.max_pool else _pool_same(x)
        return torch.cat([self.branch1x1(x), self.branch3x3_2a(mid), self.branch3x3_2b(mid),
                          self.branch3x3dbl_3a(deep), self.branch3x3dbl_3b(deep), self.branch_pool(pooled)], 1)


class FIDInceptionV3(nn.Module):
    """The 2015-12-05 Inception graph up to pool3: uint8 RGB (N, 3, H, W) -> (N, 2048).

    Attribute names are the weights file's keys. ``fc`` (1008 classes, the graph's head) is
    never run for FID; it is here so the standard file loads with every key accounted for."""

    def __init__(self) -> None:
        super().__init__()
        self.Conv2d_1a_3x3 = ConvBNReLU(3, 32, 3, stride=2)
        self.Conv2d_2a_3x3 = ConvBNReLU(32, 32, 3)
        self.Conv2d_2b_3x3 = ConvBNReLU(32, 64, 3, padding=1)
        self.Conv2d_3b_1x1 = ConvBNReLU(64, 80, 1)
        self.Conv2d_4a_3x3 = ConvBNReLU(80, 192, 3)
        self.Mixed_5b = Block35(192, 32)
        self.Mixed_5c = Block35(256, 64)
        self.Mixed_5d = Block35(288, 64)
        self.Mixed_6a = Reduce35to17(288)
        self.Mixed_6b = Block17(768, 128)
        self.Mixed_6c = Block17(768, 160)
        self.Mixed_6d = Block17(768, 160)
        self.Mixed_6e = Block17(768, 192)
        self.Mixed_7a = Reduce17to8(768)
        self.Mixed_7b = Block8(1280, max_pool=False)
        self.Mixed_7c = Block8(2048, max_pool=True)
        self.fc = nn.Linear(2048, 1008)

    def forward(self, x: Tensor) -> Tensor:
        dtype = self.Conv2d_1a_3x3.conv.weight.dtype
        x = tf1_resize_bilinear(x.to(dtype), SIZE)
        x = (x - 128) / 128  # the graph's Sub/Mul by 1/128: a power of two, so exact either way
        for stem in (self.Conv2d_1a_3x3, self.Conv2d_2a_3x3, self.Conv2d_2b_3x3):
            x = stem(x)
        x = F.max_pool2d(x, kernel_size=3, stride=2)
        x = self.Conv2d_4a_3x3(self.Conv2d_3b_1x1(x))
        x = F.max_pool2d(x, kernel_size=3, stride=2)
        for block in (self.Mixed_5b, self.Mixed_5c, self.Mixed_5d, self.Mixed_6a, self.Mixed_6b, self.Mixed_6c,
                      self.Mixed_6d, self.Mixed_6e, self.Mixed_7a, self.Mixed_7b, self.Mixed_7c):
            x = block(x)
        return F.adaptive_avg_pool2d(x, (1, 1)).flatten(1)  # pool3


def _counter(key: str) -> bool:
    return key.endswith("num_batches_tracked")


def _state_problem(state: dict[str, Tensor], want: dict[str, tuple[int, ...]]) -> str | None:
    """What keeps ``state`` from being this network's weights, in words, or None."""
    missing = [k for k in want if k not in state and not _counter(k)]
    extra = [k for k in state if k not in want]
    wrong = [f"{k} {tuple(state[k].shape)} (expected {want[k]})" for k in state
             if k in want and tuple(state[k].shape) != want[k]]
    parts = [f"{label}: {', '.join(keys[:4])}{' ...' if len(keys) > 4 else ''}"
             for label, keys in (("missing", missing), ("unexpected", extra), ("wrong shape", wrong)) if keys]
    return "; ".join(parts) or None


def build_network(state: dict[str, Tensor], origin: Path | str, dtype: torch.dtype = torch.float32) -> FIDInceptionV3:
    """The network with ``state`` loaded, every key and shape checked first.

    Built on the meta device and given the file's tensors (``assign``), so no random init of
    24M parameters is paid for weights that are replaced at once. The BatchNorm step counters
    (``num_batches_tracked``) are training bookkeeping the converted file may lack; they are
    set to zero and never read in eval mode."""
    with torch.device("meta"):
        net = FIDInceptionV3()
    want = {k: tuple(v.shape) for k, v in net.state_dict().items()}
    state = {k: v for k, v in state.items() if not _counter(k)}
    if problem := _state_problem(state, want):
        raise CheckpointError(f"inception-fid: {origin} is not the FID Inception-v3 state dict ({problem})")
    state.update({k: torch.zeros((), dtype=torch.long) for k in want if _counter(k)})
    net.load_state_dict({k: v.to(dtype) if v.is_floating_point() else v for k, v in state.items()}, assign=True)
    return net.eval().requires_grad_(False)


# --------------------------------------------------------------------------- the extractor


def to_uint8_rgb(images: Tensor) -> Tensor:
    """evalkit images (N, C, H, W) in [0, 1], C 1 or 3 -> uint8 RGB, as the reference tools see PNGs.

    Levels are round(x * 255) after clamping to [0, 1] (round half to even; evalkit writes its
    sample PNGs the same way), so a PNG read by evalkit (byte / 255) gets back its own bytes. Grey
    is replicated to three channels, as PIL's ``convert("RGB")`` does for the tools."""
    if images.ndim != 4 or images.shape[1] not in (1, 3):
        raise DataError(f"inception-fid: reads images (N, 1 or 3, H, W), got shape {tuple(images.shape)}")
    levels = (images.float().clamp(0, 1) * 255).round().to(torch.uint8)
    return levels.expand(-1, 3, -1, -1) if levels.shape[1] == 1 else levels


class InceptionFID(Extractor):
    """``inception-fid``: pool3 features of the FID Inception-v3, any image size, grey or RGB."""

    def __init__(self, device: torch.device | str, weights: Path, dtype: torch.dtype = torch.float32):
        state, sha, standard = load_weights(weights)
        self.weights_file = weights
        self.net = build_network(state, weights, dtype).to(device)
        self.standard = standard
        self.name = "inception-fid" if standard else "inception-fid (unverified weights)"
        self.dim = 2048
        self.digest = f"{CODE_VERSION}:{sha}"
        self.preprocessing = INCEPTION_FID_PREPROCESSING  # declared once, in evalkit._builtins

    @torch.no_grad()
    def features(self, images: Tensor) -> Tensor:
        x = to_uint8_rgb(images).to(self.net.fc.weight.device)
        return self.net(x).float()


def inception_fid(image_shape: tuple[int, int, int], device: torch.device, weights: Path | None = None) -> InceptionFID:
    """The registered ``inception-fid`` factory (declared in ``evalkit._builtins``): finds and checks
    the weights file (:func:`find_weights`), then builds the network on ``device``."""
    if len(image_shape) != 3 or image_shape[0] not in (1, 3):
        raise SpecError(f"inception-fid: reads grey or RGB images (1 or 3 channels), but the samples are "
                        f"{'x'.join(map(str, image_shape))}")
    return InceptionFID(device, find_weights(weights))
