//! SDP offer parsing and answer building for browser, WHIP and WHEP clients.
//!
//! # Model
//!
//! The client always makes the offer, on one BUNDLEd connection; the server only answers.
//! A renegotiation is a new offer on the same connection, answered with the same ICE
//! credentials and DTLS fingerprint ([`LocalParams`] stays the same, only the session
//! version goes up).
//!
//! In the client's offer, an m-section's direction says what it is ([`MediaSection::role`]):
//!
//! | offer      | meaning                                   | answer                  |
//! |------------|-------------------------------------------|-------------------------|
//! | `sendonly` | the client publishes                      | `recvonly`              |
//! | `recvonly` | the client subscribes (the server sends)  | `sendonly`              |
//! | `inactive` | a stopped or paused transceiver           | `inactive` or rejected  |
//! | `sendrecv` | treated as a publication                  | `recvonly` (or `sendrecv` if the caller also sends) |
//!
//! `sendrecv` is a publication by default because that is what a WHIP client or a browser
//! that just called `addTrack` means; the caller may still answer `sendrecv` by passing
//! [`SectionAnswer::SendReceive`] with the stream it sends.
//!
//! Data channels (`m=application ... SCTP`) are always rejected (port 0): telesfu does not run
//! SCTP. Sections of other media types (`text`, `message`) are rejected too.
//!
//! # Use
//!
//! 1. [`parse_offer`] the client's SDP.
//! 2. For each [`MediaSection`], decide: [`choose_codec`] with the server's preferences
//!    ([`VIDEO_PREFERENCES`], [`AUDIO_PREFERENCES`]), then a [`SectionAnswer`].
//! 3. [`build_answer`] with one decision per section, in offer order.
//!
//! Simulcast: a publishing video section that offers `a=rid:<id> send` and
//! `a=simulcast:send` is answered with `a=rid:<id> recv` and `a=simulcast:recv` for up to
//! [`MAX_SIMULCAST_LAYERS`] streams in the offered order; [`MediaSection::simulcast_layers`]
//! returns exactly those rids. The client lists its encodings in `sendEncodings` order, and
//! telesfu's clients list the lowest resolution first (`q;h;f` with scale 4, 2, 1), so the
//! caller maps index = spatial layer. The SDP does not carry resolutions, so nothing here can
//! check that order.
//!
//! Header extensions: in a BUNDLE group all m-sections share one RTP stream demultiplexer,
//! so they must share one extension id space (RFC 8843 §9.2). The parser rejects an offer
//! whose accepted, bundled sections map one URI to two ids or one id to two URIs, so
//! [`Offer::extension_ids`] is well defined for the whole connection.
//!
//! # Limits
//!
//! Offers come from the network before authentication is complete, so the parser caps what
//! it will hold; exceeding a cap is [`SdpError::TooLarge`]. The caps are generous for real
//! clients: a Chromium 156 video m-section with every codec is about 5 KiB and 130 lines, an
//! audio section about 1 KiB.
//!
//! | what                          | cap                         |
//! |-------------------------------|-----------------------------|
//! | whole offer                   | [`MAX_OFFER_BYTES`] (256 KiB) |
//! | one line                      | [`MAX_LINE_BYTES`] (4 KiB)  |
//! | m-sections                    | [`MAX_SECTIONS`] (64)       |
//! | payload types per section     | 128 (all of 0-127)          |
//! | `a=rtcp-fb` per payload type  | [`MAX_RTCP_FB`] (16)        |
//! | `a=extmap` per section        | [`MAX_EXTMAPS`] (32)        |
//! | `a=rid` per section           | [`MAX_RIDS`] (8)            |
//! | distinct SSRCs per section    | [`MAX_SSRCS`] (32)          |
//! | `a=ssrc-group` per section    | [`MAX_SSRC_GROUPS`] (16)    |
//! | BUNDLE groups, ice-options    | [`MAX_SMALL_LIST`] (16) entries |
//!
//! Everything else the parser keeps is a bounded slice of a bounded line. Parsing is linear
//! in the input apart from lookups in these capped lists. No input panics the parser (a
//! property test over random input and a mutation test over real offers check this).
//!
//! # Errors
//!
//! [`SdpError`] says whose fault it is: the offer's syntax ([`SdpError::Malformed`], with a
//! 1-based line number), an offer that contradicts itself ([`SdpError::Conflict`]), one
//! that lacks something required ([`SdpError::Missing`]), one that asks for something
//! telesfu does not do ([`SdpError::Unsupported`]), a cap ([`SdpError::TooLarge`]), or the
//! caller's decisions not fitting the offer ([`SdpError::ApiMisuse`]).

mod answer;
mod parse;

pub use answer::{
    AUDIO_PREFERENCES, ChosenCodec, LocalParams, SectionAnswer, SendStream, VIDEO_PREFERENCES,
    build_answer, choose_codec,
};
pub use parse::parse_offer;
pub use telesfu_core::Ssrc;
pub use telesfu_core::engine::{Codec, ExtensionIds, Mid, Rid};

/// Largest offer accepted, in bytes.
pub const MAX_OFFER_BYTES: usize = 256 * 1024;
/// Longest line accepted, in bytes (without the line ending).
pub const MAX_LINE_BYTES: usize = 4096;
/// Most m-sections accepted in one offer.
pub const MAX_SECTIONS: usize = 64;
/// Most `a=rtcp-fb` values kept per payload type.
pub const MAX_RTCP_FB: usize = 16;
/// Most `a=extmap` lines per m-section.
pub const MAX_EXTMAPS: usize = 32;
/// Most `a=rid` lines per m-section.
pub const MAX_RIDS: usize = 8;
/// Most distinct SSRCs (from `a=ssrc` lines) per m-section.
pub const MAX_SSRCS: usize = 32;
/// Most `a=ssrc-group` lines per m-section.
pub const MAX_SSRC_GROUPS: usize = 16;
/// Most entries in small lists (ice-options, mids in a group, SSRCs in a group, groups).
pub const MAX_SMALL_LIST: usize = 16;
/// Most simulcast streams the server receives (answers `a=simulcast:recv` with).
pub const MAX_SIMULCAST_LAYERS: usize = 3;

/// What went wrong with an offer, or with the caller's answer decisions.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SdpError {
    /// A line does not follow the SDP grammar or has an out-of-range value.
    #[error("line {line}: {reason}")]
    Malformed {
        /// 1-based line number.
        line: usize,
        /// What is wrong.
        reason: String,
    },
    /// The offer contradicts itself (two fingerprints, one URI with two extension ids, a
    /// duplicate mid, a BUNDLE group naming an unknown mid...).
    #[error("line {line}: {reason}")]
    Conflict {
        /// 1-based line number of the second, contradicting line.
        line: usize,
        /// What conflicts with what.
        reason: String,
    },
    /// The offer lacks something every WebRTC offer has.
    #[error("offer has no {what}")]
    Missing {
        /// What is missing, e.g. `a=fingerprint:sha-256`.
        what: &'static str,
    },
    /// The offer is valid but asks for something telesfu does not do.
    #[error("unsupported: {reason}")]
    Unsupported {
        /// What, and where.
        reason: String,
    },
    /// The offer exceeds one of the parser's caps (see the module docs).
    #[error("line {line}: more than {max} {what}")]
    TooLarge {
        /// 1-based line number where the cap was crossed (0 for the whole offer).
        line: usize,
        /// What was counted.
        what: &'static str,
        /// The cap.
        max: usize,
    },
    /// The caller's decisions do not fit the offer.
    #[error("API misuse: {0}")]
    ApiMisuse(String),
}

/// Media type of an m-section.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum MediaKind {
    /// `m=audio`.
    Audio,
    /// `m=video`.
    Video,
    /// `m=application` (data channels).
    Application,
    /// Anything else (`text`, `message`, ...), kept so the answer can reject it by name.
    Other(String),
}

impl MediaKind {
    /// The media token as written on the m-line.
    pub fn as_str(&self) -> &str {
        match self {
            Self::Audio => "audio",
            Self::Video => "video",
            Self::Application => "application",
            Self::Other(s) => s,
        }
    }
}

/// Media direction (RFC 8866 §6.7), from the offerer's point of view when parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Direction {
    /// `sendrecv` (the default when a section states none).
    #[default]
    SendRecv,
    /// `sendonly`.
    SendOnly,
    /// `recvonly`.
    RecvOnly,
    /// `inactive`.
    Inactive,
}

impl Direction {
    /// The attribute name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::SendRecv => "sendrecv",
            Self::SendOnly => "sendonly",
            Self::RecvOnly => "recvonly",
            Self::Inactive => "inactive",
        }
    }

    /// The same direction seen from the other side (`sendonly` <-> `recvonly`).
    pub fn reversed(self) -> Self {
        match self {
            Self::SendOnly => Self::RecvOnly,
            Self::RecvOnly => Self::SendOnly,
            other => other,
        }
    }

    /// Whether this side sends.
    pub fn sends(self) -> bool {
        matches!(self, Self::SendRecv | Self::SendOnly)
    }

    /// Whether this side receives.
    pub fn receives(self) -> bool {
        matches!(self, Self::SendRecv | Self::RecvOnly)
    }

    pub(crate) fn from_token(s: &str) -> Option<Self> {
        Some(match s {
            "sendrecv" => Self::SendRecv,
            "sendonly" => Self::SendOnly,
            "recvonly" => Self::RecvOnly,
            "inactive" => Self::Inactive,
            _ => return None,
        })
    }
}

/// DTLS role offered in `a=setup` (RFC 4145 / RFC 5763).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Setup {
    /// `actpass`: the offerer can be either; a browser always offers this.
    ActPass,
    /// `active`: the offerer will be the DTLS client.
    Active,
    /// `passive`: the offerer wants to be the DTLS server (telesfu cannot answer this).
    Passive,
    /// `holdconn`.
    HoldConn,
}

/// A certificate fingerprint (RFC 8122).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fingerprint {
    /// Hash function name, lower case (`sha-256`).
    pub algorithm: String,
    /// Colon-separated upper-case hex bytes, as in the offer but upper-cased.
    pub value: String,
}

/// What an m-section asks the server to do, from its direction (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SectionRole {
    /// The client sends media to the server (`sendonly`, and `sendrecv`).
    Publish,
    /// The client wants media from the server (`recvonly`).
    Subscribe,
    /// The transceiver is inactive.
    Inactive,
    /// Port 0 (the client stopped the transceiver), or not RTP media (data channel).
    Rejected,
}

/// One payload type of an m-section with what the offer says about it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct CodecParams {
    /// Payload type, 0-127.
    pub payload_type: u8,
    /// Encoding name as written (`VP8`, `H264`, `opus`, `rtx`...); the static name for
    /// static payload types without `a=rtpmap`; empty when unknown.
    pub name: String,
    /// Clock rate in Hz (0 when unknown).
    pub clock_rate: u32,
    /// Channel count for audio, when given.
    pub channels: Option<u16>,
    /// The `a=fmtp` parameters, verbatim.
    pub fmtp: Option<String>,
    /// `a=rtcp-fb` values for this payload type (and `*`), e.g. `nack pli`.
    pub rtcp_fb: Vec<String>,
    /// For RTX (RFC 4588): the associated payload type from `apt=`.
    pub apt: Option<u8>,
}

impl CodecParams {
    /// Whether this is a retransmission payload type.
    pub fn is_rtx(&self) -> bool {
        self.name.eq_ignore_ascii_case("rtx")
    }

    /// The value of one fmtp parameter (`key=value`, separated by `;`), if present.
    pub fn fmtp_param(&self, key: &str) -> Option<&str> {
        self.fmtp.as_deref()?.split(';').find_map(|kv| {
            let (k, v) = kv.split_once('=')?;
            k.trim().eq_ignore_ascii_case(key).then(|| v.trim())
        })
    }
}

/// `a=extmap` (RFC 8285).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Extmap {
    /// Extension id, 1-255 (never 15 in the one-byte form, but the offer picks).
    pub id: u8,
    /// Optional direction after the id (`a=extmap:3/sendonly ...`).
    pub direction: Option<Direction>,
    /// Extension URI.
    pub uri: String,
}

/// Direction of an `a=rid` line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RidDirection {
    /// The offerer sends this rid.
    Send,
    /// The offerer receives this rid.
    Recv,
}

/// `a=rid:<id> send|recv [params]` (RFC 8851).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RidDescription {
    /// The rid.
    pub id: Rid,
    /// Who sends it.
    pub direction: RidDirection,
    /// Restrictions (`max-width=...;pt=...`), verbatim, empty when none.
    pub params: String,
}

/// One simulcast stream of `a=simulcast` (RFC 8853): alternatives, first preferred.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SimulcastStream {
    /// The alternative rids (`a,b` lists two), without the `~` prefix.
    pub alternatives: Vec<Rid>,
    /// Whether the stream was offered paused (`~`).
    pub paused: bool,
}

impl SimulcastStream {
    /// The preferred rid: the first alternative.
    pub fn rid(&self) -> Rid {
        // Invariant: the parser never stores a stream without alternatives.
        self.alternatives[0]
    }
}

/// `a=simulcast` (RFC 8853), split by direction.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct Simulcast {
    /// Streams the offerer sends, in the offered order.
    pub send: Vec<SimulcastStream>,
    /// Streams the offerer receives.
    pub recv: Vec<SimulcastStream>,
}

/// One SSRC from `a=ssrc` lines (RFC 5576), with the attributes telesfu reads.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SsrcDescription {
    /// The SSRC.
    pub ssrc: Ssrc,
    /// `cname:`.
    pub cname: Option<String>,
    /// `msid:` (`<stream> <track>`), verbatim.
    pub msid: Option<String>,
}

/// `a=ssrc-group:<semantics> <ssrc>...`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SsrcGroup {
    /// `FID`, `SIM`, `FEC-FR`...
    pub semantics: String,
    /// The SSRCs in order (for `FID`: media, then RTX).
    pub ssrcs: Vec<Ssrc>,
}

/// `a=msid:<stream> [<track>]` (RFC 8830).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Msid {
    /// Stream id (`-` for a track without a stream).
    pub stream: String,
    /// Track id, when given.
    pub track: Option<String>,
}

/// One m-section of an offer.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct MediaSection {
    /// Position in the offer, from 0.
    pub index: usize,
    /// Media type.
    pub kind: MediaKind,
    /// Port (0 = rejected / stopped by the offerer; 9 is the usual placeholder).
    pub port: u16,
    /// Transport protocol, e.g. `UDP/TLS/RTP/SAVPF`.
    pub proto: String,
    /// The format tokens of the m-line, verbatim (payload types for RTP).
    pub formats: Vec<String>,
    /// `a=mid`.
    pub mid: Option<Mid>,
    /// Direction (default `sendrecv`).
    pub direction: Direction,
    /// One entry per payload type of the m-line, in m-line order.
    pub codecs: Vec<CodecParams>,
    /// Header extensions.
    pub extmaps: Vec<Extmap>,
    /// `a=rid` lines.
    pub rids: Vec<RidDescription>,
    /// `a=simulcast`, if present.
    pub simulcast: Option<Simulcast>,
    /// `a=ssrc` lines grouped by SSRC, in first-seen order.
    pub ssrcs: Vec<SsrcDescription>,
    /// `a=ssrc-group` lines.
    pub ssrc_groups: Vec<SsrcGroup>,
    /// `a=msid`, the first one if several.
    pub msid: Option<Msid>,
    /// `a=rtcp-mux`.
    pub rtcp_mux: bool,
    /// `a=rtcp-rsize`.
    pub rtcp_rsize: bool,
}

/// Header extension URIs telesfu understands, with a setter into [`ExtensionIds`].
pub(crate) const SUPPORTED_EXTENSIONS: [&str; 7] = [
    "urn:ietf:params:rtp-hdrext:sdes:mid",
    "urn:ietf:params:rtp-hdrext:sdes:rtp-stream-id",
    "urn:ietf:params:rtp-hdrext:sdes:repaired-rtp-stream-id",
    "http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time",
    "http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01",
    "urn:ietf:params:rtp-hdrext:ssrc-audio-level",
    "https://aomediacodec.github.io/av1-rtp-spec/#dependency-descriptor-rtp-header-extension",
];

fn set_extension_id(ids: &mut ExtensionIds, uri: &str, id: u8) {
    let slot = match uri {
        "urn:ietf:params:rtp-hdrext:sdes:mid" => &mut ids.mid,
        "urn:ietf:params:rtp-hdrext:sdes:rtp-stream-id" => &mut ids.rid,
        "urn:ietf:params:rtp-hdrext:sdes:repaired-rtp-stream-id" => &mut ids.repaired_rid,
        "http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time" => &mut ids.abs_send_time,
        "http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01" => {
            &mut ids.transport_cc
        }
        "urn:ietf:params:rtp-hdrext:ssrc-audio-level" => &mut ids.audio_level,
        "https://aomediacodec.github.io/av1-rtp-spec/#dependency-descriptor-rtp-header-extension" => {
            &mut ids.dependency_descriptor
        }
        _ => return,
    };
    slot.get_or_insert(id);
}

impl MediaSection {
    /// What the section asks of the server (see the module docs).
    pub fn role(&self) -> SectionRole {
        if self.port == 0 || !self.is_rtp() {
            return SectionRole::Rejected;
        }
        match self.direction {
            Direction::SendOnly | Direction::SendRecv => SectionRole::Publish,
            Direction::RecvOnly => SectionRole::Subscribe,
            Direction::Inactive => SectionRole::Inactive,
        }
    }

    /// Whether this is an RTP audio or video section (not a data channel or other media).
    pub fn is_rtp(&self) -> bool {
        matches!(self.kind, MediaKind::Audio | MediaKind::Video) && self.proto.contains("RTP/")
    }

    /// The payload type's parameters, if listed on the m-line.
    pub fn codec(&self, payload_type: u8) -> Option<&CodecParams> {
        self.codecs.iter().find(|c| c.payload_type == payload_type)
    }

    /// Ids of the supported header extensions this section offers.
    pub fn extension_ids(&self) -> ExtensionIds {
        let mut ids = ExtensionIds::default();
        for e in &self.extmaps {
            set_extension_id(&mut ids, &e.uri, e.id);
        }
        ids
    }

    /// The simulcast streams the server will receive, in the offered order (index = spatial
    /// layer when the client lists the lowest resolution first, as telesfu's clients do):
    /// the preferred rid of each of the first [`MAX_SIMULCAST_LAYERS`] `a=simulcast:send`
    /// streams. Empty when the section does not offer send simulcast, or is not video.
    pub fn simulcast_layers(&self) -> Vec<Rid> {
        if self.kind != MediaKind::Video || !self.direction.sends() {
            return Vec::new();
        }
        self.simulcast
            .as_ref()
            .map(|s| {
                s.send
                    .iter()
                    .take(MAX_SIMULCAST_LAYERS)
                    .map(SimulcastStream::rid)
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// A parsed offer.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Offer {
    /// The `o=` session id, verbatim (a renegotiation keeps it).
    pub origin_session_id: String,
    /// ICE username fragment (session level, or the m-sections', which must agree).
    pub ice_ufrag: String,
    /// ICE password.
    pub ice_pwd: String,
    /// `a=ice-options` tokens (e.g. `trickle`).
    pub ice_options: Vec<String>,
    /// The sha-256 certificate fingerprint.
    pub fingerprint: Fingerprint,
    /// DTLS role offered (`actpass` from browsers); `None` when absent.
    pub setup: Option<Setup>,
    /// Mids of the first `a=group:BUNDLE`, in order (empty without one).
    pub bundle: Vec<Mid>,
    /// Session-level `a=extmap-allow-mixed` (RFC 8285 one- and two-byte headers mixed).
    pub extmap_allow_mixed: bool,
    /// The m-sections, in order.
    pub sections: Vec<MediaSection>,
}

impl Offer {
    /// Ids of the supported header extensions, for the whole BUNDLE transport: the union over
    /// all non-rejected sections. The parser has checked that they agree.
    pub fn extension_ids(&self) -> ExtensionIds {
        let mut ids = ExtensionIds::default();
        for s in self.sections.iter().filter(|s| s.port != 0) {
            for e in &s.extmaps {
                set_extension_id(&mut ids, &e.uri, e.id);
            }
        }
        ids
    }

    /// The section with this mid.
    pub fn section(&self, mid: Mid) -> Option<&MediaSection> {
        self.sections.iter().find(|s| s.mid == Some(mid))
    }
}
