//! # telesfu-core: the sans-IO forwarding engine (in progress, issue 3)
//!
//! This crate will hold the engine a vendor drives from its own event loop. What is here so
//! far is the packet layer it is built on:
//!
//! - [`rtp`]: a zero-copy RTP view that validates once and rewrites SSRC, sequence number,
//!   timestamp, payload type and header extension values in place.
//!
//! Like every core crate it is sans-IO: no clock, no sockets, no threads, no global RNG.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod codec;
#[doc(hidden)]
pub mod fuzz;
pub mod rtcp;
pub mod rtp;
