//! The SRTP per-packet path allocates nothing: protect and unprotect of RTP and RTCP, for every
//! profile, once the SSRCs are known (their table slots are reserved when the session is made).
#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicUsize, Ordering};

use telesfu_server::transport::srtp::{SrtpProfile, SrtpSession};

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
fn protect_and_unprotect_allocate_nothing() {
    for profile in [
        SrtpProfile::AeadAes128Gcm,
        SrtpProfile::AeadAes256Gcm,
        SrtpProfile::Aes128CmHmacSha1_80,
    ] {
        let material: Vec<u8> = (0..profile.keying_material_len())
            .map(|i| i as u8)
            .collect();
        let mut server = SrtpSession::new(profile, &material, false).expect("server");
        let mut client = SrtpSession::new(profile, &material, true).expect("client");
        let mut buf = [0u8; 1500];

        COUNTING.with(|c| c.set(true));
        // Sequence numbers run across 65535 -> 0, so the ROC moves too.
        for i in 0..1_500u16 {
            let seq = 65_000u16.wrapping_add(i);
            // RTP: header with one CSRC, then 200 bytes of payload.
            buf[..16].copy_from_slice(&[0x81, 96, 0, 0, 0, 0, 0, 1, 0, 0, 0, 7, 0, 0, 0, 9]);
            buf[2..4].copy_from_slice(&seq.to_be_bytes());
            let n = client.protect_rtp(&mut buf, 216).expect("protect");
            let m = server.unprotect_rtp(&mut buf, n).expect("unprotect");
            assert_eq!(m, 216);
            // RTCP receiver report with no blocks plus 16 bytes.
            buf[..8].copy_from_slice(&[0x80, 201, 0, 5, 0, 0, 0, 7]);
            let n = client.protect_rtcp(&mut buf, 24).expect("protect");
            let m = server.unprotect_rtcp(&mut buf, n).expect("unprotect");
            assert_eq!(m, 24);
        }
        COUNTING.with(|c| c.set(false));
        assert_eq!(
            ALLOCS.load(Ordering::Relaxed),
            0,
            "{profile:?} allocated on the per-packet path"
        );
    }
}
