"""``python -m evalkit.zoo._train_cli NAME [EPOCHS]``: training without the full CLI (for background runs)."""
import logging
import sys

import torch

from .train import train

if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    torch.set_num_threads(1)
    epochs = int(sys.argv[2]) if len(sys.argv) > 2 else None
    train(sys.argv[1], out="models/training", progress=False, epochs=epochs)
