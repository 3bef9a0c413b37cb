//! Owner-only files: the data dir is created 0700 and the database 0600 before SQLite first
//! opens it (SQLite gives its WAL and SHM files the database file's mode), so no other user
//! can read bodies or keys even for an instant.

use std::path::Path;

/// Creates `dir` (and missing parents) with mode 0700; an existing dir is tightened to 0700.
pub fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)?;
        let mode = std::fs::metadata(dir)?.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
        }
        Ok(())
    }
    #[cfg(not(unix))]
    {
        std::fs::create_dir_all(dir)
    }
}

/// Creates `path` empty with mode 0600 if it does not exist; an existing file (and its `-wal`
/// and `-shm` companions) is tightened to 0600.
pub fn create_private_file(path: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
        match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path)
        {
            Ok(_) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                let companions = path.as_os_str().to_owned();
                for suffix in ["", "-wal", "-shm"] {
                    let mut p = companions.clone();
                    p.push(suffix);
                    let p = Path::new(&p);
                    if let Ok(meta) = std::fs::metadata(p) {
                        if meta.permissions().mode() & 0o077 != 0 {
                            std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o600))?;
                        }
                    }
                }
                Ok(())
            }
            Err(e) => Err(e),
        }
    }
    #[cfg(not(unix))]
    {
        let _ = path;
        Ok(())
    }
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn mode(p: &Path) -> u32 {
        std::fs::metadata(p).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn dir_and_file_are_private_from_creation() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("a/b");
        create_private_dir(&dir).unwrap();
        assert_eq!(mode(&dir), 0o700);
        let db = dir.join("x.db");
        create_private_file(&db).unwrap();
        assert_eq!(mode(&db), 0o600);
        std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o644)).unwrap();
        std::fs::write(dir.join("x.db-wal"), b"").unwrap();
        std::fs::set_permissions(dir.join("x.db-wal"), std::fs::Permissions::from_mode(0o644))
            .unwrap();
        create_private_file(&db).unwrap();
        assert_eq!(mode(&db), 0o600);
        assert_eq!(mode(&dir.join("x.db-wal")), 0o600);
    }
}
