//! MLS (RFC 9420) for SFrame: the pieces behind [`crate::session::Session`].
//!
//! - [`provider`]: the mls-rs crypto provider (MLS suite 1, caller-seeded randomness).
//! - [`identity`]: member certificates from an authority the SFU does not hold, and the
//!   mls-rs identity provider that checks them.
//! - [`ds`]: the Delivery Service protocol and the DS state machine the SFU runs per room.
//!
//! # Why mls-rs
//!
//! Both maintained Rust implementations (openmls 0.9, mls-rs 0.57) implement RFC 9420 and
//! pass its test vectors. mls-rs fits a sans-IO library that also runs in a browser worker:
//! - every operation takes the time from the caller (`commit_time`,
//!   `process_incoming_message_with_time`), where openmls reads the system clock in its
//!   secret-retention code, which panics on `wasm32-unknown-unknown` without a JS shim;
//! - its `IdentityProvider` is called by the library itself for every leaf a commit adds or
//!   changes and for every leaf of a tree being joined, so a certificate check cannot be
//!   forgotten at one call site (openmls hands staged commits to the application to inspect);
//! - its `MlsRules` let every member apply the same policy to proposals (group size, no PSK or
//!   re-init), and it is Apache-2.0/MIT, maintained by AWS Labs and vendored in AOSP.
//!
//! It is pre-1.0: the version is pinned in `Cargo.lock` and upgrades are deliberate.

pub mod ds;
pub mod identity;
pub mod provider;
pub(crate) mod rules;
