"""The bundled zoo as evalkit generators and the ``fashion-classifier`` and ``fashion-encoder`` extractors.

Weights live in ``models/<name>.safetensors`` (in a source checkout) or in the
package's ``_models`` folder (in a wheel); ``$EVALKIT_MODELS`` overrides both.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch
from torch import Tensor, nn

from .._errors import CheckpointError, UsageError
from .._digest import file_sha256
from ..observe.features import Extractor
from . import nets
from .weights import build_from_metadata, load_module, read_weights

IMAGE_SHAPE = (1, 28, 28)


def models_dir() -> Path:
    if env := os.environ.get("EVALKIT_MODELS"):
        return Path(env)
    pkg = Path(__file__).resolve().parent.parent
    for cand in (pkg / "_models", pkg.parent / "models"):
        if cand.is_dir():
            return cand
    return pkg.parent / "models"


def weights_path(name: str, checkpoint: str | Path | None = None) -> Path:
    path = Path(checkpoint) if checkpoint else models_dir() / f"{name}.safetensors"
    if not path.is_file():
        raise CheckpointError(
            f"weights of {name!r} not found at {path}; retrain with `evalkit train {name}` "
            "or point $EVALKIT_MODELS at the folder that holds them"
        )
    return path


def _check_labels(labels: Tensor | None, n: int, num_classes: int, generator: torch.Generator, device) -> Tensor:
    if labels is None:
        return torch.randint(0, num_classes, (n,), generator=generator, device=device)
    if not isinstance(labels, Tensor) or labels.ndim != 1 or labels.shape[0] != n:
        raise UsageError(f"labels must be a 1-d tensor of length n={n}, got {getattr(labels, 'shape', labels)!r}")
    if labels.dtype.is_floating_point:
        raise UsageError(f"labels must be integer class indices, got dtype {labels.dtype}")
    if n and (int(labels.min()) < 0 or int(labels.max()) >= num_classes):
        raise UsageError(f"labels must lie in 0..{num_classes - 1}, got values from {int(labels.min())} to {int(labels.max())}")
    return labels.long().to(device)


class _ZooGenerator(nn.Module):
    image_shape = IMAGE_SHAPE
    num_classes = nets.NUM_CLASSES
    weights_file: Path

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device


class DCGAN(_ZooGenerator):
    """Class-conditional DCGAN (projection discriminator, hinge loss, EMA generator)."""

    def __init__(self, checkpoint: str | Path | None = None):
        super().__init__()
        self.weights_file = weights_path("fashion-dcgan", checkpoint)
        tensors, self.info = read_weights(self.weights_file)
        self.net = load_module(nets.DCGANGenerator(), self.weights_file, "generator", tensors).eval()

    @torch.no_grad()
    def sample(self, n: int, *, labels: Tensor | None = None, generator: torch.Generator) -> Tensor:
        y = _check_labels(labels, n, self.num_classes, generator, self.device)
        z = torch.randn(n, self.net.z_dim, generator=generator, device=self.device)
        return self.net(z, y)


class VAE(_ZooGenerator):
    """Class-conditional VAE; codes drawn from per-class Gaussians fitted ex post (Bernoulli mean)."""

    def __init__(self, checkpoint: str | Path | None = None, temperature: float = 1.0):
        super().__init__()
        if temperature < 0:
            raise UsageError(f"temperature must be >= 0, got {temperature}")
        self.temperature = temperature
        self.weights_file = weights_path("fashion-vae", checkpoint)
        tensors, self.info = read_weights(self.weights_file)
        kwargs = self.info.get("kwargs", {}) if isinstance(self.info, dict) else {}
        model_tensors = {k: v for k, v in tensors.items() if not k.startswith("expost.")}
        self.net = load_module(build_from_metadata(nets.ConditionalVAE, kwargs, self.weights_file, model_tensors),
                               self.weights_file, "", model_tensors).eval()
        self.expost: nets.ClassGaussians | None = None
        if any(k.startswith("expost.") for k in tensors):
            self.expost = load_module(nets.ClassGaussians(self.net.num_classes, self.net.z_dim), self.weights_file,
                                      "expost", tensors)

    @torch.no_grad()
    def sample(self, n: int, *, labels: Tensor | None = None, generator: torch.Generator) -> Tensor:
        y = _check_labels(labels, n, self.num_classes, generator, self.device)
        eps = torch.randn(n, self.net.z_dim, generator=generator, device=self.device) * self.temperature
        if self.expost is not None:  # ex-post class densities (see ClassGaussians), when the file has them
            return self.net.decode(self.expost.sample(y, eps), y)
        mu, logvar = self.net.prior(y)
        return self.net.decode(mu + eps * (0.5 * logvar).exp(), y)

    def reconstruct(self, images: Tensor, labels: Tensor) -> Tensor:
        """Encode and decode (posterior mean): the VAE's reconstruction of ``images``."""
        mu, _ = self.net.encode(images.to(self.device), labels.long().to(self.device))
        return self.net.decode(mu, labels.long().to(self.device))


class LatentDiffusion(_ZooGenerator):
    """Class-conditional latent diffusion: DDIM sampling with classifier-free guidance.

    ``guidance`` w mixes the noise predictions as eps_u + w (eps_c - eps_u):
    w = 1 is the plain conditional model, w = 0 the unconditional one.
    """

    DEFAULT_STEPS = 25
    DEFAULT_GUIDANCE = 2.0
    acp: Tensor  # a buffer (register_buffer), declared for the type checker

    def __init__(self, checkpoint: str | Path | None = None, steps: int = DEFAULT_STEPS, guidance: float = DEFAULT_GUIDANCE):
        super().__init__()
        if not isinstance(steps, int) or isinstance(steps, bool) or steps <= 0:
            raise UsageError(f"steps must be a positive integer, got {steps!r}")
        if not isinstance(guidance, (int, float)) or guidance < 0:
            raise UsageError(f"guidance must be >= 0, got {guidance!r}")
        self.steps, self.guidance = steps, float(guidance)
        self.weights_file = weights_path("fashion-ddpm", checkpoint)
        tensors, self.info = read_weights(self.weights_file)
        kwargs = self.info.get("kwargs", {}) if isinstance(self.info, dict) else {}
        denoiser = build_from_metadata(nets.LatentDenoiser, kwargs, self.weights_file,
                                       {k: v for k, v in tensors.items() if k.startswith("denoiser.")})
        self.denoiser = load_module(denoiser, self.weights_file, "denoiser", tensors).eval()
        self.autoencoder = load_module(nets.LatentAutoencoder(), self.weights_file, "autoencoder", tensors).eval()
        self.register_buffer("acp", nets.ddpm_alphas_cumprod().float())
        if self.steps > len(self.acp):
            raise UsageError(f"steps must be at most {len(self.acp)}, got {self.steps}")

    def timesteps(self) -> list[int]:
        T = len(self.acp)
        return sorted({round(x) for x in torch.linspace(T - 1, 0, self.steps).tolist()}, reverse=True)

    @torch.no_grad()
    def sample(self, n: int, *, labels: Tensor | None = None, generator: torch.Generator) -> Tensor:
        dev = self.device
        y = _check_labels(labels, n, self.num_classes, generator, dev)
        z = torch.randn(n, 4, 7, 7, generator=generator, device=dev)
        null = torch.full_like(y, self.num_classes)
        ts = self.timesteps()
        for i, t in enumerate(ts):
            a = self.acp[t]
            a_prev = self.acp[ts[i + 1]] if i + 1 < len(ts) else torch.tensor(1.0, device=dev)
            tt = torch.full((n,), t, device=dev, dtype=torch.long)
            if self.guidance == 1.0:
                eps = self.denoiser(z, tt, y)
            else:
                e = self.denoiser(torch.cat([z, z]), torch.cat([tt, tt]), torch.cat([y, null]))
                e_c, e_u = e.chunk(2)
                eps = e_u + self.guidance * (e_c - e_u)
            z0 = (z - (1 - a).sqrt() * eps) / a.sqrt()
            z = a_prev.sqrt() * z0 + (1 - a_prev).sqrt() * eps
        return self.autoencoder.decode(z)


class FashionClassifierFeatures(Extractor):
    """The bundled CNN: 128-d penultimate features and 10-class logits."""

    def __init__(self, device, checkpoint: str | Path | None = None):
        path = weights_path("fashion-classifier", checkpoint)
        self.net = load_module(nets.FashionClassifier(), path).to(device).eval()
        self.name, self.dim, self.num_classes = "fashion-classifier", 128, nets.NUM_CLASSES
        self.digest = "fashion-classifier:" + file_sha256(path)

    @torch.no_grad()
    def features_and_logits(self, images: Tensor) -> tuple[Tensor, Tensor]:
        f = self.net.features(images)
        return f, self.net.head(f)

    def features(self, images: Tensor) -> Tensor:
        return self.features_and_logits(images)[0]


class FashionEncoderFeatures(Extractor):
    """The bundled label-free encoder: 128-d bottleneck of a denoising autoencoder, standardised; no logits."""

    def __init__(self, device, checkpoint: str | Path | None = None):
        path = weights_path("fashion-encoder", checkpoint)
        tensors, info = read_weights(path)
        kwargs = info.get("kwargs", {}) if isinstance(info, dict) else {}
        model = {k: v for k, v in tensors.items() if not k.startswith("standardize.")}
        net = build_from_metadata(nets.FashionEncoder, kwargs, path, model)
        self.net = load_module(net, path, "", model).to(device).eval()
        self.name, self.dim = "fashion-encoder", self.net.feature_dim
        self.standardize = load_module(nets.Standardizer(self.dim), path, "standardize", tensors).to(device)
        self.digest = "fashion-encoder:" + file_sha256(path)

    @torch.no_grad()
    def features(self, images: Tensor) -> Tensor:
        return self.standardize(self.net.features(images))


def _factory(cls):
    def make(*, device: torch.device, checkpoint: str | None = None, **params):
        return cls(checkpoint=checkpoint, **params).to(device)

    make.__doc__ = cls.__doc__
    make.params = cls.__init__  # for spec-time argument checking
    return make


# the registered generators and extractor; their declarations live in evalkit._builtins
fashion_dcgan = _factory(DCGAN)
fashion_vae = _factory(VAE)
fashion_ddpm = _factory(LatentDiffusion)


def _check_shape(name: str, image_shape) -> None:
    if tuple(image_shape) != IMAGE_SHAPE:
        from .._errors import SpecError

        raise SpecError(
            f"features {name!r} reads 1x28x28 images, but the samples are {'x'.join(map(str, image_shape))}; "
            "use `features: pixels`, a TorchScript file, or a module:attribute extractor"
        )


def fashion_classifier(image_shape, device) -> Extractor:
    _check_shape("fashion-classifier", image_shape)
    return FashionClassifierFeatures(device)


def fashion_encoder(image_shape, device) -> Extractor:
    _check_shape("fashion-encoder", image_shape)
    return FashionEncoderFeatures(device)
