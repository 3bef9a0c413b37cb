//! A prepared statement driven through the SQLite C API, for the ledger writer's per-row
//! inserts: text is bound in place (`SQLITE_STATIC`) instead of copied, and parameters are
//! bound without rusqlite's per-value conversions. Everything else uses rusqlite.

use rusqlite::{ffi, Connection};
use std::ffi::{c_int, CStr};
use std::marker::PhantomData;
use std::ptr::{self, NonNull};

/// One bound value.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Param<'a> {
    Null,
    Int(i64),
    /// Bound as TEXT as is: SQLite does not check UTF-8 on the way in.
    Text(&'a [u8]),
}

impl<'a> From<&'a str> for Param<'a> {
    fn from(s: &'a str) -> Self {
        Param::Text(s.as_bytes())
    }
}

impl<'a> From<Option<&'a str>> for Param<'a> {
    fn from(s: Option<&'a str>) -> Self {
        s.map_or(Param::Null, Param::from)
    }
}

impl From<i64> for Param<'_> {
    fn from(n: i64) -> Self {
        Param::Int(n)
    }
}

impl From<Option<i64>> for Param<'_> {
    fn from(n: Option<i64>) -> Self {
        n.map_or(Param::Null, Param::Int)
    }
}

impl From<bool> for Param<'_> {
    fn from(b: bool) -> Self {
        Param::Int(i64::from(b))
    }
}

/// A statement prepared on `conn`, finalized on drop (so before the connection closes).
pub(crate) struct RawStatement<'conn> {
    db: *mut ffi::sqlite3,
    stmt: NonNull<ffi::sqlite3_stmt>,
    params: usize,
    _conn: PhantomData<&'conn Connection>,
}

impl<'conn> RawStatement<'conn> {
    /// Prepares one SQL statement that returns no rows.
    pub(crate) fn prepare(conn: &'conn Connection, sql: &str) -> rusqlite::Result<Self> {
        let len = c_int::try_from(sql.len()).map_err(|_| too_big())?;
        // SAFETY: the handle is only used while `conn` is borrowed (the lifetime above), and
        // only from this thread (the connection is not Sync).
        let db = unsafe { conn.handle() };
        let mut stmt = ptr::null_mut();
        // SAFETY: `sql` is valid for `len` bytes; `stmt` receives the new statement.
        let rc = unsafe {
            ffi::sqlite3_prepare_v3(
                db,
                sql.as_ptr().cast(),
                len,
                ffi::SQLITE_PREPARE_PERSISTENT,
                &mut stmt,
                ptr::null_mut(),
            )
        };
        if rc != ffi::SQLITE_OK {
            return Err(error(db, rc));
        }
        let stmt = NonNull::new(stmt).ok_or_else(|| {
            rusqlite::Error::SqliteFailure(
                ffi::Error::new(ffi::SQLITE_MISUSE),
                Some("empty SQL statement".into()),
            )
        })?;
        // SAFETY: `stmt` is a valid statement.
        let params = unsafe { ffi::sqlite3_bind_parameter_count(stmt.as_ptr()) };
        Ok(Self {
            db,
            stmt,
            params: usize::try_from(params).unwrap_or(0),
            _conn: PhantomData,
        })
    }

    /// Binds `params` (exactly as many as the statement has) to `?1`, `?2`, … and runs it.
    pub(crate) fn execute(&mut self, params: &[Param<'_>]) -> rusqlite::Result<()> {
        if params.len() != self.params {
            return Err(rusqlite::Error::InvalidParameterCount(
                params.len(),
                self.params,
            ));
        }
        let stmt = self.stmt.as_ptr();
        let mut result = Ok(());
        for (i, param) in params.iter().enumerate() {
            // At most `self.params`, which came from a c_int.
            let col = (i + 1) as c_int;
            // SAFETY: `stmt` is valid and `col` is in 1..=its parameter count. Text is bound
            // SQLITE_STATIC: the bytes outlive the binding, which is cleared below before this
            // call returns.
            let rc = unsafe {
                match *param {
                    Param::Null => ffi::sqlite3_bind_null(stmt, col),
                    Param::Int(n) => ffi::sqlite3_bind_int64(stmt, col, n),
                    Param::Text(bytes) => match c_int::try_from(bytes.len()) {
                        Ok(len) => ffi::sqlite3_bind_text(
                            stmt,
                            col,
                            bytes.as_ptr().cast(),
                            len,
                            ffi::SQLITE_STATIC(),
                        ),
                        Err(_) => {
                            result = Err(too_big());
                            break;
                        }
                    },
                }
            };
            if rc != ffi::SQLITE_OK {
                result = Err(error(self.db, rc));
                break;
            }
        }
        if result.is_ok() {
            // SAFETY: `stmt` is valid with every parameter bound.
            let rc = unsafe { ffi::sqlite3_step(stmt) };
            result = match rc {
                ffi::SQLITE_DONE => Ok(()),
                ffi::SQLITE_ROW => Err(rusqlite::Error::ExecuteReturnedResults),
                _ => Err(error(self.db, rc)),
            };
        }
        // SAFETY: `stmt` is valid. Reset repeats a step error (already taken above); clearing
        // the bindings drops every pointer into `params`.
        unsafe {
            ffi::sqlite3_reset(stmt);
            ffi::sqlite3_clear_bindings(stmt);
        }
        result
    }
}

impl Drop for RawStatement<'_> {
    fn drop(&mut self) {
        // SAFETY: `stmt` is valid and finalized exactly once.
        unsafe {
            ffi::sqlite3_finalize(self.stmt.as_ptr());
        }
    }
}

fn too_big() -> rusqlite::Error {
    rusqlite::Error::SqliteFailure(ffi::Error::new(ffi::SQLITE_TOOBIG), None)
}

/// The statement's error `rc` (an extended code: rusqlite turns those on) with the
/// connection's message, as rusqlite reports it.
fn error(db: *mut ffi::sqlite3, rc: c_int) -> rusqlite::Error {
    // SAFETY: `db` is a valid connection; the message is copied before any other call on it.
    let message = unsafe {
        let msg = ffi::sqlite3_errmsg(db);
        (!msg.is_null()).then(|| CStr::from_ptr(msg).to_string_lossy().into_owned())
    };
    rusqlite::Error::SqliteFailure(ffi::Error::new(rc), message)
}
