//! The signaling messages of docs/signaling.md, and their parsing with precise errors.
//!
//! Parsing goes in two steps so every failure gets the documented code: a frame that is not a
//! JSON object with a string `type` is `bad_json`; an unknown `type` is `unknown_type`; a known
//! type with missing or wrong fields is `bad_message`, naming the field serde complained about.
//!
//! `mls` messages (docs/signaling.md §6) carry MLS bytes as base64url without padding. They are
//! decoded here, strictly (known `op`, every required field, canonical base64url, at most
//! [`MAX_MLS_FIELD`] bytes per field), so the hub only ever sees bytes. This module is sans-IO
//! and builds without the `server` feature (the fuzz targets use it that way), so it does not
//! need telesfu-e2ee; base64url is the `base64` crate's strict URL_SAFE_NO_PAD engine, the same
//! the browser glue (e2ee/wasm) uses.

use std::collections::BTreeMap;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use telesfu_policy::profiles::{ClinicalProfile, PublisherParams};

/// The largest signaling message accepted (bytes), also the WebSocket message and frame limit.
///
/// Sized for the largest `mls` message: a `commit` carries a commit and a GroupInfo of up to
/// [`MAX_MLS_FIELD`] bytes each, which base64url makes 2 × 87,382 characters, plus a few dozen
/// bytes of JSON. (A GroupInfo with the ratchet tree of a 32-member call is 10–20 KB, so real
/// messages are far below this.)
pub const MAX_MESSAGE: usize = 192 * 1024;
/// The largest MLS field of an `mls` message, decoded (bytes). Equal to the Delivery Service's
/// own limit (`telesfu_e2ee::mls::ds::MAX_MESSAGE_LEN`; `tests/hub.rs` checks they agree).
pub const MAX_MLS_FIELD: usize = 64 * 1024;
/// The longest base64url text of a field within [`MAX_MLS_FIELD`].
pub const MAX_MLS_FIELD_B64: usize = (MAX_MLS_FIELD * 4).div_ceil(3);

/// A message from a client.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum ClientMsg {
    /// Join a room or resume a session.
    Join {
        /// The join token.
        #[serde(default)]
        token: Option<String>,
        /// A session to resume.
        #[serde(default)]
        resume: Option<String>,
    },
    /// An SDP offer.
    Offer {
        /// The SDP.
        sdp: String,
        /// What each m-section is.
        #[serde(default)]
        mids: BTreeMap<String, MidInfo>,
    },
    /// The size a remote video is shown at.
    View {
        /// The track.
        track: String,
        /// CSS pixels.
        width: u32,
        /// CSS pixels.
        height: u32,
    },
    /// An explicit layer preference.
    Layer {
        /// The track.
        track: String,
        /// Highest spatial layer.
        #[serde(rename = "maxSpatial")]
        max_spatial: u8,
        /// Highest temporal layer.
        #[serde(rename = "maxTemporal", default)]
        max_temporal: Option<u8>,
        /// Pause the video.
        #[serde(default)]
        paused: bool,
    },
    /// A message for the room's MLS Delivery Service.
    Mls(ClientMls),
    /// Leave the room.
    Leave,
    /// Liveness.
    Ping {
        /// Echoed back.
        #[serde(default)]
        id: Option<Value>,
    },
}

/// What an offer's m-section carries.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MidInfo {
    /// For a sendonly section: `camera`, `mic` or `screen`.
    #[serde(default)]
    pub source: Option<String>,
    /// For a recvonly section: the track to receive.
    #[serde(default)]
    pub track: Option<String>,
}

/// An `mls` message from a client (docs/signaling.md §6.1), its fields decoded.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "MlsWire")]
#[non_exhaustive]
pub enum ClientMls {
    /// `create`: start the room's group with this GroupInfo (epoch 0).
    Create {
        /// An MLS GroupInfo message.
        group_info: Vec<u8>,
    },
    /// `commit`: a commit for the current epoch and the GroupInfo of the epoch it makes.
    Commit {
        /// An MLS commit.
        commit: Vec<u8>,
        /// An MLS GroupInfo message.
        group_info: Vec<u8>,
    },
    /// `app`: an MLS application message (encrypted chat) for the other members.
    App {
        /// An MLS PrivateMessage.
        message: Vec<u8>,
    },
    /// `sync`: ask for `state`.
    Sync,
}

/// The `op` values a client may send, in the order [`ClientMls::op_index`] numbers them.
pub const CLIENT_MLS_OPS: [&str; 4] = ["create", "commit", "app", "sync"];

impl ClientMls {
    /// Its `op`.
    pub fn op(&self) -> &'static str {
        CLIENT_MLS_OPS[self.op_index()]
    }

    /// Its index in [`CLIENT_MLS_OPS`] (metrics count by it).
    pub fn op_index(&self) -> usize {
        match self {
            Self::Create { .. } => 0,
            Self::Commit { .. } => 1,
            Self::App { .. } => 2,
            Self::Sync => 3,
        }
    }
}

/// The JSON form of [`ClientMls`]: serde checks `op` and the required fields, then
/// `TryFrom` decodes and bounds each one.
#[derive(Deserialize)]
#[serde(tag = "op", rename_all = "lowercase")]
enum MlsWire {
    Create {
        #[serde(rename = "groupInfo")]
        group_info: String,
    },
    Commit {
        commit: String,
        #[serde(rename = "groupInfo")]
        group_info: String,
    },
    App {
        message: String,
    },
    Sync,
}

impl TryFrom<MlsWire> for ClientMls {
    type Error = String;

    fn try_from(w: MlsWire) -> Result<Self, String> {
        Ok(match w {
            MlsWire::Create { group_info } => Self::Create {
                group_info: mls_field("groupInfo", &group_info)?,
            },
            MlsWire::Commit { commit, group_info } => Self::Commit {
                commit: mls_field("commit", &commit)?,
                group_info: mls_field("groupInfo", &group_info)?,
            },
            MlsWire::App { message } => Self::App {
                message: mls_field("message", &message)?,
            },
            MlsWire::Sync => Self::Sync,
        })
    }
}

/// Decodes one MLS field: non-empty, base64url without padding, at most [`MAX_MLS_FIELD`]
/// bytes.
fn mls_field(name: &str, text: &str) -> Result<Vec<u8>, String> {
    if text.is_empty() {
        return Err(format!("field `{name}` is empty"));
    }
    if text.len() > MAX_MLS_FIELD_B64 {
        return Err(format!(
            "field `{name}` is {} base64url characters; the limit is {MAX_MLS_FIELD_B64} \
             ({MAX_MLS_FIELD} bytes decoded)",
            text.len()
        ));
    }
    let bytes = b64url_decode(text).map_err(|e| format!("field `{name}` {e}"))?;
    debug_assert!(bytes.len() <= MAX_MLS_FIELD);
    Ok(bytes)
}

/// An `mls` message to a client (docs/signaling.md §6.1).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "op", rename_all = "lowercase")]
#[non_exhaustive]
pub enum ServerMls {
    /// The room's current GroupInfo, or null when the room has no group yet.
    State {
        /// An MLS GroupInfo message.
        #[serde(rename = "groupInfo", serialize_with = "ser_b64_opt")]
        group_info: Option<Vec<u8>>,
    },
    /// A commit the Delivery Service accepted.
    Commit {
        /// The MLS commit.
        #[serde(serialize_with = "ser_b64")]
        commit: Vec<u8>,
    },
    /// The sender's `create`/`commit` (or `app`) was not accepted.
    Rejected {
        /// Why, for logs.
        reason: String,
        /// The GroupInfo to build on now.
        #[serde(rename = "groupInfo", serialize_with = "ser_b64_opt")]
        group_info: Option<Vec<u8>>,
    },
    /// An application message from another member.
    App {
        /// The MLS PrivateMessage.
        #[serde(serialize_with = "ser_b64")]
        message: Vec<u8>,
        /// The sender as the server names it (receivers trust only the MLS sender).
        from: String,
    },
}

fn ser_b64<S: serde::Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&b64url_encode(bytes))
}

// serde's `serialize_with` hands the field by reference.
#[allow(clippy::ref_option)]
fn ser_b64_opt<S: serde::Serializer>(bytes: &Option<Vec<u8>>, s: S) -> Result<S::Ok, S::Error> {
    match bytes {
        Some(b) => s.serialize_str(&b64url_encode(b)),
        None => s.serialize_none(),
    }
}

/// base64url (RFC 4648 §5) without padding.
pub fn b64url_encode(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Decodes base64url without padding, strictly (the `base64` crate's URL_SAFE_NO_PAD engine):
/// only the URL-safe alphabet, no `=`, no whitespace, and the unused low bits of the last
/// character must be zero (one encoding per byte string, as RFC 4648 §3.5 allows a decoder to
/// require). The error says what is wrong and where.
pub fn b64url_decode(text: &str) -> Result<Vec<u8>, String> {
    URL_SAFE_NO_PAD.decode(text).map_err(|e| match e {
        base64::DecodeError::InvalidByte(at, _) => {
            let shown = text
                .get(at..)
                .and_then(|t| t.chars().next())
                .map_or_else(|| "a non-ASCII byte".to_string(), |c| format!("{c:?}"));
            format!("is not base64url without padding: {shown} at offset {at}")
        }
        base64::DecodeError::InvalidLength(n) => {
            format!("is not base64url: {n} characters cannot encode whole bytes")
        }
        base64::DecodeError::InvalidLastSymbol(..) => {
            "is not canonical base64url: the last character has bits set past the data".into()
        }
        base64::DecodeError::InvalidPadding => format!(
            "is not base64url without padding: '=' at offset {}",
            text.find('=').unwrap_or(text.len())
        ),
    })
}

/// The documented error codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// Not JSON, or no string `type`.
    BadJson,
    /// Missing or wrong fields.
    BadMessage,
    /// A type this server does not know.
    UnknownType,
    /// Token refused.
    Unauthorized,
    /// A room message before `join`.
    NotJoined,
    /// The offer was refused.
    BadSdp,
    /// No such track.
    UnknownTrack,
    /// The room is full.
    RoomFull,
    /// Too many joins or messages.
    RateLimited,
    /// Unknown or expired session.
    SessionExpired,
    /// Server fault.
    Internal,
}

/// Which side of a forwarded track a quality message is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum AlertSide {
    /// The member receives the track.
    Viewer,
    /// The member publishes the track.
    Publisher,
}

/// A message to a client.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum ServerMsg {
    /// Join succeeded.
    Joined {
        /// Own id.
        participant: String,
        /// Resume token.
        session: String,
        /// Whether this resumed an earlier session.
        resumed: bool,
        /// The room.
        room: String,
        /// Own role.
        role: String,
        /// Own name.
        name: String,
        /// Who else is here.
        peers: Vec<PeerInfo>,
        /// What they publish.
        tracks: Vec<TrackInfo>,
        /// Client settings.
        config: ClientConfig,
    },
    /// The answer to an offer.
    Answer {
        /// SDP.
        sdp: String,
    },
    /// Someone joined.
    PeerJoined(PeerInfo),
    /// Someone left.
    PeerLeft {
        /// Who.
        participant: String,
    },
    /// A track was published.
    TrackAdded(TrackInfo),
    /// A track was unpublished.
    TrackRemoved {
        /// Which.
        track: String,
    },
    /// The forwarded layer changed.
    LayerSwitched {
        /// The track.
        track: String,
        /// Spatial layer now forwarded.
        spatial: u8,
    },
    /// A subscriber's network cannot carry this track at the room's clinical floor (e.g.
    /// telestroke below 640x360 at 30 fps), or cannot carry its video at all (paused). Sent to
    /// the subscriber (`side: "viewer"`) and to the track's publisher (`side: "publisher"`,
    /// naming the subscriber), so both people know (issue 10: no silent pause).
    QualityAlert {
        /// The track.
        track: String,
        /// `"viewer"`: about a track this member receives; `"publisher"`: about one of its own.
        side: AlertSide,
        /// The publisher of the track (`p<id>`), on the viewer's message.
        #[serde(skip_serializing_if = "Option::is_none")]
        publisher: Option<String>,
        /// The subscriber whose network it is (`p<id>`), on the publisher's message.
        #[serde(skip_serializing_if = "Option::is_none")]
        subscriber: Option<String>,
        /// The floor's minimum width (0: none).
        #[serde(rename = "minWidth")]
        min_width: u16,
        /// Its minimum height.
        #[serde(rename = "minHeight")]
        min_height: u16,
        /// Its minimum frame rate.
        #[serde(rename = "minFps")]
        min_fps: u16,
        /// `[width, height, fps]` delivered instead, or null when the video is paused.
        delivered: Option<[u16; 3]>,
        /// The estimated bandwidth, bits per second.
        #[serde(rename = "estimateBps")]
        estimate_bps: u64,
    },
    /// The floor is held again (sent to the same two members as the alert).
    QualityRestored {
        /// The track.
        track: String,
        /// As in [`ServerMsg::QualityAlert`].
        side: AlertSide,
        /// As in [`ServerMsg::QualityAlert`].
        #[serde(skip_serializing_if = "Option::is_none")]
        subscriber: Option<String>,
    },
    /// The active speaker changed.
    ActiveSpeaker {
        /// Who.
        participant: String,
    },
    /// A message of the room's MLS Delivery Service.
    Mls(ServerMls),
    /// Reply to ping.
    Pong {
        /// Echo.
        id: Option<Value>,
    },
    /// An error.
    Error {
        /// The code.
        code: ErrorCode,
        /// What went wrong and what to do.
        message: String,
        /// The message type that caused it.
        #[serde(rename = "ref", skip_serializing_if = "Option::is_none")]
        reference: Option<String>,
    },
}

/// A participant as others see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PeerInfo {
    /// Id.
    pub participant: String,
    /// Display name.
    pub name: String,
    /// Role.
    pub role: String,
}

/// A published track as others see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TrackInfo {
    /// Id.
    pub track: String,
    /// Publisher.
    pub participant: String,
    /// `audio` or `video`.
    pub kind: String,
    /// `camera`, `mic` or `screen`.
    pub source: String,
    /// Codec name.
    pub codec: String,
    /// Simulcast layers.
    pub layers: u8,
}

/// Settings the client applies: the room's clinical profile and what it asks publishers to
/// send (telesfu-policy).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ClientConfig {
    /// The profile's name (e.g. `dermatology`).
    pub profile: String,
    /// The visit type the room was created for.
    #[serde(rename = "visitType")]
    pub visit_type: String,
    /// Everything the publisher should apply: the simulcast encodings, lowest first
    /// (`RTCRtpEncodingParameters` field names), degradation preference, capture size, hints.
    pub publish: PublisherParams,
    /// Whether E2EE is required.
    pub e2ee: bool,
}

impl ClientConfig {
    /// The configuration of a room run under `profile`.
    pub fn for_profile(profile: &ClinicalProfile, visit_type: &str) -> Self {
        Self {
            profile: profile.name().to_owned(),
            visit_type: visit_type.to_owned(),
            publish: profile.publisher_params(),
            e2ee: true,
        }
    }
}

/// A parse failure, ready to send.
#[derive(Debug, Clone, PartialEq)]
pub struct ParseError {
    /// The code.
    pub code: ErrorCode,
    /// The explanation.
    pub message: String,
    /// The `type`, when there was one.
    pub reference: Option<String>,
}

impl ParseError {
    /// As an error message.
    pub fn into_msg(self) -> ServerMsg {
        ServerMsg::Error {
            code: self.code,
            message: self.message,
            reference: self.reference,
        }
    }
}

const KNOWN: &[&str] = &["join", "offer", "view", "layer", "mls", "leave", "ping"];

/// Parses one text frame.
pub fn parse(text: &str) -> Result<ClientMsg, ParseError> {
    if text.len() > MAX_MESSAGE {
        return Err(ParseError {
            code: ErrorCode::BadMessage,
            message: format!(
                "message is {} bytes; the limit is {MAX_MESSAGE}",
                text.len()
            ),
            reference: None,
        });
    }
    let value: Value = serde_json::from_str(text).map_err(|e| ParseError {
        code: ErrorCode::BadJson,
        message: format!("not valid JSON: {e}"),
        reference: None,
    })?;
    let Some(ty) = value.get("type").and_then(Value::as_str).map(str::to_owned) else {
        return Err(ParseError {
            code: ErrorCode::BadJson,
            message: "expected a JSON object with a string \"type\" field".into(),
            reference: None,
        });
    };
    if !KNOWN.contains(&ty.as_str()) {
        return Err(ParseError {
            code: ErrorCode::UnknownType,
            message: format!("unknown message type {ty:?}; known: {}", KNOWN.join(", ")),
            reference: Some(ty),
        });
    }
    if ty == "mls" {
        let known = CLIENT_MLS_OPS.join(", ");
        let problem = match value.get("op").map(|op| (op, op.as_str())) {
            Some((_, Some(op))) if CLIENT_MLS_OPS.contains(&op) => None,
            Some((_, Some(op))) => Some(format!("unknown op {op:?}; a client sends {known}")),
            Some((op, None)) => Some(format!("op must be a string ({known}), not {op}")),
            None => Some(format!("missing field `op` ({known})")),
        };
        if let Some(problem) = problem {
            return Err(ParseError {
                code: ErrorCode::BadMessage,
                message: format!("bad \"mls\" message: {problem}"),
                reference: Some(ty),
            });
        }
    }
    serde_json::from_value(value).map_err(|e| ParseError {
        code: ErrorCode::BadMessage,
        message: format!("bad {ty:?} message: {e}"),
        reference: Some(ty),
    })
}

/// Serialises a server message.
pub fn to_text(msg: &ServerMsg) -> String {
    // Plain structs of strings and numbers always serialise.
    serde_json::to_string(msg).unwrap_or_else(|_| String::from("{\"type\":\"error\"}"))
}

/// The spatial layer for a view of `width` × `height` (docs/signaling.md §3).
pub fn layer_for_view(width: u32, height: u32) -> Option<u8> {
    let long = width.max(height);
    match long {
        0 => None,
        1..=320 => Some(0),
        321..=640 => Some(1),
        _ => Some(2),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_for_bad_input() {
        assert_eq!(parse("{nope").unwrap_err().code, ErrorCode::BadJson);
        assert_eq!(parse("[1,2]").unwrap_err().code, ErrorCode::BadJson);
        assert_eq!(parse(r#"{"type":5}"#).unwrap_err().code, ErrorCode::BadJson);
        let e = parse(r#"{"type":"dance"}"#).unwrap_err();
        assert_eq!(e.code, ErrorCode::UnknownType);
        let e = parse(r#"{"type":"view","track":"t1"}"#).unwrap_err();
        assert_eq!(e.code, ErrorCode::BadMessage);
        assert!(e.message.contains("width"), "{}", e.message);
        let big = format!(r#"{{"type":"ping","id":"{}"}}"#, "x".repeat(MAX_MESSAGE));
        let e = parse(&big).unwrap_err();
        assert_eq!(e.code, ErrorCode::BadMessage);
        assert!(e.message.contains("limit"), "{}", e.message);
        // The old relay is gone.
        let e = parse(r#"{"type":"e2ee","data":"x"}"#).unwrap_err();
        assert_eq!(e.code, ErrorCode::UnknownType);
    }

    fn mls_err(text: &str) -> String {
        let e = parse(text).unwrap_err();
        assert_eq!(e.code, ErrorCode::BadMessage, "{text}: {}", e.message);
        assert_eq!(e.reference.as_deref(), Some("mls"));
        e.message
    }

    #[test]
    fn mls_messages_decode() {
        assert_eq!(
            parse(r#"{"type":"mls","op":"create","groupInfo":"AAEC"}"#).unwrap(),
            ClientMsg::Mls(ClientMls::Create {
                group_info: vec![0, 1, 2]
            })
        );
        assert_eq!(
            parse(r#"{"type":"mls","op":"commit","commit":"_-8","groupInfo":"AQ","x":1}"#).unwrap(),
            ClientMsg::Mls(ClientMls::Commit {
                commit: vec![0xff, 0xef],
                group_info: vec![1],
            })
        );
        let m = parse(r#"{"type":"mls","op":"app","message":"aGk"}"#).unwrap();
        assert_eq!(
            m,
            ClientMsg::Mls(ClientMls::App {
                message: b"hi".to_vec()
            })
        );
        let ClientMsg::Mls(m) = m else { panic!() };
        assert_eq!(m.op(), "app");
        assert_eq!(
            parse(r#"{"type":"mls","op":"sync"}"#).unwrap(),
            ClientMsg::Mls(ClientMls::Sync)
        );
        // The largest field passes; one character more does not.
        let max = b64url_encode(&vec![7u8; MAX_MLS_FIELD]);
        assert_eq!(max.len(), MAX_MLS_FIELD_B64);
        let both =
            format!(r#"{{"type":"mls","op":"commit","commit":"{max}","groupInfo":"{max}"}}"#);
        assert!(
            both.len() <= MAX_MESSAGE,
            "the message limit fits two full fields"
        );
        let Ok(ClientMsg::Mls(ClientMls::Commit { commit, group_info })) = parse(&both) else {
            panic!("a commit with two full-size fields is refused")
        };
        assert_eq!(
            (commit.len(), group_info.len()),
            (MAX_MLS_FIELD, MAX_MLS_FIELD)
        );
    }

    #[test]
    fn malformed_mls_messages_say_what_is_wrong() {
        assert!(mls_err(r#"{"type":"mls"}"#).contains("op"));
        let m = mls_err(r#"{"type":"mls","op":"state","groupInfo":null}"#);
        assert!(
            m.contains("unknown op \"state\"") && m.contains("create"),
            "{m}"
        );
        assert!(mls_err(r#"{"type":"mls","op":3}"#).contains("op must be a string"));
        assert!(mls_err(r#"{"type":"mls","op":"commit","commit":"AA"}"#).contains("groupInfo"));
        assert!(mls_err(r#"{"type":"mls","op":"create","groupInfo":5}"#).contains("string"));
        let m = mls_err(r#"{"type":"mls","op":"create","groupInfo":"AA=="}"#);
        assert!(m.contains("groupInfo") && m.contains("'='"), "{m}");
        let m = mls_err(r#"{"type":"mls","op":"app","message":"a+b/"}"#);
        assert!(m.contains("message") && m.contains("offset 1"), "{m}");
        assert!(mls_err(r#"{"type":"mls","op":"app","message":"A"}"#).contains("whole bytes"));
        assert!(mls_err(r#"{"type":"mls","op":"app","message":"AB"}"#).contains("canonical"));
        assert!(mls_err(r#"{"type":"mls","op":"app","message":""}"#).contains("empty"));
        let big = "A".repeat(MAX_MLS_FIELD_B64 + 2);
        let m = mls_err(&format!(
            r#"{{"type":"mls","op":"create","groupInfo":"{big}"}}"#
        ));
        assert!(m.contains("limit") && m.contains("65536"), "{m}");
    }

    #[test]
    fn b64url_round_trips_and_is_strict() {
        for n in 0..40u8 {
            let bytes: Vec<u8> = (0..n).map(|i| i.wrapping_mul(37) ^ 0x5a).collect();
            assert_eq!(b64url_decode(&b64url_encode(&bytes)).unwrap(), bytes);
        }
        assert_eq!(b64url_encode(b"\xfb\xff"), "-_8");
        assert_eq!(b64url_decode("").unwrap(), b"");
        for bad in ["A", "AAAAA", "AB", "AAB", "A A", "AA\n", "Zm9v=", "é"] {
            assert!(b64url_decode(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn good_messages() {
        assert_eq!(
            parse(r#"{"type":"join","token":"abc"}"#).unwrap(),
            ClientMsg::Join {
                token: Some("abc".into()),
                resume: None
            }
        );
        let m = parse(
            r#"{"type":"offer","sdp":"v=0","mids":{"0":{"source":"camera"},"2":{"track":"t4"}}}"#,
        )
        .unwrap();
        let ClientMsg::Offer { mids, .. } = m else {
            panic!("not an offer")
        };
        assert_eq!(mids["2"].track.as_deref(), Some("t4"));
        assert_eq!(
            parse(r#"{"type":"layer","track":"t1","maxSpatial":1}"#).unwrap(),
            ClientMsg::Layer {
                track: "t1".into(),
                max_spatial: 1,
                max_temporal: None,
                paused: false
            }
        );
    }

    #[test]
    fn server_messages_serialise_as_documented() {
        let t = to_text(&ServerMsg::Error {
            code: ErrorCode::BadSdp,
            message: "line 3".into(),
            reference: Some("offer".into()),
        });
        assert_eq!(
            t,
            r#"{"type":"error","code":"bad_sdp","message":"line 3","ref":"offer"}"#
        );
        let t = to_text(&ServerMsg::PeerLeft {
            participant: "p1".into(),
        });
        assert_eq!(t, r#"{"type":"peer-left","participant":"p1"}"#);
        let t = to_text(&ServerMsg::LayerSwitched {
            track: "t1".into(),
            spatial: 2,
        });
        assert_eq!(t, r#"{"type":"layer-switched","track":"t1","spatial":2}"#);
        let t = to_text(&ServerMsg::Mls(ServerMls::State { group_info: None }));
        assert_eq!(t, r#"{"type":"mls","op":"state","groupInfo":null}"#);
        let t = to_text(&ServerMsg::Mls(ServerMls::State {
            group_info: Some(vec![0xfb, 0xff]),
        }));
        assert_eq!(t, r#"{"type":"mls","op":"state","groupInfo":"-_8"}"#);
        let t = to_text(&ServerMsg::Mls(ServerMls::Commit { commit: vec![1] }));
        assert_eq!(t, r#"{"type":"mls","op":"commit","commit":"AQ"}"#);
        let t = to_text(&ServerMsg::Mls(ServerMls::Rejected {
            reason: "late".into(),
            group_info: Some(vec![2]),
        }));
        assert_eq!(
            t,
            r#"{"type":"mls","op":"rejected","reason":"late","groupInfo":"Ag"}"#
        );
        let t = to_text(&ServerMsg::Mls(ServerMls::App {
            message: b"hi".to_vec(),
            from: "p3".into(),
        }));
        assert_eq!(
            t,
            r#"{"type":"mls","op":"app","message":"aGk","from":"p3"}"#
        );
    }

    #[test]
    fn view_sizes() {
        assert_eq!(layer_for_view(0, 0), None);
        assert_eq!(layer_for_view(320, 180), Some(0));
        assert_eq!(layer_for_view(640, 360), Some(1));
        assert_eq!(layer_for_view(1280, 720), Some(2));
    }
}
