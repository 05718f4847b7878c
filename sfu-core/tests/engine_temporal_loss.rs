//! Temporal-layer filtering when packets are lost on the way in: the decision to forward or
//! drop a frame must not depend on having seen the frame's first packet, and dropping a frame
//! must not leave holes in the subscriber's sequence numbers.

use std::time::{Duration, Instant};

use telesfu_core::engine::{
    Codec, EncodingConfig, EngineConfig, ExtensionIds, LayerPreference, ParticipantConfig,
    SubscriptionConfig, TrackConfig,
};
use telesfu_core::rtp::RtpPacket;
use telesfu_core::{Engine, Input, ParticipantId, Ssrc};

mod common;
use common::{TWCC_ID, vp8};

struct Setup {
    e: Engine,
    now: Instant,
    publisher: ParticipantId,
    viewer: ParticipantId,
}

impl Setup {
    fn new(pref: LayerPreference) -> Self {
        #[allow(clippy::disallowed_methods)]
        let now = Instant::now();
        let mut e = Engine::new(EngineConfig::default(), now, 1 << 40, 7);
        let room = e.create_room();
        let mut ids = ExtensionIds::default();
        ids.transport_cc = Some(TWCC_ID);
        let mut pc = ParticipantConfig::default();
        pc.extensions = ids;
        let publisher = e.add_participant(room, pc).unwrap();
        let viewer = e.add_participant(room, pc).unwrap();
        let enc = vec![EncodingConfig::ssrc(Ssrc(100), None)];
        let track = e
            .publish(publisher, TrackConfig::new(Codec::Vp8, 96, None, enc))
            .unwrap();
        let mut cfg = SubscriptionConfig::new(Ssrc(5000), 96);
        cfg.preference = pref;
        e.subscribe(now, viewer, track, cfg).unwrap();
        Self {
            e,
            now,
            publisher,
            viewer,
        }
    }

    /// Feeds packet `seq` of frame `frame` (2 packets per frame: `2 * frame` starts it,
    /// `2 * frame + 1` ends it) with temporal layer `tid`; returns (out seq, in seq) of what
    /// the viewer gets (padding-only packets, which fill reserved numbers, report in seq
    /// `u16::MAX`).
    fn feed(&mut self, seq: u16, tid: u8) -> Vec<(u16, u16)> {
        let frame = seq / 2;
        let start = seq.is_multiple_of(2);
        let p = vp8(
            100,
            seq,
            3000 * u32::from(frame),
            seq,
            frame,
            tid,
            frame == 0,
            start,
            !start,
        );
        self.now += Duration::from_millis(10);
        self.e.handle_input(
            self.now,
            Input::Datagram {
                from: self.publisher,
                contents: &p,
            },
        );
        let mut buf = [0u8; 1500];
        let mut out = vec![];
        while let Some(t) = self.e.poll_transmit(self.now, &mut buf) {
            if t.to == self.viewer && !t.rtcp {
                let r = RtpPacket::parse(&buf[..t.len]).unwrap();
                // The payload's picture ID is the frame number (rewritten with an offset).
                let what = if r.is_padding_only() { u16::MAX } else { seq };
                out.push((r.sequence_number(), what));
            }
        }
        out
    }
}

/// Ceiling T1. Frames (2 packets each): 0 key T0, 1 T2, 2 T1, 3 T2, 4 T0, 5 T2. Frame 1 (T2)
/// and frame 4 (T0) lose their first packet on the way in; the repairs come last. Returns
/// (out seq relative to the first, in seq) of what the viewer gets.
fn lose_first_packets() -> Vec<(u16, u16)> {
    let tids = [0u8, 2, 1, 2, 0, 2];
    let mut s = Setup::new(LayerPreference::new(0, 1));
    let mut got = vec![];
    for seq in [0u16, 1, 3, 4, 5, 6, 7, 9, 10, 11, 2, 8] {
        got.extend(s.feed(seq, tids[usize::from(seq / 2)]));
    }
    let first = got[0].0;
    got.iter()
        .map(|&(o, i)| (o.wrapping_sub(first), i))
        .collect()
}

#[test]
fn frames_are_filtered_by_their_own_layer_when_their_first_packet_is_lost() {
    let got = lose_first_packets();
    let ins: Vec<u16> = got.iter().map(|g| g.1).filter(|i| *i != u16::MAX).collect();
    // Frames 0, 2 and 4 whole (4's first packet late), nothing of 1, 3 or 5: frame 1's
    // second packet is not forwarded, frame 4's is.
    assert_eq!(ins, vec![0, 1, 4, 5, 9, 8]);
    // Frame 4's late first packet lands right before its second.
    let four: Vec<u16> = got
        .iter()
        .filter(|g| (8..=9).contains(&g.1))
        .map(|g| g.0)
        .collect();
    assert_eq!(four, vec![four[1] + 1, four[1]]);
}

/// The number the forwarder kept for frame 1's lost first packet is filled when its repair
/// arrives and turns out to be filtered: a padding-only packet goes out under it, so the viewer
/// sees no hole (and does not NACK in vain).
#[test]
fn filtered_frames_leave_no_holes() {
    let got = lose_first_packets();
    let mut outs: Vec<u16> = got.iter().map(|g| g.0).collect();
    outs.sort_unstable();
    assert_eq!(outs, (0..7).collect::<Vec<u16>>());
    assert_eq!(got.iter().filter(|g| g.1 == u16::MAX).count(), 1);
}
