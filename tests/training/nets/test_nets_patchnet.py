"""PatchNet's stages: `depths` convs each, the first strided, counted by hand."""

import pytest

from training.nets import NETS, PatchNet
from training.nets.stats import count_flops


def test_patchnet_s_multiply_adds_by_hand() -> None:
    # 160 px: 4x4 stem to 40x40, then 3x3 convs: 16->32 at 20x20, 32->64 at 10x10, 64->128
    # and 128->128 at 5x5 (the last stage has depth 2); the head is a 128 x 2 linear layer
    stem = 3 * 16 * 4 * 4 * 40 * 40
    convs = 16 * 32 * 9 * 20 * 20 + 32 * 64 * 9 * 10 * 10 + (64 * 128 + 128 * 128) * 9 * 5 * 5
    assert count_flops(NETS.build("patchnet_s"), (3, 160, 160)) == stem + convs + 128 * 2


def test_each_stage_has_depth_convs_and_keeps_its_stride() -> None:
    net = PatchNet((8, 8, 8, 8), depths=(1, 3, 2))
    assert [len(stage) for stage in net.stages] == [1, 3, 2]
    assert [stage[0][0].stride for stage in net.stages] == [(2, 2)] * 3
    assert all(conv[0].stride == (1, 1) for stage in net.stages for conv in stage[1:])


@pytest.mark.parametrize("depths", [(1, 1), (1, 0, 1)])
def test_depths_must_give_three_stages_of_at_least_one_conv(depths: tuple[int, ...]) -> None:
    with pytest.raises(ValueError, match="depths must give 3 stages"):
        PatchNet((8, 8, 8, 8), depths=depths)
