//! End to end with the real agent CLIs from npm (tests/agents, pinned): with HOME set to a
//! temp dir and no ARouter or vendor variables in the environment, `arouter connect TOOL`
//! alone makes `claude -p` / `gemini -p` reach ARouter and answer from a mock upstream, with
//! the request attributed to the tool's own key; `arouter disconnect` leaves HOME as it was.
//! Runs with `AROUTER_AGENT_TESTS=1` (CI sets it); needs `npm ci` in tests/agents.

use arouter_tests::harness::RouterOptions;
use arouter_tests::{MockUpstream, RouterProcess, Vendor};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

const CLI_TIMEOUT: Duration = Duration::from_secs(120);

fn enabled() -> bool {
    if std::env::var("AROUTER_AGENT_TESTS").as_deref() == Ok("1") {
        return true;
    }
    eprintln!(
        "skipping the agent CLI tests: set AROUTER_AGENT_TESTS=1 (needs npm ci in tests/agents)"
    );
    false
}

fn agents_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("agents/node_modules")
}

/// Claude Code's native binary: its postinstall would link it into bin/; run without install
/// scripts, it is taken from the platform package directly.
fn claude_bin() -> PathBuf {
    let dir = agents_dir().join("@anthropic-ai");
    let found = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e} (run npm ci in tests/agents)", dir.display()))
        .filter_map(Result::ok)
        .map(|e| e.path().join("claude"))
        .find(|p| p.is_file());
    found.expect("the claude-code platform package (e.g. claude-code-linux-x64) is missing")
}

fn shown(out: &Output) -> String {
    format!(
        "exit: {}\n--- stdout\n{}\n--- stderr\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// A command with nothing of the caller's environment but PATH and the temp HOME.
fn clean(program: &Path, home: &Path) -> Command {
    let mut c = Command::new(program);
    c.env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", home)
        .env("TERM", "dumb")
        .current_dir(home)
        .stdin(Stdio::null());
    c
}

async fn run(mut c: Command) -> Output {
    let shown_cmd = format!("{c:?}");
    let child = tokio::task::spawn_blocking(move || {
        let child = c.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn();
        child.map(|ch| {
            let id = ch.id();
            (id, ch)
        })
    })
    .await
    .expect("spawn task")
    .unwrap_or_else(|e| panic!("starting {shown_cmd}: {e}"));
    let (pid, ch) = child;
    let waited = tokio::time::timeout(
        CLI_TIMEOUT,
        tokio::task::spawn_blocking(move || ch.wait_with_output()),
    )
    .await;
    match waited {
        Ok(out) => out.expect("wait task").expect("waiting"),
        Err(_) => {
            let _ = Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .status();
            panic!("{shown_cmd} ran longer than {CLI_TIMEOUT:?}");
        }
    }
}

/// `arouter ARGS --data-dir D` (and `--port P` for connect) as the user would type it, with
/// HOME set.
async fn arouter(router: &RouterProcess, home: &Path, args: &[&str]) -> Output {
    let port = router
        .base_url
        .rsplit(':')
        .next()
        .unwrap_or_default()
        .to_string();
    let mut c = clean(&RouterProcess::bin_path(), home);
    c.args(args).arg("--data-dir").arg(&router.data_dir);
    if args.first() == Some(&"connect") {
        c.args(["--port", &port]);
    }
    let out = run(c).await;
    assert!(out.status.success(), "arouter {args:?}\n{}", shown(&out));
    out
}

/// `arouter tools` once its row for `tool` shows a last request: the ledger writer batches on
/// its own clock and the CLI reads what it has written (polled for at most 5 s).
async fn tools_after_request(router: &RouterProcess, home: &Path, tool: &str) -> String {
    let mut table = String::new();
    for _ in 0..20 {
        let out = arouter(router, home, &["tools"]).await;
        table = String::from_utf8_lossy(&out.stdout).into_owned();
        if table
            .lines()
            .any(|l| l.starts_with(tool) && l.contains("ago"))
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    table
}

fn temp_home() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("arouter-agent-home-")
        .tempdir()
        .expect("temp home")
}

fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p);
            }
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn claude_code_connects_and_answers_through_arouter() {
    if !enabled() {
        return;
    }
    let claude = claude_bin();
    let an = MockUpstream::start(Vendor::Anthropic).await;
    an.expect_key(Some("sk-ant-upstream"));
    let cfg = format!(
        "default_model = \"an/claude-sonnet-4-5\"\n{}",
        an.provider_toml("an", Some("AN_KEY"))
    );
    let router = RouterProcess::start_with(
        &cfg,
        RouterOptions::default().env("AN_KEY", "sk-ant-upstream"),
    )
    .await;
    let home = temp_home();
    let out = arouter(
        &router,
        home.path(),
        &[
            "connect",
            "claude-code",
            "--slot",
            "haiku=an/claude-haiku-4-5",
        ],
    )
    .await;
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(said.contains("key \"claude-code\""), "{said}");

    let mut c = clean(&claude, home.path());
    c.args(["-p", "Say hello"]);
    let answer = run(c).await;
    assert!(
        answer.status.success(),
        "claude -p failed\n{}",
        shown(&answer)
    );
    let text = String::from_utf8_lossy(&answer.stdout);
    assert!(
        text.contains("Hello from Anthropic mock"),
        "{}",
        shown(&answer)
    );
    let asked: Vec<String> = an
        .requests()
        .iter()
        .filter_map(|r| serde_json::from_slice::<serde_json::Value>(&r.body).ok())
        .filter_map(|b| b["model"].as_str().map(str::to_string))
        .collect();
    assert!(
        asked
            .iter()
            .all(|m| m == "claude-sonnet-4-5" || m == "claude-haiku-4-5"),
        "every upstream request names an ARouter-chosen model: {asked:?}"
    );

    let table = tools_after_request(&router, home.path(), "claude-code").await;
    let line = table
        .lines()
        .find(|l| l.starts_with("claude-code"))
        .unwrap_or_default();
    assert!(
        line.contains("yes (claude-code)") && line.contains("ago"),
        "{table}"
    );

    arouter(&router, home.path(), &["disconnect", "claude-code"]).await;
    let settings = home.path().join(".claude/settings.json");
    assert!(
        !settings.exists(),
        "connect created settings.json; disconnect removes it"
    );
    let after = arouter(&router, home.path(), &["tools"]).await;
    let table = String::from_utf8_lossy(&after.stdout);
    assert!(
        table
            .lines()
            .any(|l| l.starts_with("claude-code") && l.contains(" no ")),
        "{table}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gemini_cli_connects_and_answers_through_arouter() {
    if !enabled() {
        return;
    }
    let gemini = agents_dir().join(".bin/gemini");
    let gm = MockUpstream::start(Vendor::Gemini).await;
    gm.expect_key(Some("gm-upstream"));
    let cfg = format!(
        "default_model = \"gm/gemini-2.5-flash\"\n{}",
        gm.provider_toml("gm", Some("GM_KEY"))
    );
    let router =
        RouterProcess::start_with(&cfg, RouterOptions::default().env("GM_KEY", "gm-upstream"))
            .await;
    let home = temp_home();
    arouter(&router, home.path(), &["connect", "gemini-cli"]).await;
    let env_file = std::fs::read_to_string(home.path().join(".gemini/.env")).unwrap();
    assert!(env_file.contains(&format!("GOOGLE_GEMINI_BASE_URL={}\n", router.base_url)));

    let mut c = clean(&gemini, home.path());
    // Headless gemini trusts no folder unless told; an untrusted folder skips ~/.gemini/.env.
    c.env("GEMINI_CLI_TRUST_WORKSPACE", "true")
        .args(["-p", "Say hello"]);
    let answer = run(c).await;
    assert!(
        answer.status.success(),
        "gemini -p failed\n{}",
        shown(&answer)
    );
    assert!(
        String::from_utf8_lossy(&answer.stdout).contains("Hello from Gemini mock"),
        "{}",
        shown(&answer)
    );
    assert!(gm.call_count() >= 1);

    let table = tools_after_request(&router, home.path(), "gemini-cli").await;
    assert!(
        table.lines().any(|l| l.starts_with("gemini-cli")
            && l.contains("yes (gemini-cli)")
            && l.contains("ago")),
        "{table}"
    );
    arouter(&router, home.path(), &["disconnect", "gemini-cli"]).await;
    assert!(
        !home.path().join(".gemini/.env").exists(),
        ".env was created by connect: disconnect removes it"
    );
    // gemini may have written settings.json itself meanwhile; only our values go.
    let settings = home.path().join(".gemini/settings.json");
    if let Ok(text) = std::fs::read_to_string(&settings) {
        assert!(
            !text.contains("gemini-api-key") && !text.contains("gm/gemini"),
            "{text}"
        );
    }
    assert!(
        files_under(home.path())
            .iter()
            .all(|p| !std::fs::read_to_string(p)
                .unwrap_or_default()
                .contains("sk-ar-")),
        "no ARouter key is left anywhere under HOME"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn codex_connects_and_answers_through_arouter() {
    if !enabled() {
        return;
    }
    let codex = agents_dir().join(".bin/codex");
    let an = MockUpstream::start(Vendor::Anthropic).await;
    an.expect_key(Some("sk-ant-upstream"));
    let cfg = format!(
        "default_model = \"an/claude-sonnet-4-5\"\n{}",
        an.provider_toml("an", Some("AN_KEY"))
    );
    let router = RouterProcess::start_with(
        &cfg,
        RouterOptions::default().env("AN_KEY", "sk-ant-upstream"),
    )
    .await;
    let home = temp_home();
    // A user config with a profile and another provider: connect merges, disconnect restores.
    let codex_dir = home.path().join(".codex");
    std::fs::create_dir_all(&codex_dir).unwrap();
    let original = "# my codex settings\napproval_policy = \"on-request\"\n\n\
                    [model_providers.other]\nname = \"Other\"\nbase_url = \"http://127.0.0.1:9/v1\"\n";
    std::fs::write(codex_dir.join("config.toml"), original).unwrap();
    arouter(&router, home.path(), &["connect", "codex"]).await;
    let written = std::fs::read_to_string(codex_dir.join("config.toml")).unwrap();
    assert!(written.contains("wire_api = \"responses\""), "{written}");
    assert!(written.contains("[model_providers.other]"), "{written}");

    let work = home.path().join("work");
    std::fs::create_dir_all(&work).unwrap();
    let mut c = clean(&codex, home.path());
    c.current_dir(&work).args([
        "exec",
        "--skip-git-repo-check",
        "--dangerously-bypass-approvals-and-sandbox",
        "Say hello",
    ]);
    let answer = run(c).await;
    assert!(
        answer.status.success(),
        "codex exec failed\n{}\n--- router ---\n{}",
        shown(&answer),
        router.stderr_log()
    );
    assert!(
        String::from_utf8_lossy(&answer.stdout).contains("Hello from Anthropic mock"),
        "{}",
        shown(&answer)
    );
    assert!(an.call_count() >= 1);

    let table = tools_after_request(&router, home.path(), "codex").await;
    assert!(
        table
            .lines()
            .any(|l| l.starts_with("codex") && l.contains("yes (codex)") && l.contains("ago")),
        "{table}"
    );
    arouter(&router, home.path(), &["disconnect", "codex"]).await;
    // Codex may add files of its own under ~/.codex; config.toml is back to the user's bytes.
    assert_eq!(
        std::fs::read_to_string(codex_dir.join("config.toml")).unwrap(),
        original
    );
}

/// Claude Code and Gemini CLI, connected with `--model` naming a model of each provider kind,
/// answer from that kind's mock: the CLI's own dialect is translated (or relayed) both ways.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn claude_code_and_gemini_cli_answer_on_every_provider_kind() {
    if !enabled() {
        return;
    }
    let claude = claude_bin();
    let gemini = agents_dir().join(".bin/gemini");
    let kinds = [
        ("oa", Vendor::OpenAi, "gpt-4o-mini"),
        ("an", Vendor::Anthropic, "claude-sonnet-4-5"),
        ("gm", Vendor::Gemini, "gemini-2.5-flash"),
    ];
    let mut mocks = Vec::new();
    let mut cfg = String::from("default_model = \"oa/gpt-4o-mini\"\n");
    for (id, vendor, _) in kinds {
        let mock = MockUpstream::start(vendor).await;
        cfg.push_str(&mock.provider_toml(id, None));
        mocks.push(mock);
    }
    let router = RouterProcess::start(&cfg).await;
    for ((id, vendor, model), mock) in kinds.iter().zip(&mocks) {
        let model_id = format!("{id}/{model}");
        let expected = format!("Hello from {} mock", vendor.name());
        for tool in ["claude-code", "gemini-cli"] {
            let home = temp_home();
            arouter(
                &router,
                home.path(),
                &["connect", tool, "--model", &model_id],
            )
            .await;
            let before = mock.call_count();
            let mut c = if tool == "claude-code" {
                clean(&claude, home.path())
            } else {
                let mut c = clean(&gemini, home.path());
                c.env("GEMINI_CLI_TRUST_WORKSPACE", "true");
                c
            };
            c.args(["-p", "Say hello"]);
            let answer = run(c).await;
            let ctx = format!(
                "{tool} on {model_id}\n{}\n--- router ---\n{}",
                shown(&answer),
                router.stderr_log()
            );
            assert!(answer.status.success(), "{ctx}");
            assert!(
                String::from_utf8_lossy(&answer.stdout).contains(&expected),
                "{ctx}"
            );
            assert!(mock.call_count() > before, "{ctx}");
            arouter(&router, home.path(), &["disconnect", tool]).await;
        }
    }
}
