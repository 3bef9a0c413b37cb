//! TLS to PostgreSQL: with `sslmode=require` (or `verify-full`) team mode's store encrypts every
//! connection and checks the server's certificate against `sslrootcert`; an unknown issuer is
//! refused, never downgraded to plain text.

use arouter_core::store::Store;
use arouter_store::{ManageStore, PgStore};
use arouter_tests::pg::Pg;

#[test]
fn the_store_connects_over_verified_tls_only() {
    let Some(pg) = Pg::start() else { return };
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".into(), "127.0.0.1".into()])
        .expect("generating a certificate");
    pg.enable_tls(&cert.cert.pem(), &cert.key_pair.serialize_pem());
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root.pem");
    std::fs::write(&root, cert.cert.pem()).unwrap();
    let url = pg.create_db("tls");

    // An issuer the store was not told to trust: refused.
    let err = PgStore::open(&format!("{url}?sslmode=require"))
        .err()
        .expect("an unverified server is refused");
    let msg = format!("{err:#}");
    assert!(msg.to_lowercase().contains("certificate"), "{msg}");

    // Trusted through sslrootcert: every connection of the store is encrypted.
    let store = PgStore::open(&format!(
        "{url}?sslmode=verify-full&sslrootcert={}",
        root.display()
    ))
    .expect("opens over TLS");
    let (raw, info) = store.create_key("over-tls", false, None, None).unwrap();
    assert_eq!(
        store.find_key(&info.hash).map(|k| k.name),
        Some("over-tls".into())
    );
    assert!(raw.starts_with("sk-ar-"));
    let plain = pg.psql(
        "postgres",
        "SELECT count(*) FROM pg_stat_activity a JOIN pg_stat_ssl s USING (pid) \
         WHERE a.datname = 'tls' AND NOT s.ssl",
    );
    let encrypted = pg.psql(
        "postgres",
        "SELECT count(*) FROM pg_stat_activity a JOIN pg_stat_ssl s USING (pid) \
         WHERE a.datname = 'tls' AND s.ssl",
    );
    assert_eq!(plain, "0", "no plain-text connection");
    assert_ne!(encrypted, "0", "the store's connections are encrypted");
    ManageStore::shutdown(&*store);
}
