"""Recipe presets (see fxtrain.nn.presets): fpl19, the calibrated family, sr16, float64."""
from .nn.presets import PRESETS, calibrated, float64, fpl19, sr16

__all__ = ["PRESETS", "calibrated", "float64", "fpl19", "sr16"]
