//! telesfu-server: the thin, I/O-owning shell around the sans-IO telesfu crates.
//!
//! The binary `telesfu` (src/main.rs) only parses configuration and starts the tasks; everything
//! it does lives in these modules so tests can drive it. The transport pieces ([`transport`]) are
//! sans-IO state machines (datagram in, datagram out, `now` passed in); only the media loop
//! ([`hub`] and its driver) and the HTTP/WebSocket front end ([`http`]) touch sockets.
//!
//! # End-to-end encryption
//!
//! Media is SFrame-encrypted by the clients with keys from an MLS group per room; the server
//! never has them. It runs each room's MLS Delivery Service ([`hub`]: orders commits, relays
//! handshake and chat messages, docs/signaling.md §6) and, only when `e2ee.dev_authority` is
//! on, plays the vendor's backend that certifies members ([`authority`], `/api/credential`).
//! Production turns that off, and the server then holds no authority key at all.
//!
//! # Features
//!
//! `server` (default) builds the I/O shell: [`authority`], [`config`], [`http`], [`hub`],
//! [`media`], [`metrics`], [`recorder`], [`server`], [`token`] and the binary. Without it only the
//! sans-IO modules build ([`transport`], [`sdp`], [`signal`], [`fuzz`]) and none of tokio,
//! axum or quinn-udp; the fuzz targets use the crate that way.

#[cfg(feature = "server")]
pub mod authority;
#[cfg(feature = "server")]
pub mod config;
/// Bodies of the fuzz targets in `fuzz/` for the server's parsers (STUN, SRTP/SRTCP, DTLS, SDP,
/// signaling), compiled in every build and replayed over the seed corpus by `cargo test`.
pub mod fuzz;
#[cfg(feature = "server")]
pub mod http;
#[cfg(feature = "server")]
pub mod hub;
#[cfg(feature = "server")]
pub mod media;
#[cfg(feature = "server")]
pub mod metrics;
#[cfg(feature = "server")]
pub mod recorder;
pub mod sdp;
#[cfg(feature = "server")]
pub mod server;
pub mod signal;
#[cfg(feature = "server")]
pub mod token;
pub mod transport;
