//! Clinical media profiles: what matters in the picture for each kind of visit.
//!
//! A [`ClinicalProfile`] is a validated [`ProfileSpec`]. It says two things:
//!
//! - **to the SFU's allocator**, as plain data ([`AllocationPolicy`]): which tracks to fund first
//!   ([`AllocationPolicy::ranking`], audio always first), in which order to climb a track's
//!   layers ([`LayerOrder`], expanded into a path by [`ClinicalProfile::candidates`]), the floor
//!   under each source ([`TrackFloor`]) and whether losing it raises a clinical quality alert,
//!   and the latency mode;
//! - **to the publishing client**, the encodings to send ([`ClinicalProfile::publisher_params`]):
//!   per simulcast layer the rid, `scaleResolutionDownBy`, `maxBitrate`, `maxFramerate` and
//!   `scalabilityMode`, plus the track's `degradationPreference`, serialised with the field names
//!   of the browser's `RTCRtpSendParameters`.
//!
//! The four built-ins live in [`builtin`]; a [`ProfileRegistry`] picks one by visit type and
//! loads custom profiles from TOML.
//!
//! Nothing here depends on `telesfu-core`: the core's allocator reads these plain values through
//! its own hook trait, which the server implements over a profile. A candidate's
//! `(spatial, temporal)` pair is exactly the core's `LayerPreference { max_spatial,
//! max_temporal }`, and spatial index 0 is the lowest layer, as in the core's `TrackConfig`.

pub mod builtin;
mod encoding;
mod registry;
mod validate;

use serde::{Deserialize, Serialize};

pub use encoding::{EncodingParams, PublisherParams};
pub use registry::{ProfileRegistry, parse_profiles, profiles_to_toml};

use crate::Error;

/// Where a track comes from, as the publishing client labels it when it publishes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum TrackSource {
    /// Any microphone. Always funded first; never ranked or floored.
    Audio,
    /// The patient's own camera: the primary clinical input in most visits.
    PatientCamera,
    /// The clinician's camera.
    ClinicianCamera,
    /// A second, examination camera on the patient side (dermatoscope, otoscope, a phone held
    /// close to a wound).
    ExamCamera,
    /// A shared screen (images, results, education material).
    ScreenShare,
}

impl TrackSource {
    /// The video sources in their default order: the order unranked sources take after the
    /// ranked ones.
    pub const VIDEO: [TrackSource; 4] = [
        Self::PatientCamera,
        Self::ClinicianCamera,
        Self::ExamCamera,
        Self::ScreenShare,
    ];

    /// The name used in TOML and JSON (`patient-camera`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Audio => "audio",
            Self::PatientCamera => "patient-camera",
            Self::ClinicianCamera => "clinician-camera",
            Self::ExamCamera => "exam-camera",
            Self::ScreenShare => "screen-share",
        }
    }

    /// Whether this source carries video.
    pub fn is_video(self) -> bool {
        !matches!(self, Self::Audio)
    }
}

/// The order in which the allocator climbs one track's layers (and, walked backwards, drops
/// them). [`ClinicalProfile::candidates`] turns it into a concrete path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum LayerOrder {
    /// Resolution before frame rate: climb the spatial layers at the lowest frame rate that
    /// keeps the rate reached so far, then add temporal layers on the top one. For still
    /// subjects where detail is the diagnosis (skin).
    SpatialFirst,
    /// Frame rate before resolution: reach the full frame rate on a layer before moving up a
    /// spatial layer. For motion and expression (faces, a stroke examination).
    TemporalFirst,
    /// Alternate, advancing whichever of resolution and frame rate has come less far (measured
    /// as a fraction of its range); ties go to frame rate.
    Balanced,
}

/// How hard the path from publisher to subscriber should trade quality for delay.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum LatencyMode {
    /// Normal conversational latency: the allocator may wait for probes before upgrading and
    /// may let a short queue build before downgrading.
    Standard,
    /// The lowest latency the path allows: the server asks for a zero playout delay where the
    /// extension is negotiated, the allocator downgrades rather than queue, and a layer change
    /// is never deferred to smooth bitrate. For assessments where a delay changes the finding.
    Lowest,
}

/// What the publisher's encoder gives up first when its own uplink or CPU cannot carry a
/// layer. Serialised as the browser's `RTCDegradationPreference`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum DegradationPreference {
    /// Keep the resolution, drop frames (`"maintain-resolution"`).
    MaintainResolution,
    /// Keep the frame rate, drop resolution (`"maintain-framerate"`).
    MaintainFramerate,
    /// Give up some of each (`"balanced"`).
    Balanced,
}

impl DegradationPreference {
    /// The browser's name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::MaintainResolution => "maintain-resolution",
            Self::MaintainFramerate => "maintain-framerate",
            Self::Balanced => "balanced",
        }
    }
}

/// The colour space a publisher should encode and signal. The SFU forwards colour unchanged;
/// this is a hint to native and WebCodecs publishers (colour description in the bitstream, the
/// colour-space RTP header extension) and to viewers that calibrate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum ColorSpace {
    /// ITU-R BT.709 primaries, transfer and matrix, limited range: what HD cameras produce and
    /// calibrated displays expect, so skin tones are not shifted by a guessed conversion.
    Bt709,
}

/// The browser's `MediaStreamTrack.contentHint` for the camera track.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum ContentHint {
    /// `"motion"`: the encoder favours frame rate.
    Motion,
    /// `"detail"`: the encoder favours sharpness.
    Detail,
}

/// A region the publisher should spend bits on first, where its encoder or capture pipeline can
/// (region-of-interest quantisation, face-tracked framing). The SFU cannot act on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum FocusRegion {
    /// The face: expression and eye contact carry the clinical signal.
    Face,
}

/// A scalability mode of one simulcast encoding (W3C WebRTC-SVC): one spatial layer and one to
/// three temporal layers, which VP8, VP9, AV1 and H.264 all support in browsers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub enum ScalabilityMode {
    /// One temporal layer: every frame is needed.
    L1T1,
    /// Two temporal layers: half and full frame rate.
    L1T2,
    /// Three temporal layers: a quarter, half and full frame rate.
    L1T3,
}

impl ScalabilityMode {
    /// The WebRTC-SVC name (`"L1T3"`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::L1T1 => "L1T1",
            Self::L1T2 => "L1T2",
            Self::L1T3 => "L1T3",
        }
    }

    /// Temporal layers (1-3).
    pub fn temporal_layers(self) -> u8 {
        match self {
            Self::L1T1 => 1,
            Self::L1T2 => 2,
            Self::L1T3 => 3,
        }
    }

    /// Cumulative share of the encoding's bitrate used by temporal layers `0..=temporal`,
    /// in percent, as libwebrtc's VP8 rate allocator splits it (60/40 for two layers, 40/20/40
    /// for three). Temporal layers past the top count as the top.
    pub fn cumulative_share_percent(self, temporal: u8) -> u32 {
        let shares: &[u32] = match self {
            Self::L1T1 => &[100],
            Self::L1T2 => &[60, 100],
            Self::L1T3 => &[40, 60, 100],
        };
        shares[usize::from(temporal).min(shares.len() - 1)]
    }
}

/// One simulcast layer the publisher sends, lowest first in [`ProfileSpec::layers`].
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct LayerSpec {
    /// The RTP stream id (RFC 8851): 1-16 of `A-Z a-z 0-9 - _`, unique in the profile.
    pub rid: String,
    /// Width in pixels (16..=7680). Lower layers are sent as `scaleResolutionDownBy` of the
    /// top one, so every layer keeps the top layer's aspect ratio.
    pub width: u32,
    /// Height in pixels (16..=4320).
    pub height: u32,
    /// Highest frame rate (1..=120), the `maxFramerate` of the encoding.
    pub max_framerate: u32,
    /// Highest bitrate in bits per second (10_000..=50_000_000), the `maxBitrate`.
    pub max_bitrate: u32,
    /// Temporal layering of this encoding.
    pub scalability_mode: ScalabilityMode,
}

impl LayerSpec {
    /// A layer.
    pub fn new(
        rid: &str,
        width: u32,
        height: u32,
        max_framerate: u32,
        max_bitrate: u32,
        scalability_mode: ScalabilityMode,
    ) -> Self {
        Self {
            rid: rid.to_owned(),
            width,
            height,
            max_framerate,
            max_bitrate,
            scalability_mode,
        }
    }

    /// Frame rate of temporal layers `0..=temporal`: each layer below the top halves it.
    /// Temporal layers past the top count as the top.
    pub fn framerate_at(&self, temporal: u8) -> f64 {
        let top = self.scalability_mode.temporal_layers() - 1;
        let halvings = top - temporal.min(top);
        f64::from(self.max_framerate) / f64::from(1u32 << halvings)
    }

    /// The bitrate ceiling of temporal layers `0..=temporal`, in bits per second: the layer's
    /// `max_bitrate` times [`ScalabilityMode::cumulative_share_percent`]. The SFU measures the
    /// real rate; this is what the encoder is allowed, for planning and tests.
    pub fn bitrate_at(&self, temporal: u8) -> u32 {
        let share = self.scalability_mode.cumulative_share_percent(temporal);
        // At most 50_000_000 × 100 < u64::MAX, and the result is at most max_bitrate.
        (u64::from(self.max_bitrate) * u64::from(share) / 100) as u32
    }
}

/// The minimum a source should get, and what happens when the network cannot give it.
///
/// A zero means "no floor on this dimension". A floor is met by a candidate layer whose width,
/// height and frame rate are all at least the minimums.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct TrackFloor {
    /// The video source this floor is for (not audio).
    pub source: TrackSource,
    /// Minimum width in pixels; 0 for none.
    #[serde(default)]
    pub min_width: u32,
    /// Minimum height in pixels; 0 for none.
    #[serde(default)]
    pub min_height: u32,
    /// Minimum frame rate; 0 for none.
    #[serde(default)]
    pub min_framerate: u32,
    /// Raise a clinical quality alert when the allocator cannot hold the floor (rather than only
    /// protecting it by pausing lower-ranked tracks).
    #[serde(default)]
    pub alert: bool,
}

impl TrackFloor {
    /// A floor on `source` with no minimums yet and no alert.
    pub fn new(source: TrackSource) -> Self {
        Self {
            source,
            min_width: 0,
            min_height: 0,
            min_framerate: 0,
            alert: false,
        }
    }

    /// With a minimum resolution.
    pub fn min_size(mut self, width: u32, height: u32) -> Self {
        self.min_width = width;
        self.min_height = height;
        self
    }

    /// With a minimum frame rate.
    pub fn min_framerate(mut self, fps: u32) -> Self {
        self.min_framerate = fps;
        self
    }

    /// Raising a clinical quality alert when it cannot be held.
    pub fn with_alert(mut self) -> Self {
        self.alert = true;
        self
    }

    /// Whether a picture of this size and frame rate meets the floor.
    pub fn is_met_by(&self, width: u32, height: u32, framerate: f64) -> bool {
        width >= self.min_width
            && height >= self.min_height
            && framerate >= f64::from(self.min_framerate)
    }
}

/// What the SFU's allocator consults for one subscriber: plain data, so `telesfu-core` needs no
/// dependency on this crate.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct AllocationPolicy {
    /// Video sources, most important first. Audio is always funded before any video and is not
    /// listed; video sources left out rank after the listed ones, in [`TrackSource::VIDEO`]
    /// order. See [`ClinicalProfile::rank`].
    pub ranking: Vec<TrackSource>,
    /// How to climb (and descend) one track's layers.
    pub layer_order: LayerOrder,
    /// Latency mode for the whole session.
    pub latency: LatencyMode,
    /// Floors, at most one per video source.
    #[serde(default)]
    pub floors: Vec<TrackFloor>,
}

impl AllocationPolicy {
    /// A policy with no ranking (video sources in [`TrackSource::VIDEO`] order) and no floors.
    pub fn new(layer_order: LayerOrder, latency: LatencyMode) -> Self {
        Self {
            ranking: Vec::new(),
            layer_order,
            latency,
            floors: Vec::new(),
        }
    }

    /// With video sources ranked in this order.
    pub fn with_ranking(mut self, ranking: impl IntoIterator<Item = TrackSource>) -> Self {
        self.ranking = ranking.into_iter().collect();
        self
    }

    /// With one more floor.
    pub fn with_floor(mut self, floor: TrackFloor) -> Self {
        self.floors.push(floor);
        self
    }
}

/// A profile as written: public fields, serde, not yet checked. [`ClinicalProfile::new`]
/// validates it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct ProfileSpec {
    /// Unique name: 1-64 of `a-z 0-9 -`.
    pub name: String,
    /// The visit types that select this profile (each 1-64 of `A-Z a-z 0-9 - _`, compared
    /// case-insensitively). May be empty for a profile chosen only by name.
    pub visit_types: Vec<String>,
    /// What the publisher's encoder gives up first.
    pub degradation_preference: DegradationPreference,
    /// Colour space hint, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub color_space: Option<ColorSpace>,
    /// The camera track's content hint, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_hint: Option<ContentHint>,
    /// The region to spend bits on first, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub focus_region: Option<FocusRegion>,
    /// Simulcast layers of camera tracks, lowest first (index = spatial layer), 1-3 of them,
    /// growing strictly in width, height and bitrate, never falling in frame rate, all with the
    /// top layer's aspect ratio.
    pub layers: Vec<LayerSpec>,
    /// What the allocator consults.
    pub allocation: AllocationPolicy,
}

impl ProfileSpec {
    /// A profile selected by no visit type yet, without hints.
    pub fn new(
        name: &str,
        degradation_preference: DegradationPreference,
        layers: Vec<LayerSpec>,
        allocation: AllocationPolicy,
    ) -> Self {
        Self {
            name: name.to_owned(),
            visit_types: Vec::new(),
            degradation_preference,
            color_space: None,
            content_hint: None,
            focus_region: None,
            layers,
            allocation,
        }
    }

    /// Selected by these visit types.
    pub fn with_visit_types<S: Into<String>>(
        mut self,
        visit_types: impl IntoIterator<Item = S>,
    ) -> Self {
        self.visit_types = visit_types.into_iter().map(Into::into).collect();
        self
    }

    /// With a colour space hint.
    pub fn with_color_space(mut self, color_space: ColorSpace) -> Self {
        self.color_space = Some(color_space);
        self
    }

    /// With a content hint.
    pub fn with_content_hint(mut self, content_hint: ContentHint) -> Self {
        self.content_hint = Some(content_hint);
        self
    }

    /// With a focus region.
    pub fn with_focus_region(mut self, focus_region: FocusRegion) -> Self {
        self.focus_region = Some(focus_region);
        self
    }
}

/// One step on a track's layer path: a spatial layer and the temporal layers up to `temporal`.
///
/// `(spatial, temporal)` is what `telesfu-core`'s `LayerPreference::new(max_spatial,
/// max_temporal)` takes.
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub struct LayerCandidate {
    /// Spatial layer (index into [`ProfileSpec::layers`]).
    pub spatial: u8,
    /// Highest temporal layer forwarded.
    pub temporal: u8,
    /// Width of the picture.
    pub width: u32,
    /// Height of the picture.
    pub height: u32,
    /// Frame rate delivered.
    pub framerate: f64,
    /// Bitrate ceiling of what is forwarded, bits per second ([`LayerSpec::bitrate_at`]).
    pub max_bitrate: u32,
}

/// A validated clinical profile. Once one exists it is known good: layers grow, floors are
/// reachable, names and ranges are in bounds.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct ClinicalProfile {
    spec: ProfileSpec,
}

impl ClinicalProfile {
    /// Checks `spec`. The error names the profile, the field and what it accepts.
    pub fn new(spec: ProfileSpec) -> Result<Self, Error> {
        validate::check(&spec)?;
        Ok(Self { spec })
    }

    /// The unique name.
    pub fn name(&self) -> &str {
        &self.spec.name
    }

    /// The visit types that select it.
    pub fn visit_types(&self) -> &[String] {
        &self.spec.visit_types
    }

    /// The simulcast layers, lowest first.
    pub fn layers(&self) -> &[LayerSpec] {
        &self.spec.layers
    }

    /// The top (largest) layer.
    pub fn top_layer(&self) -> &LayerSpec {
        // Validation requires 1..=3 layers.
        &self.spec.layers[self.spec.layers.len() - 1]
    }

    /// What the allocator consults.
    pub fn allocation(&self) -> &AllocationPolicy {
        &self.spec.allocation
    }

    /// The publisher's degradation preference.
    pub fn degradation_preference(&self) -> DegradationPreference {
        self.spec.degradation_preference
    }

    /// The colour space hint.
    pub fn color_space(&self) -> Option<ColorSpace> {
        self.spec.color_space
    }

    /// The camera track's content hint.
    pub fn content_hint(&self) -> Option<ContentHint> {
        self.spec.content_hint
    }

    /// The focus region hint.
    pub fn focus_region(&self) -> Option<FocusRegion> {
        self.spec.focus_region
    }

    /// The specification it was built from.
    pub fn spec(&self) -> &ProfileSpec {
        &self.spec
    }

    /// Back to a specification (to edit and re-validate).
    pub fn into_spec(self) -> ProfileSpec {
        self.spec
    }

    /// Allocation rank of a source: 0 for audio (always first), then 1, 2, … in
    /// [`AllocationPolicy::ranking`] order, then the unlisted video sources in
    /// [`TrackSource::VIDEO`] order. Lower is funded first; every source has a distinct rank.
    pub fn rank(&self, source: TrackSource) -> u8 {
        if !source.is_video() {
            return 0;
        }
        let ranking = &self.spec.allocation.ranking;
        let position = ranking
            .iter()
            .position(|s| *s == source)
            .unwrap_or_else(|| {
                ranking.len()
                    + TrackSource::VIDEO
                        .iter()
                        .filter(|s| !ranking.contains(s))
                        .position(|s| *s == source)
                        // Every video source is in VIDEO; a non-video one returned above.
                        .unwrap_or(0)
            });
        // At most 4 video sources, so the position fits.
        position as u8 + 1
    }

    /// The floor for a source, if the profile sets one.
    pub fn floor(&self, source: TrackSource) -> Option<&TrackFloor> {
        self.spec
            .allocation
            .floors
            .iter()
            .find(|f| f.source == source)
    }

    /// The path the allocator climbs for one camera track, from the cheapest candidate
    /// (`(0, 0)`) to everything (`(top, top)`), following [`AllocationPolicy::layer_order`].
    /// Downgrading walks it backwards.
    ///
    /// Each step raises the spatial layer by one or the temporal layer by one; a spatial step
    /// takes the lowest temporal layer of the new spatial layer whose frame rate is at least the
    /// current one. So along the path neither resolution nor frame rate ever falls.
    pub fn candidates(&self) -> Vec<LayerCandidate> {
        let layers = &self.spec.layers;
        let top_spatial = layers.len() - 1;
        let top_temporal = |s: usize| usize::from(layers[s].scalability_mode.temporal_layers() - 1);
        let candidate = |s: usize, t: usize| {
            let layer = &layers[s];
            // s < 3 and t < 3 by validation.
            LayerCandidate {
                spatial: s as u8,
                temporal: t as u8,
                width: layer.width,
                height: layer.height,
                framerate: layer.framerate_at(t as u8),
                max_bitrate: layer.bitrate_at(t as u8),
            }
        };
        let (mut s, mut t) = (0usize, 0usize);
        let mut path = vec![candidate(0, 0)];
        while s < top_spatial || t < top_temporal(s) {
            let can_temporal = t < top_temporal(s);
            let can_spatial = s < top_spatial;
            let spatial_step = match self.spec.allocation.layer_order {
                LayerOrder::SpatialFirst => can_spatial,
                LayerOrder::TemporalFirst => !can_temporal,
                LayerOrder::Balanced => {
                    if !can_temporal || !can_spatial {
                        can_spatial
                    } else {
                        // Progress as fractions s/top_spatial vs t/top_temporal, compared
                        // without division; ties go to frame rate.
                        s * top_temporal(s) < t * top_spatial
                    }
                }
            };
            if spatial_step {
                let current = layers[s].framerate_at(t as u8);
                s += 1;
                t = (0..=top_temporal(s))
                    .find(|&nt| layers[s].framerate_at(nt as u8) >= current)
                    // Frame rates never fall between layers (validated), so the top qualifies.
                    .unwrap_or(top_temporal(s));
            } else {
                t += 1;
            }
            path.push(candidate(s, t));
        }
        path
    }

    /// Whether forwarding `(spatial, temporal)` of a track from `source` meets the source's
    /// floor (true when it has none). Layers past the top count as the top.
    pub fn meets_floor(&self, source: TrackSource, spatial: u8, temporal: u8) -> bool {
        let Some(floor) = self.floor(source) else {
            return true;
        };
        let layer = &self.spec.layers[usize::from(spatial).min(self.spec.layers.len() - 1)];
        floor.is_met_by(layer.width, layer.height, layer.framerate_at(temporal))
    }

    /// The cheapest candidate on the path that meets the source's floor: what the allocator
    /// must fund before lower-ranked tracks get more than their lowest layer. The first
    /// candidate when the source has no floor; always `Some` for a valid profile, because
    /// floors are within the top layer.
    pub fn floor_candidate(&self, source: TrackSource) -> Option<LayerCandidate> {
        self.candidates()
            .into_iter()
            .find(|c| self.meets_floor(source, c.spatial, c.temporal))
    }

    /// The parameters the server sends the publishing client for a camera track.
    pub fn publisher_params(&self) -> PublisherParams {
        encoding::publisher_params(self)
    }
}

impl TryFrom<ProfileSpec> for ClinicalProfile {
    type Error = Error;

    fn try_from(spec: ProfileSpec) -> Result<Self, Error> {
        Self::new(spec)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn custom(order: LayerOrder, ranking: Vec<TrackSource>) -> ClinicalProfile {
        let mut spec = builtin::general_consult().into_spec();
        spec.name = "custom".into();
        spec.allocation.layer_order = order;
        spec.allocation.ranking = ranking;
        ClinicalProfile::new(spec).expect("valid")
    }

    #[test]
    fn unranked_sources_follow_ranked_ones_in_default_order() {
        let p = custom(LayerOrder::Balanced, vec![TrackSource::ScreenShare]);
        let ranks: Vec<u8> = TrackSource::VIDEO.iter().map(|s| p.rank(*s)).collect();
        // patient, clinician, exam after screen share.
        assert_eq!(ranks, [2, 3, 4, 1]);
        assert_eq!(p.rank(TrackSource::Audio), 0);
        let none = custom(LayerOrder::Balanced, Vec::new());
        let ranks: Vec<u8> = TrackSource::VIDEO.iter().map(|s| none.rank(*s)).collect();
        assert_eq!(ranks, [1, 2, 3, 4]);
    }

    #[test]
    fn layer_orders_give_different_paths_over_the_same_layers() {
        let path = |order| {
            custom(order, Vec::new())
                .candidates()
                .iter()
                .map(|c| (c.spatial, c.temporal))
                .collect::<Vec<_>>()
        };
        assert_eq!(
            path(LayerOrder::SpatialFirst),
            [(0, 0), (1, 0), (2, 0), (2, 1), (2, 2)]
        );
        assert_eq!(
            path(LayerOrder::TemporalFirst),
            [(0, 0), (0, 1), (0, 2), (1, 2), (2, 2)]
        );
        assert_eq!(
            path(LayerOrder::Balanced),
            [(0, 0), (0, 1), (1, 1), (1, 2), (2, 2)]
        );
    }

    #[test]
    fn temporal_layers_halve_frame_rate_and_split_bitrate_like_libwebrtc() {
        let layer = LayerSpec::new("f", 1280, 720, 60, 1_000_000, ScalabilityMode::L1T3);
        let fps: Vec<f64> = (0..4).map(|t| layer.framerate_at(t)).collect();
        assert_eq!(fps, [15.0, 30.0, 60.0, 60.0]);
        let bps: Vec<u32> = (0..3).map(|t| layer.bitrate_at(t)).collect();
        assert_eq!(bps, [400_000, 600_000, 1_000_000]);
        let two = LayerSpec::new("h", 640, 360, 30, 500_000, ScalabilityMode::L1T2);
        assert_eq!((two.framerate_at(0), two.bitrate_at(0)), (15.0, 300_000));
        let one = LayerSpec::new("q", 320, 180, 30, 200_000, ScalabilityMode::L1T1);
        assert_eq!((one.framerate_at(0), one.bitrate_at(0)), (30.0, 200_000));
    }

    #[test]
    fn publisher_params_use_the_browser_field_names() {
        let json = serde_json::to_value(builtin::dermatology().publisher_params()).expect("json");
        let expected = serde_json::json!({
            "degradationPreference": "maintain-resolution",
            "encodings": [
                {"rid": "q", "scaleResolutionDownBy": 4.0, "maxBitrate": 150000,
                 "maxFramerate": 15, "scalabilityMode": "L1T2"},
                {"rid": "h", "scaleResolutionDownBy": 2.0, "maxBitrate": 700000,
                 "maxFramerate": 30, "scalabilityMode": "L1T3"},
                {"rid": "f", "scaleResolutionDownBy": 1.0, "maxBitrate": 2500000,
                 "maxFramerate": 30, "scalabilityMode": "L1T3"},
            ],
            "contentHint": "detail",
            "colorSpace": "bt709",
            "captureWidth": 1280,
            "captureHeight": 720,
        });
        assert_eq!(json, expected);
        let general =
            serde_json::to_value(builtin::general_consult().publisher_params()).expect("json");
        assert_eq!(general["degradationPreference"], "balanced");
        assert!(general.get("contentHint").is_none() && general.get("colorSpace").is_none());
        let stroke = serde_json::to_value(builtin::telestroke().publisher_params()).expect("json");
        assert_eq!(stroke["degradationPreference"], "maintain-framerate");
    }
}
