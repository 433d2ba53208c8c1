"""Training progress: a trainer callback turning the trainer's logs into JSON lines and metrics."""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any

from transformers import TrainerCallback

from model_runtime import logs as jsonlog
from model_runtime import metrics

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = ["ProgressReporter"]

_log = logging.getLogger("model_runtime.tune")


class ProgressReporter(TrainerCallback):
    """Logs ``training_started`` (steps, epochs), then ``training_progress`` (step, loss, tokens/s)
    at each of the trainer's log events, and ``training_finished``: the JSON lines that stand in
    for the trainer's progress bar, which is off.

    Tokens per second come from trl's cumulative ``num_tokens`` log entry over the wall time
    since the previous log; ``records`` keeps every entry (the tests and the benchmark read it).
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._last_time = 0.0
        self._last_tokens = 0.0
        self.records: list[dict[str, Any]] = []

    def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self._last_time = self._clock()
        self._last_tokens = 0.0
        if state.is_world_process_zero:
            jsonlog.event(
                _log,
                "training_started",
                max_steps=state.max_steps,
                epochs=state.num_train_epochs,
                logging_steps=args.logging_steps,
            )

    def on_log(
        self, args: Any, state: Any, control: Any, logs: dict[str, Any] | None = None, **kw: Any
    ) -> None:
        if not state.is_world_process_zero or not logs:
            return
        now = self._clock()
        entry: dict[str, Any] = {"step": state.global_step, "max_steps": state.max_steps}
        if "loss" in logs:
            entry["loss"] = float(logs["loss"])
            entry["learning_rate"] = logs.get("learning_rate")
            metrics.TRAINING_LOSS.set(entry["loss"])
        if "num_tokens" in logs:
            tokens = float(logs["num_tokens"])
            elapsed = now - self._last_time
            if elapsed > 0 and tokens >= self._last_tokens:
                entry["tokens_per_second"] = round((tokens - self._last_tokens) / elapsed, 1)
                metrics.TRAINING_TOKENS_PER_SECOND.set(entry["tokens_per_second"])
            entry["tokens"] = int(tokens)
            metrics.TRAINING_TOKENS.set(tokens)
            self._last_tokens = tokens
        if "train_runtime" in logs:
            entry["train_runtime_seconds"] = logs["train_runtime"]
            entry["train_loss"] = logs.get("train_loss")
        elif "eval_loss" in logs:
            entry["eval_loss"] = logs["eval_loss"]
        self._last_time = now
        metrics.TRAINING_STEP.set(state.global_step)
        self.records.append(entry)
        event = "training_finished" if "train_runtime" in logs else "training_progress"
        jsonlog.event(_log, event, **{k: v for k, v in entry.items() if v is not None})
