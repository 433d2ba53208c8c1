"""``python -m gpu_provisioner``: run the provisioner with settings from the environment."""

from gpu_provisioner.main import main

main()
