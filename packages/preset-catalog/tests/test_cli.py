"""``python -m preset_catalog``: exit 0 when it fits, 1 with reasons when not, 2 on bad input."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import yaml

import preset_catalog as pc
from preset_catalog._cli import main

SEED = [
    "fit",
    "phi-3-mini-128k-instruct",
    "--instance-type",
    "Standard_NC6s_v3",
    "--tuning",
    "qlora",
]


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_seed_fits_through_python_dash_m() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "preset_catalog", *SEED],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.startswith("fits: qlora tuning of phi-3-mini-128k-instruct")


def test_seed_fit_reports_the_memory_it_compared(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, *SEED)
    assert code == 0
    assert "needs 5.5 GiB per GPU, has 16 GiB" in out


def test_tuning_method_is_case_insensitive(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(capsys, *SEED[:-1], "QLoRA")[0] == 0


def test_what_does_not_fit_exits_1_with_every_message(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(
        capsys, "fit", "phi-3-medium-128k-instruct", "--instance-type", "Standard_NC6s_v3"
    )
    assert code == 1
    assert "does not fit: inference of phi-3-medium-128k-instruct with vllm" in out
    assert "[InsufficientTotalGPUMemory] Insufficient total GPU memory" in out


def test_count_and_runtime_are_passed_through(capsys: pytest.CaptureFixture[str]) -> None:
    args = ["fit", "phi-3-medium-128k-instruct", "--instance-type", "Standard_NC6s_v3"]
    assert run(capsys, *args, "--count", "2")[0] == 0
    code, out, _ = run(capsys, *args, "--count", "2", "--runtime", "transformers")
    assert code == 1
    assert "MultiNodeNotSupported" in out


def test_unknown_preset_exits_2_with_did_you_mean(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "fit", "phi-3-mini-128k", "--instance-type", "Standard_NC6s_v3")
    assert code == 2
    assert out == ""
    assert "unknown preset 'phi-3-mini-128k'; did you mean 'phi-3-mini-128k-instruct'" in err


def test_unknown_instance_type_exits_2_with_did_you_mean(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, _, err = run(capsys, "fit", "phi-4", "--instance-type", "Standard_NC6s_v4")
    assert code == 2
    assert "did you mean 'Standard_NC6s_v3'" in err


def test_both_unknown_names_are_reported(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "fit", "phi-44", "--instance-type", "Standard_NC6s_v4")
    assert code == 2
    assert "unknown preset 'phi-44'" in err
    assert "unknown instance type 'Standard_NC6s_v4'" in err


@pytest.mark.parametrize(
    "argv",
    [
        ["fit", "phi-4"],
        ["fit", "phi-4", "--instance-type", "Standard_NC6s_v3", "--tuning", "dora"],
        ["fit", "phi-4", "--instance-type", "Standard_NC6s_v3", "--count", "0"],
        ["fit", "phi-4", "--instance-type", "Standard_NC6s_v3", "--count", "two"],
        ["show"],
        ["export", "--format", "xml"],
        [],
    ],
)
def test_usage_errors_exit_2(capsys: pytest.CaptureFixture[str], argv: list[str]) -> None:
    with pytest.raises(SystemExit) as raised:
        main(argv)
    assert raised.value.code == 2
    capsys.readouterr()


def test_alias_works_with_a_deprecation_warning(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(
        capsys, "fit", "microsoft/Phi-3-mini-128k-instruct", "--instance-type", "Standard_NC6s_v3"
    )
    assert code == 0
    assert "warning: preset name 'microsoft/Phi-3-mini-128k-instruct' is an alias" in err


def test_list_shows_every_preset(capsys: pytest.CaptureFixture[str], catalog: pc.Catalog) -> None:
    code, out, _ = run(capsys, "list")
    assert code == 0
    listed = [line.split()[0] for line in out.splitlines()[1:]]
    assert listed == [p.name for p in catalog.presets]


def test_list_instance_types_as_json(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "list", "--instance-types", "--format", "json")
    assert code == 0
    names = [entry["name"] for entry in json.loads(out)]
    assert "Standard_NC6s_v3" in names
    assert "g6.48xlarge" in names


def test_list_instance_types_as_a_table(capsys: pytest.CaptureFixture[str]) -> None:
    _, out, _ = run(capsys, "list", "--instance-types")
    assert any(line.startswith("Standard_NC6s_v3 ") for line in out.splitlines())


@pytest.mark.parametrize(("fmt", "parse"), [("yaml", yaml.safe_load), ("json", json.loads)])
def test_show_preset_prints_the_whole_entry(
    capsys: pytest.CaptureFixture[str], fmt: str, parse: object
) -> None:
    code, out, _ = run(capsys, "show", "phi-3-mini-128k-instruct", "--format", fmt)
    assert code == 0
    assert callable(parse)
    shown = parse(out)
    expected = pc.resolve_preset("phi-3-mini-128k-instruct").preset.model_dump(mode="json")
    assert shown == expected


def test_show_instance_type(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "show", "Standard_ND96asr_v4")
    assert code == 0
    assert yaml.safe_load(out)["name"] == "Standard_ND96asr_A100_v4"


def test_show_unknown_name_suggests_presets_and_instance_types(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, _, err = run(capsys, "show", "falcon-7b-instuct")
    assert code == 2
    assert "unknown preset or instance type 'falcon-7b-instuct'" in err
    assert "'falcon-7b-instruct'" in err


def test_export_configmap_round_trips(
    capsys: pytest.CaptureFixture[str], catalog: pc.Catalog
) -> None:
    code, out, _ = run(capsys, "export", "--format", "configmap", "--name", "c", "--namespace", "n")
    assert code == 0
    manifest = yaml.safe_load(out)
    assert (manifest["metadata"]["name"], manifest["metadata"]["namespace"]) == ("c", "n")
    assert pc.catalog_from_configmap(manifest) == catalog
    assert all(isinstance(value, str) for value in manifest["data"].values())
    assert manifest["data"] == pc.export_configmap(catalog, name="c", namespace="n")["data"]
    assert "catalog.yaml: |" in out  # readable block, not an escaped one-liner


@pytest.mark.parametrize(("fmt", "parse"), [("yaml", yaml.safe_load), ("json", json.loads)])
def test_export_catalog_document(
    capsys: pytest.CaptureFixture[str], catalog: pc.Catalog, fmt: str, parse: object
) -> None:
    _, out, _ = run(capsys, "export", "--format", fmt)
    assert callable(parse)
    assert pc.Catalog.model_validate(parse(out)) == catalog


def test_estimate_prints_the_node_count(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "estimate", "mistral-7b", "--instance-type", "Standard_NC6s_v3")
    assert code == 0
    assert out.startswith("2 node(s) of Standard_NC6s_v3 (vllm)")


def test_estimate_that_cannot_work_exits_1(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(
        capsys,
        "estimate",
        "falcon-40b",
        "--instance-type",
        "Standard_NC24ads_A100_v4",
        "--runtime",
        "vllm",
    )
    assert code == 1
    assert "[MultiNodeNotSupported]" in out


def test_tuning_config_prints_the_default_yaml(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(
        capsys,
        "tuning-config",
        "qlora",
        "--preset",
        "phi-3-mini-128k-instruct",
        "--instance-type",
        "Standard_NC6s_v3",
    )
    assert code == 0
    config = yaml.safe_load(out)
    assert config == pc.default_tuning_config(
        pc.TuningMethod.QLORA,
        preset=pc.resolve_preset("phi-3-mini-128k-instruct").preset,
        instance_type=pc.get_instance_type("Standard_NC6s_v3"),
    )
    assert pc.validate_tuning_config(config, method="qlora") == ()


def test_version_flag_prints_the_catalog_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["--version"])
    assert capsys.readouterr().out.strip() == pc.CATALOG_VERSION
