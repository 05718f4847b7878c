//! `Codec`: which clear-prefix rule a frame follows (`telesfu_e2ee::media::Codec`).

use telesfu_e2ee::media;
use wasm_bindgen::prelude::*;

/// A media codec, as far as its clear prefix goes (`docs/e2ee-wire-format.md`). A number in
/// JavaScript (`Codec.Vp8` ...), so the per-frame calls pass no string.
#[wasm_bindgen]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Codec {
    /// VP8: the frame tag (and on keyframes the dimensions) stay clear.
    Vp8 = 0,
    /// Opus: the TOC byte stays clear.
    Opus = 1,
    /// H.264 (Annex B): up to the first slice's NAL header stays clear; the rest is escaped.
    H264 = 2,
    /// AV1: nothing stays clear (the SFU reads the dependency descriptor).
    Av1 = 3,
    /// No prefix: RFC 9605 as is.
    Plain = 4,
}

impl From<Codec> for media::Codec {
    fn from(c: Codec) -> Self {
        match c {
            Codec::Vp8 => Self::Vp8,
            Codec::Opus => Self::Opus,
            Codec::H264 => Self::H264,
            Codec::Av1 => Self::Av1,
            Codec::Plain => Self::Plain,
        }
    }
}

/// The codec for a name or WebRTC MIME type: `"VP8"`, `"video/VP8"`, `"opus"`,
/// `"audio/opus"`, `"H264"`, `"AV1"`, `"plain"` (case-insensitive; parameters after `;`
/// ignored). `undefined` for any other codec: such a track is not sent (or it is sent as
/// `plain`, explicitly).
pub(crate) fn parse(name: &str) -> Option<Codec> {
    let essence = name.split(';').next().unwrap_or_default().trim();
    if let Some(c) = media::Codec::from_mime(essence) {
        return Some(match c {
            media::Codec::Vp8 => Codec::Vp8,
            media::Codec::Opus => Codec::Opus,
            media::Codec::H264 => Codec::H264,
            media::Codec::Av1 => Codec::Av1,
            _ => Codec::Plain,
        });
    }
    [
        ("vp8", Codec::Vp8),
        ("opus", Codec::Opus),
        ("h264", Codec::H264),
        ("av1", Codec::Av1),
        ("plain", Codec::Plain),
    ]
    .into_iter()
    .find(|(n, _)| n.eq_ignore_ascii_case(essence))
    .map(|(_, c)| c)
}

/// The codec for a name or WebRTC MIME type: `"VP8"`, `"video/VP8"`, `"opus"`,
/// `"audio/opus"`, `"H264"`, `"AV1"`, `"plain"` (case-insensitive, parameters after `;`
/// ignored); `undefined` for any other. `codecFromName("video/VP8") === Codec.Vp8`.
#[wasm_bindgen(js_name = codecFromName)]
pub fn codec_from_name(name: &str) -> Option<Codec> {
    parse(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_mime_types() {
        for (name, want) in [
            ("VP8", Some(Codec::Vp8)),
            ("video/vp8", Some(Codec::Vp8)),
            ("audio/opus", Some(Codec::Opus)),
            ("opus", Some(Codec::Opus)),
            ("video/H264;profile-level-id=42e01f", Some(Codec::H264)),
            ("H264", Some(Codec::H264)),
            ("video/AV1", Some(Codec::Av1)),
            ("plain", Some(Codec::Plain)),
            ("video/VP9", None),
            ("", None),
            ("audio/vp8", None),
        ] {
            assert_eq!(parse(name), want, "{name}");
        }
    }
}
