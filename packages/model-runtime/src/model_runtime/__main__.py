"""``python -m model_runtime tune|push|serve|download``: the processes of a Kaito workload's pods.

Each subcommand takes its settings from environment variables, which the workspace-controller's
manifests set (the pod contract of ``model_runtime.contract``); ``<subcommand> --help`` lists them.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import textwrap
from typing import TYPE_CHECKING, Literal

from model_runtime import contract, logs

if TYPE_CHECKING:
    from collections.abc import Mapping

PROG = "python -m model_runtime"


@dataclasses.dataclass(frozen=True)
class EnvVar:
    """One environment variable a subcommand reads."""

    name: str
    default: str
    doc: str
    kind: Literal["str", "int", "float"] = "str"


_DEBUG = EnvVar("DEBUG_MODE", "false", "true: debug-level logs.")
_WEIGHTS = (
    EnvVar(
        "MODEL_REPOSITORY",
        "unset",
        "Hugging Face repository to fetch when the weights "
        "directory holds no model (no config.json).",
    ),
    EnvVar("MODEL_REVISION", "main", "Revision of MODEL_REPOSITORY."),
    EnvVar("HF_TOKEN", "unset", "Token for gated repositories."),
)

SUMMARIES: dict[str, str] = {
    "tune": "fine-tune the base model (the tuning Job's trainer)",
    "push": "push the trained adapter as an OCI image (the tuning Job's sidecar)",
    "serve": "serve the model over HTTP (the inference pods)",
    "download": "download tuning input URLs (the tuning Job's init container)",
}

DESCRIPTIONS: dict[str, str] = {
    "tune": "Fine-tune the base model with (Q)LoRA as the tuning ConfigMap says; the adapter and "
    f"the completion marker ({contract.COMPLETION_MARKER}) land in the output directory.",
    "push": "Wait for the trainer's completion marker, then push the adapter as an OCI image.",
    "serve": "Serve the model (and the adapters under ADAPTERS_DIR) over an OpenAI-style HTTP API; "
    "/health answers while the model loads in the background.",
    "download": "Download tuning input URLs into the data directory: FILE URL pairs as arguments.",
}

ENVIRONMENT: dict[str, tuple[EnvVar, ...]] = {
    "tune": (
        EnvVar(
            "YAML_FILE_PATH",
            contract.TRAINING_CONFIG,
            "The tuning configuration file (TRAINING_CONFIG is read when this is unset).",
        ),
        EnvVar("TRAINING_CONFIG", contract.TRAINING_CONFIG, "The tuning configuration file."),
        EnvVar(
            "MODEL_DIR",
            contract.WEIGHTS_DIR,
            "The base model's weights, unless the "
            "configuration names pretrained_model_name_or_path.",
        ),
        *_WEIGHTS,
        EnvVar("DATASET_FOLDER_PATH", contract.DATASET_FOLDER, "Where the training data is."),
        EnvVar(
            "TUNING_METHOD",
            "unset",
            "lora or qlora; must agree with the configuration's quantization.",
        ),
        EnvVar(
            "DEFAULT_TARGET_MODULES",
            "all-linear",
            "Comma-separated LoRA target modules when the configuration names none.",
        ),
        EnvVar("GPU_COUNT", "1", "GPUs the trainer expects to see.", "int"),
        EnvVar("WORLD_SIZE", "1", "Processes in a distributed run (set by torchrun).", "int"),
        EnvVar("LOCAL_RANK", "0", "This process's rank on its node (set by torchrun).", "int"),
        EnvVar(
            "PORT", str(contract.SERVER_PORT), "Port of the trainer's /metrics (rank 0).", "int"
        ),
        _DEBUG,
    ),
    "push": (
        EnvVar("IMAGE", "required", "The adapter image reference to push."),
        EnvVar("OUTPUT_DIR", contract.DEFAULT_OUTPUT_DIR, "The trainer's output directory."),
        EnvVar("MARKER", contract.COMPLETION_MARKER, "The trainer's completion marker file."),
        EnvVar(
            "TRAINER_MATCH",
            "model_runtime tune",
            "Command line of the trainer process whose exit without a marker ends the wait.",
        ),
        EnvVar("POLL_SECONDS", "10.0", "Interval between looks for the marker.", "float"),
        EnvVar("PRESET_NAME", "unset", "Model name recorded in the image's annotations."),
        EnvVar(
            "DOCKER_CONFIG", "~/.docker", "Directory of the registry credentials (config.json)."
        ),
        EnvVar("PLAIN_HTTP", "false", "true: talk to the registry over plain HTTP."),
        EnvVar("ATTEMPTS", "3", "Tries per registry request.", "int"),
        EnvVar("RETRY_DELAY_SECONDS", "2.0", "Wait between tries.", "float"),
        _DEBUG,
    ),
    "serve": (
        EnvVar("PORT", str(contract.SERVER_PORT), "Port the server listens on.", "int"),
        EnvVar("MODEL_DIR", contract.WEIGHTS_DIR, "The base model's weights."),
        *_WEIGHTS,
        EnvVar("MODEL_NAME", "the weights directory's name", "Model name the API reports."),
        EnvVar("ADAPTERS_DIR", contract.ADAPTERS_DIR, "One sub-directory per adapter to merge."),
        EnvVar("<adapter name>", "1.0", "Strength of that adapter when merged (a number)."),
        EnvVar("CHAT_TEMPLATE", "the tokenizer's", "Jinja chat template."),
        EnvVar(
            "RUNTIME",
            "transformers",
            "Requested runtime; anything else is served by transformers (and logged).",
        ),
        _DEBUG,
    ),
    "download": (
        EnvVar("DATA_DIR", contract.DATASET_FOLDER, "Directory the FILE names are relative to."),
        EnvVar("MAX_BYTES", str(100 * 1024**3), "The most bytes one download may have.", "int"),
        EnvVar(
            "TIMEOUT_SECONDS", str(6 * 3600.0), "Time limit for all downloads together.", "float"
        ),
        EnvVar("ATTEMPTS", "3", "Tries per URL.", "int"),
        EnvVar("RETRY_DELAY_SECONDS", "2.0", "Wait between tries.", "float"),
        _DEBUG,
    ),
}


def _epilog(command: str) -> str:
    lines = ["environment:"]
    for var in ENVIRONMENT[command]:
        lines.append(f"  {var.name}  (default {var.default})")
        lines.extend(f"      {line}" for line in textwrap.wrap(var.doc, width=88))
    return "\n".join(lines)


def _check_numbers(command: str, env: Mapping[str, str]) -> None:
    """Fail before any work when a numeric variable is malformed (ValueError naming it)."""
    for var in ENVIRONMENT[command]:
        if var.kind == "int":
            contract.env_int(env, var.name, 0)
        elif var.kind == "float":
            contract.env_float(env, var.name, 0.0)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description=__doc__.replace("``", "") if __doc__ else None,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command, description in DESCRIPTIONS.items():
        sub = commands.add_parser(
            command,
            help=SUMMARIES[command],
            description=textwrap.fill(description, width=96),
            epilog=_epilog(command),
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        if command == "download":
            sub.add_argument("pairs", nargs="*", metavar="FILE URL", help="what to save where")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    env = contract.process_env()
    try:
        _check_numbers(args.command, env)
    except ValueError as error:
        print(f"{PROG} {args.command}: {error}", file=sys.stderr)
        return 2
    logs.configure(debug=env.get("DEBUG_MODE", "").lower() == "true")
    if args.command == "download":
        from model_runtime import downloading  # noqa: PLC0415

        return downloading.main(env, args.pairs)
    if args.command == "push":
        from model_runtime import pushing  # noqa: PLC0415

        return pushing.main(env)
    if args.command == "tune":
        from model_runtime import training  # noqa: PLC0415

        return training.main(env)
    from model_runtime import serving  # noqa: PLC0415

    return serving.main(env)


if __name__ == "__main__":
    sys.exit(main())
