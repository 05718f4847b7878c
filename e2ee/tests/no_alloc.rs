//! Sealing and opening allocates nothing once keys are installed: bare SFrame and media frames
//! with the clear prefix (no allocation for the prefix, H.264 canonical metadata or escaping).
#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicUsize, Ordering};

use telesfu_e2ee::crypto::all_providers;
use telesfu_e2ee::media::{self, Codec};
use telesfu_e2ee::{ALL_SUITES, Context, ContextConfig, KeyId, MAX_HEADER_LEN};

struct Counting;

static ALLOCS: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    /// Only the measuring thread counts: the test harness allocates on its own threads.
    static COUNTING: Cell<bool> = const { Cell::new(false) };
}

fn count() {
    if COUNTING.with(Cell::get) {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
    }
}

// SAFETY: forwards every call to the system allocator unchanged; only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count();
        // SAFETY: same contract as our caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as our caller's.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new: usize) -> *mut u8 {
        count();
        // SAFETY: same contract as our caller's.
        unsafe { System.realloc(ptr, layout, new) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

#[test]
fn steady_state_seal_and_open_allocate_nothing() {
    for p in all_providers() {
        for &suite in ALL_SUITES {
            let mut cfg = ContextConfig::new(suite);
            cfg.provider = p;
            let mut tx = Context::with_config(cfg.clone()).unwrap();
            let mut rx = Context::with_config(cfg).unwrap();
            tx.add_send_key(KeyId(7), b"base key bytes..").unwrap();
            rx.add_recv_key(KeyId(7), b"base key bytes..").unwrap();
            let mut buf = vec![0u8; MAX_HEADER_LEN + 1200 + 16];
            let mut out = vec![0u8; buf.len()];
            let before = ALLOCS.load(Ordering::Relaxed);
            COUNTING.with(|c| c.set(true));
            for i in 0..100u32 {
                let r = tx
                    .seal_in_place(
                        KeyId(7),
                        b"meta",
                        &mut buf,
                        MAX_HEADER_LEN..MAX_HEADER_LEN + 1200,
                    )
                    .unwrap();
                rx.open_in_place(b"meta", &mut buf[r.clone()]).unwrap();
                let n = tx
                    .seal(KeyId(7), &i.to_be_bytes(), &[1; 500], &mut out)
                    .unwrap();
                let mut o = [0u8; 600];
                rx.open(&i.to_be_bytes(), &out[..n], &mut o).unwrap();
            }
            COUNTING.with(|c| c.set(false));
            let after = ALLOCS.load(Ordering::Relaxed);
            assert_eq!(
                after - before,
                0,
                "{suite} on {} allocated per frame",
                p.name()
            );
        }
    }
}

fn frames() -> Vec<(Codec, Vec<u8>)> {
    let mut vp8 = vec![0x30, 0x02, 0x00, 0x9d, 0x01, 0x2a, 0x80, 0x02, 0xe0, 0x01];
    vp8.extend((0..1200u32).map(|i| (i * 7) as u8));
    let mut h264 = vec![
        0, 0, 0, 1, 0x67, 0x42, 0xc0, 0x1f, 0, 0, 1, 0x68, 0xce, 0x3c, 0x80,
    ];
    h264.extend_from_slice(&[0, 0, 1, 0x06, 0x05, 0xaa, 0x80, 0, 0, 0, 1, 0x65]);
    // Slice data full of zero runs; the KID below also puts `00 00 00` in the header, so
    // escaping and unescaping both run.
    h264.extend((0..1200u32).map(|i| if i % 5 < 3 { 0 } else { i as u8 }));
    vec![
        (Codec::Vp8, vp8),
        (Codec::Opus, vec![0x78; 160]),
        (Codec::H264, h264),
        (Codec::Av1, vec![0x12; 900]),
        (Codec::Plain, vec![0; 64]),
    ]
}

#[test]
fn media_frames_with_clear_prefix_allocate_nothing() {
    let kid = KeyId(0x100_0000);
    for &suite in ALL_SUITES {
        let mut tx = Context::new(suite).unwrap();
        let mut rx = Context::new(suite).unwrap();
        tx.add_send_key(kid, b"no-alloc base key").unwrap();
        rx.add_recv_key(kid, b"no-alloc base key").unwrap();
        let frames = frames();
        let mut buf = vec![0u8; 4096];
        let mut sealed = 0;
        let before = ALLOCS.load(Ordering::Relaxed);
        COUNTING.with(|c| c.set(true));
        for _ in 0..20 {
            for (codec, frame) in &frames {
                buf[..frame.len()].copy_from_slice(frame);
                let n = media::seal_frame(&mut tx, *codec, kid, &mut buf, frame.len()).unwrap();
                let (_, m) = media::open_frame(&mut rx, *codec, &mut buf[..n]).unwrap();
                assert_eq!(m, frame.len());
                sealed += 1;
            }
        }
        COUNTING.with(|c| c.set(false));
        let after = ALLOCS.load(Ordering::Relaxed);
        assert_eq!(sealed, 100);
        assert_eq!(after - before, 0, "{suite}: {} allocations", after - before);
    }
}

mod mls_common;

/// The same through the MLS member: once in the group, a member seals and opens media (the
/// per-sender lookup and check included) without allocating.
#[test]
fn session_media_allocates_nothing() {
    let mut call = mls_common::Call::new();
    let a = call.join("Ada", "clinician");
    let b = call.join("Bo", "patient");
    call.advance(std::time::Duration::from_secs(2));
    let pa = call.members[a].participant.clone();
    let frame = {
        let mut f = vec![0x31, 0, 0];
        f.extend(std::iter::repeat_n(0x5a, 1000));
        f
    };
    let len = frame.len();
    let mut buf = vec![0u8; call.members[a].session.seal_buffer_len(Codec::Vp8, len)];
    // Warm up (first use of each key).
    buf[..len].copy_from_slice(&frame);
    let n = call.members[a]
        .session
        .seal_frame(Codec::Vp8, &mut buf, len)
        .unwrap();
    call.members[b]
        .session
        .open_frame(&pa, Codec::Vp8, &mut buf[..n])
        .unwrap();
    ALLOCS.store(0, Ordering::Relaxed);
    COUNTING.with(|c| c.set(true));
    for _ in 0..100 {
        buf[..len].copy_from_slice(&frame);
        let n = call.members[a]
            .session
            .seal_frame(Codec::Vp8, &mut buf, len)
            .unwrap();
        let (_, m) = call.members[b]
            .session
            .open_frame(&pa, Codec::Vp8, &mut buf[..n])
            .unwrap();
        assert_eq!(m, len);
    }
    COUNTING.with(|c| c.set(false));
    assert_eq!(
        ALLOCS.load(Ordering::Relaxed),
        0,
        "allocations in 100 seals and opens"
    );
}
