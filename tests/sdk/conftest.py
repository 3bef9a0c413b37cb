"""Shared fixtures: the running router's address and keys come from the Rust driver test."""
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


# Provider ids the driver configured: one text mock, one tool-calling mock per kind.
KINDS = {
    "openai": {"text": "oa/gpt-4o-mini", "tools": "oatools/gpt-4o-mini"},
    "anthropic": {"text": "an/claude-sonnet-4-5", "tools": "antools/claude-sonnet-4-5"},
    "gemini": {"text": "gm/gemini-2.5-flash", "tools": "gmtools/gemini-2.5-flash"},
}
