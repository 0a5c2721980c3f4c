"""The service as a real uvicorn process: uploads over HTTP, disconnects, start-up checks."""

from __future__ import annotations

import json
import re
import socket
import subprocess
import sys
from pathlib import Path

import httpx
import numpy as np
import onnx
import pytest

from tests.baseline import build_baseline
from tests.e2e.processes import Service


def test_upload_over_real_http(service: Service, videos: dict[str, Path]) -> None:
    with videos["h264"].open("rb") as f:
        response = httpx.post(
            f"{service.url}/v1/screen", files={"file": ("clip.mp4", f, "video/mp4")}, timeout=60
        )
    assert response.status_code == 200, response.text
    assert response.json()["video"]["frames_screened"] == 48


def _abandon(service: Service, body: bytes, declared: int) -> None:
    """Send a request, then hang up without reading the answer."""
    host, port = service.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port))) as sock:
        head = (
            "POST /v1/screen HTTP/1.1\r\nHost: x\r\nContent-Type: video/mp4\r\n"
            f"Content-Length: {declared}\r\n\r\n"
        )
        sock.sendall(head.encode() + body)


def test_the_server_process_never_loads_torch(service: Service) -> None:
    maps = Path(f"/proc/{service.process.pid}/maps").read_text()
    assert "onnxruntime" in maps and "libtorch" not in maps


def test_disconnects_leave_no_open_file_behind(service: Service, videos: dict[str, Path]) -> None:
    httpx.get(f"{service.url}/healthz")
    baseline = service.open_files()
    data = videos["h264"].read_bytes()
    _abandon(service, data[:20_000], declared=len(data))  # mid-upload
    _abandon(service, data, declared=len(data))  # mid-screening
    service.wait_released(baseline, 30, "spooled uploads to be closed")
    assert httpx.get(f"{service.url}/healthz").status_code == 200


def _peak_rss_bytes(service: Service) -> int:
    status = Path(f"/proc/{service.process.pid}/status").read_text()
    return int(re.search(r"VmHWM:\s+(\d+) kB", status).group(1)) * 1024


@pytest.mark.parametrize("multipart", [False, True])
def test_a_large_upload_is_spooled_not_held_in_memory(service: Service, multipart: bool) -> None:
    size = 64 * 1024 * 1024
    # seeded: about 1 in 150 random buffers probes as a lyrics file (no_video_stream, 422)
    chunk = np.random.default_rng(0).bytes(1024 * 1024)
    before = _peak_rss_bytes(service)
    if multipart:
        boundary = "b0undary"
        head = f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="x.mp4"\r\n\r\n'
        parts = [head.encode(), *[chunk] * 64, f"\r\n--{boundary}--\r\n".encode()]
        headers = {"content-type": f"multipart/form-data; boundary={boundary}"}
    else:
        parts, headers = [chunk] * 64, {"content-type": "video/mp4"}
    response = httpx.post(f"{service.url}/v1/screen", content=iter(parts), headers=headers, timeout=60)
    assert response.status_code == 415 and response.json()["error"]["code"] == "not_a_video"
    assert _peak_rss_bytes(service) - before < size // 4  # the body never sat in memory


def test_serve_refuses_a_model_without_a_card(tmp_path: Path) -> None:
    model = build_baseline(size=32)
    del model.metadata_props[:]
    bare = tmp_path / "bare.onnx"
    onnx.save(model, bare)
    result = subprocess.run(
        [sys.executable, "-m", "app.cli", "serve", "--model", str(bare), "--port", "1"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert f"{bare}: no model card" in result.stdout + result.stderr


@pytest.mark.parametrize(("sampling", "indices"), [(["--every-n", "4"], list(range(0, 48, 4))),
                                                   (["--frames", "3"], [0, 16, 32]), (["--keyframes"], [0])])
def test_screen_command_never_imports_torch(
    videos: dict[str, Path], model_path: Path, sampling: list[str], indices: list[int]
) -> None:
    argv = ["screen", str(videos["h264"]), "--model", str(model_path), "--json", *sampling]
    code = (
        "import sys, contextlib, io\n"
        "from app.cli import main\n"
        "out = io.StringIO()\n"
        "with contextlib.redirect_stdout(out):\n"
        f"    rc = main({argv!r})\n"
        "assert 'torch' not in sys.modules, 'torch was imported'\n"
        "print(out.getvalue())\n"
        "sys.exit(rc)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    body = json.loads(result.stdout)
    assert [f["index"] for f in body["frames"]] == indices


def test_screen_command_answers_where_the_model_looks(
    videos: dict[str, Path], attention_model_path: Path, model_path: Path
) -> None:
    command = [sys.executable, "-m", "app.cli", "screen", str(videos["h264"]), "--frames", "3", "--heatmap"]
    answer = subprocess.run([*command, "--model", str(attention_model_path), "--json"], capture_output=True,
                            text=True)
    assert answer.returncode == 0, answer.stderr
    grids = [np.asarray(f["heatmap"]) for f in json.loads(answer.stdout)["frames"]]
    assert [g.shape for g in grids] == [(4, 4)] * 3 and all(0 <= g.min() <= g.max() <= 1 for g in grids)
    table = subprocess.run([*command, "--model", str(attention_model_path)], capture_output=True, text=True)
    row, col = np.unravel_index(grids[0].argmax(), (4, 4))  # the first frame's peak, in the table
    assert "looks most at" in table.stdout
    assert f"x {(col + 0.5) / 4:.2f}, y {(row + 0.5) / 4:.2f}" in table.stdout
    refused = subprocess.run([*command, "--model", str(model_path)], capture_output=True, text=True)
    assert refused.returncode == 2 and "heatmap_unavailable" in refused.stderr


def test_screen_command_prints_a_table_and_fails_cleanly(
    videos: dict[str, Path], model_path: Path, tmp_path: Path
) -> None:
    command = [sys.executable, "-m", "app.cli", "screen", "--model", str(model_path)]
    table = subprocess.run(
        [*command, str(videos["vp9"]), "--max-frames", "5"], capture_output=True, text=True
    )
    assert table.returncode == 0, table.stderr
    assert "verdict:" in table.stdout and "5 screened" in table.stdout
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"not a video at all" * 100)
    failed = subprocess.run([*command, str(junk)], capture_output=True, text=True)
    assert failed.returncode == 2 and "not_a_video" in failed.stderr
