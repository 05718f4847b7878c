//! telesfu-server: the thin, I/O-owning shell around the sans-IO telesfu crates.
//!
//! The binary `telesfu` (src/main.rs) only parses configuration and starts [`run`]-style tasks;
//! everything it does lives in these modules so tests can drive it. The transport pieces
//! ([`transport`]) are themselves sans-IO state machines (datagram in, datagram out, `now`
//! passed in); only the media loop and the HTTP/WebSocket front end touch sockets.

pub mod sdp;
pub mod transport;
