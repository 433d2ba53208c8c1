"""``python -m workspace_controller``: run the controller with settings from the environment.

Reconciles Kaito Workspaces: asks for GPU nodes, then runs the preset's inference server or tuning
Job and reports progress in the Workspace status. The Kubernetes API is reached through the
in-cluster service account, or $KUBECONFIG elsewhere. SIGTERM/SIGINT stop it gracefully.
"""

import asyncio
import functools
import sys

from kubernetes_asyncio.config import ConfigException

import controller_kit
from workspace_controller.main import run
from workspace_controller.settings import ENV_PREFIX, Settings


def main(argv: list[str] | None = None) -> None:
    settings = controller_kit.settings_from_command_line(
        Settings,
        prefix=ENV_PREFIX,
        prog="python -m workspace_controller",
        description=__doc__ or "",
        argv=argv,
    )
    try:
        asyncio.run(controller_kit.run_until_signalled(functools.partial(run, settings)))
    except ConfigException as exc:
        print(
            f"python -m workspace_controller: no Kubernetes API configuration: {exc}",
            file=sys.stderr,
        )
        sys.exit(2)


if __name__ == "__main__":
    main()
