"""``serve``: every endpoint over HTTP, with the tiny Phi-3 and the adapter trained here."""

from __future__ import annotations

import asyncio
import json
import shutil
import threading
from typing import TYPE_CHECKING, Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from model_runtime import generation, serving
from model_runtime.generation import Engine, Sampling

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable
    from pathlib import Path

    from conftest import Tuned

GREEDY: dict[str, Any] = {"do_sample": False, "max_new_tokens": 8}


@pytest.fixture(scope="session")
def adapters_dir(tuned: Tuned, tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("adapters")
    shutil.copytree(tuned.output_dir, directory / "facts")
    return directory


@pytest.fixture(scope="session")
def engine(phi3_dir: Path, adapters_dir: Path) -> Engine:
    return generation.load_engine(
        str(phi3_dir), adapters_dir=str(adapters_dir), env={}, name="phi-3-tiny"
    )


async def _client(loader: Callable[[], Engine]) -> TestClient[Any, Any]:
    client: TestClient[Any, Any] = TestClient(TestServer(serving.create_app(loader)))
    await client.start_server()
    return client


@pytest.fixture
async def client(engine: Engine) -> AsyncIterator[TestClient[Any, Any]]:
    client = await _client(lambda: engine)
    for _ in range(100):
        if (await client.get("/health")).status == 200:
            break
        await asyncio.sleep(0.01)
    yield client
    await client.close()


async def test_a_loading_model_answers_503(engine: Engine) -> None:
    release = threading.Event()

    def slow() -> Engine:
        release.wait(10)
        return engine

    client = await _client(slow)
    try:
        health = await client.get("/health")
        assert (health.status, await health.json()) == (503, {"status": "Loading"})
        chat = await client.post("/chat", json={"prompt": "Hi"})
        assert chat.status == 503
        assert "still loading" in (await chat.json())["detail"]
        completion = await client.post("/v1/completions", json={"prompt": "Hi"})
        assert (await completion.json())["error"]["code"] == "model_not_ready"
    finally:
        release.set()
        await client.close()


async def test_a_model_that_fails_to_load_is_reported(tmp_path: Path) -> None:
    def broken() -> Engine:
        return generation.load_engine(str(tmp_path), adapters_dir=str(tmp_path), env={})

    client = await _client(broken)
    try:
        health = await client.get("/health")
        for _ in range(100):
            health = await client.get("/health")
            if health.status != 503:
                break
            await asyncio.sleep(0.02)
        assert health.status == 500
        assert "MODEL_REPOSITORY is not set" in (await health.json())["reason"]
    finally:
        await client.close()


async def test_health_models_and_root(client: TestClient[Any, Any]) -> None:
    assert await (await client.get("/health")).json() == {"status": "Healthy"}
    models = await (await client.get("/v1/models")).json()
    assert [m["id"] for m in models["data"]] == ["phi-3-tiny"]
    assert (await client.get("/")).status == 200


async def test_chat_with_a_prompt_returns_the_full_text(
    client: TestClient[Any, Any], engine: Engine
) -> None:
    body = {"prompt": "What is ice?", "generate_kwargs": GREEDY}
    full = await (await client.post("/chat", json=body)).json()
    short = await (await client.post("/chat", json={**body, "return_full_text": False})).json()
    expected = engine.generate(
        "What is ice?", Sampling(max_new_tokens=8, temperature=0), chat=False
    )
    assert short == {"Result": expected.text}
    assert full == {"Result": "What is ice?" + expected.text}


async def test_chat_with_messages_applies_the_template(
    client: TestClient[Any, Any], engine: Engine
) -> None:
    messages = [{"role": "user", "content": "Where is Paris?"}]
    answer = await (
        await client.post("/chat", json={"messages": messages, "generate_kwargs": GREEDY})
    ).json()
    prompt = "<|user|>\nWhere is Paris?<|end|>\n<|assistant|>\n"
    assert engine.render_chat(messages) == prompt
    expected = engine.generate(prompt, Sampling(max_new_tokens=8, temperature=0), chat=True)
    assert answer == {"Result": expected.text}


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ({}, "exactly one of prompt or messages"),
        ({"prompt": "a", "messages": [{"role": "user", "content": "b"}]}, "exactly one"),
        ({"prompt": "a", "generate_kwargs": {"beam_me_up": 1}}, "unknown key 'beam_me_up'"),
        ({"prompt": "a", "generate_kwargs": {"temperature": "hot"}}, "must be a number"),
        ({"prompt": "a", "generate_kwargs": {"max_new_tokens": 0}}, "between 1 and"),
        ({"prompt": "a", "generate_kwargs": {"max_length": 1}}, "not longer than the prompt"),
        ({"messages": [{"role": "wizard", "content": "x"}]}, "messages.0.role"),
        ({"prompt": 5}, "prompt"),
    ],
)
async def test_bad_chat_requests_get_400_with_the_reason(
    client: TestClient[Any, Any], body: dict[str, Any], reason: str
) -> None:
    response = await client.post("/chat", json=body)
    assert response.status == 400
    assert reason in (await response.json())["detail"]


async def test_invalid_json_gets_400(client: TestClient[Any, Any]) -> None:
    response = await client.post(
        "/chat", data=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert response.status == 400
    assert (await response.json())["detail"] == "the body is not valid JSON"


async def test_openai_chat_completion(client: TestClient[Any, Any], engine: Engine) -> None:
    messages = [{"role": "user", "content": "What do bees make?"}]
    body = {
        "model": "phi-3-tiny",
        "messages": messages,
        "max_tokens": 6,
        "temperature": 0,
    }
    answer = await (await client.post("/v1/chat/completions", json=body)).json()
    prompt = engine.render_chat(messages)
    expected = engine.generate(prompt, Sampling(max_new_tokens=6, temperature=0), chat=True)
    assert answer["object"] == "chat.completion"
    assert answer["model"] == "phi-3-tiny"
    assert answer["choices"][0]["message"] == {"role": "assistant", "content": expected.text}
    assert answer["choices"][0]["finish_reason"] == expected.finish_reason
    usage = answer["usage"]
    assert usage["prompt_tokens"] == engine.count_tokens(prompt, chat=True)
    assert usage["completion_tokens"] == expected.completion_tokens
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]


async def _events(response: Any) -> list[Any]:
    assert response.headers["Content-Type"].startswith("text/event-stream")
    text = (await response.read()).decode()
    lines = [line.removeprefix("data: ") for line in text.split("\n\n") if line]
    assert lines[-1] == "[DONE]"
    return [json.loads(line) for line in lines[:-1]]


async def test_streamed_chat_equals_the_plain_answer(client: TestClient[Any, Any]) -> None:
    body = {"messages": [{"role": "user", "content": "Which planet is red?"}], "max_tokens": 10,
            "temperature": 0}  # fmt: skip
    plain = await (await client.post("/v1/chat/completions", json=body)).json()
    chunks = await _events(await client.post("/v1/chat/completions", json={**body, "stream": True}))
    assert all(c["object"] == "chat.completion.chunk" for c in chunks)
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    streamed = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks)
    assert streamed == plain["choices"][0]["message"]["content"]
    assert chunks[-1]["choices"][0]["finish_reason"] == plain["choices"][0]["finish_reason"]


async def test_completions_plain_streamed_and_echoed(client: TestClient[Any, Any]) -> None:
    body = {"prompt": "Cows drink", "max_tokens": 7, "temperature": 0}
    plain = await (await client.post("/v1/completions", json=body)).json()
    text = plain["choices"][0]["text"]
    assert plain["object"] == "text_completion"
    chunks = await _events(await client.post("/v1/completions", json={**body, "stream": True}))
    assert "".join(c["choices"][0]["text"] for c in chunks) == text
    echoed = await (await client.post("/v1/completions", json={**body, "echo": True})).json()
    assert echoed["choices"][0]["text"] == "Cows drink" + text


async def test_stop_strings_cut_the_answer(client: TestClient[Any, Any]) -> None:
    # The tuned model often ends at once (it learned <|end|>); use a prompt it continues.
    for prompt in ("Seven", "Hello there", "Answer", "Cows drink", "Paris"):
        body = {"prompt": prompt, "max_tokens": 12, "temperature": 0}
        answer = await (await client.post("/v1/completions", json=body)).json()
        text = answer["choices"][0]["text"]
        if len(text.strip()) >= 4 and "\ufffd" not in text:
            break
    else:
        pytest.fail("the tiny model continued none of the prompts")
    stop = text.strip()[1:3]
    cut = await (await client.post("/v1/completions", json={**body, "stop": [stop]})).json()
    assert cut["choices"][0]["text"] == text[: text.find(stop)]
    assert cut["choices"][0]["finish_reason"] == "stop"
    chunks = await _events(
        await client.post("/v1/completions", json={**body, "stop": stop, "stream": True})
    )
    assert "".join(c["choices"][0]["text"] for c in chunks) == text[: text.find(stop)]


@pytest.mark.parametrize(
    ("path", "body", "status", "reason"),
    [
        ("/v1/chat/completions", {"messages": []}, 400, "messages"),
        (
            "/v1/chat/completions",
            {"messages": [{"role": "user", "content": "a"}], "n": 2},
            400,
            "n must be 1",
        ),
        ("/v1/completions", {"prompt": "a", "temperature": -1}, 400, "temperature"),
        ("/v1/completions", {"prompt": "a", "max_tokens": 100000}, 400, "between 1 and"),
        ("/v1/completions", {"prompt": "a", "max_tokens": 4000}, 400, "exceed the model's context"),
        ("/v1/completions", {"prompt": "a", "max_tokens": 4000, "stream": True}, 400, "context"),
        ("/v1/completions", {"prompt": "a", "stop": [""]}, 400, "stop must be"),
        ("/v1/completions", {}, 400, "prompt"),
        ("/v1/completions", {"prompt": "a", "model": "gpt-9"}, 404, "'gpt-9' does not exist"),
    ],
)
async def test_bad_openai_requests_are_explained(
    client: TestClient[Any, Any], path: str, body: dict[str, Any], status: int, reason: str
) -> None:
    response = await client.post(path, json=body)
    assert response.status == status
    assert reason in (await response.json())["error"]["message"]


async def test_metrics_count_requests_and_tokens(client: TestClient[Any, Any]) -> None:
    await client.post("/v1/completions", json={"prompt": "Hi", "max_tokens": 2, "temperature": 0})
    text = await (await client.get("/metrics")).text()
    assert 'model_runtime_requests_total{endpoint="/v1/completions",status="200"}' in text
    assert "model_runtime_generated_tokens_total" in text
    assert "model_runtime_model_ready 1.0" in text


def test_generation_stops_on_every_declared_eos(phi3_dir: Path, tmp_path: Path) -> None:
    base = generation.load_engine(str(phi3_dir), adapters_dir=str(tmp_path / "none"), env={})
    first = base.generate("Paris is", Sampling(max_new_tokens=5, temperature=0), chat=False)
    stopper = base.tokenizer("Paris is", add_special_tokens=False)["input_ids"]
    model_dir = tmp_path / "model"
    shutil.copytree(phi3_dir, model_dir)
    ids = base.model.generate(
        input_ids=__import__("torch").tensor([stopper]), max_new_tokens=1, do_sample=False
    )[0][-1].item()
    config_path = model_dir / "generation_config.json"
    config = json.loads(config_path.read_text())
    config["eos_token_id"] = [base.tokenizer.eos_token_id, ids]
    config_path.write_text(json.dumps(config))
    engine = generation.load_engine(str(model_dir), adapters_dir=str(tmp_path / "none"), env={})
    assert set(engine.eos_token_ids) == {base.tokenizer.eos_token_id, ids}
    result = engine.generate("Paris is", Sampling(max_new_tokens=5, temperature=0), chat=False)
    assert (result.completion_tokens, result.finish_reason) == (1, "stop")
    assert first.completion_tokens == 5


def test_adapter_strength_scales_the_merged_delta(
    phi3_dir: Path, adapters_dir: Path, engine: Engine, tmp_path: Path
) -> None:
    import torch  # noqa: PLC0415

    base = generation.load_engine(str(phi3_dir), adapters_dir=str(tmp_path), env={})
    off = generation.load_engine(str(phi3_dir), adapters_dir=str(adapters_dir), env={"facts": "0"})
    ids = torch.tensor([base.tokenizer("What is ice?")["input_ids"]])

    def logits(e: Engine) -> Any:
        with torch.inference_mode():
            return e.model(input_ids=ids).logits

    assert engine.adapters == ("facts",)
    assert torch.allclose(logits(off), logits(base), atol=1e-5)
    assert not torch.allclose(logits(engine), logits(base), atol=1e-3)
