//! Engine scenarios with hand-built VP8 simulcast packets: switching only on keyframes,
//! continuous sequence numbers and picture IDs, retransmission on NACK, feedback to the
//! publisher.

use std::time::{Duration, Instant};

use telesfu_core::engine::{
    Codec, DropReason, EncodingConfig, EngineConfig, ExtensionIds, LayerPreference, Mid,
    ParticipantConfig, SubscriptionConfig, TrackConfig,
};
use telesfu_core::rtcp::{self, RtcpPacket};
use telesfu_core::rtp::RtpPacket;
use telesfu_core::{Engine, Event, Input, ParticipantId, Ssrc};

mod common;
use common::{TWCC_ID, vp8};

fn t0() -> Instant {
    #[allow(clippy::disallowed_methods)]
    Instant::now()
}

struct Sim {
    e: Engine,
    now: Instant,
    publisher: ParticipantId,
    viewer: ParticipantId,
    buf: Vec<u8>,
}

impl Sim {
    fn drain(&mut self) -> Vec<(ParticipantId, Vec<u8>, bool)> {
        let mut out = vec![];
        while let Some(t) = self.e.poll_transmit(self.now, &mut self.buf) {
            out.push((t.to, self.buf[..t.len].to_vec(), t.rtcp));
        }
        out
    }
}

fn setup() -> (Sim, telesfu_core::TrackId, telesfu_core::SubscriptionId) {
    let now = t0();
    let mut e = Engine::new(EngineConfig::default(), now, 0xe000_0000_0000_0000, 7);
    let room = e.create_room();
    let mut ids = ExtensionIds::default();
    ids.transport_cc = Some(TWCC_ID);
    ids.mid = Some(1);
    let mut pc = ParticipantConfig::default();
    pc.extensions = ids;
    let publisher = e.add_participant(room, pc).unwrap();
    let viewer = e.add_participant(room, pc).unwrap();
    let encs = (0..3u32)
        .map(|i| EncodingConfig::ssrc(Ssrc(100 + i), Some(Ssrc(200 + i))))
        .collect();
    let track = e
        .publish(publisher, TrackConfig::new(Codec::Vp8, 96, Some(97), encs))
        .unwrap();
    let cfg = SubscriptionConfig::new(Ssrc(5000), 100)
        .with_rtx(Ssrc(5001), 101)
        .with_mid(Mid::new("v1").unwrap());
    let sub = e.subscribe(now, viewer, track, cfg).unwrap();
    (
        Sim {
            e,
            now,
            publisher,
            viewer,
            buf: vec![0; 1500],
        },
        track,
        sub,
    )
}

#[test]
fn switches_only_on_keyframes_with_continuous_numbering() {
    let (mut s, _track, sub) = setup();
    // Subscribing asked layer 2 (the default preference: everything) for a keyframe.
    let first = s.drain();
    let pli = first.iter().find(|(to, b, rtcp)| {
        *to == s.publisher
            && *rtcp
            && matches!(
                rtcp::parse_compound(b).next(),
                Some(Ok(RtcpPacket::Pli {
                    media_ssrc: 102,
                    ..
                }))
            )
    });
    assert!(pli.is_some(), "no PLI for the top layer");

    let mut seqs = [1000u16, 2000, 3000];
    let mut twcc = 0u16;
    let mut sent = vec![];
    // 10 frames of 2 packets on all three layers; layer 2 has a keyframe at frame 3.
    for f in 0..10u16 {
        for layer in 0..3u32 {
            for k in 0..2 {
                let key = f == 3 && layer == 2 || f == 0;
                let p = vp8(
                    100 + layer,
                    seqs[layer as usize],
                    3000 * u32::from(f) + layer * 777_777,
                    twcc,
                    10 * layer as u16 + f,
                    0,
                    key,
                    k == 0,
                    k == 1,
                );
                seqs[layer as usize] += 1;
                twcc += 1;
                s.e.handle_input(
                    s.now,
                    Input::Datagram {
                        from: s.publisher,
                        contents: &p,
                    },
                );
            }
        }
        s.now += Duration::from_millis(33);
        s.e.handle_input(s.now, Input::Timeout);
        for (to, b, rtcp) in s.drain() {
            if to == s.viewer && !rtcp {
                sent.push(b);
            }
        }
    }
    // Frames 0-2 were not decodable for layer 2 except frame 0's keyframe: the forwarder
    // started on layer 2 at frame 0 (all layers sent a keyframe there).
    let parsed: Vec<_> = sent.iter().map(|b| RtpPacket::parse(b).unwrap()).collect();
    assert!(
        parsed
            .iter()
            .all(|p| p.ssrc() == 5000 && p.payload_type() == 100)
    );
    for w in parsed.windows(2) {
        assert_eq!(
            w[1].sequence_number(),
            w[0].sequence_number().wrapping_add(1),
            "hole in output"
        );
    }
    assert_eq!(parsed.len(), 20, "layer 2 frames 0-9, 2 packets each");
    let ev: Vec<Event> = std::iter::from_fn(|| s.e.poll_event()).collect();
    assert!(ev.contains(&Event::LayerSwitched {
        subscription: sub,
        spatial: 2
    }));

    // Now the viewer shrinks: layer 0 wanted; until layer 0 sends a keyframe, layer 2 continues.
    s.e.set_preference(s.now, sub, LayerPreference::new(0, 2))
        .unwrap();
    let before = sent.len();
    for f in 10..14u16 {
        for layer in [0u32, 2] {
            for k in 0..2 {
                let key = f == 12 && layer == 0;
                let p = vp8(
                    100 + layer,
                    seqs[layer as usize],
                    3000 * u32::from(f) + layer * 777_777,
                    twcc,
                    10 * layer as u16 + f,
                    0,
                    key,
                    k == 0,
                    k == 1 && !(f == 11 && layer == 2),
                );
                seqs[layer as usize] += 1;
                twcc += 1;
                s.e.handle_input(
                    s.now,
                    Input::Datagram {
                        from: s.publisher,
                        contents: &p,
                    },
                );
            }
        }
        s.now += Duration::from_millis(33);
        for (to, b, rtcp) in s.drain() {
            if to == s.viewer && !rtcp {
                sent.push(b);
            }
        }
    }
    let tail: Vec<_> = sent[before - 1..]
        .iter()
        .map(|b| RtpPacket::parse(b).unwrap())
        .collect();
    // Frames 10, 11 from layer 2 (4 packets), then layer 0 from its keyframe at 12 (4 packets).
    assert_eq!(tail.len(), 1 + 8);
    // Frame 11 of layer 2 ended without a marker (cut short): one deliberate gap at the switch.
    let gaps: Vec<u16> = tail
        .windows(2)
        .map(|w| w[1].sequence_number().wrapping_sub(w[0].sequence_number()))
        .collect();
    assert_eq!(gaps, vec![1, 1, 1, 1, 2, 1, 1, 1]);
    // Timestamps keep moving forward across the switch (layers had unrelated offsets).
    let ts: Vec<u32> = tail.iter().map(|p| p.timestamp()).collect();
    assert!(
        ts.windows(2).all(|w| w[1].wrapping_sub(w[0]) < 90_000),
        "{ts:?}"
    );
    assert_eq!(s.e.stats().layer_switches, 2);
    assert!(s.e.stats().dropped(DropReason::NotCurrentLayer) > 0);
}

#[test]
fn nack_is_answered_with_rtx_and_publisher_gets_feedback() {
    let (mut s, _track, sub) = setup();
    let _ = s.drain();
    let mut out = vec![];
    for i in 0..6u16 {
        let p = vp8(102, 500 + i, 9000, i, 1, 0, true, i == 0, i == 5);
        s.e.handle_input(
            s.now,
            Input::Datagram {
                from: s.publisher,
                contents: &p,
            },
        );
    }
    for (to, b, rtcp) in s.drain() {
        if to == s.viewer && !rtcp {
            out.push(b);
        }
    }
    assert_eq!(out.len(), 6);
    let lost = RtpPacket::parse(&out[2]).unwrap().sequence_number();
    let mut nack = [0u8; 64];
    let n = rtcp::write_nack(&mut nack, 1, 5000, &[lost]).unwrap();
    s.e.handle_input(
        s.now,
        Input::Datagram {
            from: s.viewer,
            contents: &nack[..n],
        },
    );
    let rtx: Vec<_> = s
        .drain()
        .into_iter()
        .filter(|(to, _, rtcp)| *to == s.viewer && !rtcp)
        .collect();
    assert_eq!(rtx.len(), 1);
    let r = RtpPacket::parse(&rtx[0].1).unwrap();
    assert_eq!((r.ssrc(), r.payload_type()), (5001, 101));
    assert_eq!(&r.payload()[..2], &lost.to_be_bytes());
    assert_eq!(
        &r.payload()[2..],
        RtpPacket::parse(&out[2]).unwrap().payload()
    );
    assert_eq!(s.e.subscription_stats(sub).unwrap().retransmissions, 1);

    // Feedback timer: transport-wide CC toward the publisher covering its 6 packets.
    s.now += Duration::from_millis(60);
    s.e.handle_input(s.now, Input::Timeout);
    let fb: Vec<_> = s
        .drain()
        .into_iter()
        .filter(|(to, _, rtcp)| *to == s.publisher && *rtcp)
        .collect();
    let twcc = fb
        .iter()
        .find_map(|(_, b, _)| match rtcp::parse_compound(b).next() {
            Some(Ok(RtcpPacket::TransportCc(t))) => Some((t.base_seq, t.status_count)),
            _ => None,
        });
    assert_eq!(twcc, Some((0, 6)));
}

#[test]
fn upstream_loss_is_nacked_and_malformed_input_is_counted() {
    let (mut s, _, _) = setup();
    let _ = s.drain();
    for seq in [10u16, 11, 14] {
        let p = vp8(101, seq, 0, seq, 1, 0, false, false, false);
        s.e.handle_input(
            s.now,
            Input::Datagram {
                from: s.publisher,
                contents: &p,
            },
        );
    }
    s.now += Duration::from_millis(30);
    s.e.handle_input(s.now, Input::Timeout);
    let nacks: Vec<Vec<u16>> = s
        .drain()
        .into_iter()
        .filter(|(to, _, r)| *to == s.publisher && *r)
        .filter_map(|(_, b, _)| match rtcp::parse_compound(&b).next() {
            Some(Ok(RtcpPacket::Nack(n))) if n.media_ssrc == 101 => Some(n.lost().collect()),
            _ => None,
        })
        .collect();
    assert_eq!(nacks, vec![vec![12, 13]]);
    for junk in [
        &[0x80u8, 96, 0][..],
        &[0x90, 96, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xbe, 0xde, 0, 9],
    ] {
        s.e.handle_input(
            s.now,
            Input::Datagram {
                from: s.publisher,
                contents: junk,
            },
        );
    }
    assert_eq!(s.e.stats().dropped(DropReason::Malformed), 2);
}
