//! Sealing and opening a frame allocates nothing once keys are installed.
#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicUsize, Ordering};

use telesfu_e2ee::crypto::all_providers;
use telesfu_e2ee::{ALL_SUITES, Context, ContextConfig, KeyId, MAX_HEADER_LEN};

struct Counting;

static ALLOCS: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    /// Only the measuring thread counts: the test harness allocates on its own threads.
    static COUNTING: Cell<bool> = const { Cell::new(false) };
}

fn count() {
    if COUNTING.with(Cell::get) {
        count();
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
