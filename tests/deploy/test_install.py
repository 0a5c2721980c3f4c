"""A wheel install (`pip install .`, not editable) serves the shipped model from any
directory: the models travel in the wheel's data files, not in the source tree."""

from __future__ import annotations

import site
import subprocess
import sys
from pathlib import Path

import httpx

from tests.e2e.processes import free_port, wait_until
from tests.helpers import encode_video

ROOT = Path(__file__).resolve().parents[2]


def test_a_wheel_install_serves_the_shipped_model_from_anywhere(tmp_path: Path) -> None:
    wheels, venv, elsewhere = tmp_path / "wheels", tmp_path / "venv", tmp_path / "elsewhere"
    elsewhere.mkdir()
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
                    "-w", str(wheels), str(ROOT)], check=True, cwd=tmp_path)
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    [wheel] = wheels.glob("distilscreen-*.whl")
    subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "-q", "--no-deps",
                    str(wheel)], check=True)
    # the dependencies come from this environment (a path, not a site dir: its editable
    # finder of the source tree stays off)
    [packages] = venv.glob("lib/python*/site-packages")
    (packages / "dependencies.pth").write_text("\n".join(site.getsitepackages()) + "\n")

    where = subprocess.run([python, "-c", "import app, app.config; print(app.__file__); "
                            "print(app.config.Settings().model_path)"],
                           capture_output=True, text=True, check=True, cwd=elsewhere).stdout.split()
    assert Path(where[0]).is_relative_to(packages) and Path(where[1]).is_relative_to(venv / "share")

    port = free_port()
    service = subprocess.Popen([venv / "bin" / "distilscreen", "serve", "--port", str(port)], cwd=elsewhere,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        url = f"http://127.0.0.1:{port}"
        wait_until(lambda: httpx.get(f"{url}/readyz").status_code == 200, 60, "the installed service",
                   service)
        video = encode_video(tmp_path / "clip.mp4")
        response = httpx.post(f"{url}/v1/screen", content=video.read_bytes(),
                              headers={"content-type": "video/mp4"}, timeout=60)
        assert response.status_code == 200, response.text
        assert response.json()["video"]["frames_screened"] == 48
        assert httpx.get(f"{url}/v1/model").json()["card"]["name"] == "distilscreen-student"
    finally:
        service.terminate()
        service.wait(timeout=30)
