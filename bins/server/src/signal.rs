//! The signaling messages of docs/signaling.md, and their parsing with precise errors.
//!
//! Parsing goes in two steps so every failure gets the documented code: a frame that is not a
//! JSON object with a string `type` is `bad_json`; an unknown `type` is `unknown_type`; a known
//! type with missing or wrong fields is `bad_message`, naming the field serde complained about.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use telesfu_policy::profiles::{ClinicalProfile, PublisherParams};

/// The largest signaling message accepted (bytes).
pub const MAX_MESSAGE: usize = 64 * 1024;
/// The largest relayed `e2ee` payload (bytes).
pub const MAX_E2EE_DATA: usize = 16 * 1024;

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
    /// An opaque E2EE message to relay.
    E2ee {
        /// One participant, or everyone.
        #[serde(default)]
        to: Option<String>,
        /// The payload.
        data: String,
    },
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

/// A message to a client.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum ServerMsg {
    /// Join succeeded.
    Joined {
        /// Own id.
        participant: String,
        /// SFrame KID base.
        kid: u64,
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
    /// The room's clinical profile sets a floor for this track that the subscriber's network
    /// cannot hold (e.g. telestroke below 640x360 at 30 fps).
    QualityAlert {
        /// The track.
        track: String,
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
    /// The floor is held again.
    QualityRestored {
        /// The track.
        track: String,
    },
    /// The active speaker changed.
    ActiveSpeaker {
        /// Who.
        participant: String,
    },
    /// A relayed E2EE message.
    E2ee {
        /// Sender.
        from: String,
        /// Payload.
        data: String,
    },
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
    /// SFrame KID base.
    pub kid: u64,
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

const KNOWN: &[&str] = &["join", "offer", "view", "layer", "e2ee", "leave", "ping"];

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
    let msg: ClientMsg = serde_json::from_value(value).map_err(|e| ParseError {
        code: ErrorCode::BadMessage,
        message: format!("bad {ty:?} message: {e}"),
        reference: Some(ty.clone()),
    })?;
    if let ClientMsg::E2ee { data, .. } = &msg
        && data.len() > MAX_E2EE_DATA
    {
        return Err(ParseError {
            code: ErrorCode::BadMessage,
            message: format!(
                "e2ee data is {} bytes; the limit is {MAX_E2EE_DATA}",
                data.len()
            ),
            reference: Some(ty),
        });
    }
    Ok(msg)
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
        let big = format!(
            r#"{{"type":"e2ee","data":"{}"}}"#,
            "x".repeat(MAX_E2EE_DATA + 1)
        );
        assert_eq!(parse(&big).unwrap_err().code, ErrorCode::BadMessage);
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
    }

    #[test]
    fn view_sizes() {
        assert_eq!(layer_for_view(0, 0), None);
        assert_eq!(layer_for_view(320, 180), Some(0));
        assert_eq!(layer_for_view(640, 360), Some(1));
        assert_eq!(layer_for_view(1280, 720), Some(2));
    }
}
