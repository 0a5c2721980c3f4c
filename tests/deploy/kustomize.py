"""The kustomizations under deploy/k8s, rendered without a kustomize binary (CI has none).

They use two fields of kustomize's: `resources` (files, and folders with a kustomization of
their own) and `patches` whose files are JSON 6902 operations on one target (kind, name),
applied here with the `jsonpatch` library. Anything else is refused, so that a new field
cannot be silently ignored; where a kustomize is installed, the tests check that it renders
the same objects.
"""

from __future__ import annotations

from pathlib import Path

import jsonpatch
import yaml

FIELDS = {"apiVersion", "kind", "resources", "patches"}


def render(folder: Path) -> list[dict]:
    """The objects `kubectl kustomize folder` makes, in its order of resources."""
    kustomization = yaml.safe_load((folder / "kustomization.yaml").read_text())
    if unknown := set(kustomization) - FIELDS:
        raise ValueError(f"{folder}/kustomization.yaml: fields {sorted(unknown)} are not rendered here; "
                         f"use {sorted(FIELDS)}")
    objects: list[dict] = []
    for resource in kustomization.get("resources", []):
        path = folder / resource
        objects += render(path) if path.is_dir() else [d for d in yaml.safe_load_all(path.read_text()) if d]
    for patch in kustomization.get("patches", []):
        target = patch["target"]
        if set(patch) != {"path", "target"} or set(target) != {"kind", "name"}:
            raise ValueError(f"{folder}: a patch is a path and a target (kind, name), got {patch}")
        operations = jsonpatch.JsonPatch(yaml.safe_load((folder / patch["path"]).read_text()))
        hits = [i for i, o in enumerate(objects)
                if (o["kind"], o["metadata"]["name"]) == (target["kind"], target["name"])]
        if not hits:
            raise ValueError(f"{folder}: the patch {patch['path']} targets no object ({target})")
        for i in hits:
            objects[i] = operations.apply(objects[i])
    return objects
