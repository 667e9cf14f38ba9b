"""The bundled Fashion-MNIST zoo: networks, weights, training."""
