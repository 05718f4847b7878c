//! A publisher leaves mid-stream: its subscribers stop cleanly, everyone else carries on, and
//! the engine keeps working for newcomers.
#![cfg(feature = "sim")]

mod sim_common;

use std::time::Duration;

use sim_common::{assert_clean, frames_during, path, report, stats, t0};
use telesfu_core::engine::{DropReason, Error, LayerPreference};
use telesfu_core::sim::{PublisherConfig, Sim, SimConfig};

#[test]
fn a_publisher_leaving_mid_stream_stops_its_streams_cleanly() {
    let mut sim = Sim::new(SimConfig::new(41), t0());
    let alice = sim.add_client(path(25), path(25));
    let carol = sim.add_client(path(20), path(20));
    let bob = sim.add_client(path(30), path(30));
    let from_alice = sim.publish(alice, PublisherConfig::vp8()).unwrap();
    let from_carol = sim.publish(carol, PublisherConfig::av1()).unwrap();
    let sub_a = sim
        .subscribe(bob, from_alice, LayerPreference::ALL)
        .unwrap();
    let sub_c = sim
        .subscribe(bob, from_carol, LayerPreference::new(1, 2))
        .unwrap();
    sim.run_for(Duration::from_secs(5));
    let before = stats(&sim, sub_a);
    assert!(
        before.frames_displayed >= 140,
        "{}",
        before.frames_displayed
    );

    // Alice leaves mid-frame (the harness stops her at this instant, packets in flight).
    let left_at = sim.now();
    sim.remove_client(alice).unwrap();
    let shown_c = frames_during(&mut sim, sub_c, Duration::from_secs(5));
    let after = stats(&sim, sub_a);
    report("left", &after);
    report("stayed", &stats(&sim, sub_c));

    // Bob's view of Alice stopped within the path delay, without errors or requests.
    let last = after.last_display.unwrap();
    assert!(
        last < left_at + Duration::from_millis(100),
        "frames after leaving"
    );
    assert!(after.frames_displayed - before.frames_displayed <= 3);
    assert_clean(
        "left",
        &after,
        Duration::from_millis(100),
        Duration::from_millis(200),
    );
    assert_eq!(after.frames_abandoned, 0);
    assert_eq!(
        after.plis_sent, before.plis_sent,
        "no keyframe requests for a gone track"
    );
    assert_eq!(after.nacks_sent, before.nacks_sent);

    // The engine forgot her subscription and refuses commands for it.
    assert!(sim.engine().subscription_stats(sub_a).is_none());
    assert_eq!(
        sim.set_preference(sub_a, LayerPreference::new(0, 0)),
        Err(Error::UnknownSubscription(sub_a))
    );
    // Her packets still in flight were dropped as from an unknown participant.
    assert!(sim.engine().stats().dropped(DropReason::UnknownParticipant) > 0);

    // Carol's stream to Bob went on untouched.
    assert!(shown_c >= 148, "Carol: {shown_c} frames in 5 s");
    assert_clean(
        "stayed",
        &stats(&sim, sub_c),
        Duration::from_millis(100),
        Duration::from_millis(200),
    );
    assert_eq!(stats(&sim, sub_c).resolution, Some((640, 360)));

    // A newcomer publishes and Bob sees her: the engine is still sane.
    let dave = sim.add_client(path(15), path(15));
    let from_dave = sim.publish(dave, PublisherConfig::vp8()).unwrap();
    let sub_d = sim
        .subscribe(bob, from_dave, LayerPreference::new(0, 2))
        .unwrap();
    sim.run_for(Duration::from_secs(2));
    let d = stats(&sim, sub_d);
    assert!(d.frames_displayed >= 55, "{}", d.frames_displayed);
    assert_eq!(d.resolution, Some((320, 180)));
    assert_clean(
        "newcomer",
        &d,
        Duration::from_millis(100),
        Duration::from_millis(200),
    );
}
