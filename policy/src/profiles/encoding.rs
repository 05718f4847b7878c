//! What the server tells a publishing client to send.

use serde::Serialize;

use super::{ClinicalProfile, ColorSpace, ContentHint, DegradationPreference, ScalabilityMode};

/// One simulcast encoding, serialised with the field names of the browser's
/// `RTCRtpEncodingParameters`, so a client can pass it to `addTransceiver({ sendEncodings })`
/// or `RTCRtpSender.setParameters` unchanged.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct EncodingParams {
    /// The RTP stream id.
    pub rid: String,
    /// How much the encoder scales the captured picture down (1 for the top layer, 2 for half
    /// width and half height). The browser has no width/height field; sizes are relative to the
    /// capture, which the client opens at the top layer's size.
    pub scale_resolution_down_by: f64,
    /// Bitrate ceiling, bits per second.
    pub max_bitrate: u32,
    /// Frame rate ceiling.
    pub max_framerate: u32,
    /// WebRTC-SVC scalability mode (`"L1T3"`).
    pub scalability_mode: ScalabilityMode,
}

/// Everything a publisher needs for one camera track: `RTCRtpSendParameters`'s
/// `degradationPreference` and `encodings` (lowest layer first), plus the track-level hints a
/// client applies itself (`contentHint` on the track, the colour space where its encoder takes
/// one).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct PublisherParams {
    /// What the encoder gives up first under its own constraints.
    pub degradation_preference: DegradationPreference,
    /// One entry per simulcast layer, lowest first.
    pub encodings: Vec<EncodingParams>,
    /// `MediaStreamTrack.contentHint`, if the profile sets one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub content_hint: Option<ContentHint>,
    /// Colour space to encode and signal, if the profile sets one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub color_space: Option<ColorSpace>,
    /// Capture width to open the camera at (the top layer's).
    pub capture_width: u32,
    /// Capture height to open the camera at.
    pub capture_height: u32,
}

pub(super) fn publisher_params(profile: &ClinicalProfile) -> PublisherParams {
    let top = profile.top_layer();
    let encodings = profile
        .layers()
        .iter()
        .map(|layer| EncodingParams {
            rid: layer.rid.clone(),
            // Validation guarantees the same aspect ratio, so width alone gives the factor for
            // both dimensions, and width > 0.
            scale_resolution_down_by: f64::from(top.width) / f64::from(layer.width),
            max_bitrate: layer.max_bitrate,
            max_framerate: layer.max_framerate,
            scalability_mode: layer.scalability_mode,
        })
        .collect();
    PublisherParams {
        degradation_preference: profile.degradation_preference(),
        encodings,
        content_hint: profile.content_hint(),
        color_space: profile.color_space(),
        capture_width: top.width,
        capture_height: top.height,
    }
}
