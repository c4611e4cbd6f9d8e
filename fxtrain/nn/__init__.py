"""Layers, the sequential network, recipes and their binding, the model zoo and presets."""
from .layers import Conv2d, Flatten, Linear, MaxPool2d, ReLU
from .network import Network
from .recipe import LayerPlan, Plan, Recipe, TensorSpec

__all__ = ["Conv2d", "Flatten", "LayerPlan", "Linear", "MaxPool2d", "Network", "Plan", "ReLU",
           "Recipe", "TensorSpec"]
