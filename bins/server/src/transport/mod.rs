//! WebRTC transport for browsers: RFC 7983 demultiplexing, ICE-lite, DTLS and SRTP.

pub mod demux;
pub mod dtls;
pub mod ice;
pub mod srtp;
