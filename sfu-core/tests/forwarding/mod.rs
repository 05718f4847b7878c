//! The steady-state forwarding scenario the allocation tests count: shared by `no_alloc`
//! (unpaced) and `no_alloc_paced` (each its own test binary, since the counter is
//! process-wide).

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use crate::common::{TWCC_ID, vp8};
use crate::counting::{ALLOCS, COUNTING};
use telesfu_core::engine::{
    Codec, EncodingConfig, EngineConfig, ExtensionIds, ParticipantConfig, SubscriptionConfig,
    TrackConfig,
};
use telesfu_core::{Engine, Input, Ssrc};

/// Packets in, copies out to every subscriber (through the pacers when `paced`), feedback,
/// NACK and report timers included; panics if the measured run allocated.
pub(crate) fn forwarding_allocates_nothing(config: EngineConfig, paced: bool) {
    #[allow(clippy::disallowed_methods)]
    let mut now = Instant::now();
    let mut e = Engine::new(config, now, 1 << 63, 1);
    let room = e.create_room();
    let mut ids = ExtensionIds::default();
    ids.transport_cc = Some(TWCC_ID);
    let mut pc = ParticipantConfig::default();
    pc.extensions = ids;
    let publisher = e.add_participant(room, pc).unwrap();
    let encs = (0..3u32)
        .map(|i| EncodingConfig::ssrc(Ssrc(10 + i), None))
        .collect();
    let track = e
        .publish(publisher, TrackConfig::new(Codec::Vp8, 96, None, encs))
        .unwrap();
    for i in 0..10u32 {
        let v = e.add_participant(room, pc).unwrap();
        e.subscribe(now, v, track, SubscriptionConfig::new(Ssrc(1000 + i), 96))
            .unwrap();
    }
    let mut buf = vec![0u8; 1500];
    // Packets are built before measuring: only the engine's work is counted.
    let (mut seq, mut twcc) = ([0u16; 3], 0u16);
    let frames: Vec<Vec<Vec<u8>>> = (0..360u32)
        .map(|f| {
            let mut pkts = vec![];
            for layer in 0..3u32 {
                for k in 0..3 {
                    let tid = (f % 2) as u8;
                    let s = &mut seq[layer as usize];
                    pkts.push(vp8(
                        10 + layer,
                        *s,
                        f * 3000,
                        twcc,
                        f as u16,
                        tid,
                        f == 0,
                        k == 0,
                        k == 2,
                    ));
                    *s = s.wrapping_add(1);
                    twcc = twcc.wrapping_add(1);
                }
            }
            pkts
        })
        .collect();
    let mut run = |e: &mut Engine, now: &mut Instant, frames: &[Vec<Vec<u8>>]| -> usize {
        let mut sent = 0;
        for f in frames {
            for p in f {
                e.handle_input(
                    *now,
                    Input::Datagram {
                        from: publisher,
                        contents: p,
                    },
                );
            }
            // Follow poll_timeout through the frame interval (the pacer's releases are among
            // its wakeups), the way a driver does.
            let next_frame = *now + Duration::from_millis(33);
            loop {
                while let Some(t) = e.poll_transmit(*now, &mut buf) {
                    sent += usize::from(!t.rtcp);
                }
                while e.poll_event().is_some() {}
                match e.poll_timeout() {
                    Some(t) if t < next_frame => *now = t.max(*now),
                    _ => break,
                }
                e.handle_input(*now, Input::Timeout);
            }
            *now = next_frame;
            e.handle_input(*now, Input::Timeout);
            while let Some(t) = e.poll_transmit(*now, &mut buf) {
                sent += usize::from(!t.rtcp);
            }
            while e.poll_event().is_some() {}
        }
        sent
    };
    // Warm up: first keyframe, switches, every timer at least once (scratch lists grow once).
    run(&mut e, &mut now, &frames[..60]);
    let before = ALLOCS.load(Ordering::Relaxed);
    COUNTING.with(|c| c.set(true));
    let sent = run(&mut e, &mut now, &frames[60..]);
    COUNTING.with(|c| c.set(false));
    let allocs = ALLOCS.load(Ordering::Relaxed) - before;
    // Unpaced, every subscriber gets the layer it asks for (3 packets per frame); paced, the
    // allocator starts each on the lowest layer at the estimator's start value.
    assert!(sent >= 300 * 3 * 10, "only {sent} packets forwarded");
    if paced {
        assert!(e.stats().rtp_out > 0 && e.poll_timeout().is_some());
    }
    assert_eq!(
        allocs, 0,
        "{allocs} allocations while forwarding {sent} packets (paced: {paced})"
    );
}
