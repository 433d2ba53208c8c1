"""The loaded model: base weights, merged adapters, chat template, and text generation.

Adapters are the sub-directories of ``$ADAPTERS_DIR`` holding an ``adapter_config.json``, each
weighted by the environment variable named after it (Kaito's convention, default 1.0). They are
merged into the base weights once at start-up: one adapter at strength 1 directly, otherwise as
peft's ``cat`` combination, which is exact (the weighted sum of the adapters' deltas) where
Kaito's default ``svd`` combination approximates it. Generation stops on every end-of-sequence
id the model declares (Phi-3 lists ``<|endoftext|>``, ``<|assistant|>`` and ``<|end|>``), not only
the tokenizer's one.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import threading
from typing import TYPE_CHECKING, Any, Final

from model_runtime import contract, templates, weights
from model_runtime import logs as jsonlog

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence

__all__ = ["Engine", "Result", "Sampling", "find_adapters", "load_engine"]

COMBINED_ADAPTER: Final = "combined"
_log = logging.getLogger("model_runtime.serve")


@dataclasses.dataclass(frozen=True, kw_only=True)
class Sampling:
    """How to generate: greedy when ``temperature`` is 0."""

    max_new_tokens: int = 200
    temperature: float = 1.0
    top_p: float = 1.0
    top_k: int | None = None
    repetition_penalty: float | None = None
    stop: tuple[str, ...] = ()
    seed: int | None = None
    extra: Mapping[str, Any] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass(frozen=True, kw_only=True)
class Result:
    text: str
    prompt_tokens: int
    completion_tokens: int
    finish_reason: str
    """``stop`` (end of sequence or a stop string) or ``length``."""


def find_adapters(adapters_dir: str) -> list[str]:
    """Names of the adapter directories under ``adapters_dir`` (sorted)."""
    if not os.path.isdir(adapters_dir):
        return []
    return sorted(
        name
        for name in os.listdir(adapters_dir)
        if os.path.isfile(os.path.join(adapters_dir, name, "adapter_config.json"))
    )


class Engine:
    """A tokenizer and a causal LM, generating one request at a time."""

    def __init__(self, model: Any, tokenizer: Any, *, name: str, adapters: Sequence[str]) -> None:
        self.model = model
        self.tokenizer = tokenizer
        self.name = name
        self.adapters = tuple(adapters)
        self.eos_token_ids = _eos_ids(model, tokenizer)
        self.context_tokens: int | None = getattr(model.config, "max_position_embeddings", None)
        self._lock = threading.Lock()

    def render_chat(self, messages: Sequence[Mapping[str, str]]) -> str:
        """The prompt text for ``messages`` with the assistant's turn opened."""
        if not self.tokenizer.chat_template:
            raise ValueError("the model has no chat template; send a prompt instead")
        text = self.tokenizer.apply_chat_template(
            list(messages), tokenize=False, add_generation_prompt=True
        )
        return str(text)

    def count_tokens(self, text: str, *, chat: bool) -> int:
        return len(self._encode(text, chat=chat))

    def generate(
        self,
        prompt: str,
        sampling: Sampling,
        *,
        chat: bool,
        on_tokens: Callable[[list[int]], None] | None = None,
    ) -> Result:
        """Generate a completion of ``prompt`` (blocking; call from a worker thread)."""
        import torch  # noqa: PLC0415

        ids = self._encode(prompt, chat=chat)
        if self.context_tokens and len(ids) + sampling.max_new_tokens > self.context_tokens:
            raise ValueError(
                f"the prompt ({len(ids)} tokens) plus max tokens ({sampling.max_new_tokens}) "
                f"exceed the model's context of {self.context_tokens} tokens"
            )
        kwargs: dict[str, Any] = {
            "max_new_tokens": sampling.max_new_tokens,
            "eos_token_id": list(self.eos_token_ids),
            "pad_token_id": self.tokenizer.pad_token_id
            if self.tokenizer.pad_token_id is not None
            else self.eos_token_ids[0],
            **dict(sampling.extra),
        }
        if sampling.temperature > 0:
            kwargs.update(do_sample=True, temperature=sampling.temperature, top_p=sampling.top_p)
            if sampling.top_k is not None:
                kwargs["top_k"] = sampling.top_k
        else:
            kwargs.update(do_sample=False, temperature=None, top_p=None, top_k=None)
        if sampling.repetition_penalty is not None:
            kwargs["repetition_penalty"] = sampling.repetition_penalty
        if sampling.stop:
            kwargs.update(stop_strings=list(sampling.stop), tokenizer=self.tokenizer)
        if on_tokens is not None:
            kwargs["streamer"] = _CallbackStreamer(on_tokens)
        device = next(self.model.parameters()).device
        input_ids = torch.tensor([ids], device=device)
        with self._lock, torch.inference_mode():
            if sampling.seed is not None:
                torch.manual_seed(sampling.seed)
            output = self.model.generate(
                input_ids=input_ids, attention_mask=torch.ones_like(input_ids), **kwargs
            )
        new = output[0][len(ids) :].tolist()
        finish = "stop" if new and new[-1] in self.eos_token_ids else "length"
        text = self.tokenizer.decode(new, skip_special_tokens=True)
        cut = truncate_at_stop(text, sampling.stop)
        if cut != text:
            text, finish = cut, "stop"
        return Result(
            text=text, prompt_tokens=len(ids), completion_tokens=len(new), finish_reason=finish
        )

    def decode(self, ids: Sequence[int]) -> str:
        return str(self.tokenizer.decode(list(ids), skip_special_tokens=True))

    def _encode(self, text: str, *, chat: bool) -> list[int]:
        # A rendered chat template already holds its special tokens.
        encoded = self.tokenizer(text, add_special_tokens=not chat)["input_ids"]
        return list(encoded)


def truncate_at_stop(text: str, stop: Sequence[str]) -> str:
    """``text`` up to the first occurrence of any stop string."""
    cut = len(text)
    for s in stop:
        index = text.find(s)
        if s and index != -1:
            cut = min(cut, index)
    return text[:cut]


def load_engine(
    model_dir: str,
    *,
    adapters_dir: str,
    env: Mapping[str, str],
    chat_template: str | None = None,
    name: str | None = None,
) -> Engine:
    """Load the base model from ``model_dir`` (local files only) and merge the adapters."""
    import torch  # noqa: PLC0415
    import transformers  # noqa: PLC0415

    weights.ensure_weights(model_dir, env)
    tokenizer = transformers.AutoTokenizer.from_pretrained(model_dir, local_files_only=True)
    if chat_template:
        tokenizer.chat_template = templates.resolve_chat_template(chat_template)
    cuda = torch.cuda.is_available()
    kwargs: dict[str, Any] = {"local_files_only": True}
    if cuda:
        kwargs.update(dtype="auto", device_map="auto")
    else:
        kwargs["dtype"] = torch.float32
    model = transformers.AutoModelForCausalLM.from_pretrained(model_dir, **kwargs)
    adapters = find_adapters(adapters_dir)
    if adapters:
        model = _merge_adapters(model, adapters_dir, adapters, env)
    model.eval()  # type: ignore[no-untyped-call]
    served = name or contract.env_str(env, "MODEL_NAME", os.path.basename(model_dir.rstrip("/")))
    jsonlog.event(
        _log, "model_loaded", model_dir=model_dir, adapters=adapters, device=str(model.device)
    )
    return Engine(model, tokenizer, name=served, adapters=adapters)


def _merge_adapters(model: Any, adapters_dir: str, names: list[str], env: Mapping[str, str]) -> Any:
    import peft  # noqa: PLC0415

    strengths = [contract.env_float(env, name, 1.0) for name in names]
    merged = peft.PeftModel.from_pretrained(
        model, os.path.join(adapters_dir, names[0]), adapter_name=names[0]
    )
    for name in names[1:]:
        merged.load_adapter(os.path.join(adapters_dir, name), adapter_name=name)
    if len(names) > 1 or strengths[0] != 1.0:
        merged.add_weighted_adapter(
            names, strengths, adapter_name=COMBINED_ADAPTER, combination_type="cat"
        )
        merged.set_adapter(COMBINED_ADAPTER)
        for name in names:
            merged.delete_adapter(name)
    jsonlog.event(_log, "adapters_merged", adapters=dict(zip(names, strengths, strict=True)))
    return merged.merge_and_unload()


def _eos_ids(model: Any, tokenizer: Any) -> tuple[int, ...]:
    found: list[int] = []
    config = getattr(model, "generation_config", None)
    declared = getattr(config, "eos_token_id", None)
    for value in declared if isinstance(declared, list) else [declared]:
        if isinstance(value, int) and value not in found:
            found.append(value)
    if tokenizer.eos_token_id is not None and tokenizer.eos_token_id not in found:
        found.append(tokenizer.eos_token_id)
    if not found:
        raise ValueError("the model declares no end-of-sequence token")
    return tuple(found)


class _CallbackStreamer:
    """A transformers streamer handing each new batch of token ids to a callback."""

    def __init__(self, callback: Callable[[list[int]], None]) -> None:
        self._callback = callback
        self._prompt_skipped = False

    def put(self, value: Any) -> None:
        if not self._prompt_skipped:  # generate() first hands over the prompt
            self._prompt_skipped = True
            return
        self._callback([int(v) for v in value.reshape(-1).tolist()])

    def end(self) -> None:
        return
