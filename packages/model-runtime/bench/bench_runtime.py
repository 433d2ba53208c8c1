"""Model runtime benchmark: LoRA training throughput and serving latency, printed as figures.

CPU part (always): the tiny random Phi-3 of the tests (and a 4x wider one), 30 LoRA steps on the
messages parquet through ``training.build_trainer`` (the path ``tune`` takes), then the HTTP
server with that adapter merged, timing ``/v1/chat/completions`` and ``/chat`` over a real
socket. GPU part (only with CUDA): QLoRA (nf4, bf16 compute) on a random ~130M-parameter Llama
with 512-token rows; it reports tokens/s and peak GPU memory, and says why when it skips.
Nothing is downloaded.
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

import yaml

from model_runtime import generation, progress, serving, tiny, training

warnings.filterwarnings("ignore", category=FutureWarning)


def _config(path: Path, output: Path, **training_args: Any) -> Path:
    sections = {
        "ModelConfig": {"torch_dtype": "float32"},
        "LoraConfig": {"r": 8, "lora_alpha": 16, "lora_dropout": 0.0},
        "TrainingArguments": {
            "output_dir": str(output),
            "max_steps": 30,
            "per_device_train_batch_size": 8,
            "learning_rate": 0.005,
            "logging_steps": 5,
            **training_args,
        },
        "DatasetConfig": {"shuffle_dataset": True},
    }
    path.write_text(yaml.safe_dump({"training_config": sections}))
    return path


def _train(
    work: Path, model_dir: Path, data_dir: Path, env: dict[str, str], **args: Any
) -> dict[str, float]:
    output = work / "out"
    config = training.load_config(str(_config(work / "config.yaml", output, **args)))
    reporter = progress.ProgressReporter()
    env = {"MODEL_DIR": str(model_dir), "DATASET_FOLDER_PATH": str(data_dir), **env}
    trainer, output_dir = training.build_trainer(config, env, callbacks=[reporter])
    started = time.perf_counter()
    trainer.train()
    elapsed = time.perf_counter() - started
    training.save_adapter(trainer, output_dir)
    steady = [r["tokens_per_second"] for r in reporter.records[1:] if "tokens_per_second" in r]
    tokens = max(r.get("tokens", 0) for r in reporter.records)
    losses = [r["loss"] for r in reporter.records if "loss" in r]
    return {
        "steps": trainer.state.global_step,
        "seconds": elapsed,
        "tokens": tokens,
        "tokens_per_second": tokens / elapsed,
        "steady_tokens_per_second": statistics.median(steady) if steady else float("nan"),
        "first_loss": losses[0],
        "last_loss": losses[-1],
    }


async def _serve(
    engine: generation.Engine, requests: int, *, openai: bool = True, classic: bool = True
) -> dict[str, float]:
    from aiohttp import ClientSession, web  # noqa: PLC0415

    runner = web.AppRunner(serving.create_app(lambda: engine))
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    base = f"http://127.0.0.1:{port}"
    figures: dict[str, float] = {}
    try:
        async with ClientSession() as session:
            for _ in range(200):
                async with session.get(f"{base}/health") as health:
                    if health.status == 200:
                        break
                await asyncio.sleep(0.05)
            chat = {"messages": [{"role": "user", "content": "What is ice?"}], "max_tokens": 16,
                    "temperature": 0}  # fmt: skip
            latencies, generated = [], 0
            for _ in range(requests if openai else 0):
                started = time.perf_counter()
                async with session.post(f"{base}/v1/chat/completions", json=chat) as response:
                    body = await response.json()
                latencies.append(time.perf_counter() - started)
                generated += body["usage"]["completion_tokens"]
            if openai:
                figures["openai_chat_p50_ms"] = 1000 * statistics.median(latencies)
                figures["openai_chat_p95_ms"] = (
                    1000 * sorted(latencies)[int(0.95 * (len(latencies) - 1))]
                )
                figures["openai_chat_tokens_per_request"] = generated / requests
            body = {"prompt": "Cows drink", "generate_kwargs": {"do_sample": False,
                       "max_new_tokens": 16, "min_new_tokens": 16}}  # fmt: skip
            latencies = []
            for _ in range(requests if classic else 0):
                started = time.perf_counter()
                async with session.post(f"{base}/chat", json=body) as response:
                    await response.read()
                latencies.append(time.perf_counter() - started)
            if classic:
                figures["kaito_chat_16_tokens_p50_ms"] = 1000 * statistics.median(latencies)
                figures["kaito_chat_tokens_per_second"] = 16 / statistics.median(latencies)
    finally:
        await runner.cleanup()
    return figures


def _print(title: str, figures: dict[str, float]) -> None:
    print(f"\n{title}")
    for key, value in figures.items():
        print(
            f"  {key:32s} {value:12.2f}"
            if isinstance(value, float)
            else f"  {key:32s} {value!s:>12}"
        )


def cpu(work: Path) -> None:
    training.quiet_libraries()
    data_dir = work / "data"
    tiny.write_parquet(tiny.sample_conversations() * 8, str(data_dir / "train.parquet"))
    for label, hidden, layers in (("tiny Phi-3 (hidden 64, 2 layers)", 64, 2),
                                  ("small Phi-3 (hidden 256, 4 layers)", 256, 4)):  # fmt: skip
        model_dir = work / f"phi3-{hidden}"
        tiny.build_model(str(model_dir), hidden_size=hidden, layers=layers)
        run = work / f"run-{hidden}"
        run.mkdir()
        figures = _train(run, model_dir, data_dir, {"TUNING_METHOD": "lora"})
        _print(f"CPU LoRA training, {label}, batch 8, 30 steps", figures)
        adapters = run / "adapters"
        (adapters / "bench").mkdir(parents=True)
        for name in training.ADAPTER_FILES:
            (run / "out" / name).rename(adapters / "bench" / name)
        merged = generation.load_engine(str(model_dir), adapters_dir=str(adapters), env={})
        # The tuned model learned to stop at once on chat prompts, so the OpenAI figure uses the
        # base model (random weights run to max_tokens); /chat forces 16 tokens on the merged one.
        base = generation.load_engine(str(model_dir), adapters_dir=str(work / "none"), env={})
        figures = asyncio.run(_serve(base, 20, classic=False))
        figures.update(asyncio.run(_serve(merged, 20, openai=False)))
        _print(f"CPU serving, {label}, up to 16 new tokens, sequential requests", figures)


def gpu(work: Path) -> None:
    import torch  # noqa: PLC0415

    if not torch.cuda.is_available():
        print("\nGPU QLoRA variant: skipped (no CUDA device)")
        return
    try:
        import bitsandbytes  # noqa: F401, PLC0415
    except ImportError:
        print(
            "\nGPU QLoRA variant: skipped "
            "(bitsandbytes missing: uv sync --all-packages --all-extras)"
        )
        return
    data_dir = work / "gpu-data"
    long_rows = [
        {"messages": [{"role": "user", "content": " ".join(q for q, _ in tiny._FACTS) * 3},
                      {"role": "assistant", "content": " ".join(a for _, a in tiny._FACTS) * 6}]}
        for _ in range(64)
    ]  # fmt: skip
    tiny.write_parquet(long_rows, str(data_dir / "train.parquet"))
    model_dir = work / "llama-gpu"
    tiny.build_model(str(model_dir), architecture="llama", hidden_size=1024, layers=12)
    run = work / "run-gpu"
    run.mkdir()
    torch.cuda.reset_peak_memory_stats()
    figures = _train(
        run, model_dir, data_dir, {"TUNING_METHOD": "qlora"},
        bf16=True, max_steps=20, per_device_train_batch_size=8, max_length=512,
    )  # fmt: skip
    figures["peak_gpu_memory_gib"] = torch.cuda.max_memory_allocated() / 2**30
    _print(
        f"GPU QLoRA (nf4, bf16) training, random Llama ({torch.cuda.get_device_name()})", figures
    )


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="bench-runtime-") as directory:
        work = Path(directory)
        cpu(work)
        gpu(work)
    return 0


if __name__ == "__main__":
    sys.exit(main())
