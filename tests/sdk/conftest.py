"""Shared fixtures: the running router's address and keys come from the Rust driver test."""
import base64
import os

import pytest


@pytest.fixture(scope="session")
def router():
    base = os.environ["AROUTER_BASE_URL"]
    return {
        "base": base,
        "app_key": os.environ["AROUTER_APP_KEY"],
        "admin_key": os.environ["AROUTER_ADMIN_KEY"],
    }


# Provider ids the driver configured per kind: a text mock, a tool-calling mock and a mock
# that answers with reasoning (thinking + signature, then text).
KINDS = {
    "openai": {
        "text": "oa/gpt-4o-mini",
        "tools": "oatools/gpt-4o-mini",
        "think": "oathink/o4-mini",
    },
    "anthropic": {
        "text": "an/claude-sonnet-4-5",
        "tools": "antools/claude-sonnet-4-5",
        "think": "anthink/claude-sonnet-4-5",
    },
    "gemini": {
        "text": "gm/gemini-2.5-flash",
        "tools": "gmtools/gemini-2.5-flash",
        "think": "gmthink/gemini-2.5-flash",
    },
}

# What the driver's thinking mocks answer.
THINKING = "Let me think about it step by step"
# Base64, as real signatures are (google-genai decodes `thoughtSignature` to bytes).
SIGNATURE = "c2lnLW1vY2stMDEyMzQ1Njc4OQ=="
THOUGHT_ANSWER = "The answer is 42"

# A 1×1 transparent PNG.
PIXEL_BYTES = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360f8cfc0f01f0005000201a5f0e1"
    "5e0000000049454e44ae426082"
)
PIXEL = base64.b64encode(PIXEL_BYTES).decode()
