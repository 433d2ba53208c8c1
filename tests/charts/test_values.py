"""The charts' values: settings ↔ values 1:1, no dead values, a strict schema.

Each controller's ``Settings`` (frozen dataclasses, groups → fields) is mirrored by the chart's
values in camelCase, and the Deployment sets every field as ``<PREFIX>_<GROUP>_<FIELD>``. The one
exception is ``controller.namespace``, which is the release namespace. The proof: render with a
non-default value for every field and load the Deployment's env through ``Settings.from_env``.
"""

from __future__ import annotations

import dataclasses
import enum
import json
import typing
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import jsonschema
import pytest
import yaml

from gpu_provisioner import settings as gp_settings
from workspace_controller import settings as wc_settings

SETTINGS: dict[str, tuple[type[Any], str]] = {
    "workspace-controller": (wc_settings.Settings, wc_settings.ENV_PREFIX),
    "gpu-provisioner": (gp_settings.Settings, gp_settings.ENV_PREFIX),
}
CHARTS = tuple(SETTINGS)
DERIVED = {("controller", "namespace")}
"""Fields the chart derives instead of taking a value: controller.namespace = release namespace."""
CHANGED_STRINGS = {
    "log_level": "DEBUG",
    "pull_policy": "Always",
    "arm_base_url": "https://arm.example.test:8443/",
}
"""Non-default values for fields the schema constrains beyond 'a string'."""

# Features that render extra objects, switched on so that their own values must show too.
FULL: dict[str, dict[str, Any]] = {
    "workspace-controller": {
        "replicaCount": 2,
        "serviceMonitor": {"enabled": True},
        "dashboards": {"enabled": True},
    },
    "gpu-provisioner": {
        "replicaCount": 2,
        "serviceMonitor": {"enabled": True},
        "dashboards": {"enabled": True},
        "workloadIdentity": {"clientId": "client", "tenantId": "tenant"},
        "azure": {
            "subscriptionId": "sub",
            "resourceGroup": "rg",
            "clusterName": "aks",
            "location": "westus2",
        },
    },
}
# Mutations of leaves a generic rule cannot produce valid values for.
MUTATIONS: dict[str, Any] = {
    "serviceMonitor.interval": "1m",
    "azure.armBaseUrl": "https://arm.example.test/",
    "tolerations": [{"key": "example.com/gpu", "operator": "Exists"}],
    "imagePullSecrets": [{"name": "regcred"}],
    "image.digest": "sha256:" + "a" * 64,
    "nvidiaDevicePlugin.image.digest": "sha256:" + "b" * 64,
    "nvidiaDevicePlugin.tolerations": [{"key": "example.com/gpu", "operator": "Exists"}],
    "env": [{"name": "HTTPS_PROXY", "value": "http://proxy.example.test:3128"}],
    "envFrom": [{"configMapRef": {"name": "proxy"}}],
    "extraVolumes": [{"name": "ca", "configMap": {"name": "ca"}}],
    "extraVolumeMounts": [{"name": "ca", "mountPath": "/etc/ca"}],
}

# Leaves whose mutation needs another value changed first (compared against that baseline).
CONTEXTS: dict[str, dict[str, Any]] = {
    "controller.leaderElect": {"replicaCount": 1},  # two replicas require leader election
    "serviceAccount.create": {"serviceAccount": {"name": "existing"}},  # not created: name one
}


def camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def settings_fields(settings: type[Any]) -> list[tuple[str, dataclasses.Field[Any], type[Any]]]:
    """(group, field, field type) for every settings field."""
    found = []
    for group in dataclasses.fields(settings):
        group_type = typing.get_type_hints(settings)[group.name]
        hints = typing.get_type_hints(group_type)
        found += [(group.name, f, hints[f.name]) for f in dataclasses.fields(group_type)]
    return found


def non_default(name: str, kind: Any, default: Any) -> tuple[Any, Any]:
    """(chart value, the setting it must load as), different from the default."""
    if kind is bool:
        return (not default, not default)
    if isinstance(kind, type) and issubclass(kind, enum.Enum):
        other = next(m for m in kind if m != default)
        return (other.value, other)
    if kind is int:
        return (default + 7, default + 7)
    if kind is float:
        return (default + 1.5, default + 1.5)
    if typing.get_origin(kind) is tuple:
        return (["example.com/a", "example.com/b"], ("example.com/a", "example.com/b"))
    if kind is str:
        value = CHANGED_STRINGS.get(name, f"{default}-x" if default else "example")
        return (value, value)
    raise AssertionError(f"no rule for {name}: {kind}")


@pytest.mark.parametrize("chart", CHARTS)
def test_every_setting_has_exactly_one_value(chart: str, helm: Any) -> None:
    settings, _ = SETTINGS[chart]
    values = helm.values(chart)
    for group in dataclasses.fields(settings):
        expected = {
            camel(f.name)
            for g, f, _ in settings_fields(settings)
            if g == group.name and (g, f.name) not in DERIVED
        }
        assert set(values[group.name]) == expected, f"values.{group.name} vs settings"


@pytest.mark.parametrize("chart", CHARTS)
def test_values_defaults_are_the_settings_defaults(chart: str, helm: Any) -> None:
    settings, _ = SETTINGS[chart]
    values = helm.values(chart)
    defaults = settings()
    for group, field, _ in settings_fields(settings):
        if (group, field.name) in DERIVED:
            continue
        default = getattr(getattr(defaults, group), field.name)
        value = values[group][camel(field.name)]
        if isinstance(default, tuple):
            value = tuple(value)
        assert value == default, f"{group}.{camel(field.name)}"


@pytest.mark.parametrize("chart", CHARTS)
def test_deployment_env_loads_as_the_values(chart: str, helm: Any) -> None:
    settings, prefix = SETTINGS[chart]
    defaults = settings()
    overrides: dict[str, dict[str, Any]] = {}
    expected_groups: dict[str, dict[str, Any]] = {}
    for group, field, kind in settings_fields(settings):
        if (group, field.name) in DERIVED:
            expected_groups.setdefault(group, {})[field.name] = "release-ns"
            continue
        value, loaded = non_default(field.name, kind, getattr(getattr(defaults, group), field.name))
        overrides.setdefault(group, {})[camel(field.name)] = value
        expected_groups.setdefault(group, {})[field.name] = loaded
    (deployment,) = helm.find(helm.template(chart, overrides, namespace="release-ns"), "Deployment")
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    env = {e["name"]: e["value"] for e in container["env"] if e["name"].startswith(prefix + "_")}
    names = {f"{prefix}_{g}_{f.name}".upper() for g, f, _ in settings_fields(settings)}
    assert set(env) == names
    expected = settings(
        **{
            group: dataclasses.replace(getattr(defaults, group), **fields)
            for group, fields in expected_groups.items()
        }
    )
    assert settings.from_env(env) == expected
    assert all(
        getattr(getattr(expected, g), f.name) != getattr(getattr(defaults, g), f.name)
        for g, f, _ in settings_fields(settings)
    )


Path = tuple[str, ...]


def leaves(tree: dict[str, Any], prefix: Path = ()) -> list[tuple[Path, Any]]:
    """Paths of every leaf: scalars, lists and empty maps (a map's keys are values too)."""
    found = []
    for key, value in tree.items():
        path = (*prefix, key)
        if isinstance(value, dict) and value:
            found += leaves(value, path)
        else:
            found.append((path, value))
    return found


def schema_at(schema: dict[str, Any], path: Path) -> dict[str, Any]:
    for key in path:
        props = schema.get("properties") or {}
        schema = props[key] if key in props else schema.get("additionalProperties") or {}
    return schema


def mutate(path: Path, value: Any, schema: dict[str, Any]) -> Any:
    if ".".join(path) in MUTATIONS:
        return MUTATIONS[".".join(path)]
    if "enum" in schema:
        return next(v for v in schema["enum"] if v != value)
    if isinstance(value, bool):
        return not value
    if isinstance(value, int | float):
        return value + 1
    if isinstance(value, str):
        return value + "1" if value else "example"
    if isinstance(value, list):
        return [*value, "example.com/x"]
    if isinstance(value, dict):
        return {"example.com/key": "value"}
    raise AssertionError(f"no mutation for {path}={value!r}")


def with_leaf(tree: dict[str, Any], path: Path, value: Any) -> dict[str, Any]:
    *parents, last = path
    copy = json.loads(json.dumps(tree))
    node = copy
    for key in parents:
        node = node[key]
    node[last] = value
    return copy


@pytest.mark.parametrize("chart", CHARTS)
def test_no_dead_values(chart: str, helm: Any) -> None:
    """Changing any leaf value changes what the chart renders (features on, so all can show)."""
    schema = json.loads((helm.charts / chart / "values.schema.json").read_text())
    base = helm.merge(helm.values(chart), FULL[chart])
    baseline = helm.template_text(chart, base).stdout
    paths = leaves(base)

    def render(path: Path, value: Any) -> tuple[str, str | None, str, str]:
        dotted = ".".join(path)
        start = helm.merge(base, CONTEXTS.get(dotted, {}))
        before = baseline if start == base else helm.template_text(chart, start).stdout
        changed = mutate(path, value, schema_at(schema, path))
        result = helm.template_text(chart, with_leaf(start, path, changed), check=False)
        return dotted, result.stdout if result.returncode == 0 else None, result.stderr, before

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(lambda leaf: render(*leaf), paths))
    failed = [f"{path}: {err.strip()}" for path, out, err, _ in results if out is None]
    dead = [path for path, out, _, before in results if out == before]
    assert not failed, "mutations that do not render:\n" + "\n".join(failed)
    assert not dead, f"values that change nothing: {dead}"
    assert len(paths) > 30


def _strict(schema: dict[str, Any], path: str = "") -> list[str]:
    """Objects with declared properties that still allow unknown keys."""
    loose = []
    if "properties" in schema and schema.get("additionalProperties") is not False:
        loose.append(path or "<root>")
    for key, sub in (schema.get("properties") or {}).items():
        loose += _strict(sub, f"{path}.{key}")
    return loose


@pytest.mark.parametrize("chart", CHARTS)
def test_schema_is_strict_and_matches_values(chart: str, helm: Any) -> None:
    schema = json.loads((helm.charts / chart / "values.schema.json").read_text())
    values = helm.values(chart)
    jsonschema.Draft7Validator.check_schema(schema)
    jsonschema.validate(values, schema)
    assert _strict(schema) == []

    def keys(node: dict[str, Any], tree: dict[str, Any], prefix: str = "") -> list[str]:
        found = []
        for key, sub in (node.get("properties") or {}).items():
            if key not in tree:
                found.append(prefix + key)
            elif "properties" in sub and isinstance(tree[key], dict):
                found += keys(sub, tree[key], f"{prefix}{key}.")
        return found

    assert keys(schema, values) == [], "schema properties without a value in values.yaml"


@pytest.mark.parametrize(
    ("chart", "values", "message"),
    [
        ("workspace-controller", {"unknown": 1}, "additional properties 'unknown'"),
        ("workspace-controller", {"replicaCount": -1}, "replicaCount"),
        ("workspace-controller", {"provisioning": {"nodeProvisioningApi": "x"}}, "nodeProvis"),
        ("workspace-controller", {"controller": {"probePort": 0}}, "probePort"),
        ("gpu-provisioner", {"azure": {"armBaseUrl": "http://plain"}}, "armBaseUrl"),
        ("gpu-provisioner", {"controller": {"leaseDurationSeconds": 1.5}}, "leaseDuration"),
        ("gpu-provisioner", {"provisioning": {"managedLabels": ["a,b"]}}, "managedLabels"),
        ("gpu-provisioner", {"controller": {"logLevel": "verbose"}}, "logLevel"),
    ],
)
def test_schema_rejects(chart: str, values: dict[str, Any], message: str, helm: Any) -> None:
    result = helm.template_text(chart, values, check=False)
    assert result.returncode != 0
    assert message in result.stderr


def test_values_files_parse_as_yaml(helm: Any) -> None:
    for chart in CHARTS:
        assert isinstance(yaml.safe_load((helm.charts / chart / "values.yaml").read_text()), dict)
