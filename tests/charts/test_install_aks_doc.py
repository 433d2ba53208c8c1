"""docs/install-aks.md is true of the charts: its values render, and the names line up.

The guide's shell blocks are read as a reader would run them: ``export`` lines set variables
(command substitutions, answered by Azure, get made-up GUIDs), heredocs write the values files,
and every other command is split after substitution. The values are rendered with ``helm
template`` under the release names and namespaces of the guide's ``helm install`` commands, and
the rendered ServiceAccount must be the federated credential's subject and carry the identity.
"""

from __future__ import annotations

import re
import shlex
import tomllib
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from localcluster import find_repo_root

ROOT = find_repo_root(Path(__file__))
GUIDE = ROOT / "docs" / "install-aks.md"
VERSION: str = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
CHARTS = ("gpu-provisioner", "workspace-controller")

_SH_BLOCK = re.compile(r"^```sh\n(.*?)^```$", re.DOTALL | re.MULTILINE)
_HEREDOC = re.compile(r"^cat > (\S+) <<EOF\n(.*?)^EOF\n", re.DOTALL | re.MULTILINE)
_EXPORT = re.compile(r"^export (\w+)=(.*)$")
_VARIABLE = re.compile(r"\$\{(\w+)\}|\$(\w+)")


@dataclass
class Guide:
    env: dict[str, str] = field(default_factory=dict)
    substituted_from: dict[str, str] = field(default_factory=dict)
    """For each variable set by a command substitution, that command."""
    files: dict[str, str] = field(default_factory=dict)
    commands: list[list[str]] = field(default_factory=list)

    def substitute(self, text: str) -> str:
        def value(match: re.Match[str]) -> str:
            name = match.group(1) or match.group(2)
            assert name in self.env, f"${name} is used before the guide sets it"
            return self.env[name]

        return _VARIABLE.sub(value, text)

    def values(self, name: str) -> dict[str, Any]:
        loaded: dict[str, Any] = yaml.safe_load(self.files[name])
        return loaded

    def find(self, *prefix: str) -> list[list[str]]:
        return [c for c in self.commands if c[: len(prefix)] == list(prefix)]

    def one(self, *prefix: str) -> list[str]:
        found = self.find(*prefix)
        assert len(found) == 1, f"expected one `{' '.join(prefix)}` in the guide, got {found}"
        return found[0]


def _option(command: list[str], name: str) -> str:
    assert name in command, f"{name} missing from {command}"
    return command[command.index(name) + 1]


def _read_guide() -> Guide:
    guide = Guide()
    for block in _SH_BLOCK.findall(GUIDE.read_text()):
        heredocs = {m.start(): m for m in _HEREDOC.finditer(block)}
        rest = block
        for match in heredocs.values():
            rest = rest.replace(match.group(0), "")
        # Heredocs come after the exports they use: substitute once every export is read.
        pending = [(m.group(1), m.group(2)) for m in heredocs.values()]
        for line in rest.replace("\\\n", " ").splitlines():
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            if export := _EXPORT.match(line):
                name, raw = export.groups()
                if raw.startswith("$("):
                    guide.env[name] = str(uuid.uuid5(uuid.NAMESPACE_DNS, name))
                    guide.substituted_from[name] = raw
                else:
                    guide.env[name] = shlex.split(guide.substitute(raw), comments=True)[0]
                continue
            guide.commands.append(shlex.split(guide.substitute(line), comments=True))
        for name, text in pending:
            guide.files[name] = guide.substitute(text)
    return guide


@pytest.fixture(scope="module")
def guide() -> Guide:
    return _read_guide()


@dataclass(frozen=True)
class Release:
    name: str
    namespace: str
    values: dict[str, Any]
    objects: list[dict[str, Any]]

    def one(self, kind: str) -> dict[str, Any]:
        found = [o for o in self.objects if o["kind"] == kind]
        assert len(found) == 1, kind
        return found[0]


@pytest.fixture(scope="module")
def releases(
    guide: Guide, helm: Any, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Release]:
    """Each chart rendered as the guide's ``helm install`` installs it."""
    rendered: dict[str, Release] = {}
    directory = tmp_path_factory.mktemp("install-aks")
    for chart in CHARTS:
        version = yaml.safe_load((ROOT / "charts" / chart / "Chart.yaml").read_text())["version"]
        [install] = [c for c in guide.find("helm", "install") if chart in c[3]]
        assert install[3] == f"dist/charts/{chart}-{version}.tgz", "not the packaged chart"
        values_name = _option(install, "--values")
        (directory / values_name).write_text(guide.files[values_name])
        namespace = _option(install, "--namespace")
        result = helm.run(
            "template", install[2], str(ROOT / "charts" / chart),
            "--namespace", namespace, "--values", str(directory / values_name),
        )  # fmt: skip
        objects = [doc for doc in yaml.safe_load_all(result.stdout) if doc]
        rendered[chart] = Release(install[2], namespace, guide.values(values_name), objects)
    return rendered


def test_the_cluster_has_an_oidc_issuer_and_workload_identity(guide: Guide) -> None:
    create = guide.one("az", "aks", "create")
    assert "--enable-oidc-issuer" in create
    assert "--enable-workload-identity" in create
    issuer_from = guide.substituted_from["AKS_OIDC_ISSUER"]
    assert "oidcIssuerProfile.issuerUrl" in issuer_from
    assert "--name ${CLUSTER_NAME}" in issuer_from


def test_federated_subject_is_the_rendered_service_account_of_the_provisioner(
    guide: Guide, releases: dict[str, Release]
) -> None:
    provisioner = releases["gpu-provisioner"]
    account = provisioner.one("ServiceAccount")
    deployment = provisioner.one("Deployment")
    credential = guide.one("az", "identity", "federated-credential", "create")

    assert _option(credential, "--subject") == (
        f"system:serviceaccount:{provisioner.namespace}:{account['metadata']['name']}"
    )
    assert _option(credential, "--audience") == "api://AzureADTokenExchange"
    assert _option(credential, "--issuer") == guide.env["AKS_OIDC_ISSUER"]
    identity = guide.one("az", "identity", "create")
    assert _option(credential, "--identity-name") == _option(identity, "--name")
    pod = deployment["spec"]["template"]
    assert pod["spec"]["serviceAccountName"] == account["metadata"]["name"]
    assert pod["metadata"]["labels"]["azure.workload.identity/use"] == "true"
    # The guide's own checks name the same objects.
    [get_account] = guide.find("kubectl", "get", "serviceaccount")
    assert get_account[3] == account["metadata"]["name"]
    assert f"deployment/{deployment['metadata']['name']}" in [
        c[3] for c in guide.find("kubectl", "rollout", "status")
    ]


def test_service_account_carries_the_identity_the_credential_belongs_to(
    guide: Guide, releases: dict[str, Release]
) -> None:
    annotations = releases["gpu-provisioner"].one("ServiceAccount")["metadata"]["annotations"]

    assert annotations["azure.workload.identity/client-id"] == guide.env["CLIENT_ID"]
    assert annotations["azure.workload.identity/tenant-id"] == guide.env["TENANT_ID"]
    assert "clientId" in guide.substituted_from["CLIENT_ID"]
    assert "--name ${IDENTITY_NAME}" in guide.substituted_from["CLIENT_ID"]


def test_the_identity_may_manage_the_clusters_agent_pools_and_read_quota(
    guide: Guide, releases: dict[str, Release]
) -> None:
    azure = releases["gpu-provisioner"].values["azure"]
    create = guide.one("az", "aks", "create")
    assert _option(create, "--resource-group") == azure["resourceGroup"]
    assert _option(create, "--name") == azure["clusterName"]
    assert _option(create, "--location") == azure["location"]
    assert azure["subscriptionId"] == guide.env["SUBSCRIPTION_ID"]

    assignments = {
        (_option(c, "--role"), _option(c, "--scope"))
        for c in guide.find("az", "role", "assignment", "create")
        if _option(c, "--assignee-object-id") == guide.env["PRINCIPAL_ID"]
    }
    subscription = f"/subscriptions/{azure['subscriptionId']}"
    assert ("Contributor", f"{subscription}/resourceGroups/{azure['resourceGroup']}") in assignments
    if azure.get("checkQuota", True):
        assert ("Reader", subscription) in assignments
    assert "principalId" in guide.substituted_from["PRINCIPAL_ID"]


def test_the_charts_run_the_images_the_guide_builds(
    guide: Guide, releases: dict[str, Release]
) -> None:
    build = guide.one("make", "images", "images-push")
    registry = next(a.split("=", 1)[1] for a in build if a.startswith("IMAGE_REGISTRY="))
    assert guide.one("make", "charts-package")
    for chart, release in releases.items():
        container = release.one("Deployment")["spec"]["template"]["spec"]["containers"][0]
        assert container["image"] == f"{registry}/{chart}:{VERSION}"
    assert releases["workspace-controller"].values["images"]["registry"] == registry


def test_the_quick_start_fills_every_placeholder_of_the_example(guide: Guide) -> None:
    [apply] = [c for c in guide.find("sed") if "|" in c]
    example = next(a for a in apply if a.startswith("examples/"))
    text = (ROOT / example).read_text()
    replaced = [e.split("/")[1] for e in apply if e.startswith("s/")]
    assert set(re.findall(r"\b[A-Z_]+_HERE\b", text)) == set(replaced)
    secret = guide.one("kubectl", "create", "secret", "docker-registry")
    assert f"s/ACR_REGISTRY_SECRET_HERE/{secret[4]}/" in apply
    name = yaml.safe_load(text)["metadata"]["name"]
    assert ["kubectl", "get", "workspace", name, "--watch"] in guide.commands
