//! Media pacing in the engine (issue 10 item 2): a keyframe burst to a subscriber leaves
//! spread over its transmission time at the pacing rate, audio is not held behind it, and a
//! subscription whose video waits too long skips to the next keyframe with its sequence
//! numbers still consistent.

mod common;

use std::time::{Duration, Instant};

use common::{TWCC_ID, opus, vp8};
use telesfu_core::codec::Vp8Descriptor;
use telesfu_core::engine::{
    Codec, DropReason, EncodingConfig, EngineConfig, ExtensionIds, ParticipantConfig,
    SubscriptionConfig, TrackConfig,
};
use telesfu_core::rtp::RtpPacket;
use telesfu_core::{Engine, Input, ParticipantId, Ssrc};

/// Video SSRC of the publisher.
const VIDEO: u32 = 10;
/// Audio SSRC of the publisher.
const AUDIO: u32 = 20;
/// Bytes per video packet.
const SIZE: usize = 1000;
/// The viewer negotiates no transport-wide CC, so its estimate stays at the estimator's
/// start (300 kbit/s, no REMB arrives) and the pacing rate at 2.5 times that.
const RATE: f64 = 750_000.0;

struct Rig {
    e: Engine,
    now: Instant,
    publisher: ParticipantId,
    viewer: ParticipantId,
    buf: Vec<u8>,
    /// What the viewer was sent: when, and the datagram.
    got: Vec<(Instant, Vec<u8>)>,
    seq: u16,
    aseq: u16,
    twcc: u16,
}

impl Rig {
    fn new(config: EngineConfig) -> Self {
        #[allow(clippy::disallowed_methods)]
        let now = Instant::now();
        let mut e = Engine::new(config, now, 1 << 63, 1);
        let room = e.create_room();
        let mut ids = ExtensionIds::default();
        ids.transport_cc = Some(TWCC_ID);
        let mut pc = ParticipantConfig::default();
        pc.extensions = ids;
        let publisher = e.add_participant(room, pc).unwrap();
        let video = e
            .publish(
                publisher,
                TrackConfig::new(
                    Codec::Vp8,
                    96,
                    None,
                    vec![EncodingConfig::ssrc(Ssrc(VIDEO), None)],
                ),
            )
            .unwrap();
        let audio = e
            .publish(
                publisher,
                TrackConfig::new(
                    Codec::Opus,
                    111,
                    None,
                    vec![EncodingConfig::ssrc(Ssrc(AUDIO), None)],
                ),
            )
            .unwrap();
        let viewer = e
            .add_participant(room, ParticipantConfig::default())
            .unwrap();
        e.subscribe(now, viewer, video, SubscriptionConfig::new(Ssrc(1000), 96))
            .unwrap();
        e.subscribe(now, viewer, audio, SubscriptionConfig::new(Ssrc(2000), 111))
            .unwrap();
        Self {
            e,
            now,
            publisher,
            viewer,
            buf: vec![0; 1500],
            got: Vec::new(),
            seq: 0,
            aseq: 0,
            twcc: 0,
        }
    }

    fn input(&mut self, p: &[u8]) {
        self.e.handle_input(
            self.now,
            Input::Datagram {
                from: self.publisher,
                contents: p,
            },
        );
        self.drain();
    }

    fn drain(&mut self) {
        while let Some(t) = self.e.poll_transmit(self.now, &mut self.buf) {
            if !t.rtcp && t.to == self.viewer {
                self.got.push((self.now, self.buf[..t.len].to_vec()));
            }
        }
    }

    /// Runs the engine's timers (the pacer's among them) up to `until`, as a driver that
    /// follows `poll_timeout` does.
    fn run_until(&mut self, until: Instant) {
        loop {
            self.drain();
            let next = self.e.poll_timeout().expect("the engine always has timers");
            assert!(next > self.now, "poll_timeout did not move after a drain");
            if next > until {
                self.now = until;
                self.drain();
                return;
            }
            self.now = next;
            self.e.handle_input(self.now, Input::Timeout);
        }
    }

    /// One video frame of `packets` packets with picture ID `pic`, captured at `ts`.
    fn frame(&mut self, pic: u16, ts: u32, packets: usize, key: bool) {
        for k in 0..packets {
            let mut p = vp8(
                VIDEO,
                self.seq,
                ts,
                self.twcc,
                pic,
                0,
                key,
                k == 0,
                k + 1 == packets,
            );
            p.resize(SIZE, 0xaa);
            self.seq = self.seq.wrapping_add(1);
            self.twcc = self.twcc.wrapping_add(1);
            self.input(&p);
        }
    }

    fn audio(&mut self, ts: u32) {
        let p = opus(AUDIO, self.aseq, ts, self.twcc, 30);
        self.aseq = self.aseq.wrapping_add(1);
        self.twcc = self.twcc.wrapping_add(1);
        self.input(&p);
    }

    /// Video packets the viewer got: (when, seq, marker, starts a keyframe, RTP timestamp).
    fn video(&self) -> Vec<(Instant, u16, bool, bool, u32)> {
        self.got
            .iter()
            .filter_map(|(at, d)| {
                let p = RtpPacket::parse(d).ok()?;
                (p.ssrc() == 1000).then(|| {
                    let key = Vp8Descriptor::parse(p.payload())
                        .is_ok_and(|v| v.keyframe && v.start_of_partition);
                    (*at, p.sequence_number(), p.marker(), key, p.timestamp())
                })
            })
            .collect()
    }
}

fn config(pacing: bool) -> EngineConfig {
    let mut c = EngineConfig::default();
    c.bandwidth.enabled = true;
    c.bandwidth.probing = false;
    c.bandwidth.pacing.enabled = pacing;
    c
}

#[test]
fn a_keyframe_burst_leaves_spread_over_its_transmission_time() {
    let n = 30;
    for pacing in [false, true] {
        let mut r = Rig::new(config(pacing));
        r.frame(0, 0, n, true);
        let t0 = r.now;
        r.run_until(t0 + Duration::from_secs(1));
        let v = r.video();
        assert_eq!(v.len(), n, "pacing {pacing}: all of the keyframe arrives");
        let span = v.last().unwrap().0 - v[0].0;
        let most_at_once = v
            .iter()
            .map(|a| v.iter().filter(|b| b.0 == a.0).count())
            .max()
            .unwrap();
        println!("pacing {pacing}: {n} packets over {span:?}, at most {most_at_once} at once");
        if pacing {
            // n × 1000 bytes at 750 kbit/s = 320 ms, less the 5 ms burst and one slot.
            let ideal = n as f64 * SIZE as f64 * 8.0 / RATE;
            let s = span.as_secs_f64();
            assert!(
                (0.9 * ideal..=ideal).contains(&s),
                "spread over {span:?}, ideal {ideal:.3} s"
            );
            assert!(most_at_once <= 2, "{most_at_once} packets in one instant");
        } else {
            assert_eq!(span, Duration::ZERO, "unpaced, the burst leaves at once");
        }
    }
}

#[test]
fn audio_is_not_held_behind_a_keyframe() {
    let mut r = Rig::new(config(true));
    r.frame(0, 0, 30, true);
    let t0 = r.now;
    for i in 1..=10u32 {
        let at = t0 + Duration::from_millis(u64::from(i) * 20);
        r.run_until(at);
        r.audio(i * 960);
    }
    r.run_until(t0 + Duration::from_secs(1));
    let audio: Vec<Instant> = r
        .got
        .iter()
        .filter(|(_, d)| RtpPacket::parse(d).is_ok_and(|p| p.ssrc() == 2000))
        .map(|(t, _)| *t)
        .collect();
    assert_eq!(audio.len(), 10);
    for (i, t) in audio.iter().enumerate() {
        let sent = t0 + Duration::from_millis((i as u64 + 1) * 20);
        assert_eq!(*t, sent, "audio packet {i} waited behind video");
    }
    // The video was still leaving while the audio went.
    assert!(r.video().last().unwrap().0 > t0 + Duration::from_millis(200));
}

/// Video at 1.9 Mbit/s into a 750 kbit/s pacing rate for 6 s, a keyframe every second: the
/// queue grows until its oldest packet is `max_queue_delay` old, then the subscription skips
/// to the next keyframe. Returns (largest delay from capture to sending, the viewer's
/// packets, the rig).
fn overload(max_queue_delay: Duration) -> (Duration, Rig) {
    let mut c = config(true);
    c.bandwidth.pacing.max_queue_delay = max_queue_delay;
    let mut r = Rig::new(c);
    let start = r.now;
    for f in 0..180u32 {
        let at = start + Duration::from_millis(u64::from(f) * 100 / 3);
        r.run_until(at);
        r.frame(f as u16, f * 3000, 8, f % 30 == 0);
    }
    r.run_until(start + Duration::from_secs(20));
    // Capture time from the RTP timestamp: the engine keeps the publisher's timestamps on a
    // single-encoding track until it restarts, and a restart only moves them forward by the
    // time it skipped, so this is a lower bound of the real capture time.
    let delay = r
        .video()
        .iter()
        .map(|&(at, _, _, _, ts)| {
            let captured = start + Duration::from_micros(u64::from(ts) * 1000 / 90);
            at.saturating_duration_since(captured)
        })
        .max()
        .unwrap();
    (delay, r)
}

#[test]
fn video_that_waits_too_long_skips_to_the_next_keyframe() {
    let (unbounded, u) = overload(Duration::from_secs(3600));
    let (bounded, r) = overload(Duration::from_millis(400));
    let s = r.e.stats();
    println!(
        "largest queueing delay: {unbounded:?} without the bound, {bounded:?} with it; {} \
         flushes, {} packets dropped, {} keyframe requests (unbounded: {})",
        s.pacer_flushes,
        s.dropped(DropReason::PacerQueue),
        s.keyframe_requests,
        u.e.stats().keyframe_requests,
    );
    assert!(unbounded > Duration::from_secs(3), "{unbounded:?}");
    assert_eq!(u.e.stats().dropped(DropReason::PacerQueue), 0);
    // The bound, plus the keyframe that may go over it (its packets are never the reason to
    // drop) and the frame interval.
    assert!(bounded <= Duration::from_millis(550), "{bounded:?}");
    assert!(s.pacer_flushes >= 2, "{} flushes", s.pacer_flushes);
    assert!(s.dropped(DropReason::PacerQueue) > 0);
    assert!(s.keyframe_requests > u.e.stats().keyframe_requests);
    // What the viewer got stays consistent: sequence numbers go up by one, except one
    // deliberate gap right before a keyframe after a frame cut short, exactly as at a layer
    // switch.
    let v = r.video();
    let mut keys_after_gap = 0;
    for w in v.windows(2) {
        let (a, b) = (w[0], w[1]);
        match b.1.wrapping_sub(a.1) {
            1 => {}
            2 => {
                assert!(b.3 && !a.2, "a gap not before a keyframe: {a:?} -> {b:?}");
                keys_after_gap += 1;
            }
            d => panic!("sequence jumped by {d}: {a:?} -> {b:?}"),
        }
        if b.3 {
            // A keyframe follows a frame that ended, or the one deliberate gap.
            assert!(a.2 || b.1.wrapping_sub(a.1) == 2, "{a:?} -> {b:?}");
        } else if !a.2 {
            // Inside a frame: same timestamp.
            assert_eq!(a.4, b.4, "a frame split across a restart: {a:?} -> {b:?}");
        }
        assert!(b.4.wrapping_sub(a.4) < 1 << 31, "timestamps went backwards");
    }
    println!("{keys_after_gap} keyframes after a deliberate gap");
}
