use super::*;

/// Three spatial layers (320x180, 640x360, 1280x720) with three temporal layers (7.5/15/30 fps);
/// VP8-like split: TL0 60 %, TL1 +20 %, TL2 +20 % of each spatial layer's rate.
fn simulcast(scale: f64) -> Vec<Layer> {
    let mut v = Vec::new();
    for (s, (w, h, kbps)) in [
        (320u16, 180u16, 150.0),
        (640, 360, 500.0),
        (1280, 720, 1500.0),
    ]
    .into_iter()
    .enumerate()
    {
        for (t, (frac, fps)) in [(0.6, 8u16), (0.8, 15), (1.0, 30)].into_iter().enumerate() {
            v.push(Layer {
                spatial: s as u8,
                temporal: t as u8,
                bitrate_bps: (kbps * frac * scale * 1000.0) as u64,
                width: w,
                height: h,
                fps,
            });
        }
    }
    v
}

fn audio_layer() -> Vec<Layer> {
    vec![Layer {
        bitrate_bps: 40_000,
        ..Layer::default()
    }]
}

fn video(id: u64, layers: &[Layer], source: TrackSource, role: PublisherRole) -> TrackInput<'_> {
    TrackInput {
        id,
        meta: TrackMeta {
            source,
            role,
            audio: false,
        },
        layers,
        max_spatial: u8::MAX,
        max_temporal: u8::MAX,
        paused: false,
    }
}

fn audio(id: u64, layers: &[Layer]) -> TrackInput<'_> {
    TrackInput {
        id,
        meta: TrackMeta {
            source: TrackSource::Microphone,
            role: PublisherRole::Patient,
            audio: true,
        },
        layers,
        max_spatial: 0,
        max_temporal: 0,
        paused: false,
    }
}

#[allow(clippy::disallowed_methods)]
fn t0() -> Instant {
    Instant::now()
}

struct Derm;
impl SpecialtyHook for Derm {
    fn candidate_order(&self, _: &TrackMeta) -> CandidateOrder {
        CandidateOrder::SpatialFirst
    }
    fn floor(&self, m: &TrackMeta) -> Option<Floor> {
        (m.source == TrackSource::Camera && m.role == PublisherRole::Patient).then_some(Floor {
            min_width: 640,
            min_height: 360,
            min_fps: 0,
            alert: true,
        })
    }
}

struct Behavioural;
impl SpecialtyHook for Behavioural {
    fn candidate_order(&self, _: &TrackMeta) -> CandidateOrder {
        CandidateOrder::TemporalFirst
    }
    fn floor(&self, m: &TrackMeta) -> Option<Floor> {
        (m.source == TrackSource::Camera).then_some(Floor {
            min_fps: 25,
            ..Floor::default()
        })
    }
}

#[test]
fn plenty_of_bandwidth_gives_the_top_layer() {
    let l = simulcast(1.0);
    let a = audio_layer();
    let tracks = [
        audio(1, &a),
        video(2, &l, TrackSource::Camera, PublisherRole::Patient),
    ];
    let mut alloc = Allocator::default();
    let d = alloc.allocate(t0(), 5_000_000, &tracks, &DefaultHook);
    assert_eq!(d[0].layer, Some((0, 0)));
    assert_eq!(d[1].layer, Some((2, 2)));
}

#[test]
fn viewer_limits_cap_the_layer() {
    let l = simulcast(1.0);
    let mut v = video(2, &l, TrackSource::Camera, PublisherRole::Patient);
    v.max_spatial = 0;
    let mut alloc = Allocator::default();
    assert_eq!(
        alloc.allocate(t0(), 5_000_000, &[v], &DefaultHook)[0].layer,
        Some((0, 2))
    );
    v.paused = true;
    assert_eq!(
        alloc.allocate(t0(), 5_000_000, &[v], &DefaultHook)[0].layer,
        None
    );
}

#[test]
fn audio_first_and_lowest_priority_video_paused_first() {
    let l = simulcast(1.0);
    let a = audio_layer();
    let tracks = [
        video(3, &l, TrackSource::Screen, PublisherRole::Clinician),
        audio(1, &a),
        video(2, &l, TrackSource::Camera, PublisherRole::Patient),
    ];
    let mut alloc = Allocator::default();
    // 40 k audio + 90 k (camera's lowest) fit; the screen's lowest does not.
    let d = alloc.allocate(t0(), 150_000, &tracks, &DefaultHook);
    assert_eq!(d[1].layer, Some((0, 0)));
    assert_eq!(d[2].layer, Some((0, 0)));
    assert_eq!(d[0].layer, None);
    // Even audio alone beyond the estimate is still sent.
    let d = alloc.allocate(t0(), 10_000, &tracks, &DefaultHook);
    assert_eq!(
        (d[0].layer, d[1].layer, d[2].layer),
        (None, Some((0, 0)), None)
    );
}

#[test]
fn dermatology_holds_640x360_at_500_kbps_and_drops_frame_rate() {
    let l = simulcast(1.0);
    let a = audio_layer();
    let tracks = [
        audio(1, &a),
        video(2, &l, TrackSource::Camera, PublisherRole::Patient),
        video(3, &l, TrackSource::Camera, PublisherRole::Clinician),
    ];
    let mut alloc = Allocator::default();
    let d = alloc.allocate(t0(), 500_000, &tracks, &Derm).to_vec();
    let (s, t) = d[1].layer.unwrap();
    assert!(s >= 1, "patient camera at spatial {s}");
    let chosen = l
        .iter()
        .find(|x| (x.spatial, x.temporal) == (s, t))
        .unwrap();
    assert!(chosen.width >= 640 && chosen.height >= 360);
    assert!(alloc.poll_event().is_none(), "floor held, no alert");
    let total: u64 = d.iter().map(|x| x.bitrate_bps).sum();
    assert!(total <= 500_000, "{total}");
}

#[test]
fn behavioural_keeps_frame_rate_over_resolution() {
    let l = simulcast(1.0);
    let a = audio_layer();
    let tracks = [
        audio(1, &a),
        video(2, &l, TrackSource::Camera, PublisherRole::Patient),
    ];
    let mut alloc = Allocator::default();
    let d = alloc
        .allocate(t0(), 500_000, &tracks, &Behavioural)
        .to_vec();
    let (s, t) = d[1].layer.unwrap();
    let chosen = l
        .iter()
        .find(|x| (x.spatial, x.temporal) == (s, t))
        .unwrap();
    assert!(chosen.fps >= 25, "{chosen:?}");
}

#[test]
fn alert_when_the_floor_cannot_be_held_and_restored_after() {
    let l = simulcast(1.0);
    let tracks = [video(2, &l, TrackSource::Camera, PublisherRole::Patient)];
    let mut alloc = Allocator::default();
    let now = t0();
    alloc.allocate(now, 200_000, &tracks, &Derm);
    assert!(matches!(
        alloc.poll_event(),
        Some(AllocEvent::QualityAlert { id: 2, .. })
    ));
    assert!(alloc.poll_event().is_none(), "one alert, not one per call");
    alloc.allocate(now + Duration::from_secs(1), 150_000, &tracks, &Derm);
    assert!(alloc.poll_event().is_none());
    alloc.allocate(now + Duration::from_secs(20), 3_000_000, &tracks, &Derm);
    assert!(matches!(
        alloc.poll_event(),
        Some(AllocEvent::QualityRestored { id: 2 })
    ));
}

#[test]
fn no_alert_when_the_viewer_chose_a_small_size() {
    let l = simulcast(1.0);
    let mut v = video(2, &l, TrackSource::Camera, PublisherRole::Patient);
    v.max_spatial = 0;
    let mut alloc = Allocator::default();
    alloc.allocate(t0(), 5_000_000, &[v], &Derm);
    assert!(alloc.poll_event().is_none());
}

#[test]
fn small_estimate_changes_keep_the_allocation() {
    let l = simulcast(1.0);
    let tracks = [video(2, &l, TrackSource::Camera, PublisherRole::Patient)];
    let mut alloc = Allocator::default();
    let now = t0();
    let first = alloc.allocate(now, 1_000_000, &tracks, &DefaultHook)[0];
    // +10 % would allow nothing more here anyway; -10 % still fits the current layer.
    let second = alloc.allocate(now, 900_000, &tracks, &DefaultHook)[0];
    assert_eq!(first.layer, second.layer);
    // A drop that no longer fits is acted on at once, even under 15 %.
    let tight = first.bitrate_bps - 1;
    let third = alloc.allocate(now, tight, &tracks, &DefaultHook)[0];
    assert!(third.layer < first.layer);
}

#[test]
fn no_re_upgrade_for_a_while_after_a_congestion_downgrade() {
    let l = simulcast(1.0);
    let tracks = [video(2, &l, TrackSource::Camera, PublisherRole::Patient)];
    let mut alloc = Allocator::default();
    let now = t0();
    assert_eq!(
        alloc.allocate(now, 3_000_000, &tracks, &DefaultHook)[0].layer,
        Some((2, 2))
    );
    let low = alloc.allocate(now, 300_000, &tracks, &DefaultHook)[0].layer;
    assert!(low < Some((1, 0)), "{low:?}");
    assert!(alloc.holding(now + Duration::from_secs(1)));
    let held = alloc.allocate(
        now + Duration::from_secs(2),
        3_000_000,
        &tracks,
        &DefaultHook,
    )[0];
    assert_eq!(held.layer, low, "upgraded during the hold");
    let after = alloc.allocate(
        now + Duration::from_secs(6),
        3_000_000,
        &tracks,
        &DefaultHook,
    )[0];
    assert_eq!(after.layer, Some((2, 2)));
}

#[test]
fn spatial_steps_need_a_margin() {
    let l = simulcast(1.0);
    let tracks = [video(2, &l, TrackSource::Camera, PublisherRole::Patient)];
    let mut alloc = Allocator::new(AllocatorConfig::default());
    // Exactly the bitrate of (2, 0) is not enough to step up to spatial 2 with a 20 % margin.
    let exact = l
        .iter()
        .find(|x| (x.spatial, x.temporal) == (2, 0))
        .unwrap()
        .bitrate_bps;
    let d = alloc.allocate(t0(), exact, &tracks, &DefaultHook)[0];
    assert!(d.layer.unwrap().0 < 2, "{d:?}");
}

#[test]
fn a_pause_alerts_even_without_a_floor() {
    // The default hook has no floors; a general consult before issue 10 paused in silence.
    let l = simulcast(1.0);
    let a = audio_layer();
    let tracks = [
        audio(1, &a),
        video(2, &l, TrackSource::Camera, PublisherRole::Patient),
    ];
    let mut alloc = Allocator::default();
    let now = t0();
    // 100 kbps: audio (40) leaves 60, below the cheapest layer (90 kbps at 8 fps).
    let d = alloc.allocate(now, 100_000, &tracks, &DefaultHook).to_vec();
    assert_eq!(d[1].layer, None);
    assert!(matches!(
        alloc.poll_event(),
        Some(AllocEvent::QualityAlert {
            id: 2,
            delivered: None,
            ..
        })
    ));
    assert!(alloc.poll_event().is_none());
    // 140 kbps: the lowest frame rate of the lowest layer fits, and is forwarded.
    let d = alloc
        .allocate(now + Duration::from_secs(1), 140_000, &tracks, &DefaultHook)
        .to_vec();
    assert_eq!(d[1].layer, Some((0, 0)));
    assert!(matches!(
        alloc.poll_event(),
        Some(AllocEvent::QualityRestored { id: 2 })
    ));
    // A viewer who hid the video is not alerted.
    let mut hidden = video(2, &l, TrackSource::Camera, PublisherRole::Patient);
    hidden.paused = true;
    let mut alloc = Allocator::default();
    alloc.allocate(now, 100_000, &[audio(1, &a), hidden], &DefaultHook);
    assert!(alloc.poll_event().is_none());
}

#[test]
fn a_pause_after_a_reduced_floor_alerts_again() {
    let l = simulcast(1.0);
    let tracks = [video(2, &l, TrackSource::Camera, PublisherRole::Patient)];
    let mut alloc = Allocator::default();
    let now = t0();
    alloc.allocate(now, 200_000, &tracks, &Derm);
    assert!(matches!(
        alloc.poll_event(),
        Some(AllocEvent::QualityAlert {
            delivered: Some(_),
            ..
        })
    ));
    alloc.allocate(now + Duration::from_secs(1), 50_000, &tracks, &Derm);
    assert!(matches!(
        alloc.poll_event(),
        Some(AllocEvent::QualityAlert {
            delivered: None,
            ..
        })
    ));
}

/// The layers of [`simulcast`] that `mask` keeps (bit `3 * spatial + temporal`).
fn subset(mask: u16) -> Vec<Layer> {
    simulcast(1.0)
        .into_iter()
        .filter(|l| mask & (1 << (3 * l.spatial + l.temporal)) != 0)
        .collect()
}

/// Only the top temporal layer of each encoding (what a publisher without temporal
/// scalability offers): the default hook climbs to 720p (it stayed at 320x180 with 5 Mbit/s),
/// and dermatology holds 640x360 at 700 kbit/s (it paused the track).
#[test]
fn a_track_without_lower_temporal_layers_still_climbs() {
    let l = subset(0b100_100_100);
    let a = audio_layer();
    let tracks = [
        audio(1, &a),
        video(2, &l, TrackSource::Camera, PublisherRole::Patient),
    ];
    let d = Allocator::default().allocate(t0(), 5_000_000, &tracks, &DefaultHook)[1].layer;
    assert_eq!(d, Some((2, 2)));
    let d = Allocator::default().allocate(t0(), 700_000, &tracks, &Derm)[1].layer;
    assert_eq!(d, Some((1, 2)));
    let d = Allocator::default().allocate(t0(), 5_000_000, &tracks, &Behavioural)[1].layer;
    assert_eq!(d, Some((2, 2)));
}

/// A hook that only picks the climbing order.
struct Order(CandidateOrder);
impl SpecialtyHook for Order {
    fn candidate_order(&self, _: &TrackMeta) -> CandidateOrder {
        self.0
    }
}

proptest::proptest! {
    /// Any set of offered layers, any climbing order: with room for everything the track gets
    /// its best offered layer (the top encoding at its top frame rate); with room for only
    /// its cheapest layer it gets that one, not a pause; and a larger estimate never gives a
    /// smaller encoding.
    #[test]
    fn any_offered_layers_climb_to_the_best(
        mask in 1u16..512,
        order in 0usize..3,
        lo in 0u64..3_000_000,
        extra in 0u64..3_000_000,
    ) {
        let l = subset(mask);
        let order = [
            CandidateOrder::Balanced,
            CandidateOrder::SpatialFirst,
            CandidateOrder::TemporalFirst,
        ][order];
        let tracks = [video(2, &l, TrackSource::Camera, PublisherRole::Patient)];
        let hook = Order(order);
        let top_s = l.iter().map(|x| x.spatial).max().unwrap();
        let top_t = l.iter().filter(|x| x.spatial == top_s).map(|x| x.temporal).max().unwrap();
        let d = Allocator::default().allocate(t0(), 100_000_000, &tracks, &hook)[0].layer;
        proptest::prop_assert_eq!(d, Some((top_s, top_t)), "{:?} over {:?}", order, l);
        let cheapest = l.iter().map(|x| x.bitrate_bps).min().unwrap();
        let d = Allocator::default().allocate(t0(), cheapest, &tracks, &hook)[0].layer;
        proptest::prop_assert!(d.is_some(), "{:?} over {:?}: paused at its cheapest layer", order, l);
        let a = Allocator::default().allocate(t0(), lo, &tracks, &hook)[0].layer;
        let b = Allocator::default().allocate(t0(), lo + extra, &tracks, &hook)[0].layer;
        proptest::prop_assert!(
            a.map(|x| x.0) <= b.map(|x| x.0),
            "{:?} over {:?}: {:?} at {} but {:?} at {}", order, l, a, lo, b, lo + extra
        );
    }
}
