//! ARouter's process-level pieces shared by the headless binary and the desktop shell:
//! locating the data dir and config, opening the stores, running the server until shutdown.

pub mod admin;
pub mod paths;
pub mod server;
mod ui;

use arouter_core::app::App;
use arouter_store::SqliteStore;
use std::sync::Arc;

/// Routes served beside the router's API surfaces: the management API and the web UI.
pub fn routes(store: Arc<SqliteStore>) -> axum::Router<Arc<App>> {
    axum::Router::new()
        .merge(admin::routes(store))
        .merge(ui::routes())
}
