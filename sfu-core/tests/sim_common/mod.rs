//! Helpers shared by the simulator scenarios.
#![allow(dead_code)]

use std::time::{Duration, Instant};

use telesfu_core::SubscriptionId;
use telesfu_core::sim::{DecoderStats, LinkConfig, Sim};

/// The one clock read of a scenario: the base instant of virtual time.
pub(crate) fn t0() -> Instant {
    #[allow(clippy::disallowed_methods)]
    Instant::now()
}

/// A path with `ms` of one-way delay and a tenth of that as jitter.
pub(crate) fn path(ms: u64) -> LinkConfig {
    LinkConfig::new(Duration::from_millis(ms)).with_jitter(Duration::from_micros(ms * 100))
}

/// Frames `sub` displays while the simulation runs for `d`.
pub(crate) fn frames_during(sim: &mut Sim, sub: SubscriptionId, d: Duration) -> u64 {
    let before = stats(sim, sub).frames_displayed;
    sim.run_for(d);
    stats(sim, sub).frames_displayed - before
}

/// The decoder statistics of `sub`.
pub(crate) fn stats(sim: &Sim, sub: SubscriptionId) -> DecoderStats {
    sim.decoder(sub)
        .expect("a subscription of this simulation")
        .stats()
}

/// Prints the numbers a reader of the test log wants (run with `--nocapture`).
pub(crate) fn report(label: &str, s: &DecoderStats) {
    println!(
        "{label}: displayed {} (key {}, T0/T1/T2 {:?}), undecodable {}, abandoned {}, cut at \
         switch {}, gaps repaired/explained/unexplained {}/{}/{}, ts backwards {}, repeated {}, max ts step \
         {} ticks, longest freeze {:?}, freezes>500ms {}, resolution {:?}, NACKed {}, PLI {}",
        s.frames_displayed,
        s.keyframes_displayed,
        &s.frames_by_temporal[..3],
        s.frames_undecodable,
        s.frames_abandoned,
        s.frames_cut_at_switch,
        s.gaps_repaired,
        s.gaps_explained,
        s.gaps_unexplained,
        s.ts_backwards,
        s.ts_repeated,
        s.max_ts_step,
        s.longest_freeze,
        s.freezes,
        s.resolution,
        s.nacks_sent,
        s.plis_sent,
    );
}

/// What every scenario demands of a subscriber's video: everything shown was decodable, no
/// sequence gap the engine cannot explain, timestamps only forward and without jumps (a step
/// of at most `max_step`), no freeze longer than `max_freeze`.
pub(crate) fn assert_clean(
    label: &str,
    s: &DecoderStats,
    max_step: Duration,
    max_freeze: Duration,
) {
    assert!(s.frames_displayed > 0, "{label}: nothing displayed");
    assert_eq!(s.frames_undecodable, 0, "{label}: undecodable frames");
    assert_eq!(s.gaps_unexplained, 0, "{label}: unexplained sequence gaps");
    assert_eq!(s.ts_backwards, 0, "{label}: timestamps went backwards");
    let step = Duration::from_micros(u64::from(s.max_ts_step) * 1000 / 90);
    assert!(step <= max_step, "{label}: timestamp jumped by {step:?}");
    assert!(
        s.longest_freeze <= max_freeze,
        "{label}: froze for {:?}",
        s.longest_freeze
    );
}
