//! The real Codex CLI (`codex exec`, headless) against the `arouter` binary, with mock upstreams
//! of every kind: an OpenAI Responses upstream (relayed), an OpenAI Chat-only upstream, and
//! Anthropic and Gemini (translated). Each run is a two-turn agent loop: the model calls Codex's
//! shell tool, Codex runs the command and sends its output back, the model answers.

use arouter_tests::{codex, Behavior, MockUpstream, RouterProcess, Vendor};
use serde_json::json;

/// What the command prints: `printf 'codex-%s' $((4700+11))`. The call's arguments do not
/// contain it, so finding it in the next request proves the output went back.
const MARKER: &str = "codex-4711";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn codex_exec_runs_a_shell_tool_loop_on_every_provider_kind() {
    let Some(bin) = codex::binary() else {
        assert!(
            std::env::var("AROUTER_AGENT_TESTS").as_deref() != Ok("1"),
            "AROUTER_AGENT_TESTS=1 but tests/agents is not installed (npm ci --ignore-scripts)"
        );
        eprintln!("skipped: Codex CLI not installed (run tests/run-all.sh)");
        return;
    };
    let kinds = [
        ("oar", Vendor::OpenAi, "gpt-5-codex", true),
        ("oa", Vendor::OpenAi, "gpt-4o-mini", false),
        ("an", Vendor::Anthropic, "claude-sonnet-4-5", false),
        ("gm", Vendor::Gemini, "gemini-2.5-flash", false),
    ];
    let mut mocks = Vec::new();
    let mut cfg = String::new();
    for (id, vendor, _, responses) in kinds {
        let mock = MockUpstream::start(vendor).await;
        cfg.push_str(&mock.provider_toml(id, None));
        if responses {
            cfg.push_str("wire = \"responses\"\n");
        }
        mocks.push(mock);
    }
    let router = RouterProcess::start(&cfg).await;
    for ((id, _, model, _), mock) in kinds.iter().zip(&mocks) {
        let cmd = "printf 'codex-%s' $((4700+11)) > proof.txt && cat proof.txt";
        mock.script([
            Behavior::tool_call("exec_command", &json!({"cmd": cmd})),
            Behavior::text("All done: the shell ran."),
        ]);
        let run = codex::exec(
            &bin,
            &router.base_url,
            &router.app_key,
            &format!("{id}/{model}"),
            "Create proof.txt with the marker, then tell me you are done.",
        )
        .await;
        let ctx = format!(
            "{id}: {}\n--- router ---\n{}",
            run.describe(),
            router.stderr_log()
        );
        assert!(run.success, "{ctx}");
        assert!(run.stdout.contains("All done"), "{ctx}");
        let proof = std::fs::read_to_string(run.workdir.join("proof.txt")).unwrap_or_default();
        assert_eq!(proof.trim(), MARKER, "{ctx}");
        let requests = mock.requests();
        assert!(
            requests.len() >= 2,
            "{id}: {} upstream requests\n{ctx}",
            requests.len()
        );
        // The second turn carries the command's output back to the model.
        let second = String::from_utf8_lossy(&requests[1].body);
        assert!(
            second.contains(MARKER),
            "{id}: tool output not sent back: {second}"
        );
        if *id == "oar" {
            assert_eq!(requests[1].path_only(), "/v1/responses");
        }
    }
}
