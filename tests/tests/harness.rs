//! Tests of the router process harness against a stand-in binary that follows the CLI
//! contract (the real `arouter` is exercised by the end-to-end suites).

use arouter_tests::harness::{parse_listening, RouterOptions};
use arouter_tests::RouterProcess;
use std::path::PathBuf;
use std::time::Duration;

/// A shell script honouring `keys create` (key on the last stdout line) and `serve` (readiness
/// line on stdout, logs on stderr, exit 0 on SIGTERM).
const FAKE_AROUTER: &str = r#"#!/bin/sh
case "$1" in
  keys)
    shift 2
    name=""; kind="app"
    while [ $# -gt 0 ]; do
      case "$1" in
        --name) name="$2"; shift 2 ;;
        --admin) kind="admin"; shift ;;
        *) shift ;;
      esac
    done
    echo "Created $kind key '$name'. Store it now; it is not shown again:"
    echo "sk-ar-$kind-$name"
    ;;
  serve)
    trap 'echo "graceful shutdown" >&2; exit 0' TERM
    echo "INFO starting with RUST_LOG=$RUST_LOG token=$FAKE_TOKEN" >&2
    echo "arouter listening on http://127.0.0.1:45678"
    while true; do sleep 0.05; done
    ;;
  *)
    echo "args: $*"
    ;;
esac
"#;

fn fake_binary(dir: &tempfile::TempDir) -> PathBuf {
    let path = dir.path().join("arouter");
    std::fs::write(&path, FAKE_AROUTER).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    path
}

#[cfg(unix)]
#[tokio::test]
async fn harness_creates_keys_waits_for_readiness_and_stops_gracefully() {
    let bin_dir = tempfile::tempdir().unwrap();
    let options = RouterOptions {
        bin: Some(fake_binary(&bin_dir)),
        ..RouterOptions::default()
    }
    .env("FAKE_TOKEN", "abc");
    let config = "default_model = \"mock/gpt-4o-mini\"\n";
    let mut router = RouterProcess::start_with(config, options).await;

    assert_eq!(router.base_url, "http://127.0.0.1:45678");
    assert_eq!(router.url("/healthz"), "http://127.0.0.1:45678/healthz");
    assert_eq!(router.admin_key, "sk-ar-admin-admin");
    assert_eq!(router.app_key, "sk-ar-app-testapp");
    assert_eq!(
        std::fs::read_to_string(router.data_dir.join("config.toml")).unwrap(),
        config
    );

    let output = router.cli(&["usage", "--by", "app"]).await;
    let stdout = String::from_utf8(output.stdout).unwrap();
    assert_eq!(
        stdout.trim(),
        format!(
            "args: usage --by app --data-dir {}",
            router.data_dir.display()
        )
    );

    router.sigterm();
    let status = router.wait_exit(Duration::from_secs(5)).await;
    assert!(status.success(), "{status}");
    let log = router.stderr_log();
    assert!(log.contains("RUST_LOG=info token=abc"), "{log}");
    assert!(log.contains("graceful shutdown"), "{log}");
}

#[test]
fn readiness_line_parsing() {
    assert_eq!(
        parse_listening("boot\n2025 INFO arouter: listening on http://127.0.0.1:8402\n"),
        Some("http://127.0.0.1:8402".to_owned())
    );
    assert_eq!(
        parse_listening("listening on http://127.0.0.1:9/."),
        Some("http://127.0.0.1:9".to_owned())
    );
    assert_eq!(parse_listening("listening on port 8402"), None);
    assert_eq!(parse_listening(""), None);
}

#[test]
fn binary_path_defaults_next_to_the_deps_dir() {
    if std::env::var_os("AROUTER_BIN").is_some() {
        return;
    }
    let exe = std::env::current_exe().unwrap();
    let expected = exe
        .parent()
        .and_then(|deps| deps.parent())
        .unwrap()
        .join(format!("arouter{}", std::env::consts::EXE_SUFFIX));
    assert_eq!(RouterProcess::bin_path(), expected);
}
