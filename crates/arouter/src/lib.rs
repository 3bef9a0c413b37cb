//! ARouter's process-level pieces shared by the headless binary and the desktop shell:
//! locating the data dir and config, opening the stores, running the server until shutdown.

pub mod paths;
pub mod server;
