//! Timestamps across a simulcast switch follow the publisher's capture clock, as its sender
//! reports map each layer's RTP time to NTP.

use std::time::{Duration, Instant};

use telesfu_core::engine::{
    Codec, EncodingConfig, EngineConfig, ExtensionIds, LayerPreference, ParticipantConfig,
    SubscriptionConfig, TrackConfig,
};
use telesfu_core::rtcp::{self, SenderInfo};
use telesfu_core::rtp::RtpPacket;
use telesfu_core::{Engine, Input, Ssrc};

mod common;
use common::{TWCC_ID, vp8};

#[test]
fn a_switch_keeps_the_capture_clock_of_sender_reports() {
    #[allow(clippy::disallowed_methods)]
    let mut now = Instant::now();
    let ntp: u64 = 0xe000_0000_0000_0000;
    let mut e = Engine::new(EngineConfig::default(), now, ntp, 7);
    let room = e.create_room();
    let mut ids = ExtensionIds::default();
    ids.transport_cc = Some(TWCC_ID);
    let mut pc = ParticipantConfig::default();
    pc.extensions = ids;
    let publisher = e.add_participant(room, pc).unwrap();
    let viewer = e.add_participant(room, pc).unwrap();
    let encs = (0..3u32)
        .map(|i| EncodingConfig::ssrc(Ssrc(100 + i), None))
        .collect();
    let track = e
        .publish(publisher, TrackConfig::new(Codec::Vp8, 96, None, encs))
        .unwrap();
    let sub = e
        .subscribe(now, viewer, track, SubscriptionConfig::new(Ssrc(5000), 96))
        .unwrap();
    // Each layer has its own random RTP offset; capture tick c is sent as offset + c.
    let offsets = [1_000u32, 0, 500_000];
    let mut buf = [0u8; 1500];
    let input = |e: &mut Engine, now: Instant, d: &[u8]| {
        e.handle_input(
            now,
            Input::Datagram {
                from: publisher,
                contents: d,
            },
        );
    };
    // Sender reports at capture tick 0 (the engine's start, NTP `ntp`), layers 0 and 2.
    for l in [0usize, 2] {
        let info = SenderInfo {
            ssrc: 100 + l as u32,
            ntp_time: ntp,
            rtp_time: offsets[l],
            packet_count: 0,
            octet_count: 0,
        };
        let n = rtcp::write_sender_report(&mut buf, &info, &[]).unwrap();
        input(&mut e, now, &buf[..n]);
    }
    let mut out = vec![];
    let mut send = |e: &mut Engine, now: Instant, layer: usize, seq: u16, tick: u32, key: bool| {
        let p = vp8(
            100 + layer as u32,
            seq,
            offsets[layer] + tick,
            seq,
            seq,
            0,
            key,
            true,
            true,
        );
        e.handle_input(
            now,
            Input::Datagram {
                from: publisher,
                contents: &p,
            },
        );
        while let Some(t) = e.poll_transmit(now, &mut buf) {
            if t.to == viewer && !t.rtcp {
                out.push(RtpPacket::parse(&buf[..t.len]).unwrap().timestamp());
            }
        }
    };
    // Layer 2 starts at capture tick 3000 (its keyframe), then a frame at 6000.
    now += Duration::from_millis(33);
    send(&mut e, now, 2, 10, 3000, true);
    now += Duration::from_millis(33);
    send(&mut e, now, 2, 11, 6000, false);
    // The viewer shrinks: layer 0's keyframe at capture tick 9000 takes over.
    e.set_preference(now, sub, LayerPreference::new(0, 2))
        .unwrap();
    now += Duration::from_millis(33);
    send(&mut e, now, 0, 20, 9000, true);
    send(&mut e, now, 2, 12, 9000, false);
    assert_eq!(e.subscription_stats(sub).unwrap().spatial, Some(0));
    // Outgoing timestamps are layer 2's clock throughout: 3000 ticks per frame.
    let base = out[0];
    let ticks: Vec<u32> = out.iter().map(|t| t.wrapping_sub(base)).collect();
    assert_eq!(ticks, vec![0, 3000, 6000]);
}
