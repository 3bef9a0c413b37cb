//! Build script of the desktop shell: reads `tauri.conf.json` at the repo root and the
//! capabilities under `src-tauri/capabilities`.

fn main() {
    tauri_build::build()
}
