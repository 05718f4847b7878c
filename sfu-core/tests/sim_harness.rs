//! The harness itself: runs replay exactly from a seed, a livelock fails loudly, zero-delay
//! paths work, and a scripted bandwidth trace (an outage) plays out in virtual time.
#![cfg(feature = "sim")]

mod sim_common;

use std::time::{Duration, Instant};

use sim_common::{assert_clean, frames_during, path, report, stats, t0};
use telesfu_core::engine::LayerPreference;
use telesfu_core::sim::{
    DecoderStats, LinkConfig, LinkStats, Loss, PublisherConfig, ReceiverConfig, Sim, SimConfig,
};

fn lossy_call(seed: u64, base: Instant) -> (DecoderStats, LinkStats, u64) {
    let mut sim = Sim::new(SimConfig::new(seed), base);
    let rough = path(20)
        .with_jitter(Duration::from_millis(4))
        .with_loss(Loss::bursty(0.03, 2.0))
        .with_reorder(0.02, Duration::from_millis(8));
    let alice = sim.add_client(rough.clone(), path(20));
    let bob = sim.add_client(path(20), rough);
    let track = sim.publish(alice, PublisherConfig::vp8()).unwrap();
    let sub = sim
        .subscribe(bob, track, LayerPreference::new(1, 2))
        .unwrap();
    sim.run_for(Duration::from_secs(5));
    (
        stats(&sim, sub),
        sim.client(bob).downlink().stats(),
        sim.engine().stats().rtp_bytes_out,
    )
}

#[test]
fn a_seed_replays_exactly() {
    let base = t0();
    let a = lossy_call(5, base);
    assert_eq!(a, lossy_call(5, base));
    assert!(a.1.lost > 0 && a.1.held_back > 0);
    // Another seed is another run (different losses, frame sizes, payloads).
    let b = lossy_call(6, base);
    assert_ne!(a.1, b.1);
    assert_ne!(a.2, b.2);
}

#[test]
#[should_panic(expected = "simulation livelock")]
fn a_livelock_fails_loudly() {
    // A receiver-report interval of zero asks to be woken at the same instant forever.
    let mut receiver = ReceiverConfig::default();
    receiver.report_interval = Duration::ZERO;
    let mut sim = Sim::new(SimConfig::new(1).with_receiver(receiver), t0());
    let _ = sim.add_client(path(10), path(10));
    sim.run_for(Duration::from_secs(1));
}

#[test]
fn zero_delay_paths_are_not_a_livelock() {
    let mut sim = Sim::new(SimConfig::new(2), t0());
    let instant = LinkConfig::new(Duration::ZERO);
    let alice = sim.add_client(instant.clone(), instant.clone());
    let bob = sim.add_client(instant.clone(), instant);
    let track = sim.publish(alice, PublisherConfig::vp8()).unwrap();
    let sub = sim.subscribe(bob, track, LayerPreference::ALL).unwrap();
    sim.run_for(Duration::from_secs(2));
    let s = stats(&sim, sub);
    assert!(s.frames_displayed >= 60);
    // With no delay anywhere, each frame is shown at the instant it was captured.
    assert_eq!(s.longest_freeze, Duration::from_nanos(33_333_334));
    assert_clean(
        "zero delay",
        &s,
        Duration::from_millis(40),
        Duration::from_millis(40),
    );
    // Time only moves forward: running "until" the past does nothing.
    let now = sim.now();
    sim.run_until(sim.start());
    assert_eq!(sim.now(), now);
}

#[test]
fn an_outage_in_a_bandwidth_trace_freezes_once_then_recovers() {
    let mut sim = Sim::new(SimConfig::new(61), t0());
    // 5 Mbit/s with a 128 kB queue; nothing gets through from 3 s to 3.5 s.
    let uplink = path(25).with_rate(5_000_000, 128 * 1024).with_trace(vec![
        (Duration::from_secs(3), 0),
        (Duration::from_millis(3500), 5_000_000),
    ]);
    let alice = sim.add_client(uplink, path(25));
    let bob = sim.add_client(path(30), path(30));
    let track = sim.publish(alice, PublisherConfig::vp8()).unwrap();
    let sub = sim.subscribe(bob, track, LayerPreference::ALL).unwrap();
    sim.run_for(Duration::from_secs(3));
    assert_eq!(stats(&sim, sub).freezes, 0);
    sim.run_for(Duration::from_secs(2));
    let shown = frames_during(&mut sim, sub, Duration::from_secs(3));
    let s = stats(&sim, sub);
    report("outage", &s);
    let up = sim.client(alice).uplink().stats();
    assert!(
        up.queue_drops > 100,
        "the outage dropped {}",
        up.queue_drops
    );
    // One freeze around the outage; every packet lost in it was repaired afterwards.
    assert_eq!(s.freezes, 1);
    assert!(
        s.longest_freeze < Duration::from_secs(1),
        "{:?}",
        s.longest_freeze
    );
    assert!(s.gaps_repaired > 50, "{} repaired", s.gaps_repaired);
    assert_clean(
        "outage",
        &s,
        Duration::from_millis(500),
        Duration::from_secs(1),
    );
    assert!(shown >= 88, "{shown} frames in the 3 s after recovery");
}
