//! Provider API keys in the OS keychain (service `arouter`, account = provider id), cached in
//! memory so repeated reads don't go back to the platform store (D-Bus on Linux).

use arouter_core::store::Secrets;
use keyring::{Entry, Error as KeyringError};
use parking_lot::Mutex;
use std::collections::HashMap;
use std::fmt;
use std::sync::mpsc::sync_channel;
use std::time::Duration;

/// The keychain service every ARouter entry lives under.
pub const KEYCHAIN_SERVICE: &str = "arouter";

/// The account [`KeyringSecrets::probe`] reads; it never holds a value.
const PROBE_ACCOUNT: &str = "__arouter_probe__";

/// How long [`KeyringSecrets::probe`] waits: a locked or wedged keyring can hang forever.
const PROBE_TIMEOUT: Duration = Duration::from_secs(10);

/// The keychain-backed [`Secrets`] store. Cached values are never shown by `Debug`.
#[derive(Default)]
pub struct KeyringSecrets {
    /// provider id → its secret, or `None` when known to be absent.
    cache: Mutex<HashMap<String, Option<String>>>,
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
        let (tx, rx) = sync_channel(1);
        let spawned = std::thread::Builder::new()
            .name("arouter-keychain-probe".into())
            .spawn(move || {
                let _ = tx.send(probe_now());
            });
        if let Err(e) = spawned {
            return Err(format!("OS keychain check could not start: {e}"));
        }
        rx.recv_timeout(PROBE_TIMEOUT).unwrap_or_else(|_| {
            Err(format!(
                "OS keychain unavailable (no answer within {} s; is it locked?): provider keys \
                 can only come from api_key_env variables",
                PROBE_TIMEOUT.as_secs()
            ))
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
        let value = match entry(provider)?.get_password() {
            Ok(secret) => Some(secret),
            Err(KeyringError::NoEntry) => None,
            Err(e) => {
                return Err(format!(
                    "cannot read the key of provider {provider} from the OS keychain: {}",
                    describe(&e)
                ))
            }
        };
        self.cache
            .lock()
            .insert(provider.to_string(), value.clone());
        Ok(value)
    }

    fn set(&self, provider: &str, secret: &str) -> Result<(), String> {
        entry(provider)?.set_password(secret).map_err(|e| {
            format!(
                "cannot store the key of provider {provider} in the OS keychain: {}",
                describe(&e)
            )
        })?;
        self.cache
            .lock()
            .insert(provider.to_string(), Some(secret.to_string()));
        Ok(())
    }

    fn delete(&self, provider: &str) -> Result<(), String> {
        match entry(provider)?.delete_credential() {
            Ok(()) | Err(KeyringError::NoEntry) => {
                self.cache.lock().insert(provider.to_string(), None);
                Ok(())
            }
            Err(e) => Err(format!(
                "cannot delete the key of provider {provider} from the OS keychain: {}",
                describe(&e)
            )),
        }
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
    fn bad_encoding_is_described_without_its_bytes() {
        let text = describe(&KeyringError::BadEncoding(b"secret\xff".to_vec()));
        assert!(!text.contains("secret"), "{text}");
    }
}
