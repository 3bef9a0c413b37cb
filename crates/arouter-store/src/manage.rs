//! The store interface beyond the request path: keys, the request log and usage rollups,
//! credits and transactions ([`ManageStore`]), and Message Batches ([`BatchStore`]). The
//! embedded SQLite store and team mode's PostgreSQL store both implement them, so the management
//! API, the web UI, the batch worker and the CLI run on either. Every method blocks: call them
//! off the async threads.

use crate::{
    ActivityRow, BatchRow, Credit, Cursor, DailyRow, GroupBy, KeyMeta, KeyPatch, KeyUsage,
    LoggedRequest, NewBatch, PendingRequest, RequestFilter, RequestResult, TimeRange, Transaction,
    TransactionFilter, UsageRow, WindowStarts,
};
use anyhow::Result;
use arouter_core::store::{KeyInfo, Store};
use serde_json::Value;
use std::collections::HashMap;

/// Keys, the request log, usage, credits and transactions. Money is pico-USD.
pub trait ManageStore: Store {
    /// Creates a key; returns the raw key (shown once, never stored) and its info.
    fn create_key(
        &self,
        name: &str,
        admin: bool,
        rpm: Option<u32>,
        limit_pusd: Option<i64>,
    ) -> Result<(String, KeyInfo)>;
    /// Every key, oldest first (never the secret).
    fn list_keys(&self) -> Result<Vec<KeyInfo>>;
    /// Edits a key; `None` if no key has this hash.
    fn update_key(&self, hash: &str, patch: &KeyPatch) -> Result<Option<KeyInfo>>;
    /// Disables the key with this name or hash; `false` if none matched.
    fn revoke_key(&self, name_or_hash: &str) -> Result<bool>;
    /// Deletes the key with this hash (its usage history stays); `false` if there was none.
    fn delete_key(&self, hash: &str) -> Result<bool>;
    /// The masked form of the key (`sk-ar-12...abc`), for display.
    fn key_label(&self, hash: &str) -> Option<String>;
    /// A key's label, limit reset period and last edit; `None` if there is no such key.
    fn key_meta(&self, hash: &str) -> Result<Option<KeyMeta>>;
    /// [`ManageStore::key_meta`] for every key, by hash.
    fn key_metas(&self) -> Result<HashMap<String, KeyMeta>>;
    /// Sets a key's provider-proxy permission (`None` = the default); `false` if no such key.
    fn set_key_proxy(&self, hash: &str, proxy: Option<bool>) -> Result<bool>;
    /// Sets how often a key's spend limit resets (`daily`, `weekly`, `monthly`, or never);
    /// `false` if there is no such key.
    fn set_key_limit_reset(&self, hash: &str, reset: Option<&str>) -> Result<bool>;
    /// What a key spent in total and since each window start.
    fn key_usage(&self, hash: &str, starts: &WindowStarts) -> Result<KeyUsage>;
    /// What a key has spent on requests since `since_ms` (unix ms).
    fn key_usage_pusd(&self, hash: &str, since_ms: i64) -> Result<i64>;

    /// Totals per group for requests since `since_ms` (unix ms), by cost then group.
    fn usage_summary(&self, since_ms: i64, by: GroupBy) -> Result<Vec<UsageRow>>;
    /// Totals per group in the window, by cost then group.
    fn usage_in_range(&self, range: TimeRange, by: GroupBy) -> Result<Vec<UsageRow>>;
    /// Totals per UTC day and group in the window, oldest day first.
    fn daily_usage(&self, range: TimeRange, by: GroupBy) -> Result<Vec<DailyRow>>;
    /// Totals per UTC day, served model and app in the window.
    fn activity(&self, range: TimeRange) -> Result<Vec<ActivityRow>>;
    /// The request log, newest first, and how many rows match in all.
    fn list_requests(&self, f: &RequestFilter) -> Result<(Vec<LoggedRequest>, i64)>;
    /// One request with its stored bodies and its failed attempts; `None` if unknown.
    fn request_detail(&self, id: &str) -> Result<Option<(LoggedRequest, Vec<LoggedRequest>)>>;
    /// Up to `limit` requests of the window without bodies, oldest first, after `after`
    /// (`created_ms`, `id` of the previous page's last row): the CSV export's pages.
    fn export_requests_page(
        &self,
        range: TimeRange,
        after: Option<&(i64, String)>,
        limit: i64,
    ) -> Result<Vec<LoggedRequest>>;
    /// Deletes stored request/response bodies of requests created before `before_ms` (unix
    /// ms); returns how many were deleted.
    fn purge_bodies(&self, before_ms: i64) -> Result<u64>;

    /// Adds to the credits ledger (a positive amount).
    fn add_credit(&self, amount_pusd: i64, note: &str) -> Result<Credit>;
    /// Every credit, newest first.
    fn list_credits(&self) -> Result<Vec<Credit>>;
    /// The sum of all credits.
    fn credits_total(&self) -> Result<i64>;
    /// The cost of every request ever recorded.
    fn usage_total(&self) -> Result<i64>;
    /// Credits and per-request charges merged newest first, and how many match in all.
    fn transactions(&self, f: &TransactionFilter) -> Result<(Vec<Transaction>, i64)>;

    /// Stops the ledger writer after it commits everything queued, and stops watching keys.
    /// Idempotent; later records are lost (and counted). Reads keep working.
    fn shutdown(&self);
}

/// Message Batches run by ARouter (`provider` NULL) or forwarded to a provider.
pub trait BatchStore: Send + Sync + 'static {
    /// Stores a new batch and its requests in one transaction.
    fn create_batch(&self, batch: &NewBatch) -> Result<()>;
    /// A batch by id with its request counts.
    fn get_batch(&self, id: &str) -> Result<Option<BatchRow>>;
    /// A page of batches, newest first; `key_hash` `None` lists every key's. Returns the rows
    /// and whether more exist in the direction paged.
    fn list_batches(
        &self,
        key_hash: Option<&str>,
        limit: usize,
        cursor: &Cursor,
    ) -> Result<(Vec<BatchRow>, bool)>;
    /// Up to `limit` requests still to run, from batches in progress, oldest batch first. On a
    /// store shared by several servers each request is handed to one of them only.
    fn pending_requests(&self, limit: usize) -> Result<Vec<PendingRequest>>;
    /// Stores a request's result unless it was settled meanwhile; `false` if it was.
    fn finish_request(
        &self,
        batch_id: &str,
        idx: i64,
        status: &str,
        result: &Value,
    ) -> Result<bool>;
    /// Ends a batch once none of its requests is processing; `true` if it ended now.
    fn end_batch_if_done(&self, id: &str, now_ms: i64) -> Result<bool>;
    /// Starts canceling a batch in progress; `false` if it was not in progress.
    fn cancel_batch(&self, id: &str, now_ms: i64) -> Result<bool>;
    /// Batches run here that need settling: canceling ones, and unfinished ones past expiry.
    /// Returns (id, state to settle their waiting requests with).
    fn batches_to_settle(&self, now_ms: i64) -> Result<Vec<(String, &'static str)>>;
    /// Gives every waiting request of a batch the state `status` (`canceled` / `expired`),
    /// except those in `running` (this server's) and those another server is running.
    /// Returns how many changed.
    fn settle_requests(&self, batch_id: &str, status: &str, running: &[i64]) -> Result<usize>;
    /// Every request's outcome in request order.
    fn batch_results(&self, id: &str) -> Result<Vec<RequestResult>>;
    /// Replaces a forwarded batch's upstream object.
    fn set_batch_snapshot(&self, id: &str, snapshot: &Value) -> Result<()>;
    /// Claims the one-time recording of a forwarded batch's usage; `false` if already done.
    fn claim_results_recording(&self, id: &str) -> Result<bool>;
    /// Gives back a claim whose recording failed, so a later fetch records the usage.
    fn release_results_recording(&self, id: &str) -> Result<()>;
    /// Deletes a batch and its requests; `false` if there was none.
    fn delete_batch(&self, id: &str) -> Result<bool>;
}
