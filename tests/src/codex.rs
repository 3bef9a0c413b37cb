//! Runs the real Codex CLI (`@openai/codex`, pinned in tests/agents/package.json and installed
//! by tests/run-all.sh with `npm ci --ignore-scripts`) headless against a running router:
//! `codex exec` in a temp working dir, with its own temp `CODEX_HOME` and `HOME`, the ARouter
//! key passed through `env_key`. Codex's bwrap/Landlock sandbox cannot start inside containers,
//! so runs use `--dangerously-bypass-approvals-and-sandbox` (the working dir is a throwaway).

use std::path::{Path, PathBuf};
use std::time::Duration;
use tempfile::TempDir;

/// How long one `codex exec` may take.
const RUN_TIMEOUT: Duration = Duration::from_secs(120);

/// The recommended Codex configuration for ARouter (README.md shows the same). `web_search` is
/// off because hosted web search runs only on OpenAI's own API; a custom provider id (not
/// `openai`) keeps Codex from calling OpenAI-only endpoints such as remote compaction.
pub fn config_toml(base_url: &str, model: &str) -> String {
    format!(
        "model = \"{model}\"\nmodel_provider = \"arouter\"\nweb_search = \"disabled\"\n\n\
         [model_providers.arouter]\nname = \"ARouter\"\nbase_url = \"{base_url}/v1\"\n\
         env_key = \"AROUTER_API_KEY\"\nwire_api = \"responses\"\n"
    )
}

/// The installed CLI, when tests/agents has been installed.
pub fn binary() -> Option<PathBuf> {
    if let Ok(p) = std::env::var("AROUTER_CODEX_BIN") {
        return Some(PathBuf::from(p));
    }
    let bin = Path::new(env!("CARGO_MANIFEST_DIR")).join("agents/node_modules/.bin/codex");
    bin.exists().then_some(bin)
}

/// One finished `codex exec`.
#[derive(Debug)]
pub struct CodexRun {
    pub success: bool,
    pub stdout: String,
    pub stderr: String,
    /// The working dir Codex ran in (kept until this value drops).
    pub workdir: PathBuf,
    _dirs: (TempDir, TempDir),
}

impl CodexRun {
    pub fn describe(&self) -> String {
        format!(
            "codex exited {}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            if self.success { "ok" } else { "with failure" },
            self.stdout,
            self.stderr
        )
    }
}

/// `codex exec --skip-git-repo-check --dangerously-bypass-approvals-and-sandbox <prompt>`
/// against `base_url` (the router's root URL) as `model`.
pub async fn exec(bin: &Path, base_url: &str, key: &str, model: &str, prompt: &str) -> CodexRun {
    let home = tempfile::Builder::new()
        .prefix("arouter-codex-home-")
        .tempdir()
        .expect("codex home");
    let work = tempfile::Builder::new()
        .prefix("arouter-codex-work-")
        .tempdir()
        .expect("codex workdir");
    let codex_home = home.path().join("codex");
    std::fs::create_dir_all(&codex_home).expect("CODEX_HOME");
    std::fs::write(codex_home.join("config.toml"), config_toml(base_url, model))
        .expect("codex config.toml");
    let mut cmd = tokio::process::Command::new(bin);
    cmd.args([
        "exec",
        "--skip-git-repo-check",
        "--dangerously-bypass-approvals-and-sandbox",
        prompt,
    ])
    .current_dir(work.path())
    .env_clear()
    .env("PATH", std::env::var("PATH").unwrap_or_default())
    .env("HOME", home.path())
    .env("CODEX_HOME", &codex_home)
    .env("AROUTER_API_KEY", key)
    .env("NO_COLOR", "1")
    .env("RUST_LOG", "error")
    .stdin(std::process::Stdio::null())
    .kill_on_drop(true);
    let out = tokio::time::timeout(RUN_TIMEOUT, cmd.output())
        .await
        .expect("codex exec timed out")
        .expect("running codex");
    CodexRun {
        success: out.status.success(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        workdir: work.path().to_path_buf(),
        _dirs: (home, work),
    }
}
