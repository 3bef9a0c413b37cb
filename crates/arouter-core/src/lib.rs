//! ARouter's router core: the hub model, the wire dialects, inbound surfaces, the dispatch
//! pipeline, providers, auth and pricing. No tauri, rusqlite or keyring here.
//!
//! # The request path (every endpoint takes it)
//!
//! ```text
//! http::router            server, hygiene middleware (host guard, CORS), proxy, OpenAPI
//!   -> http::Authed       key (Bearer / x-api-key / x-goog-api-key / ?key=), rate limit -> Ctx
//!   -> surfaces::<dialect>  thin handler: read body, parse with dialects::<d>::inbound
//!   -> dispatch           THE pipeline:
//!        candidates         resolve (routing) -> provider preferences -> health arrangement
//!        attempts           per candidate: budget reservation, send (health, 401/403
//!                           credential refresh), retry / fallback policy, cooldown
//!        relay | translate  same dialect: the client's body with surgical edits (raw JSON);
//!                           other kinds: hub -> providers -> dialects::<kind>::outbound
//!        stream             SSE decode -> (relay | hub decode + encode) -> client
//!        record             one ledger row per request (record::Recorder), budget settled
//!   -> surfaces::<dialect>  render in the caller's dialect (errors too)
//! ```
//!
//! Where things live:
//! - `model`: the hub (request, parts, usage, stop reasons, stream events).
//! - `dialects/<name>/`: one folder per wire format (`openai_chat`, `anthropic`, `gemini`):
//!   wire structs, `inbound` (client <-> hub) and `outbound` (hub <-> provider) conversions,
//!   stream decoder and encoder, and the single definition of its usage, stop reasons and
//!   errors. Adding a dialect = a folder here + a handler in `surfaces/` + a route in `http`.
//! - `providers`: which dialect a provider kind speaks; token counting as a provider operation.
//! - `upstream`: all outbound HTTP (hyper client per serving thread).
//! - Leaves: `clock`, `error`, `config`, `catalog` (prices), `sse`, `json_path`.

pub mod app;
pub mod auth;
pub mod budget;
pub mod catalog;
pub mod clock;
pub mod config;
pub mod config_edit;
pub mod ctx;
pub mod dialects;
pub mod dispatch;
pub mod error;
pub mod estimate;
pub mod health;
pub mod http;
pub mod json_path;
pub mod key_file;
pub mod limits;
pub mod metrics;
pub mod model;
pub mod providers;
pub mod query;
pub mod raw_json;
pub mod record;
pub mod redact;
pub mod routing;
pub mod sse;
pub mod store;
pub mod surfaces;
pub mod telemetry;
pub mod upstream;
