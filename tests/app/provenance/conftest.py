"""Clips with real C2PA credentials, signed at test time by a chain made at test time."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.app.provenance.signing import Chain, sign
from tests.helpers import encode_image


def flip_media_byte(data: bytes) -> bytes:
    """`data` with one bit of its last frame's bytes in `mdat` flipped: a change the
    manifest's hash sees and the decoder does not."""
    at = data.index(b"mdat")
    size = int.from_bytes(data[at - 4 : at], "big")
    changed = bytearray(data)
    changed[at - 4 + size - 10] ^= 0x01
    return bytes(changed)


@pytest.fixture(scope="session")
def chain() -> Chain:
    return Chain.make()


@pytest.fixture(scope="session")
def anchors(chain: Chain, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The chain's root as a PEM trust-anchor file."""
    path = tmp_path_factory.mktemp("anchors") / "root.pem"
    path.write_bytes(chain.root_pem)
    return path


@pytest.fixture(scope="session")
def signed(chain: Chain, videos: dict[str, Path]) -> dict[str, bytes]:
    """The session's H.264 MP4, unsigned and signed, declaring AI generation or a camera,
    tampered with, truncated, with a remote manifest; and a signed JPEG."""
    clip = videos["h264"].read_bytes()
    generated = sign(chain, clip, "video/mp4")
    jpeg = encode_image(np.full((48, 64, 3), 128, np.uint8), "mjpeg")
    return {
        "unsigned": clip,
        "generated": generated,
        "captured": sign(chain, clip, "video/mp4", source_type="digitalCapture"),
        "tampered": flip_media_byte(generated),
        "truncated": generated[: len(generated) // 2],
        "remote": sign(chain, clip, "video/mp4", remote_url="https://credentials.example/clip.c2pa"),
        "jpeg": sign(chain, jpeg, "image/jpeg"),
    }
