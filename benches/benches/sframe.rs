//! SFrame seal and open: telesfu beside its physical limit and a peer crate, in one run.
//!
//! For each suite (4 `AES_128_GCM_SHA256_128`, 5 `AES_256_GCM_SHA512_128`) and payload size
//! (1200 B, an audio/small video frame; 30 000 B, a video frame) there is one group per operation,
//! `seal/<suite>/<size>B` and `open/<suite>/<size>B`, holding:
//!
//! - `raw-aead/<backend>`: the limit. The backend's [`AeadKey`] sealing or opening the very bytes
//!   telesfu would (same derived key, nonce and 5-byte header as AAD), in place, detached tag,
//!   laid out as telesfu lays them out: sealing at offset [`MAX_HEADER_LEN`] of the buffer,
//!   opening the wire frame after its header. The layout matters: an unaligned payload costs
//!   AES-GCM about 2.5% at 30 000 B, which would otherwise be charged to telesfu.
//! - `telesfu/<backend>`: [`Context::seal_in_place`] (payload at offset [`MAX_HEADER_LEN`]) and
//!   [`Context::open_in_place`], with the replay window on.
//! - `sframe-crate/ring`: the `sframe` crate (its ring backend, its only one for these suites) at
//!   its best: the `_into` APIs into a reused buffer, and its replay protection on opening.
//!
//! Every contender produces the same frame: before measuring, the bench checks that telesfu's,
//! the sframe crate's and the raw AEAD's output are byte-identical, so all do the same work.
//!
//! Opening needs a frame with a fresh counter per iteration (a replay is rejected), so every open
//! bench uses `iter_batched_ref` with the same batch size: the setup (not timed) produces a
//! freshly written frame, the routine opens it in place. Batches hold about 256 KiB of frames,
//! so inputs sit in L2 as a frame just received would.
//!
//! Run: `cargo bench -p telesfu-benches --bench sframe`, then `python3 benches/report.py` for
//! the ratios (written to `docs/bench-sframe.md`).

use std::hint::black_box;
use std::time::Duration;

use criterion::measurement::WallTime;
use criterion::{
    BatchSize, BenchmarkGroup, BenchmarkId, Criterion, Throughput, criterion_group, criterion_main,
};
use sframe::frame::validation::{ReplayAttackProtection, Tolerance};
use sframe::frame::{EncryptedFrameView, MediaFrameView, PanickingMonotonicCounter};
use sframe::key::{DecryptionKey, EncryptionKey};
use telesfu_e2ee::crypto::{self, AeadKey, CryptoProvider};
use telesfu_e2ee::key::derive_key_material;
use telesfu_e2ee::{
    CipherSuite, Context, ContextConfig, Counter, Header, KeyId, MAX_HEADER_LEN, NONCE_LEN,
};

const SUITES: [CipherSuite; 2] = [CipherSuite::Aes128GcmSha256, CipherSuite::Aes256GcmSha512];
const SIZES: [usize; 2] = [1200, 30_000];

/// KID 1 fits the config byte; counters from 2^24 take 4 bytes: a 5-byte header for all
/// contenders, the raw AEAD's AAD included.
const KID: u64 = 1;
const FIRST_CTR: u64 = 1 << 24;
const BASE_KEY: &[u8; 32] = b"telesfu bench base key, 32 bytes";
/// telesfu's default receive window; the sframe crate gets the same tolerance.
const REPLAY_WINDOW: u32 = 1024;
const TAG_LEN: usize = 16;
/// Bytes of frames per open batch.
const BATCH_BYTES: usize = 256 * 1024;

type Group<'a> = BenchmarkGroup<'a, WallTime>;

fn sframe_suite(suite: CipherSuite) -> sframe::CipherSuite {
    match suite {
        CipherSuite::Aes128GcmSha256 => sframe::CipherSuite::AesGcm128Sha256,
        CipherSuite::Aes256GcmSha512 => sframe::CipherSuite::AesGcm256Sha512,
        other => panic!(
            "the sframe bench covers the GCM suites only, not {}",
            other.name()
        ),
    }
}

fn payload(size: usize) -> Vec<u8> {
    (0..size).map(|i| (i * 31 % 251) as u8).collect()
}

/// The same batch size for every open bench of one frame size.
fn open_batch(size: usize) -> BatchSize {
    BatchSize::NumIterations((BATCH_BYTES / (size + 64)).clamp(8, 64) as u64)
}

/// RFC 9605 §4.4.3: the salt with the counter XORed into its last 8 bytes.
fn nonce(salt: &[u8; NONCE_LEN], ctr: u64) -> [u8; NONCE_LEN] {
    let mut n = *salt;
    for (b, c) in n[NONCE_LEN - 8..].iter_mut().zip(ctr.to_be_bytes()) {
        *b ^= c;
    }
    n
}

fn header(ctr: u64) -> Vec<u8> {
    let (bytes, len) = Header::new(KeyId(KID), Counter(ctr)).to_bytes();
    bytes[..len].to_vec()
}

/// The backend's AEAD key for KID, with the salt it pairs with.
fn raw_key(
    provider: &dyn CryptoProvider,
    suite: CipherSuite,
) -> (Box<dyn AeadKey>, [u8; NONCE_LEN]) {
    let sp = crypto::suite_provider(provider, suite).expect("callers checked the suite exists");
    let m = derive_key_material(sp, KeyId(KID), BASE_KEY).expect("a 32-byte base key is valid");
    let key = sp
        .aead_key(m.key())
        .expect("derived keys have the suite's length");
    (key, *m.salt())
}

fn context(provider: &'static dyn CryptoProvider, suite: CipherSuite, send: bool) -> Context {
    let mut config = ContextConfig::new(suite);
    config.provider = provider;
    config.replay_window = REPLAY_WINDOW;
    let mut ctx = Context::with_config(config).expect("callers checked the suite exists");
    let added = if send {
        ctx.add_send_key_at(KeyId(KID), BASE_KEY, Counter(FIRST_CTR))
    } else {
        ctx.add_recv_key(KeyId(KID), BASE_KEY)
    };
    added.expect("a fresh context takes one key");
    ctx
}

fn sframe_keys(suite: CipherSuite) -> (EncryptionKey, DecryptionKey) {
    let s = sframe_suite(suite);
    (
        EncryptionKey::derive_from(s, KID, BASE_KEY).expect("sframe derives GCM keys"),
        DecryptionKey::derive_from(s, KID, BASE_KEY).expect("sframe derives GCM keys"),
    )
}

fn sframe_counter() -> PanickingMonotonicCounter {
    PanickingMonotonicCounter::with_start_value(FIRST_CTR, u64::MAX)
}

/// Before any timing: the three contenders seal the first frame to the same bytes, and each
/// opens it back. A bench whose contenders did different work would compare nothing.
fn check_same_work(provider: &'static dyn CryptoProvider, suite: CipherSuite, size: usize) {
    let plain = payload(size);
    let hdr = header(FIRST_CTR);

    let mut tx = context(provider, suite, true);
    let mut ours = vec![0; size + tx.max_overhead()];
    let n = tx
        .seal(KeyId(KID), &[], &plain, &mut ours)
        .expect("telesfu seals");
    ours.truncate(n);

    let (enc, dec) = sframe_keys(suite);
    let mut theirs = Vec::new();
    MediaFrameView::new(&mut sframe_counter(), &plain)
        .encrypt_into(&enc, &mut theirs)
        .expect("sframe seals");
    assert_eq!(ours, theirs, "telesfu and the sframe crate disagree");

    let (key, salt) = raw_key(provider, suite);
    let mut raw = plain.clone();
    let mut tag = [0; TAG_LEN];
    key.seal_in_place(&nonce(&salt, FIRST_CTR), &hdr, &mut raw, &mut tag)
        .expect("raw seal");
    raw.extend_from_slice(&tag);
    assert_eq!(
        ours[..hdr.len()],
        hdr[..],
        "header differs from the raw AAD"
    );
    assert_eq!(ours[hdr.len()..], raw[..], "raw AEAD and telesfu disagree");

    let mut rx = context(provider, suite, false);
    let mut frame = ours.clone();
    let opened = rx.open_in_place(&[], &mut frame).expect("telesfu opens");
    assert_eq!(frame[opened.payload], plain[..]);

    let mut out = Vec::new();
    let mut replay = ReplayAttackProtection::new(KID, Tolerance::new(REPLAY_WINDOW as usize));
    let view = EncryptedFrameView::try_new(&theirs).expect("sframe parses");
    let media = view
        .validated_decrypt_into(&dec, &mut out, &mut replay)
        .expect("sframe opens");
    assert_eq!(media.payload(), &plain[..]);

    let (ct, tag) = raw.split_at_mut(size);
    key.open_in_place(&nonce(&salt, FIRST_CTR), &hdr, ct, tag)
        .expect("raw open");
    assert_eq!(ct, &plain[..]);
}

fn seal_raw(g: &mut Group<'_>, p: &'static dyn CryptoProvider, s: CipherSuite, size: usize) {
    let (key, salt) = raw_key(p, s);
    let (n, aad) = (nonce(&salt, FIRST_CTR), header(FIRST_CTR));
    // telesfu's layout: payload after MAX_HEADER_LEN bytes of headroom, tag right after it.
    let mut buf = vec![0; MAX_HEADER_LEN + size + TAG_LEN];
    buf[MAX_HEADER_LEN..MAX_HEADER_LEN + size].copy_from_slice(&payload(size));
    g.bench_function(BenchmarkId::new("raw-aead", p.name()), |b| {
        b.iter(|| {
            let (body, tag) = black_box(&mut buf[MAX_HEADER_LEN..]).split_at_mut(size);
            key.seal_in_place(&n, black_box(&aad), body, tag)
                .expect("raw seal")
        })
    });
}

fn seal_telesfu(g: &mut Group<'_>, p: &'static dyn CryptoProvider, s: CipherSuite, size: usize) {
    let mut tx = context(p, s, true);
    let body = MAX_HEADER_LEN..MAX_HEADER_LEN + size;
    let mut buf = vec![0; MAX_HEADER_LEN + size + s.tag_len()];
    buf[body.clone()].copy_from_slice(&payload(size));
    g.bench_function(BenchmarkId::new("telesfu", p.name()), |b| {
        b.iter(|| {
            tx.seal_in_place(KeyId(KID), &[], black_box(&mut buf), body.clone())
                .expect("telesfu seal")
        })
    });
}

fn seal_sframe(g: &mut Group<'_>, s: CipherSuite, size: usize) {
    let plain = payload(size);
    let (enc, _) = sframe_keys(s);
    let mut counter = sframe_counter();
    let mut out = Vec::with_capacity(plain.len() + MAX_HEADER_LEN + TAG_LEN);
    g.bench_function(BenchmarkId::new("sframe-crate", "ring"), |b| {
        b.iter(|| {
            MediaFrameView::new(&mut counter, black_box(&plain))
                .encrypt_into(&enc, &mut out)
                .map(|f| f.cipher_text().len())
                .expect("sframe seal")
        })
    });
}

fn open_raw(g: &mut Group<'_>, p: &'static dyn CryptoProvider, s: CipherSuite, size: usize) {
    let (key, salt) = raw_key(p, s);
    let n = nonce(&salt, FIRST_CTR);
    // The wire frame telesfu opens: header (the AAD), ciphertext, tag.
    let mut frame = header(FIRST_CTR);
    let hlen = frame.len();
    frame.extend_from_slice(&payload(size));
    frame.resize(hlen + size + TAG_LEN, 0);
    let (aad, rest) = frame.split_at_mut(hlen);
    let (body, tag) = rest.split_at_mut(size);
    key.seal_in_place(&n, aad, body, tag).expect("raw seal");
    g.bench_function(BenchmarkId::new("raw-aead", p.name()), |b| {
        b.iter_batched_ref(
            || frame.clone(),
            |frame| {
                let (aad, rest) = black_box(frame).split_at_mut(hlen);
                let (body, tag) = rest.split_at_mut(size);
                key.open_in_place(&n, aad, body, tag).expect("raw open")
            },
            open_batch(size),
        )
    });
}

fn open_telesfu(g: &mut Group<'_>, p: &'static dyn CryptoProvider, s: CipherSuite, size: usize) {
    let plain = payload(size);
    let mut tx = context(p, s, true);
    let mut rx = context(p, s, false);
    let room = plain.len() + tx.max_overhead();
    g.bench_function(BenchmarkId::new("telesfu", p.name()), |b| {
        b.iter_batched_ref(
            || {
                let mut frame = vec![0; room];
                let n = tx
                    .seal(KeyId(KID), &[], &plain, &mut frame)
                    .expect("telesfu seal");
                frame.truncate(n);
                frame
            },
            |frame| {
                rx.open_in_place(&[], black_box(frame))
                    .expect("telesfu open")
                    .payload
                    .len()
            },
            open_batch(plain.len()),
        )
    });
}

fn open_sframe(g: &mut Group<'_>, s: CipherSuite, size: usize) {
    let plain = payload(size);
    let (enc, dec) = sframe_keys(s);
    let mut counter = sframe_counter();
    let mut replay = ReplayAttackProtection::new(KID, Tolerance::new(REPLAY_WINDOW as usize));
    let mut out = Vec::with_capacity(plain.len() + MAX_HEADER_LEN + TAG_LEN);
    g.bench_function(BenchmarkId::new("sframe-crate", "ring"), |b| {
        b.iter_batched_ref(
            || {
                let mut frame = Vec::with_capacity(plain.len() + MAX_HEADER_LEN + TAG_LEN);
                MediaFrameView::new(&mut counter, &plain)
                    .encrypt_into(&enc, &mut frame)
                    .expect("sframe seal");
                frame
            },
            |frame| {
                EncryptedFrameView::try_new(black_box(frame.as_slice()))
                    .and_then(|f| {
                        f.validated_decrypt_into(&dec, &mut out, &mut replay)
                            .map(|m| m.payload().len())
                    })
                    .expect("sframe open")
            },
            open_batch(plain.len()),
        )
    });
}

fn sframe_benches(c: &mut Criterion) {
    let providers: Vec<&'static dyn CryptoProvider> = crypto::all_providers()
        .into_iter()
        .filter(|p| {
            let missing: Vec<_> = SUITES.iter().filter(|s| p.suite(**s).is_none()).collect();
            if !missing.is_empty() {
                eprintln!(
                    "sframe bench: backend `{}` implements none of {:?}; its raw-aead and \
                     telesfu rows are NOT measured",
                    p.name(),
                    missing.iter().map(|s| s.name()).collect::<Vec<_>>()
                );
            }
            missing.is_empty()
        })
        .collect();

    for suite in SUITES {
        for size in SIZES {
            for p in &providers {
                check_same_work(*p, suite, size);
            }
            for op in ["seal", "open"] {
                let mut g = c.benchmark_group(format!("{op}/{}/{size}B", suite.name()));
                g.throughput(Throughput::Bytes(size as u64));
                for p in &providers {
                    if op == "seal" {
                        seal_raw(&mut g, *p, suite, size);
                        seal_telesfu(&mut g, *p, suite, size);
                    } else {
                        open_raw(&mut g, *p, suite, size);
                        open_telesfu(&mut g, *p, suite, size);
                    }
                }
                if op == "seal" {
                    seal_sframe(&mut g, suite, size);
                } else {
                    open_sframe(&mut g, suite, size);
                }
                g.finish();
            }
        }
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(30)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    targets = sframe_benches
}
criterion_main!(benches);
