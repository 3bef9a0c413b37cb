"""The official `openai` Python SDK against the running router, for every provider kind."""
import base64
import json

import openai
import pytest
from conftest import KINDS

PIXEL = base64.b64encode(
    bytes.fromhex(
        "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
        "1f15c4890000000d49444154789c6360f8cfc0f01f0005000201a5f0e1"
        "5e0000000049454e44ae426082"
    )
).decode()
WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Weather for a city",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
            "additionalProperties": False,
        },
    },
}


@pytest.fixture
def client(router):
    return openai.OpenAI(base_url=router["base"] + "/v1", api_key=router["app_key"], max_retries=0)


@pytest.mark.parametrize("kind", KINDS)
def test_plain(client, kind):
    r = client.chat.completions.create(
        model=KINDS[kind]["text"],
        messages=[{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Say hello"}],
        max_tokens=100,
    )
    assert r.id.startswith("gen-")
    assert "mock" in r.choices[0].message.content
    assert r.choices[0].finish_reason == "stop"
    assert r.usage.prompt_tokens > 0 and r.usage.completion_tokens > 0
    assert r.model == KINDS[kind]["text"]


@pytest.mark.parametrize("kind", KINDS)
def test_streaming_with_usage(client, kind):
    stream = client.chat.completions.create(
        model=KINDS[kind]["text"],
        messages=[{"role": "user", "content": "Say hello"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    text, usage, finish = "", None, None
    for chunk in stream:
        if chunk.usage:
            assert usage is None, "usage sent twice"
            usage = chunk.usage
        for c in chunk.choices:
            text += c.delta.content or ""
            finish = c.finish_reason or finish
    assert "mock" in text
    assert finish == "stop"
    assert usage is not None and usage.completion_tokens > 0


@pytest.mark.parametrize("kind", KINDS)
def test_tools_round_trip(client, kind):
    model = KINDS[kind]["tools"]
    messages = [{"role": "user", "content": "Weather in Paris?"}]
    r = client.chat.completions.create(model=model, messages=messages, tools=[WEATHER_TOOL], max_tokens=200)
    call = r.choices[0].message.tool_calls[0]
    assert r.choices[0].finish_reason == "tool_calls"
    assert call.function.name == "get_weather"
    assert json.loads(call.function.arguments) == {"city": "Paris"}
    messages.append(r.choices[0].message.model_dump(exclude_none=True))
    messages.append({"role": "tool", "tool_call_id": call.id, "content": "18C and sunny"})
    # The second turn goes to the text mock of the same kind, which validates the history.
    r2 = client.chat.completions.create(model=KINDS[kind]["text"], messages=messages, tools=[WEATHER_TOOL], max_tokens=200)
    assert "mock" in r2.choices[0].message.content

    stream = client.chat.completions.create(
        model=model, messages=messages[:1], tools=[WEATHER_TOOL], stream=True, max_tokens=200
    )
    args, name = "", None
    for chunk in stream:
        for c in chunk.choices:
            for tc in c.delta.tool_calls or []:
                name = tc.function.name or name
                args += tc.function.arguments or ""
    assert name == "get_weather"
    assert json.loads(args) == {"city": "Paris"}


@pytest.mark.parametrize("kind", KINDS)
def test_json_schema_and_images(client, kind):
    r = client.chat.completions.create(
        model=KINDS[kind]["text"],
        messages=[
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "Describe this image as JSON"},
                    {"type": "image_url", "image_url": {"url": "data:image/png;base64," + PIXEL}},
                ],
            }
        ],
        response_format={
            "type": "json_schema",
            "json_schema": {
                "name": "desc",
                "strict": True,
                "schema": {
                    "type": "object",
                    "properties": {"color": {"type": "string"}},
                    "required": ["color"],
                    "additionalProperties": False,
                },
            },
        },
        max_tokens=100,
    )
    assert r.choices[0].message.content


def test_embeddings(client):
    r = client.embeddings.create(model="oa/text-embedding-3-small", input=["a", "b"])
    assert len(r.data) == 2 and len(r.data[0].embedding) > 0


def test_models(client):
    ids = [m.id for m in client.models.list()]
    assert ids
    m = client.models.retrieve("oa/gpt-4o-mini")
    assert m.id == "oa/gpt-4o-mini"


def test_errors(router, client):
    with pytest.raises(openai.RateLimitError) as e:
        client.chat.completions.create(model="oaerr/gpt-4o-mini", messages=[{"role": "user", "content": "x"}])
    assert e.value.status_code == 429
    bad = openai.OpenAI(base_url=router["base"] + "/v1", api_key="sk-wrong", max_retries=0)
    with pytest.raises(openai.AuthenticationError):
        bad.chat.completions.create(model="oa/gpt-4o-mini", messages=[{"role": "user", "content": "x"}])
    with pytest.raises(openai.BadRequestError):
        client.chat.completions.create(model="oa/gpt-4o-mini", messages=[])
