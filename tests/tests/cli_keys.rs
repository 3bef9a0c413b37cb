//! `arouter keys create` takes the settings `POST /api/v1/keys` takes (budget, its reset
//! period, rate limit, provider proxy permission), refuses what the API refuses, and a running
//! server applies them at once.

mod common;

use arouter_tests::{MockUpstream, RouterProcess, Vendor};
use common::client;
use serde_json::{json, Value};

/// `keys create ARGS`: Ok(raw key) or Err(stderr).
async fn create(router: &RouterProcess, args: &[&str]) -> Result<String, String> {
    let mut full = vec!["keys", "create"];
    full.extend_from_slice(args);
    let out = router.cli(&full).await;
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).into_owned());
    }
    Ok(String::from_utf8_lossy(&out.stdout)
        .lines()
        .last()
        .unwrap()
        .trim()
        .to_string())
}

/// The key object `GET /api/v1/keys` shows for `name`.
async fn shown(router: &RouterProcess, name: &str) -> Value {
    let v: Value = client()
        .get(router.url("/api/v1/keys"))
        .bearer_auth(&router.admin_key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    v["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["name"] == name)
        .unwrap_or_else(|| panic!("no key {name}: {v}"))
        .clone()
}

#[tokio::test]
async fn keys_create_takes_the_api_settings() {
    let mock = MockUpstream::start(Vendor::OpenAi).await;
    let router = RouterProcess::start(&mock.provider_toml("oa", None)).await;

    let full = create(
        &router,
        &[
            "--name",
            "full",
            "--limit-usd",
            "2.5",
            "--limit-reset",
            "weekly",
            "--rpm",
            "7",
            "--proxy",
        ],
    )
    .await
    .unwrap();
    let k = shown(&router, "full").await;
    assert_eq!(k["limit"], 2.5, "{k}");
    assert_eq!(k["limit_reset"], "weekly", "{k}");
    assert_eq!(k["rpm"], 7, "{k}");
    assert_eq!(k["proxy"], true, "{k}");
    assert_eq!(k["admin"], false, "{k}");

    // Defaults as in the API: the proxy is allowed without a budget, not with one.
    create(&router, &["--name", "budgeted", "--limit-usd", "1"])
        .await
        .unwrap();
    let k = shown(&router, "budgeted").await;
    assert_eq!(
        (k["proxy"].clone(), k["limit_reset"].clone()),
        (json!(false), Value::Null)
    );
    let plain = create(&router, &["--name", "plain"]).await.unwrap();
    let k = shown(&router, "plain").await;
    assert_eq!(
        (k["proxy"].clone(), k["limit"].clone()),
        (json!(true), Value::Null)
    );
    let closed = create(&router, &["--name", "closed", "--no-proxy"])
        .await
        .unwrap();
    assert_eq!(shown(&router, "closed").await["proxy"], false);
    // The old spelling still works.
    create(&router, &["--name", "old", "--budget", "3"])
        .await
        .unwrap();
    assert_eq!(shown(&router, "old").await["limit"], 3.0);

    // The running server applies them: the proxy permission and the rate limit.
    let proxied = router.url("/oa/chat/completions");
    let body = json!({"model": "m", "messages": [{"role": "user", "content": "x"}]});
    for (key, want) in [(&full, 200), (&plain, 200), (&closed, 403)] {
        let resp = client()
            .post(&proxied)
            .bearer_auth(key)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), want, "{}", resp.text().await.unwrap());
    }
    let resp = client()
        .post(router.url("/v1/chat/completions"))
        .bearer_auth(&full)
        .json(&json!({"model": "oa/m", "messages": [{"role": "user", "content": "x"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["x-ratelimit-limit"], "7");

    // `keys list` shows them.
    let list = router.cli(&["keys", "list"]).await;
    let text = String::from_utf8_lossy(&list.stdout);
    let line = text.lines().find(|l| l.starts_with("full ")).unwrap();
    assert!(line.contains("$2.5") && line.contains("weekly"), "{text}");
    assert!(text.lines().next().unwrap().contains("PROXY"), "{text}");

    // What the API refuses, the CLI refuses, and creates nothing.
    for (args, says) in [
        (vec!["--name", "x1", "--limit-reset", "hourly"], "hourly"),
        (vec!["--name", "x2", "--rpm", "0"], "--rpm"),
        (vec!["--name", "x3", "--limit-usd", "-1"], "--limit-usd"),
        (vec!["--name", "x4", "--limit-usd", "NaN"], "--limit-usd"),
        (vec!["--name", "full"], "already exists"),
    ] {
        let err = create(&router, &args).await.unwrap_err();
        assert!(err.contains(says), "{args:?}: {err}");
    }
    let v: Value = client()
        .get(router.url("/api/v1/keys"))
        .bearer_auth(&router.admin_key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let names: Vec<&str> = v["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["name"].as_str().unwrap())
        .collect();
    assert!(!names.iter().any(|n| n.starts_with('x')), "{names:?}");
}
