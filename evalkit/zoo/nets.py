"""Network architectures of the bundled Fashion-MNIST zoo.

Plain ``nn.Module``s with no evalkit logic: the generator wrappers in
``evalkit.zoo.models`` load weights into these and add the sampling protocol.
Every constructor takes its sizes as keyword arguments so a model card can name
them and a checkpoint's metadata can rebuild the same module.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn
from torch.nn import functional as F

NUM_CLASSES = 10


class FashionClassifier(nn.Module):
    """Small CNN; ``features`` is the 128-d penultimate layer used as evalkit's embedding."""

    def __init__(self, width: int = 32, feature_dim: int = 128, num_classes: int = NUM_CLASSES):
        super().__init__()
        w = width
        self.body = nn.Sequential(
            nn.Conv2d(1, w, 3, padding=1), nn.BatchNorm2d(w), nn.ReLU(),
            nn.Conv2d(w, w, 3, padding=1), nn.BatchNorm2d(w), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(w, 2 * w, 3, padding=1), nn.BatchNorm2d(2 * w), nn.ReLU(),
            nn.Conv2d(2 * w, 2 * w, 3, padding=1), nn.BatchNorm2d(2 * w), nn.ReLU(), nn.MaxPool2d(2),
            nn.Flatten(), nn.Dropout(0.25),
            nn.Linear(2 * w * 7 * 7, feature_dim), nn.ReLU(),
        )
        self.head = nn.Sequential(nn.Dropout(0.25), nn.Linear(feature_dim, num_classes))

    def features(self, x: Tensor) -> Tensor:
        return self.body((x - 0.5) / 0.5)

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.features(x))


class FashionEncoder(nn.Module):
    """Denoising convolutional autoencoder; ``features`` (the bottleneck) is a label-free embedding.

    Trained only to rebuild images from noised copies, never on labels, so its
    feature space does not share the classifier's class boundaries: FID in it
    is not a second vote of the label checker (Kynkäänniemi et al. 2023).
    """

    def __init__(self, width: int = 32, feature_dim: int = 128):
        super().__init__()
        w, self.feature_dim = width, feature_dim
        self.encoder = nn.Sequential(
            nn.Conv2d(1, w, 4, 2, 1), nn.LeakyReLU(0.2),  # 14x14
            nn.Conv2d(w, 2 * w, 4, 2, 1), nn.GroupNorm(8, 2 * w), nn.LeakyReLU(0.2),  # 7x7
            nn.Conv2d(2 * w, 2 * w, 3, 1, 1), nn.GroupNorm(8, 2 * w), nn.LeakyReLU(0.2),
            nn.Flatten(), nn.Linear(2 * w * 7 * 7, feature_dim),
        )
        self.decoder = nn.Sequential(
            nn.Linear(feature_dim, 2 * w * 7 * 7), nn.LeakyReLU(0.2), nn.Unflatten(1, (2 * w, 7, 7)),
            nn.ConvTranspose2d(2 * w, w, 4, 2, 1), nn.LeakyReLU(0.2),  # 14x14
            nn.ConvTranspose2d(w, 1, 4, 2, 1),  # 28x28
        )

    def features(self, x: Tensor) -> Tensor:
        return self.encoder(x * 2 - 1)

    def forward(self, x: Tensor) -> Tensor:
        """Bernoulli logits of the reconstruction."""
        return self.decoder(self.features(x))


class Standardizer(nn.Module):
    """Per-dimension (x - mean) / std, fitted once on the training split.

    An embedding's raw scale is an accident of training; FID and KID (whose cubic kernel
    reads x.y / d) are not scale-free, so every dimension is brought to unit variance and
    weighs the same. Kept apart from the network so the trained weights stay as trained.
    """

    mean: Tensor  # buffers (register_buffer), declared for the type checker
    std: Tensor

    def __init__(self, dim: int = 128):
        super().__init__()
        self.register_buffer("mean", torch.zeros(dim))
        self.register_buffer("std", torch.ones(dim))

    @torch.no_grad()
    def fit(self, x: Tensor) -> "Standardizer":
        x = x.double()
        self.mean.copy_(x.mean(0).float())
        self.std.copy_(x.std(0).clamp_min(1e-6).float())
        return self

    def forward(self, x: Tensor) -> Tensor:
        return (x - self.mean) / self.std


class DCGANGenerator(nn.Module):
    """Class-conditional DCGAN generator: (z, label) -> 1x28x28 image in [0, 1]."""

    def __init__(self, z_dim: int = 64, width: int = 64, num_classes: int = NUM_CLASSES):
        super().__init__()
        self.z_dim, self.num_classes = z_dim, num_classes
        self.embed = nn.Embedding(num_classes, z_dim)
        self.fc = nn.Sequential(nn.Linear(2 * z_dim, 2 * width * 7 * 7), nn.BatchNorm1d(2 * width * 7 * 7), nn.ReLU())
        self.width = width
        self.up = nn.Sequential(
            nn.ConvTranspose2d(2 * width, width, 4, 2, 1), nn.BatchNorm2d(width), nn.ReLU(),
            nn.ConvTranspose2d(width, width // 2, 4, 2, 1), nn.BatchNorm2d(width // 2), nn.ReLU(),
            nn.Conv2d(width // 2, 1, 3, padding=1),
        )

    def forward(self, z: Tensor, labels: Tensor) -> Tensor:
        h = self.fc(torch.cat([z, self.embed(labels)], dim=1)).view(-1, 2 * self.width, 7, 7)
        return torch.sigmoid(self.up(h))


class DCGANDiscriminator(nn.Module):
    """Projection discriminator (Miyato & Koyama) with spectral norm; input in [0, 1]."""

    def __init__(self, width: int = 64, num_classes: int = NUM_CLASSES):
        super().__init__()
        sn = nn.utils.spectral_norm
        self.body = nn.Sequential(
            sn(nn.Conv2d(1, width, 4, 2, 1)), nn.LeakyReLU(0.2),
            sn(nn.Conv2d(width, 2 * width, 4, 2, 1)), nn.LeakyReLU(0.2),
            sn(nn.Conv2d(2 * width, 2 * width, 3, 1, 1)), nn.LeakyReLU(0.2),
            nn.Flatten(),
        )
        dim = 2 * width * 7 * 7
        self.out = sn(nn.Linear(dim, 1))
        self.embed = sn(nn.Embedding(num_classes, dim))

    def forward(self, x: Tensor, labels: Tensor) -> Tensor:
        h = self.body(x * 2 - 1)
        return self.out(h).squeeze(1) + (self.embed(labels) * h).sum(1)


class ConditionalVAE(nn.Module):
    """Class-conditional VAE with a Bernoulli decoder and a learned per-class prior.

    The prior p(z | y) = N(mu_y, diag(sigma_y^2)) (the conditional prior of Sohn et
    al.'s CVAE): with a fixed N(0, I) prior the code z learns the class too, and
    prior samples then drift away from the asked class.
    """

    def __init__(self, z_dim: int = 16, width: int = 32, num_classes: int = NUM_CLASSES):
        super().__init__()
        self.z_dim, self.num_classes, self.width = z_dim, num_classes, width
        self.prior_mu = nn.Embedding(num_classes, z_dim)
        self.prior_logvar = nn.Embedding(num_classes, z_dim)
        nn.init.normal_(self.prior_mu.weight, std=1.0)
        nn.init.zeros_(self.prior_logvar.weight)
        self.enc = nn.Sequential(
            nn.Conv2d(1, width, 4, 2, 1), nn.ReLU(),
            nn.Conv2d(width, 2 * width, 4, 2, 1), nn.ReLU(), nn.Flatten(),
        )
        self.enc_fc = nn.Linear(2 * width * 7 * 7 + num_classes, 256)
        self.mu = nn.Linear(256, z_dim)
        self.logvar = nn.Linear(256, z_dim)
        self.dec_fc = nn.Sequential(
            nn.Linear(z_dim + num_classes, 256), nn.ReLU(), nn.Linear(256, 2 * width * 7 * 7), nn.ReLU()
        )
        self.dec = nn.Sequential(
            nn.ConvTranspose2d(2 * width, width, 4, 2, 1), nn.ReLU(),
            nn.ConvTranspose2d(width, 1, 4, 2, 1),
        )

    def _onehot(self, labels: Tensor) -> Tensor:
        return F.one_hot(labels, self.num_classes).float()

    def encode(self, x: Tensor, labels: Tensor) -> tuple[Tensor, Tensor]:
        h = F.relu(self.enc_fc(torch.cat([self.enc(x), self._onehot(labels)], 1)))
        return self.mu(h), self.logvar(h)

    def decode_logits(self, z: Tensor, labels: Tensor) -> Tensor:
        h = self.dec_fc(torch.cat([z, self._onehot(labels)], 1)).view(-1, 2 * self.width, 7, 7)
        return self.dec(h)

    def decode(self, z: Tensor, labels: Tensor) -> Tensor:
        return torch.sigmoid(self.decode_logits(z, labels))

    def prior(self, labels: Tensor) -> tuple[Tensor, Tensor]:
        return self.prior_mu(labels), self.prior_logvar(labels)


class ClassGaussians(nn.Module):
    """Per-class full-covariance Gaussians over a latent space (mean, Cholesky factor).

    Fitted to the posterior means of the training images, this is the "ex-post
    density estimation" of Ghosh et al. (2020): sampling the code from where the
    encoder actually puts each class gives samples the decoder renders faithfully.
    """

    mean: Tensor  # buffers (register_buffer), declared for the type checker
    chol: Tensor

    def __init__(self, num_classes: int = NUM_CLASSES, dim: int = 16):
        super().__init__()
        self.register_buffer("mean", torch.zeros(num_classes, dim))
        self.register_buffer("chol", torch.eye(dim).repeat(num_classes, 1, 1))

    @torch.no_grad()
    def fit(self, codes: Tensor, labels: Tensor) -> "ClassGaussians":
        for c in range(self.mean.shape[0]):
            z = codes[labels == c].double()
            cov = torch.cov(z.T) + 1e-5 * torch.eye(z.shape[1], dtype=torch.float64)
            self.mean[c] = z.mean(0).float()
            self.chol[c] = torch.linalg.cholesky(cov).float()
        return self

    def sample(self, labels: Tensor, eps: Tensor) -> Tensor:
        return self.mean[labels] + (self.chol[labels] @ eps[:, :, None]).squeeze(-1)


class LatentAutoencoder(nn.Module):
    """Autoencoder for latent diffusion: 1x28x28 <-> C x7x7 (standardised afterwards)."""

    latent_mean: Tensor  # buffers (register_buffer), declared for the type checker
    latent_std: Tensor

    def __init__(self, latent_channels: int = 4, width: int = 64):
        super().__init__()
        w = width
        self.enc = nn.Sequential(
            nn.Conv2d(1, w // 2, 3, 1, 1), nn.SiLU(),
            nn.Conv2d(w // 2, w, 4, 2, 1), nn.SiLU(),
            nn.Conv2d(w, w, 4, 2, 1), nn.SiLU(),
            nn.Conv2d(w, w, 3, 1, 1), nn.SiLU(),
            nn.Conv2d(w, latent_channels, 3, 1, 1),
        )
        self.dec = nn.Sequential(
            nn.Conv2d(latent_channels, w, 3, 1, 1), nn.SiLU(),
            nn.Conv2d(w, w, 3, 1, 1), nn.SiLU(),
            nn.ConvTranspose2d(w, w, 4, 2, 1), nn.SiLU(),
            nn.ConvTranspose2d(w, w // 2, 4, 2, 1), nn.SiLU(),
            nn.Conv2d(w // 2, 1, 3, 1, 1),
        )
        # Latent standardisation, fitted on the training set after the autoencoder
        # is trained, so the diffusion model sees unit-variance latents (as in LDM).
        self.register_buffer("latent_mean", torch.zeros(latent_channels, 1, 1))
        self.register_buffer("latent_std", torch.ones(latent_channels, 1, 1))

    def encode(self, x: Tensor) -> Tensor:
        return (self.enc(x * 2 - 1) - self.latent_mean) / self.latent_std

    def decode_logits(self, z: Tensor) -> Tensor:
        return self.dec(z * self.latent_std + self.latent_mean)

    def decode(self, z: Tensor) -> Tensor:
        return torch.sigmoid(self.decode_logits(z))


def timestep_embedding(t: Tensor, dim: int) -> Tensor:
    half = dim // 2
    freqs = torch.exp(-math.log(10000.0) * torch.arange(half, device=t.device, dtype=torch.float32) / half)
    args = t.float()[:, None] * freqs[None]
    return torch.cat([torch.cos(args), torch.sin(args)], dim=1)


class _ResBlock(nn.Module):
    def __init__(self, ch: int, emb_dim: int):
        super().__init__()
        self.n1, self.c1 = nn.GroupNorm(8, ch), nn.Conv2d(ch, ch, 3, 1, 1)
        self.emb = nn.Linear(emb_dim, 2 * ch)
        self.n2, self.c2 = nn.GroupNorm(8, ch), nn.Conv2d(ch, ch, 3, 1, 1)

    def forward(self, x: Tensor, emb: Tensor) -> Tensor:
        h = self.c1(F.silu(self.n1(x)))
        scale, shift = self.emb(emb)[:, :, None, None].chunk(2, dim=1)
        h = self.n2(h) * (1 + scale) + shift
        return x + self.c2(F.silu(h))


class LatentDenoiser(nn.Module):
    """Noise predictor on C x7x7 latents, conditioned on timestep and class.

    Class index ``num_classes`` is the "no class" token used for classifier-free
    guidance (the label is dropped to it during training).
    """

    def __init__(self, latent_channels: int = 4, width: int = 96, blocks: int = 4, num_classes: int = NUM_CLASSES):
        super().__init__()
        self.num_classes, self.width = num_classes, width
        emb = 4 * width
        self.t_mlp = nn.Sequential(nn.Linear(width, emb), nn.SiLU(), nn.Linear(emb, emb))
        self.c_embed = nn.Embedding(num_classes + 1, emb)
        self.inp = nn.Conv2d(latent_channels, width, 3, 1, 1)
        self.blocks = nn.ModuleList(_ResBlock(width, emb) for _ in range(blocks))
        self.out = nn.Sequential(nn.GroupNorm(8, width), nn.SiLU(), nn.Conv2d(width, latent_channels, 3, 1, 1))

    def forward(self, z: Tensor, t: Tensor, labels: Tensor) -> Tensor:
        emb = F.silu(self.t_mlp(timestep_embedding(t, self.width)) + self.c_embed(labels))
        h = self.inp(z)
        for block in self.blocks:
            h = block(h, emb)
        return self.out(h)


def ddpm_alphas_cumprod(timesteps: int = 1000, beta_start: float = 0.00085, beta_end: float = 0.012) -> Tensor:
    """The "scaled linear" schedule of latent diffusion, in float64."""
    betas = torch.linspace(beta_start**0.5, beta_end**0.5, timesteps, dtype=torch.float64) ** 2
    return torch.cumprod(1.0 - betas, dim=0)
