//! Property tests over generated inputs (deterministic: a fixed-seed xorshift, so a failure
//! reproduces), next to the coverage-guided fuzz targets in fuzz/:
//! - the raw JSON member edit gives the same JSON as the tree edit;
//! - each dialect's conversions round-trip: a hub request built for a provider kind and read
//!   back by that dialect's inbound parser keeps its system text, turns, tool calls and
//!   results, tools and sampling parameters.

use arouter_core::config::{Config, ProviderKind};
use arouter_core::dialects::{anthropic, gemini, openai_chat};
use arouter_core::model::{ChatRequest, Message, Part, Role, Tool};
use arouter_core::providers::{build_chat, Target};
use arouter_core::raw_json::edited_object;
use serde_json::{json, Map, Value};

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
    fn chance(&mut self, one_in: usize) -> bool {
        self.below(one_in) == 0
    }
    /// Text that is awkward on the wire: quotes, escapes, newlines, multi-byte and astral
    /// characters, JSON-looking fragments. Never empty, never only whitespace.
    fn text(&mut self) -> String {
        const PIECES: &[&str] = &[
            "hello",
            " ",
            "\"",
            "\\",
            "\n",
            "\t",
            "é",
            "日本",
            "😀",
            "{\"a\":1}",
            "</s>",
            "\u{2028}",
            "0.1",
            "null",
            "word",
            "%20",
            "ß",
        ];
        let mut s = String::from("w");
        for _ in 0..self.below(12) {
            s.push_str(PIECES[self.below(PIECES.len())]);
        }
        s
    }
    fn ident(&mut self) -> String {
        let n = 3 + self.below(6);
        (0..n)
            .map(|_| (b'a' + self.below(26) as u8) as char)
            .collect()
    }
    fn json(&mut self, depth: usize) -> Value {
        match self.below(if depth == 0 { 5 } else { 7 }) {
            0 => Value::Null,
            1 => json!(self.chance(2)),
            2 => json!(self.next() as i64 >> self.below(60)),
            3 => json!((self.next() % 1_000_000) as f64 / 997.0),
            4 => json!(self.text()),
            5 => Value::Array((0..self.below(4)).map(|_| self.json(depth - 1)).collect()),
            _ => {
                let mut m = Map::new();
                for _ in 0..self.below(4) {
                    let k = self.text();
                    m.insert(k, self.json(depth - 1));
                }
                Value::Object(m)
            }
        }
    }
}

// ------------------------------------------------------------------ raw edit = tree edit

fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) if x.is_f64() || y.is_f64() => {
            let (x, y) = (
                x.as_f64().unwrap_or(f64::NAN),
                y.as_f64().unwrap_or(f64::NAN),
            );
            x == y || (x - y).abs() <= 1e-15 * x.abs().max(y.abs())
        }
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(x, y)| same(x, y))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .zip(y)
                    .all(|((kx, vx), (ky, vy))| kx == ky && same(vx, vy))
        }
        _ => a == b,
    }
}

#[test]
fn the_raw_member_edit_equals_the_tree_edit() {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let names = ["model", "stream", "provider", "usage", "messages", "a"];
    for case in 0..5000 {
        let mut m = Map::new();
        for _ in 0..rng.below(8) {
            let k = if rng.chance(2) {
                names[rng.below(names.len())].to_string()
            } else {
                rng.text()
            };
            m.insert(k, rng.json(3));
        }
        let base = Value::Object(m);
        let body = if rng.chance(2) {
            serde_json::to_vec(&base).unwrap()
        } else {
            serde_json::to_vec_pretty(&base).unwrap()
        };
        let mask = rng.below(64);
        let skip = |k: &str| {
            names
                .iter()
                .enumerate()
                .any(|(i, n)| mask & (1 << i) != 0 && *n == k)
        };
        let all = [
            ("model", json!("x/y")),
            ("stream", json!(true)),
            ("usage", json!({"include": true})),
        ];
        let set = &all[..rng.below(all.len() + 1)];
        let raw = edited_object(Some(&body), &base, &skip, set);
        let tree = edited_object(None, &base, &skip, set);
        let raw: Value = serde_json::from_slice(&raw).expect("raw edit is JSON");
        let tree: Value = serde_json::from_slice(&tree).expect("tree edit is JSON");
        assert!(same(&raw, &tree), "case {case}\nraw  {raw}\ntree {tree}");
    }
}

// ------------------------------------------------------------- dialect round trips

/// A conversation every dialect can carry: alternating turns starting with the user, one text
/// part each, optionally a tool call answered by its result.
fn hub_request(rng: &mut Rng) -> ChatRequest {
    let tools: Vec<Tool> = (0..rng.below(3))
        .map(|i| Tool {
            name: format!("{}_{i}", rng.ident()),
            description: Some(rng.text()),
            parameters: json!({"type": "object", "properties": {
                rng.ident(): {"type": "string", "description": rng.text()}}}),
            strict: None,
            cache_control: None,
        })
        .collect();
    let mut messages = vec![Message {
        role: Role::User,
        content: vec![Part::text(rng.text())],
    }];
    for turn in 0..rng.below(4) {
        if !tools.is_empty() && rng.chance(2) {
            let name = tools[rng.below(tools.len())].name.clone();
            let id = format!("call_{turn}_{}", rng.ident());
            messages.push(Message {
                role: Role::Assistant,
                content: vec![Part::ToolUse {
                    id: id.clone(),
                    name: name.clone(),
                    arguments: json!({"q": rng.text()}).to_string(),
                    signature: None,
                }],
            });
            messages.push(Message {
                role: Role::User,
                content: vec![Part::ToolResult {
                    tool_use_id: id,
                    name: Some(name),
                    content: vec![Part::text(rng.text())],
                    is_error: false,
                }],
            });
        } else {
            messages.push(Message {
                role: Role::Assistant,
                content: vec![Part::text(rng.text())],
            });
            messages.push(Message {
                role: Role::User,
                content: vec![Part::text(rng.text())],
            });
        }
    }
    ChatRequest {
        model: "m".into(),
        system: if rng.chance(2) {
            vec![Part::text(rng.text())]
        } else {
            Vec::new()
        },
        messages,
        tools,
        max_tokens: Some(1 + rng.below(4096) as u32),
        temperature: rng.chance(2).then(|| rng.below(11) as f64 / 10.0),
        top_p: rng.chance(2).then(|| (1 + rng.below(10)) as f64 / 10.0),
        stop: (0..rng.below(3)).map(|_| rng.text()).collect(),
        ..Default::default()
    }
}

/// What must survive a round trip, with the dialect's own freedoms normalised away: tool call
/// ids (Gemini has none), argument formatting, the order of members in JSON.
#[derive(Debug, PartialEq)]
enum Seen {
    Text(String),
    Call(String, Value),
    Result(String, String),
}

fn seen(req: &ChatRequest) -> Vec<(Role, Vec<Seen>)> {
    // A result names the function it answers, from the call with its id when the wire leaves
    // the name out (OpenAI's `tool` messages carry only the id).
    let calls: std::collections::HashMap<&str, &str> = req
        .messages
        .iter()
        .flat_map(|m| &m.content)
        .filter_map(|p| match p {
            Part::ToolUse { id, name, .. } => Some((id.as_str(), name.as_str())),
            _ => None,
        })
        .collect();
    req.messages
        .iter()
        .map(|m| {
            let parts = m
                .content
                .iter()
                .map(|p| match p {
                    Part::Text { text, .. } => Seen::Text(text.clone()),
                    Part::ToolUse {
                        name, arguments, ..
                    } => Seen::Call(
                        name.clone(),
                        serde_json::from_str(arguments).unwrap_or(Value::Null),
                    ),
                    Part::ToolResult {
                        content,
                        name,
                        tool_use_id,
                        ..
                    } => Seen::Result(
                        name.clone()
                            .or_else(|| calls.get(tool_use_id.as_str()).map(|n| n.to_string()))
                            .unwrap_or_default(),
                        unwrap_result(
                            content
                                .iter()
                                .map(|c| match c {
                                    Part::Text { text, .. } => text.as_str(),
                                    _ => "",
                                })
                                .collect(),
                        ),
                    ),
                    other => panic!("unexpected part {other:?}"),
                })
                .collect();
            (m.role, parts)
        })
        .collect()
}

/// Gemini's wire carries a text result as `{"result": text}` and reads the object back as
/// its JSON: the same information, one level down.
fn unwrap_result(text: String) -> String {
    match serde_json::from_str::<Value>(&text) {
        Ok(Value::Object(m)) if m.len() == 1 => match m.get("result") {
            Some(Value::String(s)) => s.clone(),
            _ => text,
        },
        _ => text,
    }
}

fn system_text(req: &ChatRequest) -> String {
    req.system
        .iter()
        .map(|p| match p {
            Part::Text { text, .. } => text.as_str(),
            _ => "",
        })
        .collect::<Vec<_>>()
        .join("\n\n")
}

fn read_back(kind: ProviderKind, body: &Value) -> ChatRequest {
    match kind {
        ProviderKind::OpenAi => openai_chat::inbound::to_internal(body),
        ProviderKind::Anthropic => anthropic::inbound::to_internal(body),
        ProviderKind::Gemini => gemini::inbound::to_internal(body, "m"),
    }
    .unwrap_or_else(|e| panic!("{kind:?} cannot read its own request back: {e:?}\n{body}"))
}

#[test]
fn each_dialect_round_trips_what_it_carries() {
    let cfg = Config::parse(
        "[providers.o]\nkind=\"openai\"\nbase_url=\"https://api.openai.com/v1\"\n\
         [providers.a]\nkind=\"anthropic\"\nbase_url=\"https://api.anthropic.com\"\n\
         [providers.g]\nkind=\"gemini\"\nbase_url=\"https://generativelanguage.googleapis.com\"\n",
    )
    .unwrap();
    let mut rng = Rng(0x2545_f491_4f6c_dd1d);
    for case in 0..1500 {
        let req = hub_request(&mut rng);
        for (id, kind) in [
            ("o", ProviderKind::OpenAi),
            ("a", ProviderKind::Anthropic),
            ("g", ProviderKind::Gemini),
        ] {
            let target = Target {
                provider: &cfg.providers[id],
                model: "m",
                api_key: Some("k"),
                default_max_tokens: 4096,
            };
            let up = build_chat(&req, &target)
                .unwrap_or_else(|e| panic!("case {case}: {kind:?} build failed: {e:?}"));
            let body: Value = serde_json::from_slice(&up.body).unwrap();
            let back = read_back(kind, &body);
            let ctx = || format!("case {case} via {kind:?}\nsent {body}");
            assert_eq!(seen(&back), seen(&req), "{}", ctx());
            assert_eq!(system_text(&back), system_text(&req), "{}", ctx());
            assert_eq!(back.max_tokens, req.max_tokens, "{}", ctx());
            assert_eq!(back.temperature, req.temperature, "{}", ctx());
            // Current Claude models reject temperature and top_p together: top_p is dropped.
            let top_p = match kind {
                ProviderKind::Anthropic if req.temperature.is_some() => None,
                _ => req.top_p,
            };
            assert_eq!(back.top_p, top_p, "{}", ctx());
            assert_eq!(back.stop, req.stop, "{}", ctx());
            let tools = |r: &ChatRequest| -> Vec<(String, Option<String>, Value)> {
                r.tools
                    .iter()
                    .map(|t| (t.name.clone(), t.description.clone(), t.parameters.clone()))
                    .collect()
            };
            assert_eq!(tools(&back), tools(&req), "{}", ctx());
        }
    }
}
