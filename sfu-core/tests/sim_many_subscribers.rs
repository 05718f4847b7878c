//! One publisher, a hundred subscribers on different paths and at different sizes: every one
//! of them gets decodable video at the resolution it asked for.
#![cfg(feature = "sim")]

mod sim_common;

use std::time::Duration;

use sim_common::{assert_clean, path, stats, t0};
use telesfu_core::engine::LayerPreference;
use telesfu_core::sim::{Loss, PublisherConfig, Sim, SimConfig};

#[test]
fn a_hundred_subscribers_all_get_decodable_video() {
    let mut sim = Sim::new(SimConfig::new(51), t0());
    let alice = sim.add_client(path(20), path(20));
    let track = sim.publish(alice, PublisherConfig::vp8()).unwrap();
    let sizes = [(320u16, 180u16), (640, 360), (1280, 720)];
    let mut subs = vec![];
    for i in 0..100u64 {
        // Delays of 10-59 ms; every third path loses 1% (repaired by NACK/RTX).
        let mut down = path(10 + (i * 7) % 50);
        if i % 3 == 0 {
            down = down.with_loss(Loss::Random(0.01));
        }
        let c = sim.add_client(path(10 + (i * 7) % 50), down);
        let layer = (i % 3) as u8;
        let sub = sim
            .subscribe(c, track, LayerPreference::new(layer, 2))
            .unwrap();
        subs.push((sub, sizes[usize::from(layer)]));
    }
    sim.run_for(Duration::from_secs(2));
    let before: Vec<u64> = subs
        .iter()
        .map(|(s, _)| stats(&sim, *s).frames_displayed)
        .collect();
    sim.run_for(Duration::from_secs(4));
    let mut total = 0;
    let mut worst_freeze = Duration::ZERO;
    let mut repaired = 0;
    for (i, (sub, size)) in subs.iter().enumerate() {
        let s = stats(&sim, *sub);
        let label = format!("subscriber {i}");
        assert_clean(
            &label,
            &s,
            Duration::from_millis(100),
            Duration::from_millis(500),
        );
        assert_eq!(s.resolution, Some(*size), "{label}");
        assert_eq!(s.resolution_changes, 0, "{label}");
        let shown = s.frames_displayed - before[i];
        assert!(shown >= 114, "{label}: {shown} frames in 4 s");
        total += s.frames_displayed;
        worst_freeze = worst_freeze.max(s.longest_freeze);
        repaired += s.gaps_repaired;
    }
    let e = sim.engine().stats();
    println!(
        "100 subscribers: {total} frames displayed in 6 s, worst freeze {worst_freeze:?}, {repaired} \
         packets repaired; engine forwarded {} packets ({} retransmissions), {} keyframe requests",
        e.rtp_out, e.retransmissions, e.keyframe_requests
    );
    assert!(repaired > 0, "the lossy paths lost nothing");
}
