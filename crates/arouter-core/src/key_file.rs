//! Provider credentials from a secrets file (`api_key_file`), for servers without a keychain:
//! the file must be private to its owner (mode 0600 or stricter, refused otherwise), and it is
//! re-read when it changes (size or modification time), looked at no more than once a second.

use parking_lot::Mutex;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

/// How long a read stays good before the file's size and time are looked at again.
const RECHECK: Duration = Duration::from_secs(1);

struct Entry {
    checked: Instant,
    stamp: Option<(SystemTime, u64)>,
    value: Result<Arc<str>, String>,
}

/// The files read so far, by path.
pub struct KeyFiles {
    recheck: Duration,
    cache: Mutex<HashMap<PathBuf, Entry>>,
}

impl Default for KeyFiles {
    fn default() -> Self {
        KeyFiles::with_recheck(RECHECK)
    }
}

impl KeyFiles {
    pub fn with_recheck(recheck: Duration) -> Self {
        KeyFiles {
            recheck,
            cache: Mutex::new(HashMap::new()),
        }
    }

    /// The credential in `path` (trimmed), or why it cannot be used.
    pub fn read(&self, path: &Path) -> Result<Arc<str>, String> {
        let mut cache = self.cache.lock();
        if let Some(e) = cache.get(path) {
            if e.checked.elapsed() < self.recheck {
                return e.value.clone();
            }
        }
        let meta = std::fs::metadata(path);
        let stamp = meta
            .as_ref()
            .ok()
            .map(|m| (m.modified().unwrap_or(SystemTime::UNIX_EPOCH), m.len()));
        if let Some(e) = cache.get_mut(path) {
            if stamp.is_some() && e.stamp == stamp {
                e.checked = Instant::now();
                return e.value.clone();
            }
        }
        let value = meta
            .map_err(|e| format!("cannot read {}: {e}", path.display()))
            .and_then(|m| check_private(path, &m))
            .and_then(|()| {
                std::fs::read_to_string(path)
                    .map_err(|e| format!("cannot read {}: {e}", path.display()))
            })
            .and_then(|text| {
                let key = text.trim();
                if key.is_empty() {
                    Err(format!("{} is empty", path.display()))
                } else {
                    Ok(Arc::from(key))
                }
            });
        if let Err(e) = &value {
            tracing::warn!("api_key_file: {e}");
        }
        cache.insert(
            path.to_path_buf(),
            Entry {
                checked: Instant::now(),
                stamp,
                value: value.clone(),
            },
        );
        value
    }
}

#[cfg(unix)]
fn check_private(path: &Path, meta: &std::fs::Metadata) -> Result<(), String> {
    use std::os::unix::fs::PermissionsExt;
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(format!(
            "{} is readable by others (mode {mode:o}): it must be 0600 (chmod 600 {})",
            path.display(),
            path.display()
        ));
    }
    Ok(())
}

#[cfg(not(unix))]
fn check_private(_path: &Path, _meta: &std::fs::Metadata) -> Result<(), String> {
    Ok(())
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn write(path: &Path, text: &str, mode: u32) {
        std::fs::write(path, text).unwrap();
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
    }

    #[test]
    fn a_private_file_is_read_and_reread_when_it_changes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("oa.key");
        write(&path, "sk-first\n", 0o600);
        let files = KeyFiles::with_recheck(Duration::ZERO);
        assert_eq!(&*files.read(&path).unwrap(), "sk-first");
        write(&path, "sk-second-and-longer\n", 0o600);
        assert_eq!(&*files.read(&path).unwrap(), "sk-second-and-longer");
    }

    #[test]
    fn a_file_others_can_read_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("oa.key");
        write(&path, "sk-x", 0o644);
        let err = KeyFiles::with_recheck(Duration::ZERO)
            .read(&path)
            .unwrap_err();
        assert!(err.contains("0600"), "{err}");
        let files = KeyFiles::with_recheck(Duration::ZERO);
        write(&path, "", 0o600);
        assert!(files.read(&path).unwrap_err().contains("empty"));
        assert!(files
            .read(&dir.path().join("missing"))
            .unwrap_err()
            .contains("cannot read"));
    }
}
