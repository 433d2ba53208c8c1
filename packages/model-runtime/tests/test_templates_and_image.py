"""Chat templates by name, file or text; the catalog's runtime image is this package's version."""

from __future__ import annotations

import importlib.metadata
from pathlib import Path

import pytest
import transformers

import preset_catalog
from model_runtime import templates


def test_every_template_the_catalog_names_is_shipped() -> None:
    named = {p.chat_template for p in preset_catalog.load_catalog().presets if p.chat_template}
    assert named
    assert named <= set(templates.shipped_templates())


def test_the_falcon_template_renders_a_conversation(phi3_dir: Path) -> None:
    tokenizer = transformers.AutoTokenizer.from_pretrained(str(phi3_dir))
    tokenizer.chat_template = templates.resolve_chat_template("falcon-instruct")
    text = tokenizer.apply_chat_template(
        [{"role": "user", "content": "Hi"}], tokenize=False, add_generation_prompt=True
    )
    assert text == "User: Hi\nAssistant:"


def test_a_file_or_inline_jinja_is_accepted(tmp_path: Path) -> None:
    template = "{% for m in messages %}{{ m['content'] }}{% endfor %}"
    path = tmp_path / "t.jinja"
    path.write_text(template)
    assert templates.resolve_chat_template(str(path)) == template
    assert templates.resolve_chat_template(template) == template
    with pytest.raises(ValueError, match="neither a shipped template"):
        templates.resolve_chat_template("no-such-template")


def test_the_catalog_runs_this_runtime_version() -> None:
    version = importlib.metadata.version("model-runtime")
    images = {
        (p.runtime_image.name, p.runtime_image.tag) for p in preset_catalog.load_catalog().presets
    }
    assert images == {("model-runtime", version)}
    dockerfile = Path(__file__).resolve().parents[3] / "images/model-runtime/Dockerfile"
    assert f"model-runtime:{version}" in dockerfile.read_text()
