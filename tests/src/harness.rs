//! Runs the real `arouter` binary against a temporary data dir for end-to-end tests.
//!
//! The API is async (call it from `#[tokio::test]`): waiting is done with tokio timers and
//! blocking process calls run on `spawn_blocking`, so mock upstreams on the same runtime keep
//! serving while the harness waits. Failures panic with the process's logs: this is test code,
//! and a panic is how a test fails.
//!
//! Binary: env `AROUTER_BIN` if set, else `<dir of current exe>/../arouter` (tests run from
//! `target/<profile>/deps/`). Contract relied on: PRODUCT.md's CLI, `keys create` printing the
//! raw key alone on stdout's last line, and `serve` printing a stdout line containing
//! `listening on http://127.0.0.1:PORT` when ready.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::time::{Duration, Instant};
use tempfile::TempDir;

/// How long `serve` may take to print its readiness line.
const READY_TIMEOUT: Duration = Duration::from_secs(20);
const POLL: Duration = Duration::from_millis(25);
/// Inherited variables that would override the per-test flags.
const CLEARED_ENV: &[&str] = &[
    "AROUTER_HOST",
    "AROUTER_PORT",
    "AROUTER_DATA_DIR",
    "AROUTER_CONFIG",
];

/// A running `arouter serve` with its own data dir, admin key and app key.
pub struct RouterProcess {
    /// `http://127.0.0.1:PORT`, without trailing slash.
    pub base_url: String,
    pub data_dir: PathBuf,
    /// Raw management key (`keys create --name admin --admin`).
    pub admin_key: String,
    /// Raw app key (`keys create --name testapp`).
    pub app_key: String,
    bin: PathBuf,
    env: Vec<(String, String)>,
    child: Option<Child>,
    _dir: TempDir,
}

/// Options for [`RouterProcess::start_with`].
#[derive(Debug, Default, Clone)]
pub struct RouterOptions {
    /// Overrides the binary path resolution.
    pub bin: Option<PathBuf>,
    /// Extra environment for every command (e.g. provider API key variables).
    pub env: Vec<(String, String)>,
    /// Start without creating the `admin` and `testapp` keys (a second instance on a shared
    /// team-mode database, where they exist already).
    pub no_keys: bool,
}

impl RouterOptions {
    pub fn env(mut self, name: &str, value: &str) -> Self {
        self.env.push((name.to_owned(), value.to_owned()));
        self
    }
}

impl RouterProcess {
    /// Writes `config_toml`, creates the admin and app keys, starts `serve --port 0` and waits
    /// for it to be ready.
    pub async fn start(config_toml: &str) -> RouterProcess {
        Self::start_with(config_toml, RouterOptions::default()).await
    }

    pub async fn start_with(config_toml: &str, options: RouterOptions) -> RouterProcess {
        let dir = tempfile::Builder::new()
            .prefix("arouter-e2e-")
            .tempdir()
            .expect("creating a temp data dir");
        let data_dir = dir.path().to_path_buf();
        let no_keys = options.no_keys;
        std::fs::write(data_dir.join("config.toml"), config_toml).expect("writing config.toml");
        let mut router = RouterProcess {
            base_url: String::new(),
            data_dir,
            admin_key: String::new(),
            app_key: String::new(),
            bin: options.bin.unwrap_or_else(Self::bin_path),
            env: options.env,
            child: None,
            _dir: dir,
        };
        if !no_keys {
            router.admin_key = router.create_key(&["--name", "admin", "--admin"]).await;
            router.app_key = router.create_key(&["--name", "testapp"]).await;
        }
        router.spawn_server();
        router.base_url = router.wait_ready().await;
        router
    }

    /// `AROUTER_BIN`, else `<dir of current exe>/../arouter`.
    pub fn bin_path() -> PathBuf {
        if let Some(bin) = std::env::var_os("AROUTER_BIN") {
            return PathBuf::from(bin);
        }
        let exe = std::env::current_exe().expect("locating the test executable");
        let deps = exe.parent().expect("test executable has a parent dir");
        let name = format!("arouter{}", std::env::consts::EXE_SUFFIX);
        deps.parent().unwrap_or(deps).join(name)
    }

    /// `base_url` + `path` (`path` starts with `/`).
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url)
    }

    pub fn stdout_log(&self) -> String {
        read_log(&self.data_dir.join("stdout.log"))
    }

    pub fn stderr_log(&self) -> String {
        read_log(&self.data_dir.join("stderr.log"))
    }

    /// Runs `<bin> ARGS --data-dir DIR` to completion.
    pub async fn cli(&self, args: &[&str]) -> Output {
        let mut command = self.command();
        command.args(args).arg("--data-dir").arg(&self.data_dir);
        let shown = format!("{command:?}");
        tokio::task::spawn_blocking(move || command.output())
            .await
            .expect("cli task")
            .unwrap_or_else(|e| panic!("running {shown}: {e}"))
    }

    /// Asks the server to shut down gracefully.
    pub fn sigterm(&self) {
        let Some(child) = &self.child else {
            return;
        };
        #[cfg(unix)]
        {
            let status = Command::new("kill")
                .args(["-TERM", &child.id().to_string()])
                .status()
                .expect("running kill -TERM");
            assert!(status.success(), "kill -TERM {} failed", child.id());
        }
        #[cfg(not(unix))]
        panic!("sigterm is only supported on unix (child {})", child.id());
    }

    /// Kills the server at once (SIGKILL: no drain, no flush) and reaps it.
    pub fn kill9(&mut self) {
        self.kill();
    }

    /// The server's process id, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Starts `serve` again on the same data dir (after [`Self::wait_exit`]) and waits for it
    /// to be ready; `base_url` changes to the new port.
    pub async fn restart(&mut self) {
        assert!(self.child.is_none(), "restart: the server is still running");
        self.spawn_server();
        self.base_url = self.wait_ready().await;
    }

    /// Waits for the server to exit; panics (after killing it) when `timeout` passes first.
    pub async fn wait_exit(&mut self, timeout: Duration) -> ExitStatus {
        let deadline = Instant::now() + timeout;
        loop {
            let child = self.child.as_mut().expect("server was started");
            if let Some(status) = child.try_wait().expect("polling the server process") {
                self.child = None;
                return status;
            }
            if Instant::now() >= deadline {
                self.kill();
                panic!(
                    "arouter did not exit within {timeout:?}\nstderr:\n{}",
                    self.stderr_log()
                );
            }
            tokio::time::sleep(POLL).await;
        }
    }

    fn command(&self) -> Command {
        let mut command = Command::new(&self.bin);
        for name in CLEARED_ENV {
            command.env_remove(name);
        }
        command.env("RUST_LOG", "info");
        command.envs(self.env.iter().map(|(k, v)| (k, v)));
        command
    }

    async fn create_key(&self, args: &[&str]) -> String {
        let mut full = vec!["keys", "create"];
        full.extend_from_slice(args);
        let output = self.cli(&full).await;
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(
            output.status.success(),
            "`arouter {}` failed ({}):\nstdout:\n{stdout}\nstderr:\n{}",
            full.join(" "),
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
        stdout
            .lines()
            .map(str::trim)
            .rfind(|line| !line.is_empty())
            .unwrap_or_else(|| panic!("`arouter {}` printed no key", full.join(" ")))
            .to_owned()
    }

    fn spawn_server(&mut self) {
        let stdout = File::create(self.data_dir.join("stdout.log")).expect("creating stdout.log");
        let stderr = File::create(self.data_dir.join("stderr.log")).expect("creating stderr.log");
        let mut command = self.command();
        command
            .arg("serve")
            .arg("--data-dir")
            .arg(&self.data_dir)
            .args(["--port", "0"])
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(stderr);
        let child = command
            .spawn()
            .unwrap_or_else(|e| panic!("spawning {}: {e}", self.bin.display()));
        self.child = Some(child);
    }

    async fn wait_ready(&mut self) -> String {
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            if let Some(url) = parse_listening(&self.stdout_log()) {
                return url;
            }
            let exited = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten());
            if let Some(status) = exited {
                panic!(
                    "arouter serve exited ({status}) before it was ready\nstdout:\n{}\nstderr:\n{}",
                    self.stdout_log(),
                    self.stderr_log()
                );
            }
            if Instant::now() >= deadline {
                self.kill();
                panic!(
                    "arouter serve printed no `listening on http://…` line within {READY_TIMEOUT:?}\nstdout:\n{}\nstderr:\n{}",
                    self.stdout_log(),
                    self.stderr_log()
                );
            }
            tokio::time::sleep(POLL).await;
        }
    }

    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for RouterProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

fn read_log(path: &Path) -> String {
    std::fs::read(path)
        .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
        .unwrap_or_default()
}

/// The base URL from the first `listening on http://HOST:PORT` line.
pub fn parse_listening(log: &str) -> Option<String> {
    log.lines().find_map(|line| {
        let rest = &line[line.find("listening on ")? + "listening on ".len()..];
        let url = rest
            .split_whitespace()
            .next()?
            .trim_end_matches(['.', ',', ';', '/']);
        (url.starts_with("http://") || url.starts_with("https://")).then(|| url.to_owned())
    })
}
