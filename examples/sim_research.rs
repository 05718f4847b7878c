//! A researcher's run of the deterministic network simulator: the real engine between a
//! simulcast publisher and one viewer whose downlink follows a trace (2 Mbps with a 25 kB
//! queue, a drop to 500 kbps at 10 s, back to 2 Mbps at 20 s), printed as a table per second.
//! Same seed, same numbers, on any machine.
//!
//! ```sh
//! cargo run -p telesfu-examples --example sim_research -- [SEED]
//! ```
//!
//! Change the trace, the links (`LinkConfig`: delay, jitter, loss, rate, token bucket) or the
//! engine's configuration and run again; `sfu-core/tests/sim_*.rs` hold the scenarios the
//! project asserts on.

use std::time::{Duration, Instant};

use telesfu_core::engine::{EngineConfig, LayerPreference};
use telesfu_core::sim::{LinkConfig, PublisherConfig, Sim, SimConfig};

fn main() {
    let seed = std::env::args()
        .nth(1)
        .map_or(Ok(1), |s| s.parse::<u64>())
        .unwrap_or_else(|e| {
            eprintln!("sim_research: the seed must be a number ({e})");
            std::process::exit(2);
        });
    let mut engine = EngineConfig::default();
    engine.bandwidth.enabled = true;
    #[allow(
        clippy::disallowed_methods,
        reason = "the simulation's start; it reads no clock"
    )]
    let start = Instant::now();
    let mut sim = Sim::new(SimConfig::new(seed).with_engine(engine), start);
    let path = LinkConfig::new(Duration::from_millis(20)).with_jitter(Duration::from_millis(2));
    let publisher = sim.add_client(path.clone(), path.clone());
    // The viewer's downlink: 2 Mbps with a 25 kB queue, a 500 kbps step at 10 s, back at 20 s.
    let down = path.clone().with_rate(2_000_000, 25_000).with_trace(vec![
        (Duration::from_secs(10), 500_000),
        (Duration::from_secs(20), 2_000_000),
    ]);
    let viewer = sim.add_client(path, down);
    let track = sim
        .publish(publisher, PublisherConfig::vp8())
        .expect("a valid publisher");
    let sub = sim
        .subscribe(viewer, track, LayerPreference::ALL)
        .expect("same room");

    println!(
        "{:>4} {:>9} {:>10} {:>10} {:>5} {:>8}",
        "s", "link", "estimate", "picture", "fps", "freezes"
    );
    let mut shown = 0;
    for second in 1..=30u64 {
        sim.run_for(Duration::from_secs(1));
        let d = sim.decoder(sub).expect("a subscription").stats();
        let link = sim
            .client(viewer)
            .downlink()
            .rate_at(sim.now())
            .map_or("-".into(), |b| format!("{} k", b / 1000));
        let estimate = sim
            .engine()
            .estimate(sim.client(viewer).participant())
            .map_or("-".into(), |b| format!("{} k", b / 1000));
        let picture = d.resolution.map_or("-".into(), |(w, h)| format!("{w}x{h}"));
        println!(
            "{second:>4} {link:>9} {estimate:>10} {picture:>10} {:>5} {:>8}",
            d.frames_displayed - shown,
            d.freezes
        );
        shown = d.frames_displayed;
    }
    let d = sim.decoder(sub).expect("a subscription").stats();
    println!(
        "\n{} frames shown, {} freezes over 500 ms (longest {:?}), {} NACKs, {} PLIs",
        d.frames_displayed, d.freezes, d.longest_freeze, d.nacks_sent, d.plis_sent
    );
}
