//! ARouter store.
