//! A subscriber changes its layer preference mid-call; the picture follows without freezing.
#![cfg(feature = "sim")]

mod sim_common;

use std::time::Duration;

use sim_common::{assert_clean, frames_during, path, report, stats, t0};
use telesfu_core::Event;
use telesfu_core::engine::{DropReason, LayerPreference};
use telesfu_core::sim::{PublisherConfig, Sim, SimConfig};

/// (preference, resolution the subscriber must see, frames per second it must see).
fn phases() -> [(LayerPreference, (u16, u16), u64); 6] {
    [
        (LayerPreference::ALL, (1280, 720), 30),
        (LayerPreference::new(0, 2), (320, 180), 30),
        (LayerPreference::new(1, 2), (640, 360), 30),
        (LayerPreference::new(2, 0), (1280, 720), 8),
        (LayerPreference::new(1, 1), (640, 360), 15),
        (LayerPreference::ALL, (1280, 720), 30),
    ]
}

fn follows_preferences(label: &str, publisher: PublisherConfig, seed: u64) {
    let mut sim = Sim::new(SimConfig::new(seed), t0());
    let alice = sim.add_client(path(25), path(25));
    let bob = sim.add_client(path(30), path(30));
    let track = sim.publish(alice, publisher).unwrap();
    let sub = sim.subscribe(bob, track, LayerPreference::ALL).unwrap();
    let phase = Duration::from_secs(4);
    let phases = phases();
    for (i, (pref, res, fps)) in phases.iter().enumerate() {
        let changed_at = sim.now();
        if i > 0 {
            sim.set_preference(sub, *pref).unwrap();
        }
        // One second to settle (the switch waits for a keyframe), then measure the rate.
        sim.run_for(Duration::from_secs(1));
        let shown = frames_during(&mut sim, sub, phase - Duration::from_secs(1));
        let s = stats(&sim, sub);
        assert_eq!(s.resolution, Some(*res), "{label} phase {i}: resolution");
        let expect = fps * 3;
        assert!(
            shown + 2 >= expect && shown <= expect + 2,
            "{label} phase {i}: {shown} frames in 3 s, want {expect}"
        );
        // A spatial change shows within a second of the preference change.
        if i > 0 && phases[i - 1].1 != *res {
            let (at, r) = *sim
                .decoder(sub)
                .unwrap()
                .resolution_changes()
                .last()
                .unwrap();
            assert_eq!(r, *res);
            let took = at - changed_at;
            assert!(
                took < Duration::from_secs(1),
                "{label} phase {i}: switch took {took:?}"
            );
            println!("{label} phase {i}: {:?} after {took:?}", res);
        }
    }
    let s = stats(&sim, sub);
    report(label, &s);
    assert_clean(
        label,
        &s,
        Duration::from_millis(200),
        Duration::from_secs(1),
    );
    assert_eq!(s.freezes, 0, "{label}: a freeze over 500 ms");
    assert_eq!(
        s.frames_abandoned, 0,
        "{label}: no loss, nothing may be abandoned"
    );
    assert_eq!(s.resolution_changes, 5);
    // Two pictures of one capture instant (the old layer's frame, then the new layer's
    // keyframe) can only happen at a switch.
    assert!(
        s.ts_repeated <= s.resolution_changes,
        "{label}: repeated timestamps"
    );
    // The engine switched spatial layers exactly when the preference asked it to.
    let switches: Vec<u8> = sim
        .events()
        .iter()
        .filter_map(|(_, e)| match e {
            Event::LayerSwitched {
                subscription,
                spatial,
            } if *subscription == sub => Some(*spatial),
            _ => None,
        })
        .collect();
    assert_eq!(switches, vec![2, 0, 1, 2, 1, 2], "{label}");
}

#[test]
fn vp8_follows_preference_changes() {
    follows_preferences("vp8", PublisherConfig::vp8(), 11);
}

#[test]
fn av1_follows_preference_changes() {
    follows_preferences("av1", PublisherConfig::av1(), 12);
}

#[test]
fn sframe_encrypted_vp8_follows_preference_changes() {
    follows_preferences("vp8+sframe", PublisherConfig::vp8().with_sframe(true), 13);
}

/// The subscriber hides the video for two seconds, then shows it again: nothing is sent
/// meanwhile, and the picture comes back at a keyframe, with sequence numbers that go on from
/// where they stopped (engine/forward.rs used to resume mid-stream: delta frames without
/// their references and a hole of every number skipped while paused).
#[test]
fn pausing_and_resuming_restarts_at_a_keyframe() {
    let mut sim = Sim::new(SimConfig::new(71), t0());
    let alice = sim.add_client(path(25), path(25));
    let bob = sim.add_client(path(30), path(30));
    let track = sim.publish(alice, PublisherConfig::vp8()).unwrap();
    let sub = sim
        .subscribe(bob, track, LayerPreference::new(1, 2))
        .unwrap();
    sim.run_for(Duration::from_secs(2));
    let mut hidden = LayerPreference::new(1, 2);
    hidden.paused = true;
    sim.set_preference(sub, hidden).unwrap();
    sim.run_for(Duration::from_millis(200));
    let during = frames_during(&mut sim, sub, Duration::from_millis(1800));
    assert_eq!(during, 0, "frames while paused");
    let resumed_at = sim.now();
    sim.set_preference(sub, LayerPreference::new(1, 2)).unwrap();
    sim.run_for(Duration::from_secs(3));
    let s = stats(&sim, sub);
    report("pause", &s);
    let keys = s.keyframes_displayed;
    assert!(keys >= 2, "no keyframe after resuming");
    assert_clean(
        "pause",
        &s,
        Duration::from_millis(2500),
        Duration::from_millis(2500),
    );
    assert_eq!(s.frames_abandoned, 0);
    // Back within a round trip and a frame or two of asking (the only freeze is the pause),
    // and still going at the end.
    assert!(
        s.longest_freeze < Duration::from_millis(2300),
        "{:?}",
        s.longest_freeze
    );
    assert!(s.last_display.unwrap() - resumed_at > Duration::from_millis(2900));
    assert_eq!(sim.engine().stats().dropped(DropReason::HistoryMiss), 0);
}
