//! `forward`: one publisher's VP8 packet to N = 1, 10, 100 subscribers.
//!
//! Three rows per N, one run:
//! - `telesfu-engine`: `Engine::handle_input` of the packet, then `poll_transmit` N times (each
//!   writes the subscriber's rewritten copy into the caller's buffer);
//! - `baseline-copy-rewrite`: the physical limit — copy the packet N times and rewrite SSRC,
//!   sequence number and timestamp in place;
//! - `rtp-crate`: the peer — what an SFU on webrtc-rs does per subscriber: `Packet::unmarshal`,
//!   set the header fields, `marshal`;
//! - `limit-with-store`: a second, informative limit for a store-and-forward SFU: the packet is
//!   first copied into a ring of slots as large as the engine's packet store (retransmissions
//!   need the bytes after the caller's buffer is gone), then copied out N times and rewritten
//!   as in the baseline. It does not replace the baseline: the target ratio is against
//!   `baseline-copy-rewrite`; see docs/bench-forward.md.
//!
//! Throughput is in forwarded copies, so criterion reports time per copy. Target: engine <= 2x
//! the baseline.

use std::hint::black_box;
use std::time::Instant;

use bytes::Bytes;
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use telesfu_core::engine::{
    Codec, EncodingConfig, EngineConfig, ExtensionIds, ParticipantConfig, SubscriptionConfig,
    TrackConfig,
};
use telesfu_core::rtp::RtpPacketMut;
use telesfu_core::{Engine, Input, Ssrc};
use webrtc_util::marshal::{Marshal, Unmarshal};

const TWCC_ID: u8 = 3;
/// Packet store slots of the engine under test, and of the `limit-with-store` ring.
const STORE_SLOTS: usize = 4096;
/// Bytes per store slot (the engine's largest stored packet).
const SLOT_BYTES: usize = 1500;

/// A 1200-byte VP8 delta-frame packet with a transport-cc extension.
fn packet(key: bool) -> Vec<u8> {
    let mut p = vec![0x90, 0x80 | 96, 0, 1, 0, 0, 0x10, 0, 0, 0, 0, 42];
    p.extend_from_slice(&[0xbe, 0xde, 0, 1, (TWCC_ID << 4) | 1, 0, 0, 0]);
    p.extend_from_slice(&[0x90, 0xe0, 0x80, 0x01, 1, 0x00]);
    if key {
        p.extend_from_slice(&[0x50, 0x42, 0x00, 0x9d, 0x01, 0x2a, 0x80, 0x02, 0x68, 0x01]);
    } else {
        p.extend_from_slice(&[0x51, 0x42, 0x00]);
    }
    p.resize(1200, 0xab);
    p
}

fn bump(p: &mut [u8], i: u32) {
    p[2..4].copy_from_slice(&(i as u16).to_be_bytes());
    p[4..8].copy_from_slice(&(i * 3000).to_be_bytes());
    p[17..19].copy_from_slice(&(i as u16).to_be_bytes());
    // Picture ID (15-bit) advances with the frame.
    p[22..24].copy_from_slice(&(0x8000 | (i as u16 & 0x7fff)).to_be_bytes());
}

fn engine_with(n: usize, now: Instant) -> (Engine, telesfu_core::ParticipantId) {
    let mut cfg = EngineConfig::default();
    cfg.packet_store_slots = STORE_SLOTS;
    let mut e = Engine::new(cfg, now, 1 << 63, 9);
    let room = e.create_room();
    let mut ids = ExtensionIds::default();
    ids.transport_cc = Some(TWCC_ID);
    let mut pc = ParticipantConfig::default();
    pc.extensions = ids;
    let publisher = e.add_participant(room, pc).unwrap();
    let track = e
        .publish(
            publisher,
            TrackConfig::new(
                Codec::Vp8,
                96,
                None,
                vec![EncodingConfig::ssrc(Ssrc(42), None)],
            ),
        )
        .unwrap();
    for i in 0..n {
        let v = e.add_participant(room, pc).unwrap();
        e.subscribe(
            now,
            v,
            track,
            SubscriptionConfig::new(Ssrc(1000 + i as u32), 96),
        )
        .unwrap();
    }
    (e, publisher)
}

fn forward(c: &mut Criterion) {
    let mut g = c.benchmark_group("forward");
    #[allow(clippy::disallowed_methods)]
    let now = Instant::now();
    for n in [1usize, 10, 100] {
        g.throughput(Throughput::Elements(n as u64));

        g.bench_with_input(BenchmarkId::new("telesfu-engine", n), &n, |b, &n| {
            let (mut e, publisher) = engine_with(n, now);
            let mut buf = vec![0u8; 1500];
            let mut p = packet(true);
            let mut i = 1u32;
            bump(&mut p, i);
            e.handle_input(
                now,
                Input::Datagram {
                    from: publisher,
                    contents: &p,
                },
            );
            while e.poll_transmit(now, &mut buf).is_some() {}
            let mut p = packet(false);
            b.iter(|| {
                i += 1;
                bump(&mut p, i);
                e.handle_input(
                    now,
                    Input::Datagram {
                        from: publisher,
                        contents: &p,
                    },
                );
                while let Some(t) = e.poll_transmit(now, &mut buf) {
                    black_box(&buf[..t.len]);
                }
            });
            assert!(
                e.stats().rtp_out >= n as u64,
                "the engine forwarded nothing"
            );
        });

        g.bench_with_input(BenchmarkId::new("baseline-copy-rewrite", n), &n, |b, &n| {
            let mut p = packet(false);
            let mut buf = vec![0u8; 1500];
            let mut i = 1u32;
            b.iter(|| {
                i += 1;
                bump(&mut p, i);
                for s in 0..n {
                    let out = &mut buf[..p.len()];
                    out.copy_from_slice(&p);
                    let mut m = RtpPacketMut::parse(out).unwrap();
                    m.set_ssrc(1000 + s as u32);
                    m.set_sequence_number(i as u16);
                    m.set_timestamp(i * 3000);
                    black_box(&buf[..p.len()]);
                }
            });
        });

        g.bench_with_input(BenchmarkId::new("limit-with-store", n), &n, |b, &n| {
            let mut p = packet(false);
            let mut ring = vec![0u8; STORE_SLOTS * SLOT_BYTES];
            let mut next = 0usize;
            let mut buf = vec![0u8; 1500];
            let mut i = 1u32;
            b.iter(|| {
                i += 1;
                bump(&mut p, i);
                let at = next * SLOT_BYTES;
                next = (next + 1) % STORE_SLOTS;
                let stored = &mut ring[at..at + p.len()];
                stored.copy_from_slice(&p);
                let stored = &ring[at..at + p.len()];
                for s in 0..n {
                    let out = &mut buf[..stored.len()];
                    out.copy_from_slice(stored);
                    let mut m = RtpPacketMut::parse(out).unwrap();
                    m.set_ssrc(1000 + s as u32);
                    m.set_sequence_number(i as u16);
                    m.set_timestamp(i * 3000);
                    black_box(&buf[..stored.len()]);
                }
            });
        });

        g.bench_with_input(BenchmarkId::new("rtp-crate", n), &n, |b, &n| {
            let mut p = packet(false);
            let mut i = 1u32;
            b.iter(|| {
                i += 1;
                bump(&mut p, i);
                for s in 0..n {
                    let mut raw = Bytes::copy_from_slice(&p);
                    let mut pkt = rtp::packet::Packet::unmarshal(&mut raw).unwrap();
                    pkt.header.ssrc = 1000 + s as u32;
                    pkt.header.sequence_number = i as u16;
                    pkt.header.timestamp = i * 3000;
                    black_box(pkt.marshal().unwrap());
                }
            });
        });
    }
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .measurement_time(std::time::Duration::from_secs(3))
        .warm_up_time(std::time::Duration::from_secs(1))
        .sample_size(30);
    targets = forward
}
criterion_main!(benches);
