//! Serving beyond loopback: `--host` off loopback needs `--public`; in public mode every
//! endpoint but `/healthz` needs a key and the Host guard takes `[server] allowed_hosts`. The
//! server under test still binds loopback (tests never listen beyond this machine).

mod common;

use arouter_tests::RouterProcess;
use common::client;
use std::process::Command;

const PUBLIC: &str =
    "[server]\npublic = true\nallowed_hosts = [\"router.team.test\", \"10.9.8.7\"]\n";

async fn get(router: &RouterProcess, path: &str, key: Option<&str>, host: Option<&str>) -> u16 {
    let mut req = client().get(router.url(path));
    if let Some(k) = key {
        req = req.bearer_auth(k);
    }
    if let Some(h) = host {
        req = req.header("host", h);
    }
    req.send()
        .await
        .expect("request completes")
        .status()
        .as_u16()
}

#[test]
fn a_non_loopback_host_needs_public() {
    let dir = tempfile::tempdir().unwrap();
    // `timeout` bounds the run should the refusal ever regress into serving.
    let out = Command::new("timeout")
        .arg("20")
        .arg(RouterProcess::bin_path())
        .args(["serve", "--host", "0.0.0.0", "--port", "0", "--data-dir"])
        .arg(dir.path())
        .env_remove("AROUTER_DATABASE_URL")
        .output()
        .expect("running arouter serve");
    assert!(!out.status.success(), "{out:?}");
    assert_ne!(
        out.status.code(),
        Some(124),
        "it served instead of refusing"
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--public") && err.contains("0.0.0.0"), "{err}");
}

#[tokio::test]
async fn public_mode_needs_a_key_everywhere_but_healthz_and_checks_the_host() {
    let r = RouterProcess::start(PUBLIC).await;
    assert_eq!(get(&r, "/healthz", None, None).await, 200);
    for path in ["/ui/", "/v1/models", "/openapi.yaml", "/api/v1/keys", "/"] {
        assert_eq!(get(&r, path, None, None).await, 401, "{path} without a key");
    }
    assert_eq!(get(&r, "/v1/models", Some("sk-ar-wrong"), None).await, 401);
    assert_eq!(get(&r, "/v1/models", Some(&r.app_key), None).await, 200);
    assert_eq!(get(&r, "/ui/", Some(&r.admin_key), None).await, 200);
    // `?key=` works for what a browser loads without headers.
    let ui = format!("/ui/?key={}", r.admin_key);
    assert_eq!(get(&r, &ui, None, None).await, 200);
    // Host names: allowed ones pass (with a port, any case), others are refused.
    let key = Some(r.app_key.as_str());
    assert_eq!(
        get(&r, "/v1/models", key, Some("router.team.test")).await,
        200
    );
    assert_eq!(
        get(&r, "/v1/models", key, Some("ROUTER.team.test:8402")).await,
        200
    );
    assert_eq!(get(&r, "/v1/models", key, Some("10.9.8.7:8402")).await, 200);
    assert_eq!(get(&r, "/v1/models", key, Some("evil.test")).await, 403);
    assert_eq!(get(&r, "/healthz", None, Some("evil.test")).await, 403);
    // A revoked key is refused at the door too.
    let out = r.cli(&["keys", "revoke", "testapp"]).await;
    assert!(out.status.success(), "{out:?}");
    let start = std::time::Instant::now();
    while get(&r, "/v1/models", key, None).await != 401 {
        assert!(
            start.elapsed() < std::time::Duration::from_secs(3),
            "revoked key still works"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn allowed_hosts_are_ignored_outside_public_mode() {
    let r = RouterProcess::start("[server]\nallowed_hosts = [\"router.team.test\"]\n").await;
    let key = Some(r.app_key.as_str());
    assert_eq!(
        get(&r, "/v1/models", key, Some("router.team.test")).await,
        403
    );
    assert_eq!(get(&r, "/healthz", None, None).await, 200);
}
