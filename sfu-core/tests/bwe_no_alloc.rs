//! The estimator allocates nothing in steady state: packets sent, feedback parsed and
//! applied, timers and probe polling.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use telesfu_core::bwe::{BweConfig, SendSideBwe};
use telesfu_core::rtcp::{self, RtcpPacket};

mod counting;
use counting::{ALLOCS, COUNTING};

/// 10 s at 200 packets/s with feedback every 50 ms (every 20th packet lost, arrivals with a
/// slowly growing queue so the detector and rate controller both work). Returns allocations
/// counted after the first second.
fn run(predictor: bool) -> usize {
    #[allow(clippy::disallowed_methods)]
    let start = Instant::now();
    let mut config = BweConfig::default();
    config.predictor = predictor;
    let mut bwe = SendSideBwe::new(config, start);
    bwe.set_desired_bitrate(Some(3_000_000));
    let mut buf = [0u8; 1500];
    let mut arrivals = [None::<i64>; 10];
    let mut seq: u16 = 0;
    let mut fb_count: u8 = 0;
    ALLOCS.store(0, Ordering::Relaxed);
    for step in 0..2_000u32 {
        let now = start + Duration::from_millis(u64::from(step) * 5);
        if step == 200 {
            COUNTING.with(|c| c.set(true));
        }
        bwe.on_packet_sent(now, seq, 1200, None);
        let i = (step % 10) as usize;
        let queue_us = i64::from(step % 400) * 50;
        arrivals[i] = (step % 20 != 7).then(|| i64::from(step) * 5_000 + 25_000 + queue_us);
        seq = seq.wrapping_add(1);
        if i == 9 {
            let base = seq.wrapping_sub(10);
            // The builder needs a received first entry.
            let skip = usize::from(arrivals[0].is_none());
            if let Some((n, _)) = rtcp::write_transport_cc(
                &mut buf,
                1,
                2,
                base.wrapping_add(skip as u16),
                fb_count,
                &arrivals[skip..],
            ) {
                fb_count = fb_count.wrapping_add(1);
                let at = now + Duration::from_millis(25);
                for p in rtcp::parse_compound(&buf[..n]) {
                    if let Ok(RtcpPacket::TransportCc(fb)) = p {
                        bwe.on_feedback(at, &fb);
                    }
                }
            }
        }
        if step % 50 == 0 {
            bwe.on_rtt(Duration::from_millis(50));
            bwe.on_remb(now, 5_000_000);
        }
        if now >= bwe.poll_timeout() {
            bwe.handle_timeout(now);
        }
        if let Some(c) = bwe.poll_probe(now) {
            for k in 0..c.min_packets {
                bwe.on_packet_sent(now, seq, 300, Some(c.id));
                seq = seq.wrapping_add(1);
                let _ = k;
            }
        }
        let _ = bwe.target_bitrate();
        let _ = bwe.state();
    }
    COUNTING.with(|c| c.set(false));
    let stats = bwe.stats();
    assert!(stats.feedback >= 190 && stats.acked > 1_000, "{stats:?}");
    ALLOCS.load(Ordering::Relaxed)
}

#[test]
fn steady_state_estimation_allocates_nothing() {
    assert_eq!(run(false), 0);
    assert_eq!(run(true), 0);
}
