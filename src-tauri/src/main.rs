//! `arouter-desktop`: ARouter in a tray app (the headless router is `arouter`).

// No console window next to the app on Windows release builds.
#![cfg_attr(not(debug_assertions), windows_subsystem = "windows")]

fn main() {
    std::process::exit(arouter_desktop::run());
}
