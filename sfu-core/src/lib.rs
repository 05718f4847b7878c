//! # telesfu-core: the sans-IO forwarding engine (in progress, issue 3)
//!
//! This crate will hold the engine a vendor drives from its own event loop. What is here so
//! far is the packet layer it is built on:
//!
//! - [`rtp`]: a zero-copy RTP view that validates once and rewrites SSRC, sequence number,
//!   timestamp, payload type and header extension values in place.
//! - [`rtcp`]: compound RTCP parsing (SR, RR, SDES, BYE, APP, NACK, PLI, FIR, REMB, TWCC) and
//!   builders for what the engine sends.
//! - [`codec`]: VP8, H.264 and Opus payload descriptors, readable on SFrame-encrypted frames.
//! - [`av1dd`]: the AV1 dependency descriptor, reader and writer.
//! - [`bwe`]: sender-side bandwidth estimation per subscriber transport (GCC over
//!   transport-wide CC feedback, REMB fallback, probing).
//! - [`pacer`]: a per-transport media pacer (audio, retransmissions, video, padding at a rate
//!   from the estimate), used by the engine when `EngineConfig::bandwidth.pacing` is on. Paced
//!   packets leave only from `Engine::poll_transmit` when `Engine::poll_timeout` comes, so the
//!   driver must honour `poll_timeout`.
//! - `sim` (feature `sim`): a deterministic network and media simulator that drives the engine
//!   with synthetic simulcast publishers and checking subscribers, in virtual time.
//!
//! Like every core crate it is sans-IO: no clock, no sockets, no threads, no global RNG.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod alloc;
pub mod av1dd;
pub mod bwe;
pub mod codec;
pub mod engine;
#[doc(hidden)]
pub mod fuzz;
pub mod ids;
pub mod pacer;
pub mod rtcp;
pub mod rtp;
#[cfg(feature = "sim")]
pub mod sim;

pub use engine::{Engine, EngineConfig, Event, Input, Transmit};
pub use ids::{ParticipantId, RoomId, Ssrc, SubscriptionId, TrackId};
