"""``serve``: the inference HTTP server on ``$PORT`` (5000).

Endpoints:

- ``POST /chat``: Kaito's classic body (``prompt`` or ``messages``, ``generate_kwargs``,
  ``return_full_text``), answered ``{"Result": text}``;
- ``POST /v1/chat/completions`` and ``POST /v1/completions``: the OpenAI API, with
  ``stream: true`` as server-sent events ending in ``data: [DONE]``;
- ``GET /v1/models``, ``GET /health`` (503 until the model is loaded; the probes use it),
  ``GET /metrics`` (Prometheus).

The model loads in a worker thread after the port opens, so the startup probe can tell
"loading" (503) from "dead" (no answer). A malformed request gets 400 with the reason; a
generation request before the model is ready gets 503. Generation runs in a worker thread, one
request at a time (a single model instance is not safe to share between concurrent generations).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from typing import TYPE_CHECKING, Any, Final, Literal

import prometheus_client
import pydantic
from aiohttp import web

from model_runtime import contract, metrics
from model_runtime import logs as jsonlog
from model_runtime.generation import Engine, Result, Sampling, truncate_at_stop

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Mapping

__all__ = ["ENGINE_KEY", "create_app", "main"]

MAX_NEW_TOKENS: Final = 4096
_GENERATE_KWARGS: Final = frozenset(
    {
        "max_new_tokens", "max_length", "min_length", "min_new_tokens", "do_sample",
        "temperature", "top_k", "top_p", "typical_p", "repetition_penalty", "num_beams",
        "early_stopping", "no_repeat_ngram_size", "length_penalty", "pad_token_id",
        "eos_token_id", "stop", "seed",
    }
)  # fmt: skip
_PASSED_THROUGH: Final = ("min_length", "min_new_tokens", "typical_p", "num_beams",
                          "early_stopping", "no_repeat_ngram_size", "length_penalty")  # fmt: skip

_log = logging.getLogger("model_runtime.serve")


class BadRequestError(ValueError):
    """The request cannot be served as sent; the message is the reason."""


class _Message(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="ignore")
    role: Literal["system", "user", "assistant"]
    content: str


class _ChatBody(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="ignore")
    prompt: str | None = None
    messages: list[_Message] | None = None
    return_full_text: bool = True
    generate_kwargs: dict[str, Any] = pydantic.Field(default_factory=dict)


class _OpenAIBody(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="ignore")
    model: str | None = None
    max_tokens: int | None = pydantic.Field(default=None, ge=1)
    max_completion_tokens: int | None = pydantic.Field(default=None, ge=1)
    temperature: float = pydantic.Field(default=1.0, ge=0, le=2)
    top_p: float = pydantic.Field(default=1.0, gt=0, le=1)
    n: int = 1
    stream: bool = False
    stop: str | list[str] | None = None
    seed: int | None = None


class _ChatCompletionBody(_OpenAIBody):
    messages: list[_Message] = pydantic.Field(min_length=1)


class _CompletionBody(_OpenAIBody):
    prompt: str
    echo: bool = False


class _EngineState:
    def __init__(self, loader: Callable[[], Engine]) -> None:
        self.loader = loader
        self.engine: Engine | None = None
        self.error: str | None = None
        self.task: asyncio.Task[None] | None = None


ENGINE_KEY: Final = web.AppKey("engine_state", _EngineState)


def create_app(loader: Callable[[], Engine]) -> web.Application:
    """The server; ``loader`` builds the engine in a worker thread once the app starts."""
    app = web.Application(middlewares=[_count_requests], client_max_size=8 * 1024 * 1024)
    app[ENGINE_KEY] = _EngineState(loader)
    app.on_startup.append(_start_loading)
    app.on_cleanup.append(_stop_loading)
    app.add_routes(
        [
            web.get("/", _root),
            web.get("/health", _health),
            web.get("/metrics", _metrics),
            web.get("/v1/models", _models),
            web.post("/chat", _chat),
            web.post("/v1/chat/completions", _chat_completions),
            web.post("/v1/completions", _completions),
        ]
    )
    return app


async def _start_loading(app: web.Application) -> None:
    state = app[ENGINE_KEY]

    async def load() -> None:
        try:
            state.engine = await asyncio.to_thread(state.loader)
            metrics.MODEL_READY.set(1)
        except Exception as error:  # the server stays up and says why in /health
            state.error = f"{type(error).__name__}: {error}"
            _log.exception("model_load_failed")

    state.task = asyncio.create_task(load(), name="load-model")


async def _stop_loading(app: web.Application) -> None:
    task = app[ENGINE_KEY].task
    if task is not None and not task.done():
        task.cancel()


@web.middleware
async def _count_requests(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    endpoint = (
        request.match_info.route.resource.canonical
        if request.match_info.route.resource
        else "other"
    )
    try:
        response = await handler(request)
    except web.HTTPException as error:
        metrics.REQUESTS.labels(endpoint=endpoint, status=str(error.status)).inc()
        raise
    metrics.REQUESTS.labels(endpoint=endpoint, status=str(response.status)).inc()
    return response


async def _root(request: web.Request) -> web.Response:
    return web.json_response({"message": "Server is running"})


async def _health(request: web.Request) -> web.Response:
    state = request.app[ENGINE_KEY]
    if state.engine is not None:
        return web.json_response({"status": "Healthy"})
    if state.error is not None:
        return web.json_response({"status": "Failed", "reason": state.error}, status=500)
    return web.json_response({"status": "Loading"}, status=503)


async def _metrics(request: web.Request) -> web.Response:
    body = prometheus_client.generate_latest()
    return web.Response(body=body, headers={"Content-Type": prometheus_client.CONTENT_TYPE_LATEST})


async def _models(request: web.Request) -> web.Response:
    engine = _engine(request, openai=True)
    return web.json_response(
        {
            "object": "list",
            "data": [{"id": engine.name, "object": "model", "created": 0, "owned_by": "kaito"}],
        }
    )


async def _chat(request: web.Request) -> web.Response:
    engine = _engine(request, openai=False)
    try:
        body = _ChatBody.model_validate(await _json(request))
        chat = _chat_prompt(engine, body)
        sampling = _kaito_sampling(engine, body.generate_kwargs, chat[0], chat=chat[1])
        started = time.monotonic()
        result = await asyncio.to_thread(engine.generate, chat[0], sampling, chat=chat[1])
    except (pydantic.ValidationError, BadRequestError, ValueError) as error:
        raise _bad_request(error, openai=False) from None
    _observe("/chat", started, result)
    text = result.text
    if body.prompt is not None and body.return_full_text:
        text = body.prompt + text
    return web.json_response({"Result": text})


async def _chat_completions(request: web.Request) -> web.StreamResponse:
    engine = _engine(request, openai=True)
    try:
        body = _ChatCompletionBody.model_validate(await _json(request))
        _check_model(engine, body)
        prompt = engine.render_chat([m.model_dump() for m in body.messages])
        sampling = _openai_sampling(body)
    except (pydantic.ValidationError, BadRequestError, ValueError) as error:
        raise _bad_request(error, openai=True) from None
    return await _respond(request, engine, body, prompt, sampling, chat=True)


async def _completions(request: web.Request) -> web.StreamResponse:
    engine = _engine(request, openai=True)
    try:
        body = _CompletionBody.model_validate(await _json(request))
        _check_model(engine, body)
        sampling = _openai_sampling(body)
    except (pydantic.ValidationError, BadRequestError, ValueError) as error:
        raise _bad_request(error, openai=True) from None
    return await _respond(request, engine, body, body.prompt, sampling, chat=False)


async def _respond(
    request: web.Request,
    engine: Engine,
    body: _OpenAIBody,
    prompt: str,
    sampling: Sampling,
    *,
    chat: bool,
) -> web.StreamResponse:
    endpoint = request.path
    ident = f"{'chatcmpl' if chat else 'cmpl'}-{uuid.uuid4().hex}"
    created = int(time.time())
    kind = "chat.completion" if chat else "text_completion"
    started = time.monotonic()
    if body.stream:
        return await _stream(request, engine, prompt, sampling, chat=chat, ident=ident,
                             created=created)  # fmt: skip
    try:
        result = await asyncio.to_thread(engine.generate, prompt, sampling, chat=chat)
    except ValueError as error:
        raise _bad_request(error, openai=True) from None
    _observe(endpoint, started, result)
    text = result.text
    if not chat and isinstance(body, _CompletionBody) and body.echo:
        text = prompt + text
    choice: dict[str, Any] = {"index": 0, "finish_reason": result.finish_reason}
    if chat:
        choice["message"] = {"role": "assistant", "content": text}
    else:
        choice.update(text=text, logprobs=None)
    return web.json_response(
        {
            "id": ident,
            "object": kind,
            "created": created,
            "model": engine.name,
            "choices": [choice],
            "usage": {
                "prompt_tokens": result.prompt_tokens,
                "completion_tokens": result.completion_tokens,
                "total_tokens": result.prompt_tokens + result.completion_tokens,
            },
        }
    )


async def _stream(
    request: web.Request,
    engine: Engine,
    prompt: str,
    sampling: Sampling,
    *,
    chat: bool,
    ident: str,
    created: int,
) -> web.StreamResponse:
    """Server-sent events: one chunk per piece of text, then the finish reason, then [DONE]."""
    prompt_tokens = engine.count_tokens(prompt, chat=chat)
    if engine.context_tokens and prompt_tokens + sampling.max_new_tokens > engine.context_tokens:
        raise _bad_request(
            ValueError(
                f"the prompt ({prompt_tokens} tokens) plus max tokens "
                f"({sampling.max_new_tokens}) exceed the model's context of "
                f"{engine.context_tokens} tokens"
            ),
            openai=True,
        )
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[list[int] | None] = asyncio.Queue()

    def on_tokens(ids: list[int]) -> None:
        loop.call_soon_threadsafe(queue.put_nowait, ids)

    async def run() -> Result:
        try:
            return await asyncio.to_thread(
                engine.generate, prompt, sampling, chat=chat, on_tokens=on_tokens
            )
        finally:
            queue.put_nowait(None)

    response = web.StreamResponse(
        headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"}
    )
    await response.prepare(request)
    kind = "chat.completion.chunk" if chat else "text_completion"
    started = time.monotonic()

    async def send(delta: str | None, finish: str | None, *, first: bool = False) -> None:
        choice: dict[str, Any] = {"index": 0, "finish_reason": finish}
        if chat:
            choice["delta"] = {} if delta is None else {"content": delta}
            if first:
                choice["delta"]["role"] = "assistant"
        else:
            choice["text"] = delta or ""
        chunk = {"id": ident, "object": kind, "created": created, "model": engine.name,
                 "choices": [choice]}  # fmt: skip
        await response.write(f"data: {json.dumps(chunk)}\n\n".encode())

    if chat:
        await send("", None, first=True)  # the OpenAI API announces the role first
    generation = asyncio.create_task(run(), name=f"generate-{ident}")
    ids: list[int] = []
    sent = 0
    hold = max((len(s) for s in sampling.stop), default=1) - 1
    while (batch := await queue.get()) is not None:
        ids += [i for i in batch if i not in engine.eos_token_ids]
        text = truncate_at_stop(engine.decode(ids), sampling.stop)
        # Hold back what could still become a stop string or a partial character.
        ready = len(text) - hold if len(text) > hold else 0
        if text.endswith("\ufffd"):
            ready = min(ready, len(text) - 1)
        if ready > sent:
            await send(text[sent:ready], None)
            sent = ready
    result = await generation
    if len(result.text) > sent:
        await send(result.text[sent:], None)
    await send(None, result.finish_reason)
    await response.write(b"data: [DONE]\n\n")
    await response.write_eof()
    _observe(request.path, started, result)
    return response


def _engine(request: web.Request, *, openai: bool) -> Engine:
    state = request.app[ENGINE_KEY]
    if state.engine is not None:
        return state.engine
    reason = "the model is still loading" if state.error is None else "the model failed to load"
    body = _error_body(reason, "model_not_ready", openai=openai)
    raise web.HTTPServiceUnavailable(
        text=json.dumps(body), content_type="application/json", headers={"Retry-After": "10"}
    )


async def _json(request: web.Request) -> Any:
    try:
        document = await request.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise BadRequestError("the body is not valid JSON") from None
    if not isinstance(document, dict):
        raise BadRequestError("the body must be a JSON object")
    return document


def _chat_prompt(engine: Engine, body: _ChatBody) -> tuple[str, bool]:
    if (body.prompt is None) == (body.messages is None):
        raise BadRequestError("send exactly one of prompt or messages")
    if body.messages is not None:
        if not body.messages:
            raise BadRequestError("messages must not be empty")
        return engine.render_chat([m.model_dump() for m in body.messages]), True
    assert body.prompt is not None
    if not body.prompt:
        raise BadRequestError("prompt must not be empty")
    return body.prompt, False


def _kaito_sampling(
    engine: Engine, kwargs: Mapping[str, Any], prompt: str, *, chat: bool
) -> Sampling:
    unknown = sorted(set(kwargs) - _GENERATE_KWARGS)
    if unknown:
        raise BadRequestError(f"generate_kwargs: unknown key {unknown[0]!r}")
    max_new = kwargs.get("max_new_tokens")
    if max_new is None and kwargs.get("max_length") is not None:
        max_new = _int(kwargs, "max_length") - engine.count_tokens(prompt, chat=chat)
        if max_new < 1:
            raise BadRequestError("generate_kwargs.max_length is not longer than the prompt")
    elif max_new is not None:
        max_new = _int(kwargs, "max_new_tokens")
    do_sample = kwargs.get("do_sample", True)
    temperature = _number(kwargs, "temperature", 1.0) if do_sample else 0.0
    if do_sample is not True and do_sample is not False:
        raise BadRequestError("generate_kwargs.do_sample must be true or false")
    stop = kwargs.get("stop")
    extra = {k: kwargs[k] for k in _PASSED_THROUGH if k in kwargs}
    return _sampling(
        max_new_tokens=200 if max_new is None else max_new,
        temperature=temperature,
        top_p=_number(kwargs, "top_p", 1.0),
        top_k=_int(kwargs, "top_k") if kwargs.get("top_k") is not None else None,
        repetition_penalty=_number(kwargs, "repetition_penalty", 1.0),
        stop=stop,
        seed=_int(kwargs, "seed") if kwargs.get("seed") is not None else None,
        extra=extra,
    )


def _openai_sampling(body: _OpenAIBody) -> Sampling:
    if body.n != 1:
        raise BadRequestError("n must be 1")
    max_new = body.max_completion_tokens or body.max_tokens or 256
    return _sampling(
        max_new_tokens=max_new,
        temperature=body.temperature,
        top_p=body.top_p,
        top_k=None,
        repetition_penalty=None,
        stop=body.stop,
        seed=body.seed,
        extra={},
    )


def _sampling(
    *,
    max_new_tokens: int,
    temperature: float,
    top_p: float,
    top_k: int | None,
    repetition_penalty: float | None,
    stop: object,
    seed: int | None,
    extra: Mapping[str, Any],
) -> Sampling:
    if not 1 <= max_new_tokens <= MAX_NEW_TOKENS:
        raise BadRequestError(f"max tokens must be between 1 and {MAX_NEW_TOKENS}")
    if temperature < 0:
        raise BadRequestError("temperature must not be negative")
    if not 0 < top_p <= 1:
        raise BadRequestError("top_p must be in (0, 1]")
    if top_k is not None and top_k < 0:
        raise BadRequestError("top_k must not be negative")
    if repetition_penalty is not None and repetition_penalty <= 0:
        raise BadRequestError("repetition_penalty must be positive")
    stops: tuple[str, ...]
    if stop is None:
        stops = ()
    elif isinstance(stop, str):
        stops = (stop,)
    elif isinstance(stop, list) and all(isinstance(s, str) and s for s in stop):
        stops = tuple(stop)
    else:
        raise BadRequestError("stop must be a string or a list of non-empty strings")
    return Sampling(
        max_new_tokens=max_new_tokens,
        temperature=temperature,
        top_p=top_p,
        top_k=top_k,
        repetition_penalty=repetition_penalty,
        stop=stops,
        seed=seed,
        extra=extra,
    )


def _int(kwargs: Mapping[str, Any], key: str) -> int:
    value = kwargs[key]
    if isinstance(value, bool) or not isinstance(value, int):
        raise BadRequestError(f"generate_kwargs.{key} must be an integer")
    return value


def _number(kwargs: Mapping[str, Any], key: str, default: float) -> float:
    value = kwargs.get(key, default)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise BadRequestError(f"generate_kwargs.{key} must be a number")
    return float(value)


def _check_model(engine: Engine, body: _OpenAIBody) -> None:
    if body.model is not None and body.model != engine.name:
        raise web.HTTPNotFound(
            text=json.dumps(
                _error_body(
                    f"the model {body.model!r} does not exist; this server serves {engine.name!r}",
                    "model_not_found",
                    openai=True,
                )
            ),
            content_type="application/json",
        )


def _bad_request(error: Exception, *, openai: bool) -> web.HTTPBadRequest:
    if isinstance(error, pydantic.ValidationError):
        first = error.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        reason = f"{where}: {first['msg']}" if where else str(first["msg"])
    else:
        reason = str(error)
    return web.HTTPBadRequest(
        text=json.dumps(_error_body(reason, "invalid_request_error", openai=openai)),
        content_type="application/json",
    )


def _error_body(reason: str, code: str, *, openai: bool) -> dict[str, Any]:
    if openai:
        return {"error": {"message": reason, "type": code, "code": code}}
    return {"detail": reason}


def _observe(endpoint: str, started: float, result: Result) -> None:
    metrics.REQUEST_SECONDS.labels(endpoint=endpoint).observe(time.monotonic() - started)
    metrics.PROMPT_TOKENS.inc(result.prompt_tokens)
    metrics.GENERATED_TOKENS.inc(result.completion_tokens)


def main(env: Mapping[str, str]) -> int:
    """The ``serve`` entrypoint: listen on ``$PORT`` and load the model in the background."""
    from model_runtime import generation  # noqa: PLC0415

    model_dir = contract.env_str(env, "MODEL_DIR", contract.WEIGHTS_DIR)
    adapters_dir = contract.env_str(env, "ADAPTERS_DIR", contract.ADAPTERS_DIR)
    runtime = env.get("RUNTIME", "").strip()
    if runtime and runtime != "transformers":
        jsonlog.event(_log, "runtime_substituted", requested=runtime, serving="transformers")

    def loader() -> Engine:
        engine: Engine = generation.load_engine(
            model_dir,
            adapters_dir=adapters_dir,
            env=env,
            chat_template=env.get("CHAT_TEMPLATE") or None,
        )
        return engine

    port = contract.env_int(env, "PORT", contract.SERVER_PORT)
    jsonlog.event(_log, "listening", port=port, model_dir=model_dir, adapters_dir=adapters_dir)
    web.run_app(create_app(loader), host="0.0.0.0", port=port, print=None, access_log=None)
    return 0
