"""``python -m workspace_controller.admission --namespace NS``: print the admission manifests.

For the Helm chart and for users who install the policy by hand: the catalog ConfigMap, the
ValidatingAdmissionPolicy and its bindings, as one YAML stream in apply order
(``... | kubectl apply -f -``). Multi-line strings (the catalog document) are written as YAML
blocks so the output stays reviewable.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

import yaml

from workspace_controller.admission import rules
from workspace_controller.admission.policies import (
    DEFAULT_CATALOG_CONFIGMAP_NAME,
    DEFAULT_POLICY_NAME,
    admission_manifests,
)


class _Dumper(yaml.SafeDumper):
    """SafeDumper that writes multi-line strings and CEL expressions as literal blocks."""


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    # CEL string literals are single-quoted; YAML's quoted styles would double or escape them.
    style = "|" if "\n" in value or "'" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _str)


def render(manifests: list[dict[str, Any]]) -> str:
    """The manifests as one YAML stream."""
    return yaml.dump_all(manifests, Dumper=_Dumper, sort_keys=False, width=100)


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit code."""
    parser = argparse.ArgumentParser(
        prog="python -m workspace_controller.admission",
        description="Print the catalog ConfigMap, the ValidatingAdmissionPolicy and its bindings.",
    )
    parser.add_argument(
        "--namespace", required=True, help="namespace of the catalog ConfigMap (the parameter)"
    )
    parser.add_argument("--catalog-name", default=DEFAULT_CATALOG_CONFIGMAP_NAME)
    parser.add_argument("--policy-name", default=DEFAULT_POLICY_NAME)
    parser.add_argument(
        "--max-nodes-per-workspace",
        type=int,
        default=rules.DEFAULT_MAX_NODES_PER_WORKSPACE,
        help="global cap on resource.count (a namespace annotation "
        f"{rules.ANNOTATION_MAX_NODES_PER_WORKSPACE} replaces it there)",
    )
    args = parser.parse_args(argv)
    sys.stdout.write(
        render(
            admission_manifests(
                namespace=args.namespace,
                catalog_configmap_name=args.catalog_name,
                policy_name=args.policy_name,
                max_nodes_per_workspace=args.max_nodes_per_workspace,
            )
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
