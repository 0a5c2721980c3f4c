"""The compose topology run natively: the service with the compose file's settings, scraped
by a real Prometheus server using the repo's own prometheus.yml (targets moved to loopback)."""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml

from tests.e2e.processes import Service, free_port, start_service, wait_until

ROOT = Path(__file__).resolve().parents[2]


def compose_api_env() -> dict[str, str]:
    """The api service's settings from docker-compose.yml, with ${VAR:-default} resolved to
    the default and the container's model volume mapped back to the repo's folder."""
    api = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]["api"]
    env = {k: re.sub(r"\$\{\w+:-([^}]*)\}", r"\1", str(v)) for k, v in api["environment"].items() if v}
    for volume in api.get("volumes", []):
        host, container = re.sub(r"\$\{\w+:-([^}]*)\}", r"\1", volume).split(":")[:2]
        env = {k: v.replace(container, str((ROOT / host).resolve()), 1) for k, v in env.items()}
    return env


@pytest.fixture(scope="module")
def compose_service() -> Iterator[Service]:
    env = compose_api_env()
    assert Path(env["DISTILSCREEN_MODEL_PATH"]).is_file(), env
    yield from start_service(env)


@pytest.fixture(scope="module")
def prometheus(compose_service: Service, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    assert shutil.which("prometheus"), "prometheus is missing: `make test` installs Debian's package"
    config = yaml.safe_load((ROOT / "docker" / "prometheus" / "prometheus.yml").read_text())
    config.setdefault("global", {})["scrape_interval"] = "1s"  # test only: do not wait long
    target = compose_service.url.removeprefix("http://")
    for job in config["scrape_configs"]:
        for static in job["static_configs"]:
            static["targets"] = [target if t.startswith("api:") else t for t in static["targets"]]
    root = tmp_path_factory.mktemp("prometheus")
    (root / "prometheus.yml").write_text(yaml.safe_dump(config))
    port = free_port()
    process = subprocess.Popen(
        [
            "prometheus",
            f"--config.file={root / 'prometheus.yml'}",
            f"--storage.tsdb.path={root / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: httpx.get(f"{url}/-/ready").status_code == 200, 60, "prometheus ready", process)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=20)


def query(prometheus: str, expr: str) -> float | None:
    result = httpx.get(f"{prometheus}/api/v1/query", params={"query": expr}).json()["data"]["result"]
    return float(result[0]["value"][1]) if result else None


def test_prometheus_sees_the_frames_of_a_real_upload(
    compose_service: Service, prometheus: str, videos: dict[str, Path]
) -> None:
    wait_until(lambda: query(prometheus, "up{job='distilscreen'}") == 1, 30, "the first scrape")
    before = query(prometheus, "distilscreen_frames_screened_total") or 0.0
    body = videos["h264"].read_bytes()
    response = httpx.post(
        f"{compose_service.url}/v1/screen", content=body, headers={"content-type": "video/mp4"}, timeout=60
    )
    assert response.status_code == 200, response.text
    wait_until(
        lambda: (query(prometheus, "distilscreen_frames_screened_total") or 0) >= before + 48,
        30,
        "Prometheus to scrape the new frame count",
    )
    assert query(prometheus, 'distilscreen_requests_total{route="/v1/screen",status="200"}') >= 1
    assert query(prometheus, "distilscreen_batch_size_frames_count") >= 1
