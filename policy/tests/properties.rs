//! Properties of validation: whatever passes has monotonic layers, reachable floors, a sane
//! layer path and browser parameters, and survives a TOML round trip; whatever is built to the
//! rules passes.

use proptest::prelude::*;
use proptest::sample::select;
use telesfu_policy::profiles::{
    AllocationPolicy, ClinicalProfile, DegradationPreference, LatencyMode, LayerOrder, LayerSpec,
    ProfileSpec, ScalabilityMode, TrackFloor, TrackSource, parse_profiles, profiles_to_toml,
};

const SOURCES: [TrackSource; 5] = [
    TrackSource::Audio,
    TrackSource::PatientCamera,
    TrackSource::ClinicianCamera,
    TrackSource::ExamCamera,
    TrackSource::ScreenShare,
];

fn mode() -> impl Strategy<Value = ScalabilityMode> {
    select(vec![
        ScalabilityMode::L1T1,
        ScalabilityMode::L1T2,
        ScalabilityMode::L1T3,
    ])
}

prop_compose! {
    /// A spec built to every rule: it must validate.
    fn valid_spec()(
        name in "[a-z0-9-]{1,20}",
        visit_types in prop::collection::btree_set("[a-z0-9_-]{1,12}", 0..4),
        (aspect_w, aspect_h) in select(vec![(16u32, 9u32), (4, 3)]),
        unit in 6u32..=40,
        n in 1usize..=3,
        multipliers in prop::collection::btree_set(1u32..=8, 3),
        framerates in prop::collection::vec(1u32..=120, 3),
        bitrates in prop::collection::btree_set(10_000u32..=50_000_000, 3),
        modes in prop::collection::vec(mode(), 3),
        ranking in Just(TrackSource::VIDEO.to_vec()).prop_shuffle(),
        ranked in 0usize..=4,
        floors in prop::collection::vec(
            (select(TrackSource::VIDEO.to_vec()), 0u32..=100, 0u32..=100, 0u32..=100, any::<bool>()),
            0..4,
        ),
        degradation in select(vec![
            DegradationPreference::MaintainResolution,
            DegradationPreference::MaintainFramerate,
            DegradationPreference::Balanced,
        ]),
        layer_order in select(vec![LayerOrder::SpatialFirst, LayerOrder::TemporalFirst, LayerOrder::Balanced]),
        latency in select(vec![LatencyMode::Standard, LatencyMode::Lowest]),
    ) -> ProfileSpec {
        let multipliers: Vec<u32> = multipliers.into_iter().collect();
        let bitrates: Vec<u32> = bitrates.into_iter().collect();
        let mut framerates = framerates;
        framerates.sort_unstable();
        // Use the top n of the sorted values so the top layer is the largest.
        let layers: Vec<LayerSpec> = (3 - n..3)
            .map(|i| LayerSpec::new(
                ["q", "h", "f"][i],
                aspect_w * unit * multipliers[i],
                aspect_h * unit * multipliers[i],
                framerates[i],
                bitrates[i],
                modes[i],
            ))
            .collect();
        let top = layers.last().cloned().expect("n >= 1");
        let mut floor_list: Vec<TrackFloor> = Vec::new();
        for (source, w, h, f, alert) in floors {
            if floor_list.iter().any(|x| x.source == source) {
                continue;
            }
            let mut floor = TrackFloor::new(source)
                .min_size(top.width * w / 100, top.height * h / 100)
                .min_framerate(top.max_framerate * f / 100);
            if floor.min_width == 0 && floor.min_height == 0 && floor.min_framerate == 0 {
                floor = floor.min_framerate(1);
            }
            if alert {
                floor = floor.with_alert();
            }
            floor_list.push(floor);
        }
        let mut allocation = AllocationPolicy::new(layer_order, latency)
            .with_ranking(ranking.into_iter().take(ranked));
        allocation.floors = floor_list;
        ProfileSpec::new(&name, degradation, layers, allocation).with_visit_types(visit_types)
    }
}

/// One change to a valid spec, which may or may not keep it valid.
#[derive(Debug, Clone)]
enum Mutation {
    Width(usize, u32),
    Height(usize, u32),
    Framerate(usize, u32),
    Bitrate(usize, u32),
    Rid(usize, String),
    SwapLayers(usize, usize),
    /// Layer i takes the size of the top layer times k/8 (keeping the aspect ratio).
    Resize(usize, u32),
    DropLayer(usize),
    DuplicateLayer(usize),
    Floor(TrackSource, u32, u32, u32),
    Rank(TrackSource),
    VisitType(String),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let i = 0usize..3;
    prop_oneof![
        (i.clone(), 0u32..9000).prop_map(|(i, v)| Mutation::Width(i, v)),
        (i.clone(), 0u32..5000).prop_map(|(i, v)| Mutation::Height(i, v)),
        (i.clone(), 0u32..130).prop_map(|(i, v)| Mutation::Framerate(i, v)),
        (i.clone(), 0u32..60_000_000).prop_map(|(i, v)| Mutation::Bitrate(i, v)),
        (i.clone(), "[a-z ]{0,3}|[a-z]{17}").prop_map(|(i, v)| Mutation::Rid(i, v)),
        (i.clone(), i.clone()).prop_map(|(a, b)| Mutation::SwapLayers(a, b)),
        (i.clone(), 1u32..=16).prop_map(|(i, k)| Mutation::Resize(i, k)),
        i.clone().prop_map(Mutation::DropLayer),
        i.prop_map(Mutation::DuplicateLayer),
        (select(SOURCES.to_vec()), 0u32..8000, 0u32..5000, 0u32..130)
            .prop_map(|(s, w, h, f)| Mutation::Floor(s, w, h, f)),
        select(SOURCES.to_vec()).prop_map(Mutation::Rank),
        "[A-Za-z0-9 _-]{0,8}".prop_map(Mutation::VisitType),
    ]
}

fn apply(mut spec: ProfileSpec, m: Mutation) -> ProfileSpec {
    let n = spec.layers.len();
    let touches_layers = !matches!(
        m,
        Mutation::Floor(..) | Mutation::Rank(_) | Mutation::VisitType(_)
    );
    if n == 0 && touches_layers {
        return spec;
    }
    match m {
        Mutation::Width(i, v) => spec.layers[i % n].width = v,
        Mutation::Height(i, v) => spec.layers[i % n].height = v,
        Mutation::Framerate(i, v) => spec.layers[i % n].max_framerate = v,
        Mutation::Bitrate(i, v) => spec.layers[i % n].max_bitrate = v,
        Mutation::Rid(i, v) => spec.layers[i % n].rid = v,
        Mutation::SwapLayers(a, b) => spec.layers.swap(a % n, b % n),
        Mutation::Resize(i, k) => {
            let (w, h) = (spec.layers[n - 1].width, spec.layers[n - 1].height);
            spec.layers[i % n].width = w * k / 8;
            spec.layers[i % n].height = h * k / 8;
        }
        Mutation::DropLayer(i) => {
            spec.layers.remove(i % n);
        }
        Mutation::DuplicateLayer(i) => {
            let layer = spec.layers[i % n].clone();
            spec.layers.insert(i % n, layer);
        }
        Mutation::Floor(s, w, h, f) => spec
            .allocation
            .floors
            .push(TrackFloor::new(s).min_size(w, h).min_framerate(f)),
        Mutation::Rank(s) => spec.allocation.ranking.push(s),
        Mutation::VisitType(v) => spec.visit_types.push(v),
    }
    spec
}

/// Everything a valid profile promises.
fn check_invariants(p: &ClinicalProfile) -> Result<(), TestCaseError> {
    let layers = p.layers();
    prop_assert!((1..=3).contains(&layers.len()));
    for pair in layers.windows(2) {
        prop_assert!(pair[1].width > pair[0].width && pair[1].height > pair[0].height);
        prop_assert!(pair[1].max_bitrate > pair[0].max_bitrate);
        prop_assert!(pair[1].max_framerate >= pair[0].max_framerate);
    }
    let top = p.top_layer();
    for layer in layers {
        prop_assert!((1..=120).contains(&layer.max_framerate));
        prop_assert_eq!(
            u64::from(layer.width) * u64::from(top.height),
            u64::from(layer.height) * u64::from(top.width)
        );
    }

    // Floors are within the layers, and the allocator can always find a candidate holding one.
    for floor in &p.allocation().floors {
        prop_assert!(floor.source.is_video());
        prop_assert!(floor.min_width <= top.width && floor.min_height <= top.height);
        prop_assert!(floor.min_framerate <= top.max_framerate);
        let c = p.floor_candidate(floor.source);
        prop_assert!(c.is_some_and(|c| floor.is_met_by(c.width, c.height, c.framerate)));
    }

    // The layer path climbs from the cheapest to everything, one step at a time, never losing
    // resolution or frame rate.
    let path = p.candidates();
    let first = path[0];
    let last = path[path.len() - 1];
    prop_assert_eq!((first.spatial, first.temporal), (0, 0));
    prop_assert_eq!(usize::from(last.spatial), layers.len() - 1);
    prop_assert_eq!(last.temporal + 1, top.scalability_mode.temporal_layers());
    for step in path.windows(2) {
        let (a, b) = (step[0], step[1]);
        let temporal_step = b.spatial == a.spatial && b.temporal == a.temporal + 1;
        prop_assert!(
            temporal_step || b.spatial == a.spatial + 1,
            "{a:?} -> {b:?}"
        );
        prop_assert!(b.width >= a.width && b.height >= a.height && b.framerate >= a.framerate);
    }

    // Ranks: audio first, every video source distinct.
    prop_assert_eq!(p.rank(TrackSource::Audio), 0);
    let mut ranks: Vec<u8> = TrackSource::VIDEO.iter().map(|s| p.rank(*s)).collect();
    ranks.sort_unstable();
    prop_assert_eq!(ranks, vec![1, 2, 3, 4]);

    // Browser parameters: the top layer unscaled, lower ones scaled to their size.
    let params = p.publisher_params();
    prop_assert_eq!(params.encodings.len(), layers.len());
    for (e, layer) in params.encodings.iter().zip(layers) {
        prop_assert!(e.scale_resolution_down_by >= 1.0);
        let scaled = f64::from(top.width) / e.scale_resolution_down_by;
        prop_assert!((scaled - f64::from(layer.width)).abs() < 1e-6);
    }
    prop_assert_eq!(
        params.encodings[layers.len() - 1].scale_resolution_down_by,
        1.0
    );

    // TOML round trip.
    let text = profiles_to_toml([p]).map_err(|e| TestCaseError::fail(e.to_string()))?;
    prop_assert_eq!(parse_profiles(&text), Ok(vec![p.clone()]));
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn specs_built_to_the_rules_validate(spec in valid_spec()) {
        let profile = ClinicalProfile::new(spec);
        prop_assert!(profile.is_ok(), "{:?}", profile);
        check_invariants(&profile.expect("checked"))?;
    }

    #[test]
    fn whatever_validates_keeps_the_invariants(
        spec in valid_spec(),
        mutations in prop::collection::vec(mutation(), 1..4),
    ) {
        let spec = mutations.into_iter().fold(spec, apply);
        if let Ok(profile) = ClinicalProfile::new(spec) {
            check_invariants(&profile)?;
        }
    }
}
