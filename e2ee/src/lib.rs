//! # telesfu-e2ee: end-to-end encryption for telehealth calls
//!
//! SFrame (RFC 9605) encrypts each media frame before it reaches the transport, so the SFU
//! forwards media it cannot read; MLS (RFC 9420) gives the call's members those keys, with the
//! SFU as the Delivery Service that orders handshake messages and learns nothing. This crate
//! holds everything a client (native, or the browser worker through `wasm32-unknown-unknown`,
//! see `e2ee/wasm` and the `@telesfu/e2ee` package in `e2ee/web`) and the SFU need:
//!
//! - [`session::Session`]: one member's state machine. It joins the room's MLS group, commits
//!   removals and 30-minute updates, keys SFrame per epoch as RFC 9605 §5.2 says, opens a frame
//!   only under a key of the participant it is attributed to, and carries chat as MLS
//!   application data. Its docs state what it promises against the SFU;
//!   `docs/threat-model.md` states the whole model.
//! - [`mls::identity`]: member certificates from an authority the SFU does not hold, checked by
//!   every member for every other member before any key reaches it.
//! - [`mls::ds`]: the Delivery Service protocol and state machine the SFU runs per room.
//! - [`mls::provider`]: the mls-rs crypto provider (MLS suite 1, caller-seeded randomness).
//! - [`Context`], [`Header`], [`CipherSuite`]: RFC 9605 itself (suites 1-5, and 6-8 with
//!   feature `draft-aes256-ctr-hmac`) over a pluggable [`crypto::CryptoProvider`] with a
//!   pure-Rust and a ring backend; in-place seal and open with no allocation per frame.
//! - [`media`]: the codec-aware clear prefix that lets an SFU switch simulcast layers on
//!   encrypted frames (VP8, Opus, H.264; AV1 relies on the dependency descriptor).
//! - [`kid`]: the §5.2 MLS KID layout (and the §5.1 sender-key ratchet layout).
//!
//! ## A run loop
//!
//! A member is driven like every telesfu state machine: feed it, then drain it. Messages for
//! the DS go out over the application's signaling; messages from the DS come back in order.
//!
//! ```no_run
//! use std::time::{Duration, Instant};
//! use telesfu_e2ee::media::Codec;
//! use telesfu_e2ee::mls::ds::{FromDs, ToDs};
//! use telesfu_e2ee::mls::identity::TrustAnchors;
//! use telesfu_e2ee::session::{Event, MemberKey, Session, SessionConfig, SessionParams};
//!
//! # fn signaling_recv() -> Option<FromDs> { None }
//! # fn signaling_send(_: ToDs) {}
//! # fn certify(_: [u8; 32]) -> Vec<u8> { Vec::new() }
//! # fn main() -> Result<(), telesfu_e2ee::Error> {
//! # let (anchors, seed, rng_seed, unix_now) = (TrustAnchors::default(), [1; 32], [2; 32], Duration::ZERO);
//! let key = MemberKey::from_seed(seed); // 32 bytes from the OS generator
//! let certificate = certify(key.public_key()); // the vendor's backend signs it
//! let params = SessionParams::new("visit-42", "p3", anchors, key, certificate, rng_seed);
//! let mut member = Session::new(SessionConfig::default(), params, Instant::now(), unix_now)?;
//! loop {
//!     let now = Instant::now();
//!     if let Some(msg) = signaling_recv() {
//!         member.handle_ds(now, msg);
//!     }
//!     if member.poll_timeout().is_some_and(|t| t <= now) {
//!         member.handle_timeout(now);
//!     }
//!     while let Some(msg) = member.poll_transmit() {
//!         signaling_send(msg);
//!     }
//!     while let Some(event) = member.poll_event() {
//!         if let Event::EpochChanged(change) = event {
//!             println!("epoch {}: code {}", change.epoch, change.code);
//!         }
//!     }
//!     // Media: seal what the encoder produced; open what the SFU attributes to "p7".
//!     let mut frame = vec![0x31, 0, 0, 42];
//!     let len = frame.len();
//!     frame.resize(member.seal_buffer_len(Codec::Vp8, len), 0);
//!     if let Ok(n) = member.seal_frame(Codec::Vp8, &mut frame, len) {
//!         frame.truncate(n);
//!     }
//!     let mut received = frame.clone();
//!     let _ = member.open_frame("p7", Codec::Vp8, &mut received);
//! #   break;
//! }
//! # Ok(()) }
//! ```
//!
//! ## Design
//!
//! - Sans-IO: no clock, no threads, no global RNG, no I/O. Time comes in as `now`
//!   ([`time::Instant`]: std's, or `web_time`'s on wasm32) plus the wall-clock time once, at
//!   start, for certificate validity; randomness comes in as a 32-byte seed. The one lock is
//!   the generator mls-rs requires to be shared ([`mls::provider`] says why).
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
//!   simulcast layers on encrypted frames), and its MLS support is KID arithmetic only;
//! - our seal writes the header into headroom before the payload and the tag after it, so the
//!   payload never moves, and builds the AAD on the stack: no allocation per frame, measured by
//!   a counting allocator (`tests/no_alloc.rs`).
//!
//! ## Why mls-rs for the group keys
//!
//! A home-made group protocol is what issue 9 found broken; MLS is the standard, reviewed one.
//! [`mls`] says why mls-rs rather than openmls (time from the caller, identity checks inside
//! the library, a policy hook every member applies).
//!
//! ## Errors
//!
//! One [`Error`] enum, grouped by fault: malformed network input (drop the frame, count it),
//! API misuse (fix the call), configuration (fix the setup). Handshake messages from the DS
//! never return errors: a bad one becomes [`session::Event::Refused`] and changes nothing.
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
