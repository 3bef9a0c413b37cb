//! The web UI's Health page in headless Chromium (tests/ui/health.mjs) against a real
//! `arouter serve` that has served traffic: one provider cooling down after three failures,
//! one healthy. Runs only with `AROUTER_UI_TESTS=1` (CI sets it); needs node, /usr/bin/chromium
//! and `npm ci` in tests/ui.

mod common;

use arouter_tests::{Behavior, MockUpstream, RouterProcess, Vendor};
use common::client;
use serde_json::json;
use std::path::Path;
use std::time::Duration;

#[tokio::test]
async fn health_page_shows_states_rates_timings_and_errors() {
    if std::env::var("AROUTER_UI_TESTS").as_deref() != Ok("1") {
        eprintln!(
            "skipping the Health page test: set AROUTER_UI_TESTS=1 (needs node and chromium)"
        );
        return;
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    assert!(
        root.join("tests/ui/node_modules/playwright-core").is_dir(),
        "playwright-core is not installed: run `npm ci` in tests/ui"
    );
    let oa = MockUpstream::start(Vendor::OpenAi).await;
    let an = MockUpstream::start(Vendor::Anthropic).await;
    let cfg = format!(
        "[aliases]\nboth = [\"oa/m\", \"an/m\"]\n{}models = [\"m\"]\n{}models = [\"m\"]\n",
        oa.provider_toml("oa", None),
        an.provider_toml("an", None),
    );
    let router = RouterProcess::start(&cfg).await;
    let chat = |model: &str, stream: bool| {
        client()
            .post(router.url("/v1/chat/completions"))
            .bearer_auth(&router.app_key)
            .json(&json!({"model": model, "stream": stream, "messages": [{"role": "user", "content": "hi"}]}))
            .send()
    };
    for _ in 0..3 {
        let r = chat("oa/m", true).await.unwrap();
        assert_eq!(r.status(), 200);
        r.text().await.unwrap();
    }
    // Three failures in a row: oa cools down; an serves each request.
    for _ in 0..3 {
        oa.push(Behavior::error(500));
        assert_eq!(chat("both", false).await.unwrap().status(), 200);
    }

    let mut cmd = tokio::process::Command::new("node");
    cmd.current_dir(root)
        .arg("tests/ui/health.mjs")
        .env("BASE_URL", &router.base_url)
        .env("ADMIN_KEY", &router.admin_key)
        .kill_on_drop(true);
    let out = tokio::time::timeout(Duration::from_secs(120), cmd.output())
        .await
        .expect("health.mjs ran over 120 s")
        .expect("running node");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("ok - health page"),
        "Health page scenario failed (screenshots in tests/ui/artifacts/)\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
