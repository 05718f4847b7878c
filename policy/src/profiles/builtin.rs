//! The four built-in profiles, and why each value is what it is.
//!
//! Bitrate ceilings start from what browsers allow a VP8 simulcast layer of each size by
//! default (about 200 kbps at 320×180, 700 kbps at 640×360, 2.5 Mbps at 1280×720, more at
//! 1080p) and from the presets SFU client SDKs ship (for example 1.7 Mbps at 720p30 and
//! 3 Mbps at 1080p30), then move with what the visit needs. The SFU measures the real rate of
//! each layer; these are the encoder's ceilings.
//!
//! Three constraints come from the scenarios the allocator must pass on a 500 kbps downlink,
//! where about 40 kbps goes to Opus first, leaving about 460 kbps for video:
//!
//! - dermatology holds the patient camera at 640×360: the middle layer's lowest temporal layer
//!   (40 % of 700 kbps = 280 kbps at 7.5 fps) must fit, and does, with 15 fps (420 kbps) too;
//! - behavioural health holds 25 fps: the bottom layer at its full 30 fps (200 kbps) must fit;
//! - telestroke raises its alert: its floor, 640×360 at 30 fps (60 % of 1 Mbps = 600 kbps),
//!   must *not* fit, because at that rate the examination is no longer assessable.
//!
//! The crate's tests check all three against [`ClinicalProfile::floor_candidate`].

use super::{
    AllocationPolicy, ClinicalProfile, ColorSpace, ContentHint, DegradationPreference, FocusRegion,
    LatencyMode, LayerOrder, LayerSpec, ProfileSpec, ScalabilityMode, TrackFloor, TrackSource,
};

/// Name of the dermatology profile.
pub const DERMATOLOGY: &str = "dermatology";
/// Name of the behavioural health profile.
pub const BEHAVIOURAL_HEALTH: &str = "behavioural-health";
/// Name of the telestroke profile.
pub const TELESTROKE: &str = "telestroke";
/// Name of the general consult profile, the fallback for unknown visit types.
pub const GENERAL_CONSULT: &str = "general-consult";

fn build(spec: ProfileSpec) -> ClinicalProfile {
    // The built-ins are constants of this file; `builtins_validate` in the tests proves each
    // passes validation, so this cannot fail at run time.
    ClinicalProfile::new(spec).expect("built-in profiles are valid (tested)")
}

fn visit_types(names: &[&str]) -> Vec<String> {
    names.iter().map(|s| (*s).to_owned()).collect()
}

use ScalabilityMode::{L1T2, L1T3};
use TrackSource::{ClinicianCamera, ExamCamera, PatientCamera, ScreenShare};

/// Dermatology: spatial detail and colour first; frame rate may drop.
///
/// - Layers 320×180 @ 15 fps / 150 kbps (L1T2), 640×360 @ 30 / 700 kbps (L1T3),
///   1280×720 @ 30 / 2.5 Mbps (L1T3). The top layer gets the full 720p ceiling because fine
///   texture and lesion borders are the finding; three temporal layers let the SFU keep 720p
///   at 7.5 or 15 fps rather than drop to 360p. The bottom layer is a thumbnail.
/// - `maintain-resolution`, content hint `detail`, colour BT.709 (skin tone is diagnostic; an
///   undeclared colour space invites a wrong conversion).
/// - Spatial-first layer path; standard latency.
/// - Ranking: patient camera, exam camera (dermatoscope), clinician camera, screen share.
/// - Floors: patient and exam camera at 640×360, any frame rate, with an alert: below 360p a
///   lesion image is not diagnostic, and the clinician must know rather than assess it.
pub fn dermatology() -> ClinicalProfile {
    build(ProfileSpec {
        name: DERMATOLOGY.into(),
        visit_types: visit_types(&[DERMATOLOGY, "teledermatology", "skin-check"]),
        degradation_preference: DegradationPreference::MaintainResolution,
        color_space: Some(ColorSpace::Bt709),
        content_hint: Some(ContentHint::Detail),
        focus_region: None,
        layers: vec![
            LayerSpec::new("q", 320, 180, 15, 150_000, L1T2),
            LayerSpec::new("h", 640, 360, 30, 700_000, L1T3),
            LayerSpec::new("f", 1280, 720, 30, 2_500_000, L1T3),
        ],
        allocation: AllocationPolicy {
            ranking: vec![PatientCamera, ExamCamera, ClinicianCamera, ScreenShare],
            layer_order: LayerOrder::SpatialFirst,
            latency: LatencyMode::Standard,
            floors: vec![
                TrackFloor::new(PatientCamera)
                    .min_size(640, 360)
                    .with_alert(),
                TrackFloor::new(ExamCamera).min_size(640, 360).with_alert(),
            ],
        },
    })
}

/// Behavioural health: a steady 30 fps and the face first; resolution may drop, frame rate
/// stays at or above 25.
///
/// - Layers 320×180 / 200 kbps, 640×360 / 600 kbps, 1280×720 / 1.5 Mbps, all 30 fps and
///   L1T2. Two temporal layers, not three: below the 25 fps floor only one emergency step
///   (15 fps) is useful, and fewer layers compress better. 720p needs less than dermatology's
///   ceiling because a face on a still background is easy to encode.
/// - `maintain-framerate`, content hint `motion`, focus region `face` (affect, gaze and
///   micro-expressions are the signal).
/// - Temporal-first layer path; standard latency.
/// - Ranking: patient camera, clinician camera (the patient watches the clinician's face too),
///   screen share, exam camera.
/// - Floors: 25 fps on both cameras, without an alert: the allocator drops resolution to hold
///   them, and a session below them is degraded but not unsafe.
pub fn behavioural_health() -> ClinicalProfile {
    build(ProfileSpec {
        name: BEHAVIOURAL_HEALTH.into(),
        visit_types: visit_types(&[
            BEHAVIOURAL_HEALTH,
            "behavioral-health",
            "psychiatry",
            "psychotherapy",
            "counselling",
            "counseling",
        ]),
        degradation_preference: DegradationPreference::MaintainFramerate,
        color_space: None,
        content_hint: Some(ContentHint::Motion),
        focus_region: Some(FocusRegion::Face),
        layers: vec![
            LayerSpec::new("q", 320, 180, 30, 200_000, L1T2),
            LayerSpec::new("h", 640, 360, 30, 600_000, L1T2),
            LayerSpec::new("f", 1280, 720, 30, 1_500_000, L1T2),
        ],
        allocation: AllocationPolicy {
            ranking: vec![PatientCamera, ClinicianCamera, ScreenShare, ExamCamera],
            layer_order: LayerOrder::TemporalFirst,
            latency: LatencyMode::Standard,
            floors: vec![
                TrackFloor::new(PatientCamera).min_framerate(25),
                TrackFloor::new(ClinicianCamera).min_framerate(25),
            ],
        },
    })
}

/// Telestroke: 60 fps, the lowest latency, and an alert when the network threatens the
/// assessment.
///
/// - Layers 320×180 @ 30 / 250 kbps (L1T2), 640×360 @ 60 / 1 Mbps (L1T3),
///   1280×720 @ 60 / 3.5 Mbps (L1T3). 60 fps on the upper layers shows tremor, nystagmus and
///   the first moments of arm drift; it costs about 1.4× the bits of 30 fps (the change per
///   frame halves), not 2×, hence 1 Mbps over 700 kbps and 3.5 over 2.5 Mbps. L1T3 gives the
///   SFU 15/30/60 fps steps without another keyframe.
/// - `maintain-framerate`, content hint `motion`; no focus region (the examination needs the
///   whole frame: face, both arms, speech).
/// - Temporal-first layer path; lowest latency.
/// - Ranking: patient camera, clinician camera, screen share, exam camera.
/// - Floor: patient camera at 640×360 and 30 fps, with an alert: the scale's items (facial
///   palsy, limb drift, gaze) are not reliably scored below that.
pub fn telestroke() -> ClinicalProfile {
    build(ProfileSpec {
        name: TELESTROKE.into(),
        visit_types: visit_types(&[TELESTROKE, "stroke", "acute-stroke", "stroke-alert"]),
        degradation_preference: DegradationPreference::MaintainFramerate,
        color_space: None,
        content_hint: Some(ContentHint::Motion),
        focus_region: None,
        layers: vec![
            LayerSpec::new("q", 320, 180, 30, 250_000, L1T2),
            LayerSpec::new("h", 640, 360, 60, 1_000_000, L1T3),
            LayerSpec::new("f", 1280, 720, 60, 3_500_000, L1T3),
        ],
        allocation: AllocationPolicy {
            ranking: vec![PatientCamera, ClinicianCamera, ScreenShare, ExamCamera],
            layer_order: LayerOrder::TemporalFirst,
            latency: LatencyMode::Lowest,
            floors: vec![
                TrackFloor::new(PatientCamera)
                    .min_size(640, 360)
                    .min_framerate(30)
                    .with_alert(),
            ],
        },
    })
}

/// General consult: balanced, 1080p down to 360p. Also the fallback for visit types no profile
/// claims.
///
/// - Layers 640×360 / 500 kbps, 1280×720 / 1.5 Mbps, 1920×1080 / 3 Mbps, all 30 fps and L1T3
///   (`scaleResolutionDownBy` 3, 1.5, 1). 3 Mbps at 1080p30 and 1.5 Mbps at 720p30 sit at
///   common SDK presets; 500 kbps is a typical target for 360p. The bottom layer is 360p, so
///   the picture never goes below it: the allocator pauses a track instead.
/// - `balanced`, no hints.
/// - Balanced layer path; standard latency.
/// - Ranking: patient camera, clinician camera, screen share, exam camera. No floors.
pub fn general_consult() -> ClinicalProfile {
    build(ProfileSpec {
        name: GENERAL_CONSULT.into(),
        visit_types: visit_types(&[GENERAL_CONSULT, "primary-care", "follow-up", "consult"]),
        degradation_preference: DegradationPreference::Balanced,
        color_space: None,
        content_hint: None,
        focus_region: None,
        layers: vec![
            LayerSpec::new("q", 640, 360, 30, 500_000, L1T3),
            LayerSpec::new("h", 1280, 720, 30, 1_500_000, L1T3),
            LayerSpec::new("f", 1920, 1080, 30, 3_000_000, L1T3),
        ],
        allocation: AllocationPolicy {
            ranking: vec![PatientCamera, ClinicianCamera, ScreenShare, ExamCamera],
            layer_order: LayerOrder::Balanced,
            latency: LatencyMode::Standard,
            floors: Vec::new(),
        },
    })
}

/// All four, general consult last.
pub fn all() -> Vec<ClinicalProfile> {
    vec![
        dermatology(),
        behavioural_health(),
        telestroke(),
        general_consult(),
    ]
}
