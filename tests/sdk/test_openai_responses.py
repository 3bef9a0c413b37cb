"""The official `openai` SDK's Responses API (`client.responses.create` / `.stream`) against the
running router, for every provider kind: OpenAI Chat-only, an OpenAI upstream that speaks
Responses itself (`wire = "responses"`, relayed), Anthropic and Gemini (translated)."""
import json

import openai
import pytest
from conftest import KINDS, THINKING, THOUGHT_ANSWER

RKINDS = dict(
    KINDS,
    openai_responses={
        "text": "oar/gpt-5",
        "tools": "oartools/gpt-5",
        "think": "oarthink/o4-mini",
    },
)
WEATHER_TOOL = {
    "type": "function",
    "name": "get_weather",
    "description": "Weather for a city",
    "parameters": {
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
        "additionalProperties": False,
    },
    "strict": True,
}


@pytest.fixture
def client(router):
    return openai.OpenAI(base_url=router["base"] + "/v1", api_key=router["app_key"], max_retries=0)


@pytest.mark.parametrize("kind", RKINDS)
def test_plain_text(client, kind):
    model = RKINDS[kind]["text"]
    r = client.responses.create(model=model, instructions="Be brief.", input="Say hello", max_output_tokens=100)
    assert r.id.startswith("resp_")
    assert r.object == "response"
    assert r.status == "completed"
    assert "mock" in r.output_text
    assert r.model == model
    assert r.usage.input_tokens > 0 and r.usage.output_tokens > 0
    assert r.usage.total_tokens == r.usage.input_tokens + r.usage.output_tokens


def _check_order(types):
    """OpenAI's order: created, in_progress, then each item added ... done, then completed."""
    assert types[0] == "response.created", types
    assert types[1] == "response.in_progress", types
    assert types[-1] == "response.completed", types
    open_items = 0
    for t in types[2:-1]:
        if t == "response.output_item.added":
            assert open_items == 0, types
            open_items += 1
        elif t == "response.output_item.done":
            assert open_items == 1, types
            open_items -= 1
        else:
            assert open_items == 1, f"{t} outside an item: {types}"
    assert open_items == 0


@pytest.mark.parametrize("kind", RKINDS)
def test_stream_event_order(client, kind):
    model = RKINDS[kind]["text"]
    with client.responses.stream(model=model, input="Say hello", max_output_tokens=100) as stream:
        events = list(stream)
        final = stream.get_final_response()
    types = [e.type for e in events]
    _check_order(types)
    seqs = [e.sequence_number for e in events]
    assert seqs == list(range(len(seqs)))
    text_events = [t for t in types if t.startswith("response.output_text") or t.startswith("response.content_part")]
    assert text_events[0] == "response.content_part.added"
    assert text_events[-2:] == ["response.output_text.done", "response.content_part.done"]
    deltas = "".join(e.delta for e in events if e.type == "response.output_text.delta")
    assert "mock" in deltas
    assert final.output_text == deltas
    assert final.status == "completed"
    assert final.usage.output_tokens > 0


@pytest.mark.parametrize("kind", RKINDS)
def test_function_tool_loop(client, kind):
    model = RKINDS[kind]["tools"]
    history = [{"role": "user", "content": "Weather in Paris?"}]
    r = client.responses.create(model=model, input=history, tools=[WEATHER_TOOL], max_output_tokens=200)
    calls = [o for o in r.output if o.type == "function_call"]
    assert len(calls) == 1, r.output
    assert calls[0].name == "get_weather"
    assert json.loads(calls[0].arguments) == {"city": "Paris"}
    # The second turn sends the call and its output back (store-less, as Codex does) to the
    # text mock of the same kind, which validates the history.
    history += [o.model_dump(exclude_none=True) for o in r.output]
    history.append({"type": "function_call_output", "call_id": calls[0].call_id, "output": "18C and sunny"})
    r2 = client.responses.create(
        model=RKINDS[kind]["text"], input=history, tools=[WEATHER_TOOL], store=False, max_output_tokens=200
    )
    assert "mock" in r2.output_text

    with client.responses.stream(model=model, input=history[:1], tools=[WEATHER_TOOL]) as stream:
        events = list(stream)
    types = [e.type for e in events]
    _check_order(types)
    assert "response.function_call_arguments.delta" in types
    done = [e for e in events if e.type == "response.function_call_arguments.done"]
    assert json.loads(done[0].arguments) == {"city": "Paris"}


@pytest.mark.parametrize("kind", RKINDS)
def test_json_schema(client, kind):
    fmt = {
        "type": "json_schema",
        "name": "greeting",
        "strict": True,
        "schema": {
            "type": "object",
            "properties": {"text": {"type": "string"}},
            "required": ["text"],
            "additionalProperties": False,
        },
    }
    r = client.responses.create(model=RKINDS[kind]["text"], input="Greet me as JSON", text={"format": fmt})
    assert r.status == "completed"
    assert r.text.format.type == "json_schema"
    assert r.output_text


@pytest.mark.parametrize("kind", RKINDS)
def test_previous_response_id_and_stored_responses(client, kind):
    model = RKINDS[kind]["text"]
    first = client.responses.create(model=model, input="My name is Ada.")
    second = client.responses.create(model=model, input="What is my name?", previous_response_id=first.id)
    assert second.status == "completed"
    assert second.previous_response_id == first.id
    got = client.responses.retrieve(first.id)
    assert got.id == first.id and got.output_text == first.output_text
    items = client.responses.input_items.list(second.id)
    texts = json.dumps([i.model_dump() for i in items.data])
    assert "What is my name?" in texts
    deleted = client.responses.delete(first.id)
    assert deleted is None or getattr(deleted, "deleted", True)
    with pytest.raises(openai.NotFoundError):
        client.responses.retrieve(first.id)
    unstored = client.responses.create(model=model, input="Forget this.", store=False)
    with pytest.raises(openai.NotFoundError):
        client.responses.retrieve(unstored.id)


@pytest.mark.parametrize("kind", RKINDS)
def test_reasoning_summaries(client, kind):
    model = RKINDS[kind]["think"]
    with client.responses.stream(
        model=model,
        input="What is six times seven?",
        reasoning={"effort": "low", "summary": "auto"},
        include=["reasoning.encrypted_content"],
        max_output_tokens=2000,
    ) as stream:
        events = list(stream)
        final = stream.get_final_response()
    types = [e.type for e in events]
    _check_order(types)
    summary = "".join(e.delta for e in events if e.type == "response.reasoning_summary_text.delta")
    assert summary.replace(" ", "") == THINKING.replace(" ", "")
    assert types.index("response.reasoning_summary_part.added") < types.index("response.reasoning_summary_text.delta")
    assert final.output[0].type == "reasoning"
    assert final.output[0].encrypted_content
    assert final.output_text == THOUGHT_ANSWER
    # The reasoning item goes back with the next turn and is accepted by the same vendor.
    history = [{"role": "user", "content": "What is six times seven?"}]
    history += [o.model_dump(exclude_none=True) for o in final.output]
    history.append({"role": "user", "content": "And doubled?"})
    r = client.responses.create(model=model, input=history, store=False, reasoning={"effort": "low"})
    assert r.status == "completed"


def test_errors_are_openai_shaped(client):
    with pytest.raises(openai.BadRequestError) as e:
        client.responses.create(model="an/claude-sonnet-4-5", input="x", tools=[{"type": "web_search"}])
    assert "web_search" in str(e.value)
    with pytest.raises(openai.RateLimitError) as e:
        client.responses.create(model="oaerr/gpt-4o-mini", input="x")
    assert e.value.code == "rate_limit_exceeded"
