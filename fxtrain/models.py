"""Model zoo (see fxtrain.nn.models): cnn1x, cnn2x, cnn4x, lenet."""
from .nn.models import MODELS, cnn1x, cnn2x, cnn4x, cnn_layers, lenet

__all__ = ["MODELS", "cnn1x", "cnn2x", "cnn4x", "cnn_layers", "lenet"]
