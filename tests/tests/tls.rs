//! HTTPS serving (`[server] tls_cert` / `tls_key`): a client that trusts the certificate talks
//! to the router over TLS, plain HTTP on the same port gets nowhere, and bad or half TLS
//! settings stop `arouter serve` with a message naming the setting.

mod common;

use arouter_tests::mock::{Behavior, MockUpstream, Vendor};
use arouter_tests::RouterProcess;
use serde_json::json;
use std::path::Path;
use std::process::Command;

/// A self-signed certificate for localhost / 127.0.0.1, written as PEM files in `dir`.
fn certificate(dir: &Path) -> (String, String, String) {
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".into(), "127.0.0.1".into()])
        .expect("generating a certificate");
    let (pem, key) = (cert.cert.pem(), cert.key_pair.serialize_pem());
    let (cert_path, key_path) = (dir.join("cert.pem"), dir.join("key.pem"));
    std::fs::write(&cert_path, &pem).unwrap();
    std::fs::write(&key_path, key).unwrap();
    let p = |p: &Path| p.display().to_string().replace('\\', "/");
    (p(&cert_path), p(&key_path), pem)
}

#[tokio::test]
async fn serves_https_with_the_configured_certificate() {
    let tmp = tempfile::tempdir().unwrap();
    let (cert, key, pem) = certificate(tmp.path());
    let mock = MockUpstream::start(Vendor::OpenAi).await;
    mock.push(Behavior::text("over tls"));
    let config = format!(
        "[server]\ntls_cert = \"{cert}\"\ntls_key = \"{key}\"\n{}",
        mock.provider_toml("oa", None)
    );
    let router = RouterProcess::start(&config).await;
    assert!(
        router.url("/").starts_with("https://127.0.0.1:"),
        "{}",
        router.url("/")
    );
    let trusted = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(pem.as_bytes()).unwrap())
        .timeout(std::time::Duration::from_secs(30))
        .build()
        .unwrap();
    let health = trusted.get(router.url("/healthz")).send().await.unwrap();
    assert_eq!(health.status(), 200);
    let chat: serde_json::Value = trusted
        .post(router.url("/v1/chat/completions"))
        .bearer_auth(&router.app_key)
        .json(&json!({"model": "oa/m", "messages": [{"role": "user", "content": "hi"}]}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(chat["choices"][0]["message"]["content"], "over tls");

    // A client that does not trust the certificate is refused by its own TLS check, and plain
    // HTTP on the TLS port gets no HTTP answer.
    assert!(common::client()
        .get(router.url("/healthz"))
        .send()
        .await
        .is_err());
    let plain = router.url("/healthz").replacen("https://", "http://", 1);
    assert!(common::client().get(plain).send().await.is_err());
}

#[test]
fn bad_tls_settings_stop_the_server_with_a_clear_message() {
    let tmp = tempfile::tempdir().unwrap();
    let (cert, key, _) = certificate(tmp.path());
    let junk = tmp.path().join("junk.pem");
    std::fs::write(&junk, "not a certificate\n").unwrap();
    let junk = junk.display().to_string();
    for (config, says) in [
        (
            format!("[server]\ntls_cert = \"{cert}\"\n"),
            "tls_cert and tls_key go together",
        ),
        (
            format!("[server]\ntls_cert = \"{junk}\"\ntls_key = \"{key}\"\n"),
            "tls_cert",
        ),
        (
            format!("[server]\ntls_cert = \"{cert}\"\ntls_key = \"{junk}\"\n"),
            "tls_key",
        ),
    ] {
        let data = tempfile::tempdir().unwrap();
        std::fs::write(data.path().join("config.toml"), &config).unwrap();
        let log = data.path().join("stderr.log");
        let mut child = Command::new(RouterProcess::bin_path())
            .args(["serve", "--port", "0", "--data-dir"])
            .arg(data.path())
            .stdout(std::process::Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        // Bounded: a server that starts anyway must not hang the test.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        let status = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break status;
            }
            if std::time::Instant::now() > deadline {
                let _ = child.kill();
                panic!("{config}: arouter serve started instead of refusing");
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        };
        let stderr = std::fs::read_to_string(&log).unwrap();
        assert!(!status.success(), "{config}: {stderr}");
        assert!(
            stderr.contains(says),
            "{config}: expected \"{says}\" in {stderr}"
        );
    }
}
