//! The OS keychain end to end (real Secret Service; runs when AROUTER_TEST_KEYRING=1, as in
//! tests/run-all.sh): `arouter providers set-key` from stdin, the router authenticating
//! upstream with it, and the key appearing nowhere in the data dir, logs or API answers.

mod common;

use arouter_tests::{MockUpstream, RouterProcess, Vendor};
use common::client;
use serde_json::{json, Value};
use std::io::Write;
use std::process::Stdio;

fn files_under(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            files_under(&p, out);
        } else {
            out.push(p);
        }
    }
}

#[tokio::test]
async fn provider_key_lives_only_in_the_keychain() {
    if std::env::var("AROUTER_TEST_KEYRING").as_deref() != Ok("1") {
        eprintln!("skipped: needs a Secret Service (AROUTER_TEST_KEYRING=1, see tests/run-all.sh)");
        return;
    }
    let secret = format!("sk-kc-{}", std::process::id());
    let provider = format!("kc{}", std::process::id());
    let mock = MockUpstream::start(Vendor::OpenAi).await;
    mock.expect_key(Some(&secret));
    let router = RouterProcess::start(&mock.provider_toml(&provider, None)).await;

    let mut child = std::process::Command::new(RouterProcess::bin_path())
        .args(["providers", "set-key", &provider, "--data-dir"])
        .arg(&router.data_dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(format!("{secret}\n").as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // Read back by another process: the CLI lists it, the router uses it upstream.
    let list = router.cli(&["providers", "list"]).await;
    let listed = String::from_utf8_lossy(&list.stdout).to_string();
    assert!(listed.contains("yes (keychain)"), "{listed}");
    let resp = client()
        .post(router.url("/v1/chat/completions"))
        .bearer_auth(&router.app_key)
        .json(&json!({"model": format!("{provider}/m"), "messages": [{"role": "user", "content": "hi"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200, "{}", router.stderr_log());
    assert_eq!(
        mock.last_request().unwrap().header("authorization"),
        Some(format!("Bearer {secret}").as_str())
    );

    // The management API says "set", never the value.
    let providers: Value = client()
        .get(router.url("/api/v1/providers"))
        .bearer_auth(&router.admin_key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let p = providers["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["id"] == provider.as_str())
        .unwrap();
    assert_eq!(p["has_credential"], true);
    assert_eq!(p["credential_source"], "keychain");
    assert!(!providers.to_string().contains(&secret));

    // Nothing in the data dir (config, SQLite + WAL, captured stdout/stderr) holds the key.
    let store = arouter_store::SqliteStore::open(&router.data_dir.join("arouter.db")).unwrap();
    store.flush();
    drop(store);
    let mut files = Vec::new();
    files_under(&router.data_dir, &mut files);
    assert!(files.len() >= 3);
    for f in files {
        let bytes = std::fs::read(&f).unwrap();
        assert!(
            !bytes.windows(secret.len()).any(|w| w == secret.as_bytes()),
            "{} contains the provider key",
            f.display()
        );
    }
    assert!(!listed.contains(&secret));

    // Clearing it through the API removes it from the keychain.
    let resp = client()
        .delete(router.url(&format!("/api/v1/providers/{provider}/credential")))
        .bearer_auth(&router.admin_key)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let list = router.cli(&["providers", "list"]).await;
    assert!(!String::from_utf8_lossy(&list.stdout).contains("yes (keychain)"));
}

fn keyring_tests_enabled() -> bool {
    if std::env::var("AROUTER_TEST_KEYRING").as_deref() == Ok("1") {
        return true;
    }
    eprintln!("skipped: needs a Secret Service (AROUTER_TEST_KEYRING=1, see tests/run-all.sh)");
    false
}

/// `arouter providers set-key ID --data-dir DIR` with the secret on stdin and `env` added.
fn set_key(data_dir: &std::path::Path, provider: &str, secret: &str, env: &[(String, String)]) {
    let out = try_set_key(data_dir, provider, secret, env);
    assert!(
        out.status.success(),
        "set-key: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn try_set_key(
    data_dir: &std::path::Path,
    provider: &str,
    secret: &str,
    env: &[(String, String)],
) -> std::process::Output {
    let mut child = std::process::Command::new(RouterProcess::bin_path())
        .args(["providers", "set-key", provider, "--data-dir"])
        .arg(data_dir)
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(format!("{secret}\n").as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

async fn chat_status(router: &RouterProcess, model: &str) -> u16 {
    client()
        .post(router.url("/v1/chat/completions"))
        .bearer_auth(&router.app_key)
        .json(&json!({"model": model, "messages": [{"role": "user", "content": "hi"}]}))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

fn last_auth(mock: &MockUpstream) -> Option<String> {
    mock.last_request()
        .and_then(|r| r.header("authorization").map(str::to_string))
}

/// The router has used a key (both its own cache and the keychain store's hold it); the CLI
/// replaces it; within a second the next request upstream carries the new one.
#[tokio::test]
async fn set_key_from_the_cli_reaches_a_running_server_within_a_second() {
    if !keyring_tests_enabled() {
        return;
    }
    let provider = format!("kcswap{}", std::process::id());
    let model = format!("{provider}/m");
    let mock = MockUpstream::start(Vendor::OpenAi).await;
    let router = RouterProcess::start(&mock.provider_toml(&provider, None)).await;
    set_key(&router.data_dir, &provider, "sk-first", &[]);
    assert_eq!(chat_status(&router, &model).await, 200);
    assert_eq!(last_auth(&mock).as_deref(), Some("Bearer sk-first"));
    assert_eq!(chat_status(&router, &model).await, 200);
    assert_eq!(last_auth(&mock).as_deref(), Some("Bearer sk-first"));

    set_key(&router.data_dir, &provider, "sk-second", &[]);
    let changed = std::time::Instant::now();
    loop {
        assert_eq!(chat_status(&router, &model).await, 200);
        if last_auth(&mock).as_deref() == Some("Bearer sk-second") {
            break;
        }
        assert_eq!(last_auth(&mock).as_deref(), Some("Bearer sk-first"));
        assert!(
            changed.elapsed() < std::time::Duration::from_secs(1),
            "the new key did not reach the server within 1 s\n{}",
            router.stderr_log()
        );
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    eprintln!(
        "new key used {:?} after set-key returned",
        changed.elapsed()
    );
    assert!(router.stderr_log().contains("provider credentials changed"));
    let resp = client()
        .delete(router.url(&format!("/api/v1/providers/{provider}/credential")))
        .bearer_auth(&router.admin_key)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
}

/// A child process killed when dropped (the test's own D-Bus and keyring daemons).
struct Daemon(std::process::Child);

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A keychain that is down when the router needs it is not remembered as "no key": the
/// request fails (503, nothing sent upstream without the credential), and once a Secret
/// Service answers, the next request reads the key, with no signal from the CLI.
#[tokio::test]
async fn a_keychain_error_is_not_cached_as_no_credential() {
    if !keyring_tests_enabled() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    for d in ["home", "data", "run"] {
        std::fs::create_dir(t.join(d)).unwrap();
    }
    std::fs::set_permissions(
        t.join("run"),
        std::os::unix::fs::PermissionsExt::from_mode(0o700),
    )
    .unwrap();
    let bus = t.join("bus");
    let bus_env = vec![(
        "DBUS_SESSION_BUS_ADDRESS".to_string(),
        format!("unix:path={}", bus.display()),
    )];

    let provider = format!("kcdown{}", std::process::id());
    let model = format!("{provider}/m");
    let mock = MockUpstream::start(Vendor::OpenAi).await;
    mock.expect_key(Some("sk-late"));
    // Remote, so a missing credential is an error rather than "go on without a key".
    let cfg = format!("{}local = false\n", mock.provider_toml(&provider, None));
    let options = arouter_tests::harness::RouterOptions {
        env: bus_env.clone(),
        ..Default::default()
    };
    let router = RouterProcess::start_with(&cfg, options).await;

    // No D-Bus at that address: the keychain is down.
    for _ in 0..2 {
        assert_eq!(chat_status(&router, &model).await, 503);
    }
    assert_eq!(
        mock.call_count(),
        0,
        "nothing goes upstream without the key"
    );

    // A Secret Service comes up at the same address.
    let _bus = Daemon(
        std::process::Command::new("dbus-daemon")
            .args(["--session", "--nofork"])
            .arg(format!("--address=unix:path={}", bus.display()))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("dbus-daemon"),
    );
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !bus.exists() {
        assert!(std::time::Instant::now() < deadline, "no D-Bus socket");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let mut keyring = std::process::Command::new("gnome-keyring-daemon")
        .args(["--foreground", "--unlock", "--components=secrets"])
        .envs(bus_env.iter().map(|(k, v)| (k, v)))
        .env("HOME", t.join("home"))
        .env("XDG_DATA_HOME", t.join("data"))
        .env("XDG_RUNTIME_DIR", t.join("run"))
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("gnome-keyring-daemon");
    keyring
        .stdin
        .take()
        .unwrap()
        .write_all(b"test-pass")
        .unwrap();
    let _keyring = Daemon(keyring);

    // Stored by a CLI pointed at another data dir: the running router gets no signal.
    let elsewhere = tempfile::tempdir().unwrap();
    std::fs::write(elsewhere.path().join("config.toml"), &cfg).unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        // The keyring daemon takes a moment to claim its name on the bus.
        let out = try_set_key(elsewhere.path(), &provider, "sk-late", &bus_env);
        if out.status.success() {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "set-key: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    assert!(!router.data_dir.join("credentials.changed").exists());

    assert_eq!(
        chat_status(&router, &model).await,
        200,
        "{}",
        router.stderr_log()
    );
    assert_eq!(last_auth(&mock).as_deref(), Some("Bearer sk-late"));
    assert!(!router.stderr_log().contains("provider credentials changed"));
}
