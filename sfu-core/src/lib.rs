//! # telesfu-core: the sans-IO forwarding engine
//!
//! The SFU a vendor drives from its own event loop: rooms, participants (one transport each),
//! published tracks with simulcast encodings, subscriptions, and everything between a
//! publisher's packet and the subscribers' copies. No sockets, no clock, no threads, no global
//! RNG: the caller passes datagrams (already SRTP-decrypted) and the time in, and takes
//! datagrams (to SRTP-protect and send), events and the next timer out.
//!
//! - [`engine`]: the [`Engine`]: forwarding with per-subscriber sequence and timestamp
//!   rewriting, simulcast and temporal layer switching on keyframes, NACK/RTX repair from a
//!   packet store, PLI/FIR, sender and receiver reports, transport-wide CC feedback to
//!   publishers, active speaker, and (with `bandwidth.enabled`) per-subscriber bandwidth
//!   estimation, layer allocation with clinical floors and quality alerts, probing (on RTX,
//!   or as padding on the media stream when a subscriber has no RTX) and optional pacing.
//! - [`alloc`]: which layer of each subscribed track fits a subscriber's estimate, through a
//!   [`alloc::SpecialtyHook`] (telesfu-policy implements it for the clinical profiles). A
//!   pause always raises a quality alert.
//! - [`bwe`]: sender-side bandwidth estimation per subscriber transport (GCC over
//!   transport-wide CC feedback, REMB fallback, probing that survives token-bucket links).
//! - [`pacer`]: a per-transport media pacer (audio, retransmissions, video, padding at a rate
//!   from the estimate), used by the engine when `EngineConfig::bandwidth.pacing` is on
//!   (off by default: docs/bandwidth.md, "Pacing").
//! - [`rtp`]: a zero-copy RTP view that validates once and rewrites SSRC, sequence number,
//!   timestamp, payload type and header extension values in place.
//! - [`rtcp`]: compound RTCP parsing (SR, RR, SDES, BYE, APP, NACK, PLI, FIR, REMB, TWCC) and
//!   builders for what the engine sends.
//! - [`codec`]: VP8, H.264 and Opus payload descriptors, readable on SFrame-encrypted frames
//!   (for VP8 without a TID, as Chromium sends it under an encoded transform, the N bit marks
//!   the droppable frames).
//! - [`av1dd`]: the AV1 dependency descriptor, reader and writer.
//! - `sim` (feature `sim`): a deterministic network and media simulator (loss, delay,
//!   reordering, rate limits, token-bucket shapers) that drives the engine with synthetic
//!   simulcast publishers and checking subscribers, in virtual time.
//!
//! ## The run loop
//!
//! Input: [`Engine::handle_input`] with each datagram and with [`Input::Timeout`] when the
//! time from [`Engine::poll_timeout`] comes. Output, after every input, in this order:
//! [`Engine::poll_transmit`] until `None` (RTCP first, then media), then
//! [`Engine::poll_event`] until `None`, then [`Engine::poll_timeout`] for the next wake-up.
//! With pacing on, media leaves only from `poll_transmit` once its time has come, so the
//! timer must be honoured.
//!
//! ```
//! use std::time::{Duration, Instant};
//! use telesfu_core::engine::{
//!     Codec, EncodingConfig, LayerPreference, ParticipantConfig, SubscriptionConfig,
//!     TrackConfig,
//! };
//! use telesfu_core::{Engine, EngineConfig, Input, Ssrc};
//!
//! # #[allow(clippy::disallowed_methods)]
//! let mut now = Instant::now(); // a driver's clock; the engine never reads one
//! let mut engine = Engine::new(EngineConfig::default(), now, 0, 7);
//! let room = engine.create_room();
//! let patient = engine.add_participant(room, ParticipantConfig::default()).unwrap();
//! let clinician = engine.add_participant(room, ParticipantConfig::default()).unwrap();
//! let camera = engine
//!     .publish(
//!         patient,
//!         TrackConfig::new(Codec::Vp8, 96, None, vec![EncodingConfig::ssrc(Ssrc(1111), None)]),
//!     )
//!     .unwrap();
//! let mut sub = SubscriptionConfig::new(Ssrc(2222), 96);
//! sub.preference = LayerPreference::ALL;
//! engine.subscribe(now, clinician, camera, sub).unwrap();
//!
//! // One VP8 keyframe packet from the patient (normally: read from the socket, SRTP-unprotect).
//! let mut packet = vec![0x80, 0x80 | 96, 0, 1, 0, 0, 0, 0, 0, 0, 0x04, 0x57];
//! packet.extend_from_slice(&[0x10, 0x50, 0x42, 0x00, 0x9d, 0x01, 0x2a, 0x80, 0x02, 0x68, 0x01]);
//! engine.handle_input(now, Input::Datagram { from: patient, contents: &packet });
//!
//! let mut buf = [0u8; 1500];
//! let mut sent = 0;
//! for _ in 0..3 {
//!     while let Some(t) = engine.poll_transmit(now, &mut buf) {
//!         // SRTP-protect buf[..t.len] (SRTCP if t.rtcp) and send it to t.to's address.
//!         if t.to == clinician && !t.rtcp {
//!             sent += 1;
//!         }
//!     }
//!     while let Some(event) = engine.poll_event() {
//!         // Layer switches, quality alerts, active speaker, keyframe requests: tell the app.
//!         let _ = event;
//!     }
//!     // Sleep until the timer (or the next datagram), then tell the engine.
//!     let wake = engine.poll_timeout().unwrap_or(now + Duration::from_millis(50));
//!     now = wake.max(now);
//!     engine.handle_input(now, Input::Timeout);
//! }
//! assert_eq!(sent, 1, "the keyframe was forwarded to the clinician");
//! ```
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
