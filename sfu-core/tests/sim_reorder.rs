//! Reordering on both paths: the engine and the subscriber put packets back in order; nothing
//! is lost for good and the picture does not stutter.
#![cfg(feature = "sim")]

mod sim_common;

use std::time::Duration;

use sim_common::{assert_clean, path, report, stats, t0};
use telesfu_core::engine::{DropReason, LayerPreference};
use telesfu_core::sim::{LinkConfig, PublisherConfig, Sim, SimConfig};

fn shuffled() -> LinkConfig {
    path(25)
        .with_jitter(Duration::from_millis(5))
        .with_reorder(0.05, Duration::from_millis(12))
}

#[test]
fn reordered_packets_are_put_back_in_order() {
    let mut sim = Sim::new(SimConfig::new(31), t0());
    let alice = sim.add_client(path(25), path(25));
    let bob = sim.add_client(path(30), path(30));
    let track = sim.publish(alice, PublisherConfig::vp8()).unwrap();
    let sub = sim.subscribe(bob, track, LayerPreference::ALL).unwrap();
    // Both paths reorder from the first packet, the first layer switch included.
    sim.client_mut(alice).uplink_mut().set_config(shuffled());
    sim.client_mut(bob).downlink_mut().set_config(shuffled());
    sim.run_for(Duration::from_secs(20));
    let s = stats(&sim, sub);
    report("reorder", &s);
    let held = (
        sim.client(alice).uplink().stats().held_back,
        sim.client(bob).downlink().stats().held_back,
    );
    println!("held back: uplink {}, downlink {}", held.0, held.1);
    assert!(
        held.0 > 200 && held.1 > 150,
        "links reordered too little: {held:?}"
    );
    assert_clean(
        "reorder",
        &s,
        Duration::from_millis(100),
        Duration::from_millis(200),
    );
    // Late packets filled the holes they left (before or after a NACK went out).
    assert!(s.gaps_repaired > 200, "{}", s.gaps_repaired);
    assert_eq!(s.frames_abandoned, 0);
    let sent = sim.publisher(track).unwrap().layer_stats(2).unwrap().frames;
    assert!(
        s.frames_displayed + 3 >= sent,
        "displayed {} of {sent}",
        s.frames_displayed
    );
    // The engine forwarded every late packet (none fell outside its sequence window).
    assert_eq!(sim.engine().stats().dropped(DropReason::TooLate), 0);
}

/// Engine bug (reported, not fixed here): the forwarder switches layers on the packet that
/// starts a keyframe. When that packet is overtaken by later packets of the same keyframe,
/// those arrive while the subscription is not yet on the layer and are dropped as
/// `NotCurrentLayer` (engine/forward.rs, `Forwarder::on_packet`, first branch), although
/// they were stored; the keyframe reaches the subscriber with a hole that can never be
/// repaired (its NACKs hit `HistoryMiss`), and the picture waits for another keyframe.
/// Here it happens at the subscription's first switch, with the uplink reordering from the
/// start.
#[test]
fn a_reordered_keyframe_start_at_a_switch_loses_no_packets() {
    let mut sim = Sim::new(SimConfig::new(31), t0());
    let alice = sim.add_client(shuffled(), path(25));
    let bob = sim.add_client(path(30), path(30));
    let track = sim.publish(alice, PublisherConfig::vp8()).unwrap();
    let sub = sim.subscribe(bob, track, LayerPreference::ALL).unwrap();
    sim.run_for(Duration::from_secs(5));
    let s = stats(&sim, sub);
    report("reordered keyframe start", &s);
    assert_eq!(sim.engine().stats().dropped(DropReason::HistoryMiss), 0);
    assert_eq!(s.frames_abandoned, 0);
    assert_clean(
        "reordered keyframe start",
        &s,
        Duration::from_millis(100),
        Duration::from_millis(200),
    );
}
