//! `pacer`: the cost of media pacing per forwarded packet. One publisher's VP8 packet to
//! N = 10 and 100 subscribers, three rows in one run:
//! - `engine-paced`: bandwidth estimation and pacing on; every copy goes through its
//!   subscriber's pacer (queued in `handle_input`, released by `poll_transmit`). The pacing
//!   floor is set far above what is sent, so the pacer never holds a packet back and the row
//!   measures its bookkeeping, not waiting;
//! - `engine-unpaced`: the same engine with pacing off (today's path);
//! - `baseline-copy-rewrite`: the physical limit, as in `forward`.
//!
//! Throughput is in forwarded copies. Ratios are in docs/bench-pacer.md.

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use telesfu_core::engine::{
    Codec, EncodingConfig, EngineConfig, ExtensionIds, ParticipantConfig, SubscriptionConfig,
    TrackConfig,
};
use telesfu_core::rtp::RtpPacketMut;
use telesfu_core::{Engine, Input, Ssrc};

const TWCC_ID: u8 = 3;
/// Packet store slots of the engine under test.
const STORE_SLOTS: usize = 4096;

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

fn engine_with(
    n: usize,
    now: Instant,
    mut cfg: EngineConfig,
) -> (Engine, telesfu_core::ParticipantId) {
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

fn config(paced: bool) -> EngineConfig {
    let mut cfg = EngineConfig::default();
    cfg.bandwidth.enabled = true;
    cfg.bandwidth.probing = false;
    // No allocation tick inside the measurement (it would cap layers from the start estimate).
    cfg.bandwidth.allocation_interval = Duration::from_secs(3600);
    cfg.bandwidth.pacing.enabled = paced;
    cfg.bandwidth.pacing.min_rate_bps = 100_000_000_000;
    cfg
}

fn pacer(c: &mut Criterion) {
    let mut g = c.benchmark_group("pacer");
    #[allow(clippy::disallowed_methods)]
    let now = Instant::now();
    for n in [10usize, 100] {
        g.throughput(Throughput::Elements(n as u64));
        for (name, paced) in [("engine-paced", true), ("engine-unpaced", false)] {
            g.bench_with_input(BenchmarkId::new(name, n), &n, |b, &n| {
                let (mut e, publisher) = engine_with(n, now, config(paced));
                let mut buf = vec![0u8; 1500];
                let mut p = packet(true);
                let mut i = 1u32;
                bump(&mut p, i);
                let mut t = now;
                e.handle_input(
                    t,
                    Input::Datagram {
                        from: publisher,
                        contents: &p,
                    },
                );
                while e.poll_transmit(t, &mut buf).is_some() {}
                let mut p = packet(false);
                b.iter(|| {
                    i += 1;
                    t += Duration::from_micros(10);
                    bump(&mut p, i);
                    e.handle_input(
                        t,
                        Input::Datagram {
                            from: publisher,
                            contents: &p,
                        },
                    );
                    while let Some(x) = e.poll_transmit(t, &mut buf) {
                        black_box(&buf[..x.len]);
                    }
                });
                assert!(
                    e.stats().rtp_out >= n as u64,
                    "the engine forwarded nothing"
                );
            });
        }

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
    }
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .measurement_time(std::time::Duration::from_secs(3))
        .warm_up_time(std::time::Duration::from_secs(1))
        .sample_size(30);
    targets = pacer
}
criterion_main!(benches);
