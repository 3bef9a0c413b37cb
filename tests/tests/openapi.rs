//! `GET /openapi.yaml` is a valid OpenAPI document, every route the router registers is in it,
//! and every operation in it reaches a handler.

mod common;

use arouter_tests::RouterProcess;
use common::client;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// Path literals passed to `.route(` in a source file (`{prefix}` expanded to both prefixes).
fn routes_in(src: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = src;
    while let Some(i) = rest.find(".route(") {
        rest = &rest[i + ".route(".len()..];
        let t = rest.trim_start();
        let t = t.strip_prefix("&format!(").unwrap_or(t).trim_start();
        let Some(t) = t.strip_prefix('"') else {
            continue;
        };
        let Some(end) = t.find('"') else { continue };
        let lit = t[..end].replace("{{", "{").replace("}}", "}");
        if let Some(tail) = lit.strip_prefix("{prefix}") {
            out.push(format!("/v1{tail}"));
            out.push(format!("/api/v1{tail}"));
        } else {
            out.push(lit);
        }
    }
    out
}

fn sources() -> Vec<PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                walk(&p, out);
            } else if p.extension().is_some_and(|x| x == "rs") {
                out.push(p);
            }
        }
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf();
    let mut files = Vec::new();
    for dir in ["crates/arouter-core/src/http", "crates/arouter/src"] {
        walk(&root.join(dir), &mut files);
    }
    files
}

fn doc_path(axum_path: &str) -> String {
    axum_path.replace("{*", "{")
}

#[tokio::test]
async fn openapi_document_is_valid_and_complete() {
    let router = RouterProcess::start("").await;
    let resp = client()
        .get(router.url("/openapi.yaml"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert!(resp.headers()["content-type"]
        .to_str()
        .unwrap()
        .contains("yaml"));
    let yaml = resp.text().await.unwrap();
    let doc = arouter_core::http::openapi::document();
    assert_eq!(yaml, arouter_core::http::openapi::to_yaml(&doc));
    let documented: BTreeSet<String> = doc["paths"].as_object().unwrap().keys().cloned().collect();

    // Every registered route is documented.
    let mut registered = BTreeSet::new();
    for f in sources() {
        let src = std::fs::read_to_string(&f).unwrap();
        // Routers built inside `#[cfg(test)]` modules are test fixtures, not the product's.
        let product = src.split("#[cfg(test)]").next().unwrap_or_default();
        registered.extend(routes_in(product));
    }
    assert!(
        registered.len() > 40,
        "route scan found too little: {registered:?}"
    );
    let missing: Vec<_> = registered
        .iter()
        .filter(|r| !documented.contains(&doc_path(r)))
        .collect();
    assert!(
        missing.is_empty(),
        "routes missing from openapi.yaml: {missing:?}"
    );

    // Every documented operation reaches a handler (not the router's 404 / 405).
    for op in arouter_core::http::openapi::OPS {
        let rest = if op.method == "post" {
            "oa/gpt-4o-mini:countTokens"
        } else {
            "oa/gpt-4o-mini"
        };
        let path = op
            .path
            .replace("{*rest}", rest)
            .replace("{*path}", "index.html")
            .replace("{*model}", "m")
            .replace(['{', '}'], "");
        let method = reqwest::Method::from_bytes(op.method.to_uppercase().as_bytes()).unwrap();
        let resp = client()
            .request(method, router.url(&path))
            .bearer_auth(&router.admin_key)
            .header("content-type", "application/json")
            .body("{}")
            .send()
            .await
            .unwrap();
        let status = resp.status().as_u16();
        let body = resp.text().await.unwrap_or_default();
        assert!(status != 405, "{} {path}: 405", op.method);
        assert!(
            !body.contains("No route for"),
            "{} {path}: not routed",
            op.method
        );
    }

    // And the document validates against the OpenAPI 3.1 schema.
    let py = std::env::var("AROUTER_PYTHON")
        .ok()
        .filter(|p| !p.is_empty())
        .or_else(|| {
            let venv = Path::new(env!("CARGO_MANIFEST_DIR")).join(".venv/bin/python");
            venv.exists().then(|| venv.display().to_string())
        });
    match py {
        Some(py) => {
            let file = router.data_dir.join("openapi.yaml");
            std::fs::write(&file, &yaml).unwrap();
            let out = std::process::Command::new(py)
                .args([
                    "-c",
                    "import sys, yaml; from openapi_spec_validator import validate; validate(yaml.safe_load(open(sys.argv[1])))",
                ])
                .arg(&file)
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        None => assert!(
            std::env::var("AROUTER_TEST_KEYRING").is_err(),
            "AROUTER_PYTHON must be set when running the full suite"
        ),
    }
}
