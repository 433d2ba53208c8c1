"""Names resolve to canonical entries; aliases say so; typos get a did-you-mean."""

from __future__ import annotations

import pytest

import preset_catalog as pc


@pytest.mark.parametrize(
    ("requested", "canonical", "deprecation"),
    [
        ("phi-3-mini-128k-instruct", "phi-3-mini-128k-instruct", None),
        ("microsoft/Phi-3-mini-128k-instruct", "phi-3-mini-128k-instruct", "is an alias of"),
        ("microsoft/phi-3-mini-128k-instruct", "phi-3-mini-128k-instruct", "is an alias of"),
        ("mistral-7b-v0.3", "mistral-7b", "aliases are deprecated, use 'mistral-7b'"),
        ("meta-llama/Meta-Llama-3.1-8B-Instruct", "llama-3.1-8b-instruct", "is an alias of"),
        ("Phi-4", "phi-4", "preset names are lower-case"),
        ("phi-2", "phi-2", "deprecated and no longer supported; use 'phi-3.5-mini-instruct'"),
    ],
)
def test_name_resolves_to_its_canonical_preset(
    requested: str, canonical: str, deprecation: str | None
) -> None:
    resolution = pc.resolve_preset(requested)
    assert resolution.preset.name == canonical
    assert resolution.requested_name == requested
    assert resolution.via_alias == (requested != canonical)
    if deprecation is None:
        assert resolution.deprecations == ()
    else:
        assert any(deprecation in message for message in resolution.deprecations)


def test_alias_of_a_deprecated_preset_reports_both() -> None:
    assert len(pc.resolve_preset("microsoft/phi-2").deprecations) == 2


@pytest.mark.parametrize(
    ("typo", "suggestion"),
    [
        ("phi-3-mini-128k", "phi-3-mini-128k-instruct"),
        ("phi-3-mini-128k-instuct", "phi-3-mini-128k-instruct"),
        ("falcon-7b-instrct", "falcon-7b-instruct"),
        ("llama-3.1-8b", "llama-3.1-8b-instruct"),
        ("microsoft/Phi-3.5-mini", "phi-3.5-mini-instruct"),
        ("qwen2.5-coder-7b", "qwen2.5-coder-7b-instruct"),
    ],
)
def test_unknown_preset_suggests_the_closest_names(typo: str, suggestion: str) -> None:
    with pytest.raises(pc.UnknownNameError) as raised:
        pc.resolve_preset(typo)
    assert suggestion in raised.value.suggestions
    assert len(raised.value.suggestions) <= 3
    assert f"did you mean {suggestion!r}" in str(raised.value) or suggestion in str(raised.value)
    assert raised.value.kind == "preset"


def test_unknown_name_without_close_matches_points_at_the_list() -> None:
    with pytest.raises(pc.UnknownNameError, match="python -m preset_catalog list"):
        pc.resolve_preset("gpt-17-ultra-maximal")


def test_unknown_name_error_is_a_lookup_error() -> None:
    with pytest.raises(LookupError):
        pc.get_instance_type("nope")


@pytest.mark.parametrize(
    ("requested", "canonical"),
    [
        ("Standard_NC6s_v3", "Standard_NC6s_v3"),
        ("standard_nc6s_v3", "Standard_NC6s_v3"),
        ("Standard_ND96asr_v4", "Standard_ND96asr_A100_v4"),
        ("p4d.24xlarge", "p4d.24xlarge"),
    ],
)
def test_instance_type_lookup_is_case_insensitive_and_knows_aliases(
    requested: str, canonical: str
) -> None:
    assert pc.get_instance_type(requested).name == canonical


@pytest.mark.parametrize(
    ("typo", "suggestion"),
    [
        ("Standard_NC6s_v4", "Standard_NC6s_v3"),
        ("Standard_NC6_v3", "Standard_NC6s_v3"),
        ("Standard_NC24ads_A100", "Standard_NC24ads_A100_v4"),
        ("g5.x1arge", "g5.xlarge"),
    ],
)
def test_unknown_instance_type_suggests_the_closest_names(typo: str, suggestion: str) -> None:
    with pytest.raises(pc.UnknownNameError) as raised:
        pc.get_instance_type(typo)
    assert suggestion in raised.value.suggestions
    assert raised.value.kind == "instance type"


def test_resolution_against_an_explicit_catalog(catalog: pc.Catalog) -> None:
    assert pc.resolve_preset("phi-4", catalog=catalog).preset is catalog.preset_index["phi-4"]
