//! ARouter's process-level pieces shared by the headless binary and the desktop shell:
//! locating the data dir and config, opening the stores, running the server until shutdown.

pub mod admin;
pub mod batches;
pub mod connect;
pub mod paths;
pub mod server;
mod ui;

use arouter_core::app::App;
use arouter_store::Backend;
use std::sync::Arc;

/// Routes served beside the router's API surfaces: the management API, Message Batches and
/// the web UI. Batches created here wait for a worker: `serve` uses [`routes_with_batches`].
pub fn routes(store: Arc<dyn Backend>) -> axum::Router<Arc<App>> {
    routes_with_batches(store, batches::Waker::default())
}

/// [`routes`] whose new batches wake the given [`batches::BatchWorker`].
pub fn routes_with_batches(
    store: Arc<dyn Backend>,
    waker: batches::Waker,
) -> axum::Router<Arc<App>> {
    axum::Router::new()
        .merge(admin::routes(store.clone()))
        .merge(batches::routes(store, waker))
        .merge(ui::routes())
}
