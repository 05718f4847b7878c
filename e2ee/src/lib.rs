//! # telesfu-e2ee: SFrame end-to-end media encryption for telehealth calls
//!
//! SFrame (RFC 9605) encrypts each media frame before it reaches the transport, so the SFU
//! forwards media it cannot read. This crate holds everything a client (native, or the browser
//! worker through `wasm32-unknown-unknown`) needs:
//!
//! - [`Header`]: the SFrame header codec, strict on malformed input.
//! - [`CipherSuite`]: suites 1-5 of RFC 9605 (and 6-8 with feature `draft-aes256-ctr-hmac`),
//!   over a pluggable [`crypto::CryptoProvider`] with a pure-Rust and a ring backend.
//! - [`Context`]: keys by KID, per-KID send counters and receive replay windows, in-place
//!   seal and open with no allocation per frame.
//! - [`media`]: the codec-aware clear prefix that lets an SFU switch simulcast layers on
//!   encrypted frames (VP8, Opus, H.264; AV1 relies on the dependency descriptor).
//! - [`kid`]: the §5.1 sender-key ratchet KID and the §5.2 MLS-style KID layout.
//! - [`agreement`] and [`session`]: signed X25519 key agreement, per-sender keys delivered
//!   sealed to each member, safety numbers, and rotation on a timer and on every leave.
//!
//! ## A run loop
//!
//! ```no_run
//! use std::time::Instant;
//! use telesfu_e2ee::{CipherSuite, Context, KeyId};
//!
//! # fn main() -> Result<(), telesfu_e2ee::Error> {
//! let mut alice = Context::new(CipherSuite::Aes128GcmSha256)?;
//! let mut bob = Context::new(CipherSuite::Aes128GcmSha256)?;
//! let base_key = [7u8; 16]; // delivered by the key agreement in practice
//! alice.add_send_key(KeyId(1), &base_key)?;
//! bob.add_recv_key(KeyId(1), &base_key)?;
//!
//! let frame = b"an encoded video frame";
//! let mut wire = vec![0u8; frame.len() + alice.max_overhead()];
//! let n = alice.seal(KeyId(1), &[], frame, &mut wire)?;
//!
//! let mut out = vec![0u8; n];
//! let opened = bob.open(&[], &wire[..n], &mut out)?;
//! assert_eq!(&out[opened.payload], frame);
//! # let _ = Instant::now;
//! # Ok(()) }
//! ```
//!
//! ## Design
//!
//! - Sans-IO: no clock, no threads, no global RNG, no I/O. Where time matters (rotation) it
//!   comes in as `now: Instant`; where randomness matters (ephemeral keys) the caller passes an
//!   RNG.
//! - Authenticate before touching state (the lesson of sframe-rs 2.0): an open first parses and
//!   screens read-only, then decrypts, and only a frame that authenticated moves the replay
//!   window. A forged frame changes nothing.
//! - A key is for one direction (§4.4.1). A send counter is never reused: it advances before
//!   the AEAD runs, and reaching its end is an error, never a wrap.
//! - Secrets (base keys, derived keys, salts, DH outputs) are erased on drop with `zeroize`.
//!
//! ## Why our own SFrame, and not the `sframe` crate
//!
//! `sframe` 2.x is a careful RFC 9605 implementation, and we keep it as a differential oracle
//! (`tests/differential_sframe.rs`: same bytes both ways for random KIDs, counters, metadata
//! and payloads) and as the peer in `benches/`. We do not build on it because:
//! - its backends are exclusive cargo features: the ring one (the fast one) has no AES-CTR
//!   suites, and a build cannot offer ring's GCM and the CTR suites side by side, nor a
//!   vendor's own FIPS module for some suites; our provider trait is per suite;
//! - it has no post-RFC suites 6-8, no codec-aware clear prefix (what lets an SFU switch
//!   simulcast layers on encrypted frames), and no key agreement or rotation;
//! - our seal writes the header into headroom before the payload and the tag after it, so the
//!   payload never moves, and builds the AAD on the stack: no allocation per frame, measured by
//!   a counting allocator (`tests/no_alloc.rs`).
//!
//! ## Errors
//!
//! One [`Error`] enum, grouped by fault: malformed network input (drop the frame, count it),
//! API misuse (fix the call), configuration (fix the setup).
#![forbid(unsafe_code)]
#![deny(missing_docs)]

use core::fmt;

mod context;
pub mod crypto;
mod error;
mod header;
pub mod key;
pub mod kid;
pub mod media;
pub mod mls;
mod replay;
pub mod session;
mod suite;
pub mod time;

#[doc(hidden)]
pub mod fuzz;

pub use context::{Context, ContextConfig, MAX_METADATA_LEN, Opened};
pub use error::{Error, HeaderError};
pub use header::{Header, MAX_HEADER_LEN};
pub use replay::{MAX_REPLAY_WINDOW, ReplayVerdict, ReplayWindow};
pub use suite::{ALL_SUITES, CipherSuite, Hash, MAX_KEY_LEN, MAX_TAG_LEN, NONCE_LEN};

/// Declares a `u64` newtype id with `Display` as `<label> <hex>`.
macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident, $label:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
        pub struct $name(pub u64);

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, concat!($label, " {:#x}"), self.0)
            }
        }

        impl From<u64> for $name {
            fn from(v: u64) -> Self {
                Self(v)
            }
        }
    };
}

id_type!(
    /// An SFrame key ID (KID): names the key a frame was sealed with.
    KeyId,
    "KID"
);
id_type!(
    /// An SFrame counter (CTR): unique per (key, frame), forms the nonce with the key's salt.
    Counter,
    "CTR"
);
