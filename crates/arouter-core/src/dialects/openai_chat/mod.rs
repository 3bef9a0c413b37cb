//! OpenAI chat completions, with OpenRouter's additions (`reasoning`, `provider`, `usage.cost`).
//! Spoken inbound on `/v1/chat/completions` (and `/v1/completions`, `/v1/embeddings`) and
//! outbound to every openai-kind provider: OpenAI, OpenRouter, DeepSeek, Mistral, Groq, local
//! runtimes (Ollama, LM Studio, llama.cpp, vLLM).

pub mod errors;
pub mod estimate;
pub mod inbound;
pub mod outbound;
pub mod reasons;
pub mod usage;
