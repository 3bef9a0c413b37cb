//! The OpenAI chat-completions surface (placeholder until the converters land).
