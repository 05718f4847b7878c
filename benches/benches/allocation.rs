//! `allocation`: what one subscriber's allocation decision costs with 2, 10 and 50 subscribed
//! tracks (video with 3 spatial × 3 temporal layers each, one audio track per ten).
//!
//! Three rows per N, one run; throughput is in tracks, so criterion reports time per track:
//! - `fresh`: `Allocator::allocate` with the estimate alternating between two values 50 %
//!   apart and the clock moving 6 s per call (past the recheck interval and any upgrade hold),
//!   so every call recomputes: builds each track's climb, ranks, and climbs layer by layer;
//! - `steady`: the same allocator called at one instant with estimates within the hysteresis
//!   band of the last decision, which still fits: the early return every allocation tick takes
//!   on a stable link;
//! - `baseline-sum`: the physical limit — one pass over the same inputs summing every layer's
//!   bitrate (the least any allocator must read).

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use telesfu_core::alloc::{
    Allocator, DefaultHook, Layer, PublisherRole, TrackInput, TrackMeta, TrackSource,
};

/// The simulator's simulcast ladder, cumulative over temporal layers, scaled by `scale` so
/// tracks differ a little (as measured bitrates do).
fn video_layers(scale: f64) -> Vec<Layer> {
    const LADDER: [(u16, u16, [u64; 3]); 3] = [
        (320, 180, [60_000, 100_000, 150_000]),
        (640, 360, [200_000, 330_000, 500_000]),
        (1280, 720, [600_000, 1_000_000, 1_500_000]),
    ];
    let mut out = Vec::with_capacity(9);
    for (s, (w, h, rates)) in LADDER.iter().enumerate() {
        for (t, (rate, fps)) in rates.iter().zip([8, 15, 30]).enumerate() {
            out.push(Layer {
                spatial: s as u8,
                temporal: t as u8,
                bitrate_bps: (*rate as f64 * scale) as u64,
                width: *w,
                height: *h,
                fps,
            });
        }
    }
    out
}

fn audio_layers() -> Vec<Layer> {
    vec![Layer {
        bitrate_bps: 40_000,
        ..Layer::default()
    }]
}

/// `n` tracks: one audio track per ten (at least one), the rest cameras and a screen.
fn layer_sets(n: usize) -> Vec<(TrackMeta, Vec<Layer>)> {
    let audio = (n / 10).max(1);
    (0..n)
        .map(|i| {
            if i < audio {
                let meta = TrackMeta {
                    source: TrackSource::Microphone,
                    role: PublisherRole::Other,
                    audio: true,
                };
                (meta, audio_layers())
            } else {
                let (source, role) = match i % 4 {
                    0 => (TrackSource::Camera, PublisherRole::Patient),
                    1 => (TrackSource::Camera, PublisherRole::Clinician),
                    2 => (TrackSource::Screen, PublisherRole::Clinician),
                    _ => (TrackSource::Camera, PublisherRole::Other),
                };
                let meta = TrackMeta {
                    source,
                    role,
                    audio: false,
                };
                (meta, video_layers(0.9 + 0.02 * (i % 10) as f64))
            }
        })
        .collect()
}

fn inputs(sets: &[(TrackMeta, Vec<Layer>)]) -> Vec<TrackInput<'_>> {
    sets.iter()
        .enumerate()
        .map(|(i, (meta, layers))| TrackInput {
            id: i as u64,
            meta: *meta,
            layers,
            max_spatial: 2,
            max_temporal: 2,
            paused: false,
        })
        .collect()
}

/// An estimate that lands each video track around its middle layer: a real climb.
fn mid_estimate(n: usize) -> u64 {
    n as u64 * 450_000
}

/// The limit: read every layer of every track once.
fn sum_layers(tracks: &[TrackInput<'_>]) -> u64 {
    let mut total = 0u64;
    for t in tracks {
        for l in t.layers {
            total += l.bitrate_bps;
        }
    }
    total
}

fn allocation(c: &mut Criterion) {
    let mut g = c.benchmark_group("allocation");
    #[allow(clippy::disallowed_methods)] // the bench's base instant; the allocator reads no clock
    let t0 = Instant::now();
    let hook = DefaultHook;
    for n in [2usize, 10, 50] {
        let sets = layer_sets(n);
        let tracks = inputs(&sets);
        let low = mid_estimate(n);
        let high = low + low / 2;
        g.throughput(Throughput::Elements(n as u64));

        g.bench_with_input(BenchmarkId::new("fresh", n), &n, |b, _| {
            let mut a = Allocator::default();
            let mut now = t0;
            let mut flip = false;
            b.iter(|| {
                now += Duration::from_secs(6);
                flip = !flip;
                let estimate = if flip { low } else { high };
                black_box(a.allocate(now, black_box(estimate), &tracks, &hook).len())
            });
        });

        g.bench_with_input(BenchmarkId::new("steady", n), &n, |b, _| {
            let mut a = Allocator::default();
            a.allocate(t0, low, &tracks, &hook);
            let mut flip = false;
            b.iter(|| {
                flip = !flip;
                // Within 15 % of the estimate the allocation was made for, and it still fits.
                let estimate = if flip { low } else { low + low / 20 };
                black_box(a.allocate(t0, black_box(estimate), &tracks, &hook).len())
            });
        });

        g.bench_with_input(BenchmarkId::new("baseline-sum", n), &n, |b, _| {
            b.iter(|| black_box(sum_layers(black_box(&tracks))));
        });
    }
    g.finish();
}

/// Checks, before measuring, that the two paths do what their names say.
fn check() {
    #[allow(clippy::disallowed_methods)]
    let t0 = Instant::now();
    let sets = layer_sets(10);
    let tracks = inputs(&sets);
    let low = mid_estimate(10);
    let mut a = Allocator::default();
    let first = a.allocate(t0, low, &tracks, &DefaultHook).to_vec();
    let climbed = first.iter().filter(|d| d.layer > Some((0, 0))).count();
    assert!(climbed > 1, "the fresh path must climb: {first:?}");
    let top = first.iter().filter(|d| d.layer == Some((2, 2))).count();
    assert!(top < 9, "the estimate must not fit everything: {first:?}");
    let again = a
        .allocate(t0, low + low / 20, &tracks, &DefaultHook)
        .to_vec();
    assert_eq!(
        first, again,
        "a change within the hysteresis band keeps the decision"
    );
    let more = a
        .allocate(
            t0 + Duration::from_secs(6),
            low + low / 2,
            &tracks,
            &DefaultHook,
        )
        .to_vec();
    assert_ne!(first, more, "50 % more estimate must buy more layers");
}

fn benches(c: &mut Criterion) {
    check();
    allocation(c);
}

criterion_group! {
    name = group;
    config = Criterion::default()
        .measurement_time(Duration::from_secs(2))
        .warm_up_time(Duration::from_millis(500))
        .sample_size(30);
    targets = benches
}
criterion_main!(group);
