//! Web UI tests driven from `cargo test`: node unit tests of the UI's pure modules, then the
//! browser scenario (tests/ui/e2e.mjs, Debian's Chromium via playwright-core) against a real
//! `arouter serve` on a temporary data dir, on the embedded SQLite store and on team mode's
//! PostgreSQL store. Runs only with `AROUTER_UI_TESTS=1` (CI sets it);
//! needs `node`, `/usr/bin/chromium` and `npm ci` done in tests/ui.

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

const READY_TIMEOUT: Duration = Duration::from_secs(30);
const E2E_TIMEOUT: Duration = Duration::from_secs(300);
/// Inherited variables that would override the per-test flags.
const CLEARED_ENV: &[&str] = &[
    "AROUTER_HOST",
    "AROUTER_PORT",
    "AROUTER_DATA_DIR",
    "AROUTER_CONFIG",
];

fn enabled() -> bool {
    if std::env::var("AROUTER_UI_TESTS").as_deref() == Ok("1") {
        return true;
    }
    eprintln!(
        "skipping the web UI tests: set AROUTER_UI_TESTS=1 to run them (needs node and chromium)"
    );
    false
}

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent")
        .to_path_buf()
}

/// `AROUTER_BIN`, else `<dir of current exe>/../arouter` (tests run from `target/<profile>/deps/`).
fn router_bin() -> PathBuf {
    if let Some(bin) = std::env::var_os("AROUTER_BIN") {
        return PathBuf::from(bin);
    }
    let exe = std::env::current_exe().expect("locating the test executable");
    let deps = exe.parent().expect("test executable has a parent dir");
    let bin = deps
        .parent()
        .unwrap_or(deps)
        .join(format!("arouter{}", std::env::consts::EXE_SUFFIX));
    assert!(
        bin.exists(),
        "{} not found: build it first (cargo build -p arouter) or set AROUTER_BIN",
        bin.display()
    );
    bin
}

fn router_command(bin: &Path) -> Command {
    let mut c = Command::new(bin);
    for v in CLEARED_ENV {
        c.env_remove(v);
    }
    c
}

fn shown(out: &Output) -> String {
    format!(
        "exit: {}\n--- stdout\n{}\n--- stderr\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Kills the server when the test ends, however it ends.
struct ServerGuard(Child);

impl Drop for ServerGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `arouter serve --port 0` and waits for its `listening on http://...` line.
fn start_server(
    bin: &Path,
    data_dir: &Path,
    home: &Path,
    env: &[(&str, &str)],
) -> (ServerGuard, String) {
    // The "Your tools" card writes agent CLIs' config files under HOME: keep them in a temp dir.
    let mut child = router_command(bin)
        .envs(env.iter().copied())
        .args(["serve", "--host", "127.0.0.1", "--port", "0", "--data-dir"])
        .arg(data_dir)
        .env("HOME", home)
        .env_remove("CODEX_HOME")
        .env_remove("XDG_CONFIG_HOME")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("starting arouter serve");
    let stdout = child.stdout.take().expect("piped stdout");
    let guard = ServerGuard(child);
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Some(i) = line.find("listening on http://") {
                let url = line[i + "listening on ".len()..].trim().to_string();
                let _ = tx.send(url);
            }
        }
    });
    let base = rx
        .recv_timeout(READY_TIMEOUT)
        .expect("arouter serve did not print `listening on http://...` in time");
    (guard, base.trim_end_matches('/').to_string())
}

/// Runs a command to completion within `timeout`, killing it when it overruns.
fn run_bounded(mut cmd: Command, timeout: Duration) -> Output {
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("starting {cmd:?}: {e}"));
    let mut out_pipe = child.stdout.take().expect("stdout");
    let mut err_pipe = child.stderr.take().expect("stderr");
    let out_reader = std::thread::spawn(move || {
        let mut b = Vec::new();
        let _ = out_pipe.read_to_end(&mut b);
        b
    });
    let err_reader = std::thread::spawn(move || {
        let mut b = Vec::new();
        let _ = err_pipe.read_to_end(&mut b);
        b
    });
    let deadline = Instant::now() + timeout;
    let status = loop {
        if let Some(status) = child.try_wait().expect("polling child") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{cmd:?} ran longer than {timeout:?}");
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    Output {
        status,
        stdout: out_reader.join().unwrap_or_default(),
        stderr: err_reader.join().unwrap_or_default(),
    }
}

#[test]
fn ui_pure_modules_pass_node_unit_tests() {
    if !enabled() {
        return;
    }
    let root = repo_root();
    let mut cmd = Command::new("node");
    cmd.current_dir(&root)
        .args(["--test", "tests/ui/unit.test.mjs"]);
    let out = run_bounded(cmd, Duration::from_secs(120));
    eprintln!("{}", String::from_utf8_lossy(&out.stdout));
    assert!(
        out.status.success(),
        "node unit tests failed\n{}",
        shown(&out)
    );
}

#[test]
fn ui_full_scenario_in_headless_chromium() {
    if !enabled() {
        return;
    }
    full_scenario(&[]);
}

/// The same scenario on team mode's PostgreSQL store (a throwaway cluster): the UI reads and
/// writes keys, usage, history and credits there.
#[test]
fn ui_full_scenario_in_team_mode() {
    if !enabled() {
        return;
    }
    let Some(pg) = arouter_tests::pg::Pg::shared() else {
        return;
    };
    let url = pg.create_db("ui_team");
    full_scenario(&[("AROUTER_DATABASE_URL", url.as_str())]);
}

fn full_scenario(env: &[(&str, &str)]) {
    let root = repo_root();
    assert!(
        root.join("tests/ui/node_modules/playwright-core").is_dir(),
        "playwright-core is not installed: run `npm ci` in tests/ui (tests/run-all.sh does)"
    );
    let bin = router_bin();
    let dir = tempfile::Builder::new()
        .prefix("arouter-ui-")
        .tempdir()
        .expect("temp data dir");
    let created = router_command(&bin)
        .args(["keys", "create", "--name", "admin", "--admin", "--data-dir"])
        .arg(dir.path())
        .envs(env.iter().copied())
        .output()
        .expect("running arouter keys create");
    assert!(
        created.status.success(),
        "keys create failed\n{}",
        shown(&created)
    );
    let stdout = String::from_utf8_lossy(&created.stdout);
    let admin_key = stdout
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .expect("keys create printed the key")
        .trim()
        .to_string();

    let home = dir.path().join("home");
    std::fs::create_dir_all(&home).expect("temp home");
    let (_server, base_url) = start_server(&bin, dir.path(), &home, env);
    let mut cmd = Command::new("node");
    cmd.current_dir(&root)
        .arg("tests/ui/e2e.mjs")
        .env("TOOLS_HOME", &home)
        .env("BASE_URL", &base_url)
        .env("ADMIN_KEY", &admin_key)
        .env("AROUTER_E2E_DATA_DIR", dir.path());
    let out = run_bounded(cmd, E2E_TIMEOUT);
    eprintln!("{}", String::from_utf8_lossy(&out.stdout));
    assert!(
        out.status.success(),
        "browser scenario failed (screenshots in tests/ui/artifacts/)\n{}",
        shown(&out)
    );
}
