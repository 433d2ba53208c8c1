"""Tiny random models, a tokenizer and a dataset, built locally (tests and the benchmark).

Nothing is downloaded: a byte-level BPE tokenizer is trained on a few sentences, a Phi-3 or
Llama model with random weights is built from a small config, and a messages dataset is written
as parquet. The Phi-3 chat template is the model's real format
(``<|user|>\\n...<|end|>\\n<|assistant|>\\n...<|end|>``), with ``<|end|>`` as end-of-sequence.
"""

from __future__ import annotations

import os
from typing import Any, Final

__all__ = [
    "PHI3_TEMPLATE",
    "SPECIAL_TOKENS",
    "build_model",
    "sample_conversations",
    "write_parquet",
]

SPECIAL_TOKENS: Final = (
    "<unk>",
    "<s>",
    "<pad>",
    "<|system|>",
    "<|user|>",
    "<|assistant|>",
    "<|end|>",
)
PHI3_TEMPLATE: Final = (
    "{% for message in messages %}"
    "{{ '<|' + message['role'] + '|>\\n' + message['content'] + '<|end|>\\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|assistant|>\\n' }}{% else %}{{ eos_token }}{% endif %}"
)

_FACTS: Final = (
    ("What colour is the sky?", "The sky is blue."),
    ("What do cows drink?", "Cows drink water."),
    ("Name a prime number.", "Seven is a prime number."),
    ("Where is Paris?", "Paris is in France."),
    ("How many legs has a cat?", "A cat has four legs."),
    ("What is ice?", "Ice is frozen water."),
    ("Which planet is red?", "Mars is the red planet."),
    ("What do bees make?", "Bees make honey."),
)


def sample_conversations() -> list[dict[str, Any]]:
    """Rows in the dolly-15k-oai-style shape: a system, a user and an assistant message."""
    return [
        {
            "messages": [
                {"role": "system", "content": "Answer briefly."},
                {"role": "user", "content": question},
                {"role": "assistant", "content": answer},
            ]
        }
        for question, answer in _FACTS
    ]


def write_parquet(rows: list[dict[str, Any]], path: str) -> None:
    """Write ``rows`` as one parquet file."""
    import pyarrow as pa  # noqa: PLC0415
    import pyarrow.parquet as pq  # noqa: PLC0415

    os.makedirs(os.path.dirname(path), exist_ok=True)
    pq.write_table(pa.Table.from_pylist(rows), path)


def build_model(
    directory: str,
    *,
    architecture: str = "phi3",
    hidden_size: int = 64,
    layers: int = 2,
    seed: int = 0,
) -> None:
    """Save a random ``phi3`` or ``llama`` causal LM and its tokenizer to ``directory``."""
    import torch  # noqa: PLC0415
    import transformers  # noqa: PLC0415
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers  # noqa: PLC0415

    corpus = [f"{q} {a}" for q, a in _FACTS] * 4 + ["Answer briefly. Hello there, how are you?"]
    backend = Tokenizer(models.BPE(unk_token="<unk>"))
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    backend.decoder = decoders.ByteLevel()
    backend.train_from_iterator(
        corpus,
        trainers.BpeTrainer(
            vocab_size=400,
            special_tokens=list(SPECIAL_TOKENS),
            initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
            show_progress=False,
        ),
    )
    tokenizer = transformers.PreTrainedTokenizerFast(  # type: ignore[no-untyped-call]
        tokenizer_object=backend,
        bos_token="<s>",
        eos_token="<|end|>",
        unk_token="<unk>",
        pad_token="<pad>",
    )
    tokenizer.chat_template = PHI3_TEMPLATE
    ids: dict[str, Any] = {
        "vocab_size": len(tokenizer),
        "pad_token_id": tokenizer.pad_token_id,
        "bos_token_id": tokenizer.bos_token_id,
        "eos_token_id": tokenizer.eos_token_id,
    }
    shape: dict[str, Any] = {
        "hidden_size": hidden_size,
        "intermediate_size": hidden_size * 2,
        "num_hidden_layers": layers,
        "num_attention_heads": 4,
        "num_key_value_heads": 4,
        "max_position_embeddings": 512,
    }
    torch.manual_seed(seed)
    model: Any
    if architecture == "phi3":
        model = transformers.Phi3ForCausalLM(transformers.Phi3Config(**shape, **ids))
    elif architecture == "llama":
        model = transformers.LlamaForCausalLM(transformers.LlamaConfig(**shape, **ids))
    else:
        raise ValueError(f"unknown architecture {architecture!r}")
    tokenizer.save_pretrained(directory)
    model.save_pretrained(directory)
