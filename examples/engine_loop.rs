//! The engine driven by hand: one publisher sends three simulcast layers (320x180, 640x360,
//! 1280x720 VP8), two subscribers ask for different layers, and time is advanced explicitly.
//! Halfway through, the small-tile viewer enlarges it: the engine asks the publisher for a
//! keyframe of the middle layer and switches on it.
//!
//! ```sh
//! cargo run -p telesfu-examples --example engine_loop
//! ```
//!
//! Everything a real server adds is left out and marked where it goes: sockets, SRTP, SDP,
//! the clock. The engine never reads a clock; `now` is this program's.

use std::time::{Duration, Instant};

use telesfu_core::engine::{
    Codec, EncodingConfig, LayerPreference, ParticipantConfig, SubscriptionConfig, TrackConfig,
};
use telesfu_core::{Engine, EngineConfig, Event, Input, Ssrc};

/// Width and height of each simulcast layer, lowest first.
const LAYERS: [(u16, u16); 3] = [(320, 180), (640, 360), (1280, 720)];
/// The publisher's SSRC per layer.
const SSRCS: [u32; 3] = [0x1000, 0x1001, 0x1002];
const PT: u8 = 96;

/// One VP8 frame in one RTP packet (a real encoder splits larger frames): a keyframe carries
/// the frame header with its size; the last payload byte tags the layer so that this program
/// can tell which layer a subscriber was sent.
fn vp8_packet(layer: usize, seq: u16, ts: u32, key: bool) -> Vec<u8> {
    let mut p = vec![0x80, 0x80 | PT];
    p.extend_from_slice(&seq.to_be_bytes());
    p.extend_from_slice(&ts.to_be_bytes());
    p.extend_from_slice(&SSRCS[layer].to_be_bytes());
    p.push(0x10); // VP8 payload descriptor: start of partition 0
    if key {
        let (w, h) = LAYERS[layer];
        p.extend_from_slice(&[0x50, 0x42, 0x00, 0x9d, 0x01, 0x2a]);
        p.extend_from_slice(&w.to_le_bytes());
        p.extend_from_slice(&h.to_le_bytes());
    } else {
        p.extend_from_slice(&[0x51, 0x42, 0x00]); // P bit set: an interframe
    }
    p.push(layer as u8);
    p
}

fn main() {
    #[allow(
        clippy::disallowed_methods,
        reason = "the driver's clock; the engine reads none"
    )]
    let start = Instant::now();
    let mut now = start;
    let mut engine = Engine::new(EngineConfig::default(), now, 0x5eed, 1);
    let room = engine.create_room();
    let add = |e: &mut Engine| e.add_participant(room, ParticipantConfig::default());
    let patient = add(&mut engine).expect("room exists");
    let small_tile = add(&mut engine).expect("room exists");
    let large_tile = add(&mut engine).expect("room exists");
    let encodings = SSRCS
        .iter()
        .map(|&s| EncodingConfig::ssrc(Ssrc(s), None))
        .collect();
    let camera = engine
        .publish(patient, TrackConfig::new(Codec::Vp8, PT, None, encodings))
        .expect("a valid track");
    // Each viewer gets the camera under its own SSRC, capped at the layer its tile needs.
    let subscribe = |e: &mut Engine, who, ssrc, spatial| {
        let mut c = SubscriptionConfig::new(Ssrc(ssrc), PT);
        c.preference = LayerPreference::new(spatial, u8::MAX);
        e.subscribe(now, who, camera, c)
    };
    let small = subscribe(&mut engine, small_tile, 0x2000, 0).expect("same room");
    subscribe(&mut engine, large_tile, 0x3000, 2).expect("same room");

    // 2 s at 30 frames per second on every layer; a keyframe at the start and whenever the
    // engine asks for one (a real publisher's encoder does that on the PLI the engine sends).
    let mut want_key = [true; 3];
    let mut sent = [[0u32; 3]; 2];
    let mut buf = [0u8; 1500];
    for frame in 0..60u16 {
        if frame == 30 {
            // The small tile was enlarged: it may now take the 640x360 layer.
            engine
                .set_preference(now, small, LayerPreference::new(1, u8::MAX))
                .expect("a live subscription");
        }
        for (layer, key) in want_key.iter_mut().enumerate() {
            let packet = vp8_packet(layer, frame, u32::from(frame) * 3000, *key);
            *key = false;
            // Normally: read from the socket, SRTP-unprotect, then hand it over.
            engine.handle_input(
                now,
                Input::Datagram {
                    from: patient,
                    contents: &packet,
                },
            );
        }
        // Drain in order: datagrams, then events, then the timer.
        while let Some(t) = engine.poll_transmit(now, &mut buf) {
            // Normally: SRTP-protect buf[..t.len] (SRTCP if t.rtcp) and send to t.to.
            let viewer = [small_tile, large_tile].iter().position(|&v| v == t.to);
            if let (Some(v), false) = (viewer, t.rtcp) {
                let layer = usize::from(buf[t.len - 1]);
                sent[v][layer] += 1;
            }
        }
        while let Some(event) = engine.poll_event() {
            match event {
                Event::KeyframeRequested { spatial, .. } => {
                    println!(
                        "{:>5} ms  keyframe requested for layer {spatial}",
                        ms(now, start)
                    );
                    want_key[usize::from(spatial)] = true;
                }
                Event::LayerSwitched {
                    subscription,
                    spatial,
                } => {
                    let who = if subscription == small {
                        "small"
                    } else {
                        "large"
                    };
                    println!(
                        "{:>5} ms  {who} tile now gets layer {spatial}",
                        ms(now, start)
                    );
                }
                _ => {}
            }
        }
        let next = now + Duration::from_millis(33);
        while let Some(t) = engine.poll_timeout().filter(|t| *t <= next) {
            now = t.max(now);
            engine.handle_input(now, Input::Timeout);
        }
        now = next;
    }

    println!("\nframes forwarded, by layer:");
    println!(
        "{:<12} {:>8} {:>8} {:>9}",
        "viewer", "320x180", "640x360", "1280x720"
    );
    for (name, s) in ["small tile", "large tile"].iter().zip(sent) {
        println!("{:<12} {:>8} {:>8} {:>9}", name, s[0], s[1], s[2]);
    }
    assert!(sent[0][0] > 0 && sent[0][1] > 0 && sent[0][2] == 0);
    assert!(sent[1][2] > 0 && sent[1][0] == 0);
}

fn ms(now: Instant, start: Instant) -> u128 {
    now.duration_since(start).as_millis()
}
