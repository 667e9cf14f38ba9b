"""Tiny random diffusers pipelines, built in a test and saved with save_pretrained: real
UNet2DModel / DiTTransformer2DModel / AutoencoderKL weights of a few tens of thousands of
parameters, sampling in milliseconds on a CPU."""

from __future__ import annotations

from pathlib import Path

import torch

STEPS = 3  # denoising steps the tests sample with: enough to run the scheduler's loop, cheap
DDPM_SHAPE = (1, 8, 8)
DIT_SHAPE = (3, 8, 8)


def tiny_unet():
    from diffusers import UNet2DModel

    torch.manual_seed(0)
    return UNet2DModel(sample_size=8, in_channels=1, out_channels=1, layers_per_block=1, block_out_channels=(8, 16),
                       down_block_types=("DownBlock2D", "DownBlock2D"), up_block_types=("UpBlock2D", "UpBlock2D"),
                       norm_num_groups=4).eval()


def ddpm_pipeline(folder: Path | None = None, *, safe: bool = True):
    """An unconditional 1x8x8 DDPMPipeline (100 training timesteps), saved to ``folder`` when given."""
    from diffusers import DDPMPipeline, DDPMScheduler

    pipe = DDPMPipeline(unet=tiny_unet(), scheduler=DDPMScheduler(num_train_timesteps=100))
    if folder is not None:
        pipe.save_pretrained(folder, safe_serialization=safe)
    return _quiet(pipe)


def ddim_pipeline(folder: Path | None = None):
    from diffusers import DDIMPipeline, DDIMScheduler

    pipe = DDIMPipeline(unet=tiny_unet(), scheduler=DDIMScheduler(num_train_timesteps=100))
    if folder is not None:
        pipe.save_pretrained(folder)
    return _quiet(pipe)


def dit_pipeline(folder: Path | None = None, *, classes: int = 1000, scheduler=None):
    """A class-conditional 3x8x8 DiTPipeline: a one-layer DiT over 4x4x4 latents and a two-level VAE.
    ``classes`` is 1000 by default: DiTPipeline's guidance asks class 1000 as the unconditional one."""
    from diffusers import AutoencoderKL, DDIMScheduler, DiTPipeline, DiTTransformer2DModel

    torch.manual_seed(1)
    transformer = DiTTransformer2DModel(num_attention_heads=2, attention_head_dim=8, in_channels=4, out_channels=8,
                                        num_layers=1, sample_size=4, patch_size=2, norm_num_groups=2,
                                        num_embeds_ada_norm=classes).eval()
    vae = AutoencoderKL(in_channels=3, out_channels=3, down_block_types=("DownEncoderBlock2D",) * 2,
                        up_block_types=("UpDecoderBlock2D",) * 2, block_out_channels=(8, 8), latent_channels=4,
                        norm_num_groups=4, layers_per_block=1, sample_size=8).eval()
    pipe = DiTPipeline(transformer=transformer, vae=vae, scheduler=scheduler or DDIMScheduler(num_train_timesteps=100))
    if folder is not None:
        pipe.save_pretrained(folder)
    return _quiet(pipe)


def _quiet(pipe):
    pipe.set_progress_bar_config(disable=True)
    return pipe
