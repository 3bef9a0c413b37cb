//! KeyringSecrets against a real Secret Service; runs only with `AROUTER_TEST_KEYRING=1`.

use arouter_core::store::Secrets;
use arouter_store::KeyringSecrets;

fn enabled() -> bool {
    if std::env::var("AROUTER_TEST_KEYRING").as_deref() == Ok("1") {
        return true;
    }
    eprintln!(
        "skipped: set AROUTER_TEST_KEYRING=1 with a Secret Service running to test the keychain"
    );
    false
}

#[test]
fn secrets_set_read_back_overwrite_delete() {
    if !enabled() {
        return;
    }
    KeyringSecrets::probe().expect("keychain usable");
    let provider = format!("arouter-test-{}", std::process::id());
    let writer = KeyringSecrets::new();

    writer.set(&provider, "first-secret").expect("set");
    let fresh = KeyringSecrets::new();
    assert_eq!(fresh.get(&provider), Ok(Some("first-secret".into())));

    writer.set(&provider, "second-secret").expect("overwrite");
    assert_eq!(writer.get(&provider), Ok(Some("second-secret".into())));
    assert_eq!(
        KeyringSecrets::new().get(&provider),
        Ok(Some("second-secret".into()))
    );

    writer.delete(&provider).expect("delete");
    assert_eq!(writer.get(&provider), Ok(None));
    assert_eq!(KeyringSecrets::new().get(&provider), Ok(None));
    writer
        .delete(&provider)
        .expect("deleting a missing entry is fine");
}

#[test]
fn missing_entry_reads_as_none() {
    if !enabled() {
        return;
    }
    let secrets = KeyringSecrets::new();
    let provider = format!("arouter-never-set-{}", std::process::id());
    assert_eq!(secrets.get(&provider), Ok(None));
}

/// keyring's zbus backend deadlocks or panics when called on a thread that drives async tasks;
/// KeyringSecrets moves every call off the caller's thread, so this must just work.
#[tokio::test(flavor = "current_thread")]
async fn works_when_called_on_an_async_runtime_thread() {
    if !enabled() {
        return;
    }
    KeyringSecrets::probe().expect("keychain usable");
    let provider = format!("arouter-async-{}", std::process::id());
    let secrets = KeyringSecrets::new();
    secrets.set(&provider, "from-async").expect("set");
    assert_eq!(
        KeyringSecrets::new().get(&provider),
        Ok(Some("from-async".into()))
    );
    secrets.delete(&provider).expect("delete");
    assert_eq!(KeyringSecrets::new().get(&provider), Ok(None));
}

/// Run with `AROUTER_TEST_KEYRING=absent` and no session bus to check the user-facing message.
#[test]
fn probe_explains_a_missing_secret_service() {
    if std::env::var("AROUTER_TEST_KEYRING").as_deref() != Ok("absent") {
        eprintln!("skipped: set AROUTER_TEST_KEYRING=absent without a session bus to test this");
        return;
    }
    let message = KeyringSecrets::probe().expect_err("no keychain backend here");
    eprintln!("probe said: {message}");
    assert!(
        message.starts_with("OS keychain unavailable ("),
        "{message}"
    );
    assert!(message.ends_with("api_key_env variables"), "{message}");
    let err = KeyringSecrets::new()
        .set("openai", "sk-must-not-leak")
        .expect_err("nothing to store into");
    assert!(!err.contains("sk-must-not-leak"), "{err}");
}
