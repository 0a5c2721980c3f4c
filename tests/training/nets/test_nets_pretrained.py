"""Pretrained teachers: the offline ImageNet state dicts load strictly into the backbones."""

from collections.abc import Callable
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from training.nets import NETS, efficientnet_lite, mobilenetv2
from training.nets.base import load_backbone

PRETRAINED = {
    "mobilenetv2_100": (mobilenetv2.pretrained_path, mobilenetv2.HEAD_KEYS),
    "efficientnet_lite0": (efficientnet_lite.pretrained_path, efficientnet_lite.HEAD_KEYS),
}
Case = tuple[str, Callable[[], Path], tuple[str, ...]]


@pytest.fixture(scope="module", params=sorted(PRETRAINED))
def case(request: pytest.FixtureRequest) -> Case:
    path, head = PRETRAINED[request.param]
    return request.param, path, head


def test_every_backbone_tensor_comes_from_the_file_and_only_the_head_is_new(case: Case) -> None:
    name, path, head = case
    state = torch.load(path(), map_location="cpu", weights_only=True)
    net = NETS.build(name, pretrained=True)
    own = net.state_dict()
    assert set(own) == set(state)  # same names: nothing missing, nothing unexpected
    for key, value in state.items():
        if key in head:
            assert own[key].shape[0] == 2 and value.shape[0] == 1000
        else:
            assert torch.equal(own[key], value), key


def test_load_backbone_reports_what_it_left_alone(case: Case) -> None:
    name, path, head = case
    state = torch.load(path(), map_location="cpu", weights_only=True)
    assert load_backbone(NETS.build(name), state, head) == sorted(head)
    assert load_backbone(NETS.build(name, num_classes=1000), state, head) == []


def test_load_backbone_refuses_another_architecture() -> None:
    state = torch.load(mobilenetv2.pretrained_path(), map_location="cpu", weights_only=True)
    net = NETS.build("efficientnet_lite0")
    expected = (
        r"EfficientNetLite: pretrained backbone does not match; missing 245 keys "
        r"\['_blocks.0._bn1.bias', .*\] and 242 more, unexpected 314 keys "
        r"\['classifier.1.bias', .*\] and 311 more$"
    )
    with pytest.raises(RuntimeError, match=expected):
        load_backbone(net, state, efficientnet_lite.HEAD_KEYS)


def test_imagenet_weights_recognise_a_cat(case: Case) -> None:
    """End-to-end check of the architecture, padding and normalisation, not just names."""
    from skimage import data
    name, _, _ = case
    image = torch.from_numpy(data.chelsea()).permute(2, 0, 1)[None].float() / 255
    x = F.interpolate(image, size=(224, 224), mode="bilinear", antialias=True)
    net = NETS.build(name, pretrained=True, num_classes=1000).eval()
    with torch.no_grad():
        probs = net(x).softmax(1)[0]
    assert int(probs.argmax()) in range(281, 286)  # ImageNet's domestic cats
    assert float(probs[281:286].sum()) > 0.9
