"""tools/ci/debian-prereqs.sh, which `make test` and `.ci/run` both call before the tests.

Runs the script with PATH set to a folder of stand-ins only, so the real apt-get is never reached:
the stand-in apt-get and sudo record their arguments instead of installing anything.
"""

import os
import shutil
import stat
import subprocess
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "tools" / "ci" / "debian-prereqs.sh"
BASH = shutil.which("bash") or "/bin/bash"


def _stand_in(bin_dir: Path, name: str, log: Path | None = None) -> None:
    body = "#!/bin/sh\n"
    if log is not None:
        body += f'echo "{name} $*" >> "{log}"\n'
        if name == "sudo":
            body += 'exec "$@"\n'
    path = bin_dir / name
    path.write_text(body)
    path.chmod(path.stat().st_mode | stat.S_IXUSR)


def _run(bin_dir: Path) -> subprocess.CompletedProcess[str]:
    id_path = shutil.which("id")
    assert id_path is not None
    (bin_dir / "id").symlink_to(id_path)
    return subprocess.run(
        [BASH, str(SCRIPT)],
        env={"PATH": str(bin_dir)},
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def test_does_nothing_when_both_programs_are_on_path(tmp_path: Path) -> None:
    log = tmp_path / "calls.log"
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name in ("prometheus", "docker-registry"):
        _stand_in(bin_dir, name)
    for name in ("apt-get", "sudo"):
        _stand_in(bin_dir, name, log)

    result = _run(bin_dir)

    assert result.returncode == 0, result.stderr
    assert not log.exists()


def test_installs_only_the_missing_package(tmp_path: Path) -> None:
    log = tmp_path / "calls.log"
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    _stand_in(bin_dir, "prometheus")
    for name in ("apt-get", "sudo"):
        _stand_in(bin_dir, name, log)

    result = _run(bin_dir)

    assert result.returncode == 0, result.stderr
    apt_calls = [line for line in log.read_text().splitlines() if line.startswith("apt-get")]
    assert apt_calls[0] == "apt-get update -qq"
    assert apt_calls[1].startswith("apt-get install")
    assert apt_calls[1].split()[-1] == "docker-registry"
    assert "prometheus" not in apt_calls[1]
    sudo_used = any(line.startswith("sudo") for line in log.read_text().splitlines())
    assert sudo_used == (os.getuid() != 0)


def test_fails_with_one_line_when_missing_and_no_apt_get(tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()

    result = _run(bin_dir)

    assert result.returncode == 1
    assert "prometheus docker-registry" in result.stderr
