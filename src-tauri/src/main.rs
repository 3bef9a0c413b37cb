//! `arouter-desktop`: ARouter in a tray app (the headless router is `arouter`).

// No console window next to the app on Windows release builds.
#![cfg_attr(not(debug_assertions), windows_subsystem = "windows")]

/// The same allocator as the headless binary (see `crates/arouter/src/main.rs`): the router
/// runs in this process. WebKit keeps its own allocator for its heaps.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    std::process::exit(arouter_desktop::run());
}
