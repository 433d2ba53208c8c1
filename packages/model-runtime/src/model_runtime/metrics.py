"""Every Prometheus metric of the runtime, declared once (training and serving share a registry).

Names follow ``model_runtime_<noun>_<unit>``; labels are bounded (endpoint paths and status
codes of a fixed route table), never a request or model identifier.
"""

from __future__ import annotations

from typing import Final

from prometheus_client import Counter, Gauge, Histogram

__all__ = [
    "GENERATED_TOKENS",
    "MODEL_READY",
    "PROMPT_TOKENS",
    "REQUESTS",
    "REQUEST_SECONDS",
    "TRAINING_LOSS",
    "TRAINING_STEP",
    "TRAINING_TOKENS",
    "TRAINING_TOKENS_PER_SECOND",
]

TRAINING_STEP: Final = Gauge("model_runtime_training_step", "Optimizer steps done")
TRAINING_LOSS: Final = Gauge("model_runtime_training_loss", "Training loss at the last log")
TRAINING_TOKENS: Final = Gauge(
    "model_runtime_training_tokens", "Tokens trained on so far (all processes)"
)
TRAINING_TOKENS_PER_SECOND: Final = Gauge(
    "model_runtime_training_tokens_per_second", "Training throughput since the previous log"
)

MODEL_READY: Final = Gauge("model_runtime_model_ready", "1 once the model is loaded")
REQUESTS: Final = Counter("model_runtime_requests", "HTTP requests served", ["endpoint", "status"])
REQUEST_SECONDS: Final = Histogram(
    "model_runtime_request_duration_seconds",
    "Time to answer a generation request",
    ["endpoint"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120),
)
PROMPT_TOKENS: Final = Counter("model_runtime_prompt_tokens", "Prompt tokens processed")
GENERATED_TOKENS: Final = Counter("model_runtime_generated_tokens", "Tokens generated")
