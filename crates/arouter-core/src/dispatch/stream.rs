//! The streaming half of an attempt: relays one upstream stream to the client, same dialect
//! event by event ([`NativeStream`]) or translated through the hub ([`HubEncoder`]).

use super::attempts::{self, Attempts};
use super::{HubEncoder, Job, Mode, NativeStream, Outcome, Prepared};
use crate::catalog::{pusd_to_usd, Pricing};
use crate::error::{ApiError, ErrorKind};
use crate::estimate;
use crate::http::respond::Out;
use crate::model::StreamEvent;
use crate::providers;
use crate::record::Recorder;
use crate::routing::Candidate;
use crate::sse::{SseDecoder, SseEvent};
use crate::upstream;
use axum::body::Bytes;
use serde_json::Value;
use std::time::Duration;
use tokio::sync::mpsc;

impl Job {
    /// Runs the attempts of a streaming request, sending frames to `tx`.
    pub(super) async fn drive(self, mut rec: Recorder, tx: mpsc::Sender<Out>) {
        let mut attempts = Attempts::new(&self.candidates);
        while let Some(cand) = attempts.current() {
            let started = async {
                let p = self.prepare(cand).await?;
                rec.attempt(&cand.provider, &cand.id(), &p.pricing);
                self.reserve(&p, &mut rec).await?;
                let resp = attempts::send(&self.ctx, p.provider, &p.request).await?;
                Ok::<_, ApiError>((resp, p))
            }
            .await;
            match started {
                Ok((resp, p)) => {
                    self.pump(cand, resp, p, rec, tx).await;
                    return;
                }
                Err(e) => {
                    if !attempts.failed(e, Some(&mut rec)).await {
                        break;
                    }
                }
            }
        }
        let e = attempts.error();
        rec.done(e.status, Some(&e), None);
        let _ = tx.send(Out::Fail(e)).await;
    }

    /// Relays one upstream stream to the client. Client gone → stop (dropping the upstream
    /// response cancels it) and the recorder keeps the usage seen so far, completed with an
    /// estimate of what was streamed after it (the row is then marked `estimated`).
    async fn pump(
        &self,
        cand: &Candidate,
        resp: upstream::Response,
        p: Prepared<'_>,
        mut rec: Recorder,
        tx: mpsc::Sender<Out>,
    ) {
        let idle = Duration::from_secs(p.provider.idle_timeout_secs);
        let ids = self.ids(cand, &p.mode);
        let mut relay = match p.mode {
            Mode::Native => Relay::Native(self.codec.native_stream(&ids)),
            Mode::Hub { kind, responses } => Relay::Hub {
                decoder: if responses {
                    Box::new(crate::dialects::openai_responses::Decoder::new(
                        &cand.provider,
                    ))
                } else {
                    providers::stream_decoder(kind, &cand.provider)
                },
                encoder: self.codec.encoder(&ids),
                outcome: Outcome::default(),
            },
        };
        rec.stream_began(&p.pricing, estimate::prompt_tokens(self.codec.hub()));
        let store = rec.stores_content();
        let mut transcript = Transcript::default();
        let mut sse = SseDecoder::new();
        let mut events: Vec<SseEvent> = Vec::new();
        let mut values: Vec<Value> = Vec::new();
        let mut body = resp.into_body();
        let outcome: Result<(), ApiError> = loop {
            let chunk = match tokio::time::timeout(idle, upstream::next_chunk(&mut body)).await {
                Err(_) => {
                    break Err(ApiError::new(
                        ErrorKind::Timeout,
                        format!("{}: stream stalled for {}s", cand.provider, idle.as_secs()),
                    ))
                }
                Ok(Some(Err(e))) => break Err(upstream::transport_error(p.provider, &e)),
                Ok(Some(Ok(c))) => Some(c),
                Ok(None) => None,
            };
            match &chunk {
                Some(c) => sse.push(c, &mut events),
                None => sse.finish(&mut events),
            }
            let mut failed = None;
            // Per event, so a usage count is matched with the text it covers (a client that
            // leaves is charged an estimate for the text after the last count).
            for ev in events.drain(..) {
                let from = values.len();
                let r = relay.event(&ev, &p.pricing, &mut values);
                rec.relayed(&values[from..], relay.outcome().usage, &p.pricing);
                if let Err(e) = r {
                    failed = Some(e);
                    break;
                }
            }
            if failed.is_none() && chunk.is_none() {
                let from = values.len();
                failed = relay.end(&mut values).err();
                rec.relayed(&values[from..], relay.outcome().usage, &p.pricing);
            }
            if !values.is_empty() {
                rec.first_token();
            }
            for v in values.drain(..) {
                let frame = self.codec.frame(&v);
                if store {
                    transcript.keep(v, frame.len());
                }
                if tx.send(Out::Frame(frame)).await.is_err() {
                    return; // client gone: `rec` drops and records what it has
                }
            }
            if let Some(e) = failed {
                break Err(e);
            }
            if chunk.is_none() {
                break Ok(());
            }
        };
        let result = relay.outcome();
        rec.usage(result.usage, &p.pricing);
        rec.finish_reason(result.finish.clone(), result.native_finish.clone());
        match outcome {
            Ok(()) => {
                if let Relay::Hub { encoder, .. } = &mut relay {
                    let cost = p.pricing.prices.cost_pusd(&result.usage);
                    encoder.finish(pusd_to_usd(cost), &mut values);
                }
                let mut frames: Vec<Bytes> = values.iter().map(|v| self.codec.frame(v)).collect();
                if store {
                    for (v, f) in values.drain(..).zip(&frames) {
                        transcript.keep(v, f.len());
                    }
                }
                frames.extend(self.codec.done_frame());
                // Record before the last bytes go out: once the client has the whole body a
                // graceful shutdown may stop this task.
                rec.done(200, None, store.then(|| transcript.stored(&*self.codec)));
                for frame in frames {
                    if tx.send(Out::Frame(frame)).await.is_err() {
                        return;
                    }
                }
            }
            Err(e) => {
                self.ctx.app.metrics.upstream_error(&cand.provider, &e);
                rec.finish_reason(Some("error".into()), result.native_finish);
                rec.done(
                    e.status,
                    Some(&e),
                    store.then(|| transcript.stored(&*self.codec)),
                );
                let _ = tx.send(Out::Fail(e)).await;
            }
        }
    }
}

/// Frame bytes of a stream kept in memory for the ledger at most. Past it only a truncation
/// marker is stored: the ledger caps each stored body at 4 MiB anyway, and this leaves room for
/// codecs that store much less than their frames (Responses keeps only the final response).
const MAX_TRANSCRIPT_BYTES: usize = 32 << 20;

/// What a stream sent, kept for the ledger within [`MAX_TRANSCRIPT_BYTES`].
#[derive(Default)]
struct Transcript {
    values: Vec<Value>,
    bytes: usize,
    truncated: bool,
}

impl Transcript {
    fn keep(&mut self, v: Value, frame_bytes: usize) {
        self.bytes += frame_bytes;
        if self.truncated {
            return;
        }
        if self.bytes > MAX_TRANSCRIPT_BYTES {
            self.truncated = true;
            self.values = Vec::new();
            return;
        }
        self.values.push(v);
    }

    fn stored(self, codec: &dyn super::Codec) -> crate::store::StoredJson {
        if self.truncated {
            return crate::store::StoredJson::truncated(self.bytes);
        }
        codec.stored(self.values)
    }
}

enum Relay {
    Native(Box<dyn NativeStream>),
    Hub {
        decoder: Box<dyn providers::StreamDecoder>,
        encoder: Box<dyn HubEncoder>,
        outcome: Outcome,
    },
}

impl Relay {
    fn event(
        &mut self,
        ev: &SseEvent,
        pricing: &Pricing,
        out: &mut Vec<Value>,
    ) -> Result<(), ApiError> {
        match self {
            Relay::Native(n) => n.event(ev, pricing, out),
            Relay::Hub {
                decoder,
                encoder,
                outcome,
            } => {
                let mut hub = Vec::new();
                let r = decoder.event(ev, &mut hub);
                encode_all(&hub, encoder.as_mut(), outcome, out);
                r
            }
        }
    }

    fn end(&mut self, out: &mut Vec<Value>) -> Result<(), ApiError> {
        match self {
            Relay::Native(n) => n.end(out),
            Relay::Hub {
                decoder,
                encoder,
                outcome,
            } => {
                let mut hub = Vec::new();
                let r = decoder.finish(&mut hub);
                encode_all(&hub, encoder.as_mut(), outcome, out);
                r
            }
        }
    }

    fn outcome(&self) -> Outcome {
        match self {
            Relay::Native(n) => n.outcome(),
            Relay::Hub { outcome, .. } => outcome.clone(),
        }
    }
}

fn encode_all(
    hub: &[StreamEvent],
    encoder: &mut dyn HubEncoder,
    outcome: &mut Outcome,
    out: &mut Vec<Value>,
) {
    for e in hub {
        match e {
            StreamEvent::Usage(u) => outcome.usage = *u,
            StreamEvent::Finish { reason, native, .. } => {
                outcome.finish = Some(reason.as_str().to_string());
                outcome.native_finish = native.clone();
            }
            _ => {}
        }
        encoder.event(e, out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_transcript_past_its_budget_keeps_only_a_marker() {
        let mut t = Transcript::default();
        t.keep(Value::from("a"), 10);
        assert_eq!(t.values.len(), 1);
        t.keep(Value::from("b"), MAX_TRANSCRIPT_BYTES);
        assert!(t.truncated && t.values.is_empty());
        t.keep(Value::from("c"), 5);
        assert!(t.values.is_empty());
        assert_eq!(t.bytes, MAX_TRANSCRIPT_BYTES + 15);
        assert_eq!(
            crate::store::StoredJson::truncated(t.bytes).to_value(),
            serde_json::json!({"arouter_truncated": true, "original_bytes": MAX_TRANSCRIPT_BYTES + 15})
        );
    }
}
