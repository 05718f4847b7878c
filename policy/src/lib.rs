//! # telesfu-policy: clinical media profiles for telehealth video
//!
//! Which picture matters depends on the visit. A dermatologist needs the patient's skin sharp
//! and true to colour, and can live with a few frames a second; a psychiatrist needs a face at
//! a steady 30 fps; a stroke neurologist needs 60 fps with the least delay, and must be told
//! when the network makes the examination unreliable. This crate turns a visit type into those
//! decisions, as data:
//!
//! - [`profiles::ClinicalProfile`]: one validated profile. It gives the SFU's allocator its
//!   [`profiles::AllocationPolicy`] (track ranking by source with audio always first, the
//!   order in which to climb layers, per-source floors and whether losing one raises a clinical
//!   quality alert, latency mode) and gives the publishing client its
//!   [`profiles::PublisherParams`] (per simulcast layer rid, `scaleResolutionDownBy`,
//!   `maxBitrate`, `maxFramerate`, `scalabilityMode`, and the track's `degradationPreference`,
//!   serialised as the browser's `RTCRtpSendParameters` fields).
//! - [`profiles::builtin`]: dermatology, behavioural health, telestroke and general consult,
//!   each value justified in its docs.
//! - [`profiles::ProfileRegistry`]: picks a profile by visit type when a room is created
//!   (unknown visit types get general consult), and loads custom profiles from TOML with errors
//!   that name the profile, the field and the accepted range.
//!
//! ## Use
//!
//! ```no_run
//! use telesfu_policy::profiles::{ProfileRegistry, TrackSource};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let mut registry = ProfileRegistry::builtin();
//! registry.load_toml(&std::fs::read_to_string("profiles.toml")?)?;
//!
//! // When the room is created, from the appointment's visit type:
//! let profile = registry.for_visit_type("teledermatology");
//!
//! // Sent to each publishing client in the room:
//! let params = serde_json::to_string(&profile.publisher_params())?;
//!
//! // Consulted by the allocator for each subscriber:
//! let first = profile.rank(TrackSource::PatientCamera); // 1: right after audio
//! let path = profile.candidates(); // (spatial, temporal) steps, cheapest first
//! let must_fund = profile.floor_candidate(TrackSource::PatientCamera);
//! let alert = profile.floor(TrackSource::PatientCamera).is_some_and(|f| f.alert);
//! # let _ = (params, first, path, must_fund, alert);
//! # Ok(()) }
//! ```
//!
//! ## Design
//!
//! - Sans-IO and pure: no clock, no threads, no randomness, no I/O. The caller reads the file;
//!   this crate parses text.
//! - Parse, don't validate: a [`profiles::ClinicalProfile`] only exists once its
//!   [`profiles::ProfileSpec`] has passed every check (layers growing lowest first with one
//!   aspect ratio, frame rates never falling going up, floors reachable within the top layer,
//!   every number in its range), so its users never re-check.
//! - Profiles themselves are plain enums and numbers; [`hook`] is the one place that
//!   depends on `telesfu-core`: it implements the core's allocator hook
//!   (`telesfu_core::alloc::SpecialtyHook`) for a profile, so the engine's allocator climbs
//!   and holds floors the way the visit needs. A layer candidate's `(spatial, temporal)` is the
//!   core's layer preference.
//!
//! ## Errors
//!
//! One [`Error`] enum; every variant is a configuration fault and says what to change:
//! malformed TOML or an unknown key or value ([`Error::Toml`], with the parser's quote of the
//! line), a value out of range ([`Error::OutOfRange`]), fields that do not fit together
//! ([`Error::InvalidProfile`]), and names or visit types claimed twice.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod error;
pub mod hook;
pub mod profiles;

pub use error::Error;
