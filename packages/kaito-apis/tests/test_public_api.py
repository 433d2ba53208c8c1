"""The public surface of kaito_apis is deliberate: adding or removing a name is a visible change."""

import kaito_apis


def test_all_is_pinned() -> None:
    assert sorted(kaito_apis.__all__) == [
        "Condition",
        "ConditionStatus",
        "KubeModel",
        "LabelSelector",
        "LabelSelectorRequirement",
        "ObjectMeta",
        "Quantity",
        "ResourceList",
        "Taint",
        "TaintEffect",
        "karpenter",
        "workspace",
    ]
    for name in kaito_apis.__all__:
        assert getattr(kaito_apis, name) is not None
