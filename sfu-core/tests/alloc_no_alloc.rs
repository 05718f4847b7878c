//! The allocator keeps its promise of allocating nothing after warm-up: recomputing a
//! subscriber's allocation for the same tracks (estimate swings, recheck, end of an upgrade
//! hold) reuses its scratch space.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use telesfu_core::alloc::{
    Allocator, DefaultHook, Layer, PublisherRole, TrackInput, TrackMeta, TrackSource,
};

mod counting;
use counting::{ALLOCS, COUNTING};

fn simulcast(scale: u64) -> Vec<Layer> {
    let mut out = Vec::new();
    for (s, (w, h, base)) in [
        (320, 180, 50_000),
        (640, 360, 170_000),
        (1280, 720, 500_000),
    ]
    .into_iter()
    .enumerate()
    {
        for t in 0..3u8 {
            out.push(Layer {
                spatial: s as u8,
                temporal: t,
                bitrate_bps: base * scale * u64::from(t + 1) / 10,
                width: w,
                height: h,
                fps: [8, 15, 30][usize::from(t)],
            });
        }
    }
    out
}

#[test]
fn recomputing_for_the_same_tracks_allocates_nothing() {
    #[allow(clippy::disallowed_methods)]
    let t0 = Instant::now();
    let sets: Vec<Vec<Layer>> = (0..6).map(|i| simulcast(10 + i)).collect();
    let tracks: Vec<TrackInput<'_>> = sets
        .iter()
        .enumerate()
        .map(|(i, layers)| TrackInput {
            id: i as u64,
            meta: TrackMeta {
                source: TrackSource::Camera,
                role: PublisherRole::Other,
                audio: false,
            },
            layers,
            max_spatial: 2,
            max_temporal: 2,
            paused: false,
        })
        .collect();
    let mut a = Allocator::default();
    // Warm-up: the first decision and the first recomputation for the same tracks size the
    // scratch space.
    a.allocate(t0, 3_000_000, &tracks, &DefaultHook);
    a.allocate(
        t0 + Duration::from_secs(3),
        1_500_000,
        &tracks,
        &DefaultHook,
    );

    ALLOCS.store(0, Ordering::Relaxed);
    COUNTING.with(|c| c.set(true));
    let mut changed = 0;
    let mut last = None;
    for k in 1..200u64 {
        // Swings of 2x, 6 s apart: every call recomputes (downgrades, holds, upgrades).
        let estimate = if k % 3 == 0 { 1_500_000 } else { 3_000_000 };
        let d = a.allocate(
            t0 + Duration::from_secs(6 * k),
            estimate,
            &tracks,
            &DefaultHook,
        );
        let total: u64 = d.iter().map(|d| d.bitrate_bps).sum();
        if last.is_some_and(|l| l != total) {
            changed += 1;
        }
        last = Some(total);
        while a.poll_event().is_some() {}
    }
    COUNTING.with(|c| c.set(false));
    assert!(changed > 50, "the estimate swings must change the decision");
    assert_eq!(
        ALLOCS.load(Ordering::Relaxed),
        0,
        "allocations after warm-up"
    );
}
