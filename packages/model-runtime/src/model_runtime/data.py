"""The training data: files under the data folder, loaded and normalised to one of trl's formats.

Accepted formats, chosen from the file extension: parquet, json (array or lines), jsonl, csv.
Every file of the chosen format is used (Kaito took the first file only). Rows must be one of
trl's dataset types, recognised by their columns:

- conversational: ``messages`` (a list of ``{role, content}``), as in dolly-15k-oai-style;
- prompt/completion: ``prompt`` and ``completion`` (strings or message lists);
- language modelling: ``text``;
- or, with ``DatasetConfig.instruction_column``/``response_column`` (+ ``context_column``),
  instruction rows, which are turned into user/assistant ``messages`` here.

Other columns are dropped, so trl never guesses from a stray column.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any, Final

from model_runtime.config import ConfigError, DatasetConfig

if TYPE_CHECKING:
    import datasets

__all__ = ["DatasetKind", "find_data_files", "load_training_data"]

_BUILDERS: Final = {"parquet": "parquet", "json": "json", "jsonl": "json", "csv": "csv"}

DatasetKind = str
"""``messages``, ``prompt_completion`` or ``text``."""


def find_data_files(folder: str, config: DatasetConfig) -> tuple[str, list[str]]:
    """``(extension, files)``: the data files to load, sorted, all of one format."""
    root = folder
    if config.dataset_path:
        root = os.path.join(folder, config.dataset_path)
    if os.path.isfile(root):
        candidates = [root]
    elif os.path.isdir(root):
        candidates = sorted(
            os.path.join(directory, name)
            for directory, _, names in os.walk(root)
            for name in names
            if not name.startswith(".")
        )
    else:
        raise ConfigError(f"the dataset path {root} does not exist")
    by_extension: dict[str, list[str]] = {}
    for path in candidates:
        extension = path.rsplit(".", 1)[-1].lower() if "." in os.path.basename(path) else ""
        if extension in _BUILDERS:
            by_extension.setdefault(extension, []).append(path)
    wanted = (config.dataset_extension or "").lower().lstrip(".")
    if wanted:
        if wanted not in _BUILDERS:
            raise ConfigError(
                f"DatasetConfig.dataset_extension {wanted!r} is not one of {', '.join(_BUILDERS)}"
            )
        files = by_extension.get(wanted, [])
        if not files:
            raise ConfigError(f"no .{wanted} files under {root}")
        return wanted, files
    if not by_extension:
        raise ConfigError(f"no data files ({', '.join(_BUILDERS)}) under {root}")
    builders = {_BUILDERS[e] for e in by_extension}
    if len(builders) > 1:
        raise ConfigError(
            f"{root} holds data files of several formats ({', '.join(sorted(by_extension))}); "
            "set DatasetConfig.dataset_extension"
        )
    extension = sorted(by_extension)[0]
    return extension, [p for e in sorted(by_extension) for p in by_extension[e]]


def load_training_data(
    folder: str, config: DatasetConfig
) -> tuple[datasets.Dataset, datasets.Dataset | None, DatasetKind]:
    """The training split, the evaluation split (if ``train_test_split`` < 1) and the kind."""
    import datasets  # noqa: PLC0415 - heavy, loaded only when training

    extension, files = find_data_files(folder, config)
    loaded = datasets.load_dataset(_BUILDERS[extension], data_files=files, split="train")
    assert isinstance(loaded, datasets.Dataset)
    dataset, kind = _normalised(loaded, config)
    if len(dataset) == 0:
        raise ConfigError(f"the dataset in {folder} has no rows")
    if config.shuffle_dataset:
        dataset = dataset.shuffle(seed=config.shuffle_seed)
    split = config.train_test_split
    if not 0 < split <= 1:
        raise ConfigError(f"DatasetConfig.train_test_split must be in (0, 1], not {split}")
    if split < 1:
        parts = dataset.train_test_split(train_size=split, seed=config.shuffle_seed)
        return parts["train"], parts["test"], kind
    return dataset, None, kind


def _normalised(
    dataset: datasets.Dataset, config: DatasetConfig
) -> tuple[datasets.Dataset, DatasetKind]:
    columns = set(dataset.column_names)
    if config.messages_column in columns:
        kept = dataset.select_columns([config.messages_column])
        if config.messages_column != "messages":
            kept = kept.rename_column(config.messages_column, "messages")
        return kept, "messages"
    if {"prompt", "completion"} <= columns:
        return dataset.select_columns(["prompt", "completion"]), "prompt_completion"
    if config.instruction_column and config.response_column:
        needed = [config.instruction_column, config.response_column]
        if config.context_column:
            needed.append(config.context_column)
        missing = [c for c in needed if c not in columns]
        if missing:
            raise ConfigError(f"the dataset has no column {missing[0]!r}")
        return dataset.map(
            _instruction_to_messages,
            fn_kwargs={"config": config},
            remove_columns=dataset.column_names,
        ), "messages"
    if "text" in columns:
        return dataset.select_columns(["text"]), "text"
    raise ConfigError(
        f"cannot tell the dataset's format from its columns {sorted(columns)}: expected "
        f"{config.messages_column!r}, 'prompt' and 'completion', or 'text' (or set "
        "DatasetConfig.instruction_column and response_column)"
    )


def _instruction_to_messages(row: dict[str, Any], config: DatasetConfig) -> dict[str, Any]:
    assert config.instruction_column
    assert config.response_column
    user = str(row[config.instruction_column])
    if config.context_column and row.get(config.context_column):
        user = f"{user}\n\n{row[config.context_column]}"
    return {
        "messages": [
            {"role": "user", "content": user},
            {"role": "assistant", "content": str(row[config.response_column])},
        ]
    }
