"""Teachers and students: one module per family, each registering its builders in
`NETS` (`training.nets.base`). Every net follows `BinaryClassifier`'s contract."""

from training.nets import efficientnet_lite, mobilenetv2, mobilenetv3, patchnet, residual
from training.nets.base import CLASS_NAMES, NETS, BinaryClassifier
from training.nets.efficientnet_lite import EfficientNetLite
from training.nets.mobilenetv2 import MobileNetV2
from training.nets.mobilenetv3 import MobileNetV3
from training.nets.patchnet import PatchNet
from training.nets.residual import SRMResNet
from training.nets.stats import count_flops, count_params

__all__ = [
    "CLASS_NAMES",
    "NETS",
    "BinaryClassifier",
    "EfficientNetLite",
    "MobileNetV2",
    "MobileNetV3",
    "PatchNet",
    "SRMResNet",
    "count_flops",
    "count_params",
    "efficientnet_lite",
    "mobilenetv2",
    "mobilenetv3",
    "patchnet",
    "residual",
]
