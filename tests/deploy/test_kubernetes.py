"""deploy/k8s: each variant rendered, valid against the Kubernetes schemas (offline:
kubernetes-validate bundles them), consistent with itself and the service, and scaling
only on metrics the service exports."""

from __future__ import annotations

import json
import re
from pathlib import Path

import kubernetes_validate
import pytest
import yaml

from app.routes.health import router as health
from tests.deploy.kustomize import render
from tests.deploy.test_compose import SETTINGS_ENV
from tests.deploy.test_monitoring import exported_names

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy/k8s"
VARIANTS = {"cpu": K8S / "base", "gpu": K8S / "overlays/gpu", "model-volume": K8S / "overlays/model-volume"}
VERSIONS = ("1.30.0", kubernetes_validate.latest_version())  # the oldest we claim, the newest bundled
CRDS = {("monitoring.coreos.com/v1", "ServiceMonitor")}  # schemas of CRDs are not bundled
ADAPTER = K8S / "prometheus-adapter/rules.yaml"


@pytest.fixture(scope="module", params=sorted(VARIANTS))
def variant(request) -> tuple[str, dict[str, dict]]:
    """(name, {kind: object}) of one rendered variant (one object of each kind here)."""
    objects = render(VARIANTS[request.param])
    by_kind: dict[str, dict] = {}
    for o in objects:
        key = o["kind"] if o["kind"] not in by_kind else f"{o['kind']}/{o['metadata']['name']}"
        by_kind[key] = o
    return request.param, by_kind


def container(objects: dict[str, dict]) -> dict:
    [api] = objects["Deployment"]["spec"]["template"]["spec"]["containers"]
    return api


@pytest.mark.parametrize("version", VERSIONS)
def test_every_object_is_valid_kubernetes(variant, version) -> None:
    for o in variant[1].values():
        if (o["apiVersion"], o["kind"]) in CRDS:
            continue
        kubernetes_validate.validate(o, version, strict=True)


def test_the_service_monitor_scrapes_the_service(variant) -> None:
    objects = variant[1]
    monitor, service = objects["ServiceMonitor"], objects["Service"]
    assert set(monitor) == {"apiVersion", "kind", "metadata", "spec"}
    assert monitor["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    [endpoint] = monitor["spec"]["endpoints"]
    assert endpoint["path"] == "/metrics"
    assert endpoint["port"] in {p["name"] for p in service["spec"]["ports"]}


def test_labels_selectors_and_ports_agree(variant) -> None:
    objects = variant[1]
    pod = objects["Deployment"]["spec"]["template"]["metadata"]["labels"]
    for kind in ("Service", "PodDisruptionBudget"):
        selector = objects[kind]["spec"]["selector"]
        assert selector.get("matchLabels", selector).items() <= pod.items(), kind
    assert objects["Deployment"]["spec"]["selector"]["matchLabels"].items() <= pod.items()
    ports = {p["name"]: p["containerPort"] for p in container(objects)["ports"]}
    assert ports == {"http": 8000}  # the images' DISTILSCREEN_PORT
    [service_port] = objects["Service"]["spec"]["ports"]
    assert service_port["targetPort"] in ports
    [rule] = objects["Ingress"]["spec"]["rules"]
    [path] = rule["http"]["paths"]
    assert path["backend"]["service"] == {"name": objects["Service"]["metadata"]["name"],
                                          "port": {"name": service_port["name"]}}
    target = objects["HorizontalPodAutoscaler"]["spec"]["scaleTargetRef"]
    assert (target["kind"], target["name"]) == ("Deployment", objects["Deployment"]["metadata"]["name"])
    assert "replicas" not in objects["Deployment"]["spec"]  # the HPA's


def test_probes_and_graceful_termination(variant) -> None:
    objects = variant[1]
    api, pod = container(objects), objects["Deployment"]["spec"]["template"]["spec"]
    routes = {route.path for route in health.routes}
    assert api["readinessProbe"]["httpGet"]["path"] == api["startupProbe"]["httpGet"]["path"] == "/readyz"
    assert api["livenessProbe"]["httpGet"]["path"] == "/healthz" and {"/readyz", "/healthz"} <= routes
    pause = int(api["lifecycle"]["preStop"]["exec"]["command"][-1])
    shutdown = float(objects["ConfigMap"]["data"]["DISTILSCREEN_SHUTDOWN_TIMEOUT_S"])
    assert pod["terminationGracePeriodSeconds"] > pause + shutdown


def test_settings_come_from_the_config_map_and_the_secret(variant) -> None:
    objects = variant[1]
    api, config = container(objects), objects["ConfigMap"]
    assert api["envFrom"] == [{"configMapRef": {"name": config["metadata"]["name"]}}]
    assert set(config["data"]) <= SETTINGS_ENV, set(config["data"]) - SETTINGS_ENV
    secrets = {e["name"]: e["valueFrom"]["secretKeyRef"] for e in api["env"]}
    assert secrets.keys() == {"DISTILSCREEN_API_KEYS", "DISTILSCREEN_DATABASE_URL"}
    docs = (ROOT / "docs/deploy.md").read_text()
    for ref in secrets.values():  # the Secret is made by the operator, as docs/deploy.md says
        assert ref["name"] in docs and f"--from-literal={ref['key']}=" in docs, ref


def test_the_model_is_the_images_or_a_volumes(variant) -> None:
    name, objects = variant
    model = Path(objects["ConfigMap"]["data"]["DISTILSCREEN_MODEL_PATH"])
    mounts = {m["mountPath"]: m for m in container(objects)["volumeMounts"]}
    if name == "model-volume":
        assert mounts["/models/custom"]["readOnly"] and model.parent == Path("/models/custom")
        volumes = objects["Deployment"]["spec"]["template"]["spec"]["volumes"]
        claims = {v["persistentVolumeClaim"]["claimName"] for v in volumes if "persistentVolumeClaim" in v}
        made = {o["metadata"]["name"] for o in objects.values() if o["kind"] == "PersistentVolumeClaim"}
        assert claims == made
    else:
        assert model == Path("/models/distilscreen-student.onnx")  # where both images carry it


def test_only_the_gpu_variant_asks_for_a_gpu(variant) -> None:
    name, objects = variant
    api, config = container(objects), objects["ConfigMap"]["data"]
    limits = api["resources"]["limits"]
    if name == "gpu":
        assert limits["nvidia.com/gpu"] == 1 and api["image"].endswith(":gpu")
        providers = config["DISTILSCREEN_PROVIDERS"].split(",")
        assert providers[-2:] == ["CUDAExecutionProvider", "CPUExecutionProvider"]
        tolerations = objects["Deployment"]["spec"]["template"]["spec"]["tolerations"]
        assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in tolerations
    else:
        assert "nvidia.com/gpu" not in limits and api["image"].endswith(":cpu")
        assert "DISTILSCREEN_PROVIDERS" not in config


def adapter_rules() -> dict[str, dict]:
    """The Prometheus Adapter's rules, by the metric name they serve."""
    return {rule["name"]["as"]: rule for rule in yaml.safe_load(ADAPTER.read_text())["rules"]}


def series(rule: dict) -> str:
    [name] = re.findall(r"^(distilscreen_[a-z_]+)\{", rule["seriesQuery"])
    return name


def test_the_hpa_scales_on_exported_load_metrics_not_cpu(variant) -> None:
    metrics = variant[1]["HorizontalPodAutoscaler"]["spec"]["metrics"]
    assert {m["type"] for m in metrics} == {"Pods"}  # no CPU or memory resource metric
    read = {m["pods"]["metric"]["name"] for m in metrics}
    rules = adapter_rules()
    assert read <= rules.keys(), f"the HPA reads metrics no adapter rule serves: {read - rules.keys()}"
    unknown = {series(rules[name]) for name in read} - exported_names()
    assert not unknown, f"the adapter serves series app.metrics.Metrics does not export: {unknown}"


def test_the_hpa_targets_follow_the_pods_settings(variant) -> None:
    """Uploads in flight per pod: its decoder workers; frames queued: half its queue bound."""
    objects = variant[1]
    targets = {m["pods"]["metric"]["name"]: float(m["pods"]["target"]["averageValue"])
               for m in objects["HorizontalPodAutoscaler"]["spec"]["metrics"]}
    config = objects["ConfigMap"]["data"]
    assert targets == {"distilscreen_active_requests": float(config["DISTILSCREEN_DECODE_WORKERS"]),
                       "distilscreen_queue_depth_frames": float(config["DISTILSCREEN_MAX_QUEUED_FRAMES"]) / 2}


def test_the_adapters_queries_parse_as_promql(run_tool, tmp_path) -> None:
    exprs = []
    for rule in adapter_rules().values():
        exprs.append(rule["seriesQuery"])
        query = rule["metricsQuery"].replace("<<.Series>>", series(rule))
        query = query.replace("<<.LabelMatchers>>", 'namespace="ns",pod=~"a|b"')
        exprs.append(query.replace("<<.GroupBy>>", "pod"))
    rules = {"groups": [{"name": "adapter", "rules": [{"record": f"adapter:expr_{i}", "expr": e}
                                                      for i, e in enumerate(exprs)]}]}
    path = tmp_path / "adapter_rules.yml"
    path.write_text(json.dumps(rules))
    run_tool("promtool", "check", "rules", str(path))
