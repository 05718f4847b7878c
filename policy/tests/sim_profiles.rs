//! The built-in clinical profiles in the simulator: a publisher sends each profile's simulcast
//! ladder, a subscriber's downlink carries 500 kbps, and the engine estimates that downlink and
//! allocates by the profile (issue 5's per-profile proof).

use std::time::{Duration, Instant};

use telesfu_core::alloc::{PublisherRole, TrackSource};
use telesfu_core::engine::{EngineConfig, LayerPreference};
use telesfu_core::sim::{DecoderStats, LayerConfig, LinkConfig, PublisherConfig, Sim, SimConfig};
use telesfu_core::{Event, SubscriptionId};
use telesfu_policy::profiles::{ClinicalProfile, builtin};

fn t0() -> Instant {
    #[allow(clippy::disallowed_methods)]
    Instant::now()
}

fn path() -> LinkConfig {
    LinkConfig::new(Duration::from_millis(20)).with_jitter(Duration::from_millis(2))
}

/// The profile's ladder as a synthetic VP8 publisher (at the top layer's frame rate).
fn publisher(p: &ClinicalProfile) -> PublisherConfig {
    let layers = p
        .layers()
        .iter()
        .map(|l| LayerConfig::new(l.width as u16, l.height as u16, u64::from(l.max_bitrate)))
        .collect();
    PublisherConfig::vp8()
        .with_layers(layers)
        .with_fps(p.top_layer().max_framerate)
        .with_meta(TrackSource::Camera, PublisherRole::Patient)
}

struct Call {
    sim: Sim,
    sub: SubscriptionId,
}

/// A patient publishing under `profile`, a clinician on a downlink that follows `trace`.
fn call(profile: ClinicalProfile, start_bps: u64, trace: Vec<(Duration, u64)>, seed: u64) -> Call {
    let mut engine = EngineConfig::default();
    engine.bandwidth.enabled = true;
    let pubcfg = publisher(&profile);
    let mut sim = Sim::new(SimConfig::new(seed).with_engine(engine), t0());
    let room = sim.room();
    sim.engine_mut()
        .set_room_hook(room, Box::new(profile))
        .unwrap();
    let patient = sim.add_client(path(), path());
    let down = path().with_rate(start_bps, 25_000).with_trace(trace);
    let clinician = sim.add_client(path(), down);
    let track = sim.publish(patient, pubcfg).unwrap();
    let sub = sim
        .subscribe(clinician, track, LayerPreference::ALL)
        .unwrap();
    Call { sim, sub }
}

fn stats(c: &Call) -> DecoderStats {
    c.sim.decoder(c.sub).unwrap().stats()
}

/// Frames shown per second over the next `secs` seconds.
fn fps_over(c: &mut Call, secs: u64) -> f64 {
    let before = stats(c).frames_displayed;
    c.sim.run_for(Duration::from_secs(secs));
    (stats(c).frames_displayed - before) as f64 / secs as f64
}

fn alerts(c: &Call) -> Vec<Instant> {
    c.sim
        .events()
        .iter()
        .filter(|(_, e)| matches!(e, Event::QualityAlert { subscription, .. } if *subscription == c.sub))
        .map(|(t, _)| *t)
        .collect()
}

#[test]
fn dermatology_keeps_the_patient_camera_at_640x360_on_500_kbps() {
    let mut c = call(builtin::dermatology(), 500_000, Vec::new(), 1);
    c.sim.run_for(Duration::from_secs(15));
    let fps = fps_over(&mut c, 10);
    let s = stats(&c);
    println!(
        "dermatology at 500 kbps: {:?} at {fps:.1} fps, freezes {}",
        s.resolution, s.freezes
    );
    let (w, h) = s.resolution.unwrap();
    assert!(w >= 640 && h >= 360, "{:?}", s.resolution);
    let ev: Vec<_> = c
        .sim
        .events()
        .iter()
        .filter(|(_, e)| {
            matches!(
                e,
                Event::QualityAlert { .. } | Event::QualityRestored { .. }
            )
        })
        .map(|(t, e)| (*t - c.sim.start(), *e))
        .collect();
    assert!(
        alerts(&c).is_empty(),
        "the floor is held: no alert ({ev:?})"
    );
}

#[test]
fn behavioural_health_keeps_25_fps_on_500_kbps() {
    let mut c = call(builtin::behavioural_health(), 500_000, Vec::new(), 2);
    c.sim.run_for(Duration::from_secs(15));
    let fps = fps_over(&mut c, 10);
    let s = stats(&c);
    println!(
        "behavioural health at 500 kbps: {:?} at {fps:.1} fps, freezes {}",
        s.resolution, s.freezes
    );
    assert!(fps >= 25.0, "{fps} fps");
}

#[test]
fn telestroke_raises_its_alert_within_1_s_of_a_drop_to_500_kbps() {
    let drop_at = Duration::from_secs(15);
    let mut c = call(
        builtin::telestroke(),
        6_000_000,
        vec![(drop_at, 500_000)],
        3,
    );
    c.sim.run_for(drop_at);
    let before = alerts(&c);
    assert!(before.is_empty(), "alert while the link carried 6 Mbps");
    c.sim.run_for(Duration::from_secs(5));
    let first = alerts(&c).first().map(|t| *t - (c.sim.start() + drop_at));
    println!("telestroke: alert {first:?} after the drop to 500 kbps");
    assert!(
        first.is_some_and(|d| d <= Duration::from_secs(1)),
        "no alert within 1 s ({first:?})"
    );
}
