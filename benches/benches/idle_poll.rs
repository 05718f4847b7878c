//! `idle_poll`: what one round of `poll_transmit` + `poll_event` + `poll_timeout` costs on an
//! engine with nothing to do, with 10 and with 1000 published tracks (each with a subscriber).
//! The engine keeps ready queues instead of scanning, so the two must cost the same: target
//! ratio (1000 / 10) <= 1.2.

use std::hint::black_box;
use std::time::Instant;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use telesfu_core::engine::{
    Codec, EncodingConfig, EngineConfig, ParticipantConfig, SubscriptionConfig, TrackConfig,
};
use telesfu_core::{Engine, Ssrc};

fn idle(c: &mut Criterion) {
    let mut g = c.benchmark_group("idle_poll");
    #[allow(clippy::disallowed_methods)]
    let now = Instant::now();
    for tracks in [10u32, 1000] {
        g.bench_with_input(BenchmarkId::new("tracks", tracks), &tracks, |b, &tracks| {
            let mut e = Engine::new(EngineConfig::default(), now, 1 << 63, 3);
            let room = e.create_room();
            let viewer = e
                .add_participant(room, ParticipantConfig::default())
                .unwrap();
            for t in 0..tracks {
                let p = e
                    .add_participant(room, ParticipantConfig::default())
                    .unwrap();
                let enc = vec![EncodingConfig::ssrc(Ssrc(t + 1), None)];
                let track = e
                    .publish(p, TrackConfig::new(Codec::Opus, 111, None, enc))
                    .unwrap();
                e.subscribe(
                    now,
                    viewer,
                    track,
                    SubscriptionConfig::new(Ssrc(100_000 + t), 111),
                )
                .unwrap();
            }
            let mut buf = vec![0u8; 1500];
            while e.poll_transmit(now, &mut buf).is_some() {}
            while e.poll_event().is_some() {}
            b.iter(|| {
                black_box(e.poll_transmit(now, &mut buf));
                black_box(e.poll_event());
                black_box(e.poll_timeout());
            });
        });
    }
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .measurement_time(std::time::Duration::from_secs(2))
        .warm_up_time(std::time::Duration::from_millis(500))
        .sample_size(30);
    targets = idle
}
criterion_main!(benches);
