//! The ARouter desktop shell: starts the same router as `arouter serve` in-process, shows its
//! web UI in a window, and owns the tray, single instance, start at login and notifications.
//! No router logic lives here.

pub mod alerts;
pub mod autostart;
pub mod router;
pub mod tray;
pub mod tray_tools;
pub mod window;

use alerts::Alerts;
use parking_lot::Mutex;
use router::{Launch, RouterState};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};
use tauri::{AppHandle, Manager, RunEvent};
use tauri_plugin_notification::NotificationExt as _;

/// How often the tray's totals are re-read and provider health is checked.
const TICK: Duration = Duration::from_secs(3);
/// Passed by the login item: start in the tray without opening the window.
const HIDDEN_FLAG: &str = "--hidden";

/// The shell's state, shared by the tray, the window and the ticker.
pub struct Desktop {
    pub router: RouterState,
    /// Desktop notifications about failing providers (a tray switch).
    pub notifications: AtomicBool,
    /// Whether a tray icon exists (if not, closing the window quits).
    pub tray_available: AtomicBool,
    /// Today's totals as last read from the ledger.
    pub today: Mutex<tray::Today>,
    alerts: Mutex<Alerts>,
}

impl Desktop {
    pub fn new(router: RouterState) -> Desktop {
        Desktop {
            router,
            notifications: AtomicBool::new(true),
            tray_available: AtomicBool::new(false),
            today: Mutex::new(tray::Today::default()),
            alerts: Mutex::new(Alerts::default()),
        }
    }

    /// Why the router is not running, if it is not.
    pub fn failure(&self) -> Option<&str> {
        match &self.router {
            RouterState::Failed(m) => Some(m),
            RouterState::Running(_) => None,
        }
    }

    /// Notifications due for providers failing repeatedly (none while switched off).
    fn due_alerts(&self) -> Vec<alerts::Alert> {
        let Some(r) = self.router.running() else {
            return Vec::new();
        };
        if !self.notifications.load(Ordering::SeqCst) {
            return Vec::new();
        }
        let cfg = r.app.config();
        let health = cfg
            .providers
            .keys()
            .map(|id| (id.as_str(), r.app.health.snapshot(id)));
        self.alerts.lock().due(health, Instant::now())
    }
}

/// Shows a desktop notification; failures are only logged (no notification daemon).
pub fn notify(app: &AppHandle, title: &str, body: &str) {
    if let Err(e) = app.notification().builder().title(title).body(body).show() {
        tracing::warn!("notification not shown: {e}");
    }
}

fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

/// Runs the desktop app until it quits; returns the process exit code.
pub fn run() -> i32 {
    init_logging();
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("arouter")
        .build()
    {
        Ok(rt) => Arc::new(rt),
        Err(e) => {
            tracing::error!("cannot start the async runtime: {e}");
            return 1;
        }
    };
    // The router starts in `setup`, after the single-instance plugin has handed a second
    // launch over to the running instance (and ended it), so a second launch never opens
    // the database or competes for the port.
    let started: Arc<OnceLock<Arc<Desktop>>> = Arc::default();
    let visible = !std::env::args().any(|a| a == HIDDEN_FLAG);

    let setup_rt = rt.clone();
    let setup_started = started.clone();
    let built = tauri::Builder::default()
        // First, so a second launch focuses this instance before anything else starts.
        // A second launch with `--autostart on|off` only sets start at login.
        .plugin(tauri_plugin_single_instance::init(|app, args, _cwd| {
            if autostart::apply_args(app, &args) {
                return;
            }
            if let Err(e) = window::show(app) {
                tracing::warn!("cannot show the window: {e}");
            }
        }))
        .plugin(autostart::plugin(HIDDEN_FLAG))
        .plugin(tauri_plugin_notification::init())
        .plugin(tauri_plugin_clipboard_manager::init())
        .register_uri_scheme_protocol(window::STATUS_SCHEME, window::serve_status_page)
        .on_window_event(window::on_event)
        .setup(move |app| {
            let desktop = Arc::new(Desktop::new(router::start(&setup_rt, Launch::from_env())));
            let _ = setup_started.set(desktop.clone());
            app.manage(desktop);
            let handle = app.handle().clone();
            if let Some(tray) = tray::install(&handle) {
                app.manage(tray);
                app.state::<Arc<Desktop>>()
                    .tray_available
                    .store(true, Ordering::SeqCst);
            }
            autostart::apply_args(&handle, &std::env::args().collect::<Vec<_>>());
            window::create(&handle, visible)?;
            spawn_ticker(&setup_rt, handle.clone());
            spawn_signal_handler(&setup_rt, handle);
            Ok(())
        })
        .build(tauri::generate_context!());
    let app = match built {
        Ok(app) => app,
        Err(e) => {
            tracing::error!("cannot start the desktop app: {e}");
            if let Some(desktop) = started.get() {
                stop_router(desktop, &rt);
            }
            return 1;
        }
    };
    let run_rt = rt.clone();
    let code = app.run_return(move |app, event| match event {
        // The last window closed: stay in the tray if there is one.
        RunEvent::ExitRequested {
            code: None, api, ..
        } if app
            .state::<Arc<Desktop>>()
            .tray_available
            .load(Ordering::SeqCst) =>
        {
            api.prevent_exit()
        }
        RunEvent::Exit => {
            if let Some(desktop) = app.try_state::<Arc<Desktop>>() {
                stop_router(&desktop, &run_rt);
            }
        }
        _ => {}
    });
    // A tray update may still wait for the (now gone) event loop: do not wait for it forever.
    match Arc::try_unwrap(rt) {
        Ok(rt) => rt.shutdown_timeout(Duration::from_secs(2)),
        Err(rt) => std::mem::forget(rt),
    }
    code
}

/// Drains the server and flushes the ledger.
fn stop_router(desktop: &Desktop, rt: &tokio::runtime::Runtime) {
    if let Some(r) = desktop.router.running() {
        tracing::info!("stopping the router");
        r.shutdown(rt);
    }
}

/// Re-reads today's totals, updates the tray and sends due provider alerts.
fn spawn_ticker(rt: &tokio::runtime::Runtime, app: AppHandle) {
    rt.spawn(async move {
        let mut interval = tokio::time::interval(TICK);
        loop {
            interval.tick().await;
            let handle = app.clone();
            let done = tokio::task::spawn_blocking(move || {
                let desktop = handle.state::<Arc<Desktop>>();
                tray::tick(&handle, &desktop);
                for alert in desktop.due_alerts() {
                    notify(&handle, &alert.title, &alert.body);
                }
            })
            .await;
            if let Err(e) = done {
                tracing::warn!("tray update failed: {e}");
            }
        }
    });
}

/// SIGTERM / Ctrl-C quit like the tray's Quit: drain, flush, exit 0.
fn spawn_signal_handler(rt: &tokio::runtime::Runtime, app: AppHandle) {
    rt.spawn(async move {
        arouter::server::shutdown_signal().await;
        tracing::info!("signal received; quitting");
        app.exit(0);
    });
}
