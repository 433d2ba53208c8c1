"""The whole product on the local control plane: the demo (``python -m kaito_stack up|down``)
and the e2e tests' fixture. See :mod:`kaito_stack._stack` for how it is wired."""

from kaito_stack._stack import (
    COMPONENTS,
    GPU_PROVISIONER,
    WORKSPACE_CONTROLLER,
    Component,
    Replica,
    Stack,
    StackOptions,
    stop_from_state,
)
from kaito_stack._tools import CommandError, Tools
from kaito_stack._watch import ConditionTimeoutError, conditions, wait_for_condition

__all__ = [
    "COMPONENTS",
    "GPU_PROVISIONER",
    "WORKSPACE_CONTROLLER",
    "CommandError",
    "Component",
    "ConditionTimeoutError",
    "Replica",
    "Stack",
    "StackOptions",
    "Tools",
    "conditions",
    "stop_from_state",
    "wait_for_condition",
]
