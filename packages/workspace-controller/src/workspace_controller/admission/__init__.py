"""Admission for the Workspace rules that need the preset catalog.

Contract: pure. This package builds manifests and checks Workspace models; it never talks to the
API server (an import contract keeps I/O libraries out). Two halves that must agree:

- :func:`policy_manifests` / :func:`admission_manifests`: a ValidatingAdmissionPolicy whose
  parameter is the catalog ConfigMap (:func:`catalog_configmap`), so the API server itself rejects
  an unknown or deprecated preset, an unknown instance type, a GPU too small for the preset, a
  tuning method the preset lacks, bad annotation values, all-reserved node selectors and more
  nodes than the cluster's cap, without a webhook.
  ``python -m workspace_controller.admission --namespace NS`` prints them as YAML.
- :func:`admission_violations`: the same rules in Python over the same catalog, for the
  reconciler, which reports a condition when a Workspace got in without the policy (it was not
  installed, or the Workspace predates it).

The rules themselves, their order and their codes are in :mod:`.rules`.
"""

from workspace_controller.admission.checking import admission_violations
from workspace_controller.admission.policies import (
    DEFAULT_CATALOG_CONFIGMAP_NAME,
    DEFAULT_POLICY_NAME,
    admission_manifests,
    catalog_configmap,
    policy_manifests,
)
from workspace_controller.admission.rules import (
    AdmissionCode,
    AdmissionRule,
    AdmissionViolation,
)

__all__ = [
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
