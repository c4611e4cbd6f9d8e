"""Recipe presets (see fxtrain.nn.presets): fpl19, sr16, float64."""
from .nn.presets import PRESETS, float64, fpl19, sr16

__all__ = ["PRESETS", "float64", "fpl19", "sr16"]
