//! The attempt policy every operation shares (chat, completions, embeddings, messages, token
//! counts, generateContent, batch requests): try each candidate in order; a retryable failure
//! (connect error, timeout, 408/429/5xx/529) moves on, never after the first byte reached the
//! client; the last candidate's overload answers are retried with backoff. [`send`] is the one
//! place an attempt reaches an upstream: it records provider health (cooldown) and forgets a
//! cached credential the upstream rejected (401/403), so the next attempt re-reads it.

use crate::config::ProviderConfig;
use crate::ctx::Ctx;
use crate::error::{ApiError, ErrorKind};
use crate::providers::UpstreamRequest;
use crate::record::Recorder;
use crate::routing::Candidate;
use crate::upstream;
use serde_json::{json, Value};
use std::time::Duration;

/// Where a request is in its candidate list, and what failed so far.
pub struct Attempts<'a> {
    candidates: &'a [Candidate],
    i: usize,
    retries: u32,
    errors: Vec<(String, ApiError)>,
}

impl<'a> Attempts<'a> {
    pub fn new(candidates: &'a [Candidate]) -> Self {
        Attempts {
            candidates,
            i: 0,
            retries: 0,
            errors: Vec::new(),
        }
    }

    /// The candidate to try now; `None` once the policy has stopped.
    pub fn current(&self) -> Option<&'a Candidate> {
        self.candidates.get(self.i)
    }

    /// Notes a failed attempt of the current candidate; waits when the policy retries it.
    /// `false`: stop, no attempt is left (then [`Attempts::error`]).
    pub async fn failed(&mut self, e: ApiError, rec: Option<&mut Recorder>) -> bool {
        let Some(cand) = self.current() else {
            return false;
        };
        let next = after_failure(&e, self.retries, self.i + 1 < self.candidates.len());
        if !matches!(next, Next::Stop) {
            tracing::warn!(provider = %cand.provider, "attempt failed ({next:?}): {}", e.message);
            if let Some(rec) = rec {
                rec.failed_attempt(&e);
                let m = rec.metrics();
                match next {
                    Next::Retry(_) => m.retry(&cand.provider),
                    _ => m.fallback(&cand.provider),
                }
            }
        }
        self.errors.push((cand.id(), e));
        match next {
            Next::Retry(wait) => {
                self.retries += 1;
                tokio::time::sleep(wait).await;
                true
            }
            Next::Fallback => {
                (self.i, self.retries) = (self.i + 1, 0);
                true
            }
            Next::Stop => {
                self.i = self.candidates.len();
                false
            }
        }
    }

    /// The error for the client: every attempt listed.
    pub fn error(self) -> ApiError {
        all_failed(self.errors)
    }
}

/// Sends one attempt's request, recording provider health; on 401/403 forgets a cached
/// keychain credential (it may have changed).
pub async fn send(
    ctx: &Ctx,
    provider: &ProviderConfig,
    request: &UpstreamRequest,
) -> Result<upstream::Response, ApiError> {
    let r = upstream::send(ctx.app.http(), provider, request).await;
    let health = &ctx.app.health;
    match &r {
        Ok(_) => health.record_success(&provider.id),
        Err(e) => {
            if e.status == 401 || e.status == 403 {
                ctx.app.forget_credential(&provider.id);
            }
            if e.is_retryable() {
                health.record_failure(&provider.id, &e.message);
            }
            ctx.app.metrics.upstream_error(&provider.id, e);
        }
    }
    r
}

/// Retries on the same provider before giving up on the last candidate.
const MAX_SAME_PROVIDER_RETRIES: u32 = 2;
/// A `Retry-After` longer than this is passed to the client instead of waited out.
const MAX_RETRY_AFTER_SECS: u64 = 5;

/// What to do after a failed attempt.
#[derive(Debug)]
enum Next {
    /// Try the same candidate again after a pause.
    Retry(Duration),
    /// Move to the next candidate.
    Fallback,
    Stop,
}

/// Client errors stop; retryable failures fall back while candidates remain. On the last
/// candidate, overload answers (429/503/529) are retried with jittered exponential backoff,
/// honouring a short `Retry-After`.
fn after_failure(e: &ApiError, retries: u32, more_candidates: bool) -> Next {
    if !e.is_retryable() {
        return Next::Stop;
    }
    if more_candidates {
        return Next::Fallback;
    }
    if retries >= MAX_SAME_PROVIDER_RETRIES || !matches!(e.status, 429 | 503 | 529) {
        return Next::Stop;
    }
    match e.retry_after {
        Some(secs) if secs > MAX_RETRY_AFTER_SECS => Next::Stop,
        Some(secs) => Next::Retry(Duration::from_secs(secs)),
        None => {
            let base = 250u64 << retries;
            Next::Retry(Duration::from_millis(base + rand::random::<u64>() % base))
        }
    }
}

/// One error listing every attempt; status of the last failure.
pub fn all_failed(mut errors: Vec<(String, ApiError)>) -> ApiError {
    if errors.len() <= 1 {
        return errors.pop().map(|(_, e)| e).unwrap_or_else(|| {
            ApiError::new(
                ErrorKind::Unavailable,
                "no provider could serve this request",
            )
        });
    }
    let Some((_, last)) = errors.last() else {
        return ApiError::new(
            ErrorKind::Unavailable,
            "no provider could serve this request",
        );
    };
    let mut e = last.clone();
    let attempts: Vec<Value> = errors
        .iter()
        .map(|(model, e)| json!({"model": model, "status": e.status, "message": e.message}))
        .collect();
    let summary = errors
        .iter()
        .map(|(model, e)| format!("{model}: {} ({})", e.message, e.status))
        .collect::<Vec<_>>()
        .join("; ");
    e.message = format!("All {} attempts failed: {summary}", errors.len());
    let mut meta = e.metadata.take().unwrap_or_else(|| json!({}));
    meta["attempts"] = Value::Array(attempts);
    e.metadata = Some(meta);
    e
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(status: u16, retry_after: Option<u64>) -> ApiError {
        let mut e = crate::error::upstream_error("p", status, "x".into(), b"");
        e.retry_after = retry_after;
        e
    }

    #[test]
    fn failures_fall_back_then_retry_overload_on_the_last_candidate() {
        assert!(matches!(
            after_failure(&err(400, None), 0, true),
            Next::Stop
        ));
        assert!(matches!(
            after_failure(&err(500, None), 0, true),
            Next::Fallback
        ));
        assert!(matches!(
            after_failure(&err(500, None), 0, false),
            Next::Stop
        ));
        match after_failure(&err(429, Some(2)), 0, false) {
            Next::Retry(d) => assert_eq!(d, Duration::from_secs(2)),
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            after_failure(&err(429, Some(60)), 0, false),
            Next::Stop
        ));
        match after_failure(&err(529, None), 1, false) {
            Next::Retry(d) => {
                assert!(d >= Duration::from_millis(500) && d < Duration::from_millis(1000))
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            after_failure(&err(503, None), MAX_SAME_PROVIDER_RETRIES, false),
            Next::Stop
        ));
    }
}
