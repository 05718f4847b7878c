//! A deterministic network and media simulator for the engine (feature `sim`).
//!
//! Everything runs in virtual time from a base [`Instant`] the caller supplies, and every
//! random draw comes from a [`SimRng`] derived from one seed, so a run replays exactly.
//!
//! - [`Link`]: one direction of a path with delay, jitter, random or bursty (Gilbert-Elliott)
//!   loss, reordering, a rate-limited bottleneck queue (a serializer, or a token bucket with a
//!   burst as `tc tbf` and consumer routers shape) and scripted bandwidth traces.
//! - [`Publisher`]: simulcast VP8 or AV1 with temporal layers, keyframes, realistic frame
//!   sizes, RTX, sender reports and transport-wide sequence numbers; or Opus audio.
//! - [`Subscriber`] and its [`VirtualDecoder`]s: reassembly, decodability, gap and freeze
//!   accounting, NACK, PLI and receiver reports.
//! - [`Sim`]: the harness that drives the engine and its clients to each next wakeup and fails
//!   loudly on a livelock.
//!
//! ```no_run
//! use std::time::{Duration, Instant};
//! use telesfu_core::engine::LayerPreference;
//! use telesfu_core::sim::{LinkConfig, Loss, PublisherConfig, Sim, SimConfig};
//!
//! # #[allow(clippy::disallowed_methods)]
//! let mut sim = Sim::new(SimConfig::new(7), Instant::now());
//! let link = LinkConfig::new(Duration::from_millis(20)).with_loss(Loss::Random(0.02));
//! let alice = sim.add_client(link.clone(), link.clone());
//! let bob = sim.add_client(link.clone(), link);
//! let track = sim.publish(alice, PublisherConfig::vp8()).unwrap();
//! let sub = sim.subscribe(bob, track, LayerPreference::ALL).unwrap();
//! sim.run_for(Duration::from_secs(10));
//! let seen = sim.decoder(sub).unwrap().stats();
//! println!("{} frames, longest freeze {:?}", seen.frames_displayed, seen.longest_freeze);
//! ```
//!
//! # SFrame
//!
//! [`PublisherConfig::sframe`] *emulates* SFrame (RFC 9605) rather than encrypting: each frame
//! keeps the codec's clear prefix (VP8: the 10-byte keyframe or 3-byte delta-frame header;
//! AV1: none, the dependency descriptor is outside the payload), followed by a 1-byte SFrame
//! header, pseudo-random "ciphertext" of the frame's size and a 16-byte tag. The engine never
//! decrypts, so what it sees is the same as with real SFrame: descriptors and the clear prefix
//! readable, the rest opaque, frames 17 bytes longer.
//!
//! # What is modelled, and what is not
//!
//! - Publishers have no pacer and no bandwidth estimator: a frame's packets leave at its
//!   capture instant (interleaved across layers), and layers are switched on and off only by
//!   [`Publisher::set_layer_active`]. A rate-limited [`Link`] queues the bursts.
//! - VP8 and AV1 video, Opus audio (fixed-size packets every 20 ms, no DTX); no H.264.
//! - The virtual decoder models a receiver's frame assembly, reference tracking and jitter
//!   buffer wait, not decode time or rendering.
//!
//! # Scenarios
//!
//! `sfu-core/tests/sim_*.rs` are the scenario tests; they print what they measured with
//! `cargo test -p telesfu-core --test sim_loss -- --nocapture`.
//!
//! # Time
//!
//! The harness never reads a clock. Tests get a base instant once (`Instant::now()` under
//! `#[allow(clippy::disallowed_methods)]`) and read every later time from [`Sim::now`].

mod decoder;
mod harness;
mod link;
mod packet;
mod publisher;
mod rng;
mod subscriber;

pub use decoder::{DecoderStats, Received, ReceiverConfig, VirtualDecoder};
pub use harness::{Client, ClientId, Sim, SimConfig};
pub use link::{Link, LinkConfig, LinkStats, Loss};
pub use publisher::{
    LayerConfig, LayerStats, MAX_LAYERS, MediaCodec, Publisher, PublisherConfig, PublisherStats,
    av1_structure,
};
pub use rng::SimRng;
pub use subscriber::{Subscriber, SubscriberStats};

#[cfg(doc)]
use std::time::Instant;
