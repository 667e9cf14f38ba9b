"""What a diffusers ``save_pretrained`` folder holds, read from its JSON files alone.

Validation reads the folder here, without torch or diffusers: which pipeline class it is
(``model_index.json``), whether every model component has safetensors weights (a pickle is
refused before anything loads it), the classes and image shape the pipeline will give, and
whether the subject's params fit it. The generator (``evalkit.sample.diffusers``) loads only
a folder that passed, and hashes the files listed by ``identity_files``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .._io import read_regular
from ..contract import GeneratorFacts, Problem

# pipeline class -> component -> the diffusers classes evalkit accepts for it
PIPELINES: dict[str, dict[str, tuple[str, ...]]] = {
    "DDPMPipeline": {"unet": ("UNet2DModel",), "scheduler": ()},
    "DDIMPipeline": {"unet": ("UNet2DModel",), "scheduler": ()},
    "DiTPipeline": {"transformer": ("DiTTransformer2DModel", "Transformer2DModel"), "vae": ("AutoencoderKL",),
                    "scheduler": ()},
}
# the spec's `scheduler:` word -> the diffusers class built from the folder's scheduler config
SCHEDULERS = {"ddpm": "DDPMScheduler", "ddim": "DDIMScheduler", "dpm": "DPMSolverMultistepScheduler"}
PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".ckpt", ".pkl", ".pickle")
# what from_pretrained(use_safetensors=True) reads of a diffusers model: one file, or a sharded index
WEIGHTS_FILES = ("diffusion_pytorch_model.safetensors", "diffusion_pytorch_model.safetensors.index.json")
# DiTPipeline asks class 1000 as its unconditional class (hard-coded), so guidance needs 1000 classes
DIT_NULL_CLASS = 1000
DIT_GUIDANCE = 4.0  # DiTPipeline's default guidance_scale
_CONFIG_LIMIT = 1 << 20  # a config is a few hundred bytes; a larger one is not a config
SAVE_FIX = "pipe.save_pretrained(path, safe_serialization=True)"


class FolderProblem(ValueError):
    """A folder that evalkit will not load; ``key`` is the param it concerns (None: the folder)."""

    def __init__(self, message: str, key: str | None = "path"):
        super().__init__(message)
        self.key = key


@dataclass
class PipelineFolder:
    """A checked pipeline folder: its class, components (name -> class) and JSON configs."""

    root: Path
    pipeline: str
    components: dict[str, str]
    configs: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def conditional(self) -> bool:
        return self.pipeline == "DiTPipeline"

    @property
    def num_classes(self) -> int | None:
        return int(self.configs["transformer"]["num_embeds_ada_norm"]) if self.conditional else None

    @property
    def image_shape(self) -> tuple[int, int, int]:
        if self.conditional:
            vae, tr = self.configs["vae"], self.configs["transformer"]
            side = int(tr["sample_size"]) * 2 ** (len(vae["block_out_channels"]) - 1)
            return (int(vae.get("out_channels", 3)), side, side)
        unet = self.configs["unet"]
        size: Any = unet.get("sample_size")  # an int, or [height, width]
        h, w = (size, size) if isinstance(size, int) else tuple(size)
        return (int(unet.get("in_channels", 3)), int(h), int(w))

    def scheduler_class(self, word: str | None) -> str:
        """The scheduler class sampling will use: the spec's swap, or the one saved."""
        if self.pipeline == "DDIMPipeline":
            return "DDIMScheduler"  # DDIMPipeline converts whatever scheduler it holds to DDIM
        return SCHEDULERS[word] if word else self.components["scheduler"]


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(read_regular(path, limit=_CONFIG_LIMIT, why="a diffusers config"))
    except (OSError, ValueError) as exc:
        raise FolderProblem(f"{path}: cannot read it as JSON ({exc})") from None
    if not isinstance(data, dict):
        raise FolderProblem(f"{path}: holds {type(data).__name__}, expected a JSON object")
    return data


def read_folder(root: Path) -> PipelineFolder:
    """The pipeline folder at ``root``, refused (``FolderProblem``) unless evalkit can load it safely."""
    if not root.is_dir():
        raise FolderProblem(f"{str(root)!r} is not a folder; give the folder a diffusers pipeline was saved to "
                            f"with {SAVE_FIX}")
    index = root / "model_index.json"
    if not index.is_file():
        raise FolderProblem(f"{str(root)!r} is not a diffusers pipeline folder (it has no model_index.json); "
                            f"save the pipeline with {SAVE_FIX}")
    meta = _read_json(index)
    pipeline = meta.get("_class_name")
    if pipeline not in PIPELINES:
        raise FolderProblem(f"{index}: pipeline class {pipeline!r} is not supported; evalkit loads "
                            f"{', '.join(PIPELINES)}")
    extra = sorted(k for k, v in meta.items() if isinstance(v, list) and not k.startswith("_") and k not in PIPELINES[pipeline])
    if extra:  # from_pretrained would load it too, unchecked
        raise FolderProblem(f"{index}: component {extra[0]!r} is not one of {pipeline}'s "
                            f"({', '.join(PIPELINES[pipeline])}); remove it or re-save the pipeline with {SAVE_FIX}")
    folder = PipelineFolder(root, pipeline, {})
    for name, accepted in PIPELINES[pipeline].items():
        folder.components[name] = _component_class(index, meta, name, accepted)
        folder.configs[name] = _component_config(root, name)
    return folder


def _component_class(index: Path, meta: dict[str, Any], name: str, accepted: tuple[str, ...]) -> str:
    """The class model_index.json names for a component: a diffusers class evalkit accepts, never user code."""
    entry = meta.get(name)
    if not (isinstance(entry, list) and len(entry) == 2 and all(isinstance(v, str) for v in entry)):
        raise FolderProblem(f"{index}: component {name!r} is missing or not [library, class]; re-save with {SAVE_FIX}")
    library, cls = entry
    ok = cls.endswith("Scheduler") if name == "scheduler" else cls in accepted
    if library != "diffusers" or not ok:
        wanted = "a diffusers scheduler" if name == "scheduler" else " or ".join(accepted)
        raise FolderProblem(f"{index}: component {name!r} is {library}.{cls}; evalkit loads {wanted} here "
                            "(custom code is never imported from a pipeline folder)")
    return cls


def _component_config(root: Path, name: str) -> dict[str, Any]:
    sub = root / name
    if name == "scheduler":
        return _read_json(sub / "scheduler_config.json")
    config = _read_json(sub / "config.json")
    names = {p.name for p in _files(sub)}
    if not names & set(WEIGHTS_FILES):
        pickles = sorted(p for p in _files(sub) if p.suffix in PICKLE_SUFFIXES)
        what = (f"holds {pickles[0]} (a pickle, which can run code when loaded)" if pickles
                else f"has no {WEIGHTS_FILES[0]} (it holds {', '.join(sorted(names)) or 'nothing'})")
        raise FolderProblem(f"{sub}: component {name!r} {what}; evalkit loads safetensors only: "
                            f"re-save the pipeline with {SAVE_FIX}")
    return config


def _files(folder: Path) -> list[Path]:
    return [p for p in folder.iterdir() if p.is_file()] if folder.is_dir() else []


def identity_files(folder: PipelineFolder) -> list[Path]:
    """The files that make the pipeline: model_index.json, each component's config and safetensors."""
    out = [folder.root / "model_index.json"]
    for name in folder.components:
        sub = folder.root / name
        out += sorted(p for p in _files(sub) if p.name.endswith((".json", ".safetensors")))
    return out


def param_problems(folder: PipelineFolder, params: dict[str, Any]) -> list[FolderProblem]:
    """The subject's params against the pipeline they drive."""
    out = []
    word, guidance, steps = params.get("scheduler"), params.get("guidance_scale"), params.get("num_inference_steps")
    if word is not None and word not in SCHEDULERS:
        return [FolderProblem(f"scheduler {word!r} is not one of {', '.join(SCHEDULERS)}", "scheduler")]
    if folder.pipeline == "DDIMPipeline" and word not in (None, "ddim"):
        out.append(FolderProblem(f"DDIMPipeline always samples with DDIM (it converts its scheduler); drop "
                                 f"`scheduler: {word}` or save the UNet as a DDPMPipeline", "scheduler"))
    sched = folder.scheduler_class(word)
    if sched not in SCHEDULERS.values():
        out.append(FolderProblem(f"the folder's scheduler is {sched}; evalkit samples with "
                                 f"{', '.join(SCHEDULERS.values())}: set `scheduler:` to one of {', '.join(SCHEDULERS)}",
                                 "scheduler"))
    train_steps = folder.configs["scheduler"].get("num_train_timesteps")
    if isinstance(steps, int) and isinstance(train_steps, int) and steps > train_steps:
        out.append(FolderProblem(f"num_inference_steps {steps} exceeds the scheduler's {train_steps} training "
                                 "timesteps", "num_inference_steps"))
    if not folder.conditional:
        if guidance is not None:
            out.append(FolderProblem(f"{folder.pipeline} is unconditional and takes no guidance_scale; drop it",
                                     "guidance_scale"))
        return out
    out += _dit_problems(folder, sched, DIT_GUIDANCE if guidance is None else guidance)
    return out


def _dit_problems(folder: PipelineFolder, sched: str, guidance: float) -> list[FolderProblem]:
    out = []
    stochastic = sched == "DDPMScheduler" or (
        sched == "DPMSolverMultistepScheduler" and str(folder.configs["scheduler"].get("algorithm_type", "")).startswith("sde"))
    if stochastic:
        # DiTPipeline passes no generator to scheduler.step: its noise would come from torch's global RNG
        out.append(FolderProblem(f"DiTPipeline with {sched} ({'sde' if sched != 'DDPMScheduler' else 'stochastic'}) "
                                 "would draw noise outside evalkit's seeds; use `scheduler: ddim` or `scheduler: dpm`",
                                 "scheduler"))
    classes = folder.num_classes
    if guidance > 1 and classes != DIT_NULL_CLASS:
        out.append(FolderProblem(f"guidance_scale {guidance:g} > 1 makes DiTPipeline ask class {DIT_NULL_CLASS} as its "
                                 f"unconditional class, but this transformer has {classes} classes "
                                 f"(num_embeds_ada_norm); set `guidance_scale: 1`", "guidance_scale"))
    return out


def inspect_subject(params: dict[str, Any], spec_folder: Path) -> GeneratorFacts:
    """The ``inspect`` of the ``diffusers`` generator: the folder's facts, or its problems."""
    path = Path(str(params["path"])).expanduser()
    root = path if path.is_absolute() else spec_folder / path
    try:
        folder = read_folder(root)
    except FolderProblem as exc:
        return GeneratorFacts(problems=(Problem(exc.key, str(exc)),))
    try:
        problems = tuple(Problem(p.key, str(p)) for p in param_problems(folder, params))
        classes, shape = folder.num_classes, folder.image_shape
    except (KeyError, TypeError, ValueError) as exc:  # a config without the fields save_pretrained writes
        return GeneratorFacts(problems=(Problem("path", f"{root}: a component's config lacks or garbles {exc}; "
                                                f"re-save the pipeline with {SAVE_FIX}"),))
    return GeneratorFacts(num_classes=classes, image_shape=shape, params={**params, "path": str(root)},
                          problems=problems)
