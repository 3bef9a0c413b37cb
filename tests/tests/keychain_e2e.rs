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
