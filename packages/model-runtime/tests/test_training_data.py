"""Finding and normalising the training data (all formats, one kind per dataset)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from model_runtime import data, tiny
from model_runtime.config import ConfigError, DatasetConfig

NO_SHUFFLE = DatasetConfig(shuffle_dataset=False)


def test_every_file_of_the_format_is_used(tmp_path: Path) -> None:
    rows = tiny.sample_conversations()
    tiny.write_parquet(rows[:3], str(tmp_path / "a.parquet"))
    tiny.write_parquet(rows[3:], str(tmp_path / "nested" / "b.parquet"))
    train, evaluation, kind = data.load_training_data(str(tmp_path), NO_SHUFFLE)
    assert (len(train), evaluation, kind) == (len(rows), None, "messages")
    assert train[0]["messages"][1]["content"] == rows[0]["messages"][1]["content"]


def test_csv_text_and_split(tmp_path: Path) -> None:
    (tmp_path / "d.csv").write_text("text,other\n" + "".join(f"row {i},x\n" for i in range(10)))
    config = DatasetConfig(train_test_split=0.8)
    train, evaluation, kind = data.load_training_data(str(tmp_path), config)
    assert kind == "text"
    assert train.column_names == ["text"]
    assert (len(train), len(evaluation or [])) == (8, 2)


def test_instruction_columns_become_messages(tmp_path: Path) -> None:
    rows = [{"instruction": "Say hi", "context": "politely", "response": "Hello."}]
    (tmp_path / "d.json").write_text(json.dumps(rows))
    config = DatasetConfig(
        instruction_column="instruction", context_column="context", response_column="response"
    )
    train, _, kind = data.load_training_data(str(tmp_path), config)
    assert kind == "messages"
    assert train[0]["messages"] == [
        {"role": "user", "content": "Say hi\n\npolitely"},
        {"role": "assistant", "content": "Hello."},
    ]


def test_mixed_formats_need_an_extension(tmp_path: Path) -> None:
    (tmp_path / "a.csv").write_text("text\nx\n")
    (tmp_path / "b.jsonl").write_text('{"text": "y"}\n')
    with pytest.raises(ConfigError, match="several formats"):
        data.find_data_files(str(tmp_path), NO_SHUFFLE)
    extension, files = data.find_data_files(str(tmp_path), DatasetConfig(dataset_extension="jsonl"))
    assert (extension, [Path(f).name for f in files]) == ("jsonl", ["b.jsonl"])


def test_json_and_jsonl_load_together(tmp_path: Path) -> None:
    (tmp_path / "a.json").write_text('[{"text": "x"}]')
    (tmp_path / "b.jsonl").write_text('{"text": "y"}\n')
    train, _, _ = data.load_training_data(str(tmp_path), NO_SHUFFLE)
    assert sorted(train["text"]) == ["x", "y"]


@pytest.mark.parametrize(
    ("files", "message"),
    [
        ({}, "no data files"),
        ({"a.txt": "hello"}, "no data files"),
        ({"a.csv": "question,answer\nq,a\n"}, "cannot tell the dataset's format"),
    ],
)
def test_unusable_data_is_explained(tmp_path: Path, files: dict[str, str], message: str) -> None:
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    with pytest.raises(ConfigError, match=message):
        data.load_training_data(str(tmp_path), NO_SHUFFLE)
