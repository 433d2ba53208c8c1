"""``python -m gpu_provisioner``: --help lists the settings; bad ones are one line, exit 2."""

import os
import subprocess
import sys
from pathlib import Path

import controller_kit
from gpu_provisioner.settings import ENV_PREFIX, Settings


def _run(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(ENV_PREFIX)}
    clean.pop("KUBERNETES_SERVICE_HOST", None)
    return subprocess.run(
        [sys.executable, "-m", "gpu_provisioner", *args],
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_help_lists_every_setting_and_needs_no_cluster(tmp_path: Path) -> None:
    result = _run("--help", KUBECONFIG=str(tmp_path / "absent"))

    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    described = controller_kit.describe_settings(Settings, prefix=ENV_PREFIX)
    assert len(described) > 10
    for setting in described:
        assert setting.variable in result.stdout
        if setting.doc:
            assert setting.doc.split()[0] in result.stdout


def test_bad_setting_is_one_line_on_stderr_and_exit_2() -> None:
    result = _run(**{"GPU_PROVISIONER_CONTROLLER_PROBE_PORT": "abc"})

    assert result.returncode == 2
    assert result.stderr.count("\n") == 1, result.stderr
    assert "GPU_PROVISIONER_CONTROLLER_PROBE_PORT='abc'" in result.stderr


def test_missing_kubeconfig_is_one_line_and_exit_2(tmp_path: Path) -> None:
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text("apiVersion: v1\nkind: Config\n")

    result = _run(KUBECONFIG=str(kubeconfig), GPU_PROVISIONER_CONTROLLER_LOG_JSON="false")

    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "no Kubernetes API configuration" in result.stderr.splitlines()[-1]
