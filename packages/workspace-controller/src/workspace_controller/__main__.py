"""``python -m workspace_controller``: run the controller with settings from the environment.

Reconciles Kaito Workspaces: asks for GPU nodes, then runs the preset's inference server or tuning
Job and reports progress in the Workspace status. The Kubernetes API is reached through the
in-cluster service account, or $KUBECONFIG elsewhere. SIGTERM/SIGINT stop it gracefully.
"""

import controller_kit
from workspace_controller.main import run
from workspace_controller.settings import ENV_PREFIX, Settings


def main(argv: list[str] | None = None) -> None:
    controller_kit.run_main(
        Settings,
        run,
        prefix=ENV_PREFIX,
        prog="python -m workspace_controller",
        description=__doc__ or "",
        argv=argv,
    )


if __name__ == "__main__":
    main()
