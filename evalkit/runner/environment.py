"""Where a run happens: the device, the torchrun process group, the report's Environment."""

from __future__ import annotations

import os
import platform
import sys

import torch

from .._version import __version__
from .._errors import UsageError
from ..records.model import Environment


def process_rank() -> tuple[int, int]:
    """(rank, world size) of this process; (0, 1) outside torchrun."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def init_distributed(device: str) -> None:
    """Join the process group that ``torchrun`` describes in the environment (once)."""
    import torch.distributed as dist

    if int(os.environ.get("WORLD_SIZE", "1")) <= 1 or not dist.is_available() or dist.is_initialized():
        return
    use_cuda = device != "cpu" and torch.cuda.is_available()
    if use_cuda:
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
    dist.init_process_group("nccl" if use_cuda else "gloo")


def auto_device() -> tuple[str, str]:
    """What ``--device auto`` chooses, and why, in words: ("cuda", "auto: NVIDIA H100 ...") or
    ("cpu", "auto: no CUDA device ...")."""
    if torch.cuda.is_available():
        index = int(os.environ.get("LOCAL_RANK", "0")) if process_rank()[1] > 1 else torch.cuda.current_device()
        count = torch.cuda.device_count()
        return "cuda", f"auto: {torch.cuda.get_device_name(index)}, CUDA device {index} of {count}"
    if torch.version.cuda is None:
        return "cpu", f"auto: no CUDA device; this torch ({torch.__version__}) is built without CUDA"
    hidden = os.environ.get("CUDA_VISIBLE_DEVICES")
    return "cpu", "auto: no CUDA device visible" + (f" (CUDA_VISIBLE_DEVICES={hidden!r})" if hidden is not None else "")


def device_line(device: str) -> str | None:
    """The line saying which device ``--device auto`` chose and why; None for a device the user named."""
    if device != "auto":
        return None
    chosen, why = auto_device()
    return f"device: {chosen} ({why})"


def pick_device(device: str) -> torch.device:
    if device == "auto":
        device = auto_device()[0]
    if device == "cuda" and process_rank()[1] > 1:
        return torch.device("cuda", torch.cuda.current_device())
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise UsageError(f"--device {device}: CUDA is not available on this machine (torch {torch.__version__}); use --device cpu or auto")
    try:
        return torch.device(device)
    except RuntimeError:
        raise UsageError(f"--device: unknown device {device!r}; use auto, cpu or cuda[:N]") from None


def environment(device: torch.device) -> Environment:
    from importlib.metadata import PackageNotFoundError, version

    pkgs = {}
    for p in ("numpy", "scipy", "pydantic", "safetensors", "torchmetrics", "pyyaml"):
        try:
            pkgs[p] = version(p)
        except PackageNotFoundError:
            pass
    dev = str(device)
    if device.type == "cuda":
        dev += f" ({torch.cuda.get_device_name(device)})"
    return Environment(python=sys.version.split()[0], platform=platform.platform(), torch=torch.__version__,
                       evalkit=__version__, device=dev, packages=pkgs, world_size=process_rank()[1])
