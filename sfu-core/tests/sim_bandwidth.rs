//! Bandwidth-driven layer choice in the simulator: the engine estimates each subscriber's
//! downlink from transport-wide CC feedback and allocates layers to fit, on scripted traces.
#![cfg(feature = "sim")]

mod sim_common;

use std::time::Duration;

use sim_common::{path, report, stats, t0};
use telesfu_core::engine::{EngineConfig, LayerPreference};
use telesfu_core::sim::{LinkConfig, Loss, PublisherConfig, Sim, SimConfig};
use telesfu_core::{Event, SubscriptionId};

/// A downlink of `bps` with a 25 kB queue (100 ms at 2 Mbps, 670 ms at 300 kbps). A queue
/// sized for the high rate would hold seconds of media after a drop, and nothing an SFU does
/// can make those seconds arrive sooner.
fn link(bps: u64) -> LinkConfig {
    path(20).with_rate(bps, 25_000)
}

fn sim(seed: u64, predictor: bool) -> Sim {
    let mut engine = EngineConfig::default();
    engine.bandwidth.enabled = true;
    engine.bandwidth.predictor = predictor;
    Sim::new(SimConfig::new(seed).with_engine(engine), t0())
}

/// Spatial layer shown now (by resolution of the simulator's default ladder).
fn shown_layer(sim: &Sim, sub: SubscriptionId) -> Option<u8> {
    match stats(sim, sub).resolution? {
        (320, 180) => Some(0),
        (640, 360) => Some(1),
        (1280, 720) => Some(2),
        _ => None,
    }
}

/// Runs until `pred` holds or `limit` passes; returns how long it took.
fn until(sim: &mut Sim, limit: Duration, mut pred: impl FnMut(&Sim) -> bool) -> Option<Duration> {
    let start = sim.now();
    while sim.now() - start < limit {
        if pred(sim) {
            return Some(sim.now() - start);
        }
        sim.run_for(Duration::from_millis(50));
    }
    pred(sim).then(|| sim.now() - start)
}

#[test]
fn step_down_and_recovery() {
    let mut sim = sim(7, false);
    let alice = sim.add_client(path(20), path(20));
    // 2 Mbps for 15 s, 300 kbps for 15 s, then 2 Mbps again.
    let down = link(2_000_000).with_trace(vec![
        (Duration::from_secs(15), 300_000),
        (Duration::from_secs(30), 2_000_000),
    ]);
    let bob = sim.add_client(path(20), down);
    let track = sim.publish(alice, PublisherConfig::vp8()).unwrap();
    let sub = sim.subscribe(bob, track, LayerPreference::ALL).unwrap();

    let up = until(&mut sim, Duration::from_secs(15), |s| {
        shown_layer(s, sub) == Some(2)
    });
    println!("reached the top layer after {up:?}");
    assert!(up.is_some(), "never reached the top layer on 2 Mbps");
    sim.run_until(sim.start() + Duration::from_secs(15));

    let before = stats(&sim, sub);
    let step_at = sim.now();
    // The engine forwards a fitting layer (it switches on that layer's keyframe)...
    let switched = |s: &Sim| {
        s.events().iter().any(|(t, e)| {
            *t >= step_at
                && matches!(e, Event::LayerSwitched { subscription, spatial: 0 } if *subscription == sub)
        })
    };
    let fit = until(&mut sim, Duration::from_secs(3), switched);
    println!("forwarding the fitting layer 0.3 Mbps after {fit:?}");
    assert!(
        fit.is_some_and(|d| d <= Duration::from_secs(1)),
        "2 Mbps -> 300 kbps: no fitting layer within 1 s ({fit:?})"
    );
    // ...and the viewer shows it once the link's queue has drained.
    let shown = until(&mut sim, Duration::from_secs(3), |s| {
        shown_layer(s, sub) == Some(0)
    });
    println!("shown {shown:?} later");
    sim.run_until(sim.start() + Duration::from_secs(30));
    let after_step = stats(&sim, sub);
    assert_eq!(
        after_step.freezes, before.freezes,
        "a freeze over 500 ms after the step (longest {:?})",
        after_step.longest_freeze
    );

    let back = until(&mut sim, Duration::from_secs(10), |s| {
        shown_layer(s, sub) == Some(2)
    });
    println!("back at the top layer after {back:?}");
    assert!(
        back.is_some_and(|d| d <= Duration::from_secs(5)),
        "300 kbps -> 2 Mbps: top layer not back within 5 s ({back:?})"
    );
    report("step", &stats(&sim, sub));
}

#[test]
fn random_loss_does_not_spiral_down() {
    for (seed, loss) in [(11, 0.02), (12, 0.05)] {
        let mut sim = sim(seed, false);
        let alice = sim.add_client(path(20), path(20));
        let bob = sim.add_client(path(20), link(4_000_000).with_loss(Loss::Random(loss)));
        let track = sim.publish(alice, PublisherConfig::vp8()).unwrap();
        let sub = sim.subscribe(bob, track, LayerPreference::ALL).unwrap();
        sim.run_for(Duration::from_secs(10));
        let mut low = 0;
        for _ in 0..200 {
            sim.run_for(Duration::from_millis(100));
            if shown_layer(&sim, sub) != Some(2) {
                low += 1;
            }
        }
        let est = sim.engine().estimate(sim.client(bob).participant());
        println!("loss {loss}: estimate {est:?}, 100 ms samples below the top layer {low}/200");
        assert!(
            low <= 20,
            "loss {loss}: below the top layer in {low} of 200 samples"
        );
    }
}

#[test]
fn quality_alert_event_when_a_floor_cannot_be_held() {
    use telesfu_core::alloc::{Floor, SpecialtyHook, TrackMeta};
    struct Stroke;
    impl SpecialtyHook for Stroke {
        fn floor(&self, _: &TrackMeta) -> Option<Floor> {
            Some(Floor {
                min_width: 640,
                min_height: 360,
                min_fps: 25,
                alert: true,
            })
        }
    }
    let mut sim = sim(21, false);
    let room = sim.room();
    sim.engine_mut()
        .set_room_hook(room, Box::new(Stroke))
        .unwrap();
    let alice = sim.add_client(path(20), path(20));
    let bob = sim.add_client(
        path(20),
        link(2_000_000).with_trace(vec![(Duration::from_secs(10), 300_000)]),
    );
    let track = sim.publish(alice, PublisherConfig::vp8()).unwrap();
    let sub = sim.subscribe(bob, track, LayerPreference::ALL).unwrap();
    sim.run_for(Duration::from_secs(10));
    let alerts = |sim: &Sim| {
        sim.events()
            .iter()
            .filter(|(_, e)| matches!(e, Event::QualityAlert { subscription, .. } if *subscription == sub))
            .map(|(t, _)| *t)
            .collect::<Vec<_>>()
    };
    assert!(alerts(&sim).is_empty(), "alert while the floor was held");
    sim.run_for(Duration::from_secs(5));
    let a = alerts(&sim);
    let first = a
        .first()
        .map(|t| *t - (sim.start() + Duration::from_secs(10)));
    println!("alert {first:?} after the drop");
    assert!(
        first.is_some_and(|d| d <= Duration::from_secs(1)),
        "no quality alert within 1 s of the drop ({first:?})"
    );
}

#[test]
fn periodic_dips_are_followed_down_and_back_up() {
    let mut sim = sim(31, false);
    let alice = sim.add_client(path(20), path(20));
    // 2 Mbps with an 800 kbps dip for 2 s every 8 s, from 10 s to 50 s.
    let mut trace = Vec::new();
    for k in 0..5u64 {
        trace.push((Duration::from_secs(10 + 8 * k), 800_000));
        trace.push((Duration::from_secs(12 + 8 * k), 2_000_000));
    }
    let bob = sim.add_client(path(20), link(2_000_000).with_trace(trace));
    let track = sim.publish(alice, PublisherConfig::vp8()).unwrap();
    let sub = sim.subscribe(bob, track, LayerPreference::ALL).unwrap();
    sim.run_until(sim.start() + Duration::from_secs(10));
    let shown_before = stats(&sim, sub).frames_displayed;
    let mut low_in_dip = 0;
    for k in 0..5u64 {
        let dip = sim.start() + Duration::from_secs(10 + 8 * k);
        // One second into the dip the engine forwards a layer that fits 800 kbps.
        sim.run_until(dip + Duration::from_secs(1));
        let at_most_1 = sim.events().iter().rev().find_map(|(_, e)| match e {
            Event::LayerSwitched {
                subscription,
                spatial,
            } if *subscription == sub => Some(*spatial),
            _ => None,
        });
        if at_most_1.is_some_and(|s| s <= 1) {
            low_in_dip += 1;
        }
        sim.run_until(dip + Duration::from_secs(8));
    }
    let s = stats(&sim, sub);
    let fps = (s.frames_displayed - shown_before) as f64 / 40.0;
    let est = sim
        .engine()
        .estimate(sim.client(bob).participant())
        .unwrap_or(0);
    println!(
        "dips: fitting layer in {low_in_dip}/5 dips, {fps:.1} fps shown, estimate after {est}, freezes {}",
        s.freezes
    );
    assert!(low_in_dip >= 4, "followed only {low_in_dip} of 5 dips down");
    assert!(fps >= 25.0, "{fps} fps shown over the dips");
    assert!(
        est >= 1_000_000,
        "no recovery after the dips: estimate {est}"
    );
}
