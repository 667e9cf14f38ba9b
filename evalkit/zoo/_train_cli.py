"""``python -m evalkit.zoo._train_cli NAME``: training without the full CLI (used for background runs)."""
import logging
import sys

import torch

from .train import train

if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    torch.set_num_threads(1)
    train(sys.argv[1], out="models/training", progress=False)
