//! Engine behaviours beyond basic switching: temporal layers, padding, sender-report
//! timestamp alignment, RTT from receiver reports, active speaker.

mod common;

use std::time::{Duration, Instant};

use common::{TWCC_ID, opus, padding, vp8};
use telesfu_core::codec::Vp8Descriptor;
use telesfu_core::engine::{
    Codec, DropReason, EncodingConfig, EngineConfig, ExtensionIds, LayerPreference,
    ParticipantConfig, SubscriptionConfig, TrackConfig,
};
use telesfu_core::rtcp::{self, ReportBlock, RtcpPacket, SenderInfo};
use telesfu_core::rtp::RtpPacket;
use telesfu_core::{Engine, Event, Input, ParticipantId, Ssrc, SubscriptionId};

fn t0() -> Instant {
    #[allow(clippy::disallowed_methods)]
    Instant::now()
}

fn pc() -> ParticipantConfig {
    let mut ids = ExtensionIds::default();
    ids.transport_cc = Some(TWCC_ID);
    ids.audio_level = Some(4);
    let mut pc = ParticipantConfig::default();
    pc.extensions = ids;
    pc
}

struct Call {
    e: Engine,
    now: Instant,
    publisher: ParticipantId,
    viewer: ParticipantId,
    sub: SubscriptionId,
    buf: Vec<u8>,
}

impl Call {
    fn vp8(layers: u32, pref: LayerPreference) -> Self {
        let now = t0();
        let mut e = Engine::new(EngineConfig::default(), now, 0xe000_0000_0000_0000, 3);
        let room = e.create_room();
        let publisher = e.add_participant(room, pc()).unwrap();
        let viewer = e.add_participant(room, pc()).unwrap();
        let encs = (0..layers)
            .map(|i| EncodingConfig::ssrc(Ssrc(100 + i), None))
            .collect();
        let track = e
            .publish(publisher, TrackConfig::new(Codec::Vp8, 96, None, encs))
            .unwrap();
        let mut cfg = SubscriptionConfig::new(Ssrc(5000), 96);
        cfg.preference = pref;
        let sub = e.subscribe(now, viewer, track, cfg).unwrap();
        Self {
            e,
            now,
            publisher,
            viewer,
            sub,
            buf: vec![0; 1500],
        }
    }

    fn send(&mut self, from: ParticipantId, p: &[u8]) {
        self.e
            .handle_input(self.now, Input::Datagram { from, contents: p });
    }

    /// Media packets and RTCP datagrams sent to `to` since the last call.
    fn drain_to(&mut self, to: ParticipantId) -> (Vec<Vec<u8>>, Vec<Vec<u8>>) {
        let (mut media, mut rtcp) = (vec![], vec![]);
        while let Some(t) = self.e.poll_transmit(self.now, &mut self.buf) {
            if t.to == to {
                let b = self.buf[..t.len].to_vec();
                if t.rtcp { rtcp.push(b) } else { media.push(b) }
            }
        }
        (media, rtcp)
    }
}

/// What Chromium sends with an encoded transform attached (our E2EE): a one-byte VP8
/// descriptor (no PictureID, TL0PICIDX or TID), with the N bit on frames nothing references.
fn vp8_short(
    seq: u16,
    ts: u32,
    key: bool,
    non_reference: bool,
    start: bool,
    marker: bool,
) -> Vec<u8> {
    let mut p = vec![0x80, 96 | if marker { 0x80 } else { 0 }];
    p.extend_from_slice(&seq.to_be_bytes());
    p.extend_from_slice(&ts.to_be_bytes());
    p.extend_from_slice(&100u32.to_be_bytes());
    p.push(if start { 0x10 } else { 0 } | if non_reference { 0x20 } else { 0 });
    if start {
        if key {
            p.extend_from_slice(&[0x50, 0x42, 0x00, 0x9d, 0x01, 0x2a, 0x80, 0x02, 0x68, 0x01]);
        } else {
            p.extend_from_slice(&[0x51, 0x42, 0x00]);
        }
    }
    p.extend_from_slice(&[0xaa; 100]);
    p
}

#[test]
fn without_a_tid_non_reference_frames_are_temporal_layer_one() {
    let mut c = Call::vp8(1, LayerPreference::new(0, 0));
    // L1T3 as Chromium sends it under an encoded transform: T0 T2 T1 T2, where only the T2
    // frames carry N. Two packets per frame.
    let mut seq = 0u16;
    for f in 0..12u32 {
        let n = f % 2 == 1;
        for k in 0..2 {
            let p = vp8_short(seq, f * 3000, f == 0, n, k == 0, k == 1);
            seq += 1;
            c.send(c.publisher, &p);
        }
    }
    let (media, _) = c.drain_to(c.viewer);
    let pkts: Vec<RtpPacket<'_>> = media.iter().map(|b| RtpPacket::parse(b).unwrap()).collect();
    // Six referenced frames, twelve packets, numbered without a gap; the N frames dropped.
    assert_eq!(pkts.len(), 12);
    assert!(
        pkts.windows(2)
            .all(|w| w[1].sequence_number() == w[0].sequence_number().wrapping_add(1))
    );
    assert!(pkts.iter().all(|p| p.payload()[0] & 0x20 == 0));
    assert_eq!(c.e.stats().dropped(DropReason::TemporalLayer), 12);

    // Raising the ceiling lets the N frames through again.
    c.e.set_preference(c.now, c.sub, LayerPreference::new(0, 2))
        .unwrap();
    for f in 12..16u32 {
        let p = vp8_short(seq, f * 3000, false, f % 2 == 1, true, true);
        seq += 1;
        c.send(c.publisher, &p);
    }
    let (media, _) = c.drain_to(c.viewer);
    assert_eq!(media.len(), 4);
}

#[test]
fn temporal_layers_are_dropped_by_tid_with_continuous_numbers() {
    let mut c = Call::vp8(1, LayerPreference::new(0, 0));
    // L1T3 pattern T0 T2 T1 T2, two packets per frame; picture IDs 0..12 in the source.
    let mut seq = 0u16;
    for f in 0..12u16 {
        let tid = [0, 2, 1, 2][usize::from(f % 4)];
        for k in 0..2 {
            let p = vp8(
                100,
                seq,
                u32::from(f) * 3000,
                seq,
                f,
                tid,
                f == 0,
                k == 0,
                k == 1,
            );
            seq += 1;
            c.send(c.publisher, &p);
        }
    }
    let (media, _) = c.drain_to(c.viewer);
    let pkts: Vec<RtpPacket<'_>> = media.iter().map(|b| RtpPacket::parse(b).unwrap()).collect();
    // Only the three T0 frames (0, 4, 8) are forwarded, six packets.
    assert_eq!(pkts.len(), 6);
    assert!(
        pkts.windows(2)
            .all(|w| w[1].sequence_number() == w[0].sequence_number().wrapping_add(1))
    );
    let pics: Vec<u16> = pkts
        .iter()
        .filter_map(|p| {
            Vp8Descriptor::parse(p.payload())
                .ok()?
                .picture_id
                .map(|(v, _)| v)
        })
        .collect();
    assert_eq!(
        pics,
        vec![0, 0, 1, 1, 2, 2],
        "picture IDs must stay consecutive"
    );
    assert_eq!(c.e.stats().dropped(DropReason::TemporalLayer), 18);

    // Raising the ceiling takes effect at the next T0 frame, not in the middle of a pattern.
    c.e.set_preference(c.now, c.sub, LayerPreference::new(0, 2))
        .unwrap();
    for f in 12..20u16 {
        let tid = [0, 2, 1, 2][usize::from(f % 4)];
        let p = vp8(
            100,
            seq,
            u32::from(f) * 3000,
            seq,
            f,
            tid,
            false,
            true,
            true,
        );
        seq += 1;
        c.send(c.publisher, &p);
    }
    let (media, _) = c.drain_to(c.viewer);
    assert_eq!(media.len(), 8);
    let pics: Vec<u16> = media
        .iter()
        .filter_map(|b| {
            Vp8Descriptor::parse(RtpPacket::parse(b).ok()?.payload())
                .ok()?
                .picture_id
                .map(|(v, _)| v)
        })
        .collect();
    assert_eq!(pics, (3..11).collect::<Vec<u16>>());
}

#[test]
fn padding_only_packets_are_dropped_without_holes() {
    let mut c = Call::vp8(1, LayerPreference::ALL);
    c.send(c.publisher, &vp8(100, 10, 0, 0, 1, 0, true, true, true));
    c.send(c.publisher, &padding(100, 11, 0));
    c.send(c.publisher, &padding(100, 12, 0));
    c.send(c.publisher, &vp8(100, 13, 3000, 1, 2, 0, false, true, true));
    let (media, _) = c.drain_to(c.viewer);
    let seqs: Vec<u16> = media
        .iter()
        .map(|b| RtpPacket::parse(b).unwrap().sequence_number())
        .collect();
    assert_eq!(seqs.len(), 2);
    assert_eq!(seqs[1], seqs[0].wrapping_add(1));
    assert_eq!(c.e.stats().dropped(DropReason::PaddingOnly), 2);
}

#[test]
fn layer_switch_aligns_timestamps_from_sender_reports() {
    let mut c = Call::vp8(2, LayerPreference::new(1, 2));
    // Layer 0 and 1 sample the same clock with different random offsets.
    let (off0, off1) = (1_000_000u32, 3_000_000_000u32);
    let ntp = 0xe000_0000_0000_0000u64;
    for (ssrc, off) in [(100u32, off0), (101, off1)] {
        let mut b = [0u8; 64];
        let info = SenderInfo {
            ssrc,
            ntp_time: ntp,
            rtp_time: off,
            packet_count: 0,
            octet_count: 0,
        };
        let n = rtcp::write_sender_report(&mut b, &info, &[]).unwrap();
        c.send(c.publisher, &b[..n]);
    }
    // Start on layer 1 (target), frame at capture time 0.
    c.send(c.publisher, &vp8(101, 0, off1, 0, 0, 0, true, true, true));
    let (m, _) = c.drain_to(c.viewer);
    let ts_first = RtpPacket::parse(&m[0]).unwrap().timestamp();
    // Viewer shrinks to layer 0; its keyframe is captured 10 frames (30000 ticks) later.
    c.e.set_preference(c.now, c.sub, LayerPreference::new(0, 2))
        .unwrap();
    c.now += Duration::from_millis(500); // arrival time deliberately unrelated to capture time
    c.send(
        c.publisher,
        &vp8(100, 0, off0.wrapping_add(30_000), 1, 0, 0, true, true, true),
    );
    let (m, _) = c.drain_to(c.viewer);
    let ts_after = RtpPacket::parse(&m[0]).unwrap().timestamp();
    assert_eq!(
        ts_after.wrapping_sub(ts_first),
        30_000,
        "capture clocks were not aligned"
    );
}

#[test]
fn receiver_reports_give_rtt_loss_and_jitter() {
    let mut c = Call::vp8(1, LayerPreference::ALL);
    c.send(c.publisher, &vp8(100, 1, 0, 0, 1, 0, true, true, true));
    c.now += Duration::from_secs(1);
    c.e.handle_input(c.now, Input::Timeout);
    let (_, rtcp_out) = c.drain_to(c.viewer);
    let sr_ntp = rtcp_out
        .iter()
        .find_map(|b| match rtcp::parse_compound(b).next() {
            Some(Ok(RtcpPacket::SenderReport(sr))) if sr.ssrc() == 5000 => Some(sr.ntp_time()),
            _ => None,
        })
        .expect("no sender report for the subscription");
    // The viewer answers 80 ms later, having held the SR for 20 ms: RTT 60 ms.
    c.now += Duration::from_millis(80);
    let block = ReportBlock {
        ssrc: 5000,
        fraction_lost: 64,
        cumulative_lost: 3,
        extended_highest_seq: 1,
        jitter: 900,
        last_sr: (sr_ntp >> 16) as u32,
        delay_since_last_sr: 65536 / 50,
    };
    let mut b = [0u8; 64];
    let n = rtcp::write_receiver_report(&mut b, 77, &[block]).unwrap();
    c.send(c.viewer, &b[..n]);
    let st = c.e.subscription_stats(c.sub).unwrap();
    let rtt = st.rtt.unwrap().as_millis();
    assert!((59..=61).contains(&rtt), "rtt {rtt} ms");
    assert_eq!(st.fraction_lost, 0.25);
    assert!((st.jitter_ms - 10.0).abs() < 0.01);
}

#[test]
fn the_loudest_participant_becomes_active_speaker_with_hysteresis() {
    let now = t0();
    let mut e = Engine::new(EngineConfig::default(), now, 1 << 63, 5);
    let room = e.create_room();
    let a = e.add_participant(room, pc()).unwrap();
    let b = e.add_participant(room, pc()).unwrap();
    for (p, ssrc) in [(a, 1u32), (b, 2)] {
        e.publish(
            p,
            TrackConfig::new(
                Codec::Opus,
                111,
                None,
                vec![EncodingConfig::ssrc(Ssrc(ssrc), None)],
            ),
        )
        .unwrap();
    }
    let mut now = now;
    let mut speakers = vec![];
    // 2 s with A loud (level 20 = -20 dBov) and B quiet, then 2 s the other way round.
    for step in 0..200u32 {
        let (la, lb) = if step < 100 { (20, 90) } else { (90, 20) };
        let seq = step as u16;
        e.handle_input(
            now,
            Input::Datagram {
                from: a,
                contents: &opus(1, seq, step * 960, seq, la),
            },
        );
        e.handle_input(
            now,
            Input::Datagram {
                from: b,
                contents: &opus(2, seq, step * 960, seq, lb),
            },
        );
        now += Duration::from_millis(20);
        e.handle_input(now, Input::Timeout);
        while let Some(ev) = e.poll_event() {
            if let Event::ActiveSpeaker { participant, .. } = ev {
                speakers.push((step, participant));
            }
        }
    }
    assert_eq!(speakers.len(), 2, "{speakers:?}");
    assert_eq!(speakers[0].1, a);
    assert_eq!(speakers[1].1, b);
    // B must be loudest for two 300 ms intervals before taking over.
    assert!(
        speakers[1].0 >= 100 + 15,
        "switched after {} steps",
        speakers[1].0 - 100
    );
}

/// A packet with one-byte extensions (transport-cc id 3, rid or repaired-rid) and a VP8 keyframe
/// payload (with `osn` first when it is RTX).
fn with_rid(ssrc: u32, pt: u8, seq: u16, ext_id: u8, rid: &[u8], osn: Option<u16>) -> Vec<u8> {
    let mut ext = vec![
        (TWCC_ID << 4) | 1,
        0,
        seq as u8,
        (ext_id << 4) | (rid.len() as u8 - 1),
    ];
    ext.extend_from_slice(rid);
    while ext.len() % 4 != 0 {
        ext.push(0);
    }
    let mut p = vec![0x90, 0x80 | pt];
    p.extend_from_slice(&seq.to_be_bytes());
    p.extend_from_slice(&9000u32.to_be_bytes());
    p.extend_from_slice(&ssrc.to_be_bytes());
    p.extend_from_slice(&[0xbe, 0xde]);
    p.extend_from_slice(&((ext.len() / 4) as u16).to_be_bytes());
    p.extend_from_slice(&ext);
    if let Some(o) = osn {
        p.extend_from_slice(&o.to_be_bytes());
    }
    p.extend_from_slice(&[0x90, 0x80, 0x80, 0x05, 0x10]);
    p.extend_from_slice(&[0x50, 0x42, 0x00, 0x9d, 0x01, 0x2a, 0x80, 0x02, 0x68, 0x01]);
    p.extend_from_slice(&[0x77; 50]);
    p
}

#[test]
fn simulcast_by_rid_learns_ssrcs_and_unwraps_repaired_rid_rtx() {
    use telesfu_core::engine::Rid;
    let now = t0();
    let mut e = Engine::new(EngineConfig::default(), now, 1 << 63, 11);
    let room = e.create_room();
    let mut ids = ExtensionIds::default();
    ids.transport_cc = Some(TWCC_ID);
    ids.rid = Some(10);
    ids.repaired_rid = Some(11);
    let mut pcfg = ParticipantConfig::default();
    pcfg.extensions = ids;
    let publisher = e.add_participant(room, pcfg).unwrap();
    let viewer = e.add_participant(room, pc()).unwrap();
    let encs = ["q", "h", "f"]
        .iter()
        .map(|r| EncodingConfig::rid(Rid::new(r).unwrap()))
        .collect();
    let track = e
        .publish(publisher, TrackConfig::new(Codec::Vp8, 96, Some(97), encs))
        .unwrap();
    let mut cfg = SubscriptionConfig::new(Ssrc(5000), 96);
    cfg.preference = LayerPreference::new(1, 2);
    let sub = e.subscribe(now, viewer, track, cfg).unwrap();
    let mut buf = vec![0u8; 1500];
    let mut media = vec![];
    let mut drain = |e: &mut Engine, media: &mut Vec<Vec<u8>>| {
        while let Some(t) = e.poll_transmit(now, &mut buf) {
            if t.to == viewer && !t.rtcp {
                media.push(buf[..t.len].to_vec());
            }
        }
    };
    // Unknown SSRCs announce themselves by rid: 0xA (q), 0xB (h).
    e.handle_input(
        now,
        Input::Datagram {
            from: publisher,
            contents: &with_rid(0xA, 96, 1, 10, b"q", None),
        },
    );
    e.handle_input(
        now,
        Input::Datagram {
            from: publisher,
            contents: &with_rid(0xB, 96, 1, 10, b"h", None),
        },
    );
    drain(&mut e, &mut media);
    assert_eq!(media.len(), 1, "only layer 1 ('h') is wanted");
    assert_eq!(e.subscription_stats(sub).unwrap().spatial, Some(1));
    // Layer 1's packet 2 is lost and arrives as RTX on a new SSRC named by repaired-rid.
    e.handle_input(
        now,
        Input::Datagram {
            from: publisher,
            contents: &with_rid(0xB, 96, 3, 10, b"h", None),
        },
    );
    e.handle_input(
        now,
        Input::Datagram {
            from: publisher,
            contents: &with_rid(0xBB, 97, 50, 11, b"h", Some(2)),
        },
    );
    drain(&mut e, &mut media);
    let seqs: Vec<u16> = media
        .iter()
        .map(|b| RtpPacket::parse(b).unwrap().sequence_number())
        .collect();
    assert_eq!(seqs.len(), 3);
    // The repaired packet takes its original place in the outgoing sequence.
    assert_eq!(seqs[2], seqs[0].wrapping_add(1));
    assert_eq!(seqs[1], seqs[0].wrapping_add(2));
    let p = RtpPacket::parse(&media[2]).unwrap();
    assert_eq!((p.ssrc(), p.payload_type()), (5000, 96));
    assert_eq!(e.stats().dropped(DropReason::UnknownSsrc), 0);
}

/// A room hook while bandwidth allocation is off would never be consulted: the engine says so
/// instead of keeping it silently.
#[test]
fn a_room_hook_needs_bandwidth_allocation_on() {
    let now = t0();
    let mut e = Engine::new(EngineConfig::default(), now, 1 << 63, 9);
    let room = e.create_room();
    let hook = || Box::new(telesfu_core::alloc::DefaultHook);
    assert_eq!(
        e.set_room_hook(room, hook()),
        Err(telesfu_core::engine::Error::BandwidthOff)
    );
    let mut config = EngineConfig::default();
    config.bandwidth.enabled = true;
    let mut e = Engine::new(config, now, 1 << 63, 9);
    let room = e.create_room();
    assert_eq!(e.set_room_hook(room, hook()), Ok(()));
}
