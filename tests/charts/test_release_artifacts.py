"""`make images` and `make charts-package` (mk/release.mk), versioned from one source.

No OCI engine runs here, so `make images` is run against stand-in builders: scripts on a PATH
of their own that record their argv. `make charts-package` runs the pinned helm for real.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tarfile
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

from localcluster import find_repo_root

ROOT = find_repo_root(Path(__file__))
VERSION: str = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
IMAGES = ("workspace-controller", "gpu-provisioner", "model-runtime")
CHARTS = ("workspace-controller", "gpu-provisioner")
MAKE = shutil.which("make")

pytestmark = pytest.mark.skipif(MAKE is None, reason="make is not installed")


def _make(
    *args: str, path: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    assert MAKE is not None
    return subprocess.run(
        [MAKE, "--no-print-directory", "-s", *args],
        cwd=ROOT,
        env={"PATH": str(path), "HOME": str(path), **(env or {})},
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


@pytest.fixture
def bin_dir(tmp_path: Path) -> Path:
    """A PATH holding only the tools the makefiles read at parse time (no builder)."""
    directory = tmp_path / "bin"
    directory.mkdir()
    for tool in ("sed", "head"):
        found = shutil.which(tool)
        assert found, tool
        (directory / tool).symlink_to(found)
    return directory


def _stand_in(bin_dir: Path, name: str) -> Path:
    """An executable ``name`` that appends its argv (one line, space-joined) to ``<name>.log``."""
    log = bin_dir.parent / f"{name}.log"
    script = bin_dir / name
    script.write_text(f'#!/bin/sh\necho "$*" >> {log}\n')
    script.chmod(0o755)
    return log


def _calls(log: Path) -> list[list[str]]:
    return [line.split() for line in log.read_text().splitlines()] if log.exists() else []


def _build_call(name: str, registry: str = "ghcr.io/kaito-py", tag: str = VERSION) -> list[str]:
    return ["build", "-f", f"images/{name}/Dockerfile", "-t", f"{registry}/{name}:{tag}", "."]


def test_make_images_builds_the_three_images_with_docker_tagged_with_the_version(
    bin_dir: Path,
) -> None:
    docker = _stand_in(bin_dir, "docker")
    podman = _stand_in(bin_dir, "podman")

    result = _make("images", path=bin_dir)

    assert result.returncode == 0, result.stderr
    assert _calls(docker) == [_build_call(name) for name in IMAGES]
    assert _calls(podman) == []


@pytest.mark.parametrize(
    ("present", "chosen"),
    [(("podman", "buildah"), "podman"), (("buildah",), "buildah")],
)
def test_make_images_falls_back_to_podman_then_buildah_given_the_dockerignore(
    bin_dir: Path, present: tuple[str, ...], chosen: str
) -> None:
    logs = {name: _stand_in(bin_dir, name) for name in present}

    result = _make("images", path=bin_dir)

    assert result.returncode == 0, result.stderr
    expected = [
        ["build", "--ignorefile", f"images/{name}/Dockerfile.dockerignore", *_build_call(name)[1:]]
        for name in IMAGES
    ]
    assert _calls(logs[chosen]) == expected
    assert all(_calls(log) == [] for name, log in logs.items() if name != chosen)
    for name in IMAGES:
        assert (ROOT / f"images/{name}/Dockerfile.dockerignore").is_file()


def test_image_builder_registry_and_tag_can_be_overridden(bin_dir: Path) -> None:
    docker = _stand_in(bin_dir, "docker")
    other = _stand_in(bin_dir, "my-builder")

    result = _make(
        "images",
        "IMAGE_BUILDER=my-builder",
        "IMAGE_REGISTRY=example.azurecr.io/team",
        "IMAGE_TAG=2.0.0-rc1",
        path=bin_dir,
    )

    assert result.returncode == 0, result.stderr
    assert _calls(docker) == []
    assert [call[-5:] for call in _calls(other)] == [
        _build_call(name, "example.azurecr.io/team", "2.0.0-rc1")[1:] for name in IMAGES
    ]


def test_make_images_push_pushes_the_built_tags(bin_dir: Path) -> None:
    docker = _stand_in(bin_dir, "docker")

    result = _make("images-push", path=bin_dir)

    assert result.returncode == 0, result.stderr
    assert _calls(docker) == [["push", f"ghcr.io/kaito-py/{name}:{VERSION}"] for name in IMAGES]


def test_make_images_without_a_builder_fails_with_one_clear_line(bin_dir: Path) -> None:
    result = _make("images", path=bin_dir)

    assert result.returncode != 0
    ours = [line for line in result.stderr.splitlines() if line.startswith("make images:")]
    assert ours == [
        "make images: no OCI image builder found: install docker, podman or buildah, "
        "or set IMAGE_BUILDER=<command>"
    ]


def _chart_yaml_of(archive: Path, chart: str) -> dict[str, Any]:
    with tarfile.open(archive) as tar:
        member = tar.extractfile(f"{chart}/Chart.yaml")
        assert member is not None
        loaded: dict[str, Any] = yaml.safe_load(member.read())
    return loaded


def _package(helm: Any, tmp_path: Path, *args: str) -> Path:
    dist = tmp_path / "dist"
    path = Path(os.environ["PATH"])  # the real PATH: helm package needs nothing else
    result = _make("charts-package", f"HELM={helm.binary}", f"CHARTS_DIST={dist}", *args, path=path)
    assert result.returncode == 0, result.stderr
    return dist


def test_charts_package_writes_both_charts_with_the_image_version_as_app_version(
    helm: Any, tmp_path: Path
) -> None:
    dist = _package(helm, tmp_path)

    for chart in CHARTS:
        source = yaml.safe_load((ROOT / "charts" / chart / "Chart.yaml").read_text())
        archive = dist / f"{chart}-{source['version']}.tgz"
        packaged = _chart_yaml_of(archive, chart)
        assert packaged["version"] == source["version"]
        assert packaged["appVersion"] == VERSION
        # The packaged chart installs the image `make images` tags.
        required = [
            f"--set-string={group}.{key}={value}"
            for group, fields in helm.required_values.get(chart, {}).items()
            for key, value in fields.items()
        ]
        rendered = helm.run("template", chart, str(archive), "--namespace", "ns", *required).stdout
        deployment = next(
            d for d in yaml.safe_load_all(rendered) if d and d["kind"] == "Deployment"
        )
        image = deployment["spec"]["template"]["spec"]["containers"][0]["image"]
        assert image == f"ghcr.io/kaito-py/{chart}:{VERSION}"


def test_charts_package_follows_an_overridden_image_tag(helm: Any, tmp_path: Path) -> None:
    dist = _package(helm, tmp_path, "IMAGE_TAG=3.1.4")

    for chart in CHARTS:
        source = yaml.safe_load((ROOT / "charts" / chart / "Chart.yaml").read_text())
        assert _chart_yaml_of(dist / f"{chart}-{source['version']}.tgz", chart)["appVersion"] == (
            "3.1.4"
        )


def _runtime_image_tags(node: Any) -> list[str]:
    if isinstance(node, dict):
        own = [str(node["tag"])] if node.get("name") == "model-runtime" and "tag" in node else []
        return own + [tag for value in node.values() for tag in _runtime_image_tags(value)]
    if isinstance(node, list):
        return [tag for value in node for tag in _runtime_image_tags(value)]
    return []


def test_every_version_in_the_tree_is_the_one_version_source() -> None:
    """The charts' unpackaged appVersion and the catalog's model-runtime tag are the images' tag."""
    for chart in CHARTS:
        source = yaml.safe_load((ROOT / "charts" / chart / "Chart.yaml").read_text())
        assert str(source["appVersion"]) == VERSION, chart
    presets = ROOT / "packages/preset-catalog/src/preset_catalog/data/presets"
    tags = [
        tag
        for f in sorted(presets.glob("*.yaml"))
        for tag in _runtime_image_tags(yaml.safe_load(f.read_text()))
    ]
    assert tags
    assert set(tags) == {VERSION}
