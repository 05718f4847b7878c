//! Prints `docs/bandwidth-results.md`: the engine's bandwidth allocation with and without the
//! short-horizon predictor, on scripted downlink traces, in the simulator.
//!
//! ```text
//! cargo run --release -p telesfu-core --features sim --example bandwidth_results > docs/bandwidth-results.md
//! ```
//!
//! Every run is a 60 s call in virtual time: one VP8 simulcast publisher (320x180, 640x360,
//! 1280x720 at 150 kbps, 500 kbps, 1.5 Mbps; 30 fps, three temporal layers) and one subscriber
//! whose downlink follows the trace. Runs are deterministic (seeded), so the file only changes
//! when the engine does.

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use telesfu_core::engine::{EngineConfig, LayerPreference};
use telesfu_core::sim::{LinkConfig, Loss, PublisherConfig, Sim, SimConfig};
use telesfu_core::{Event, SubscriptionId};

/// Length of one simulated call.
const CALL: Duration = Duration::from_secs(60);
/// How often the displayed layer is sampled.
const SAMPLE: Duration = Duration::from_millis(100);
/// A gap between displayed frames longer than this is a freeze (the decoder's threshold).
const FREEZE: Duration = Duration::from_millis(500);
/// Seeds per trace and mode.
const SEEDS: [u64; 3] = [1, 2, 3];
/// Mean delivered bitrate the predictor may cost and still be kept on (fraction).
const MAX_BITRATE_COST: f64 = 0.10;

/// A downlink trace: how the subscriber's link behaves over the call.
struct Trace {
    name: &'static str,
    link: fn() -> LinkConfig,
}

/// A path with `ms` of one-way delay and a tenth of that as jitter (as the scenario tests).
fn path(ms: u64) -> LinkConfig {
    LinkConfig::new(Duration::from_millis(ms)).with_jitter(Duration::from_micros(ms * 100))
}

/// A downlink of `bps` with a 25 kB bottleneck queue (100 ms at 2 Mbps), as
/// `sfu-core/tests/sim_bandwidth.rs` uses.
fn link(bps: u64) -> LinkConfig {
    path(20).with_rate(bps, 25_000)
}

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

fn traces() -> Vec<Trace> {
    vec![
        Trace {
            name: "steady 2 Mbps",
            link: || link(2_000_000),
        },
        Trace {
            name: "step 2 Mbps → 300 kbps (20 s) → 2 Mbps (40 s)",
            link: || link(2_000_000).with_trace(vec![(secs(20), 300_000), (secs(40), 2_000_000)]),
        },
        Trace {
            name: "dips: 2 Mbps, 800 kbps for 2 s every 8 s",
            link: || {
                let mut steps = Vec::new();
                let mut at = 8;
                while at < CALL.as_secs() {
                    steps.push((secs(at), 800_000));
                    steps.push((secs(at + 2), 2_000_000));
                    at += 8;
                }
                link(2_000_000).with_trace(steps)
            },
        },
        Trace {
            name: "2 Mbps, 2 % random loss",
            link: || link(2_000_000).with_loss(Loss::Random(0.02)),
        },
        Trace {
            name: "2 Mbps, 5 % random loss",
            link: || link(2_000_000).with_loss(Loss::Random(0.05)),
        },
        Trace {
            name: "2 Mbps, bursty loss (3 %, bursts of 4)",
            link: || link(2_000_000).with_loss(Loss::bursty(0.03, 4.0)),
        },
    ]
}

/// What one run measured.
#[derive(Debug, Default, Clone, Copy)]
struct Run {
    /// Freezes over [`FREEZE`], counting one still open at the end.
    freezes: u64,
    longest_freeze: Duration,
    /// 100 ms samples showing 320x180, 640x360, 1280x720, and nothing (no frame yet, or the
    /// picture frozen for over [`FREEZE`]).
    samples: [u64; 4],
    /// Bytes the downlink delivered (media, RTX, probes and RTCP).
    bytes_delivered: u64,
    frames_displayed: u64,
    /// `LayerSwitched` events for the subscription (spatial switches, each on a keyframe).
    switches: u64,
}

fn run(trace: &Trace, predictor: bool, seed: u64, start: Instant) -> Run {
    let mut engine = EngineConfig::default();
    engine.bandwidth.enabled = true;
    engine.bandwidth.predictor = predictor;
    let mut sim = Sim::new(SimConfig::new(seed).with_engine(engine), start);
    let alice = sim.add_client(path(20), path(20));
    let bob = sim.add_client(path(20), (trace.link)());
    let track = sim
        .publish(alice, PublisherConfig::vp8())
        .expect("the simulator's VP8 publisher is valid");
    let sub = sim
        .subscribe(bob, track, LayerPreference::ALL)
        .expect("bob and the track were just added");

    let mut r = Run::default();
    while sim.elapsed() < CALL {
        sim.run_for(SAMPLE);
        let d = sim.decoder(sub).expect("a subscription of this simulation");
        let frozen = d.current_freeze(sim.now()).is_none_or(|f| f > FREEZE);
        let slot = match d.stats().resolution {
            _ if frozen => 3,
            Some((320, 180)) => 0,
            Some((640, 360)) => 1,
            Some((1280, 720)) => 2,
            _ => 3,
        };
        r.samples[slot] += 1;
    }
    let d = sim.decoder(sub).expect("a subscription of this simulation");
    let s = d.stats();
    r.freezes = s.freezes;
    r.longest_freeze = s.longest_freeze;
    if let Some(open) = d.current_freeze(sim.now()).filter(|f| *f > FREEZE) {
        r.freezes += 1;
        r.longest_freeze = r.longest_freeze.max(open);
    }
    r.frames_displayed = s.frames_displayed;
    r.bytes_delivered = sim.client(bob).downlink().stats().bytes_delivered;
    r.switches = switches(&sim, sub);
    r
}

fn switches(sim: &Sim, sub: SubscriptionId) -> u64 {
    sim.events()
        .iter()
        .filter(|(_, e)| matches!(e, Event::LayerSwitched { subscription, .. } if *subscription == sub))
        .count() as u64
}

/// One trace and mode over all seeds.
#[derive(Debug, Default, Clone, Copy)]
struct Sum {
    runs: u64,
    freezes: u64,
    longest_freeze: Duration,
    samples: [u64; 4],
    bytes_delivered: u64,
    frames_displayed: u64,
    switches: u64,
}

impl Sum {
    fn add(&mut self, r: &Run) {
        self.runs += 1;
        self.freezes += r.freezes;
        self.longest_freeze = self.longest_freeze.max(r.longest_freeze);
        for (a, b) in self.samples.iter_mut().zip(r.samples) {
            *a += b;
        }
        self.bytes_delivered += r.bytes_delivered;
        self.frames_displayed += r.frames_displayed;
        self.switches += r.switches;
    }

    fn kbps(&self) -> f64 {
        self.bytes_delivered as f64 * 8.0 / (self.runs as f64 * CALL.as_secs_f64()) / 1000.0
    }

    fn share(&self, slot: usize) -> f64 {
        let total: u64 = self.samples.iter().sum();
        100.0 * self.samples[slot] as f64 / total.max(1) as f64
    }

    fn fps(&self) -> f64 {
        self.frames_displayed as f64 / (self.runs as f64 * CALL.as_secs_f64())
    }
}

fn main() {
    #[allow(clippy::disallowed_methods)] // the one clock read: the base of virtual time
    let start = Instant::now();
    let traces = traces();
    let mut rows: Vec<(&Trace, [Sum; 2])> = Vec::new();
    for trace in &traces {
        let mut sums = [Sum::default(); 2];
        for (mode, sum) in sums.iter_mut().enumerate() {
            for seed in SEEDS {
                sum.add(&run(trace, mode == 1, seed, start));
            }
        }
        rows.push((trace, sums));
    }
    print!("{}", render(&rows));
}

fn render(rows: &[(&Trace, [Sum; 2])]) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "hello");
    for (t, sums) in rows {
        for (m, s) in sums.iter().enumerate() {
            let _ = writeln!(
                out,
                "| {} | {} | {} | {:.2} s | {:.0} | {:.0} | {:.0} | {:.0} | {:.0} | {:.1} | {} |",
                t.name,
                if m == 1 { "on" } else { "off" },
                s.freezes,
                s.longest_freeze.as_secs_f64(),
                s.share(0),
                s.share(1),
                s.share(2),
                s.share(3),
                s.kbps(),
                s.fps(),
                s.switches,
            );
        }
    }
    out
}
