//! A throwaway PostgreSQL cluster for team-mode tests: `initdb` in a temp dir, the server run
//! as a child (`postgres` refuses root: as root it runs as the `postgres` user through
//! `setpriv`), loopback on a free port, killed with the test process (`--pdeathsig`).
//!
//! Binaries: env `AROUTER_PG_BIN`, else the newest `/usr/lib/postgresql/*/bin`. When none is
//! found, [`Pg::start`] returns `None` and says why, and the tests skip.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

/// A running cluster.
pub struct Pg {
    bin: PathBuf,
    dir: PathBuf,
    pub port: u16,
    child: Mutex<Option<Child>>,
    /// Run the server as this user (root cannot).
    user: Option<&'static str>,
    /// `fsync=off` for tests (nothing here must survive a machine crash); on for benches.
    fsync: bool,
}

fn find_bin() -> Option<PathBuf> {
    if let Some(b) = std::env::var_os("AROUTER_PG_BIN") {
        let b = PathBuf::from(b);
        return (b.join("initdb").exists() && b.join("postgres").exists()).then_some(b);
    }
    let mut dirs: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
        .filter(|p| p.join("initdb").exists() && p.join("postgres").exists())
        .collect();
    dirs.sort_by_key(|p| {
        p.parent()
            .and_then(|v| v.file_name())
            .and_then(|v| v.to_str())
            .and_then(|v| v.parse::<u32>().ok())
            .unwrap_or(0)
    });
    dirs.pop()
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

/// Removes clusters left by test processes that are gone (they are killed, never cleaned).
fn sweep_stale(root: &Path) {
    let Ok(entries) = std::fs::read_dir(root) else {
        return;
    };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let Some(pid) = name
            .strip_prefix("arouter-pg-")
            .and_then(|r| r.split('-').next())
        else {
            continue;
        };
        if !Path::new("/proc").join(pid).exists() {
            let _ = std::fs::remove_dir_all(e.path());
        }
    }
}

impl Pg {
    /// Makes and starts a fresh cluster; `None` (with the reason printed) when PostgreSQL is
    /// not installed.
    pub fn start() -> Option<Pg> {
        Self::start_with(false)
    }

    /// [`Pg::start`], with the server's `fsync` on or off.
    pub fn start_with(fsync: bool) -> Option<Pg> {
        let Some(bin) = find_bin() else {
            eprintln!(
                "SKIP: PostgreSQL binaries not found (install Debian's `postgresql`, or set \
                 AROUTER_PG_BIN)"
            );
            return None;
        };
        static SEQ: AtomicU32 = AtomicU32::new(0);
        let tmp = std::env::temp_dir();
        sweep_stale(&tmp);
        let dir = tmp.join(format!(
            "arouter-pg-{}-{}",
            std::process::id(),
            SEQ.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("creating the cluster dir");
        let user = is_root().then_some("postgres");
        if let Some(u) = user {
            let ok = Command::new("chown")
                .args([&format!("{u}:{u}"), dir.to_str().unwrap()])
                .status()
                .is_ok_and(|s| s.success());
            assert!(ok, "chown {u} {}", dir.display());
        }
        let pg = Pg {
            bin,
            dir,
            port: free_port(),
            child: Mutex::new(None),
            user,
            fsync,
        };
        let out = pg
            .as_user(&pg.bin.join("initdb"))
            .args([
                "-D",
                pg.data().to_str().unwrap(),
                "--auth=trust",
                "-U",
                "postgres",
            ])
            .args(["--no-sync", "-E", "UTF8", "--locale=C"])
            .output()
            .expect("running initdb");
        assert!(
            out.status.success(),
            "initdb failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        pg.start_server();
        Some(pg)
    }

    /// One cluster for the whole test binary (each test makes its own database in it).
    pub fn shared() -> Option<&'static Pg> {
        static SHARED: OnceLock<Option<Pg>> = OnceLock::new();
        SHARED
            .get_or_init(|| {
                // Started from a thread that lives as long as the process: `--pdeathsig`
                // fires when the spawning thread ends, and test threads end after each test.
                let (tx, rx) = std::sync::mpsc::channel();
                std::thread::spawn(move || {
                    let _ = tx.send(Pg::start());
                    loop {
                        std::thread::park();
                    }
                });
                rx.recv().expect("the PostgreSQL starter thread")
            })
            .as_ref()
    }

    fn data(&self) -> PathBuf {
        self.dir.join("data")
    }

    fn as_user(&self, program: &Path) -> Command {
        let mut c = Command::new("setpriv");
        if let Some(u) = self.user {
            c.args([
                &format!("--reuid={u}"),
                &format!("--regid={u}"),
                "--init-groups",
            ]);
        }
        c.arg("--pdeathsig=KILL").arg("--").arg(program);
        c
    }

    /// Starts the server (again, after [`Pg::stop`]) and waits until it takes connections.
    /// Call from a thread that outlives the cluster's use (see [`Pg::shared`]).
    pub fn start_server(&self) {
        let log = std::fs::File::create(self.dir.join("server.log")).expect("server.log");
        let child = self
            .as_user(&self.bin.join("postgres"))
            .args(["-D", self.data().to_str().unwrap()])
            .args(["-p", &self.port.to_string()])
            .args(["-k", self.dir.to_str().unwrap()])
            .args(["-c", "listen_addresses=127.0.0.1", "-c"])
            .arg(if self.fsync { "fsync=on" } else { "fsync=off" })
            .args(["-c", "max_connections=200"])
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("starting postgres");
        *self.child.lock().unwrap() = Some(child);
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let ready = Command::new(self.bin.join("pg_isready"))
                .args(["-h", "127.0.0.1", "-p", &self.port.to_string(), "-q"])
                .status()
                .is_ok_and(|s| s.success());
            if ready {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "postgres did not start: {}",
                std::fs::read_to_string(self.dir.join("server.log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Stops the server (fast shutdown: clients are disconnected) and waits for it to exit.
    pub fn stop(&self) {
        let Some(mut child) = self.child.lock().unwrap().take() else {
            return;
        };
        // The child is setpriv exec'd into postgres: same pid. SIGINT = fast shutdown.
        let _ = Command::new("kill")
            .args(["-INT", &child.id().to_string()])
            .status();
        let _ = child.wait();
    }

    /// Creates a database and returns its URL.
    pub fn create_db(&self, name: &str) -> String {
        let out = Command::new(self.bin.join("createdb"))
            .args([
                "-h",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
                "-U",
                "postgres",
                name,
            ])
            .output()
            .expect("running createdb");
        assert!(
            out.status.success(),
            "createdb {name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        self.url(name)
    }

    /// A fresh database with a unique name.
    pub fn fresh_db(&self, prefix: &str) -> String {
        static N: AtomicU32 = AtomicU32::new(0);
        self.create_db(&format!("{prefix}_{}", N.fetch_add(1, Ordering::Relaxed)))
    }

    pub fn url(&self, db: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{db}", self.port)
    }

    /// Turns TLS on (reloaded, no restart) with this PEM certificate and key.
    pub fn enable_tls(&self, cert_pem: &str, key_pem: &str) {
        let (cert, key) = (
            self.data().join("server.crt"),
            self.data().join("server.key"),
        );
        std::fs::write(&cert, cert_pem).expect("writing server.crt");
        std::fs::write(&key, key_pem).expect("writing server.key");
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
        if let Some(u) = self.user {
            for f in [&cert, &key] {
                let ok = Command::new("chown")
                    .args([&format!("{u}:{u}"), f.to_str().unwrap()])
                    .status()
                    .is_ok_and(|s| s.success());
                assert!(ok, "chown {u} {}", f.display());
            }
        }
        self.psql("postgres", "ALTER SYSTEM SET ssl = on");
        self.psql("postgres", "SELECT pg_reload_conf()");
        let deadline = Instant::now() + Duration::from_secs(10);
        while self.psql("postgres", "SHOW ssl") != "on" {
            assert!(Instant::now() < deadline, "ssl did not turn on");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Runs SQL with psql and returns its unaligned output.
    pub fn psql(&self, db: &str, sql: &str) -> String {
        let out = Command::new(self.bin.join("psql"))
            .args([
                "-h",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
                "-U",
                "postgres",
            ])
            .args(["-d", db, "-At", "-c", sql])
            .output()
            .expect("running psql");
        assert!(
            out.status.success(),
            "psql {sql}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }
}

impl Drop for Pg {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
