//! Building a request's ledger rows: one per attempt, the served one billed. A `Recorder`
//! hands its row to the store exactly once, also when the request is dropped midway (client
//! gone), so no request escapes the ledger.

use crate::app::App;
use crate::auth::Caller;
use crate::budget::Hold;
use crate::catalog::{Prices, Pricing};
use crate::error::ApiError;
use crate::model::Usage;
use crate::store::{StoredJson, UsageRecord};
use bytes::Bytes;
use std::sync::Arc;
use std::time::Instant;

pub use crate::clock::now_ms;

/// A new generation id, `gen-<unix seconds>-<20 random alphanumerics>`.
pub fn new_generation_id() -> String {
    use rand::distributions::{Alphanumeric, DistString};
    format!(
        "gen-{}-{}",
        now_ms() / 1000,
        Alphanumeric.sample_string(&mut rand::thread_rng(), 20)
    )
}

/// A generation id in Anthropic's `msg_…` form (the Anthropic surface's ids: the message's
/// `id`, `X-Generation-Id` and the ledger row share it).
pub fn new_message_id() -> String {
    use rand::distributions::{Alphanumeric, DistString};
    format!(
        "msg_{}",
        Alphanumeric.sample_string(&mut rand::thread_rng(), 24)
    )
}

/// What a request's ledger row starts with.
pub struct Start<'a> {
    /// The dialect it arrived in (`openai`, `anthropic`, `gemini`, `proxy`).
    pub surface: &'a str,
    pub endpoint: &'a str,
    pub id: String,
    pub requested_model: String,
    pub body: Option<&'a Bytes>,
    pub streamed: bool,
}

pub struct Recorder {
    app: Arc<App>,
    rec: Option<UsageRecord>,
    started: Instant,
    attempts: u32,
    store_content: bool,
    /// The budget reservation of the current attempt, settled to the row's cost.
    hold: Option<Hold>,
    /// Set while an upstream stream is relayed: what a client leaving midway is charged.
    partial: Option<Partial>,
    /// For `/metrics`: the key's name (not `X-Title`, which any caller sets), the surface and
    /// operation as static labels, and whether the catalog knows the served model.
    key_name: String,
    surface: &'static str,
    operation: &'static str,
    in_catalog: bool,
    /// The request's spans when OTLP tracing is on.
    trace: Option<Box<crate::telemetry::trace::Trace>>,
}

/// A stream in progress, for the charge of a client that leaves before the upstream reports
/// its usage: the output streamed since the last reported count, estimated from its text, and
/// the prompt (estimated) if no input count came.
struct Partial {
    prices: Prices,
    prompt_tokens: u64,
    /// Text bytes streamed since the upstream last reported a higher output count.
    uncounted_bytes: usize,
}

impl Partial {
    /// Whether any output reached the client (counted by the upstream or not yet).
    fn streamed_any(&self, r: &UsageRecord) -> bool {
        self.uncounted_bytes > 0 || r.usage.output_tokens > 0
    }

    /// Completes the row's usage with the estimate; marks it `estimated` if anything was added.
    fn charge(&self, r: &mut UsageRecord) {
        let mut u = r.usage;
        u.output_tokens += crate::estimate::text_tokens(self.uncounted_bytes);
        if u.input_tokens == 0 {
            u.input_tokens = self.prompt_tokens;
        }
        if u != r.usage {
            r.usage = u;
            r.cost_pusd = self.prices.cost_pusd(&u);
            r.estimated = true;
        }
    }
}

impl Recorder {
    /// Starts the ledger row of a request; the raw body is kept (shared, not copied) when
    /// content logging (`store_content`) is on.
    pub fn new(app: &Arc<App>, caller: &Caller, store_content: bool, start: Start<'_>) -> Recorder {
        let Start {
            surface,
            endpoint,
            id,
            requested_model,
            body,
            streamed,
        } = start;
        let app = app.clone();
        let request_body = body
            .filter(|_| store_content)
            .map(|b| StoredJson(b.clone()));
        app.request_started();
        let key_name = caller.key.name.clone();
        let trace = app.tracer.enabled().then(|| {
            Box::new(crate::telemetry::trace::Trace::start(
                crate::metrics::operation_name(endpoint),
                app.tracer.content(),
            ))
        });
        let (surface, operation) = (
            crate::metrics::surface_label(surface),
            crate::metrics::operation_name(endpoint),
        );
        Recorder {
            app,
            rec: Some(UsageRecord {
                id,
                created_ms: now_ms(),
                app: caller.app.clone(),
                key_hash: caller.key.hash.clone(),
                surface: surface.into(),
                endpoint: endpoint.into(),
                requested_model,
                streamed,
                status: 499,
                error: Some("client disconnected".into()),
                request_body,
                ..Default::default()
            }),
            started: Instant::now(),
            attempts: 0,
            store_content,
            hold: None,
            partial: None,
            key_name,
            surface,
            operation,
            in_catalog: false,
            trace,
        }
    }

    /// Sets what was asked for once it is known (the provider proxy learns it late).
    pub fn set_request(&mut self, requested_model: &str, body: Option<StoredJson>) {
        let store = self.store_content;
        if let Some(r) = self.rec.as_mut() {
            r.requested_model = requested_model.to_string();
            if store {
                if let Some(b) = body {
                    r.request_body = Some(b);
                }
            }
        }
    }

    /// Whether the answer is a stream (the provider proxy learns it from the response).
    pub fn streamed(&mut self, streamed: bool) {
        if let Some(r) = self.rec.as_mut() {
            r.streamed = streamed;
        }
    }

    /// Attaches the current attempt's budget reservation; a previous one is released.
    pub fn hold(&mut self, hold: Option<Hold>) {
        self.hold = hold;
    }

    /// Writes the final row and settles the budget reservation to its cost.
    fn write(&mut self, r: UsageRecord) {
        if let Some(h) = self.hold.take() {
            h.settle(r.cost_pusd);
        }
        self.observe(&r);
        if let Some(t) = self.trace.take() {
            self.app.tracer.submit(t.finish(&r, &self.key_name));
        }
        self.app.store.record(r);
        self.app.request_recorded();
    }

    /// Counts the finished request for `/metrics`.
    fn observe(&self, r: &UsageRecord) {
        let cfg = self.app.config();
        let provider = crate::metrics::provider_label(&cfg, &r.provider);
        let model =
            crate::metrics::model_label(&cfg, &r.provider, &r.served_model, self.in_catalog);
        let ttft_us = r
            .ttft_ms
            .filter(|_| r.streamed)
            .map(|t| t.max(0) as u64 * 1000);
        self.app.metrics.observe(&crate::metrics::Observation {
            labels: crate::metrics::series::Labels {
                key: &self.key_name,
                model,
                provider,
                surface: self.surface,
                operation: self.operation,
                status: r.status,
            },
            usage: &r.usage,
            cost_pusd: r.cost_pusd,
            duration_us: self.started.elapsed().as_micros() as u64,
            ttft_us,
        });
    }

    pub fn metrics(&self) -> &crate::metrics::Metrics {
        &self.app.metrics
    }

    pub fn id(&self) -> &str {
        self.rec.as_ref().map_or("", |r| r.id.as_str())
    }

    pub fn elapsed_ms(&self) -> i64 {
        self.started.elapsed().as_millis() as i64
    }

    /// Sets which provider/model this attempt goes to.
    pub fn attempt(&mut self, provider: &str, served_model: &str, pricing: &Pricing) {
        if let Some(r) = self.rec.as_mut() {
            r.provider = provider.into();
            r.served_model = served_model.into();
            r.priced = pricing.priced;
            r.attempt = self.attempts;
        }
        self.in_catalog = pricing.info.is_some();
        if let Some(t) = self.trace.as_mut() {
            t.attempt(provider, served_model);
        }
        self.attempts += 1;
    }

    /// Writes a row for a failed attempt that another candidate will follow.
    pub fn failed_attempt(&mut self, err: &ApiError) {
        if let Some(t) = self.trace.as_mut() {
            t.attempt_failed(err);
        }
        if let Some(r) = self.rec.as_ref() {
            let mut row = r.clone();
            row.id = format!("{}-attempt{}", r.id, r.attempt);
            row.status = err.status;
            row.error = Some(err.message.clone());
            row.latency_ms = self.elapsed_ms();
            row.request_body = None;
            self.app.store.record(row);
        }
    }

    pub fn first_token(&mut self) {
        let t = self.elapsed_ms();
        if let Some(r) = self.rec.as_mut() {
            r.ttft_ms.get_or_insert(t);
        }
    }

    /// An upstream stream is being relayed from now on; `prompt_tokens` is the request's
    /// prompt estimate, charged if the client leaves before any input count arrives.
    pub fn stream_began(&mut self, pricing: &Pricing, prompt_tokens: u64) {
        self.partial = Some(Partial {
            prices: pricing.prices,
            prompt_tokens,
            uncounted_bytes: 0,
        });
    }

    /// Values just streamed to the client and the usage the upstream reported up to them.
    pub fn relayed(&mut self, values: &[serde_json::Value], usage: Usage, pricing: &Pricing) {
        if let Some(p) = self.partial.as_mut() {
            p.uncounted_bytes += values
                .iter()
                .map(crate::estimate::streamed_text_bytes)
                .sum::<usize>();
        }
        self.usage(usage, pricing);
    }

    /// Usage seen so far (kept if the client disconnects later).
    pub fn usage(&mut self, usage: Usage, pricing: &Pricing) {
        if let Some(r) = self.rec.as_mut() {
            if let Some(p) = self.partial.as_mut() {
                if usage.output_tokens > r.usage.output_tokens {
                    p.uncounted_bytes = 0;
                }
            }
            r.usage = usage;
            r.cost_pusd = pricing.prices.cost_pusd(&usage);
        }
    }

    pub fn finish_reason(&mut self, reason: Option<String>, native: Option<String>) {
        if let Some(r) = self.rec.as_mut() {
            r.finish_reason = reason;
            r.native_finish_reason = native;
        }
    }

    pub fn cost_pusd(&self) -> i64 {
        self.rec.as_ref().map_or(0, |r| r.cost_pusd)
    }

    /// Overrides `server.store_content` for this request: `Some(body)` keeps the request body
    /// (and later the response), `None` keeps no body at all (Responses' `store`).
    pub fn keep_content(&mut self, body: Option<&Bytes>) {
        self.store_content = body.is_some();
        if let Some(r) = self.rec.as_mut() {
            r.request_body = body.map(|b| StoredJson(b.clone()));
        }
    }

    /// Whether bodies are kept for this request (`server.store_content`).
    pub fn stores_content(&self) -> bool {
        self.store_content
    }

    /// Final outcome: success (with the response body if content is stored) or an error.
    pub fn done(
        &mut self,
        status: u16,
        error: Option<&ApiError>,
        response_body: Option<StoredJson>,
    ) {
        if let Some(mut r) = self.rec.take() {
            if error.is_some_and(crate::budget::is_refusal) {
                self.app
                    .metrics
                    .refused(&self.key_name, crate::metrics::Refusal::Budget);
            }
            // A stream the upstream broke off after text went out is charged for that text,
            // as a client that leaves is: the upstream's usage never came.
            if let Some(p) = self.partial.take().filter(|_| error.is_some()) {
                if p.streamed_any(&r) {
                    p.charge(&mut r);
                }
            }
            r.status = status;
            r.error = error.map(|e| e.message.clone());
            r.response_body = response_body.filter(|_| self.store_content);
            r.latency_ms = self.elapsed_ms();
            if error.is_none() && !r.provider.is_empty() {
                let (ttft, gen_ms) = match (r.streamed, r.ttft_ms) {
                    (true, Some(t)) => (Some(t), r.latency_ms - t),
                    _ => (None, r.latency_ms),
                };
                let h = &self.app.health;
                h.record_timing(&r.provider, ttft, r.usage.output_tokens, gen_ms);
            }
            self.write(r);
        }
    }
}

impl Drop for Recorder {
    fn drop(&mut self) {
        if let Some(mut r) = self.rec.take() {
            r.latency_ms = self.started.elapsed().as_millis() as i64;
            if let Some(p) = self.partial.take() {
                p.charge(&mut r);
            }
            self.write(r);
        }
    }
}
