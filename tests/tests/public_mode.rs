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

#[tokio::test]
async fn provider_credentials_come_from_a_private_key_file_reread_on_change() {
    use arouter_tests::{MockUpstream, Vendor};
    use std::os::unix::fs::PermissionsExt;
    let oa = MockUpstream::start(Vendor::OpenAi).await;
    oa.expect_key(Some("sk-from-file-1"));
    let secrets = tempfile::tempdir().unwrap();
    let file = secrets.path().join("oa.key");
    let write = |text: &str, mode: u32| {
        std::fs::write(&file, text).unwrap();
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(mode)).unwrap();
    };
    write("sk-from-file-1\n", 0o600);
    let provider = oa.provider_toml("oa", None).replacen(
        "[providers.oa]",
        &format!(
            "[providers.oa]\napi_key_file = {:?}",
            file.display().to_string()
        ),
        1,
    );
    let r = RouterProcess::start(&format!("default_model = \"oa/m\"\n{provider}")).await;
    let chat = |router: &RouterProcess| {
        client()
            .post(router.url("/v1/chat/completions"))
            .bearer_auth(&router.app_key)
            .json(&serde_json::json!({"model": "oa/m", "messages": [{"role": "user", "content": "hi"}]}))
            .send()
    };
    assert_eq!(chat(&r).await.unwrap().status(), 200);
    // Rotated on disk: picked up without a restart, within the file's one-second recheck.
    write("sk-from-file-2\n", 0o600);
    tokio::time::sleep(std::time::Duration::from_millis(1300)).await;
    oa.expect_key(Some("sk-from-file-2"));
    assert_eq!(
        chat(&r).await.unwrap().status(),
        200,
        "the rotated key is sent"
    );
    // A file others can read is refused (503), and says why.
    write("sk-from-file-3-leaked\n", 0o644);
    let start = std::time::Instant::now();
    loop {
        let resp = chat(&r).await.unwrap();
        if resp.status() == 503 {
            let text = resp.text().await.unwrap();
            assert!(text.contains("0600"), "{text}");
            break;
        }
        assert!(
            start.elapsed() < std::time::Duration::from_secs(5),
            "a 0644 key file was used"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
}
