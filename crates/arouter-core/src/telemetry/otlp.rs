//! OTLP/JSON encoding of spans (`ExportTraceServiceRequest`, the protobuf JSON mapping the
//! OTLP/HTTP spec asks for): ids as lowercase hex, enums as integers, 64-bit integers as
//! decimal strings.

use super::{Kind, Span, Value};
use serde_json::{json, Value as Json};

/// The schema URL of the semantic conventions the attributes follow.
pub fn schema_url() -> String {
    format!(
        "https://opentelemetry.io/schemas/{}",
        crate::metrics::SEMCONV
    )
}

fn any_value(v: &Value) -> Json {
    match v {
        Value::Str(s) => json!({"stringValue": s}),
        Value::Int(i) => json!({"intValue": i.to_string()}),
        Value::F64(f) => json!({"doubleValue": f}),
        Value::Bool(b) => json!({"boolValue": b}),
        Value::Strs(v) => {
            json!({"arrayValue": {"values": v.iter().map(|s| json!({"stringValue": s})).collect::<Vec<_>>()}})
        }
    }
}

fn span(s: &Span) -> Json {
    let mut j = json!({
        "traceId": hex::encode(s.trace_id),
        "spanId": hex::encode(s.span_id),
        "name": s.name,
        // SPAN_KIND_SERVER = 2, SPAN_KIND_CLIENT = 3.
        "kind": match s.kind { Kind::Server => 2, Kind::Client => 3 },
        "startTimeUnixNano": s.start_ns.to_string(),
        "endTimeUnixNano": s.end_ns.to_string(),
        "attributes": s.attributes.iter().map(|(k, v)| json!({"key": k, "value": any_value(v)})).collect::<Vec<_>>(),
        // STATUS_CODE_UNSET = 0, STATUS_CODE_ERROR = 2.
        "status": match &s.error {
            Some(m) => json!({"code": 2, "message": m}),
            None => json!({"code": 0}),
        },
    });
    if let Some(p) = s.parent {
        j["parentSpanId"] = json!(hex::encode(p));
    }
    j
}

/// One export request body for `spans`.
pub fn encode(spans: &[Span]) -> Vec<u8> {
    let body = json!({
        "resourceSpans": [{
            "resource": {"attributes": [
                {"key": "service.name", "value": {"stringValue": "arouter"}},
                {"key": "service.version", "value": {"stringValue": env!("CARGO_PKG_VERSION")}},
            ]},
            "scopeSpans": [{
                "scope": {"name": "arouter", "version": env!("CARGO_PKG_VERSION")},
                "schemaUrl": schema_url(),
                "spans": spans.iter().map(span).collect::<Vec<_>>(),
            }],
            "schemaUrl": schema_url(),
        }]
    });
    serde_json::to_vec(&body).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_ids_as_hex_and_int64_as_strings() {
        let s = Span {
            trace_id: [0xab; 16],
            span_id: [1; 8],
            parent: Some([2; 8]),
            name: "chat m".into(),
            kind: Kind::Client,
            start_ns: 1,
            end_ns: 2,
            attributes: vec![
                ("gen_ai.usage.input_tokens", Value::Int(7)),
                (
                    "gen_ai.response.finish_reasons",
                    Value::Strs(vec!["stop".into()]),
                ),
            ],
            error: Some("boom".into()),
        };
        let v: Json = serde_json::from_slice(&encode(&[s])).unwrap();
        let sp = &v["resourceSpans"][0]["scopeSpans"][0]["spans"][0];
        assert_eq!(sp["traceId"], "abababababababababababababababab");
        assert_eq!(sp["spanId"], "0101010101010101");
        assert_eq!(sp["parentSpanId"], "0202020202020202");
        assert_eq!(sp["kind"], 3);
        assert_eq!(sp["startTimeUnixNano"], "1");
        assert_eq!(sp["attributes"][0]["value"]["intValue"], "7");
        assert_eq!(
            sp["attributes"][1]["value"]["arrayValue"]["values"][0]["stringValue"],
            "stop"
        );
        assert_eq!(sp["status"]["code"], 2);
    }
}
