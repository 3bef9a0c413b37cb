//! `arouter migrate --to postgres://…`: a SQLite history (keys, ledger rows with stored bodies,
//! credits, a finished Message Batch) copied into an empty PostgreSQL database, with figures
//! equal before and after, and served from there by a team-mode instance.

mod common;

use arouter_tests::harness::RouterOptions;
use arouter_tests::pg::Pg;
use arouter_tests::{MockUpstream, RouterProcess, Vendor};
use common::client;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

#[tokio::test]
async fn migrate_copies_the_sqlite_history_with_equal_figures() {
    let Some(pg) = Pg::shared() else { return };
    let oa = MockUpstream::start(Vendor::OpenAi).await;
    let cfg = format!(
        "default_model = \"oa/m\"\n{}\n[models.\"oa/m\"]\ninput_per_mtok = 5.0\noutput_per_mtok = 5.0\n",
        oa.provider_toml("oa", None)
    );
    let r = RouterProcess::start(&cfg).await;
    let mut ids = Vec::new();
    for i in 0..12 {
        let v: Value = client()
            .post(r.url("/v1/chat/completions"))
            .bearer_auth(&r.app_key)
            .json(&json!({"model": "oa/m", "messages": [{"role": "user", "content": format!("q{i}")}]}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        ids.push(v["id"].as_str().unwrap().to_string());
    }
    let out = r.cli(&["credits", "add", "5", "--note", "seed"]).await;
    assert!(out.status.success(), "{out:?}");
    let batch: Value = client()
        .post(r.url("/v1/messages/batches"))
        .header("x-api-key", &r.app_key)
        .header("anthropic-version", "2023-06-01")
        .json(&json!({"requests": [
            {"custom_id": "a", "params": {"model": "oa/m", "max_tokens": 16, "messages": [{"role": "user", "content": "x"}]}},
            {"custom_id": "b", "params": {"model": "oa/m", "max_tokens": 16, "messages": [{"role": "user", "content": "y"}]}}
        ]}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let batch_id = batch["id"].as_str().expect("a batch id").to_string();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let b: Value = client()
            .get(r.url(&format!("/v1/messages/batches/{batch_id}")))
            .header("x-api-key", &r.app_key)
            .header("anthropic-version", "2023-06-01")
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if b["processing_status"] == "ended" {
            break;
        }
        assert!(Instant::now() < deadline, "the batch never ended: {b}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Everything recorded is in SQLite before the copy (the CLI reads the file beside the server).
    let url = pg.create_db("migrated");
    let out = r.cli(&["migrate", "--to", &url]).await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("figures equal"), "{stdout}");
    let db = "migrated";
    assert_eq!(pg.psql(db, "SELECT count(*) FROM keys"), "2");
    assert_eq!(pg.psql(db, "SELECT count(*) FROM credits"), "1");
    assert_eq!(pg.psql(db, "SELECT count(*) FROM batches"), "1");
    assert_eq!(pg.psql(db, "SELECT count(*) FROM batch_requests"), "2");
    let rows: i64 = pg
        .psql(db, "SELECT count(*) FROM requests")
        .parse()
        .unwrap();
    assert!(rows >= 14, "12 chats + 2 batch requests, got {rows}");
    assert_eq!(
        pg.psql(db, "SELECT count(*) FROM request_bodies"),
        rows.to_string(),
        "stored bodies came along"
    );
    // A second run refuses: the target is no longer empty.
    let again = r.cli(&["migrate", "--to", &url]).await;
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("not empty"));

    // A team-mode instance on the copy takes the old keys and serves the old stored responses.
    let team = RouterProcess::start_with(
        &cfg,
        RouterOptions {
            no_keys: true,
            ..RouterOptions::default().env("AROUTER_DATABASE_URL", &url)
        },
    )
    .await;
    let got: Value = client()
        .get(team.url(&format!("/v1/chat/completions/{}", ids[3])))
        .bearer_auth(&r.app_key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(got["response"]["id"], ids[3].as_str(), "{got}");
    assert_eq!(got["request"]["messages"][0]["content"], "q3");
}
