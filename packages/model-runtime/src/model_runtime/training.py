"""``tune``: LoRA or QLoRA supervised fine-tuning with trl, saving only the adapter.

Differences from Kaito's trainer, on purpose:

- LoRA target modules are checked against the model's linear layers: a name that matches none is
  an error (peft skips it silently, so Kaito's Phi-3 list adapted only two of seven names);
  the default, without ``LoraConfig.target_modules`` or ``$DEFAULT_TARGET_MODULES``, is every
  linear layer;
- trl picks its own collator: Kaito's ``DataCollatorForLanguageModeling`` crashes on
  conversational data and, with padding equal to end-of-sequence, masked every EOS out of the
  loss, so the model never learned to stop. Padding here is a distinct token when the tokenizer
  has one, and padding is masked by position, not by token id;
- only ``adapter_config.json`` and ``adapter_model.safetensors`` are written to the output
  directory, then the marker ``fine_tuning_completed.txt``, which the pusher waits for;
- on a machine without CUDA the run stays on the CPU in float32 unless the config says
  otherwise; QLoRA without CUDA is an error, not a silent full-precision run.
"""

from __future__ import annotations

import datetime
import logging
import os
import shutil
import sys
import tempfile
from typing import TYPE_CHECKING, Any, Final

import yaml

from model_runtime import config as config_module
from model_runtime import contract, data, templates, weights
from model_runtime import logs as jsonlog
from model_runtime.config import ConfigError, TrainingConfig

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    import torch
    from trl.trainer.sft_trainer import SFTTrainer

__all__ = [
    "ADAPTER_FILES",
    "build_trainer",
    "config_path",
    "distributed_command",
    "load_config",
    "main",
    "save_adapter",
]

ADAPTER_FILES: Final = ("adapter_config.json", "adapter_model.safetensors")
QLORA_DEFAULTS: Final = {
    "load_in_4bit": True,
    "bnb_4bit_quant_type": "nf4",
    "bnb_4bit_compute_dtype": "bfloat16",
    "bnb_4bit_use_double_quant": True,
}
_DTYPES: Final = ("auto", "bfloat16", "float16", "float32")

_log = logging.getLogger("model_runtime.tune")


def config_path(env: Mapping[str, str]) -> str:
    """``$YAML_FILE_PATH`` (Kaito's name), else ``$TRAINING_CONFIG``, else the mounted file."""
    return env.get("YAML_FILE_PATH") or env.get("TRAINING_CONFIG") or contract.TRAINING_CONFIG


def load_config(path: str) -> TrainingConfig:
    """Read and check the training config at ``path``."""
    try:
        with open(path, encoding="utf-8") as handle:
            document = yaml.safe_load(handle)
    except FileNotFoundError:
        raise ConfigError(f"no training config at {path}") from None
    except yaml.YAMLError as error:
        raise ConfigError(f"{path} is not valid YAML: {error}") from None
    return config_module.parse_training_config(
        document,
        quantization_keys=_quantization_keys,
        lora_keys=_lora_keys,
        training_keys=_training_keys,
    )


def _quantization_keys() -> list[str]:
    import transformers  # noqa: PLC0415

    return config_module.init_parameters(transformers.BitsAndBytesConfig)


def _lora_keys() -> list[str]:
    import peft  # noqa: PLC0415

    return config_module.init_parameters(peft.LoraConfig)


def _training_keys() -> list[str]:
    from trl.trainer.sft_config import SFTConfig  # noqa: PLC0415

    return config_module.init_parameters(SFTConfig)


def quiet_libraries() -> None:
    """Turn off the libraries' progress bars: the runtime logs progress as JSON events instead."""
    jsonlog.disable_progress_bars()


def build_trainer(
    cfg: TrainingConfig,
    env: Mapping[str, str],
    *,
    callbacks: Sequence[Any] = (),
) -> tuple[SFTTrainer, str]:
    """The configured ``SFTTrainer`` (not yet trained) and the output directory."""
    import peft  # noqa: PLC0415
    import torch  # noqa: PLC0415
    import transformers  # noqa: PLC0415
    from trl.trainer.sft_config import SFTConfig  # noqa: PLC0415
    from trl.trainer.sft_trainer import SFTTrainer  # noqa: PLC0415

    model_dir = cfg.model.pretrained_model_name_or_path or contract.env_str(
        env, "MODEL_DIR", contract.WEIGHTS_DIR
    )
    weights.ensure_weights(model_dir, env)
    cuda = torch.cuda.is_available()
    quantization = _quantization(cfg, env)
    if quantization and not cuda:
        raise RuntimeError(
            "QLoRA loads the base model in 4 or 8 bits with bitsandbytes, which needs a CUDA "
            "GPU; none is visible. Use TUNING_METHOD=lora (no QuantizationConfig) on this machine"
        )

    tokenizer = transformers.AutoTokenizer.from_pretrained(
        model_dir,
        local_files_only=True,
        trust_remote_code=cfg.model.trust_remote_code,
        revision=cfg.model.revision,
    )
    if cfg.model.chat_template:
        tokenizer.chat_template = templates.resolve_chat_template(cfg.model.chat_template)
    if tokenizer.pad_token is None:
        # A distinct token when there is one; trl masks padding by position either way.
        tokenizer.pad_token = tokenizer.unk_token or tokenizer.eos_token

    model_kwargs: dict[str, Any] = {
        "dtype": _dtype(cfg.model.dtype or cfg.model.torch_dtype, cuda=cuda),
        "local_files_only": True,
        "trust_remote_code": cfg.model.trust_remote_code,
        "revision": cfg.model.revision,
    }
    if cfg.model.attn_implementation:
        model_kwargs["attn_implementation"] = cfg.model.attn_implementation
    if cuda:
        world = contract.env_int(env, "WORLD_SIZE", 1)
        local_rank = contract.env_int(env, "LOCAL_RANK", 0)
        model_kwargs["device_map"] = {"": local_rank} if world > 1 else cfg.model.device_map
    if quantization:
        _require_bitsandbytes()
        model_kwargs["quantization_config"] = transformers.BitsAndBytesConfig(  # type: ignore[no-untyped-call]
            **quantization
        )
    model = transformers.AutoModelForCausalLM.from_pretrained(model_dir, **model_kwargs)

    training_args = _training_arguments(cfg, cuda=cuda)
    if quantization:
        model = peft.prepare_model_for_kbit_training(  # type: ignore[no-untyped-call]
            model,
            use_gradient_checkpointing=bool(
                training_args.get(
                    "activation_checkpointing", training_args.get("gradient_checkpointing")
                )
            ),
        )
    lora = _lora_config(cfg, env, model)

    train, evaluation, kind = data.load_training_data(
        contract.env_str(env, "DATASET_FOLDER_PATH", contract.DATASET_FOLDER), cfg.dataset
    )
    if kind != "text" and not tokenizer.chat_template:
        raise ConfigError(
            "the dataset is conversational but the tokenizer has no chat template; set "
            "ModelConfig.chat_template"
        )
    jsonlog.event(
        _log,
        "training_setup",
        model_dir=model_dir,
        dataset_kind=kind,
        rows=len(train),
        quantization=quantization or None,
        target_modules=sorted(lora.target_modules)
        if isinstance(lora.target_modules, set)
        else lora.target_modules,
        device="cuda" if cuda else "cpu",
    )
    trainer = SFTTrainer(
        model=model,
        args=SFTConfig(**training_args),
        train_dataset=train,
        eval_dataset=evaluation,
        processing_class=tokenizer,
        peft_config=lora,
        callbacks=list(callbacks),
    )
    # Without progress bars the trainer prints each log as a Python dict; ours are JSON lines.
    trainer.remove_callback(transformers.PrinterCallback)
    return trainer, str(training_args["output_dir"])


def save_adapter(trainer: SFTTrainer, output_dir: str) -> None:
    """Write the adapter files to ``output_dir``, then the completion marker (main process)."""
    trainer.accelerator.wait_for_everyone()
    if not trainer.is_world_process_zero():
        return
    os.makedirs(output_dir, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=output_dir, prefix=".adapter-") as staging:
        model: Any = trainer.model
        model.save_pretrained(staging, safe_serialization=True)
        for name in ADAPTER_FILES:
            shutil.move(os.path.join(staging, name), os.path.join(output_dir, name))
    stamp = datetime.datetime.now(tz=datetime.UTC).isoformat()
    marker = os.path.join(output_dir, contract.COMPLETION_MARKER)
    with open(marker, "w", encoding="utf-8") as handle:
        handle.write(f"Fine-tuning completed at {stamp}\n")
    jsonlog.event(_log, "adapter_saved", output_dir=output_dir, files=list(ADAPTER_FILES))


def distributed_command(env: Mapping[str, str], *, cuda_devices: int) -> list[str] | None:
    """The ``torch.distributed.run`` command for a multi-GPU node, or None to run in-process.

    Kaito wrapped its trainer in ``accelerate launch``; here ``tune`` relaunches itself once per
    GPU when ``GPU_COUNT`` asks for more than one and no launcher set ``LOCAL_RANK`` yet.
    """
    wanted = contract.env_int(env, "GPU_COUNT", 1)
    count = min(wanted, cuda_devices)
    if count <= 1 or "LOCAL_RANK" in env:
        return None
    return [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        f"--nproc_per_node={count}",
        "-m",
        "model_runtime",
        "tune",
    ]


def main(env: Mapping[str, str]) -> int:
    """The ``tune`` entrypoint: 0 once the adapter and marker are written, 1 when the setup fails.

    A failure during training itself raises (the traceback is the useful log there); either way
    no marker is written, so the pusher sidecar fails too.
    """
    import torch  # noqa: PLC0415

    from model_runtime import progress  # noqa: PLC0415 - imports transformers

    command = distributed_command(env, cuda_devices=torch.cuda.device_count())
    if command is not None:
        jsonlog.event(_log, "relaunching", command=command)
        os.execv(command[0], command)
    if contract.env_int(env, "LOCAL_RANK", 0) == 0:
        _start_metrics_server(contract.env_int(env, "PORT", contract.SERVER_PORT))
    quiet_libraries()
    path = config_path(env)
    try:
        cfg = load_config(path)
        reporter = progress.ProgressReporter()
        trainer, output_dir = build_trainer(cfg, env, callbacks=[reporter])
    except ConfigError as error:
        jsonlog.fatal(
            _log,
            "invalid_training_config",
            path=path,
            error=str(error),
            fix=f"correct the training config at {path} (the ConfigMap named by the "
            "Workspace's tuning.config) as the error says",
        )
        return 1
    except (RuntimeError, OSError) as error:  # no GPU for QLoRA, missing weights or files
        jsonlog.fatal(
            _log,
            "training_setup_failed",
            error=f"{type(error).__name__}: {error}",
            fix="check that MODEL_DIR holds the base model's weights and the data is mounted; "
            "QLoRA needs a CUDA GPU",
        )
        return 1
    trainer.train()
    save_adapter(trainer, output_dir)
    return 0


def _start_metrics_server(port: int) -> None:
    import prometheus_client  # noqa: PLC0415

    prometheus_client.start_http_server(port)
    jsonlog.event(_log, "metrics_listening", port=port)


def _quantization(cfg: TrainingConfig, env: Mapping[str, str]) -> dict[str, Any]:
    method = env.get("TUNING_METHOD", "").strip().lower()
    if method not in ("", "lora", "qlora"):
        raise ConfigError(f"TUNING_METHOD must be lora or qlora, not {method!r}")
    if method == "lora" and cfg.quantized:
        raise ConfigError(
            "TUNING_METHOD is lora but QuantizationConfig loads the model in 4 or 8 bits; "
            "use qlora, or set load_in_4bit: false"
        )
    if cfg.quantized:
        return dict(cfg.quantization)
    if method == "qlora":
        return dict(QLORA_DEFAULTS)
    return {}


def _require_bitsandbytes() -> None:
    try:
        import bitsandbytes  # noqa: F401, PLC0415
    except ImportError:
        raise RuntimeError(
            "QLoRA needs bitsandbytes: install model-runtime[qlora] (the GPU image has it)"
        ) from None


def _dtype(name: str, *, cuda: bool) -> torch.dtype:
    import torch  # noqa: PLC0415

    if name not in _DTYPES:
        raise ConfigError(f"ModelConfig.torch_dtype must be one of {', '.join(_DTYPES)}")
    if name == "auto":
        if cuda and torch.cuda.is_bf16_supported():
            return torch.bfloat16
        return torch.float16 if cuda else torch.float32
    dtype: torch.dtype = getattr(torch, name)
    return dtype


def _training_arguments(cfg: TrainingConfig, *, cuda: bool) -> dict[str, Any]:
    args = dict(cfg.training)
    args.setdefault("output_dir", contract.DEFAULT_OUTPUT_DIR)
    args.setdefault("save_strategy", "no")
    args.setdefault("report_to", "none")
    args.setdefault("logging_steps", 10)
    args.setdefault("disable_tqdm", True)
    _rename_checkpointing(args)
    if not cuda:
        args.setdefault("use_cpu", True)
        args.setdefault("bf16", False)
        args.setdefault("fp16", False)
    if cfg.collator.pad_to_multiple_of is not None:
        args.setdefault("pad_to_multiple_of", cfg.collator.pad_to_multiple_of)
    return args


def _rename_checkpointing(args: dict[str, Any]) -> None:
    """Use transformers' ``activation_checkpointing`` names for the deprecated ``gradient_*``.

    trl's SFTConfig still defaults ``gradient_checkpointing`` to True, which transformers 5
    reports as deprecated on every run; setting the new name (to the same value) avoids that.
    """
    from trl.trainer.sft_config import SFTConfig  # noqa: PLC0415

    fields = SFTConfig.__dataclass_fields__
    if "activation_checkpointing" not in fields:
        return
    for old, new in (
        ("gradient_checkpointing", "activation_checkpointing"),
        ("gradient_checkpointing_kwargs", "activation_checkpointing_kwargs"),
    ):
        if old in args and new not in args:
            args[new] = args.pop(old)
    args.setdefault("activation_checkpointing", fields["gradient_checkpointing"].default)


def _lora_config(cfg: TrainingConfig, env: Mapping[str, str], model: Any) -> Any:
    import peft  # noqa: PLC0415
    import torch  # noqa: PLC0415

    kwargs = dict(cfg.lora)
    kwargs.setdefault("task_type", "CAUSAL_LM")
    if "target_modules" not in kwargs:
        from_env = [m.strip() for m in env.get("DEFAULT_TARGET_MODULES", "").split(",")]
        kwargs["target_modules"] = [m for m in from_env if m] or "all-linear"
    targets = kwargs["target_modules"]
    if isinstance(targets, list):
        linear = {
            name.rsplit(".", 1)[-1]
            for name, module in model.named_modules()
            if isinstance(module, torch.nn.Linear)
        }
        missing = [m for m in targets if m not in linear]
        if missing:
            raise ConfigError(
                f"LoraConfig.target_modules: the model has no linear layer named "
                f"{', '.join(map(repr, missing))} (its linear layers: {', '.join(sorted(linear))})"
            )
    return peft.LoraConfig(**kwargs)
