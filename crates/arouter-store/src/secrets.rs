//! Provider API keys in the OS keychain (service `arouter`, account = provider id), cached in
//! memory so repeated reads don't go back to the platform store (D-Bus on Linux).
//!
//! On Linux keyring talks to the Secret Service through zbus on a tokio runtime of its own, which
//! deadlocks or panics when called from a thread that drives async tasks (the CLI's main thread
//! under a runtime, a tokio worker). So every keychain call runs on a short-lived thread of its
//! own, one call at a time (gnome-keyring is known to abort on concurrent session set-ups), and
//! the caller waits a bounded time: a locked or wedged keyring never hangs ARouter.

use arouter_core::store::Secrets;
use keyring::{Entry, Error as KeyringError};
use parking_lot::Mutex;
use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::sync_channel;
use std::time::Duration;

/// The keychain service every ARouter entry lives under.
pub const KEYCHAIN_SERVICE: &str = "arouter";

/// The account [`KeyringSecrets::probe`] reads; it never holds a value.
const PROBE_ACCOUNT: &str = "__arouter_probe__";

/// How long [`KeyringSecrets::probe`] waits: a locked or wedged keyring can hang forever.
const PROBE_TIMEOUT: Duration = Duration::from_secs(10);

/// How long a read, write or delete waits; long enough for a user to answer an unlock prompt.
const CALL_TIMEOUT: Duration = Duration::from_secs(120);

/// Held by the keychain thread for the length of one call: calls never overlap.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// Runs `call` on a keychain thread and waits at most `limit` for its answer. `what` names the
/// call in the error messages.
fn on_keychain_thread<T: Send + 'static>(
    what: &str,
    limit: Duration,
    call: impl FnOnce() -> Result<T, String> + Send + 'static,
) -> Result<T, String> {
    let (tx, rx) = sync_channel(1);
    std::thread::Builder::new()
        .name("arouter-keychain".into())
        .spawn(move || {
            let _turn = ONE_AT_A_TIME.lock();
            let _ = tx.send(call());
        })
        .map_err(|e| format!("cannot start a thread for {what}: {e}"))?;
    rx.recv_timeout(limit).unwrap_or_else(|_| {
        Err(format!(
            "no answer from the OS keychain to {what} within {} s; is it locked?",
            limit.as_secs()
        ))
    })
}

/// The keychain-backed [`Secrets`] store. Cached values are never shown by `Debug`.
#[derive(Default)]
pub struct KeyringSecrets {
    /// provider id → its secret, or `None` when known to be absent.
    cache: Mutex<HashMap<String, Option<String>>>,
    /// Bumped by `forget`: a read that started before it does not refill the cache.
    epoch: AtomicU64,
}

impl fmt::Debug for KeyringSecrets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let cache = self.cache.lock();
        let mut cached: Vec<&str> = cache.keys().map(String::as_str).collect();
        cached.sort_unstable();
        f.debug_struct("KeyringSecrets")
            .field("cached_providers", &cached)
            .finish_non_exhaustive()
    }
}

impl KeyringSecrets {
    pub fn new() -> Self {
        Self::default()
    }

    /// Checks that a keychain backend answers. The error is a message for the user.
    pub fn probe() -> Result<(), String> {
        on_keychain_thread("the check", PROBE_TIMEOUT, probe_now).map_err(|e| {
            if e.starts_with("OS keychain unavailable") {
                e
            } else {
                format!("OS keychain unavailable ({e}): provider keys can only come from api_key_env variables")
            }
        })
    }
}

fn probe_now() -> Result<(), String> {
    let entry = Entry::new(KEYCHAIN_SERVICE, PROBE_ACCOUNT).map_err(|e| unavailable(&e))?;
    match entry.get_password() {
        Ok(_) | Err(KeyringError::NoEntry) => Ok(()),
        Err(e) => Err(unavailable(&e)),
    }
}

fn unavailable(e: &KeyringError) -> String {
    let why = match e {
        KeyringError::PlatformFailure(inner) if cfg!(target_os = "linux") => {
            format!("no Secret Service on D-Bus: {inner}")
        }
        KeyringError::NoStorageAccess(inner) => format!("locked or access denied: {inner}"),
        other => describe(other),
    };
    format!(
        "OS keychain unavailable ({why}): provider keys can only come from api_key_env variables"
    )
}

/// A keyring error in words; never includes secret bytes.
fn describe(e: &KeyringError) -> String {
    match e {
        KeyringError::PlatformFailure(inner) => format!("keychain failure: {inner}"),
        KeyringError::NoStorageAccess(inner) => format!("keychain not accessible: {inner}"),
        KeyringError::NoEntry => "no keychain entry".into(),
        KeyringError::BadEncoding(_) => "the stored value is not UTF-8".into(),
        KeyringError::TooLong(attr, limit) => {
            format!("keychain attribute {attr} exceeds {limit} characters")
        }
        KeyringError::Invalid(attr, reason) => {
            format!("keychain attribute {attr} invalid: {reason}")
        }
        KeyringError::Ambiguous(found) => format!("{} keychain entries match", found.len()),
        other => format!("keychain error: {other}"),
    }
}

fn entry(provider: &str) -> Result<Entry, String> {
    Entry::new(KEYCHAIN_SERVICE, provider)
        .map_err(|e| format!("keychain entry for provider {provider}: {}", describe(&e)))
}

impl Secrets for KeyringSecrets {
    fn get(&self, provider: &str) -> Result<Option<String>, String> {
        if let Some(cached) = self.cache.lock().get(provider) {
            return Ok(cached.clone());
        }
        let epoch = self.epoch.load(Ordering::SeqCst);
        let account = provider.to_string();
        let what = format!("reading the key of provider {provider}");
        let value = on_keychain_thread(&what, CALL_TIMEOUT, move || {
            match entry(&account)?.get_password() {
                Ok(secret) => Ok(Some(secret)),
                Err(KeyringError::NoEntry) => Ok(None),
                Err(e) => Err(format!(
                    "cannot read the key of provider {account} from the OS keychain: {}",
                    describe(&e)
                )),
            }
        })?;
        let mut cache = self.cache.lock();
        if self.epoch.load(Ordering::SeqCst) == epoch {
            cache.insert(provider.to_string(), value.clone());
        }
        Ok(value)
    }

    fn set(&self, provider: &str, secret: &str) -> Result<(), String> {
        let (account, value) = (provider.to_string(), secret.to_string());
        let what = format!("storing the key of provider {provider}");
        on_keychain_thread(&what, CALL_TIMEOUT, move || {
            entry(&account)?.set_password(&value).map_err(|e| {
                format!(
                    "cannot store the key of provider {account} in the OS keychain: {}",
                    describe(&e)
                )
            })
        })?;
        self.cache
            .lock()
            .insert(provider.to_string(), Some(secret.to_string()));
        Ok(())
    }

    fn delete(&self, provider: &str) -> Result<(), String> {
        let account = provider.to_string();
        let what = format!("deleting the key of provider {provider}");
        on_keychain_thread(&what, CALL_TIMEOUT, move || {
            match entry(&account)?.delete_credential() {
                Ok(()) | Err(KeyringError::NoEntry) => Ok(()),
                Err(e) => Err(format!(
                    "cannot delete the key of provider {account} from the OS keychain: {}",
                    describe(&e)
                )),
            }
        })?;
        self.cache.lock().insert(provider.to_string(), None);
        Ok(())
    }

    fn forget(&self, provider: &str) {
        let mut cache = self.cache.lock();
        self.epoch.fetch_add(1, Ordering::SeqCst);
        cache.remove(provider);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_cached_secrets() {
        let secrets = KeyringSecrets::new();
        secrets
            .cache
            .lock()
            .insert("openai".into(), Some("sk-very-secret".into()));
        let shown = format!("{secrets:?}");
        assert!(shown.contains("openai"), "{shown}");
        assert!(!shown.contains("sk-very-secret"), "{shown}");
    }

    #[test]
    fn cached_values_are_served_without_the_keychain() {
        let secrets = KeyringSecrets::new();
        secrets
            .cache
            .lock()
            .insert("anthropic".into(), Some("cached".into()));
        secrets.cache.lock().insert("gemini".into(), None);
        assert_eq!(secrets.get("anthropic"), Ok(Some("cached".into())));
        assert_eq!(secrets.get("gemini"), Ok(None));
    }

    #[test]
    fn forget_drops_a_cached_value() {
        let secrets = KeyringSecrets::new();
        secrets
            .cache
            .lock()
            .insert("openai".into(), Some("old".into()));
        secrets.forget("openai");
        assert!(secrets.cache.lock().get("openai").is_none());
        assert_eq!(secrets.epoch.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn a_call_that_hangs_times_out_with_a_message() {
        let err = on_keychain_thread("the test", Duration::from_millis(50), || {
            std::thread::sleep(Duration::from_millis(300));
            Ok(())
        })
        .unwrap_err();
        assert_eq!(
            err,
            "no answer from the OS keychain to the test within 0 s; is it locked?"
        );
    }

    #[test]
    fn calls_run_one_at_a_time_off_the_caller_thread() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        use std::sync::Arc;
        let caller = std::thread::current().id();
        let (busy, most) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        let workers: Vec<_> = (0..4)
            .map(|_| {
                let (busy, most) = (busy.clone(), most.clone());
                std::thread::spawn(move || {
                    on_keychain_thread("the test", Duration::from_secs(10), move || {
                        let now = busy.fetch_add(1, Ordering::SeqCst) + 1;
                        most.fetch_max(now, Ordering::SeqCst);
                        std::thread::sleep(Duration::from_millis(20));
                        busy.fetch_sub(1, Ordering::SeqCst);
                        Ok(std::thread::current().id())
                    })
                })
            })
            .collect();
        for w in workers {
            assert_ne!(w.join().unwrap().unwrap(), caller);
        }
        assert_eq!(most.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn bad_encoding_is_described_without_its_bytes() {
        let text = describe(&KeyringError::BadEncoding(b"secret\xff".to_vec()));
        assert!(!text.contains("secret"), "{text}");
    }
}
