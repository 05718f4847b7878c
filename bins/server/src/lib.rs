//! telesfu-server: the thin, I/O-owning shell around the sans-IO telesfu crates.
//!
//! The binary `telesfu` (src/main.rs) only parses configuration and starts the tasks; everything
//! it does lives in these modules so tests can drive it. The transport pieces ([`transport`]) are
//! sans-IO state machines (datagram in, datagram out, `now` passed in); only the media loop
//! ([`hub`] and its driver) and the HTTP/WebSocket front end ([`http`]) touch sockets.

pub mod config;
/// Bodies of the fuzz targets in `fuzz/` for the server's parsers (STUN, SRTP/SRTCP, DTLS, SDP,
/// signaling), compiled in every build and replayed over the seed corpus by `cargo test`.
pub mod fuzz;
pub mod http;
pub mod hub;
pub mod media;
pub mod metrics;
pub mod recorder;
pub mod sdp;
pub mod server;
pub mod signal;
pub mod token;
pub mod transport;
