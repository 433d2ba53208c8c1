"""``python -m preset_catalog``: the catalog's answers from a shell.

For users choosing an instance type before writing a Workspace, for scripts (``fit`` exits 0 when
the preset fits, 1 with every reason when it does not, 2 on usage errors and unknown names), and
for deployments (``export --format configmap`` writes the ConfigMap the admission policy reads).
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import TYPE_CHECKING, Any

import yaml

from preset_catalog._errors import NodeEstimateError, UnknownNameError
from preset_catalog._estimating import estimate_node_count
from preset_catalog._exporting import (
    DEFAULT_CONFIGMAP_NAME,
    DEFAULT_CONFIGMAP_NAMESPACE,
    export_configmap,
)
from preset_catalog._fitting import Inference, Tuning, check_fit
from preset_catalog._loading import load_catalog
from preset_catalog._resolving import get_instance_type, resolve_preset, suggest
from preset_catalog._schema import Runtime, TuningMethod
from preset_catalog._tuning import default_tuning_config
from preset_catalog._version import CATALOG_VERSION

if TYPE_CHECKING:
    import enum
    from collections.abc import Sequence
    from typing import TextIO

    from preset_catalog._schema import Catalog, InstanceType, Preset

__all__ = ["main"]

EXIT_OK = 0
EXIT_DOES_NOT_FIT = 1
EXIT_USAGE = 2


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        code: int = args.handler(args)
    except UnknownNameError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_USAGE
    return code


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m preset_catalog",
        description=f"Model presets and GPU instance types (catalog {CATALOG_VERSION}).",
    )
    parser.add_argument("--version", action="version", version=CATALOG_VERSION)
    commands = parser.add_subparsers(dest="command", required=True)

    listing = commands.add_parser("list", help="list presets (or instance types)")
    listing.add_argument("--instance-types", action="store_true", help="list instance types")
    listing.add_argument("--format", choices=["table", "json"], default="table")
    listing.set_defaults(handler=_list)

    show = commands.add_parser("show", help="show one preset or instance type")
    show.add_argument("name", help="preset name or alias, or instance type")
    show.add_argument("--format", choices=["yaml", "json"], default="yaml")
    show.set_defaults(handler=_show)

    fit = commands.add_parser(
        "fit", help="check that a preset fits an instance type (exit 0) or say why not (exit 1)"
    )
    fit.add_argument("name", help="preset name or alias")
    fit.add_argument("--instance-type", required=True, metavar="SKU")
    fit.add_argument(
        "--tuning",
        type=str.lower,
        choices=_values(TuningMethod),
        help="check tuning, not inference",
    )
    fit.add_argument(
        "--runtime", type=str.lower, choices=_values(Runtime), help="inference runtime"
    )
    fit.add_argument("--count", type=_positive, default=1, help="node count (default 1)")
    fit.set_defaults(handler=_fit)

    estimate = commands.add_parser("estimate", help="nodes one serving instance needs")
    estimate.add_argument("name", help="preset name or alias")
    estimate.add_argument("--instance-type", required=True, metavar="SKU")
    estimate.add_argument("--runtime", type=str.lower, choices=_values(Runtime))
    estimate.add_argument("--max-model-len", type=_positive, metavar="TOKENS")
    estimate.add_argument("--count", type=_positive, default=1, help="requested node count")
    estimate.set_defaults(handler=_estimate)

    tuning = commands.add_parser("tuning-config", help="print the default training_config.yaml")
    tuning.add_argument("method", type=str.lower, choices=_values(TuningMethod))
    tuning.add_argument("--preset", help="add the preset's LoRA target modules")
    tuning.add_argument("--instance-type", metavar="SKU", help="adapt dtypes to its GPUs")
    tuning.set_defaults(handler=_tuning_config)

    export = commands.add_parser("export", help="export the whole catalog")
    export.add_argument("--format", choices=["configmap", "yaml", "json"], default="configmap")
    export.add_argument("--name", default=DEFAULT_CONFIGMAP_NAME, help="ConfigMap name")
    export.add_argument(
        "--namespace", default=DEFAULT_CONFIGMAP_NAMESPACE, help="ConfigMap namespace"
    )
    export.set_defaults(handler=_export)
    return parser


def _values(kind: type[enum.Enum]) -> list[str]:
    """An enum's values as argparse choices (its members would print as ``<Kind.X: 'x'>``)."""
    return [str(member.value) for member in kind]


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text!r}")
    return value


def _preset(name: str) -> Preset:
    resolution = resolve_preset(name)
    for message in resolution.deprecations:
        print(f"warning: {message}", file=sys.stderr)
    return resolution.preset


def _preset_and_instance_type(preset_name: str, sku_name: str) -> tuple[Preset, InstanceType]:
    """Both lookups, reporting every unknown name before giving up."""
    errors: list[UnknownNameError] = []
    preset: Preset | None = None
    sku: InstanceType | None = None
    try:
        preset = _preset(preset_name)
    except UnknownNameError as error:
        errors.append(error)
    try:
        sku = get_instance_type(sku_name)
    except UnknownNameError as error:
        errors.append(error)
    if preset is None or sku is None:
        for problem in errors[:-1]:
            print(f"error: {problem}", file=sys.stderr)
        raise errors[-1]
    return preset, sku


def _list(args: argparse.Namespace) -> int:
    catalog = load_catalog()
    if args.format == "json":
        items = catalog.instance_types if args.instance_types else catalog.presets
        _dump([item.model_dump(mode="json") for item in items], "json", sys.stdout)
    elif args.instance_types:
        _table(_instance_type_rows(catalog), sys.stdout)
    else:
        _table(_preset_rows(catalog), sys.stdout)
    return EXIT_OK


def _preset_rows(catalog: Catalog) -> list[list[str]]:
    rows = [["NAME", "WEIGHTS", "GPUS", "GPU MEMORY", "CONTEXT", "RUNTIMES", "TUNING", "NOTE"]]
    for p in catalog.presets:
        tuning = ", ".join(f"{t.method} {t.gpu_memory_gib:g}Gi" for t in p.tuning) or "-"
        rows.append(
            [
                p.name,
                f"{p.weights_gib:g}Gi",
                str(p.inference.gpu_count),
                f"{p.inference.total_gpu_memory_gib:g}Gi",
                str(p.context_window_tokens),
                ",".join(p.runtimes),
                tuning,
                "deprecated" if p.deprecated else "",
            ]
        )
    return rows


def _instance_type_rows(catalog: Catalog) -> list[list[str]]:
    rows = [["NAME", "CLOUD", "GPUS", "GPU MODEL", "PER GPU", "TOTAL", "VCPUS", "MEMORY", "NVME"]]
    rows += [
        [
            t.name,
            str(t.cloud),
            str(t.gpu.count),
            t.gpu.model,
            f"{t.gpu.memory_gib:g}Gi",
            f"{t.total_gpu_memory_gib:g}Gi",
            str(t.vcpus),
            f"{t.memory_gib:g}Gi",
            "yes" if t.nvme else "no",
        ]
        for t in catalog.instance_types
    ]
    return rows


def _table(rows: list[list[str]], out: TextIO) -> None:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        out.write("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())
        out.write("\n")


class _ReadableDumper(yaml.SafeDumper):
    """Writes multi-line strings (the ConfigMap's catalog.yaml) as ``|`` blocks, not escapes."""


def _represent_str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_ReadableDumper.add_representer(str, _represent_str)


def _dump(document: Any, fmt: str, out: TextIO) -> None:
    if fmt == "json":
        out.write(json.dumps(document, indent=2) + "\n")
    else:
        out.write(yaml.dump(document, Dumper=_ReadableDumper, sort_keys=False, width=100))


def _show(args: argparse.Namespace) -> int:
    catalog = load_catalog()
    item: Preset | InstanceType
    if args.name.lower() in catalog.preset_index:
        item = _preset(args.name)
    elif args.name.lower() in catalog.instance_type_index:
        item = get_instance_type(args.name)
    else:
        index: dict[str, Preset | InstanceType] = {
            **catalog.preset_index,
            **catalog.instance_type_index,
        }
        raise UnknownNameError(
            kind="preset or instance type", name=args.name, suggestions=suggest(args.name, index)
        )
    _dump(item.model_dump(mode="json"), args.format, sys.stdout)
    return EXIT_OK


def _fit(args: argparse.Namespace) -> int:
    preset, sku = _preset_and_instance_type(args.name, args.instance_type)
    workload: Inference | Tuning = (
        Tuning(method=TuningMethod(args.tuning))
        if args.tuning
        else Inference(runtime=Runtime(args.runtime) if args.runtime else None)
    )
    report = check_fit(preset, sku, workload=workload, node_count=args.count)
    nodes = f"{args.count} x {sku.name}"
    if isinstance(workload, Tuning):
        what = f"{workload.method} tuning of {preset.name}"
        requirement = preset.tuning_requirement(workload.method)
        detail = (
            f"needs {requirement.gpu_memory_gib:g} GiB per GPU, has {sku.gpu.memory_gib:g} GiB"
            if requirement
            else ""
        )
    else:
        runtime = workload.runtime or preset.default_runtime
        what = f"inference of {preset.name} with {runtime}"
        detail = (
            f"needs {preset.inference.total_gpu_memory_gib:g} GiB of GPU memory, "
            f"one node has {sku.total_gpu_memory_gib:g} GiB"
        )
    if report.fits:
        print(f"fits: {what} on {nodes} ({detail})")
        return EXIT_OK
    print(f"does not fit: {what} on {nodes}")
    for violation in report.violations:
        print(f"  - [{violation.code}] {violation.message}")
    return EXIT_DOES_NOT_FIT


def _estimate(args: argparse.Namespace) -> int:
    preset, sku = _preset_and_instance_type(args.name, args.instance_type)
    try:
        estimate = estimate_node_count(
            preset,
            sku,
            runtime=Runtime(args.runtime) if args.runtime else None,
            max_model_len_tokens=args.max_model_len,
            requested_node_count=args.count,
        )
    except NodeEstimateError as error:
        print(f"cannot estimate: [{error.violation.code}] {error.violation.message}")
        return EXIT_DOES_NOT_FIT
    # A count is only an answer when `fit` agrees that the preset runs on that many nodes.
    report = check_fit(
        preset, sku, workload=Inference(runtime=estimate.runtime), node_count=estimate.node_count
    )
    if not report.fits:
        print(
            f"does not fit: inference of {preset.name} with {estimate.runtime} on "
            f"{estimate.node_count} x {sku.name}"
        )
        for violation in report.violations:
            print(f"  - [{violation.code}] {violation.message}")
        return EXIT_DOES_NOT_FIT
    print(
        f"{estimate.node_count} node(s) of {sku.name} ({estimate.runtime}): {estimate.explanation}"
    )
    return EXIT_OK


def _tuning_config(args: argparse.Namespace) -> int:
    config = default_tuning_config(
        TuningMethod(args.method),
        preset=_preset(args.preset) if args.preset else None,
        instance_type=get_instance_type(args.instance_type) if args.instance_type else None,
    )
    _dump(config, "yaml", sys.stdout)
    return EXIT_OK


def _export(args: argparse.Namespace) -> int:
    catalog = load_catalog()
    if args.format == "configmap":
        _dump(
            export_configmap(catalog, name=args.name, namespace=args.namespace), "yaml", sys.stdout
        )
    else:
        _dump(catalog.model_dump(mode="json"), args.format, sys.stdout)
    return EXIT_OK
