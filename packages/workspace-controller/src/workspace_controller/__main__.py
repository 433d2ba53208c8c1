"""``python -m workspace_controller``: run the controller with settings from the environment."""

from workspace_controller.main import main

main()
