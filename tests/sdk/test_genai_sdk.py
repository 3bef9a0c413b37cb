"""The official `google-genai` Python SDK against the router's Gemini surface, for every kind."""
import base64

import pytest
from conftest import KINDS, PIXEL_BYTES, SIGNATURE, THINKING, THOUGHT_ANSWER
from google import genai
from google.genai import errors, types

WEATHER = types.Tool(
    function_declarations=[
        types.FunctionDeclaration(
            name="get_weather",
            description="Weather for a city",
            parameters=types.Schema(
                type=types.Type.OBJECT,
                properties={"city": types.Schema(type=types.Type.STRING, description="City name")},
                required=["city"],
            ),
        )
    ]
)
NO_AUTO_CALLS = types.AutomaticFunctionCallingConfig(disable=True)


@pytest.fixture
def client(router):
    return genai.Client(api_key=router["app_key"], http_options=types.HttpOptions(base_url=router["base"]))


@pytest.mark.parametrize("kind", KINDS)
def test_generate_content(client, kind):
    r = client.models.generate_content(
        model=KINDS[kind]["text"],
        contents="Say hello",
        config=types.GenerateContentConfig(system_instruction="Be brief.", max_output_tokens=100),
    )
    assert "mock" in r.text
    assert r.candidates[0].finish_reason == types.FinishReason.STOP
    u = r.usage_metadata
    assert u.prompt_token_count > 0 and u.candidates_token_count > 0
    assert u.total_token_count >= u.prompt_token_count + u.candidates_token_count
    # The system instruction reached the upstream: it is part of the counted prompt.
    plain = client.models.generate_content(model=KINDS[kind]["text"], contents="Say hello")
    assert plain.usage_metadata.prompt_token_count < u.prompt_token_count


@pytest.mark.parametrize("kind", KINDS)
def test_generate_content_stream(client, kind):
    chunks = list(
        client.models.generate_content_stream(
            model=KINDS[kind]["text"],
            contents="Say hello",
            config=types.GenerateContentConfig(system_instruction="Be brief."),
        )
    )
    assert len(chunks) >= 2, "a streamed answer arrives in pieces"
    text = "".join(c.text or "" for c in chunks)
    assert "mock" in text
    last = chunks[-1]
    assert last.candidates[0].finish_reason == types.FinishReason.STOP
    assert last.usage_metadata.prompt_token_count > 0
    assert last.usage_metadata.candidates_token_count > 0
    assert all(c.candidates[0].finish_reason is None for c in chunks[:-1])


@pytest.mark.parametrize("kind", KINDS)
def test_function_calling_round_trip(client, kind):
    config = types.GenerateContentConfig(tools=[WEATHER], automatic_function_calling=NO_AUTO_CALLS)
    question = types.Content(role="user", parts=[types.Part.from_text(text="Weather in Paris?")])
    r = client.models.generate_content(model=KINDS[kind]["tools"], contents=[question], config=config)
    calls = r.function_calls
    assert calls and len(calls) == 1
    assert calls[0].name == "get_weather" and calls[0].args == {"city": "Paris"}
    answer = types.Content(
        role="user",
        parts=[types.Part.from_function_response(name="get_weather", response={"output": "18C and sunny"})],
    )
    # The answer comes from the text mock of the same kind, which validates the history strictly.
    r2 = client.models.generate_content(
        model=KINDS[kind]["text"], contents=[question, r.candidates[0].content, answer], config=config
    )
    assert "mock" in r2.text

    streamed = list(
        client.models.generate_content_stream(model=KINDS[kind]["tools"], contents=[question], config=config)
    )
    calls = [c for chunk in streamed for c in (chunk.function_calls or [])]
    assert len(calls) == 1
    assert calls[0].name == "get_weather" and calls[0].args == {"city": "Paris"}


@pytest.mark.parametrize("kind", KINDS)
def test_json_response_schema(client, kind):
    r = client.models.generate_content(
        model=KINDS[kind]["text"],
        contents="Describe the sky as JSON",
        config=types.GenerateContentConfig(
            response_mime_type="application/json",
            response_schema={
                "type": "OBJECT",
                "properties": {"color": {"type": "STRING"}, "cloudy": {"type": "BOOLEAN", "nullable": True}},
                "required": ["color"],
            },
        ),
    )
    assert "mock" in r.text


@pytest.mark.parametrize("kind", KINDS)
def test_inline_image(client, kind):
    r = client.models.generate_content(
        model=KINDS[kind]["text"],
        contents=[types.Part.from_bytes(data=PIXEL_BYTES, mime_type="image/png"), "What is in this image?"],
    )
    assert "mock" in r.text


@pytest.mark.parametrize("kind", KINDS)
def test_thinking(client, kind):
    r = client.models.generate_content(
        model=KINDS[kind]["think"],
        contents="What is six times seven?",
        config=types.GenerateContentConfig(
            max_output_tokens=4000,
            thinking_config=types.ThinkingConfig(include_thoughts=True, thinking_budget=2000),
        ),
    )
    parts = r.candidates[0].content.parts
    thoughts = "".join(p.text for p in parts if p.thought)
    answer = "".join(p.text or "" for p in parts if not p.thought)
    assert thoughts == THINKING
    assert answer == THOUGHT_ANSWER
    signatures = [p.thought_signature for p in parts if p.thought_signature]
    assert signatures, "the signature travels so the turn can be replayed"
    if kind == "gemini":
        assert signatures == [base64.b64decode(SIGNATURE)]


@pytest.mark.parametrize("kind", KINDS)
def test_count_tokens(client, kind):
    r = client.models.count_tokens(model=KINDS[kind]["text"], contents="How many tokens is this?")
    assert r.total_tokens > 0


def test_models_list(router, client):
    names = [m.name for m in client.models.list()]
    for kind in KINDS:
        assert "models/" + KINDS[kind]["text"] in names
    m = client.models.get(model=KINDS["gemini"]["text"])
    assert m.name == "models/" + KINDS["gemini"]["text"]
    assert "generateContent" in m.supported_actions
    # With api_version v1 the SDK lists `GET /v1/models` (x-goog-api-key): Gemini's shape too.
    v1 = genai.Client(
        api_key=router["app_key"], http_options=types.HttpOptions(base_url=router["base"], api_version="v1")
    )
    assert [m.name for m in v1.models.list()] == names
    r = v1.models.generate_content(model=KINDS["openai"]["text"], contents="Say hello")
    assert "mock" in r.text


def test_errors(router, client):
    bad = genai.Client(api_key="sk-wrong", http_options=types.HttpOptions(base_url=router["base"]))
    with pytest.raises(errors.ClientError) as e:
        bad.models.generate_content(model=KINDS["gemini"]["text"], contents="x")
    assert e.value.code == 401
    # A function response that answers no call: the router's own validation, Google's shape.
    orphan = types.Content(role="user", parts=[types.Part.from_function_response(name="nope", response={})])
    with pytest.raises(errors.ClientError) as e:
        client.models.generate_content(model=KINDS["openai"]["text"], contents=[orphan])
    assert e.value.code == 400
    assert e.value.status == "INVALID_ARGUMENT"
    assert "nope" in e.value.message
    with pytest.raises(errors.ClientError) as e:
        client.models.generate_content(model="nosuch/model", contents="x")
    assert e.value.code in (400, 404)
