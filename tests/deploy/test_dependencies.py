"""What `pip install '.[serve]'` installs is all the service and `screen` need, and
`'.[serve,bulk]'` all that `bulk` needs: each runs in an interpreter that can import nothing
else (the standard library, the `app` package and the distributions the extras require,
transitively), the way a fresh install or the service's image would run them. The test
environment has much more (torch, pytest...): an import the serve install lacks would pass
every other test."""

from __future__ import annotations

import os
import subprocess
import sys
from importlib.metadata import PackageNotFoundError, packages_distributions, requires
from pathlib import Path

import httpx
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.e2e.processes import free_port, wait_until
from tests.helpers import encode_video

ROOT = Path(__file__).resolve().parents[2]
# run as a script: refuse every top-level module found in site-packages outside the files of
# ALLOWED (argv[1]; the standard library lies elsewhere), then run the CLI on argv[3:]
RESTRICTED = '''
import sys, sysconfig
ALLOWED, EXTRAS = set(sys.argv[1].split(",")), sys.argv[2]
SITE = tuple({sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]})
class NotInstalled:
    def find_spec(self, name, path=None, target=None):
        if "." in name or name in ALLOWED:
            return None
        for finder in sys.meta_path:
            spec = None if finder is self else finder.find_spec(name, path, target)
            if spec is not None:
                break
        else:
            return None
        where = spec.origin or next(iter(spec.submodule_search_locations or ()), "")
        for site in SITE:  # whose files hold it: its own, or an allowed one's (Ray's psutil)
            owner = where.removeprefix(site + "/").split("/")[0].split(".")[0]
            if where.startswith(site + "/") and owner not in ALLOWED:
                raise ModuleNotFoundError(f"{name!r}: not installed by distilscreen[{EXTRAS}]", name=name)
        return spec
sys.meta_path.insert(0, NotInstalled())
from app.cli import main
sys.exit(main(sys.argv[3:]))
'''


def distributions(requirement: str, extras: tuple[str, ...] = ()) -> set[str]:
    """The distribution `requirement` names and all it requires (with `extras`), transitively."""
    seen: set[str] = set()
    todo = [(Requirement(requirement), set(extras))]
    while todo:
        req, wanted = todo.pop()
        name = canonicalize_name(req.name)
        if name in seen:
            continue
        seen.add(name)
        try:
            needs = requires(req.name) or []
        except PackageNotFoundError:  # an optional dependency this platform does not install
            continue
        for text in needs:
            need = Requirement(text)
            envs = [{"extra": e} for e in wanted | req.extras] or [{"extra": ""}]
            if need.marker is None or any(need.marker.evaluate(env) for env in envs):
                todo.append((need, set()))
    return seen


def installed_modules(*extras: str) -> set[str]:
    """The top-level modules that `distilscreen[EXTRAS]` installs, `app` among them."""
    names = distributions("distilscreen", extras)
    return {"app"} | {module for module, dists in packages_distributions().items()
                      if any(canonicalize_name(d) in names for d in dists)}


def restricted(tmp_path: Path, *extras: str) -> list[str]:
    """The command line of `distilscreen` that can import only what `distilscreen[EXTRAS]` installs."""
    script = tmp_path / "restricted.py"
    script.write_text(RESTRICTED)
    return [sys.executable, str(script), ",".join(sorted(installed_modules(*extras))), ",".join(extras)]


def test_the_serve_install_lacks_what_only_the_tests_and_training_use() -> None:
    modules = installed_modules("serve")
    assert {"fastapi", "onnxruntime", "av", "c2pa"} <= modules
    assert not modules & {"torch", "pytest", "ray", "playwright"}  # the check can fail
    assert {"ray", "pyarrow"} <= installed_modules("serve", "bulk")


def test_the_service_runs_on_the_serve_install_alone(tmp_path: Path, model_path: Path) -> None:
    port = free_port()
    service = subprocess.Popen(
        [*restricted(tmp_path, "serve"), "serve", "--model", str(model_path), f"--port={port}"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        env=os.environ | {"DISTILSCREEN_DATA_DIR": str(tmp_path / "data")},
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: httpx.get(f"{url}/readyz").status_code == 200, 60, "the service", service)
        clip, mp4 = encode_video(tmp_path / "clip.mp4").read_bytes(), {"content-type": "video/mp4"}
        answer = httpx.post(f"{url}/v1/screen", content=clip, headers=mp4, timeout=60)
        assert answer.status_code == 200, answer.text
        job = httpx.post(f"{url}/v1/jobs", content=clip, headers=mp4, timeout=60)
        assert job.status_code == 202, job.text
        status = f"{url}/v1/jobs/{job.json()['id']}"
        wait_until(lambda: httpx.get(status).json()["status"] == "succeeded", 60, "the job")
    finally:
        service.terminate()
        output = service.communicate(timeout=30)[0]
    assert "not installed by" not in output, output


def test_screen_runs_on_the_serve_install_alone(tmp_path: Path, model_path: Path) -> None:
    clip = encode_video(tmp_path / "clip.mp4")
    done = subprocess.run([*restricted(tmp_path, "serve"), "screen", str(clip), "--model", str(model_path),
                           "--json"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr


def test_bulk_runs_on_the_serve_and_bulk_install_alone(tmp_path: Path, model_path: Path) -> None:
    """The driver only: Ray's workers are interpreters of their own."""
    (tmp_path / "clips").mkdir()
    encode_video(tmp_path / "clips" / "clip.mp4")
    done = subprocess.run([*restricted(tmp_path, "serve", "bulk"), "bulk", str(tmp_path / "clips"), "--out",
                           str(tmp_path / "out"), "--model", str(model_path), "--num-cpus", "2"],
                          cwd=ROOT, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr
    assert "videos: 1 (0 already done, 1 screened now)" in done.stdout, done.stdout
