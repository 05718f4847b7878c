//! Sealing and opening media frames allocates nothing once keys are installed and the frame
//! buffer exists: not for the prefix, not for the H.264 canonical metadata, not for escaping.
#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use telesfu_e2ee::media::{self, Codec};
use telesfu_e2ee::{ALL_SUITES, Context, KeyId};

/// Forwards to the system allocator and counts allocations.
struct CountingAllocator;

static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every method forwards to `System` with the arguments it was given; the only addition
// is an atomic counter, which allocates nothing.
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: the caller upholds `GlobalAlloc::alloc`'s contract, which `System` shares.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: as for `alloc`.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from this allocator, that is from `System`, with `layout`.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: as for `dealloc`, and the caller upholds `realloc`'s contract.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: CountingAllocator = CountingAllocator;

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
fn seal_and_open_frames_allocate_nothing() {
    let kid = KeyId(0x100_0000);
    for &suite in ALL_SUITES {
        let mut tx = Context::new(suite).unwrap();
        let mut rx = Context::new(suite).unwrap();
        tx.add_send_key(kid, b"no-alloc base key").unwrap();
        rx.add_recv_key(kid, b"no-alloc base key").unwrap();
        let frames = frames();
        let mut buf = vec![0u8; 4096];
        let mut sealed = 0;
        let before = ALLOCATIONS.load(Ordering::Relaxed);
        for _ in 0..20 {
            for (codec, frame) in &frames {
                buf[..frame.len()].copy_from_slice(frame);
                let n = media::seal_frame(&mut tx, *codec, kid, &mut buf, frame.len()).unwrap();
                let (_, m) = media::open_frame(&mut rx, *codec, &mut buf[..n]).unwrap();
                assert_eq!(m, frame.len());
                sealed += 1;
            }
        }
        let after = ALLOCATIONS.load(Ordering::Relaxed);
        assert_eq!(sealed, 100);
        assert_eq!(after - before, 0, "{suite}: {} allocations", after - before);
    }
}
