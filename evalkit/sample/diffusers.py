"""A diffusers pipeline folder as a generator: ``model: diffusers`` with ``params: {path: ...}``.

Validation has already read the folder (``evalkit.data.diffusers_folder``): a supported
pipeline class, safetensors weights, params that fit it. Here the pipeline is loaded with
``use_safetensors=True`` and ``local_files_only=True`` (never a download, never a pickle).

Seeding: a block's ``generator`` (seeded by evalkit from (seed, block)) draws one 63-bit
seed per sample, and sample j's initial noise and every noise its scheduler adds come from
its own ``torch.Generator`` seeded with the j-th of them (diffusers takes a list of
generators, one per image). So a sample's noise does not depend on its neighbours in the
block; the network's numerics are those of one call on the whole block.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from .._errors import SpecError
from ..data.diffusers_folder import SCHEDULERS, FolderProblem, identity_files, param_problems, read_folder

SEED_HIGH = 2**63 - 1  # per-sample seeds are drawn in [0, 2**63 - 1): int64, as torch seeds


def sample_seeds(n: int, generator: torch.Generator) -> list[int]:
    """The per-sample seeds of a block, drawn from the block's generator."""
    return [int(s) for s in torch.randint(0, SEED_HIGH, (n,), generator=generator, device=generator.device)]


class DiffusersGenerator:
    """A loaded DDPM, DDIM or DiT pipeline behind evalkit's Generator protocol."""

    def __init__(self, path: str | Path, *, scheduler: str | None = None, num_inference_steps: int | None = None,
                 guidance_scale: float | None = None, device: torch.device | str = "cpu"):
        try:
            folder = read_folder(Path(path))
        except FolderProblem as exc:
            raise SpecError(str(exc)) from None
        problems = param_problems(folder, {"scheduler": scheduler, "guidance_scale": guidance_scale,
                                           "num_inference_steps": num_inference_steps})
        if problems:  # the plan refused these already; a direct caller gets the same words
            raise SpecError(f"{path}: {problems[0]}", [str(p) for p in problems])
        self.pipe = _load(folder.pipeline, folder.root)
        if scheduler is not None and folder.pipeline != "DDIMPipeline":
            import diffusers

            sched_cls = getattr(diffusers, SCHEDULERS[scheduler])
            self.pipe.scheduler = sched_cls.from_config(self.pipe.scheduler.config)
        self.pipe.to(torch.device(device))
        self.pipe.set_progress_bar_config(disable=True)
        self.pipeline_class = folder.pipeline
        self.image_shape = folder.image_shape
        self.num_classes = folder.num_classes
        self.steps, self.guidance_scale = num_inference_steps, guidance_scale
        self.weights_files = identity_files(folder)

    def sample(self, n: int, *, labels: Tensor | None, generator: torch.Generator) -> Tensor:
        gens = [torch.Generator(device=generator.device).manual_seed(s) for s in sample_seeds(n, generator)]
        kwargs: dict[str, Any] = {"generator": gens, "output_type": "pt"}
        if self.steps is not None:
            kwargs["num_inference_steps"] = self.steps
        if self.num_classes is None:
            out = self.pipe(batch_size=n, **kwargs)
        else:
            if labels is None:
                raise SpecError(f"{self.pipeline_class} is class-conditional: sample() needs labels")
            if self.guidance_scale is not None:
                kwargs["guidance_scale"] = self.guidance_scale
            out = self.pipe(class_labels=[int(c) for c in labels], **kwargs)
        return out.images.float()


def _load(pipeline: str, root: Path) -> Any:
    """The pipeline class's from_pretrained on a checked folder: safetensors only, offline, and quiet
    (its loading bar would interleave with evalkit's progress lines)."""
    try:
        import diffusers
    except ImportError:
        raise SpecError(f"{root}: a diffusers pipeline subject needs the `diffusers` package, which is not installed: "
                        "pip install 'evalkit[hf]' (or pip install diffusers)") from None
    from diffusers.utils import logging as dlog

    bar = dlog.is_progress_bar_enabled()
    dlog.disable_progress_bar()
    try:
        # low_cpu_mem_usage=False: what diffusers falls back to without accelerate, said so it needn't warn
        return getattr(diffusers, pipeline).from_pretrained(str(root), use_safetensors=True, local_files_only=True,
                                                            low_cpu_mem_usage=False)
    finally:
        if bar:
            dlog.enable_progress_bar()


def diffusers_pipeline(path: str, scheduler: str | None = None,
                       num_inference_steps: int | None = None, guidance_scale: float | None = None, *,
                       device: torch.device | str = "cpu", checkpoint: str | None = None) -> DiffusersGenerator:
    """The ``diffusers`` generator: the pipeline saved at ``path`` (resolved by the plan)."""
    if checkpoint is not None:
        raise SpecError("the diffusers generator reads its weights from `params: {path: ...}`; drop `checkpoint:`")
    return DiffusersGenerator(path, scheduler=scheduler, num_inference_steps=num_inference_steps,
                              guidance_scale=guidance_scale, device=device)
