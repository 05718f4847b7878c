//! Issue 10 item 2: media pacing behind the links that tail-drop keyframe bursts. The same
//! calls with `bandwidth.pacing` off and on: a viewer behind a 500 kbps token bucket with a
//! shallow queue (4 kB bucket, 50 ms; the browser's ladder, as in sim_constrained), and one
//! behind a steady 2 Mbps bottleneck with a 25 kB queue (the default ladder, as in
//! sim_bandwidth). Prints the bottleneck's tail drops, frame rate and freezes (run with
//! `--nocapture`); the figures are in docs/bandwidth.md, "Pacing".
#![cfg(feature = "sim")]

mod sim_common;

use std::time::Duration;

use sim_common::{path, t0};
use telesfu_core::engine::{DropReason, EngineConfig, LayerPreference};
use telesfu_core::sim::{LayerConfig, LinkConfig, PublisherConfig, Sim, SimConfig};

#[derive(Debug, Default, Clone, Copy)]
struct Figures {
    tail_drops: u64,
    max_queue_delay: Duration,
    fps: f64,
    freezes: u64,
    longest_freeze: Duration,
    pacer_drops: u64,
}

/// One call: `warm` first, then 30 s measured.
fn call(
    seed: u64,
    pacing: bool,
    down: LinkConfig,
    video: PublisherConfig,
    warm: Duration,
) -> Figures {
    let mut engine = EngineConfig::default();
    engine.bandwidth.enabled = true;
    engine.bandwidth.pacing.enabled = pacing;
    let mut sim = Sim::new(SimConfig::new(seed).with_engine(engine), t0());
    let patient = sim.add_client(path(20), path(20));
    let viewer = sim.add_client(path(20), down);
    let mic = sim.publish(patient, PublisherConfig::opus()).unwrap();
    let cam = sim.publish(patient, video).unwrap();
    sim.subscribe(viewer, mic, LayerPreference::ALL).unwrap();
    let sub = sim.subscribe(viewer, cam, LayerPreference::ALL).unwrap();
    sim.run_for(warm);
    let d0 = sim.decoder(sub).unwrap().stats();
    let l0 = sim.client(viewer).downlink().stats();
    sim.run_for(Duration::from_secs(30));
    let d1 = sim.decoder(sub).unwrap().stats();
    let l1 = sim.client(viewer).downlink().stats();
    Figures {
        tail_drops: l1.queue_drops - l0.queue_drops,
        max_queue_delay: l1.max_queue_delay,
        fps: (d1.frames_displayed - d0.frames_displayed) as f64 / 30.0,
        freezes: d1.freezes - d0.freezes,
        longest_freeze: d1.longest_freeze,
        pacer_drops: sim.engine().stats().dropped(DropReason::PacerQueue),
    }
}

/// Runs `seeds` with pacing off and on, prints both, returns the sums.
fn compare(
    name: &str,
    seeds: &[u64],
    down: &LinkConfig,
    video: &PublisherConfig,
    warm: Duration,
) -> [Figures; 2] {
    let mut sum = [Figures::default(); 2];
    for &seed in seeds {
        for (i, pacing) in [false, true].into_iter().enumerate() {
            let f = call(seed, pacing, down.clone(), video.clone(), warm);
            println!(
                "{name} seed {seed} pacing {pacing}: {} tail drops in 30 s, bottleneck queue \
                 delay max {:?}, {:.1} fps, {} freezes (longest {:?}), {} pacer drops",
                f.tail_drops, f.max_queue_delay, f.fps, f.freezes, f.longest_freeze, f.pacer_drops
            );
            let s = &mut sum[i];
            s.tail_drops += f.tail_drops;
            s.fps += f.fps / seeds.len() as f64;
            s.freezes += f.freezes;
            s.pacer_drops += f.pacer_drops;
        }
    }
    sum
}

#[test]
fn pacing_spares_a_shallow_500_kbps_token_bucket() {
    let limit = 500_000 / 8 * 50 / 1000 + 4_000;
    let down = path(20).with_token_bucket(500_000, 4_000, limit);
    let ladder = PublisherConfig::vp8().with_layers(vec![
        LayerConfig::new(427, 240, 355_000),
        LayerConfig::new(853, 480, 700_000),
        LayerConfig::new(1280, 720, 1_500_000),
    ]);
    // From the call's start: since the estimator survives token buckets (333a751) the
    // steady state sends the lowest layer only and drops nothing either way; the keyframe
    // bursts that overflow this queue come while the allocation climbs.
    let [off, on] = compare(
        "tbf 500 kbps shallow",
        &[1, 2, 3],
        &down,
        &ladder,
        Duration::ZERO,
    );
    println!("sum off {off:?}\nsum on  {on:?}");
    // Measured 646 -> 327 over the three seeds before probes went on under distrust
    // (d0e047b: distrusted 1.5x clusters of up to 250 ms every few seconds), 813 -> 525
    // after (the probes, which keep their own timing, account for much of what is left).
    assert!(
        on.tail_drops * 4 <= off.tail_drops * 3,
        "tail drops {} paced vs {} unpaced",
        on.tail_drops,
        off.tail_drops
    );
    // Not free behind a bucket: 21.2 -> 20.1 fps on average (seed 3: 20.7 -> 17.0, its
    // allocation climbs later while paced). One reason pacing stays off by default.
    assert!(
        on.fps >= off.fps - 2.0,
        "{:.1} fps vs {:.1}",
        on.fps,
        off.fps
    );
    assert!(
        on.freezes <= off.freezes,
        "{} vs {} freezes",
        on.freezes,
        off.freezes
    );
}

#[test]
fn pacing_spares_a_steady_2_mbps_bottleneck() {
    let down = path(20).with_rate(2_000_000, 25_000);
    let [off, on] = compare(
        "2 Mbps, 25 kB queue",
        &[1, 2, 3],
        &down,
        &PublisherConfig::vp8(),
        Duration::from_secs(10),
    );
    println!("sum off {off:?}\nsum on  {on:?}");
    assert!(
        on.tail_drops * 3 <= off.tail_drops,
        "tail drops {} paced vs {} unpaced",
        on.tail_drops,
        off.tail_drops
    );
    assert!(
        on.fps >= off.fps - 1.0,
        "{:.1} fps vs {:.1}",
        on.fps,
        off.fps
    );
    assert!(
        on.freezes <= off.freezes,
        "{} vs {} freezes",
        on.freezes,
        off.freezes
    );
}
