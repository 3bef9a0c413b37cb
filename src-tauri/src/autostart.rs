//! "Start at login": the autostart plugin as this app configures it, and the
//! `--autostart on|off` switch that sets it from a script (forwarded to the running instance).

use tauri::{AppHandle, Wry};
use tauri_plugin_autostart::ManagerExt as _;

/// The command-line switch: `--autostart on`, `--autostart=off`.
pub const FLAG: &str = "--autostart";

/// The login item's name, on every platform and whatever the package is called
/// (`~/.config/autostart/ARouter.desktop`, `~/Library/LaunchAgents/ARouter.plist`).
const ENTRY_NAME: &str = "ARouter";

/// The plugin: the login item starts the app in the tray (`hidden_flag`) without its window.
pub fn plugin(hidden_flag: &str) -> tauri::plugin::TauriPlugin<Wry> {
    let builder = tauri_plugin_autostart::Builder::new()
        .app_name(ENTRY_NAME)
        .arg(hidden_flag);
    #[cfg(target_os = "macos")]
    let builder = builder.macos_launcher(tauri_plugin_autostart::MacosLauncher::LaunchAgent);
    builder.build()
}

/// What `args` ask for: `Some(true)` for on, `Some(false)` for off, `None` without the switch.
/// An unknown value is an error for the user.
pub fn requested(args: &[String]) -> Result<Option<bool>, String> {
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        let value = if arg == FLAG {
            it.next().map(String::as_str)
        } else if let Some(v) = arg.strip_prefix(FLAG).and_then(|v| v.strip_prefix('=')) {
            Some(v)
        } else {
            continue;
        };
        return match value {
            Some("on") => Ok(Some(true)),
            Some("off") => Ok(Some(false)),
            other => Err(format!(
                "{FLAG} takes on or off, not {}",
                other.unwrap_or("nothing")
            )),
        };
    }
    Ok(None)
}

/// Turns start at login on or off; returns whether it is on now.
pub fn set(app: &AppHandle, on: bool) -> bool {
    let launcher = app.autolaunch();
    let result = if on {
        launcher.enable()
    } else {
        launcher.disable()
    };
    match result {
        Ok(()) => tracing::info!("start at login turned {}", if on { "on" } else { "off" }),
        Err(e) => tracing::warn!("start at login: {e}"),
    }
    launcher.is_enabled().unwrap_or(false)
}

/// Applies `--autostart` from `args`, if given. Returns whether the switch was there.
pub fn apply_args(app: &AppHandle, args: &[String]) -> bool {
    match requested(args) {
        Ok(Some(on)) => {
            set(app, on);
            crate::tray::sync_autostart(app);
            true
        }
        Ok(None) => false,
        Err(msg) => {
            tracing::warn!("{msg}");
            true
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn reads_both_spellings() {
        assert_eq!(
            requested(&args(&["app", "--autostart", "on"])),
            Ok(Some(true))
        );
        assert_eq!(
            requested(&args(&["app", "--autostart=off"])),
            Ok(Some(false))
        );
        assert_eq!(requested(&args(&["app", "--hidden"])), Ok(None));
    }

    #[test]
    fn rejects_other_values() {
        assert!(requested(&args(&["app", "--autostart", "yes"])).is_err());
        assert!(requested(&args(&["app", "--autostart"])).is_err());
        assert_eq!(requested(&args(&["app", "--autostarting"])), Ok(None));
    }
}
