"""Which claim API the controller uses, from the setting and what the API server serves."""

import pytest

from workspace_controller import discovery
from workspace_controller.settings import NodeProvisioningApi as Api


@pytest.mark.parametrize(
    ("setting", "served", "chosen"),
    [
        (Api.AUTO, {"v1", "v1alpha5"}, "nodeclaim"),
        (Api.AUTO, {"v1"}, "nodeclaim"),
        (Api.AUTO, {"v1alpha5"}, "machine"),
        (Api.AUTO, set(), None),
        (Api.MACHINE, {"v1"}, "machine"),
        (Api.NODECLAIM, set(), "nodeclaim"),
        (Api.NONE, {"v1", "v1alpha5"}, None),
    ],
)
def test_claim_api_choice(setting: Api, served: set[str], chosen: str | None) -> None:
    assert discovery.choose(setting, served) == chosen
