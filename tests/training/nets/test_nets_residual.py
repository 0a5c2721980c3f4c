"""training/nets/residual.py: the fixed SRM filters and the residual teacher."""

import numpy as np
import pytest
import torch

from training.nets import NETS
from training.nets.residual import SRM_KERNELS, SRMFilter, SRMResNet


def test_srm_filters_are_fixed_and_not_in_the_state_dict() -> None:
    net = NETS.build("srm_resnet")
    assert list(net.srm.parameters()) == []
    assert not any(key.startswith("srm.") for key in net.state_dict())


def test_every_kernel_sums_to_zero_so_flat_regions_give_no_residual() -> None:
    assert [int(np.sum(k)) for k in SRM_KERNELS] == [0, 0, 0]
    flat = torch.full((1, 3, 12, 12), 0.37)
    residual = SRMFilter()(flat)
    assert residual.shape == (1, 9, 12, 12)
    assert residual[..., 2:-2, 2:-2].abs().max() < 1e-4  # borders see the zero padding


def test_an_impulse_reproduces_the_scaled_kernels() -> None:
    x = torch.zeros(1, 3, 9, 9)
    x[0, 1, 4, 4] = 1 / 255  # one grey level in the green channel
    residual = SRMFilter(threshold=3.0)(x)[0]
    scales = (12.0, 4.0, 2.0)
    for i, (kernel, q) in enumerate(zip(SRM_KERNELS, scales, strict=True)):
        expected = np.array(kernel, dtype=np.float32)[::-1, ::-1] / q / 3.0
        np.testing.assert_allclose(residual[3 + i, 2:7, 2:7].numpy(), expected, atol=1e-6)
    assert residual[:3].abs().max() == 0 and residual[6:].abs().max() == 0


def test_residuals_are_truncated_to_plus_minus_one() -> None:
    noise = torch.rand(1, 3, 16, 16, generator=torch.Generator().manual_seed(0))
    residual = SRMFilter()(noise)
    assert residual.min() == -1.0 and residual.max() == 1.0


def test_widths_must_name_four_stages() -> None:
    with pytest.raises(ValueError, match=r"widths must name 4 stages.*\[8, 16\]"):
        SRMResNet(widths=(8, 16))
