//! Team mode's PostgreSQL schema: numbered migrations, each run once, under a session advisory
//! lock so servers starting together never apply one twice.

use anyhow::{bail, Context, Result};
use tokio_postgres::Client;

/// The advisory-lock id every ARouter takes while migrating ("arouter" as ASCII).
const MIGRATION_LOCK: i64 = 0x0061_726f_7574_6572;

/// Migration N (1-based) is `MIGRATIONS[N - 1]`. Never edit a shipped one: append.
const MIGRATIONS: &[&str] = &[
    MIGRATION_1,
    MIGRATION_2,
    MIGRATION_3,
    MIGRATION_4,
    MIGRATION_5,
    MIGRATION_6,
];

const MIGRATION_1: &str = "
CREATE TABLE keys (
    hash        TEXT PRIMARY KEY,
    name        TEXT NOT NULL UNIQUE,
    label       TEXT NOT NULL,
    admin       BOOLEAN NOT NULL DEFAULT FALSE,
    disabled    BOOLEAN NOT NULL DEFAULT FALSE,
    rpm         BIGINT NULL,
    limit_pusd  BIGINT NULL,
    limit_reset TEXT NULL,
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL,
    proxy       BOOLEAN NULL
);

-- Bumped by every change to keys: the poll that backs up LISTEN/NOTIFY reads it.
CREATE TABLE keys_version (one BOOLEAN PRIMARY KEY DEFAULT TRUE CHECK (one), v BIGINT NOT NULL);
INSERT INTO keys_version VALUES (TRUE, 0);

CREATE FUNCTION arouter_keys_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE keys_version SET v = v + 1;
    PERFORM pg_notify('arouter_keys', '');
    RETURN NULL;
END $$;
CREATE TRIGGER keys_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON keys
    FOR EACH STATEMENT EXECUTE FUNCTION arouter_keys_changed();

CREATE TABLE requests (
    id                   TEXT PRIMARY KEY,
    created_ms           BIGINT NOT NULL,
    app                  TEXT NOT NULL DEFAULT '',
    key_hash             TEXT NOT NULL DEFAULT '',
    surface              TEXT NOT NULL DEFAULT '',
    endpoint             TEXT NOT NULL DEFAULT '',
    requested_model      TEXT NOT NULL DEFAULT '',
    served_model         TEXT NOT NULL DEFAULT '',
    provider             TEXT NOT NULL DEFAULT '',
    input_tokens         BIGINT NOT NULL DEFAULT 0,
    output_tokens        BIGINT NOT NULL DEFAULT 0,
    reasoning_tokens     BIGINT NOT NULL DEFAULT 0,
    cache_read_tokens    BIGINT NOT NULL DEFAULT 0,
    cache_write_tokens   BIGINT NOT NULL DEFAULT 0,
    cost_pusd            BIGINT NOT NULL DEFAULT 0,
    priced               BOOLEAN NOT NULL DEFAULT FALSE,
    latency_ms           BIGINT NOT NULL DEFAULT 0,
    ttft_ms              BIGINT NULL,
    streamed             BOOLEAN NOT NULL DEFAULT FALSE,
    finish_reason        TEXT NULL,
    native_finish_reason TEXT NULL,
    status               INTEGER NOT NULL DEFAULT 0,
    error                TEXT NULL,
    attempt              INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX requests_created ON requests(created_ms);
CREATE INDEX requests_key_created ON requests(key_hash, created_ms);
CREATE INDEX requests_app_created ON requests(app, created_ms);

CREATE TABLE request_bodies (
    id       TEXT PRIMARY KEY REFERENCES requests(id),
    request  TEXT NULL,
    response TEXT NULL
);

-- Per-key rpm: the times of the requests let through in the last minute (a sliding log).
CREATE TABLE rate_hits (key_hash TEXT NOT NULL, at_ms BIGINT NOT NULL);
CREATE INDEX rate_hits_key ON rate_hits(key_hash, at_ms);

-- One atomic check-and-count: a per-key transaction lock, the database's clock (instances
-- with skewed clocks still agree), at most `lim` requests in any 60 s.
CREATE FUNCTION arouter_rate_admit(k TEXT, lim INTEGER,
    OUT allowed BOOLEAN, OUT used INTEGER, OUT reset_ms BIGINT) LANGUAGE plpgsql AS $$
DECLARE
    now_ms BIGINT := floor(extract(epoch FROM clock_timestamp()) * 1000);
BEGIN
    -- Not worth an fsync per request: a database crash forgets at most the last moment's hits.
    PERFORM set_config('synchronous_commit', 'off', true);
    PERFORM pg_advisory_xact_lock(hashtextextended('arouter-rate:' || k, 0));
    DELETE FROM rate_hits WHERE key_hash = k AND at_ms <= now_ms - 60000;
    SELECT count(*) INTO used FROM rate_hits WHERE key_hash = k;
    allowed := used < lim;
    IF allowed THEN
        INSERT INTO rate_hits VALUES (k, now_ms);
        used := used + 1;
    END IF;
    reset_ms := now_ms + 60000;
    IF used >= lim THEN
        SELECT at_ms + 60000 INTO reset_ms FROM rate_hits WHERE key_hash = k
            ORDER BY at_ms DESC OFFSET lim - 1 LIMIT 1;
    END IF;
    used := least(used, lim);
END $$;
";

/// Budgets shared by every instance: the settled spend per key and window, and the holds of
/// requests in flight. Reserve and settle take the same per-key transaction lock.
const MIGRATION_2: &str = "
CREATE TABLE budget_spend (
    key_hash     TEXT NOT NULL,
    window_start BIGINT NOT NULL,
    spent        BIGINT NOT NULL,
    synced_ms    BIGINT NOT NULL,
    PRIMARY KEY (key_hash, window_start)
);
CREATE TABLE budget_holds (
    id           BIGSERIAL PRIMARY KEY,
    key_hash     TEXT NOT NULL,
    window_start BIGINT NOT NULL,
    amount       BIGINT NOT NULL,
    expires_ms   BIGINT NOT NULL
);
CREATE INDEX budget_holds_key ON budget_holds(key_hash, window_start);

-- Grants a hold when the worst case fits: settled spend + holds + amount <= limit. The spend
-- starts from the ledger and is re-read from it (never lowered: rows still queued elsewhere
-- must not free budget) when the key has no hold and the last read is 30 s old, which counts
-- spend made while the key had no limit. Holds of a crashed instance expire after an hour.
CREATE FUNCTION arouter_budget_reserve(k TEXT, ws BIGINT, lim BIGINT, amt BIGINT,
    OUT hold BIGINT, OUT remaining BIGINT) LANGUAGE plpgsql AS $$
DECLARE
    now_ms BIGINT := floor(extract(epoch FROM clock_timestamp()) * 1000);
    s BIGINT;
    synced BIGINT;
    held BIGINT;
BEGIN
    -- Holds are short-lived: a database crash (not a restart) may forget the last moment's,
    -- and the ledger re-read restores the spend. No fsync per request.
    PERFORM set_config('synchronous_commit', 'off', true);
    PERFORM pg_advisory_xact_lock(hashtextextended('arouter-budget:' || k, 0));
    DELETE FROM budget_holds WHERE key_hash = k AND expires_ms < now_ms;
    SELECT COALESCE(SUM(amount), 0) INTO held FROM budget_holds
        WHERE key_hash = k AND window_start = ws;
    SELECT spent, synced_ms INTO s, synced FROM budget_spend
        WHERE key_hash = k AND window_start = ws;
    IF NOT FOUND OR (held = 0 AND now_ms - synced > 30000) THEN
        s := greatest(COALESCE(s, 0), (SELECT COALESCE(SUM(cost_pusd), 0) FROM requests
            WHERE key_hash = k AND created_ms >= ws));
        INSERT INTO budget_spend VALUES (k, ws, s, now_ms)
            ON CONFLICT (key_hash, window_start)
            DO UPDATE SET spent = EXCLUDED.spent, synced_ms = EXCLUDED.synced_ms;
    END IF;
    remaining := lim - s - held;
    IF s < lim AND amt <= remaining THEN
        INSERT INTO budget_holds (key_hash, window_start, amount, expires_ms)
            VALUES (k, ws, amt, now_ms + 3600000) RETURNING id INTO hold;
    END IF;
END $$;

CREATE FUNCTION arouter_budget_settle(k TEXT, h BIGINT, cost BIGINT) RETURNS VOID
    LANGUAGE plpgsql AS $$
DECLARE
    ws BIGINT;
BEGIN
    PERFORM set_config('synchronous_commit', 'off', true);
    PERFORM pg_advisory_xact_lock(hashtextextended('arouter-budget:' || k, 0));
    DELETE FROM budget_holds WHERE id = h RETURNING window_start INTO ws;
    IF FOUND THEN
        UPDATE budget_spend SET spent = spent + cost WHERE key_hash = k AND window_start = ws;
    END IF;
END $$;
";

/// Rows whose usage was partly estimated (a client left a stream before the upstream's count).
const MIGRATION_4: &str = "
ALTER TABLE requests ADD COLUMN estimated BOOLEAN NOT NULL DEFAULT false;
";

/// Credits and Message Batches, with the SQLite store's columns, so `arouter migrate` keeps
/// them (served from PostgreSQL once the management API and batches run in team mode).
const MIGRATION_3: &str = "
CREATE TABLE credits (
    id          BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    created_ms  BIGINT NOT NULL,
    amount_pusd BIGINT NOT NULL,
    note        TEXT NOT NULL DEFAULT ''
);
CREATE TABLE batches (
    seq              BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    id               TEXT NOT NULL UNIQUE,
    key_hash         TEXT NOT NULL,
    app              TEXT NOT NULL DEFAULT '',
    headers          TEXT NOT NULL DEFAULT '{}',
    status           TEXT NOT NULL,
    created_ms       BIGINT NOT NULL,
    expires_ms       BIGINT NOT NULL,
    ended_ms         BIGINT NULL,
    cancel_ms        BIGINT NULL,
    archived_ms      BIGINT NULL,
    provider         TEXT NULL,
    upstream_id      TEXT NULL,
    snapshot         TEXT NULL,
    results_recorded BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX batches_key ON batches(key_hash, seq);
CREATE INDEX batches_status ON batches(status);
CREATE TABLE batch_requests (
    batch_id  TEXT NOT NULL,
    idx       BIGINT NOT NULL,
    custom_id TEXT NOT NULL,
    params    TEXT NOT NULL,
    status    TEXT NOT NULL,
    result    TEXT NULL,
    PRIMARY KEY (batch_id, idx)
);
CREATE INDEX batch_requests_status ON batch_requests(status, batch_id);
";

/// Batch requests are leased to the server running them (`owner`, until `lease_ms` on the
/// database's clock), so several servers on one database never run a request twice, and a
/// crashed server's requests are handed out again once its leases lapse.
const MIGRATION_5: &str = "
ALTER TABLE batch_requests ADD COLUMN owner TEXT NULL, ADD COLUMN lease_ms BIGINT NULL;
CREATE INDEX batch_requests_owner ON batch_requests(owner) WHERE owner IS NOT NULL;
CREATE FUNCTION arouter_now_ms() RETURNS BIGINT LANGUAGE sql VOLATILE AS
    'SELECT floor(extract(epoch FROM clock_timestamp()) * 1000)::int8';
";

/// The rpm check without counting the log: a per-key count kept beside it. Expired hits are
/// deleted once each (amortised O(1) per request) and subtracted from the count, so a key near
/// a high limit no longer pays a `count(*)` over a minute of hits on every request (at 500
/// requests/s that was 30,000 rows, and the check fell behind). A key without a count row yet
/// (the first request after this migration) counts its log once.
const MIGRATION_6: &str = "
CREATE TABLE rate_counts (key_hash TEXT PRIMARY KEY, n INTEGER NOT NULL);

CREATE OR REPLACE FUNCTION arouter_rate_admit(k TEXT, lim INTEGER,
    OUT allowed BOOLEAN, OUT used INTEGER, OUT reset_ms BIGINT) LANGUAGE plpgsql AS $$
DECLARE
    now_ms BIGINT := floor(extract(epoch FROM clock_timestamp()) * 1000);
    expired INTEGER;
BEGIN
    PERFORM set_config('synchronous_commit', 'off', true);
    PERFORM pg_advisory_xact_lock(hashtextextended('arouter-rate:' || k, 0));
    WITH gone AS (
        DELETE FROM rate_hits WHERE key_hash = k AND at_ms <= now_ms - 60000 RETURNING 1
    ) SELECT count(*) INTO expired FROM gone;
    SELECT n - expired INTO used FROM rate_counts WHERE key_hash = k;
    IF NOT FOUND THEN
        SELECT count(*) INTO used FROM rate_hits WHERE key_hash = k;
        INSERT INTO rate_counts VALUES (k, used);
    END IF;
    allowed := used < lim;
    IF allowed THEN
        INSERT INTO rate_hits VALUES (k, now_ms);
        used := used + 1;
    END IF;
    UPDATE rate_counts SET n = used WHERE key_hash = k;
    reset_ms := now_ms + 60000;
    IF used = lim THEN
        -- Full: the next request fits when the oldest hit leaves the window.
        SELECT min(at_ms) + 60000 INTO reset_ms FROM rate_hits WHERE key_hash = k;
    ELSIF used > lim THEN
        -- Over a lowered limit: when enough hits have left for one more.
        SELECT at_ms + 60000 INTO reset_ms FROM rate_hits WHERE key_hash = k
            ORDER BY at_ms DESC OFFSET lim - 1 LIMIT 1;
    END IF;
    used := least(used, lim);
END $$;
";

/// Brings the schema up to date. Holds the advisory lock on this connection for the whole run;
/// each migration commits on its own with its version row.
pub(crate) async fn migrate(client: &mut Client) -> Result<()> {
    client
        .execute("SELECT pg_advisory_lock($1)", &[&MIGRATION_LOCK])
        .await
        .context("cannot take the migration lock")?;
    let outcome = apply(client).await;
    // Released even when a migration failed (the connection may be gone; then so is the lock).
    let _ = client
        .execute("SELECT pg_advisory_unlock($1)", &[&MIGRATION_LOCK])
        .await;
    outcome
}

async fn apply(client: &mut Client) -> Result<()> {
    client
        .batch_execute(
            "CREATE TABLE IF NOT EXISTS arouter_migrations \
             (version INTEGER PRIMARY KEY, applied_ms BIGINT NOT NULL)",
        )
        .await?;
    let row = client
        .query_one(
            "SELECT COALESCE(MAX(version), 0) FROM arouter_migrations",
            &[],
        )
        .await?;
    let applied = usize::try_from(row.get::<_, i32>(0)).unwrap_or(0);
    if applied > MIGRATIONS.len() {
        bail!(
            "database schema version {applied} is newer than this arouter understands ({}); \
             upgrade arouter",
            MIGRATIONS.len()
        );
    }
    for (index, sql) in MIGRATIONS.iter().enumerate().skip(applied) {
        let version = (index + 1) as i32;
        let tx = client.transaction().await?;
        tx.batch_execute(sql)
            .await
            .with_context(|| format!("schema migration {version} failed"))?;
        tx.execute(
            "INSERT INTO arouter_migrations VALUES ($1, \
             floor(extract(epoch FROM clock_timestamp()) * 1000))",
            &[&version],
        )
        .await?;
        tx.commit().await?;
        tracing::info!(version, "applied PostgreSQL migration");
    }
    Ok(())
}

/// The schema version the database is at.
pub(crate) async fn version(client: &Client) -> Result<i32> {
    Ok(client
        .query_one(
            "SELECT COALESCE(MAX(version), 0) FROM arouter_migrations",
            &[],
        )
        .await?
        .get(0))
}

/// How many migrations this build knows.
pub(crate) fn latest() -> i32 {
    MIGRATIONS.len() as i32
}
