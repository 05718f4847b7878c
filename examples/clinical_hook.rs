//! A clinical profile from telesfu-policy as the engine's allocator hook: the same camera
//! ladder over the same 500 kbps downlink, with bandwidth estimation on (the viewer's
//! transport-wide CC feedback comes from the simulator's link), allocated three ways: with no
//! hook, with the dermatology profile, and with the behavioural-health profile. The hook is
//! what changes the decision: dermatology keeps the resolution a skin examination needs and
//! gives up frame rate; behavioural health keeps a steady frame rate and gives up resolution.
//!
//! ```sh
//! cargo run -p telesfu-examples --example clinical_hook
//! ```

use std::time::{Duration, Instant};

use telesfu_core::alloc::{PublisherRole, TrackSource};
use telesfu_core::engine::{EngineConfig, LayerPreference};
use telesfu_core::sim::{LayerConfig, LinkConfig, PublisherConfig, Sim, SimConfig};
use telesfu_policy::profiles::{ClinicalProfile, builtin};

/// Runs 20 s of the dermatology ladder over a 500 kbps downlink with `hook` as the room's
/// allocator hook (`None`: the engine's default), and returns what the viewer saw over the
/// last 10 s: the picture size and frames per second.
fn run(hook: Option<ClinicalProfile>) -> (Option<(u16, u16)>, f64) {
    let mut engine = EngineConfig::default();
    engine.bandwidth.enabled = true; // the hook is consulted only with allocation on
    #[allow(
        clippy::disallowed_methods,
        reason = "the simulation's start; it reads no clock"
    )]
    let start = Instant::now();
    let mut sim = Sim::new(SimConfig::new(7).with_engine(engine), start);
    if let Some(profile) = hook {
        let room = sim.room();
        sim.engine_mut()
            .set_room_hook(room, Box::new(profile))
            .expect("bandwidth allocation is on");
    }
    let ladder = builtin::dermatology();
    let layers = ladder
        .layers()
        .iter()
        .map(|l| LayerConfig::new(l.width as u16, l.height as u16, u64::from(l.max_bitrate)))
        .collect();
    let camera = PublisherConfig::vp8()
        .with_layers(layers)
        .with_meta(TrackSource::Camera, PublisherRole::Patient);
    let path = LinkConfig::new(Duration::from_millis(20)).with_jitter(Duration::from_millis(2));
    let patient = sim.add_client(path.clone(), path.clone());
    let clinician = sim.add_client(path.clone(), path.with_rate(500_000, 25_000));
    let track = sim.publish(patient, camera).expect("a valid publisher");
    let sub = sim
        .subscribe(clinician, track, LayerPreference::ALL)
        .expect("same room");
    sim.run_for(Duration::from_secs(10));
    let before = sim
        .decoder(sub)
        .expect("a subscription")
        .stats()
        .frames_displayed;
    sim.run_for(Duration::from_secs(10));
    let s = sim.decoder(sub).expect("a subscription").stats();
    (s.resolution, (s.frames_displayed - before) as f64 / 10.0)
}

fn main() {
    println!("the same camera, the same 500 kbps downlink, three allocator hooks:\n");
    println!("{:<20} {:>10} {:>6}", "hook", "picture", "fps");
    let mut results = Vec::new();
    for (name, hook) in [
        ("none (default)", None),
        ("dermatology", Some(builtin::dermatology())),
        ("behavioural health", Some(builtin::behavioural_health())),
    ] {
        let (picture, fps) = run(hook);
        let shown = picture.map_or("-".into(), |(w, h)| format!("{w}x{h}"));
        println!("{name:<20} {shown:>10} {fps:>6.1}");
        results.push((picture, fps));
    }
    let derm = results[1].0.expect("dermatology shows video");
    assert!(derm.0 >= 640, "dermatology holds 640x360: {derm:?}");
    assert!(results[2].1 >= 25.0, "behavioural health holds 25 fps");
    assert_ne!(results[1].0, results[2].0, "the hook changes the decision");
}
