//! Team mode (`[storage] url = "postgres://…"`): what `serve` mounts beside the API surfaces.
//! The management API, Message Batches and the web UI read the SQLite store's tables that the
//! PostgreSQL store does not have yet; in team mode they answer 501 with a message saying so
//! (keys are managed with `arouter keys …`, which talks to PostgreSQL).

use arouter_core::app::App;
use arouter_core::error::{ApiError, ErrorKind};
use arouter_core::http::respond::Surface;
use axum::response::Response;
use axum::routing::any;
use axum::Router;
use std::sync::Arc;

/// The management, batch and UI paths, answered 501 in team mode.
const NOT_YET: &[&str] = &[
    "/api/v1/keys",
    "/api/v1/keys/{*rest}",
    "/api/v1/key",
    "/api/v1/providers",
    "/api/v1/providers/{*rest}",
    "/api/v1/provider-presets",
    "/api/v1/settings",
    "/api/v1/default-model",
    "/api/v1/aliases/{*rest}",
    "/api/v1/catalog",
    "/api/v1/models/facts",
    "/api/v1/models/refresh",
    "/api/v1/model-overrides/{*rest}",
    "/api/v1/usage",
    "/api/v1/usage/{*rest}",
    "/api/v1/usage.csv",
    "/api/v1/requests",
    "/api/v1/requests/{*rest}",
    "/api/v1/credits",
    "/api/v1/balance",
    "/api/v1/transactions",
    "/api/v1/activity",
    "/api/v1/tools",
    "/api/v1/tools/{*rest}",
    "/v1/messages/batches",
    "/v1/messages/batches/{*rest}",
    "/ui",
    "/ui/",
    "/ui/{*rest}",
];

async fn not_yet() -> Response {
    Surface::OpenAi.error(&ApiError::new(
        ErrorKind::NotImplemented,
        "Not available in team mode (PostgreSQL storage) yet: manage keys with `arouter keys`",
    ))
}

/// The routes `serve` adds in team mode.
pub fn routes() -> Router<Arc<App>> {
    NOT_YET
        .iter()
        .fold(Router::new(), |r, path| r.route(path, any(not_yet)))
}
