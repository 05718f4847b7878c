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
/// - Ranking: patient camera, clinician camera, screen share, exam camera.
/// - Floors: patient and clinician camera at 320×180 and 15 fps, with an alert. A consult
///   needs a face that moves like a face; below that the picture cannot be used to examine,
///   and both people are told (issue 10: every profile has a floor). A 1280×720 camera's
///   lowest layer (427×240) at half its frame rate holds it on 500 kbps.
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
            floors: vec![
                TrackFloor::new(PatientCamera)
                    .min_size(320, 180)
                    .min_framerate(15)
                    .with_alert(),
                TrackFloor::new(ClinicianCamera)
                    .min_size(320, 180)
                    .min_framerate(15)
                    .with_alert(),
            ],
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::profiles::ProfileRegistry;

    /// What a 500 kbps downlink leaves for video after Opus.
    const VIDEO_AT_500K: u32 = 460_000;

    fn steps(profile: &ClinicalProfile) -> Vec<(u8, u8)> {
        profile
            .candidates()
            .iter()
            .map(|c| (c.spatial, c.temporal))
            .collect()
    }

    fn scales(profile: &ClinicalProfile) -> Vec<f64> {
        let params = profile.publisher_params();
        params
            .encodings
            .iter()
            .map(|e| e.scale_resolution_down_by)
            .collect()
    }

    #[test]
    fn builtins_validate() {
        let all = all();
        assert_eq!(all.len(), 4);
        for profile in &all {
            let again = ClinicalProfile::new(profile.spec().clone());
            assert_eq!(again.as_ref(), Ok(profile), "{}", profile.name());
        }
        let registry = ProfileRegistry::builtin();
        let names: Vec<&str> = registry.profiles().map(ClinicalProfile::name).collect();
        assert_eq!(
            names,
            [DERMATOLOGY, BEHAVIOURAL_HEALTH, TELESTROKE, GENERAL_CONSULT]
        );
        for profile in registry.profiles() {
            for visit_type in profile.visit_types() {
                assert_eq!(registry.for_visit_type(visit_type).name(), profile.name());
            }
        }
    }

    #[test]
    fn dermatology_holds_patient_camera_at_360p_and_keeps_colour() {
        let p = dermatology();
        let floor = p.floor(PatientCamera).expect("patient camera floor");
        assert_eq!(
            (floor.min_width, floor.min_height, floor.min_framerate),
            (640, 360, 0)
        );
        assert!(floor.alert);
        assert_eq!(
            p.floor(ExamCamera),
            Some(&TrackFloor::new(ExamCamera).min_size(640, 360).with_alert())
        );
        assert_eq!(p.floor(ClinicianCamera), None);

        let params = p.publisher_params();
        assert_eq!(
            params.degradation_preference,
            DegradationPreference::MaintainResolution
        );
        assert_eq!(params.color_space, Some(ColorSpace::Bt709));
        assert_eq!(params.content_hint, Some(ContentHint::Detail));
        assert_eq!(scales(&p), [4.0, 2.0, 1.0]);
        assert_eq!((params.capture_width, params.capture_height), (1280, 720));

        assert_eq!(p.allocation().layer_order, LayerOrder::SpatialFirst);
        assert_eq!(steps(&p), [(0, 0), (1, 0), (2, 0), (2, 1), (2, 2)]);
        assert_eq!(p.rank(TrackSource::Audio), 0);
        assert_eq!(p.rank(PatientCamera), 1);
        assert_eq!(p.rank(ClinicianCamera), 3);
        assert_eq!(p.rank(ScreenShare), 4);

        // 640x360 at 7.5 fps is the cheapest way to hold the floor, and fits 500 kbps.
        let must = p.floor_candidate(PatientCamera).expect("reachable");
        assert_eq!(
            (must.spatial, must.temporal, must.width, must.height),
            (1, 0, 640, 360)
        );
        assert_eq!(must.framerate, 7.5);
        assert!(must.max_bitrate <= VIDEO_AT_500K, "{}", must.max_bitrate);
        assert!(!p.meets_floor(PatientCamera, 0, 2));
        assert!(p.meets_floor(PatientCamera, 1, 0));
    }

    #[test]
    fn behavioural_health_keeps_25_fps_and_the_face() {
        let p = behavioural_health();
        for source in [PatientCamera, ClinicianCamera] {
            let floor = p.floor(source).expect("floor");
            assert_eq!(
                (floor.min_width, floor.min_height, floor.min_framerate),
                (0, 0, 25)
            );
            assert!(!floor.alert);
        }
        let params = p.publisher_params();
        assert_eq!(
            params.degradation_preference,
            DegradationPreference::MaintainFramerate
        );
        assert!(params.encodings.iter().all(|e| e.max_framerate == 30));
        assert!(params.encodings.iter().all(|e| e.scalability_mode == L1T2));
        assert_eq!(p.focus_region(), Some(FocusRegion::Face));
        assert_eq!(p.allocation().layer_order, LayerOrder::TemporalFirst);
        assert_eq!(steps(&p), [(0, 0), (0, 1), (1, 1), (2, 1)]);
        // Past the first step, every candidate on the path is at 30 fps.
        assert!(p.candidates()[1..].iter().all(|c| c.framerate == 30.0));

        let must = p.floor_candidate(PatientCamera).expect("reachable");
        assert_eq!((must.spatial, must.temporal, must.framerate), (0, 1, 30.0));
        assert!(must.max_bitrate <= VIDEO_AT_500K);
        assert!(
            !p.meets_floor(PatientCamera, 2, 0),
            "15 fps is below the floor"
        );
    }

    #[test]
    fn telestroke_runs_at_60_fps_with_lowest_latency_and_alerts() {
        let p = telestroke();
        let params = p.publisher_params();
        let fps: Vec<u32> = params.encodings.iter().map(|e| e.max_framerate).collect();
        assert_eq!(fps, [30, 60, 60]);
        assert_eq!(params.encodings[2].scalability_mode, L1T3);
        assert_eq!(
            params.degradation_preference,
            DegradationPreference::MaintainFramerate
        );
        assert_eq!(p.allocation().latency, LatencyMode::Lowest);
        assert_eq!(p.top_layer().framerate_at(2), 60.0);

        let floor = p.floor(PatientCamera).expect("floor");
        assert_eq!(
            (floor.min_width, floor.min_height, floor.min_framerate),
            (640, 360, 30)
        );
        assert!(floor.alert);
        assert_eq!(steps(&p), [(0, 0), (0, 1), (1, 1), (1, 2), (2, 2)]);

        // On 500 kbps the floor cannot be held, so the alert fires.
        let must = p.floor_candidate(PatientCamera).expect("reachable");
        assert_eq!((must.spatial, must.temporal), (1, 1));
        assert!(must.max_bitrate > VIDEO_AT_500K, "{}", must.max_bitrate);
    }

    #[test]
    fn general_consult_is_balanced_from_1080p_to_360p() {
        let p = general_consult();
        let sizes: Vec<(u32, u32)> = p.layers().iter().map(|l| (l.width, l.height)).collect();
        assert_eq!(sizes, [(640, 360), (1280, 720), (1920, 1080)]);
        assert_eq!(scales(&p), [3.0, 1.5, 1.0]);
        assert_eq!(p.degradation_preference(), DegradationPreference::Balanced);
        let floor = p.floor(PatientCamera).expect("patient camera floor");
        assert_eq!(
            (floor.min_width, floor.min_height, floor.min_framerate),
            (320, 180, 15)
        );
        assert!(floor.alert);
        assert_eq!(p.floor(ClinicianCamera).map(|f| f.min_framerate), Some(15));
        assert_eq!(steps(&p), [(0, 0), (0, 1), (1, 1), (1, 2), (2, 2)]);
        // 360p at 15 fps (the first two of three temporal layers) holds it.
        assert!(
            p.floor_candidate(PatientCamera)
                .is_some_and(|c| c.spatial == 0 && c.temporal == 1)
        );
    }
}
