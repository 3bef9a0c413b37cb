"""The official `anthropic` Python SDK against the router's Messages surface, for every kind."""
import json

import anthropic
import httpx
import pytest
from conftest import KINDS, PIXEL, SIGNATURE, THINKING, THOUGHT_ANSWER

WEATHER_TOOL = {
    "name": "get_weather",
    "description": "Weather for a city",
    "input_schema": {
        "type": "object",
        "properties": {"city": {"type": "string", "description": "City name"}},
        "required": ["city"],
    },
}
RAW_EVENTS = {
    "message_start",
    "content_block_start",
    "content_block_delta",
    "content_block_stop",
    "message_delta",
    "message_stop",
}


@pytest.fixture
def client(router):
    return anthropic.Anthropic(base_url=router["base"], api_key=router["app_key"], max_retries=0)


def raw_order(events):
    """Event types with consecutive deltas collapsed, for comparing the stream's grammar."""
    order = []
    for e in events:
        if e.type not in RAW_EVENTS:
            continue
        if e.type == "content_block_delta" and order and order[-1] == "content_block_delta":
            continue
        order.append(e.type)
    return order


@pytest.mark.parametrize("kind", KINDS)
def test_plain_message(client, kind):
    r = client.messages.create(
        model=KINDS[kind]["text"],
        max_tokens=100,
        messages=[{"role": "user", "content": "Say hello"}],
    )
    assert r.type == "message" and r.role == "assistant"
    assert len(r.content) == 1 and r.content[0].type == "text"
    assert "mock" in r.content[0].text
    assert r.stop_reason == "end_turn"
    assert r.usage.input_tokens > 0 and r.usage.output_tokens > 0


def test_bearer_auth_token(router):
    c = anthropic.Anthropic(base_url=router["base"], api_key=None, auth_token=router["app_key"], max_retries=0)
    r = c.messages.create(
        model=KINDS["anthropic"]["text"], max_tokens=50, messages=[{"role": "user", "content": "hi"}]
    )
    assert "mock" in r.content[0].text


@pytest.mark.parametrize("kind", KINDS)
def test_system_blocks_with_cache_control(client, kind):
    r = client.messages.create(
        model=KINDS[kind]["text"],
        max_tokens=100,
        system=[
            {"type": "text", "text": "You are terse."},
            {"type": "text", "text": "A long cached preamble.", "cache_control": {"type": "ephemeral"}},
        ],
        messages=[
            {
                "role": "user",
                "content": [{"type": "text", "text": "Say hello", "cache_control": {"type": "ephemeral"}}],
            }
        ],
    )
    assert "mock" in r.content[0].text
    assert r.stop_reason == "end_turn"
    # The system text reached the upstream: it is part of the counted prompt.
    plain = client.messages.create(
        model=KINDS[kind]["text"], max_tokens=100, messages=[{"role": "user", "content": "Say hello"}]
    )
    total = lambda u: u.input_tokens + (u.cache_read_input_tokens or 0) + (u.cache_creation_input_tokens or 0)
    assert total(r.usage) > total(plain.usage)


@pytest.mark.parametrize("kind", KINDS)
def test_streaming_event_order_and_final_message(client, kind):
    with client.messages.stream(
        model=KINDS[kind]["text"],
        max_tokens=100,
        messages=[{"role": "user", "content": "Say hello"}],
    ) as stream:
        events = list(stream)
        final = stream.get_final_message()
    assert raw_order(events) == [
        "message_start",
        "content_block_start",
        "content_block_delta",
        "content_block_stop",
        "message_delta",
        "message_stop",
    ]
    deltas = [e for e in events if e.type == "content_block_delta"]
    assert all(d.delta.type == "text_delta" for d in deltas)
    text = "".join(d.delta.text for d in deltas)
    assert "mock" in text
    assert final.content[0].type == "text" and final.content[0].text == text
    assert final.stop_reason == "end_turn"
    assert final.usage.output_tokens > 0
    assert final.usage.input_tokens > 0


@pytest.mark.parametrize("kind", KINDS)
def test_tools_round_trip(client, kind):
    messages = [{"role": "user", "content": "Weather in Paris?"}]
    r = client.messages.create(model=KINDS[kind]["tools"], max_tokens=200, tools=[WEATHER_TOOL], messages=messages)
    assert r.stop_reason == "tool_use"
    uses = [b for b in r.content if b.type == "tool_use"]
    assert len(uses) == 1
    use = uses[0]
    assert use.name == "get_weather" and use.input == {"city": "Paris"}
    assert use.id
    messages.append({"role": "assistant", "content": [b.model_dump(exclude_none=True) for b in r.content]})
    messages.append(
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": use.id, "content": "18C and sunny"}]}
    )
    # The answer comes from the text mock of the same kind, which validates the history strictly.
    r2 = client.messages.create(model=KINDS[kind]["text"], max_tokens=200, tools=[WEATHER_TOOL], messages=messages)
    assert r2.stop_reason == "end_turn"
    assert "mock" in r2.content[0].text

    with client.messages.stream(
        model=KINDS[kind]["tools"], max_tokens=200, tools=[WEATHER_TOOL], messages=messages[:1]
    ) as stream:
        events = list(stream)
        final = stream.get_final_message()
    partial = "".join(
        e.delta.partial_json
        for e in events
        if e.type == "content_block_delta" and e.delta.type == "input_json_delta"
    )
    assert json.loads(partial) == {"city": "Paris"}
    starts = [e.content_block for e in events if e.type == "content_block_start"]
    assert [b.type for b in starts] == ["tool_use"]
    assert starts[0].name == "get_weather"
    assert final.stop_reason == "tool_use"
    assert final.content[-1].input == {"city": "Paris"}


@pytest.mark.parametrize("kind", KINDS)
def test_base64_image(client, kind):
    r = client.messages.create(
        model=KINDS[kind]["text"],
        max_tokens=100,
        messages=[
            {
                "role": "user",
                "content": [
                    {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PIXEL}},
                    {"type": "text", "text": "What is in this image?"},
                ],
            }
        ],
    )
    assert "mock" in r.content[0].text


@pytest.mark.parametrize("kind", KINDS)
def test_thinking_with_budget(client, kind):
    r = client.messages.create(
        model=KINDS[kind]["think"],
        max_tokens=4000,
        thinking={"type": "enabled", "budget_tokens": 2000},
        messages=[{"role": "user", "content": "What is six times seven?"}],
    )
    types = [b.type for b in r.content]
    assert types == ["thinking", "text"], types
    assert r.content[0].thinking == THINKING
    assert r.content[1].text == THOUGHT_ANSWER
    if kind == "anthropic":
        assert r.content[0].signature == SIGNATURE
    assert r.content[0].signature, "a thinking block must carry a signature to be replayable"

    with client.messages.stream(
        model=KINDS[kind]["think"],
        max_tokens=4000,
        thinking={"type": "enabled", "budget_tokens": 2000},
        messages=[{"role": "user", "content": "What is six times seven?"}],
    ) as stream:
        events = list(stream)
        final = stream.get_final_message()
    kinds = [e.delta.type for e in events if e.type == "content_block_delta"]
    assert "thinking_delta" in kinds and "text_delta" in kinds
    assert final.content[0].type == "thinking" and final.content[0].thinking == THINKING
    assert final.content[0].signature
    if kind == "anthropic":
        assert final.content[0].signature == SIGNATURE
    assert final.content[1].text == THOUGHT_ANSWER

    # The thinking turn replays: the next request carries it back with its signature.
    r2 = client.messages.create(
        model=KINDS[kind]["text"],
        max_tokens=4000,
        thinking={"type": "enabled", "budget_tokens": 2000},
        messages=[
            {"role": "user", "content": "What is six times seven?"},
            {"role": "assistant", "content": [b.model_dump(exclude_none=True) for b in r.content]},
            {"role": "user", "content": "And eight times five?"},
        ],
    )
    assert "mock" in r2.content[-1].text


@pytest.mark.parametrize("kind", KINDS)
def test_count_tokens(client, kind):
    r = client.messages.count_tokens(
        model=KINDS[kind]["text"],
        system="Be brief.",
        tools=[WEATHER_TOOL],
        messages=[{"role": "user", "content": "How many tokens is this?"}],
    )
    assert r.input_tokens > 0


def test_errors(router, client):
    bad = anthropic.Anthropic(base_url=router["base"], api_key="sk-wrong", max_retries=0)
    with pytest.raises(anthropic.AuthenticationError) as e:
        bad.messages.create(model=KINDS["anthropic"]["text"], max_tokens=10, messages=[{"role": "user", "content": "x"}])
    assert e.value.status_code == 401
    assert e.value.body["type"] == "error"
    assert e.value.body["error"]["type"] == "authentication_error"
    # The SDK insists on max_tokens; send the raw request to see the router's own check.
    with pytest.raises(anthropic.BadRequestError) as e:
        client.post(
            "/v1/messages",
            body={"model": KINDS["anthropic"]["text"], "messages": [{"role": "user", "content": "x"}]},
            cast_to=httpx.Response,
        )
    assert e.value.body["error"]["type"] == "invalid_request_error"
    assert "max_tokens" in e.value.body["error"]["message"]
    # An id nothing serves is a bad request (OpenRouter's "not a valid model ID").
    with pytest.raises(anthropic.BadRequestError) as e:
        client.messages.create(model="nosuch/model", max_tokens=10, messages=[{"role": "user", "content": "x"}])
    assert "nosuch/model" in e.value.body["error"]["message"]


def test_models_list(client):
    page = client.models.list()
    ids = [m.id for m in page.data]
    for kind in KINDS:
        assert KINDS[kind]["text"] in ids
    assert all(m.type == "model" and m.display_name for m in page.data)
    assert page.has_more is False
