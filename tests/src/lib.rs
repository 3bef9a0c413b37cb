//! Test support: mock vendor upstreams and a harness that runs the `arouter` binary.

pub mod codex;
pub mod harness;
pub mod mock;
pub mod pg;

pub use harness::RouterProcess;
pub use mock::{approx_tokens, Behavior, MockUpstream, RecordedRequest, Vendor};
