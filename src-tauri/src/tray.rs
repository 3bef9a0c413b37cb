//! The tray: one typed [`TrayAction`] per menu item performed by one `match`, the labels
//! computed by pure functions into a [`TrayView`], and the menu built once with handles kept
//! to update it in place (a Linux tray menu cannot be replaced).

use crate::router::Running;
use crate::Desktop;
use arouter_core::config::Config;
use arouter_core::config_edit::{self, Edit};
use arouter_core::metrics::health::first_line;
use arouter_store::{GroupBy, ManageStore};
use parking_lot::Mutex;
use std::sync::atomic::Ordering;
use tauri::image::Image;
use tauri::menu::{CheckMenuItem, Menu, MenuEvent, MenuItem, PredefinedMenuItem, Submenu};
use tauri::tray::{TrayIcon, TrayIconBuilder};
use tauri::{AppHandle, Manager, Wry};
use tauri_plugin_autostart::ManagerExt as _;
use tauri_plugin_clipboard_manager::ClipboardExt as _;

const DAY_MS: i64 = 86_400_000;
/// Pico-USD in one US cent.
const PUSD_PER_CENT: i64 = 10_000_000_000;
const MODEL_ID_PREFIX: &str = "model:";
const TOOL_ID_PREFIX: &str = "tool:";
/// App keys made from the tray are named `desktop-<n>`.
const APP_KEY_PREFIX: &str = "desktop-";

/// Everything the tray menu can ask for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TrayAction {
    OpenDashboard,
    /// Make this model (or alias) the default.
    SetDefaultModel(String),
    /// Connect this agent CLI (by id), or disconnect it when connected.
    ToggleTool(String),
    CopyBaseUrl,
    /// Create a fresh app key and copy it (a raw key is only known when it is created).
    CopyAppKey,
    TogglePause,
    ToggleNotifications,
    ToggleAutostart,
    Quit,
}

impl TrayAction {
    /// The menu item id carrying this action.
    pub fn id(&self) -> String {
        match self {
            TrayAction::OpenDashboard => "open-dashboard".into(),
            TrayAction::SetDefaultModel(m) => format!("{MODEL_ID_PREFIX}{m}"),
            TrayAction::ToggleTool(t) => format!("{TOOL_ID_PREFIX}{t}"),
            TrayAction::CopyBaseUrl => "copy-base-url".into(),
            TrayAction::CopyAppKey => "copy-app-key".into(),
            TrayAction::TogglePause => "toggle-pause".into(),
            TrayAction::ToggleNotifications => "toggle-notifications".into(),
            TrayAction::ToggleAutostart => "toggle-autostart".into(),
            TrayAction::Quit => "quit".into(),
        }
    }

    /// The action of a menu item id; `None` for items that do nothing (labels).
    pub fn from_id(id: &str) -> Option<TrayAction> {
        if let Some(model) = id.strip_prefix(MODEL_ID_PREFIX) {
            return Some(TrayAction::SetDefaultModel(model.to_string()));
        }
        if let Some(tool) = id.strip_prefix(TOOL_ID_PREFIX) {
            return Some(TrayAction::ToggleTool(tool.to_string()));
        }
        Some(match id {
            "open-dashboard" => TrayAction::OpenDashboard,
            "copy-base-url" => TrayAction::CopyBaseUrl,
            "copy-app-key" => TrayAction::CopyAppKey,
            "toggle-pause" => TrayAction::TogglePause,
            "toggle-notifications" => TrayAction::ToggleNotifications,
            "toggle-autostart" => TrayAction::ToggleAutostart,
            "quit" => TrayAction::Quit,
            _ => return None,
        })
    }
}

/// What the shell does on screen after an action was performed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    ShowWindow,
    /// Put `text` on the clipboard; `what` names it for the confirmation.
    Copy {
        text: String,
        what: String,
    },
    Paused(bool),
    Notifications(bool),
    ToggleAutostart,
    DefaultModel(String),
    /// A tool was connected or disconnected: tell the user.
    Tool(String),
    Exit,
}

/// Performs an action on the router; the `Err` is a message for the user.
pub fn perform(desktop: &Desktop, action: TrayAction) -> Result<Effect, String> {
    match action {
        TrayAction::OpenDashboard => Ok(Effect::ShowWindow),
        TrayAction::SetDefaultModel(model) => {
            let r = running(desktop)?;
            config_edit::apply(&r.app, &Edit::DefaultModel(Some(model.clone())))
                .map_err(|e| format!("cannot set the default model: {e}"))?;
            Ok(Effect::DefaultModel(model))
        }
        TrayAction::ToggleTool(id) => {
            crate::tray_tools::toggle(running(desktop)?, &id).map(Effect::Tool)
        }
        TrayAction::CopyBaseUrl => Ok(Effect::Copy {
            text: running(desktop)?.base_url.clone(),
            what: "Base URL".into(),
        }),
        TrayAction::CopyAppKey => {
            let (name, raw) = create_app_key(&*running(desktop)?.store)
                .map_err(|e| format!("cannot create an app key: {e:#}"))?;
            Ok(Effect::Copy {
                text: raw,
                what: format!("New app key \"{name}\""),
            })
        }
        TrayAction::TogglePause => {
            let was = running(desktop)?
                .app
                .paused
                .fetch_xor(true, Ordering::SeqCst);
            Ok(Effect::Paused(!was))
        }
        TrayAction::ToggleNotifications => {
            let was = desktop.notifications.fetch_xor(true, Ordering::SeqCst);
            Ok(Effect::Notifications(!was))
        }
        TrayAction::ToggleAutostart => Ok(Effect::ToggleAutostart),
        TrayAction::Quit => Ok(Effect::Exit),
    }
}

fn running(desktop: &Desktop) -> Result<&Running, String> {
    desktop.router.running().ok_or_else(|| {
        format!(
            "ARouter is not running: {}",
            desktop.failure().unwrap_or("")
        )
    })
}

/// The first free `desktop-<n>` name among `existing` key names.
pub fn next_app_key_name<'a>(existing: impl IntoIterator<Item = &'a str>) -> String {
    let taken: Vec<u64> = existing
        .into_iter()
        .filter_map(|n| n.strip_prefix(APP_KEY_PREFIX)?.parse().ok())
        .collect();
    let n = (1..).find(|n| !taken.contains(n)).unwrap_or(1);
    format!("{APP_KEY_PREFIX}{n}")
}

/// Creates an app (non-admin) key; returns its name and raw value.
fn create_app_key(store: &dyn ManageStore) -> anyhow::Result<(String, String)> {
    let keys = store.list_keys()?;
    let name = next_app_key_name(keys.iter().map(|k| k.name.as_str()));
    let (raw, _) = store.create_key(&name, false, None, None)?;
    Ok((name, raw))
}

/// Requests and spend since UTC midnight (the ledger's and dashboard's day).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Today {
    pub requests: i64,
    pub cost_pusd: i64,
}

/// Reads today's totals from the ledger.
pub fn today(store: &dyn ManageStore, now_ms: i64) -> anyhow::Result<Today> {
    let since = now_ms - now_ms.rem_euclid(DAY_MS);
    let rows = store.usage_summary(since, GroupBy::Day)?;
    Ok(rows.iter().fold(Today::default(), |t, r| Today {
        requests: t.requests + r.requests,
        cost_pusd: t.cost_pusd + r.cost_pusd,
    }))
}

/// `$1.23`, rounded to the cent; a non-zero amount under half a cent shows as `<$0.01`.
pub fn usd(pusd: i64) -> String {
    if pusd > 0 && pusd < PUSD_PER_CENT / 2 {
        return "<$0.01".into();
    }
    let cents = (pusd + PUSD_PER_CENT / 2).div_euclid(PUSD_PER_CENT);
    format!("${}.{:02}", cents / 100, cents % 100)
}

/// `Today: 3 requests · $0.42`.
pub fn today_label(t: Today) -> String {
    let noun = if t.requests == 1 {
        "request"
    } else {
        "requests"
    };
    format!("Today: {} {noun} · {}", t.requests, usd(t.cost_pusd))
}

pub fn pause_label(paused: bool) -> &'static str {
    if paused {
        "Resume routing"
    } else {
        "Pause routing"
    }
}

/// Aliases first, then every routable `provider/model` that can answer a chat (no embedding
/// models), each once.
pub fn model_choices(cfg: &Config) -> Vec<String> {
    arouter::connect::chat_models(cfg)
}

/// What the tray shows, computed from the router's state; applied in place by
/// [`TrayHandles::show`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrayView {
    pub status: String,
    pub tooltip: String,
    pub pause: &'static str,
    /// Whether the router-backed items can be used.
    pub live: bool,
    /// Default-model choices, each with its check.
    pub models: Vec<(String, bool)>,
    /// Tools submenu: (tool id, label, connected).
    pub tools: Vec<(String, String, bool)>,
    /// Health submenu: one line per provider (and its last error), lost ledger rows.
    pub health: Vec<String>,
}

/// The view of a running router, or of one that failed to start.
pub fn view(desktop: &Desktop, today: Today) -> TrayView {
    match desktop.router.running() {
        Some(r) => {
            let cfg = r.app.config();
            let paused = r.app.paused.load(Ordering::SeqCst);
            let state = if paused { " (paused)" } else { "" };
            TrayView {
                status: today_label(today),
                tooltip: format!("ARouter on {}{state} — {}", r.base_url, today_label(today)),
                pause: pause_label(paused),
                live: true,
                models: model_choices(&cfg)
                    .into_iter()
                    .map(|m| {
                        let checked = cfg.default_model.as_deref() == Some(m.as_str());
                        (m, checked)
                    })
                    .collect(),
                tools: crate::tray_tools::items(r),
                health: arouter_core::metrics::health::lines(
                    &arouter_core::metrics::health::report(&r.app),
                ),
            }
        }
        None => {
            let reason = desktop.failure().unwrap_or("");
            TrayView {
                status: format!("Not running: {}", first_line(reason, 60)),
                tooltip: format!("ARouter is not running: {}", first_line(reason, 200)),
                pause: pause_label(false),
                live: false,
                models: Vec::new(),
                tools: Vec::new(),
                health: Vec::new(),
            }
        }
    }
}

/// The tray and its menu items, kept to update them in place.
pub struct TrayHandles {
    tray: TrayIcon<Wry>,
    status: MenuItem<Wry>,
    models: Submenu<Wry>,
    model_items: Mutex<Vec<(String, CheckMenuItem<Wry>)>>,
    tools: Submenu<Wry>,
    tool_items: Mutex<Vec<(String, CheckMenuItem<Wry>)>>,
    health: Submenu<Wry>,
    health_items: Mutex<Vec<MenuItem<Wry>>>,
    router_items: Vec<MenuItem<Wry>>,
    pause: MenuItem<Wry>,
    notifications: CheckMenuItem<Wry>,
    autostart: CheckMenuItem<Wry>,
    last: Mutex<Option<TrayView>>,
}

impl TrayHandles {
    /// Updates whatever changed since the last view.
    pub fn show(&self, app: &AppHandle, v: &TrayView) -> tauri::Result<()> {
        let mut last = self.last.lock();
        let old = last.as_ref();
        if old.map(|o| &o.status) != Some(&v.status) {
            self.status.set_text(&v.status)?;
        }
        if old.map(|o| &o.tooltip) != Some(&v.tooltip) {
            self.tray.set_tooltip(Some(&v.tooltip))?;
        }
        if old.map(|o| o.pause) != Some(v.pause) {
            self.pause.set_text(v.pause)?;
        }
        if old.map(|o| o.live) != Some(v.live) {
            for item in self.router_items.iter().chain([&self.pause]) {
                item.set_enabled(v.live)?;
            }
            self.models.set_enabled(v.live)?;
            self.tools.set_enabled(v.live)?;
            self.health.set_enabled(v.live)?;
        }
        self.show_models(app, &v.models)?;
        self.show_tools(app, &v.tools)?;
        self.show_health(app, &v.health)?;
        *last = Some(v.clone());
        Ok(())
    }

    /// Re-checks the model items (a click toggles a check item by itself, so this runs after
    /// every choice); rebuilds the list when the config's models changed.
    fn show_models(&self, app: &AppHandle, models: &[(String, bool)]) -> tauri::Result<()> {
        let mut items = self.model_items.lock();
        let same =
            items.len() == models.len() && items.iter().zip(models).all(|((a, _), (b, _))| a == b);
        if !same {
            for (_, item) in items.drain(..) {
                self.models.remove(&item)?;
            }
            for (model, checked) in models {
                let action = TrayAction::SetDefaultModel(model.clone());
                let item =
                    CheckMenuItem::with_id(app, action.id(), model, true, *checked, None::<&str>)?;
                self.models.append(&item)?;
                items.push((model.clone(), item));
            }
            return Ok(());
        }
        for ((_, item), (_, checked)) in items.iter().zip(models) {
            if item.is_checked()? != *checked {
                item.set_checked(*checked)?;
            }
        }
        Ok(())
    }
}

impl TrayHandles {
    /// The Health submenu: label-only items, rebuilt when their number changes.
    fn show_health(&self, app: &AppHandle, lines: &[String]) -> tauri::Result<()> {
        let mut items = self.health_items.lock();
        if items.len() != lines.len() {
            for item in items.drain(..) {
                self.health.remove(&item)?;
            }
            for (i, line) in lines.iter().enumerate() {
                let item =
                    MenuItem::with_id(app, format!("health:{i}"), line, false, None::<&str>)?;
                self.health.append(&item)?;
                items.push(item);
            }
            return Ok(());
        }
        for (item, line) in items.iter().zip(lines) {
            if item.text()? != *line {
                item.set_text(line)?;
            }
        }
        Ok(())
    }

    /// The Tools submenu: built on first use, then labels and checks follow the view.
    fn show_tools(&self, app: &AppHandle, tools: &[(String, String, bool)]) -> tauri::Result<()> {
        let mut items = self.tool_items.lock();
        if items.len() != tools.len() || items.iter().zip(tools).any(|((a, _), (b, ..))| a != b) {
            for (_, item) in items.drain(..) {
                self.tools.remove(&item)?;
            }
            for (id, label, on) in tools {
                let action = TrayAction::ToggleTool(id.clone());
                let item =
                    CheckMenuItem::with_id(app, action.id(), label, true, *on, None::<&str>)?;
                self.tools.append(&item)?;
                items.push((id.clone(), item));
            }
            return Ok(());
        }
        for ((_, item), (_, label, on)) in items.iter().zip(tools) {
            if item.text()? != *label {
                item.set_text(label)?;
            }
            if item.is_checked()? != *on {
                item.set_checked(*on)?;
            }
        }
        Ok(())
    }
}

/// Builds the tray; `None` (logged) when the platform has none. The tray crate panics when
/// `libayatana-appindicator3` is missing, so a panic counts as "no tray" too.
pub fn install(app: &AppHandle) -> Option<TrayHandles> {
    let built = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| build(app)));
    match built {
        Ok(Ok(handles)) => Some(handles),
        Ok(Err(e)) => {
            tracing::warn!("no tray icon: {e}");
            None
        }
        Err(_) => {
            tracing::warn!(
                "no tray icon: the system tray library is missing (libayatana-appindicator3)"
            );
            None
        }
    }
}

fn item(app: &AppHandle, action: TrayAction, text: &str) -> tauri::Result<MenuItem<Wry>> {
    MenuItem::with_id(app, action.id(), text, true, None::<&str>)
}

fn build(app: &AppHandle) -> tauri::Result<TrayHandles> {
    let desktop = app.state::<std::sync::Arc<Desktop>>();
    let v = view(&desktop, Today::default());
    let status = MenuItem::with_id(app, "status", &v.status, false, None::<&str>)?;
    let open = item(app, TrayAction::OpenDashboard, "Open dashboard")?;
    let models = Submenu::with_id(app, "default-model", "Default model", v.live)?;
    let tools = Submenu::with_id(app, "tools", "Tools", v.live)?;
    let health = Submenu::with_id(app, "health", "Health", v.live)?;
    let copy_url = item(app, TrayAction::CopyBaseUrl, "Copy base URL")?;
    let copy_key = item(app, TrayAction::CopyAppKey, "Copy new app key")?;
    let pause = item(app, TrayAction::TogglePause, v.pause)?;
    let notify_on = desktop.notifications.load(Ordering::SeqCst);
    let notifications = CheckMenuItem::with_id(
        app,
        TrayAction::ToggleNotifications.id(),
        "Notify when a provider fails",
        true,
        notify_on,
        None::<&str>,
    )?;
    let autostart_on = app.autolaunch().is_enabled().unwrap_or(false);
    let autostart = CheckMenuItem::with_id(
        app,
        TrayAction::ToggleAutostart.id(),
        "Start at login",
        true,
        autostart_on,
        None::<&str>,
    )?;
    let quit = item(app, TrayAction::Quit, "Quit ARouter")?;
    let menu = Menu::with_items(
        app,
        &[
            &status,
            &PredefinedMenuItem::separator(app)?,
            &open,
            &models,
            &tools,
            &health,
            &copy_url,
            &copy_key,
            &PredefinedMenuItem::separator(app)?,
            &pause,
            &notifications,
            &autostart,
            &PredefinedMenuItem::separator(app)?,
            &quit,
        ],
    )?;
    let icon = Image::from_bytes(include_bytes!("../../icons/tray.png"))?;
    let tray = TrayIconBuilder::with_id("arouter")
        .icon(icon)
        .tooltip(&v.tooltip)
        .menu(&menu)
        .show_menu_on_left_click(true)
        .on_menu_event(on_menu_event)
        .build(app)?;
    let handles = TrayHandles {
        tray,
        status,
        models,
        model_items: Mutex::new(Vec::new()),
        tools,
        tool_items: Mutex::new(Vec::new()),
        health,
        health_items: Mutex::new(Vec::new()),
        router_items: vec![copy_url, copy_key],
        pause,
        notifications,
        autostart,
        last: Mutex::new(None),
    };
    handles.show(app, &v)?;
    Ok(handles)
}

fn on_menu_event(app: &AppHandle, event: MenuEvent) {
    let Some(action) = TrayAction::from_id(event.id().as_ref()) else {
        return;
    };
    let desktop = app.state::<std::sync::Arc<Desktop>>();
    match perform(&desktop, action) {
        Ok(effect) => apply(app, &desktop, effect),
        Err(message) => {
            tracing::warn!("{message}");
            crate::notify(app, "ARouter", &message);
        }
    }
}

/// Shows an action's outcome: window, clipboard, labels and checks.
fn apply(app: &AppHandle, desktop: &Desktop, effect: Effect) {
    let handles = app.try_state::<TrayHandles>();
    let shown = match effect {
        Effect::ShowWindow => crate::window::show(app),
        Effect::Copy { text, what } => match app.clipboard().write_text(text) {
            Ok(()) => {
                crate::notify(app, "ARouter", &format!("{what} copied to the clipboard"));
                Ok(())
            }
            Err(e) => {
                tracing::warn!("clipboard: {e}");
                crate::notify(
                    app,
                    "ARouter",
                    &format!("{what}: cannot use the clipboard ({e})"),
                );
                Ok(())
            }
        },
        Effect::Notifications(on) => match &handles {
            Some(h) => h.notifications.set_checked(on),
            None => Ok(()),
        },
        Effect::ToggleAutostart => {
            let launcher = app.autolaunch();
            let want = !launcher.is_enabled().unwrap_or(false);
            let result = if want {
                launcher.enable()
            } else {
                launcher.disable()
            };
            if let Err(e) = result {
                tracing::warn!("start at login: {e}");
            }
            match &handles {
                Some(h) => h
                    .autostart
                    .set_checked(launcher.is_enabled().unwrap_or(false)),
                None => Ok(()),
            }
        }
        Effect::Tool(message) => {
            crate::notify(app, "ARouter", &message);
            Ok(())
        }
        Effect::Paused(_) | Effect::DefaultModel(_) => Ok(()),
        Effect::Exit => {
            app.exit(0);
            Ok(())
        }
    };
    if let Err(e) = shown {
        tracing::warn!("tray: {e}");
    }
    refresh_now(app, desktop);
}

/// Re-reads "start at login" into the tray's check item (`--autostart` can change it).
pub fn sync_autostart(app: &AppHandle) {
    if let Some(h) = app.try_state::<TrayHandles>() {
        if let Err(e) = h
            .autostart
            .set_checked(app.autolaunch().is_enabled().unwrap_or(false))
        {
            tracing::warn!("tray: {e}");
        }
    }
}

/// Re-renders the tray from the current state (today's totals come from the last tick).
fn refresh_now(app: &AppHandle, desktop: &Desktop) {
    let Some(handles) = app.try_state::<TrayHandles>() else {
        return;
    };
    let today = *desktop.today.lock();
    if let Err(e) = handles.show(app, &view(desktop, today)) {
        tracing::warn!("tray update: {e}");
    }
}

/// Reads today's totals (blocking SQLite read) and re-renders the tray.
pub fn tick(app: &AppHandle, desktop: &Desktop) {
    if let Some(r) = desktop.router.running() {
        match today(&*r.store, arouter_core::record::now_ms()) {
            Ok(t) => *desktop.today.lock() = t,
            Err(e) => tracing::warn!("cannot read today's usage: {e:#}"),
        }
    }
    refresh_now(app, desktop);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::router::{self, Launch, RouterState};

    fn started(dir: &std::path::Path, rt: &tokio::runtime::Runtime) -> Desktop {
        let state = router::start(
            rt,
            Launch {
                data_dir: Some(dir.to_path_buf()),
                config: None,
                host: Some("127.0.0.1".into()),
                port: Some("0".into()),
            },
        );
        assert!(state.running().is_some(), "router did not start");
        Desktop::new(state)
    }

    fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap()
    }

    #[test]
    fn action_ids_round_trip() {
        let all = [
            TrayAction::OpenDashboard,
            TrayAction::SetDefaultModel("anthropic/claude-sonnet-4".into()),
            TrayAction::ToggleTool("claude-code".into()),
            TrayAction::CopyBaseUrl,
            TrayAction::CopyAppKey,
            TrayAction::TogglePause,
            TrayAction::ToggleNotifications,
            TrayAction::ToggleAutostart,
            TrayAction::Quit,
        ];
        for a in all {
            assert_eq!(TrayAction::from_id(&a.id()), Some(a.clone()), "{a:?}");
        }
        assert_eq!(TrayAction::from_id("status"), None);
    }

    #[test]
    fn labels_are_computed() {
        assert_eq!(
            today_label(Today {
                requests: 1,
                cost_pusd: 0
            }),
            "Today: 1 request · $0.00"
        );
        assert_eq!(
            today_label(Today {
                requests: 12,
                cost_pusd: 3_456_000_000_000
            }),
            "Today: 12 requests · $3.46"
        );
        assert_eq!(usd(1), "<$0.01");
        assert_eq!(usd(PUSD_PER_CENT / 2), "$0.01");
        assert_eq!(usd(125 * PUSD_PER_CENT), "$1.25");
        assert_eq!(pause_label(true), "Resume routing");
        assert_eq!(pause_label(false), "Pause routing");
        assert_eq!(first_line("port taken\nmore", 60), "port taken");
        assert_eq!(first_line("abcdef", 4), "abc…");
    }

    #[test]
    fn app_key_names_fill_the_first_gap() {
        assert_eq!(next_app_key_name([]), "desktop-1");
        assert_eq!(
            next_app_key_name(["desktop-1", "desktop-3", "desktop-session-17", "other"]),
            "desktop-2"
        );
    }

    #[test]
    fn a_failed_router_offers_only_the_window_and_quit() {
        let desktop = Desktop::new(RouterState::Failed(
            "cannot listen on 127.0.0.1:8402 (is another ARouter running?)".into(),
        ));
        assert_eq!(
            perform(&desktop, TrayAction::OpenDashboard),
            Ok(Effect::ShowWindow)
        );
        assert_eq!(perform(&desktop, TrayAction::Quit), Ok(Effect::Exit));
        let err = perform(&desktop, TrayAction::CopyBaseUrl).unwrap_err();
        assert!(err.contains("cannot listen on 127.0.0.1:8402"), "{err}");
        let v = view(&desktop, Today::default());
        assert!(!v.live);
        assert!(v.models.is_empty());
        assert!(
            v.status.starts_with("Not running: cannot listen"),
            "{}",
            v.status
        );
        assert!(
            v.tooltip.contains("is another ARouter running?"),
            "{}",
            v.tooltip
        );
    }

    #[test]
    fn choosing_a_default_model_writes_config_toml_and_moves_the_check() {
        let dir = tempfile::tempdir().unwrap();
        let rt = runtime();
        let desktop = started(dir.path(), &rt);
        let before = view(&desktop, Today::default());
        assert!(before.live);
        assert!(before.models.iter().filter(|(_, c)| *c).count() <= 1);
        let pick = before
            .models
            .iter()
            .find(|(_, checked)| !checked)
            .map(|(m, _)| m.clone())
            .expect("more than one routable model");

        let effect = perform(&desktop, TrayAction::SetDefaultModel(pick.clone())).unwrap();
        assert_eq!(effect, Effect::DefaultModel(pick.clone()));
        let text = std::fs::read_to_string(dir.path().join("config.toml")).unwrap();
        assert!(
            text.contains(&format!("default_model = \"{pick}\"")),
            "{text}"
        );
        let after = view(&desktop, Today::default());
        let checked: Vec<_> = after.models.iter().filter(|(_, c)| *c).collect();
        assert_eq!(checked, vec![&(pick, true)]);

        let err = perform(&desktop, TrayAction::SetDefaultModel("nobody/x".into())).unwrap_err();
        assert!(err.contains("default_model"), "{err}");
        desktop.router.running().unwrap().shutdown(&rt);
    }

    #[test]
    fn pause_notifications_and_keys_toggle_through_actions() {
        let dir = tempfile::tempdir().unwrap();
        let rt = runtime();
        let desktop = started(dir.path(), &rt);
        let r = desktop.router.running().unwrap();

        assert_eq!(
            perform(&desktop, TrayAction::TogglePause),
            Ok(Effect::Paused(true))
        );
        assert!(r.app.paused.load(Ordering::SeqCst));
        let v = view(&desktop, Today::default());
        assert!(!v.health.is_empty(), "the health submenu has lines");
        assert_eq!(v.pause, "Resume routing");
        assert!(v.tooltip.contains("(paused)"), "{}", v.tooltip);
        assert_eq!(
            perform(&desktop, TrayAction::TogglePause),
            Ok(Effect::Paused(false))
        );
        assert!(!r.app.paused.load(Ordering::SeqCst));

        assert_eq!(
            perform(&desktop, TrayAction::ToggleNotifications),
            Ok(Effect::Notifications(false))
        );
        assert_eq!(
            perform(&desktop, TrayAction::ToggleNotifications),
            Ok(Effect::Notifications(true))
        );

        assert_eq!(
            perform(&desktop, TrayAction::CopyBaseUrl),
            Ok(Effect::Copy {
                text: r.base_url.clone(),
                what: "Base URL".into()
            })
        );
        let Ok(Effect::Copy { text: first, what }) = perform(&desktop, TrayAction::CopyAppKey)
        else {
            panic!("no key copied");
        };
        assert!(what.contains("desktop-1"), "{what}");
        let Ok(Effect::Copy { text: second, .. }) = perform(&desktop, TrayAction::CopyAppKey)
        else {
            panic!("no key copied");
        };
        assert_ne!(first, second);
        let keys = r.store.list_keys().unwrap();
        let app_keys: Vec<_> = keys
            .iter()
            .filter(|k| k.name == "desktop-1" || k.name == "desktop-2")
            .collect();
        assert_eq!(app_keys.len(), 2);
        assert!(app_keys.iter().all(|k| !k.admin));
        assert_eq!(
            arouter_core::store::hash_key(&first),
            app_keys[0].hash,
            "the copied key is the stored one"
        );
        assert_eq!(
            today(&*r.store, arouter_core::record::now_ms()).unwrap(),
            Today::default()
        );
        r.shutdown(&rt);
    }
}
