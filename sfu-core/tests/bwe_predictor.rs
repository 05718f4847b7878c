//! Reactive GCC against GCC plus the short-horizon predictor on the same traces. Prints the
//! comparison table (`cargo test -p telesfu-core --test bwe_predictor -- --nocapture`).

mod bwe_common;

use std::time::Duration;

use bwe_common::{Harness, bottleneck};
use telesfu_core::bwe::BweConfig;
use telesfu_core::sim::{LinkConfig, Loss};

const S: fn(u64) -> Duration = Duration::from_secs;

fn traces() -> Vec<(&'static str, LinkConfig)> {
    let dips: Vec<(Duration, u64)> = (1..8)
        .map(|i| (S(i * 5), if i % 2 == 1 { 800_000 } else { 2_000_000 }))
        .collect();
    vec![
        (
            "step 2M->300k",
            bottleneck(25, 2_000_000, 300).with_trace(vec![(S(10), 300_000)]),
        ),
        (
            "dips 2M/800k every 5 s",
            bottleneck(25, 2_000_000, 300).with_trace(dips),
        ),
        (
            "2 Mbps, 3 % loss, 10 ms jitter",
            bottleneck(25, 2_000_000, 300)
                .with_loss(Loss::Random(0.03))
                .with_jitter(Duration::from_millis(10)),
        ),
    ]
}

#[derive(Debug, PartialEq)]
struct Row {
    freezes: u32,
    frozen_ms: u128,
    late: u64,
    kbps: u64,
    max_queue_ms: u128,
    fired: u64,
}

fn run(link: LinkConfig, predictor: bool) -> Row {
    let mut c = BweConfig::default();
    c.predictor = predictor;
    let mut h = Harness::new(c, link, 21);
    h.bwe.set_desired_bitrate(Some(2_500_000));
    h.run(S(40));
    let d = h.delivery();
    Row {
        freezes: d.freezes,
        frozen_ms: d.frozen.as_millis(),
        late: d.late,
        kbps: d.bytes * 8 / 40 / 1000,
        max_queue_ms: d.max_queue_delay.as_millis(),
        fired: h.bwe.stats().predictions,
    }
}

#[test]
fn predictor_against_reactive_estimation() {
    println!(
        "| trace | mode | freezes | frozen ms | late pkts | delivered kbps | max queue ms | fired |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    let mut fired = 0;
    for (name, link) in traces() {
        for predictor in [false, true] {
            let r = run(link.clone(), predictor);
            // Deterministic: the same seed replays exactly.
            assert_eq!(r, run(link.clone(), predictor));
            fired += r.fired;
            println!(
                "| {name} | {} | {} | {} | {} | {} | {} | {} |",
                if predictor { "predictor" } else { "reactive" },
                r.freezes,
                r.frozen_ms,
                r.late,
                r.kbps,
                r.max_queue_ms,
                r.fired
            );
        }
    }
    assert!(fired > 0, "the predictor never fired on any trace");
}
