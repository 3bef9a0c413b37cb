//! Wall-clock time in unix milliseconds: the one clock the ledger, budgets and health share
//! (its own module so they need not depend on each other for it).

use std::time::{SystemTime, UNIX_EPOCH};

pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}
