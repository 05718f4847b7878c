//! The built-in profiles driving telesfu-core's allocator at a 500 kbps downlink, with the
//! layers each profile asks publishers to send (their bitrate ceilings as measured rates).

use std::time::Instant;

use telesfu_core::alloc::{
    AllocEvent, Allocator, Layer, PublisherRole, TrackInput, TrackMeta, TrackSource,
};
use telesfu_policy::profiles::{ClinicalProfile, builtin};

fn layers(p: &ClinicalProfile) -> Vec<Layer> {
    let mut v = Vec::new();
    for (s, l) in p.layers().iter().enumerate() {
        for t in 0..l.scalability_mode.temporal_layers() {
            v.push(Layer {
                spatial: s as u8,
                temporal: t,
                bitrate_bps: u64::from(l.bitrate_at(t)),
                width: l.width as u16,
                height: l.height as u16,
                fps: l.framerate_at(t) as u16,
            });
        }
    }
    v
}

fn track(
    id: u64,
    layers: &[Layer],
    source: TrackSource,
    role: PublisherRole,
    audio: bool,
) -> TrackInput<'_> {
    TrackInput {
        id,
        meta: TrackMeta {
            source,
            role,
            audio,
        },
        layers,
        max_spatial: u8::MAX,
        max_temporal: u8::MAX,
        paused: false,
    }
}

/// A call as the clinician sees it: the patient's camera and microphone.
fn allocate(p: &ClinicalProfile, bps: u64) -> (Layer, Vec<AllocEvent>) {
    let video = layers(p);
    let audio = [Layer {
        bitrate_bps: 40_000,
        ..Layer::default()
    }];
    let tracks = [
        track(
            1,
            &audio,
            TrackSource::Microphone,
            PublisherRole::Patient,
            true,
        ),
        track(
            2,
            &video,
            TrackSource::Camera,
            PublisherRole::Patient,
            false,
        ),
    ];
    let mut a = Allocator::default();
    #[allow(clippy::disallowed_methods)]
    let now = Instant::now();
    let d = a.allocate(now, bps, &tracks, p)[1];
    let (s, t) = d.layer.expect("patient camera paused");
    let chosen = *video
        .iter()
        .find(|l| (l.spatial, l.temporal) == (s, t))
        .unwrap();
    let mut events = Vec::new();
    while let Some(e) = a.poll_event() {
        events.push(e);
    }
    (chosen, events)
}

#[test]
fn dermatology_keeps_the_patient_camera_at_640x360_on_500_kbps() {
    let (l, events) = allocate(&builtin::dermatology(), 500_000);
    assert!(l.width >= 640 && l.height >= 360, "{l:?}");
    assert!(events.is_empty(), "{events:?}");
}

#[test]
fn behavioural_health_keeps_25_fps_on_500_kbps() {
    let (l, events) = allocate(&builtin::behavioural_health(), 500_000);
    assert!(l.fps >= 25, "{l:?}");
    assert!(events.is_empty(), "{events:?}");
}

#[test]
fn telestroke_alerts_on_500_kbps() {
    let (_, events) = allocate(&builtin::telestroke(), 500_000);
    assert!(
        matches!(events.as_slice(), [AllocEvent::QualityAlert { id: 2, .. }]),
        "{events:?}"
    );
    let (l, events) = allocate(&builtin::telestroke(), 3_000_000);
    assert!(events.is_empty() && l.fps >= 30, "{l:?} {events:?}");
}

#[test]
fn general_consult_uses_the_whole_link() {
    let (l, _) = allocate(&builtin::general_consult(), 5_000_000);
    assert_eq!((l.width, l.height), (1920, 1080));
    let (l, _) = allocate(&builtin::general_consult(), 500_000);
    assert!(l.height >= 360, "{l:?}");
}
