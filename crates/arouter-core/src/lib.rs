//! ARouter's router core: the hub model, inbound API surfaces, provider adapters, routing,
//! streaming, auth and pricing. No tauri, rusqlite or keyring here.

pub mod app;
pub mod auth;
pub mod budget;
pub mod catalog;
pub mod config;
pub mod config_edit;
pub mod dialects;
pub mod error;
pub mod health;
pub mod http;
pub mod json_path;
pub mod limits;
pub mod model;
pub mod providers;
pub mod record;
pub mod routing;
pub mod sse;
pub mod store;
pub mod surfaces;
pub mod upstream;
