//! The delay-based detector on synthetic inputs: grouping, the trendline slope and the
//! adaptive threshold.

use telesfu_core::bwe::delay::{INITIAL_THRESHOLD, THRESHOLD_RANGE};
use telesfu_core::bwe::{BandwidthUsage, GroupDelta, InterArrival, OveruseDetector, Trendline};

/// Feeds `n` groups 10 ms apart whose arrival spacing is `10 + ramp_ms` ms: a queue growing
/// (ramp > 0) or draining (ramp < 0) by `ramp_ms` per group. Returns every conclusion.
fn drive(ramp_ms: f64, n: usize) -> Vec<BandwidthUsage> {
    let mut t = Trendline::new();
    let mut d = OveruseDetector::new();
    let mut arrival = 0.0;
    (0..n)
        .map(|_| {
            arrival += 10.0 + ramp_ms;
            let g = GroupDelta {
                send_delta_ms: 10.0,
                arrival_delta_ms: 10.0 + ramp_ms,
                arrival_ms: arrival,
            };
            let m = t.update(&g);
            d.detect(m, g.send_delta_ms, t.deltas(), arrival)
        })
        .collect()
}

#[test]
fn a_delay_ramp_is_overuse() {
    // 1 ms more queueing per 10 ms group: a 10 % overshoot of the link.
    let out = drive(1.0, 60);
    let first = out.iter().position(|u| *u == BandwidthUsage::Overusing);
    println!("overuse after {first:?} groups");
    let first = first.expect("a steady delay ramp was never called overuse");
    // 20 groups fill the regression window; smoothing adds a little more.
    assert!(first <= 40, "took {first} groups");
}

#[test]
fn a_flat_delay_is_normal_and_a_draining_queue_is_underuse() {
    assert!(drive(0.0, 100).iter().all(|u| *u == BandwidthUsage::Normal));
    let out = drive(-1.0, 60);
    assert_eq!(out.last(), Some(&BandwidthUsage::Underusing));
    assert!(!out.contains(&BandwidthUsage::Overusing));
}

#[test]
fn alternating_jitter_without_a_trend_is_not_overuse() {
    let mut t = Trendline::new();
    let mut d = OveruseDetector::new();
    let mut arrival = 0.0;
    for i in 0..400 {
        let j = if i % 2 == 0 { 6.0 } else { -6.0 };
        arrival += 10.0 + j;
        let g = GroupDelta {
            send_delta_ms: 10.0,
            arrival_delta_ms: 10.0 + j,
            arrival_ms: arrival,
        };
        let m = t.update(&g);
        assert_ne!(
            d.detect(m, 10.0, t.deltas(), arrival),
            BandwidthUsage::Overusing,
            "group {i}: trend {m}"
        );
    }
}

#[test]
fn the_threshold_adapts_down_slowly_and_stays_in_range() {
    let mut d = OveruseDetector::new();
    // A quiet signal: K_d pulls the threshold down, bounded below.
    for i in 0..100_000 {
        d.detect(0.0, 5.0, 100, f64::from(i) * 5.0);
    }
    assert_eq!(d.threshold(), THRESHOLD_RANGE.0);
    // A sustained moderate overuse: once it is called, the threshold does not chase the
    // signal upwards (our deviation from libwebrtc, see `OveruseDetector::adapt`), so the
    // detector keeps reporting it.
    let mut last = BandwidthUsage::Normal;
    for i in 0..2_000 {
        last = d.detect(15.0, 5.0, 100, 500_000.0 + f64::from(i) * 5.0);
    }
    assert_eq!(last, BandwidthUsage::Overusing);
    assert!(
        d.threshold() < 15.0,
        "threshold chased the signal: {}",
        d.threshold()
    );
    assert!(d.threshold() >= THRESHOLD_RANGE.0 && INITIAL_THRESHOLD > THRESHOLD_RANGE.0);
    // A spike far above (> threshold + 15) does not move it.
    let before = d.threshold();
    d.detect(300.0, 5.0, 100, 600_000.0);
    assert_eq!(d.threshold(), before);
}

#[test]
fn packets_within_5_ms_form_one_group() {
    let mut ia = InterArrival::new();
    // Three bursts of 4 packets 1 ms apart, bursts 20 ms apart, arriving with 2 ms extra
    // delay per burst (a growing queue).
    let mut out = Vec::new();
    for burst in 0..4i64 {
        for k in 0..4i64 {
            let send = burst * 20_000 + k * 1_000;
            let arrival = 50_000 + send + burst * 2_000;
            if let Some(d) = ia.add(send, arrival) {
                out.push(d);
            }
        }
    }
    assert_eq!(out.len(), 2, "{out:?}");
    for d in out {
        assert_eq!(d.send_delta_ms, 20.0);
        assert_eq!(d.delay_variation_ms(), 2.0);
    }
}

#[test]
fn a_standing_queue_is_the_delay_that_never_comes_back() {
    use std::time::Duration;
    use telesfu_core::bwe::QueueDelay;
    let mut q = QueueDelay::new();
    assert_eq!(q.standing(), None);
    // 2 s of packets every 10 ms at 30 ms one way (the receiver's clock is offset: only
    // differences count), one of them delayed by 80 ms (jitter, a burst): no standing queue.
    let offset = 5_000_000_000i64;
    let mut t = 0i64;
    while t < 2_000_000 {
        let extra = if t == 1_000_000 { 80_000 } else { 0 };
        q.on_sample(offset + t + 30_000 + extra, t);
        t += 10_000;
    }
    assert!(q.standing().unwrap() < Duration::from_millis(1));
    // Then every packet waits 400 ms longer: a queue that never drains.
    while t < 3_000_000 {
        q.on_sample(offset + t + 430_000, t);
        t += 10_000;
    }
    let s = q.standing().unwrap();
    assert!(
        (Duration::from_millis(399)..=Duration::from_millis(401)).contains(&s),
        "{s:?}"
    );
    // It drains: back to the base within the recent window.
    while t < 3_500_000 {
        q.on_sample(offset + t + 30_000, t);
        t += 10_000;
    }
    assert!(q.standing().unwrap() < Duration::from_millis(1));
}
