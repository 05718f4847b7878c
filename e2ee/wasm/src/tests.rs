//! A call between glue members on the host: every signaling message goes through the same
//! object encoding JavaScript sees (built by one side, parsed by the other), the DS is the
//! real one, and frames go through the members' reusable buffers. The per-frame path is held
//! to zero allocations by a counting allocator (this test binary's global allocator; only the
//! measuring thread counts).
#![allow(unsafe_code)] // the counting allocator

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use telesfu_e2ee::media::Codec;
use telesfu_e2ee::mls::ds::{Delivery, DeliveryService, DsConfig};
use telesfu_e2ee::mls::identity::{Authority, Claims};
use telesfu_e2ee::session::{MemberKey, SessionConfig};

use crate::member::{Member, MemberParams};
use crate::msg;
use crate::value::Value;

struct Counting;

static ALLOCS: AtomicUsize = AtomicUsize::new(0);

thread_local! {
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

/// Allocations made by `f` on this thread.
fn allocations<R>(f: impl FnOnce() -> R) -> (usize, R) {
    let before = ALLOCS.load(Ordering::Relaxed);
    COUNTING.with(|c| c.set(true));
    let r = f();
    COUNTING.with(|c| c.set(false));
    (ALLOCS.load(Ordering::Relaxed) - before, r)
}

const ROOM: &str = "visit-7";
const UNIX_MS: f64 = 1_800_000_000_000.0;

struct Call {
    ds: DeliveryService,
    authority: Authority,
    origin: Instant,
    now_ms: f64,
    members: Vec<(String, Member, Vec<Value>)>,
}

impl Call {
    fn new() -> Self {
        #[allow(clippy::disallowed_methods)] // the test is the caller: its clock starts anywhere
        let origin = Instant::now();
        Self {
            ds: DeliveryService::new(DsConfig::default()),
            authority: Authority::from_seed(&[9; 32]),
            origin,
            now_ms: 1000.0,
            members: Vec::new(),
        }
    }

    fn join(&mut self, participant: &str, name: &str) {
        let seed = [participant.len() as u8 ^ name.as_bytes()[0]; 32];
        let mut claims = Claims::new(
            &format!("sub-{name}"),
            ROOM,
            (UNIX_MS / 1000.0) as u64 - 60,
            (UNIX_MS / 1000.0) as u64 + 3600,
        );
        claims.name = name.into();
        claims.role = "clinician".into();
        let cert = self
            .authority
            .issue(&claims, &MemberKey::from_seed(seed).public_key())
            .unwrap();
        let params = MemberParams {
            room: ROOM,
            participant,
            authority_keys: vec![self.authority.public_key().to_bytes().to_vec()],
            member_seed: &seed,
            certificate: cert,
            rng_seed: &[seed[0] ^ 0x5a; 32],
            now_ms: self.now_ms,
            unix_ms: UNIX_MS,
            config: SessionConfig::default(),
        };
        // The JS clock reading `now_ms` is taken at `origin + (now_ms - 1000)`.
        let at = self.origin + Duration::from_secs_f64((self.now_ms - 1000.0) / 1000.0);
        let m = Member::new(params, at).unwrap();
        self.members.push((participant.into(), m, Vec::new()));
        let state = msg::from_ds_value(&self.ds.state(), None).unwrap();
        let i = self.members.len() - 1;
        self.deliver(i, &state);
        self.pump();
    }

    fn deliver(&mut self, i: usize, v: &Value) {
        let parsed = msg::from_ds(&|k| v.input(k)).unwrap();
        let now = self.now_ms;
        self.members[i].1.handle_ds(now, parsed).unwrap();
    }

    fn pump(&mut self) {
        for _ in 0..1000 {
            let mut moved = false;
            for i in 0..self.members.len() {
                while let Some(ev) = self.members[i].1.poll_event() {
                    self.members[i].2.push(msg::event_value(&ev));
                }
                while let Some(t) = self.members[i].1.poll_transmit() {
                    moved = true;
                    // Through the object form, as the worker posts it and the server parses it.
                    let v = msg::to_ds_value(&t).unwrap();
                    let parsed = msg::to_ds(&|k| v.input(k)).unwrap();
                    assert_eq!(parsed, t);
                    let from = self.members[i].0.clone();
                    let d = self.ds.handle(parsed, (UNIX_MS / 1000.0) as u64);
                    let dv = msg::delivery_value(&d, Some(&from)).unwrap();
                    let to = match &d {
                        Delivery::Sender(_) => vec![i],
                        Delivery::All(_) => (0..self.members.len()).collect(),
                        Delivery::Others(_) => {
                            (0..self.members.len()).filter(|j| *j != i).collect()
                        }
                        other => panic!("unknown delivery {other:?}"),
                    };
                    let m = dv.get("msg").unwrap().clone();
                    for j in to {
                        self.deliver(j, &m);
                    }
                }
            }
            if !moved {
                return;
            }
        }
        panic!("livelock");
    }

    fn advance(&mut self, ms: f64) {
        let end = self.now_ms + ms;
        for _ in 0..10_000 {
            let next = self
                .members
                .iter()
                .filter_map(|m| m.1.poll_timeout_ms())
                .filter(|t| *t <= end)
                .fold(None, |a: Option<f64>, t| Some(a.map_or(t, |a| a.min(t))));
            let Some(t) = next else { break };
            self.now_ms = self.now_ms.max(t);
            let now = self.now_ms;
            for m in &mut self.members {
                if m.1.poll_timeout_ms().is_some_and(|t| t <= now) {
                    m.1.handle_timeout(now).unwrap();
                }
            }
            self.pump();
        }
        self.now_ms = end;
    }

    fn events_of(&self, i: usize, ty: &str) -> Vec<&Value> {
        self.members[i]
            .2
            .iter()
            .filter(|e| e.get("type") == Some(&Value::str(ty)))
            .collect()
    }
}

fn vp8_keyframe(n: usize, fill: u8) -> Vec<u8> {
    let mut f = vec![0x30, 0x02, 0x00, 0x9d, 0x01, 0x2a, 0x80, 0x02, 0xe0, 0x01];
    f.resize(n, fill);
    f
}

#[test]
fn call_through_the_js_encoding() {
    let mut call = Call::new();
    call.join("p1", "Ana");
    call.join("p2", "Ben");
    // Ana goes on sealing under epoch 0 for the switch delay (1 s) after Ben's join.
    call.advance(1500.0);
    let (a, b) = (&call.members[0].1, &call.members[1].1);
    assert_eq!(a.session().epoch(), Some(1));
    assert_eq!(a.session().epoch(), b.session().epoch());
    assert_eq!(
        a.session().verification_code(),
        b.session().verification_code()
    );
    let joined = call.events_of(1, "joined");
    assert_eq!(joined.len(), 1);
    let epochs = call.events_of(0, "epoch");
    let last = epochs.last().unwrap();
    assert_eq!(last.get("epoch"), Some(&Value::Num(1.0)));
    let Some(Value::List(added)) = last.get("added") else {
        panic!("no added list: {last:?}")
    };
    assert_eq!(added.len(), 1);
    assert_eq!(added[0].get("name"), Some(&Value::str("Ben")));
    assert_eq!(added[0].get("participant"), Some(&Value::str("p2")));

    // Media both ways through the reusable buffers.
    let frame = vp8_keyframe(1200, 0xab);
    let wire = call.members[0]
        .1
        .seal(Codec::Vp8, frame.len(), |d| d.copy_from_slice(&frame))
        .unwrap()
        .to_vec();
    assert_eq!(&wire[..10], &frame[..10], "the clear prefix stays");
    assert_ne!(&wire[10..], &frame[10..]);
    let opened = call.members[1]
        .1
        .open("p1", Codec::Vp8, wire.len(), |d| d.copy_from_slice(&wire))
        .unwrap()
        .to_vec();
    assert_eq!(opened, frame);
    // Replayed, attributed to the wrong participant, unknown participant: stable codes.
    let code = |m: &mut Member, sender: &str| {
        m.open(sender, Codec::Vp8, wire.len(), |d| d.copy_from_slice(&wire))
            .unwrap_err()
            .code
    };
    assert_eq!(code(&mut call.members[1].1, "p1"), "replayed");
    assert_eq!(code(&mut call.members[0].1, "p1"), "unknown_sender");
    assert_eq!(code(&mut call.members[1].1, "p9"), "unknown_sender");
    // A fresh frame (a replayed one is refused before its tag is checked), one bit flipped.
    let mut tampered = call.members[0]
        .1
        .seal(Codec::Vp8, frame.len(), |d| d.copy_from_slice(&frame))
        .unwrap()
        .to_vec();
    tampered[40] ^= 1;
    let e = call.members[1]
        .1
        .open("p1", Codec::Vp8, tampered.len(), |d| {
            d.copy_from_slice(&tampered)
        })
        .unwrap_err();
    assert_eq!(e.code, "auth_failed");
    assert_eq!(call.members[1].1.frames().open_failed, 3);

    // Chat with sequence numbers.
    let now = call.now_ms;
    assert_eq!(
        call.members[0].1.send_chat(now, UNIX_MS, "hello").unwrap(),
        1
    );
    assert_eq!(
        call.members[0].1.send_chat(now, UNIX_MS, "again").unwrap(),
        2
    );
    call.pump();
    let chats = call.events_of(1, "chat");
    assert_eq!(chats.len(), 2);
    assert_eq!(chats[1].get("seq"), Some(&Value::Num(2.0)));
    assert_eq!(chats[1].get("order"), Some(&Value::str("inOrder")));
    assert_eq!(chats[0].get("text"), Some(&Value::str("hello")));
    let long = "x".repeat(5000);
    assert_eq!(
        call.members[0]
            .1
            .send_chat(now, UNIX_MS, &long)
            .unwrap_err()
            .code,
        "too_long"
    );

    // A third member joins, then leaves: each is one new epoch everywhere.
    call.join("p3", "Cy");
    assert!(
        call.members
            .iter()
            .all(|m| m.1.session().epoch() == Some(2))
    );
    call.members.pop();
    for i in 0..2 {
        let now = call.now_ms;
        call.members[i].1.participant_left(now, "p3").unwrap();
    }
    call.advance(5000.0);
    let (a, b) = (&call.members[0].1, &call.members[1].1);
    assert_eq!(a.session().epoch(), Some(3));
    assert_eq!(b.session().epoch(), Some(3));
    assert_eq!(a.roster().len(), 2);
    assert_eq!(
        a.session().verification_code(),
        b.session().verification_code()
    );
    // After the switch delay both seal under the epoch-3 key and still open each other.
    let wire = call.members[1]
        .1
        .seal(Codec::Vp8, frame.len(), |d| d.copy_from_slice(&frame))
        .unwrap()
        .to_vec();
    let opened = call.members[0]
        .1
        .open("p2", Codec::Vp8, wire.len(), |d| d.copy_from_slice(&wire))
        .unwrap();
    assert_eq!(opened, &frame[..]);
    let removed = call.events_of(0, "epoch");
    let last = removed.last().unwrap();
    let Some(Value::List(gone)) = last.get("removed") else {
        panic!("no removed list")
    };
    assert_eq!(gone[0].get("name"), Some(&Value::str("Cy")));
    assert!(!call.events_of(0, "sendKeyChanged").is_empty());
}

#[test]
fn frames_allocate_nothing_once_the_buffer_has_grown() {
    let mut call = Call::new();
    call.join("p1", "Ana");
    call.join("p2", "Ben");
    call.advance(1500.0);
    let frames: Vec<Vec<u8>> = [200usize, 1200, 900, 5000, 64]
        .iter()
        .map(|n| vp8_keyframe(*n, 0x11))
        .collect();
    let opus = vec![0x78u8, 1, 2, 3, 4, 5];
    let mut wires = Vec::new();
    // Warm up: the buffers grow to the largest frame.
    for f in &frames {
        let w = call.members[0]
            .1
            .seal(Codec::Vp8, f.len(), |d| d.copy_from_slice(f))
            .unwrap()
            .to_vec();
        call.members[1]
            .1
            .open("p1", Codec::Vp8, w.len(), |d| d.copy_from_slice(&w))
            .unwrap();
    }
    for _ in 0..50 {
        for f in &frames {
            let w = call.members[0]
                .1
                .seal(Codec::Vp8, f.len(), |d| d.copy_from_slice(f))
                .unwrap()
                .to_vec();
            wires.push(w);
        }
        let w = call.members[0]
            .1
            .seal(Codec::Opus, opus.len(), |d| d.copy_from_slice(&opus))
            .unwrap()
            .to_vec();
        wires.push(w);
    }
    let (a, b) = call.members.split_at_mut(1);
    let (tx, rx) = (&mut a[0].1, &mut b[0].1);
    let (n, ok) = allocations(|| {
        let mut ok = 0;
        for f in &frames {
            ok += usize::from(
                tx.seal(Codec::Vp8, f.len(), |d| d.copy_from_slice(f))
                    .is_ok(),
            );
        }
        for w in &wires {
            let codec = if w.len() < 64 {
                Codec::Opus
            } else {
                Codec::Vp8
            };
            ok += usize::from(
                rx.open("p1", codec, w.len(), |d| d.copy_from_slice(w))
                    .is_ok(),
            );
        }
        ok
    });
    assert_eq!(
        ok,
        frames.len() + wires.len(),
        "every frame sealed and opened"
    );
    assert_eq!(n, 0, "allocations on the per-frame path");
}
