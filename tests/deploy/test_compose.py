"""docker-compose.yml (CPU) and its GPU override, as `docker-compose config` resolves them."""

from __future__ import annotations

import os
from pathlib import Path, PurePosixPath

import pytest
import yaml
from sqlalchemy.engine import make_url

from app.config import Settings

ROOT = Path(__file__).resolve().parents[2]

VARIANTS = {
    "cpu": ["docker-compose.yml"],
    "gpu": ["docker-compose.yml", "docker-compose.gpu.yml"],
}
SETTINGS_ENV = {f"DISTILSCREEN_{name.upper()}" for name in Settings.model_fields}


@pytest.fixture(scope="module", params=sorted(VARIANTS))
def variant(request, run_tool, tmp_path_factory) -> tuple[str, dict]:
    """(name, resolved config) with a bare environment: no shell variables, an empty .env."""
    env_file = tmp_path_factory.mktemp("compose") / "empty.env"
    env_file.touch()
    files = [arg for path in VARIANTS[request.param] for arg in ("-f", path)]
    env = {"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/tmp")}
    proc = run_tool("docker-compose", "--env-file", str(env_file), *files, "config", env=env)
    return request.param, yaml.safe_load(proc.stdout)


def api_env(config: dict) -> dict[str, str | None]:
    return config["services"]["api"]["environment"]


def mount_targets(service: dict) -> set[str]:
    return {
        str(volume).split(":")[1] if isinstance(volume, str) else volume["target"]
        for volume in service.get("volumes", [])
    }


def volume_sources(service: dict) -> dict[str, str]:
    """Each mount's target -> its source (a named volume's name, or a host path)."""
    mounts = [str(v).split(":")[:2] if isinstance(v, str) else (v["source"], v["target"])
              for v in service.get("volumes", [])]
    return {target: source for source, target in mounts}


def test_services_and_dockerfile(variant) -> None:
    name, config = variant
    assert set(config["services"]) == {"api", "postgres", "prometheus", "grafana"}
    dockerfile = config["services"]["api"]["build"]["dockerfile"]
    assert dockerfile == {"cpu": "docker/Dockerfile", "gpu": "docker/Dockerfile.gpu"}[name]


def test_gpu_reservation_only_in_gpu_variant(variant) -> None:
    name, config = variant
    devices = (
        config["services"]["api"]
        .get("deploy", {})
        .get("resources", {})
        .get("reservations", {})
        .get("devices", [])
    )
    nvidia = [d for d in devices if d.get("driver") == "nvidia" and "gpu" in d.get("capabilities", [])]
    assert bool(nvidia) == (name == "gpu"), f"{name} variant reserves {devices}"


def test_api_env_names_are_settings(variant) -> None:
    _, config = variant
    names = set(api_env(config))
    assert names, "the api service sets no environment"
    assert names <= SETTINGS_ENV, f"not fields of app.config.Settings: {names - SETTINGS_ENV}"


def test_api_env_values_validate(variant, monkeypatch) -> None:
    name, config = variant
    for key in [k for k in os.environ if k.startswith("DISTILSCREEN_")]:
        monkeypatch.delenv(key)
    for key, value in api_env(config).items():
        if value is not None:
            monkeypatch.setenv(key, value)
    settings = Settings()
    targets = mount_targets(config["services"]["api"])
    assert str(PurePosixPath(settings.model_path).parent) in targets, "model is not on a volume"
    if name == "gpu":
        assert settings.providers[:2] == ["TensorrtExecutionProvider", "CUDAExecutionProvider"]
        assert str(settings.trt_cache_dir) in targets, "TensorRT cache is not on a volume"


def test_healthchecks_dependencies_and_restarts(variant) -> None:
    _, config = variant
    services = config["services"]
    for name in ("prometheus", "grafana"):
        assert services[name].get("healthcheck", {}).get("test"), f"{name} has no healthcheck"
        assert services[name].get("restart") == "unless-stopped"
    assert services["grafana"]["depends_on"]["prometheus"]["condition"] == "service_healthy"
    assert services["api"].get("restart") == "unless-stopped"


def test_the_api_keeps_jobs_in_the_postgres_service(variant) -> None:
    _, config = variant
    api, postgres = config["services"]["api"], config["services"]["postgres"]
    url = make_url(api_env(config)["DISTILSCREEN_DATABASE_URL"])
    db = postgres["environment"]
    assert (url.drivername, url.host, url.port) == ("postgresql+psycopg", "postgres", 5432)
    assert (url.username, url.password, url.database) == (db["POSTGRES_USER"], db["POSTGRES_PASSWORD"],
                                                          db["POSTGRES_DB"])
    assert api["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert "pg_isready" in " ".join(postgres["healthcheck"]["test"])
    assert postgres.get("restart") == "unless-stopped"
    assert "/var/lib/postgresql/data" in mount_targets(postgres)
    assert "ports" not in postgres, "the database is for the compose network only"
    for service, target in ((postgres, "/var/lib/postgresql/data"), (api, "/data")):
        assert volume_sources(service)[target] in config.get("volumes", {}), f"{target} is not a named volume"


def test_the_images_keep_jobs_uploads_on_the_api_volume(variant) -> None:
    name, config = variant
    dockerfile = (ROOT / config["services"]["api"]["build"]["dockerfile"]).read_text()
    assert "DISTILSCREEN_DATA_DIR=/data" in dockerfile and "chown 10001:10001" in dockerfile
    assert "/data" in mount_targets(config["services"]["api"])
