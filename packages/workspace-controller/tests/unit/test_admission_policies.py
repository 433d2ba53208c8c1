"""The admission policy builder: manifest shape, internal consistency, and the CLI.

Whether the CEL compiles and answers as check_fit does is proven on the real API server
(tests/cluster/test_admission_policy.py); these tests catch the mistakes that need no server: a
variable used before it is defined, a catalog key the export does not write, a binding that points
elsewhere than the ConfigMap.
"""

from __future__ import annotations

import io
import json
import re
from contextlib import redirect_stdout
from typing import Any

import pytest
import yaml

import preset_catalog
from workspace_controller import admission
from workspace_controller.admission import AdmissionRule, policies, rules
from workspace_controller.admission.__main__ import main

Manifest = dict[str, Any]


def _policy() -> Manifest:
    return _policy_and_bindings()[0]


def _policy_and_bindings(**kwargs: str) -> tuple[Manifest, Manifest, Manifest]:
    args = {"catalog_configmap_name": "catalog", "catalog_namespace": "kaito-system", **kwargs}
    policy, creates, updates = admission.policy_manifests(**args)
    return policy, creates, updates


def test_public_api_is_pinned() -> None:
    assert admission.__all__ == [
        "DEFAULT_CATALOG_CONFIGMAP_NAME",
        "DEFAULT_POLICY_NAME",
        "AdmissionCode",
        "AdmissionRule",
        "AdmissionViolation",
        "admission_manifests",
        "admission_violations",
        "catalog_configmap",
        "policy_manifests",
    ]


def test_policy_matches_both_workspace_versions_on_create_and_update() -> None:
    policy = _policy()
    assert (policy["apiVersion"], policy["kind"]) == (
        "admissionregistration.k8s.io/v1",
        "ValidatingAdmissionPolicy",
    )
    spec = policy["spec"]
    assert spec["failurePolicy"] == "Fail"
    assert spec["paramKind"] == {"apiVersion": "v1", "kind": "ConfigMap"}
    assert spec["matchConstraints"]["resourceRules"] == [
        {
            "apiGroups": ["kaito.sh"],
            "apiVersions": ["v1alpha1", "v1beta1"],
            "operations": ["CREATE", "UPDATE"],
            "resources": ["workspaces"],
        }
    ]


def _rule(operation: str) -> dict[str, list[str]]:
    return {
        "apiGroups": ["kaito.sh"],
        "apiVersions": ["v1alpha1", "v1beta1"],
        "operations": [operation],
        "resources": ["workspaces"],
    }


def test_create_binding_denies_without_the_catalog() -> None:
    policy, creates, _ = _policy_and_bindings(policy_name="catalog-rules")
    assert policy["metadata"]["name"] == creates["metadata"]["name"] == "catalog-rules"
    assert creates["kind"] == "ValidatingAdmissionPolicyBinding"
    assert creates["spec"] == {
        "policyName": "catalog-rules",
        "paramRef": {
            "name": "catalog",
            "namespace": "kaito-system",
            "parameterNotFoundAction": "Deny",
        },
        "matchResources": {"resourceRules": [_rule("CREATE")]},
        "validationActions": ["Deny"],
    }


def test_update_binding_lets_updates_through_without_the_catalog() -> None:
    _, creates, updates = _policy_and_bindings(policy_name="catalog-rules")
    assert updates["metadata"]["name"] == "catalog-rules-updates"
    assert updates["spec"] == {
        **creates["spec"],
        "paramRef": {
            "name": "catalog",
            "namespace": "kaito-system",
            "parameterNotFoundAction": "Allow",
        },
        "matchResources": {"resourceRules": [_rule("UPDATE")]},
    }


def test_default_policy_name() -> None:
    policy = _policy()
    assert policy["metadata"]["name"] == admission.DEFAULT_POLICY_NAME == "workspace-catalog-rules"


def test_one_validation_per_rule_each_with_a_reason_and_one_message() -> None:
    validations = _policy()["spec"]["validations"]
    assert len(validations) == len(AdmissionRule)
    for validation in validations:
        assert validation["reason"] == "Invalid"
        assert len({"message", "messageExpression"} & set(validation)) == 1, validation


def test_variables_are_unique_and_defined_before_use() -> None:
    spec = _policy()["spec"]
    defined: set[str] = set()
    for variable in spec["variables"]:
        used = set(re.findall(r"variables\.(\w+)", variable["expression"]))
        assert used <= defined, (
            f"{variable['name']} uses {sorted(used - defined)} before definition"
        )
        assert variable["name"] not in defined
        defined.add(variable["name"])
    for validation in spec["validations"]:
        text = validation["expression"] + validation.get("messageExpression", "")
        assert set(re.findall(r"variables\.(\w+)", text)) <= defined


def _policy_text() -> str:
    return json.dumps(_policy()["spec"])


def test_every_catalog_key_the_policy_reads_is_exported() -> None:
    """Each literal key (or key suffix after a preset / instance-type prefix) exists in the export.

    A suffix ending in ``.`` is completed by a variable (``tuning.`` + method) and only needs a key
    that starts with it.
    """
    data = preset_catalog.export_configmap()["data"]
    text = _policy_text()
    preset_suffixes = set(re.findall(r"variables\.p \+ \(?(?:variables\.\w+ \? )?'([^']+)'", text))
    preset_suffixes |= set(re.findall(r"\? '(inference\.[^']+)' : '(inference\.[^']+)'", text)[0])
    sku_suffixes = set(re.findall(r"variables\.s \+ '([^']+)'", text))
    assert {"deprecated", "runtimes", "inference.gpu-count", "tuning-methods"} <= preset_suffixes
    assert {"gpu-count", "gpu-memory-mib", "total-gpu-memory-gib"} <= sku_suffixes

    def exported(key: str) -> bool:
        return any(k.startswith(key) for k in data) if key.endswith(".") else key in data

    for suffix in preset_suffixes:
        preset = "phi-2" if suffix == "replaced-by" else "phi-4"
        assert exported(f"preset.{preset}.{suffix}"), suffix
    for suffix in sku_suffixes:
        assert exported(f"instance-type.Standard_NC6s_v3.{suffix}"), suffix
    for prefix in re.findall(r"'((?:preset|instance-type)-[a-z]+\.)'", text):
        assert exported(prefix), prefix
    for key in re.findall(r"params\.data\['([^']+)'\]", text):
        assert key in data, key
    for suffix in ("mib", "gib"):  # variables.tuningKey + 'mib' / 'gib'
        assert f"preset.phi-4.tuning.qlora.gpu-memory-{suffix}" in data


def test_reserved_selector_keys_and_annotation_values_come_from_the_api_constants() -> None:
    text = _policy_text()
    for key in admission.rules.RESERVED_SELECTOR_KEYS:
        assert f"'{key}'" in text
    assert "['vllm', 'transformers']" in text
    assert "['balanced', 'interactivity', 'throughput']" in text
    assert "'kaito.sh/bypass-resource-checks' in variables.annotations" in text


def test_catalog_configmap_is_the_catalog_export() -> None:
    assert admission.catalog_configmap("kaito-system", "catalog") == (
        preset_catalog.export_configmap(name="catalog", namespace="kaito-system")
    )
    default = preset_catalog.export_configmap()["metadata"]["name"]
    assert default == admission.DEFAULT_CATALOG_CONFIGMAP_NAME
    assert admission.catalog_configmap("ns")["metadata"]["name"] == default


def test_admission_manifests_are_configmap_policy_bindings_in_apply_order() -> None:
    configmap, policy, *bindings = admission.admission_manifests(namespace="kaito-system")
    assert [m["kind"] for m in (configmap, policy, *bindings)] == [
        "ConfigMap",
        "ValidatingAdmissionPolicy",
        "ValidatingAdmissionPolicyBinding",
        "ValidatingAdmissionPolicyBinding",
    ]
    for binding in bindings:
        assert binding["spec"]["paramRef"]["name"] == configmap["metadata"]["name"]
        assert binding["spec"]["paramRef"]["namespace"] == configmap["metadata"]["namespace"]
        assert binding["spec"]["policyName"] == policy["metadata"]["name"]


def test_manifests_are_deterministic_and_plain_json() -> None:
    first = admission.admission_manifests(namespace="ns")
    assert json.loads(json.dumps(first)) == first == admission.admission_manifests(namespace="ns")


def _run_cli(*argv: str) -> list[Manifest]:
    out = io.StringIO()
    with redirect_stdout(out):
        assert main(list(argv)) == 0
    docs: list[Manifest] = list(yaml.safe_load_all(out.getvalue()))
    return docs


def test_cli_prints_every_manifest_as_yaml() -> None:
    docs = _run_cli("--namespace", "kaito-system")
    assert docs == admission.admission_manifests(namespace="kaito-system")


def test_cli_takes_the_names() -> None:
    _, policy, creates, updates = _run_cli(
        "--namespace", "ns", "--catalog-name", "cat", "--policy-name", "rules"
    )
    assert policy["metadata"]["name"] == "rules"
    assert creates["spec"]["paramRef"] == {
        "name": "cat",
        "namespace": "ns",
        "parameterNotFoundAction": "Deny",
    }
    assert updates["metadata"]["name"] == "rules-updates"


def test_cli_writes_the_catalog_document_as_a_yaml_block() -> None:
    out = io.StringIO()
    with redirect_stdout(out):
        main(["--namespace", "ns"])
    assert "catalog.yaml: |" in out.getvalue()


def test_cli_requires_a_namespace(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main([])
    assert "--namespace" in capsys.readouterr().err


def test_global_node_cap_is_the_first_variable() -> None:
    policy, *_ = admission.policy_manifests(
        catalog_configmap_name="c", catalog_namespace="n", max_nodes_per_workspace=25
    )
    assert policy["spec"]["variables"][0] == {"name": "globalMaxNodes", "expression": "25"}
    default, *_ = admission.policy_manifests(catalog_configmap_name="c", catalog_namespace="n")
    assert default["spec"]["variables"][0]["expression"] == str(
        rules.DEFAULT_MAX_NODES_PER_WORKSPACE
    )


def test_cli_takes_the_node_cap() -> None:
    out = io.StringIO()
    with redirect_stdout(out):
        assert main(["--namespace", "ns", "--max-nodes-per-workspace", "3"]) == 0
    policy = next(d for d in yaml.safe_load_all(out.getvalue()) if d["kind"].endswith("Policy"))
    assert policy["spec"]["variables"][0] == {"name": "globalMaxNodes", "expression": "3"}


# Strings a user controls that a message may repeat; each must go through the echo (cut, one line).
_USER_STRINGS = (
    "variables.presetName",
    "variables.instanceType",
    *(f"variables.annotations['{key}']" for key in rules.ANNOTATION_VALUES),
)


def test_messages_repeat_user_strings_only_through_the_echo() -> None:
    spec = _policy()["spec"]
    texts = [v.get("messageExpression", "") for v in spec["validations"]]
    texts += [v["expression"] for v in spec["variables"] if v["name"] == "annotationProblems"]
    for text in texts:
        for user in _USER_STRINGS:
            echoed = text.replace(policies._echo(user), "ECHOED")
            # What remains may test the string (contains, in, ==) but never concatenate it.
            assert not re.search(rf"\+\s*{re.escape(user)}(?![.\w])", echoed), (user, text)
            assert not re.search(rf"{re.escape(user)}\s*\+", echoed), (user, text)
