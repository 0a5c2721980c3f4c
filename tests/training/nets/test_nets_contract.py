"""training/nets: every registered net follows the BinaryClassifier contract."""

import pytest
import torch

from training.nets import CLASS_NAMES, NETS, BinaryClassifier

NAMES = NETS.names()


@pytest.fixture(scope="module", params=NAMES)
def net(request: pytest.FixtureRequest) -> BinaryClassifier:
    torch.manual_seed(0)
    return NETS.build(request.param)


def _batch(n: int = 2, size: int = 64) -> torch.Tensor:
    return torch.rand(n, 3, size, size, generator=torch.Generator().manual_seed(1))


def test_declares_its_shape_contract(net: BinaryClassifier) -> None:
    assert net.num_classes == len(CLASS_NAMES) == 2
    assert len(net.input_size) == 3 and net.input_size[0] == 3
    assert len(net.feature_channels) == len(net.feature_strides) >= 2
    assert net.feature_strides == sorted(net.feature_strides) and net.feature_strides[-1] == 32


def test_intermediates_match_the_declared_channels_and_strides(net: BinaryClassifier) -> None:
    x = _batch()
    with torch.no_grad():
        maps = net.eval().forward_intermediates(x)
    assert [tuple(m.shape) for m in maps] == [
        (2, c, 64 // s, 64 // s) for c, s in zip(net.feature_channels, net.feature_strides, strict=True)
    ]


def test_forward_is_head_of_features_and_the_last_intermediate_is_the_feature_map(
    net: BinaryClassifier,
) -> None:
    x = _batch()
    with torch.no_grad():
        net.eval()
        logits = net(x)
        features = net.forward_features(x)
        last = net.forward_intermediates(x)[-1]
        assert logits.shape == (2, 2)
        assert torch.equal(features, last)
        assert torch.equal(net.forward_head(features), logits)


def test_channels_last_gives_the_same_logits_and_keeps_the_layout(
    net: BinaryClassifier,
) -> None:
    x = _batch()
    with torch.no_grad():
        net.eval()
        reference = net.forward_features(x)
        net.to(memory_format=torch.channels_last)
        try:
            features = net.forward_features(x.contiguous(memory_format=torch.channels_last))
        finally:
            net.to(memory_format=torch.contiguous_format)
    assert features.is_contiguous(memory_format=torch.channels_last)
    torch.testing.assert_close(features, reference, rtol=1e-4, atol=1e-5)


def test_training_step_keeps_activations_at_unit_scale_and_uses_every_parameter(
    net: BinaryClassifier,
) -> None:
    net.train()
    net.zero_grad()
    maps = net.forward_intermediates(_batch(4))
    for m in maps:  # PyTorch's default init shrinks these towards 1e-10 in deep narrow nets
        assert 0.1 < float(m.detach().std()) < 10.0
    net.forward_head(maps[-1]).logsumexp(1).mean().backward()
    unused = [n for n, p in net.named_parameters() if p.grad is None]
    assert unused == []
    net.zero_grad()
    net.eval()


def test_builders_take_num_classes() -> None:
    for name in NAMES:
        net = NETS.build(name, num_classes=5).eval()
        with torch.no_grad():
            assert net(_batch(1)).shape == (1, 5)
