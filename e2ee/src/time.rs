//! The `Instant` this crate's state machines take.
//!
//! std's `Instant` everywhere but `wasm32-unknown-unknown`, where std has no clock and an
//! `Instant` cannot even be made; there it is `web_time::Instant`, which has the same API
//! (quinn-proto makes the same choice). The crate never reads either clock: `now` always
//! comes from the caller.

#[cfg(not(all(target_arch = "wasm32", target_os = "unknown")))]
pub use std::time::Instant;
#[cfg(all(target_arch = "wasm32", target_os = "unknown"))]
pub use web_time::Instant;
