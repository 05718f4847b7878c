//! Codec choice and the answer writer.

use core::fmt::Write as _;
use std::net::SocketAddr;

use super::{
    Codec, Direction, MAX_SIMULCAST_LAYERS, MediaKind, MediaSection, Offer, SUPPORTED_EXTENSIONS,
    SdpError, Setup, Ssrc,
};

/// The server's video codec preference: VP8, then H.264 (packetization-mode=1, constrained
/// baseline 42e01f preferred), then AV1.
pub const VIDEO_PREFERENCES: [Codec; 3] = [Codec::Vp8, Codec::H264, Codec::Av1];
/// The server's audio codec preference: Opus 48000/2.
pub const AUDIO_PREFERENCES: [Codec; 1] = [Codec::Opus];

/// RTCP feedback telesfu answers with (when the offer has it for the chosen codec).
const KEPT_RTCP_FB: [&str; 5] = ["nack", "nack pli", "ccm fir", "transport-cc", "goog-remb"];

/// The codec an answer section uses: one payload type from the offer, with its RTX.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ChosenCodec {
    /// Which codec.
    pub codec: Codec,
    /// Its payload type, as offered.
    pub payload_type: u8,
    /// The encoding name as offered (`VP8`, `H264`, `AV1`, `opus`).
    pub name: String,
    /// Clock rate in Hz.
    pub clock_rate: u32,
    /// Channel count (2 for Opus), when the offer gives one.
    pub channels: Option<u16>,
    /// The offer's fmtp for this payload type, echoed in the answer.
    pub fmtp: Option<String>,
    /// The RTX payload type whose `apt` is this payload type, if offered.
    pub rtx_payload_type: Option<u8>,
    /// The RTCP feedback kept: the offered subset of `nack`, `nack pli`, `ccm fir`,
    /// `transport-cc`, `goog-remb`.
    pub rtcp_fb: Vec<String>,
}

/// Picks the section's codec by the server's preference order (`prefs`, e.g.
/// [`VIDEO_PREFERENCES`]); among several offered payload types of one codec, the first in
/// offer order, except that H.264 needs `packetization-mode=1` and prefers
/// `profile-level-id=42e01f`, then any constrained baseline profile. Opus needs 48000/2.
/// `None` when the section offers none of them (or is not an RTP section).
pub fn choose_codec(section: &MediaSection, prefs: &[Codec]) -> Option<ChosenCodec> {
    if !section.is_rtp() {
        return None;
    }
    for &want in prefs {
        let audio = want == Codec::Opus;
        if audio != (section.kind == MediaKind::Audio) {
            continue;
        }
        let (name, clock) = match want {
            Codec::Vp8 => ("VP8", 90_000),
            Codec::H264 => ("H264", 90_000),
            Codec::Av1 => ("AV1", 90_000),
            Codec::Opus => ("opus", 48_000),
            _ => continue,
        };
        let best = section
            .codecs
            .iter()
            .filter(|c| c.name.eq_ignore_ascii_case(name) && c.clock_rate == clock)
            .filter(|c| want != Codec::Opus || c.channels == Some(2))
            .filter(|c| want != Codec::H264 || c.fmtp_param("packetization-mode") == Some("1"))
            .min_by_key(|c| {
                if want != Codec::H264 {
                    return 0;
                }
                match c.fmtp_param("profile-level-id") {
                    Some(p) if p.eq_ignore_ascii_case("42e01f") => 0,
                    Some(p) if is_constrained_baseline(p) => 1,
                    _ => 2,
                }
            });
        let Some(c) = best else { continue };
        let rtx = section
            .codecs
            .iter()
            .find(|r| r.is_rtx() && r.apt == Some(c.payload_type))
            .map(|r| r.payload_type);
        return Some(ChosenCodec {
            codec: want,
            payload_type: c.payload_type,
            name: c.name.clone(),
            clock_rate: c.clock_rate,
            channels: c.channels,
            fmtp: c.fmtp.clone(),
            rtx_payload_type: rtx,
            rtcp_fb: c
                .rtcp_fb
                .iter()
                .filter(|f| KEPT_RTCP_FB.contains(&f.as_str()))
                .cloned()
                .collect(),
        });
    }
    None
}

/// H.264 profile-level-id (RFC 6184 §8.1): constrained baseline is profile_idc 0x42 with
/// constraint_set1 (0x40) set.
fn is_constrained_baseline(plid: &str) -> bool {
    plid.len() == 6
        && plid.is_char_boundary(4)
        && plid[..2].eq_ignore_ascii_case("42")
        && u8::from_str_radix(&plid[2..4], 16).is_ok_and(|iop| iop & 0x40 != 0)
}

/// The server's side of the connection. The same for every renegotiation of a connection,
/// except `session_version`, which goes up by one per answer.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct LocalParams {
    /// ICE username fragment (4-256 characters of `[A-Za-z0-9+/]`).
    pub ice_ufrag: String,
    /// ICE password (22-256 characters of `[A-Za-z0-9+/]`).
    pub ice_pwd: String,
    /// DTLS certificate fingerprint as `sha-256 AB:CD:...`.
    pub fingerprint: String,
    /// Host candidates (ICE-lite), most preferred first. At least one.
    pub candidates: Vec<SocketAddr>,
    /// `o=` session id.
    pub session_id: u64,
    /// `o=` session version.
    pub session_version: u64,
}

impl LocalParams {
    /// Local parameters; checked when an answer is built.
    pub fn new(
        ice_ufrag: String,
        ice_pwd: String,
        fingerprint: String,
        candidates: Vec<SocketAddr>,
        session_id: u64,
        session_version: u64,
    ) -> Self {
        Self {
            ice_ufrag,
            ice_pwd,
            fingerprint,
            candidates,
            session_id,
            session_version,
        }
    }
}

/// What the server sends in a section: one RTP stream (and its RTX), signalled by SSRC.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SendStream {
    /// Media SSRC.
    pub ssrc: Ssrc,
    /// RTX SSRC, when the chosen codec has RTX.
    pub rtx_ssrc: Option<Ssrc>,
    /// RTCP CNAME (1-64 printable ASCII characters, no spaces).
    pub cname: String,
    /// MediaStream id for `a=msid` (same rules).
    pub stream_id: String,
    /// Track id for `a=msid` (same rules).
    pub track_id: String,
}

impl SendStream {
    /// A stream description; checked when an answer is built.
    pub fn new(
        ssrc: Ssrc,
        rtx_ssrc: Option<Ssrc>,
        cname: String,
        stream_id: String,
        track_id: String,
    ) -> Self {
        Self {
            ssrc,
            rtx_ssrc,
            cname,
            stream_id,
            track_id,
        }
    }
}

/// The caller's decision for one offered m-section.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SectionAnswer {
    /// Reject: port 0, `a=inactive`, left out of the BUNDLE group.
    Reject,
    /// Receive the client's media (offer `sendonly` or `sendrecv`): answer `recvonly`, with
    /// `a=simulcast:recv` when the section offers send simulcast.
    Receive {
        /// The codec, from [`choose_codec`] on this section.
        codec: ChosenCodec,
    },
    /// Send media to the client (offer `recvonly` or `sendrecv`): answer `sendonly`.
    Send {
        /// The codec, from [`choose_codec`] on this section.
        codec: ChosenCodec,
        /// What the server sends.
        stream: SendStream,
    },
    /// Both (offer `sendrecv` only): answer `sendrecv`.
    SendReceive {
        /// The codec, from [`choose_codec`] on this section.
        codec: ChosenCodec,
        /// What the server sends.
        stream: SendStream,
    },
    /// Keep the section negotiated but with no media either way: answer `inactive`.
    Inactive {
        /// The codec, from [`choose_codec`] on this section.
        codec: ChosenCodec,
    },
}

impl SectionAnswer {
    /// The answer's direction, `None` for a rejection.
    fn direction(&self) -> Option<Direction> {
        Some(match self {
            Self::Reject => return None,
            Self::Receive { .. } => Direction::RecvOnly,
            Self::Send { .. } => Direction::SendOnly,
            Self::SendReceive { .. } => Direction::SendRecv,
            Self::Inactive { .. } => Direction::Inactive,
        })
    }

    fn codec(&self) -> Option<&ChosenCodec> {
        match self {
            Self::Reject => None,
            Self::Receive { codec }
            | Self::Send { codec, .. }
            | Self::SendReceive { codec, .. }
            | Self::Inactive { codec } => Some(codec),
        }
    }

    fn stream(&self) -> Option<&SendStream> {
        match self {
            Self::Send { stream, .. } | Self::SendReceive { stream, .. } => Some(stream),
            _ => None,
        }
    }
}

fn misuse(msg: impl Into<String>) -> SdpError {
    SdpError::ApiMisuse(msg.into())
}

fn check_token(what: &str, v: &str) -> Result<(), SdpError> {
    if (1..=64).contains(&v.len()) && v.bytes().all(|b| b.is_ascii_graphic()) {
        Ok(())
    } else {
        Err(misuse(format!(
            "{what} must be 1-64 printable ASCII characters without spaces"
        )))
    }
}

fn check_local(local: &LocalParams) -> Result<(), SdpError> {
    let ice = |v: &str, min: usize| {
        (min..=256).contains(&v.len())
            && v.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'+' || b == b'/')
    };
    if !ice(&local.ice_ufrag, 4) || !ice(&local.ice_pwd, 22) {
        return Err(misuse(
            "local ICE ufrag/pwd must be 4/22-256 characters of [A-Za-z0-9+/]",
        ));
    }
    let fp_ok = local.fingerprint.strip_prefix("sha-256 ").is_some_and(|v| {
        v.len() == 95
            && v.split(':')
                .all(|b| b.len() == 2 && b.bytes().all(|c| c.is_ascii_hexdigit()))
    });
    if !fp_ok {
        return Err(misuse(
            "local fingerprint must be \"sha-256 \" and 32 colon-separated hex bytes",
        ));
    }
    if local.candidates.is_empty() {
        return Err(misuse("an ICE-lite answer needs at least one candidate"));
    }
    Ok(())
}

/// Checks one accepted decision against its section.
fn check_accepted(
    offer: &Offer,
    s: &MediaSection,
    d: &SectionAnswer,
    dir: Direction,
    accepted_count: usize,
) -> Result<(), SdpError> {
    let i = s.index;
    if !s.is_rtp() || s.port == 0 {
        return Err(misuse(format!(
            "section {i} is rejected by the offer or is not RTP audio/video; answer Reject"
        )));
    }
    if (dir.sends() && !s.direction.receives()) || (dir.receives() && !s.direction.sends()) {
        return Err(misuse(format!(
            "section {i} offers {}; answering {} is not allowed",
            s.direction.as_str(),
            dir.as_str()
        )));
    }
    let Some(mid) = s.mid else {
        return Err(SdpError::Unsupported {
            reason: format!("section {i} has no a=mid"),
        });
    };
    if !offer.bundle.contains(&mid) && accepted_count > 1 {
        return Err(SdpError::Unsupported {
            reason: format!(
                "section {i} (mid {}) is not in the BUNDLE group; telesfu runs one transport",
                mid.as_str()
            ),
        });
    }
    if !s.rtcp_mux {
        return Err(SdpError::Unsupported {
            reason: format!("section {i} has no a=rtcp-mux"),
        });
    }
    if !s.proto.ends_with("SAVPF") {
        return Err(SdpError::Unsupported {
            reason: format!(
                "section {i} proto {} is not DTLS-SRTP with feedback",
                s.proto
            ),
        });
    }
    // Invariant: callers reach this only for accepted decisions, which carry a codec.
    let Some(codec) = d.codec() else {
        return Err(misuse("accepted section without a codec"));
    };
    match s.codec(codec.payload_type) {
        Some(c) if c.name == codec.name && c.clock_rate == codec.clock_rate => {}
        _ => {
            return Err(misuse(format!(
                "section {i}: codec payload type {} is not the one offered; use choose_codec on this section",
                codec.payload_type
            )));
        }
    }
    if let Some(stream) = d.stream() {
        check_token("cname", &stream.cname)?;
        check_token("msid stream id", &stream.stream_id)?;
        check_token("msid track id", &stream.track_id)?;
        if stream.rtx_ssrc.is_some() && codec.rtx_payload_type.is_none() {
            return Err(misuse(format!(
                "section {i}: an RTX SSRC without a negotiated RTX payload type"
            )));
        }
    }
    Ok(())
}

/// Builds the server's answer: one decision per offered section, in offer order.
///
/// Writes CRLF lines: session level `v=0`, `o=- <id> <version> IN IP4 127.0.0.1`, `s=-`,
/// `t=0 0`, `a=ice-lite`, `a=group:BUNDLE` with the accepted mids (when the offer had a
/// group), `a=extmap-allow-mixed` (when offered), `a=msid-semantic: WMS *`. Each accepted
/// section carries the same mid, the first candidate as `c=` and m-line port, ICE
/// credentials, fingerprint, `a=setup:passive`, the direction, `a=rtcp-mux`,
/// `a=rtcp-rsize` (if offered), the supported header extensions with the offer's ids, the
/// chosen codec and its RTX only, simulcast receive lines, the sent stream's msid/SSRC lines,
/// and the host candidates with `a=end-of-candidates`. Rejected sections get port 0,
/// `a=mid` and `a=inactive`.
pub fn build_answer(
    offer: &Offer,
    local: &LocalParams,
    decisions: &[SectionAnswer],
) -> Result<String, SdpError> {
    if decisions.len() != offer.sections.len() {
        return Err(misuse(format!(
            "{} decisions for {} offered sections",
            decisions.len(),
            offer.sections.len()
        )));
    }
    check_local(local)?;
    let accepted_count = decisions
        .iter()
        .filter(|d| !matches!(d, SectionAnswer::Reject))
        .count();
    if accepted_count > 0 && offer.setup == Some(Setup::Passive) {
        return Err(SdpError::Unsupported {
            reason: "the offer wants to be the DTLS server (a=setup:passive)".into(),
        });
    }
    for (s, d) in offer.sections.iter().zip(decisions) {
        if let Some(dir) = d.direction() {
            check_accepted(offer, s, d, dir, accepted_count)?;
        }
    }

    let mut out = String::with_capacity(1024 + 1024 * offer.sections.len());
    // Writing to a String cannot fail; the results are ignored below for that reason.
    let _ = write!(
        out,
        "v=0\r\no=- {} {} IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\na=ice-lite\r\n",
        local.session_id, local.session_version
    );
    let bundled: Vec<&str> = offer
        .bundle
        .iter()
        .filter(|m| {
            offer
                .sections
                .iter()
                .zip(decisions)
                .any(|(s, d)| s.mid.as_ref() == Some(*m) && !matches!(d, SectionAnswer::Reject))
        })
        .map(|m| m.as_str())
        .collect();
    if !bundled.is_empty() {
        let _ = write!(out, "a=group:BUNDLE {}\r\n", bundled.join(" "));
    }
    if offer.extmap_allow_mixed {
        out.push_str("a=extmap-allow-mixed\r\n");
    }
    out.push_str("a=msid-semantic: WMS *\r\n");

    for (s, d) in offer.sections.iter().zip(decisions) {
        match (d.direction(), d.codec()) {
            (Some(dir), Some(codec)) => write_accepted(&mut out, s, d, dir, codec, local),
            _ => write_rejected(&mut out, s),
        }
    }
    Ok(out)
}

fn write_rejected(out: &mut String, s: &MediaSection) {
    let fmt = s.formats.first().map_or("0", String::as_str);
    let _ = write!(
        out,
        "m={} 0 {} {fmt}\r\nc=IN IP4 0.0.0.0\r\n",
        s.kind.as_str(),
        s.proto
    );
    if let Some(mid) = s.mid {
        let _ = write!(out, "a=mid:{}\r\n", mid.as_str());
    }
    out.push_str("a=inactive\r\n");
}

fn write_accepted(
    out: &mut String,
    s: &MediaSection,
    d: &SectionAnswer,
    dir: Direction,
    codec: &ChosenCodec,
    local: &LocalParams,
) {
    let first = local.candidates[0]; // Invariant: check_local requires one candidate.
    let ipv = if first.is_ipv4() { "IP4" } else { "IP6" };
    let _ = write!(
        out,
        "m={} {} {} {}",
        s.kind.as_str(),
        first.port(),
        s.proto,
        codec.payload_type
    );
    if let Some(rtx) = codec.rtx_payload_type {
        let _ = write!(out, " {rtx}");
    }
    let _ = write!(out, "\r\nc=IN {ipv} {}\r\n", first.ip());
    if let Some(mid) = s.mid {
        let _ = write!(out, "a=mid:{}\r\n", mid.as_str());
    }
    let _ = write!(
        out,
        "a=ice-ufrag:{}\r\na=ice-pwd:{}\r\na=fingerprint:{}\r\na=setup:passive\r\na={}\r\na=rtcp-mux\r\n",
        local.ice_ufrag,
        local.ice_pwd,
        local.fingerprint,
        dir.as_str()
    );
    if s.rtcp_rsize {
        out.push_str("a=rtcp-rsize\r\n");
    }
    for e in s
        .extmaps
        .iter()
        .filter(|e| SUPPORTED_EXTENSIONS.contains(&e.uri.as_str()))
    {
        match e.direction {
            Some(d) => {
                let _ = write!(
                    out,
                    "a=extmap:{}/{} {}\r\n",
                    e.id,
                    d.reversed().as_str(),
                    e.uri
                );
            }
            None => {
                let _ = write!(out, "a=extmap:{} {}\r\n", e.id, e.uri);
            }
        }
    }
    let pt = codec.payload_type;
    let _ = write!(out, "a=rtpmap:{pt} {}/{}", codec.name, codec.clock_rate);
    if let Some(ch) = codec.channels {
        let _ = write!(out, "/{ch}");
    }
    out.push_str("\r\n");
    for fb in &codec.rtcp_fb {
        let _ = write!(out, "a=rtcp-fb:{pt} {fb}\r\n");
    }
    if let Some(f) = &codec.fmtp {
        let _ = write!(out, "a=fmtp:{pt} {f}\r\n");
    }
    if let Some(rtx) = codec.rtx_payload_type {
        let _ = write!(
            out,
            "a=rtpmap:{rtx} rtx/{}\r\na=fmtp:{rtx} apt={pt}\r\n",
            codec.clock_rate
        );
    }
    if dir.receives() {
        let layers = s.simulcast_layers();
        if !layers.is_empty() {
            for rid in &layers {
                let _ = write!(out, "a=rid:{} recv\r\n", rid.as_str());
            }
            let ids: Vec<&str> = layers.iter().map(|r| r.as_str()).collect();
            let _ = write!(out, "a=simulcast:recv {}\r\n", ids.join(";"));
        }
    }
    if let Some(st) = d.stream() {
        let (stream, track, cname) = (&st.stream_id, &st.track_id, &st.cname);
        let _ = write!(out, "a=msid:{stream} {track}\r\n");
        if let Some(rtx) = st.rtx_ssrc {
            let _ = write!(out, "a=ssrc-group:FID {} {}\r\n", st.ssrc.0, rtx.0);
        }
        for ssrc in core::iter::once(st.ssrc).chain(st.rtx_ssrc) {
            let _ = write!(
                out,
                "a=ssrc:{0} cname:{cname}\r\na=ssrc:{0} msid:{stream} {track}\r\n",
                ssrc.0
            );
        }
    }
    for (i, c) in local.candidates.iter().enumerate() {
        // Host type preference 126, local preference falling with the index, component 1.
        let prio = 2_130_706_431u32.saturating_sub((i as u32).saturating_mul(256));
        let _ = write!(
            out,
            "a=candidate:{} 1 udp {prio} {} {} typ host\r\n",
            i + 1,
            c.ip(),
            c.port()
        );
    }
    out.push_str("a=end-of-candidates\r\n");
}

const _: () = assert!(MAX_SIMULCAST_LAYERS <= super::MAX_RIDS);
