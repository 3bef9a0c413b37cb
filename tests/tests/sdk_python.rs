//! Runs the official Python SDK tests (tests/sdk, pytest) against the real binary with mock
//! upstreams of every kind. The venv comes from tests/run-all.sh (`AROUTER_PYTHON`).

use arouter_tests::{Behavior, MockUpstream, RouterProcess, Vendor};
use serde_json::json;
use std::path::PathBuf;

fn python() -> Option<String> {
    match std::env::var("AROUTER_PYTHON") {
        Ok(p) if !p.is_empty() => Some(p),
        _ => {
            // Outside tests/run-all.sh, a venv left by an earlier run still counts.
            let venv = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".venv/bin/python");
            venv.exists().then(|| venv.display().to_string())
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn official_python_sdks() {
    let Some(py) = python() else {
        assert!(
            std::env::var("AROUTER_TEST_KEYRING").is_err(),
            "AROUTER_PYTHON must be set when running the full suite"
        );
        eprintln!("skipped: no Python venv (run tests/run-all.sh)");
        return;
    };
    let mut mocks = Vec::new();
    let mut cfg = String::new();
    for (vendor, id, model) in [
        (Vendor::OpenAi, "oa", "gpt-4o-mini"),
        (Vendor::Anthropic, "an", "claude-sonnet-4-5"),
        (Vendor::Gemini, "gm", "gemini-2.5-flash"),
    ] {
        let text = MockUpstream::start(vendor).await;
        let tools = MockUpstream::start(vendor).await;
        let think = MockUpstream::start(vendor).await;
        for _ in 0..50 {
            tools.push(Behavior::tool_call(
                "get_weather",
                &json!({"city": "Paris"}),
            ));
            // Must match THINKING / SIGNATURE / THOUGHT_ANSWER in tests/sdk/conftest.py.
            think.push(Behavior::Thinking {
                thinking: "Let me think about it step by step".into(),
                signature: "c2lnLW1vY2stMDEyMzQ1Njc4OQ==".into(),
                text: "The answer is 42".into(),
            });
        }
        // `models` lists the model so every kind's id shows up in the model listings.
        cfg.push_str(&text.provider_toml(id, None));
        cfg.push_str(&format!("models = [\"{model}\"]\n"));
        cfg.push_str(&tools.provider_toml(&format!("{id}tools"), None));
        cfg.push_str(&think.provider_toml(&format!("{id}think"), None));
        mocks.push(text);
        mocks.push(tools);
        mocks.push(think);
    }
    // An OpenAI upstream that speaks the Responses API (`wire = "responses"`): relayed.
    for (id, behavior) in [
        ("oar", None),
        (
            "oartools",
            Some(Behavior::tool_call(
                "get_weather",
                &json!({"city": "Paris"}),
            )),
        ),
        (
            "oarthink",
            Some(Behavior::Thinking {
                thinking: "Let me think about it step by step".into(),
                signature: "c2lnLW1vY2stMDEyMzQ1Njc4OQ==".into(),
                text: "The answer is 42".into(),
            }),
        ),
    ] {
        let mock = MockUpstream::start(Vendor::OpenAi).await;
        if let Some(b) = behavior {
            mock.script(std::iter::repeat_n(b, 50));
        }
        cfg.push_str(&mock.provider_toml(id, None));
        cfg.push_str("wire = \"responses\"\n");
        mocks.push(mock);
    }
    let err = MockUpstream::start(Vendor::OpenAi).await;
    for _ in 0..20 {
        err.push(Behavior::Error {
            status: 429,
            body: None,
            retry_after: Some(1),
        });
    }
    cfg.push_str(&err.provider_toml("oaerr", None));
    let router = RouterProcess::start(&cfg).await;
    let sdk_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("sdk");
    let out = tokio::process::Command::new(&py)
        .args(["-m", "pytest", "-q", "-p", "no:cacheprovider"])
        .arg(&sdk_dir)
        .env("AROUTER_BASE_URL", &router.base_url)
        .env("AROUTER_APP_KEY", &router.app_key)
        .env("AROUTER_ADMIN_KEY", &router.admin_key)
        .current_dir(&sdk_dir)
        .output()
        .await
        .expect("run pytest");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "pytest failed:\n{stdout}\n{stderr}\n--- router log ---\n{}",
        router.stderr_log()
    );
    eprintln!("{stdout}");
}
