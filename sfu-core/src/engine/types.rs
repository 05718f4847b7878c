//! Configuration, commands, events and statistics of the engine.

use core::fmt;
use std::time::Duration;

use crate::ids::{ParticipantId, RoomId, Ssrc, SubscriptionId, TrackId};

/// Engine-wide settings. Defaults suit a telehealth call of a few participants per room and
/// scale to thousands of tracks per engine.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct EngineConfig {
    /// Packets kept for forwarding and retransmission (1500-byte slots). Default 8192, about
    /// 1 s of 100 Mbit/s of media: a NACK older than that cannot be answered.
    pub packet_store_slots: usize,
    /// Outgoing packets remembered per subscription for NACKs. Default 1024.
    pub send_history: usize,
    /// Packets waiting in `poll_transmit`'s queue before new ones are dropped. Default 32768.
    pub transmit_queue: usize,
    /// RTCP packets waiting to be sent before new ones are dropped. Default 1024.
    pub rtcp_queue: usize,
    /// Events waiting in `poll_event`'s queue before new ones are dropped. Default 1024.
    pub event_queue: usize,
    /// Interval of sender and receiver reports. Default 1 s.
    pub report_interval: Duration,
    /// Interval of transport-wide CC feedback (or REMB) toward publishers. Default 50 ms.
    pub feedback_interval: Duration,
    /// How often missing packets are checked for NACKs. Default 20 ms.
    pub nack_interval: Duration,
    /// How often the active speaker is re-evaluated. Default 300 ms.
    pub speaker_interval: Duration,
    /// RTT assumed before a receiver report gives a real one. Default 100 ms.
    pub initial_rtt: Duration,
    /// Bandwidth estimation per subscriber transport and automatic layer allocation.
    pub bandwidth: BandwidthConfig,
}

/// Bandwidth estimation and allocation (see [`crate::bwe`] and [`crate::alloc`]).
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct BandwidthConfig {
    /// Estimate each subscriber's bandwidth (transport-wide CC, REMB as the fallback) and cap
    /// its layers to fit, ranked by the room's [`crate::alloc::SpecialtyHook`]. Off by
    /// default: layers then follow only the subscribers' preferences (and
    /// [`super::Engine::set_allocated_layer`], for an application's own allocator).
    pub enabled: bool,
    /// Add the short-horizon predictor to the estimator ([`crate::bwe::BweConfig::predictor`]).
    pub predictor: bool,
    /// How often each subscriber's allocation is recomputed. Default 200 ms.
    pub allocation_interval: Duration,
    /// Send probes (padding on the RTX stream, or between frames on the media stream of a
    /// subscriber without RTX) to find headroom before upgrading.
    pub probing: bool,
    /// Pacing of media toward each subscriber transport (see [`PacingConfig`]). Needs
    /// `enabled`: without an estimate there is no rate to pace at, and media leaves as soon as
    /// it is forwarded.
    pub pacing: PacingConfig,
}

/// Media pacing per subscriber transport ([`crate::pacer`]): forwarded packets leave at a
/// pacing rate derived from the transport's bandwidth estimate, audio first, then
/// retransmissions, then video, then padding; keyframe bursts are spread over time instead of
/// overflowing the subscriber's bottleneck queue.
///
/// The driver must call [`super::Engine::poll_transmit`] when the time from
/// [`super::Engine::poll_timeout`] comes (after [`super::Input::Timeout`], as for every timer):
/// paced packets wait in the engine until then.
///
/// When a video packet has waited longer than `max_queue_delay` when its turn comes (and it is
/// not part of a keyframe), the subscription's queued video is dropped, the subscription waits
/// for the next keyframe and asks for one, exactly as at a layer switch: the subscriber sees
/// the sequence numbers it was sent continue, with at most one deliberate gap before the
/// keyframe. Counted as [`DropReason::PacerQueue`] (and [`EngineStats::pacer_flushes`]).
/// Retransmissions and padding older than that are dropped on their own.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct PacingConfig {
    /// Pace media (only with [`BandwidthConfig::enabled`]). Default **false** for now: on
    /// the 2 Mbps → 300 kbps → 2 Mbps trace (`sim_bandwidth::step_down_and_recovery`) paced
    /// sending cuts the bottleneck's tail drops from 30-79 to 1-14 per run with no freeze,
    /// but in 6 of 8 seeds it trips the estimator's probe-contradiction guard
    /// ([`crate::bwe::probe::CONTRADICTION_WINDOW`]) during the first climb, whose 10 s probe
    /// backoff then keeps the top layer away for more than 10 s after the link recovers
    /// (1 of 8 seeds unpaced). Turn it on where keyframe bursts overflow shallow router
    /// queues (`docs/bandwidth.md`, "Pacing").
    pub enabled: bool,
    /// The pacing rate is the estimate times this (libwebrtc paces video at 2.5x). Default
    /// 2.5.
    pub factor: f64,
    /// The pacing rate never falls below this, bits per second. Default 300 kbit/s.
    pub min_rate_bps: u64,
    /// Longest a video packet may wait in the pacer before its subscription skips to the next
    /// keyframe. Default 400 ms.
    pub max_queue_delay: Duration,
    /// Credit an idle transport saves up, in time at its pacing rate ([`crate::pacer`]).
    /// Default 5 ms.
    pub max_burst: Duration,
    /// Video packets each transport's pacer holds at most (retransmissions a quarter of that,
    /// audio and padding an eighth). Default 2048.
    pub queue_packets: usize,
}

impl Default for PacingConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            factor: 2.5,
            min_rate_bps: 300_000,
            max_queue_delay: Duration::from_millis(400),
            max_burst: Duration::from_millis(5),
            queue_packets: 2048,
        }
    }
}

impl Default for BandwidthConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            predictor: false,
            allocation_interval: Duration::from_millis(200),
            probing: true,
            pacing: PacingConfig::default(),
        }
    }
}

impl Default for EngineConfig {
    fn default() -> Self {
        Self {
            packet_store_slots: 8192,
            send_history: 1024,
            transmit_queue: 32768,
            rtcp_queue: 1024,
            event_queue: 1024,
            report_interval: Duration::from_secs(1),
            feedback_interval: Duration::from_millis(50),
            nack_interval: Duration::from_millis(20),
            speaker_interval: Duration::from_millis(300),
            initial_rtt: Duration::from_millis(100),
            bandwidth: BandwidthConfig::default(),
        }
    }
}

/// A media codec the engine understands well enough to switch layers on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Codec {
    /// VP8 (RFC 7741): keyframes and temporal layers from the payload descriptor.
    Vp8,
    /// H.264 (RFC 6184): keyframes from NAL headers; no temporal layers.
    H264,
    /// AV1: keyframes and layers from the dependency descriptor extension.
    Av1,
    /// Opus audio.
    Opus,
}

impl Codec {
    /// RTP clock rate.
    pub fn clock_rate(self) -> u32 {
        match self {
            Self::Opus => 48_000,
            _ => 90_000,
        }
    }

    /// Whether this is an audio codec.
    pub fn is_audio(self) -> bool {
        matches!(self, Self::Opus)
    }
}

/// Declares a short token type (1-16 bytes of `[A-Za-z0-9_-]`) stored inline, so carrying one
/// never allocates.
macro_rules! token_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name {
            bytes: [u8; 16],
            len: u8,
        }

        impl $name {
            /// From text; `None` if empty, longer than 16 bytes, or with other characters.
            pub fn new(s: &str) -> Option<Self> {
                Self::from_bytes(s.as_bytes())
            }

            /// From the bytes of a header extension.
            pub fn from_bytes(b: &[u8]) -> Option<Self> {
                if b.is_empty()
                    || b.len() > 16
                    || !b.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'-' || *c == b'_')
                {
                    return None;
                }
                let mut bytes = [0; 16];
                bytes[..b.len()].copy_from_slice(b);
                Some(Self {
                    bytes,
                    len: b.len() as u8,
                })
            }

            /// The bytes.
            pub fn as_bytes(&self) -> &[u8] {
                &self.bytes[..usize::from(self.len)]
            }

            /// The text.
            pub fn as_str(&self) -> &str {
                // Only ASCII is ever stored (checked in `from_bytes`).
                core::str::from_utf8(self.as_bytes()).unwrap_or("")
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, concat!(stringify!($name), "({})"), self.as_str())
            }
        }
    };
}

token_type!(
    /// A simulcast restriction identifier (RFC 8851).
    Rid
);
token_type!(
    /// A media identification tag (RFC 8843): which m-line a packet belongs to.
    Mid
);

/// Header extension IDs one participant negotiated (RFC 8285). `None` means not negotiated.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ExtensionIds {
    /// `urn:ietf:params:rtp-hdrext:sdes:mid`.
    pub mid: Option<u8>,
    /// `urn:ietf:params:rtp-hdrext:sdes:rtp-stream-id`.
    pub rid: Option<u8>,
    /// `urn:ietf:params:rtp-hdrext:sdes:repaired-rtp-stream-id`.
    pub repaired_rid: Option<u8>,
    /// `http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time`.
    pub abs_send_time: Option<u8>,
    /// `http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01`.
    pub transport_cc: Option<u8>,
    /// `urn:ietf:params:rtp-hdrext:ssrc-audio-level` (RFC 6464).
    pub audio_level: Option<u8>,
    /// The AV1 dependency descriptor extension.
    pub dependency_descriptor: Option<u8>,
}

/// How a participant's transport was negotiated.
#[derive(Debug, Clone, Copy, Default)]
#[non_exhaustive]
pub struct ParticipantConfig {
    /// Extension IDs, for what it sends and what it is sent.
    pub extensions: ExtensionIds,
}

/// One simulcast encoding of a published video track (or the only encoding of any track).
#[derive(Debug, Clone, Copy, Default)]
#[non_exhaustive]
pub struct EncodingConfig {
    /// The rid, when the publisher names encodings by rid (SSRCs then learnt from packets).
    pub rid: Option<Rid>,
    /// The media SSRC, when signalled.
    pub ssrc: Option<Ssrc>,
    /// The RTX SSRC, when signalled.
    pub rtx_ssrc: Option<Ssrc>,
}

impl EncodingConfig {
    /// An encoding identified by SSRC.
    pub fn ssrc(ssrc: Ssrc, rtx_ssrc: Option<Ssrc>) -> Self {
        Self {
            rid: None,
            ssrc: Some(ssrc),
            rtx_ssrc,
        }
    }

    /// An encoding identified by rid.
    pub fn rid(rid: Rid) -> Self {
        Self {
            rid: Some(rid),
            ssrc: None,
            rtx_ssrc: None,
        }
    }
}

/// A track being published.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct TrackConfig {
    /// The codec.
    pub codec: Codec,
    /// Its payload type as the publisher sends it.
    pub payload_type: u8,
    /// The RTX payload type, if RTX was negotiated.
    pub rtx_payload_type: Option<u8>,
    /// Encodings, lowest spatial layer first (index = spatial layer). One for audio.
    pub encodings: Vec<EncodingConfig>,
    /// What the track is and who publishes it, for the allocator's specialty hook.
    pub meta: crate::alloc::TrackMeta,
}

impl TrackConfig {
    /// A track with the given codec, payload types and encodings.
    pub fn new(
        codec: Codec,
        payload_type: u8,
        rtx_payload_type: Option<u8>,
        encodings: Vec<EncodingConfig>,
    ) -> Self {
        Self {
            codec,
            payload_type,
            rtx_payload_type,
            encodings,
            meta: crate::alloc::TrackMeta {
                source: if codec.is_audio() {
                    crate::alloc::TrackSource::Microphone
                } else {
                    crate::alloc::TrackSource::Camera
                },
                role: crate::alloc::PublisherRole::Other,
                audio: codec.is_audio(),
            },
        }
    }

    /// With what the track is and who publishes it (audio-ness always follows the codec).
    pub fn with_meta(
        mut self,
        source: crate::alloc::TrackSource,
        role: crate::alloc::PublisherRole,
    ) -> Self {
        self.meta.source = source;
        self.meta.role = role;
        self
    }
}

/// Which layers a subscriber wants at most (typically from the size it renders at).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct LayerPreference {
    /// Highest spatial layer (simulcast encoding index).
    pub max_spatial: u8,
    /// Highest temporal layer.
    pub max_temporal: u8,
    /// Forward nothing (the subscriber hid the video).
    pub paused: bool,
}

impl LayerPreference {
    /// Everything the publisher sends.
    pub const ALL: Self = Self {
        max_spatial: u8::MAX,
        max_temporal: u8::MAX,
        paused: false,
    };

    /// At most `spatial` and `temporal`.
    pub fn new(max_spatial: u8, max_temporal: u8) -> Self {
        Self {
            max_spatial,
            max_temporal,
            paused: false,
        }
    }
}

/// How a subscriber receives a track.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct SubscriptionConfig {
    /// The SSRC the subscriber sees, whatever layer feeds it.
    pub ssrc: Ssrc,
    /// The RTX SSRC, if the subscriber negotiated RTX.
    pub rtx_ssrc: Option<Ssrc>,
    /// Payload type in the subscriber's negotiation.
    pub payload_type: u8,
    /// RTX payload type in the subscriber's negotiation.
    pub rtx_payload_type: Option<u8>,
    /// Initial layer preference.
    pub preference: LayerPreference,
    /// The m-line's mid in the subscriber's negotiation, stamped on every packet when the
    /// subscriber negotiated the mid extension (lets a browser route media before its SSRC is
    /// known from signaling).
    pub mid: Option<Mid>,
}

impl SubscriptionConfig {
    /// A subscription sending as `ssrc` with payload type `payload_type`.
    pub fn new(ssrc: Ssrc, payload_type: u8) -> Self {
        Self {
            ssrc,
            rtx_ssrc: None,
            payload_type,
            rtx_payload_type: None,
            preference: LayerPreference::ALL,
            mid: None,
        }
    }

    /// With a mid.
    pub fn with_mid(mut self, mid: Mid) -> Self {
        self.mid = Some(mid);
        self
    }

    /// With RTX.
    pub fn with_rtx(mut self, rtx_ssrc: Ssrc, rtx_payload_type: u8) -> Self {
        self.rtx_ssrc = Some(rtx_ssrc);
        self.rtx_payload_type = Some(rtx_payload_type);
        self
    }
}

/// Input to [`super::Engine::handle_input`].
#[derive(Debug)]
#[non_exhaustive]
pub enum Input<'a> {
    /// One plain (already SRTP-decrypted) RTP or RTCP datagram from a participant.
    Datagram {
        /// The participant (transport) it arrived on.
        from: ParticipantId,
        /// The datagram.
        contents: &'a [u8],
    },
    /// The time from `poll_timeout` was reached. Spurious calls are harmless.
    Timeout,
}

/// A datagram [`super::Engine::poll_transmit`] wrote into the caller's buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Transmit {
    /// The participant (transport) to send it to.
    pub to: ParticipantId,
    /// Bytes written.
    pub len: usize,
    /// True for RTCP (SRTCP-protect it), false for RTP (SRTP).
    pub rtcp: bool,
}

/// Something the application may want to act on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// A subscription now forwards another spatial layer.
    LayerSwitched {
        /// The subscription.
        subscription: SubscriptionId,
        /// The new spatial layer.
        spatial: u8,
    },
    /// The engine asked a publisher for a keyframe.
    KeyframeRequested {
        /// The track.
        track: TrackId,
        /// Its spatial layer.
        spatial: u8,
    },
    /// The room's active speaker changed.
    ActiveSpeaker {
        /// The room.
        room: RoomId,
        /// The new speaker.
        participant: ParticipantId,
    },
    /// A subscription's clinical floor cannot be held on its subscriber's network (the room's
    /// [`crate::alloc::SpecialtyHook`] asked for an alert).
    QualityAlert {
        /// The subscription.
        subscription: SubscriptionId,
        /// The floor.
        floor: crate::alloc::Floor,
        /// What it gets instead: `(width, height, fps)`, or `None` when paused.
        delivered: Option<(u16, u16, u16)>,
        /// The subscriber's estimated bandwidth, bits per second.
        estimate_bps: u64,
    },
    /// The floor is held again.
    QualityRestored {
        /// The subscription.
        subscription: SubscriptionId,
    },
}

/// Why a packet was not forwarded (or a datagram not used).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum DropReason {
    /// Not valid RTP or RTCP.
    Malformed,
    /// From a participant the engine does not know.
    UnknownParticipant,
    /// An SSRC no published encoding claims.
    UnknownSsrc,
    /// Larger than a packet-store slot.
    TooLarge,
    /// A duplicate of a packet already received.
    Duplicate,
    /// Padding only (bandwidth probes): nothing to forward.
    PaddingOnly,
    /// A spatial layer the subscription is not on.
    NotCurrentLayer,
    /// A temporal layer above the subscription's ceiling.
    TemporalLayer,
    /// The subscription is paused.
    Paused,
    /// So late that its place in the outgoing sequence is unknown.
    TooLate,
    /// The transmit or RTCP queue was full.
    QueueFull,
    /// A NACK for a packet no longer (or never) in the send history.
    HistoryMiss,
    /// A keyframe request inside the throttle interval.
    KeyframeThrottled,
    /// The event queue was full.
    EventQueueFull,
    /// Waited too long in a subscriber transport's pacer (or found it full); see
    /// [`PacingConfig`].
    PacerQueue,
}

impl DropReason {
    /// Every reason, in a fixed order (the index into [`EngineStats::drops`]).
    pub const ALL: [DropReason; 15] = [
        Self::Malformed,
        Self::UnknownParticipant,
        Self::UnknownSsrc,
        Self::TooLarge,
        Self::Duplicate,
        Self::PaddingOnly,
        Self::NotCurrentLayer,
        Self::TemporalLayer,
        Self::Paused,
        Self::TooLate,
        Self::QueueFull,
        Self::HistoryMiss,
        Self::KeyframeThrottled,
        Self::EventQueueFull,
        Self::PacerQueue,
    ];

    /// Stable snake-case name, for metrics labels.
    pub fn name(self) -> &'static str {
        match self {
            Self::Malformed => "malformed",
            Self::UnknownParticipant => "unknown_participant",
            Self::UnknownSsrc => "unknown_ssrc",
            Self::TooLarge => "too_large",
            Self::Duplicate => "duplicate",
            Self::PaddingOnly => "padding_only",
            Self::NotCurrentLayer => "not_current_layer",
            Self::TemporalLayer => "temporal_layer",
            Self::Paused => "paused",
            Self::TooLate => "too_late",
            Self::QueueFull => "queue_full",
            Self::HistoryMiss => "history_miss",
            Self::KeyframeThrottled => "keyframe_throttled",
            Self::EventQueueFull => "event_queue_full",
            Self::PacerQueue => "pacer_queue",
        }
    }

    pub(crate) fn index(self) -> usize {
        Self::ALL.iter().position(|r| *r == self).unwrap_or(0)
    }
}

/// Engine-wide counters.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct EngineStats {
    /// RTP packets received.
    pub rtp_in: u64,
    /// RTP bytes received.
    pub rtp_bytes_in: u64,
    /// RTCP datagrams received.
    pub rtcp_in: u64,
    /// RTP packets sent (forwards and retransmissions).
    pub rtp_out: u64,
    /// RTP bytes sent.
    pub rtp_bytes_out: u64,
    /// RTCP packets sent.
    pub rtcp_out: u64,
    /// Drops, indexed like [`DropReason::ALL`].
    pub drops: [u64; DropReason::ALL.len()],
    /// Keyframe requests sent to publishers.
    pub keyframe_requests: u64,
    /// Spatial layer switches.
    pub layer_switches: u64,
    /// NACKed packets answered with a retransmission.
    pub retransmissions: u64,
    /// NACKs not answered because the packet was retransmitted less than a round trip ago.
    pub retransmissions_throttled: u64,
    /// Sequence numbers NACKed toward publishers.
    pub nacks_sent: u64,
    /// Times a subscription's queued video was dropped in the pacer for waiting too long (it
    /// then waits for a keyframe); the packets count as [`DropReason::PacerQueue`].
    pub pacer_flushes: u64,
    /// Bandwidth probe packets sent (padding only: on the RTX stream, or on the media stream
    /// of a subscriber without RTX). Counted in `rtp_out` too.
    pub probe_packets: u64,
}

impl EngineStats {
    /// Drops for one reason.
    pub fn dropped(&self, reason: DropReason) -> u64 {
        self.drops[reason.index()]
    }
}

/// What a subscriber's receiver reports say, and what was sent to it.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
#[non_exhaustive]
pub struct SubscriptionStats {
    /// Packets forwarded (not counting retransmissions).
    pub packets: u64,
    /// Bytes forwarded.
    pub bytes: u64,
    /// Retransmissions sent.
    pub retransmissions: u64,
    /// Round-trip time from the last receiver report.
    pub rtt: Option<Duration>,
    /// Fraction lost (0-1) from the last receiver report.
    pub fraction_lost: f32,
    /// Jitter in milliseconds from the last receiver report.
    pub jitter_ms: f32,
    /// Spatial layer being forwarded.
    pub spatial: Option<u8>,
    /// Last receiver-estimated bitrate (REMB) from the subscriber, bits per second.
    pub remb_bps: Option<u64>,
    /// Padding-only probe packets sent on this stream's media SSRC (a subscriber without RTX;
    /// not counted in `packets`).
    pub padding_packets: u64,
}

/// Errors from the engine's API.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// No such room.
    UnknownRoom(RoomId),
    /// No such participant.
    UnknownParticipant(ParticipantId),
    /// No such track.
    UnknownTrack(TrackId),
    /// No such subscription.
    UnknownSubscription(SubscriptionId),
    /// The SSRC is already used by another encoding of this participant.
    SsrcInUse(Ssrc),
    /// A participant cannot subscribe to a track in another room.
    DifferentRoom,
    /// The configuration is invalid; the text says what to fix.
    InvalidConfig(&'static str),
    /// A call that only means something while bandwidth allocation is on
    /// ([`super::BandwidthConfig::enabled`]), made while it is off: a room hook would never be
    /// consulted.
    BandwidthOff,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::UnknownRoom(r) => write!(f, "unknown {r}"),
            Self::UnknownParticipant(p) => write!(f, "unknown {p}"),
            Self::UnknownTrack(t) => write!(f, "unknown {t}"),
            Self::UnknownSubscription(s) => write!(f, "unknown {s}"),
            Self::SsrcInUse(s) => write!(f, "{s} is already used by this participant"),
            Self::DifferentRoom => f.write_str("subscriber and track are in different rooms"),
            Self::InvalidConfig(m) => write!(f, "invalid configuration: {m}"),
            Self::BandwidthOff => f.write_str(
                "bandwidth allocation is off (EngineConfig::bandwidth.enabled): a room hook \
                 would never be consulted; turn it on first",
            ),
        }
    }
}

impl std::error::Error for Error {}
