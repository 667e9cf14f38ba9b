"""Reproducible training of the bundled zoo (``evalkit train NAME``).

Every random draw is a function of (seed, step): the data order of epoch *e*
comes from a generator seeded by (seed, e), and the noise of step *s* from one
seeded by (seed, s). So a run interrupted and resumed from its last checkpoint
continues exactly as if it had never stopped. Checkpoints hold tensors only and
are read back with ``torch.load(weights_only=True)``, which never unpickles code.
"""

from __future__ import annotations

import copy
import json
import logging
import math
import platform
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from .._errors import UsageError
from .._io import atomic_write_bytes
from ..data import fashion
from . import nets
from .weights import save_weights

log = logging.getLogger(__name__)


def _seeded(seed: int, *parts: int) -> torch.Generator:
    g = torch.Generator()
    s = seed
    for p in parts:
        s = (s * 1_000_003 + p + 1) % (2**63 - 1)
    g.manual_seed(s)
    return g


@dataclass
class TrainConfig:
    """Hyper-parameters of one zoo model; every field is written to the model card."""

    epochs: int
    batch_size: int = 128
    lr: float = 2e-4
    seed: int = 0
    ema: float = 0.0
    extra: dict = field(default_factory=dict)


DEFAULTS: dict[str, TrainConfig] = {
    "fashion-classifier": TrainConfig(epochs=4, lr=1e-3),
    # another seed than the classifier's, and no labels: an independent feature space
    "fashion-encoder": TrainConfig(epochs=6, lr=1e-3, seed=1, extra={"noise": 0.2}),
    "fashion-vae": TrainConfig(epochs=10, lr=1e-3),
    "fashion-dcgan": TrainConfig(epochs=5, lr=2e-4, ema=0.999),
    "fashion-ddpm-autoencoder": TrainConfig(epochs=2, lr=1e-3),
    "fashion-ddpm": TrainConfig(epochs=22, lr=5e-4, ema=0.999, extra={"p_uncond": 0.1}),
}


class _Task:
    """One model's training: modules, optimisers, one step, and the exported weights."""

    name: str

    def __init__(self, cfg: TrainConfig, out: Path):
        self.cfg, self.out = cfg, out

    modules: dict[str, nn.Module]
    optims: dict[str, torch.optim.Optimizer]

    def step(self, x: Tensor, y: Tensor, g: torch.Generator, step: int) -> dict[str, float]:
        raise NotImplementedError

    def export(self) -> tuple[dict[str, nn.Module], dict]:
        """Modules to save (name -> module) and architecture metadata."""
        raise NotImplementedError

    def finish(self, x_train: Tensor, y_train: Tensor) -> dict:
        return {}

    def inputs(self, x_all: Tensor) -> Tensor:
        """What a step sees as ``x``: the images, or something computed from them once."""
        return x_all


class _Classifier(_Task):
    name = "fashion-classifier"

    def __init__(self, cfg, out):
        super().__init__(cfg, out)
        self.net = nets.FashionClassifier()
        self.modules = {"net": self.net}
        self.optims = {"net": torch.optim.Adam(self.net.parameters(), lr=cfg.lr)}
        self.total_steps = None

    def step(self, x, y, g, step):
        # Random horizontal flips: clothing is left-right symmetric, and it costs nothing.
        flip = torch.rand(x.shape[0], generator=g) < 0.5
        x = torch.where(flip[:, None, None, None], x.flip(3), x)
        self.net.train()
        loss = F.cross_entropy(self.net(x), y, label_smoothing=0.05)
        self.optims["net"].zero_grad()
        loss.backward()
        self.optims["net"].step()
        return {"loss": loss.item()}

    def export(self):
        return {"": self.net}, {"arch": "FashionClassifier", "kwargs": {}}

    def finish(self, x_train, y_train):
        xt, yt = fashion.load("test")
        xt = torch.from_numpy(xt).float().div(255).unsqueeze(1)
        self.net.eval()
        with torch.no_grad():
            pred = torch.cat([self.net(xt[i : i + 1000]).argmax(1) for i in range(0, len(xt), 1000)])
        acc = (pred == torch.from_numpy(yt)).float().mean().item()
        log.info("test accuracy %.4f", acc)
        return {"test_accuracy": acc}


class _Encoder(_Task):
    name = "fashion-encoder"

    def __init__(self, cfg, out):
        super().__init__(cfg, out)
        self.net = nets.FashionEncoder()
        self.modules = {"net": self.net}
        self.optims = {"net": torch.optim.Adam(self.net.parameters(), lr=cfg.lr)}

    def step(self, x, y, g, step):
        # The labels ``y`` are never read: the embedding must not learn the classifier's classes.
        flip = torch.rand(x.shape[0], generator=g) < 0.5
        x = torch.where(flip[:, None, None, None], x.flip(3), x)
        # Denoising (Vincent et al. 2008): rebuilding the clean image from a noised one
        # makes the code describe shapes rather than single pixels.
        noisy = (x + self.cfg.extra.get("noise", 0.2) * torch.randn(x.shape, generator=g)).clamp(0, 1)
        self.net.train()
        loss = F.binary_cross_entropy_with_logits(self.net(noisy), x)
        self.optims["net"].zero_grad()
        loss.backward()
        self.optims["net"].step()
        return {"loss": loss.item()}

    def finish(self, x_train, y_train):
        xt, _ = fashion.load("test")
        xt = torch.from_numpy(xt.copy()).float().div(255).unsqueeze(1)
        with torch.no_grad():
            bce = sum(F.binary_cross_entropy_with_logits(self.net(xt[i : i + 1000]), xt[i : i + 1000],
                                                         reduction="sum").item() for i in range(0, len(xt), 1000))
            codes = torch.cat([self.net.features(x_train[i : i + 2000]) for i in range(0, len(x_train), 2000)])
        rec = bce / xt.numel()
        log.info("test reconstruction BCE %.4f per pixel", rec)
        self.standardize = nets.Standardizer(self.net.feature_dim).fit(codes)
        return {"test_reconstruction_bce": rec,
                "standardize": "each feature scaled to mean 0 and std 1 over the training split"}

    def export(self):
        return {"": self.net, "standardize": self.standardize}, {"arch": "FashionEncoder", "kwargs": {}}


class _VAE(_Task):
    name = "fashion-vae"

    def __init__(self, cfg, out):
        super().__init__(cfg, out)
        self.kwargs = {k: cfg.extra[k] for k in ("width", "z_dim") if k in cfg.extra}
        self.net = nets.ConditionalVAE(**self.kwargs)
        self.modules = {"net": self.net}
        self.optims = {"net": torch.optim.Adam(self.net.parameters(), lr=cfg.lr)}

    def step(self, x, y, g, step):
        mu, logvar = self.net.encode(x, y)
        z = mu + torch.randn(mu.shape, generator=g) * (0.5 * logvar).exp()
        logits = self.net.decode_logits(z, y)
        rec = F.binary_cross_entropy_with_logits(logits, x, reduction="sum") / x.shape[0]
        pmu, plogvar = self.net.prior(y)
        # KL(N(mu, var) || N(pmu, pvar)) for diagonal Gaussians
        kl = 0.5 * (plogvar - logvar + (logvar.exp() + (mu - pmu).pow(2)) / plogvar.exp() - 1).sum() / x.shape[0]
        loss = rec + kl
        self.optims["net"].zero_grad()
        loss.backward()
        self.optims["net"].step()
        return {"rec": rec.item(), "kl": kl.item()}

    def finish(self, x_train, y_train):
        with torch.no_grad():
            codes = torch.cat([self.net.encode(x_train[i : i + 2000], y_train[i : i + 2000])[0]
                               for i in range(0, len(x_train), 2000)])
        self.expost = nets.ClassGaussians(self.net.num_classes, self.net.z_dim).fit(codes, y_train)
        return {"expost": "per-class Gaussians fitted to the training posterior means"}

    def export(self):
        return {"": self.net, "expost": self.expost}, {"arch": "ConditionalVAE", "kwargs": self.kwargs}


class _EMA:
    def __init__(self, net: nn.Module, decay: float):
        self.decay = decay
        self.net = copy.deepcopy(net).eval().requires_grad_(False)

    @torch.no_grad()
    def update(self, src: nn.Module, step: int) -> None:
        # Warm-up (as in Karras et al.'s EDM): early steps follow the raw weights closely.
        d = min(self.decay, (1 + step) / (10 + step))
        for e, s in zip(self.net.state_dict().values(), src.state_dict().values()):
            if e.dtype.is_floating_point:
                e.mul_(d).add_(s.detach(), alpha=1 - d)
            else:
                e.copy_(s)


class _DCGAN(_Task):
    name = "fashion-dcgan"

    def __init__(self, cfg, out):
        super().__init__(cfg, out)
        self.G, self.D = nets.DCGANGenerator(), nets.DCGANDiscriminator()
        self.ema = _EMA(self.G, cfg.ema)
        self.modules = {"G": self.G, "D": self.D, "G_ema": self.ema.net}
        self.optims = {
            "G": torch.optim.Adam(self.G.parameters(), lr=cfg.lr, betas=(0.5, 0.999)),
            "D": torch.optim.Adam(self.D.parameters(), lr=2 * cfg.lr, betas=(0.5, 0.999)),
        }

    def step(self, x, y, g, step):
        n = x.shape[0]
        z = torch.randn(n, self.G.z_dim, generator=g)
        fake = self.G(z, y)
        # Hinge loss (Lim & Ye; Miyato et al.).
        d_loss = F.relu(1 - self.D(x, y)).mean() + F.relu(1 + self.D(fake.detach(), y)).mean()
        self.optims["D"].zero_grad()
        d_loss.backward()
        self.optims["D"].step()
        g_loss = -self.D(fake, y).mean()
        self.optims["G"].zero_grad()
        g_loss.backward()
        self.optims["G"].step()
        self.ema.update(self.G, step)
        return {"d": d_loss.item(), "g": g_loss.item()}

    def export(self):
        # The EMA generator is what samples; the discriminator is kept for retraining.
        return {"generator": self.ema.net, "discriminator": self.D}, {"arch": "DCGANGenerator", "kwargs": {}}


class _Autoencoder(_Task):
    name = "fashion-ddpm-autoencoder"

    def __init__(self, cfg, out):
        super().__init__(cfg, out)
        self.net = nets.LatentAutoencoder()
        self.modules = {"net": self.net}
        self.optims = {"net": torch.optim.Adam(self.net.parameters(), lr=cfg.lr)}

    def step(self, x, y, g, step):
        z = self.net.enc(x * 2 - 1)
        # A small L2 pull on the latents keeps their scale bounded (the role of
        # LDM's tiny KL term) so the diffusion model sees a well-behaved space.
        logits = self.net.dec(z + 0.05 * torch.randn(z.shape, generator=g))
        loss = F.binary_cross_entropy_with_logits(logits, x) + 1e-4 * z.pow(2).mean()
        self.optims["net"].zero_grad()
        loss.backward()
        self.optims["net"].step()
        return {"loss": loss.item()}

    def finish(self, x_train, y_train):
        with torch.no_grad():
            zs = torch.cat([self.net.enc(x_train[i : i + 2000] * 2 - 1) for i in range(0, len(x_train), 2000)])
            self.net.latent_mean.copy_(zs.mean(dim=(0, 2, 3))[:, None, None])
            self.net.latent_std.copy_(zs.std(dim=(0, 2, 3))[:, None, None])
        return {"latent_std": self.net.latent_std.flatten().tolist()}

    def export(self):
        return {"": self.net}, {"arch": "LatentAutoencoder", "kwargs": {}}


DENOISER_KWARGS = {"width": 64, "blocks": 6}


class _LatentDiffusion(_Task):
    name = "fashion-ddpm"

    def __init__(self, cfg, out):
        super().__init__(cfg, out)
        from .weights import load_module

        ae_path = out.parent / "fashion-ddpm-autoencoder" / "fashion-ddpm-autoencoder.safetensors"
        if not ae_path.exists():
            ae_path = Path(cfg.extra.get("autoencoder", "models/fashion-ddpm-autoencoder.safetensors"))
        self.ae = load_module(nets.LatentAutoencoder(), ae_path).eval().requires_grad_(False)
        self.net = nets.LatentDenoiser(**DENOISER_KWARGS)
        self.ema = _EMA(self.net, cfg.ema)
        self.acp = nets.ddpm_alphas_cumprod().float()
        self.modules = {"net": self.net, "ema": self.ema.net}
        self.optims = {"net": torch.optim.AdamW(self.net.parameters(), lr=cfg.lr, weight_decay=0.0)}
        
    def inputs(self, x_all):
        # Encode the training set once: the autoencoder is frozen, so per-step
        # encoding would only repeat the same work.
        with torch.no_grad():
            return torch.cat([self.ae.encode(x_all[i : i + 1000]) for i in range(0, len(x_all), 1000)])

    def step(self, x, y, g, step):
        z0 = x
        n = x.shape[0]
        t = torch.randint(0, len(self.acp), (n,), generator=g)
        eps = torch.randn(z0.shape, generator=g)
        a = self.acp[t][:, None, None, None]
        zt = a.sqrt() * z0 + (1 - a).sqrt() * eps
        drop = torch.rand(n, generator=g) < self.cfg.extra.get("p_uncond", 0.1)
        y = torch.where(drop, torch.full_like(y, self.net.num_classes), y)
        loss = F.mse_loss(self.net(zt, t, y), eps)
        opt = self.optims["net"]
        opt.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(self.net.parameters(), 1.0)
        opt.step()
        self.ema.update(self.net, step)
        return {"loss": loss.item()}

    def export(self):
        return {"denoiser": self.ema.net, "autoencoder": self.ae}, {
            "arch": "LatentDiffusion", "kwargs": DENOISER_KWARGS,
        }


TASKS: dict[str, type[_Task]] = {
    t.name: t for t in (_Classifier, _Encoder, _VAE, _DCGAN, _Autoencoder, _LatentDiffusion)
}


def _cosine_lr(base: float, step: int, total: int, warmup: int = 200) -> float:
    if step < warmup:
        return base * (step + 1) / warmup
    return base * 0.5 * (1 + math.cos(math.pi * (step - warmup) / max(1, total - warmup)))


def train(
    name: str,
    *,
    out: Path | str = "models/training",
    epochs: int | None = None,
    seed: int | None = None,
    checkpoint_every: int = 500,
    progress: bool = True,
    max_steps: int | None = None,
    export_early: bool = False,
) -> Path:
    """Train zoo model ``name``; return the path of its exported ``.safetensors``.

    Resumes from ``OUT/NAME/checkpoint.pt`` when it exists. ``max_steps`` stops
    early (for tests), leaving a resumable checkpoint.
    """
    cfg = _config(name, epochs, seed)
    run_dir = Path(out) / name
    run_dir.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(cfg.seed)  # module initialisation
    task = TASKS[name](cfg, run_dir)

    images, labels = fashion.load("train")
    x_all = torch.from_numpy(images.copy()).float().div(255).unsqueeze(1)
    y_all = torch.from_numpy(labels)
    n = len(x_all)
    inputs = task.inputs(x_all)
    steps_per_epoch = n // cfg.batch_size
    total = cfg.epochs * steps_per_epoch

    ckpt_path = run_dir / "checkpoint.pt"
    step, elapsed = _resume(task, ckpt_path, name)
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=total, initial=step, desc=name, unit="step")
    t_start = time.monotonic() - elapsed
    for m in task.modules.values():
        m.train()
    while step < total and (max_steps is None or step < max_steps):
        epoch, within = divmod(step, steps_per_epoch)
        perm = torch.randperm(n, generator=_seeded(cfg.seed, 0, epoch))
        idx = perm[within * cfg.batch_size : (within + 1) * cfg.batch_size]
        _set_learning_rates(task, cfg.lr, step, total)
        losses = task.step(inputs[idx], y_all[idx], _seeded(cfg.seed, 1, step), step)
        step += 1
        elapsed = time.monotonic() - t_start
        _show_progress(bar, name, step, total, losses)
        if step % checkpoint_every == 0:
            _save_checkpoint(task, ckpt_path, step, elapsed)
    if bar is not None:
        bar.close()
    _save_checkpoint(task, ckpt_path, step, elapsed)
    if step < total and not export_early:
        log.info("stopped at step %d of %d (max_steps); resume with the same command", step, total)
        return ckpt_path
    return _export(name, task, cfg, run_dir, (x_all, y_all), step, elapsed)


def _config(name: str, epochs: int | None, seed: int | None):
    """The task's default configuration with the command line's overrides; an unknown name is refused."""
    if name not in TASKS:
        import difflib

        near = difflib.get_close_matches(name, TASKS, n=1)
        hint = f"; did you mean {near[0]!r}?" if near else ""
        raise UsageError(f"no trainable zoo model {name!r}{hint} (choose from {', '.join(TASKS)})")
    cfg = copy.deepcopy(DEFAULTS[name])
    if epochs is not None:
        cfg.epochs = epochs
    if seed is not None:
        cfg.seed = seed
    return cfg


def _resume(task, ckpt_path: Path, name: str) -> tuple[int, float]:
    """(step, elapsed seconds) of the checkpoint, its modules and optimisers loaded; (0, 0.0) without one."""
    if not ckpt_path.exists():
        return 0, 0.0
    state = torch.load(ckpt_path, weights_only=True)
    for k, m in task.modules.items():
        m.load_state_dict(state["modules"][k])
    for k, o in task.optims.items():
        o.load_state_dict(state["optims"][k])
    log.info("resumed %s at step %d", name, int(state["step"]))
    return int(state["step"]), float(state["elapsed"])


def _save_checkpoint(task, ckpt_path: Path, step: int, elapsed: float) -> None:
    import io

    buf = io.BytesIO()
    torch.save(
        {
            "modules": {k: m.state_dict() for k, m in task.modules.items()},
            "optims": {k: o.state_dict() for k, o in task.optims.items()},
            "step": step,
            "elapsed": elapsed,
        },
        buf,
    )
    atomic_write_bytes(ckpt_path, buf.getvalue())


def _set_learning_rates(task, lr: float, step: int, total: int) -> None:
    for o in task.optims.values():
        for group in o.param_groups:
            group["lr"] = _cosine_lr(lr if group is o.param_groups[0] else group["lr"], step, total)
    # The discriminator runs at twice the generator's rate (TTUR); keep that ratio.
    if "D" in task.optims:
        for group in task.optims["D"].param_groups:
            group["lr"] = 2 * _cosine_lr(lr, step, total)


def _show_progress(bar, name: str, step: int, total: int, losses: dict) -> None:
    if bar is not None:
        bar.update(1)
        if step % 20 == 0:
            bar.set_postfix({k: f"{v:.3f}" for k, v in losses.items()})
    elif step % 200 == 0:
        log.info("%s step %d/%d %s", name, step, total, losses)


def _export(name: str, task, cfg, run_dir: Path, data: tuple, step: int, elapsed: float) -> Path:
    """The trained modules as ``NAME.safetensors`` with their training record beside (``training.json``)."""
    for m in task.modules.values():
        m.eval()
    summary = task.finish(*data)
    modules, meta = task.export()
    info = {
        "name": name,
        "config": {k: v for k, v in cfg.__dict__.items()},
        "steps": step,
        "train_seconds": round(elapsed, 1),
        "device": "cpu",
        "threads": torch.get_num_threads(),
        "machine": platform.machine(),
        "torch": torch.__version__,
        "train_data_sha256": fashion.sha256("train"),
        "command": f"evalkit train {name} --epochs {cfg.epochs} --seed {cfg.seed}",
        **summary,
    }
    path = run_dir / f"{name}.safetensors"
    save_weights(path, modules, {**meta, "training": info})
    atomic_write_bytes(run_dir / "training.json", json.dumps(info, indent=2).encode())
    log.info("wrote %s", path)
    return path
