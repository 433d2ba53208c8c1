"""Settings come from WORKSPACE_CONTROLLER_<GROUP>_<FIELD>; a bad value names its variable."""

import pytest

from workspace_controller.settings import NodeProvisioningApi, Settings


def test_environment_overrides_defaults_by_group_and_field() -> None:
    settings = Settings.from_env(
        {
            "WORKSPACE_CONTROLLER_PROVISIONING_NODE_PROVISIONING_API": "machine",
            "WORKSPACE_CONTROLLER_CONTROLLER_LEADER_ELECT": "false",
            "WORKSPACE_CONTROLLER_CONTROLLER_PROBE_PORT": "9090",
            "WORKSPACE_CONTROLLER_IMAGES_REGISTRY": "myregistry.azurecr.io/kaito",
        }
    )
    assert settings.provisioning.node_provisioning_api is NodeProvisioningApi.MACHINE
    assert settings.controller.leader_elect is False
    assert settings.controller.probe_port == 9090
    assert settings.images.registry == "myregistry.azurecr.io/kaito"
    assert settings.controller.max_concurrent_reconciles == 5, "untouched fields keep defaults"


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("WORKSPACE_CONTROLLER_CONTROLLER_PROBE_PORT", "eighty"),
        ("WORKSPACE_CONTROLLER_CONTROLLER_LEADER_ELECT", "maybe"),
        ("WORKSPACE_CONTROLLER_PROVISIONING_NODE_PROVISIONING_API", "nodepool"),
    ],
)
def test_a_bad_value_names_its_variable(variable: str, value: str) -> None:
    with pytest.raises(ValueError, match=variable):
        Settings.from_env({variable: value})
