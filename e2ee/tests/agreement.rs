//! Key agreement and rotation, end to end: several `Session`s exchange key messages through an
//! in-test relay on a virtual clock, then seal and open frames with the keys they agreed.
//!
//! Written against the `Context` contract (real AEAD): a frame under a key the receiver lacks
//! is `UnknownKeyId`, under another key `AuthenticationFailed`.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::time::{Duration, Instant};

use chacha20::ChaCha20Rng;
use rand_core::SeedableRng;
use telesfu_e2ee::agreement::{Announcement, EphemeralKey, KeyMessage, SigningKey, VerifyingKey};
use telesfu_e2ee::session::{Destination, Event, RotationReason, Session, SessionConfig};
use telesfu_e2ee::{CipherSuite, Error, KeyId, MemberId};

const A: MemberId = MemberId(1);
const B: MemberId = MemberId(2);
const C: MemberId = MemberId(3);
const D: MemberId = MemberId(4);
const CALL: &[u8] = b"clinic-7/consult-2026-11-22T09:00/nonce-5f3a";

fn identity(m: MemberId) -> SigningKey {
    SigningKey::from_bytes(&[0x40 + m.0 as u8; 32])
}

fn vk(m: MemberId) -> VerifyingKey {
    identity(m).verifying_key()
}

fn base_instant() -> Instant {
    #[allow(clippy::disallowed_methods)] // the one clock read: a base for virtual time
    Instant::now()
}

type S = Session<ChaCha20Rng>;

/// The members' sessions and a relay that delivers in order, instantly, to members present.
struct Net {
    now: Instant,
    config: fn() -> SessionConfig,
    sessions: BTreeMap<MemberId, S>,
    /// Members the relay forwards to (a member that left gets nothing more).
    present: BTreeSet<MemberId>,
    /// Every message the relay carried: (from, to).
    carried: Vec<(MemberId, MemberId)>,
    events: BTreeMap<MemberId, Vec<Event>>,
}

fn default_config() -> SessionConfig {
    SessionConfig::new(CipherSuite::Aes128GcmSha256)
}

impl Net {
    fn new(config: fn() -> SessionConfig) -> Self {
        Self {
            now: base_instant(),
            config,
            sessions: BTreeMap::new(),
            present: BTreeSet::new(),
            carried: Vec::new(),
            events: BTreeMap::new(),
        }
    }

    /// `m` joins: its session starts, it and every present member add each other.
    fn join(&mut self, m: MemberId) {
        let s = Session::new(
            (self.config)(),
            identity(m),
            m,
            CALL,
            ChaCha20Rng::from_seed([m.0 as u8; 32]),
            self.now,
        )
        .unwrap();
        self.sessions.insert(m, s);
        let others: Vec<MemberId> = self.present.iter().copied().collect();
        self.present.insert(m);
        for o in others {
            let now = self.now;
            self.s(o).add_member(now, m, vk(m)).unwrap();
            self.s(m).add_member(now, o, vk(o)).unwrap();
        }
        self.drive();
    }

    /// `m` leaves: the relay stops forwarding to it, the others remove it. Its session lives
    /// on (with whatever keys it had), as a leaver's client would.
    fn leave(&mut self, m: MemberId) {
        self.present.remove(&m);
        let now = self.now;
        for o in self.present.clone() {
            self.s(o).remove_member(now, m).unwrap();
        }
        self.drive();
    }

    fn s(&mut self, m: MemberId) -> &mut S {
        self.sessions.get_mut(&m).unwrap()
    }

    /// Relays messages until every queue is empty; every message must be accepted.
    fn drive(&mut self) {
        let mut queue: VecDeque<(MemberId, MemberId, Vec<u8>)> = VecDeque::new();
        for round in 0.. {
            assert!(round < 10_000, "key exchange does not settle");
            for (&from, s) in self.sessions.iter_mut() {
                while let Some(t) = s.poll_message() {
                    if !self.present.contains(&from) {
                        continue; // a leaver's messages go nowhere
                    }
                    let targets: Vec<MemberId> = match t.destination {
                        Destination::Member(to) => vec![to],
                        Destination::AllMembers => self
                            .present
                            .iter()
                            .copied()
                            .filter(|&m| m != from)
                            .collect(),
                        other => panic!("unknown destination {other:?}"),
                    };
                    for to in targets {
                        self.carried.push((from, to));
                        if self.present.contains(&to) {
                            queue.push_back((from, to, t.payload.clone()));
                        }
                    }
                }
                while let Some(e) = s.poll_event() {
                    self.events.entry(from).or_default().push(e);
                }
            }
            let Some((from, to, bytes)) = queue.pop_front() else {
                break;
            };
            let now = self.now;
            if let Err(e) = self.s(to).handle_message(now, &bytes) {
                panic!("{to} rejected a message from {from}: {e}");
            }
        }
    }

    /// Advances virtual time to `t`, firing every timer due on the way at its instant.
    fn advance_to(&mut self, t: Instant) {
        for round in 0.. {
            assert!(round < 10_000, "timers do not settle");
            let next = self
                .sessions
                .values()
                .filter_map(|s| s.poll_timeout())
                .min();
            match next {
                Some(at) if at <= t => {
                    self.now = self.now.max(at);
                    let now = self.now;
                    for s in self.sessions.values_mut() {
                        if s.poll_timeout().is_some_and(|d| d <= now) {
                            s.handle_timeout(now);
                        }
                    }
                    self.drive();
                }
                _ => break,
            }
        }
        self.now = self.now.max(t);
    }

    fn advance(&mut self, d: Duration) {
        let t = self.now + d;
        self.advance_to(t);
    }

    /// A frame sealed by `m` under its current key.
    fn seal(&mut self, m: MemberId, payload: &[u8]) -> (KeyId, Vec<u8>) {
        let s = self.s(m);
        let kid = s.current_send_kid().expect("sender has a key");
        let mut out = vec![0; payload.len() + s.context().max_overhead()];
        let n = s
            .context_mut()
            .seal(kid, b"meta", payload, &mut out)
            .unwrap();
        out.truncate(n);
        (kid, out)
    }

    fn open(&mut self, m: MemberId, frame: &[u8]) -> Result<Vec<u8>, Error> {
        let mut out = vec![0; frame.len()];
        let opened = self.s(m).context_mut().open(b"meta", frame, &mut out)?;
        Ok(out[opened.payload].to_vec())
    }

    fn take_events(&mut self, m: MemberId) -> Vec<Event> {
        self.events.remove(&m).unwrap_or_default()
    }
}

/// A, B and C in a call with every key agreed and switched to.
fn three_members() -> Net {
    let mut net = Net::new(default_config);
    for m in [A, B, C] {
        net.join(m);
    }
    net.advance(Duration::from_secs(3));
    net
}

#[test]
fn three_members_agree_and_every_frame_opens_everywhere_else() {
    let mut net = three_members();
    for m in [A, B, C] {
        let s = net.s(m);
        assert_eq!(s.members().count(), 2);
        for o in [A, B, C] {
            assert_eq!(s.is_verified(o), o != m, "{m} verified {o}");
        }
        assert_eq!(s.pending_send_kid(), None, "{m} switched to its newest key");
    }
    for sender in [A, B, C] {
        let payload = format!("frame from {sender}").into_bytes();
        let (kid, frame) = net.seal(sender, &payload);
        // The KID names the sender: (member id << 8) | generation.
        assert_eq!(kid.0 >> 8, sender.0);
        for receiver in [A, B, C] {
            if receiver != sender {
                assert_eq!(
                    net.open(receiver, &frame),
                    Ok(payload.clone()),
                    "{receiver}"
                );
            }
        }
    }
}

#[test]
fn safety_numbers_agree_and_change_when_a_members_key_changes() {
    let mut net = three_members();
    let before = net.s(A).safety_number();
    assert_eq!(net.s(B).safety_number(), before);
    assert_eq!(net.s(C).safety_number(), before);
    assert_eq!(before.to_string().len(), 35);
    assert!(
        before
            .to_string()
            .split(' ')
            .all(|g| g.len() == 5 && g.bytes().all(|b| b.is_ascii_digit()))
    );

    // B makes a new ephemeral key: every screen shows a new, equal number.
    let now = net.now;
    net.s(B).refresh_ephemeral(now).unwrap();
    net.drive();
    let after = net.s(A).safety_number();
    assert_ne!(after, before);
    assert_eq!(net.s(B).safety_number(), after);
    assert_eq!(net.s(C).safety_number(), after);
    assert!(
        net.take_events(C)
            .contains(&Event::SafetyNumberChanged(after))
    );

    // Keys still flow under the new pairwise keys: B's and A's next keys reach everyone.
    let now = net.now;
    net.s(B).request_rotation(now);
    net.s(A).request_rotation(now);
    net.drive();
    net.advance(Duration::from_secs(3));
    for sender in [A, B] {
        let (_, frame) = net.seal(sender, b"after refresh");
        for r in [A, B, C] {
            if r != sender {
                assert_eq!(net.open(r, &frame), Ok(b"after refresh".to_vec()));
            }
        }
    }

    // Membership is part of the number too.
    net.leave(C);
    assert_ne!(net.s(A).safety_number(), after);
    assert_eq!(net.s(A).safety_number(), net.s(B).safety_number());
}

#[test]
fn after_a_leave_the_new_key_reaches_the_others_but_not_the_leaver() {
    let mut net = three_members();
    let (old_kid, frame_before) = net.seal(A, b"before the leave");
    assert_eq!(net.open(C, &frame_before), Ok(b"before the leave".to_vec()));
    let carried_before = net.carried.len();

    net.leave(C);
    // A and B started new keys at once, delivered to each other only.
    assert!(net.take_events(A).iter().any(|e| matches!(
        e,
        Event::RotationStarted {
            reason: RotationReason::MemberLeft(C),
            ..
        }
    )));
    assert!(net.carried[carried_before..].iter().all(|&(_, to)| to != C));
    assert!(net.carried[carried_before..].contains(&(A, B)));

    net.advance(Duration::from_secs(3));
    let (new_kid, frame_after) = net.seal(A, b"after the leave");
    assert_ne!(new_kid, old_kid);
    assert_eq!(net.open(B, &frame_after), Ok(b"after the leave".to_vec()));
    // C still holds A's old key, but not the new one.
    assert!(net.s(C).context().contains_key(old_kid));
    assert_eq!(net.open(C, &frame_after), Err(Error::UnknownKeyId(new_kid)));
    let (_, frame_b) = net.seal(B, b"from B after the leave");
    assert!(matches!(net.open(C, &frame_b), Err(Error::UnknownKeyId(_))));
}

#[test]
fn old_key_opens_frames_in_flight_during_the_grace_period_and_not_after() {
    let mut net = three_members();
    let t0 = net.now;
    let (old_kid, frame1) = net.seal(A, b"in flight 1");
    let (_, frame2) = net.seal(A, b"in flight 2");
    net.s(A).request_rotation(t0);
    net.drive();
    // Until the switch delay has passed A still seals with the old key.
    net.advance(Duration::from_millis(1999));
    assert_eq!(net.s(A).current_send_kid(), Some(old_kid));
    net.advance(Duration::from_millis(1));
    let new_kid = net.s(A).current_send_kid().unwrap();
    assert_ne!(new_kid, old_kid);
    assert!(net.take_events(A).contains(&Event::SendKeyChanged {
        generation: new_kid.0 & 0xff,
        kid: new_kid
    }));

    // B drops A's old key switch_delay + grace (2 s + 10 s) after the new one arrived.
    net.advance_to(t0 + Duration::from_millis(11_999));
    assert_eq!(net.open(B, &frame1), Ok(b"in flight 1".to_vec()));
    net.advance_to(t0 + Duration::from_secs(12));
    assert_eq!(net.open(B, &frame2), Err(Error::UnknownKeyId(old_kid)));
    assert!(net.take_events(B).contains(&Event::KeyRemoved {
        sender: A,
        kid: old_kid
    }));
    // A erased its own old key grace_period after the switch, too.
    assert!(!net.s(A).context().contains_key(old_kid));
    assert!(net.s(A).context().contains_key(new_kid));
}

#[test]
fn periodic_rotation_happens_at_the_configured_interval() {
    fn five_minutes() -> SessionConfig {
        let mut c = default_config();
        c.rotation_interval = Duration::from_secs(300);
        c
    }
    let mut net = Net::new(five_minutes);
    let t0 = net.now;
    for m in [A, B, C] {
        net.join(m);
    }
    // The last new key was made at t0 (when C joined): the next is due at t0 + 300 s.
    net.advance(Duration::from_secs(3));
    let first = net.s(A).current_send_kid().unwrap();
    net.take_events(A);
    net.advance_to(t0 + Duration::from_millis(299_999));
    assert_eq!(net.s(A).current_send_kid(), Some(first));
    assert_eq!(net.s(A).pending_send_kid(), None);

    let mut kids = vec![first];
    for round in 1..=3u32 {
        let due = t0 + Duration::from_secs(300) * round;
        net.advance_to(due);
        let started: Vec<_> = net
            .take_events(A)
            .into_iter()
            .filter(|e| {
                matches!(
                    e,
                    Event::RotationStarted {
                        reason: RotationReason::Periodic,
                        ..
                    }
                )
            })
            .collect();
        assert_eq!(started.len(), 1, "round {round}: {started:?}");
        net.advance(Duration::from_secs(2));
        let kid = net.s(A).current_send_kid().unwrap();
        assert!(!kids.contains(&kid));
        kids.push(kid);
        let (_, frame) = net.seal(A, b"periodic");
        assert_eq!(net.open(B, &frame), Ok(b"periodic".to_vec()));
        assert_eq!(net.open(C, &frame), Ok(b"periodic".to_vec()));
    }
}

#[test]
fn a_joiner_cannot_open_frames_sealed_before_it_joined() {
    let mut net = three_members();
    let (kid_before, frame_before) = net.seal(A, b"before D joined");
    net.join(D);
    // D got A's new key, not the one in use when it joined.
    assert!(!net.s(D).context().contains_key(kid_before));
    assert_eq!(
        net.open(D, &frame_before),
        Err(Error::UnknownKeyId(kid_before))
    );
    net.advance(Duration::from_secs(3));
    let (_, frame_after) = net.seal(A, b"after D joined");
    for m in [B, C, D] {
        assert_eq!(net.open(m, &frame_after), Ok(b"after D joined".to_vec()));
    }
    let n = net.s(A).safety_number();
    for m in [B, C, D] {
        assert_eq!(net.s(m).safety_number(), n);
    }
}

#[test]
fn without_rotate_on_join_a_joiner_gets_the_current_key() {
    fn share() -> SessionConfig {
        let mut c = default_config();
        c.rotate_on_join = false;
        c
    }
    let mut net = Net::new(share);
    for m in [A, B, C] {
        net.join(m);
    }
    let (_, frame_before) = net.seal(A, b"before D joined");
    net.join(D);
    // No switch delay needed: D holds the key A seals with now.
    assert_eq!(net.open(D, &frame_before), Ok(b"before D joined".to_vec()));
}

/// A fresh B that knows A's identity and is waiting for A's announcement.
fn b_waiting_for_a() -> (S, Announcement, Instant) {
    let t = base_instant();
    let mut a = Session::new(
        default_config(),
        identity(A),
        A,
        CALL,
        ChaCha20Rng::from_seed([1; 32]),
        t,
    )
    .unwrap();
    let mut b = Session::new(
        default_config(),
        identity(B),
        B,
        CALL,
        ChaCha20Rng::from_seed([2; 32]),
        t,
    )
    .unwrap();
    a.add_member(t, B, vk(B)).unwrap();
    b.add_member(t, A, vk(A)).unwrap();
    let ann = a.announcement().clone();
    (b, ann, t)
}

#[test]
fn a_substituted_ephemeral_key_is_rejected() {
    let (mut b, genuine, t) = b_waiting_for_a();
    let safety = b.safety_number();
    let mut rng = ChaCha20Rng::from_seed([0xee; 32]);
    let attacker_eph = EphemeralKey::generate(&mut rng, 0);

    // 1. The relay swaps the X25519 key in A's announcement.
    let mut swapped = genuine.clone();
    swapped.ephemeral = attacker_eph.public();
    assert_eq!(
        b.handle_message(t, &swapped.encode()),
        Err(Error::InvalidSignature(A))
    );

    // 2. It re-signs its own key with an identity key that is not A's.
    let attacker = SigningKey::from_bytes(&[0xaa; 32]);
    let resigned = attacker_eph.announce(b.call_id(), A, &attacker);
    assert_eq!(
        b.handle_message(t, &resigned.encode()),
        Err(Error::InvalidSignature(A))
    );

    // 3. It replays C's genuine announcement relabelled as A's.
    let c_eph = EphemeralKey::generate(&mut rng, 0);
    let mut relabelled = c_eph.announce(b.call_id(), C, &identity(C));
    relabelled.member = A;
    assert_eq!(
        b.handle_message(t, &relabelled.encode()),
        Err(Error::InvalidSignature(A))
    );

    // 4. It replays A's announcement from another call.
    let other_call = telesfu_e2ee::agreement::CallId::from_binding(b"another call").unwrap();
    let a_eph = EphemeralKey::generate(&mut rng, 0);
    let elsewhere = a_eph.announce(&other_call, A, &identity(A));
    assert_eq!(
        b.handle_message(t, &elsewhere.encode()),
        Err(Error::InvalidSignature(A))
    );

    // 5. A bumped sequence number breaks the signature as well.
    let mut bumped = genuine.clone();
    bumped.seq += 1;
    assert_eq!(
        b.handle_message(t, &bumped.encode()),
        Err(Error::InvalidSignature(A))
    );

    // Nothing changed; the genuine announcement still verifies afterwards.
    assert!(!b.is_verified(A));
    assert_eq!(b.safety_number(), safety);
    assert_eq!(b.handle_message(t, &genuine.encode()), Ok(()));
    assert!(b.is_verified(A));
    assert_ne!(b.safety_number(), safety);
}

#[test]
fn announcements_before_add_member_are_parked_and_verified_on_add() {
    let t = base_instant();
    let mut a = Session::new(
        default_config(),
        identity(A),
        A,
        CALL,
        ChaCha20Rng::from_seed([1; 32]),
        t,
    )
    .unwrap();
    let mut b = Session::new(
        default_config(),
        identity(B),
        B,
        CALL,
        ChaCha20Rng::from_seed([2; 32]),
        t,
    )
    .unwrap();
    a.add_member(t, B, vk(B)).unwrap();
    let ann = a.poll_message().unwrap();
    assert_eq!(ann.destination, Destination::Member(B));
    // B has not heard of A yet.
    assert_eq!(b.handle_message(t, &ann.payload), Ok(()));
    assert!(!b.is_verified(A));
    b.add_member(t, A, vk(A)).unwrap();
    assert!(b.is_verified(A));

    // A parked forgery surfaces as an event when its member is added.
    let mut c = Session::new(
        default_config(),
        identity(C),
        C,
        CALL,
        ChaCha20Rng::from_seed([3; 32]),
        t,
    )
    .unwrap();
    let mut forged = a.announcement().clone();
    forged.ephemeral[0] ^= 1;
    assert_eq!(c.handle_message(t, &forged.encode()), Ok(()));
    c.add_member(t, A, vk(A)).unwrap();
    assert!(!c.is_verified(A));
    let mut events = Vec::new();
    while let Some(e) = c.poll_event() {
        events.push(e);
    }
    assert!(events.contains(&Event::DeferredMessageRejected(Error::InvalidSignature(A))));
}

#[test]
fn key_deliveries_are_checked_before_anything_is_installed() {
    let mut net = Net::new(default_config);
    net.join(A);
    net.join(B);
    let t = net.now;
    // Capture one of A's deliveries to B by rotating A and reading its queue directly.
    net.s(A).request_rotation(t);
    let mut delivery = None;
    while let Some(m) = net.s(A).poll_message() {
        if let Ok(KeyMessage::KeyDelivery(d)) = KeyMessage::decode(&m.payload) {
            delivery = Some((d, m.payload));
        }
    }
    let (d, bytes) = delivery.expect("A delivered its new key to B");
    assert_eq!(d.info().recipient, B);

    // Any flipped bit is refused, and nothing is installed.
    for i in 2..bytes.len() {
        let mut bad = bytes.clone();
        bad[i] ^= 0x01;
        let r = net.s(B).handle_message(t, &bad);
        assert!(r.is_err(), "byte {i} flipped was accepted");
    }
    assert!(!net.s(B).context().contains_key(d.info().kid));
    // Misrouted: sealed for B, handed to A.
    assert_eq!(
        net.s(A).handle_message(t, &bytes),
        Err(Error::InvalidKeyMessage(
            "key delivery addressed to another member"
        ))
    );
    // The genuine one installs, and a replay of it is a harmless no-op.
    assert_eq!(net.s(B).handle_message(t, &bytes), Ok(()));
    assert!(net.s(B).context().contains_key(d.info().kid));
    assert_eq!(net.s(B).handle_message(t, &bytes), Ok(()));
}

#[test]
fn spurious_and_early_timeouts_change_nothing() {
    let mut net = three_members();
    net.take_events(A);
    let kid = net.s(A).current_send_kid();
    let due = net.s(A).poll_timeout().unwrap();
    let now = net.now;
    assert!(due > now);
    for _ in 0..3 {
        net.s(A).handle_timeout(now);
        // An earlier `now` is taken as the latest seen.
        net.s(A).handle_timeout(now - Duration::from_secs(1));
    }
    assert_eq!(net.s(A).current_send_kid(), kid);
    assert_eq!(net.s(A).poll_timeout(), Some(due));
    assert!(net.s(A).poll_event().is_none());
    assert!(net.s(A).poll_message().is_none());
}

#[test]
fn a_seeded_session_replays_exactly() {
    fn run() -> Vec<Vec<u8>> {
        let mut net = three_members();
        net.leave(B);
        net.advance(Duration::from_secs(20));
        let (_, f) = net.seal(A, b"x");
        vec![f, net.s(A).safety_number().to_string().into_bytes()]
    }
    assert_eq!(run(), run());
}

/// An RNG that hands out fixed bytes, to rebuild a vector's ephemeral keys and nonce.
struct Replay(VecDeque<u8>);

impl rand_core::TryRng for Replay {
    type Error = core::convert::Infallible;
    fn try_next_u32(&mut self) -> Result<u32, Self::Error> {
        let mut b = [0; 4];
        self.try_fill_bytes(&mut b)?;
        Ok(u32::from_le_bytes(b))
    }
    fn try_next_u64(&mut self) -> Result<u64, Self::Error> {
        let mut b = [0; 8];
        self.try_fill_bytes(&mut b)?;
        Ok(u64::from_le_bytes(b))
    }
    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Self::Error> {
        for d in dst {
            *d = self.0.pop_front().expect("vector RNG exhausted");
        }
        Ok(())
    }
}

impl rand_core::TryCryptoRng for Replay {}

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

/// Vectors made by `tests/data/agreement_vectors.py`, an independent implementation of the
/// documented format on pyca/cryptography.
#[test]
fn independent_vectors_match() {
    use telesfu_e2ee::agreement::{
        CallId, DeliveryInfo, KeyDelivery, PairwiseKek, SafetyEntry, SafetyNumber, SenderBaseKey,
    };
    let v: serde_json::Value =
        serde_json::from_str(include_str!("data/agreement_vectors.json")).unwrap();
    let hex = |k: &str| unhex(v[k].as_str().unwrap());
    let num = |k: &str| v[k].as_u64().unwrap();
    let arr32 = |k: &str| -> [u8; 32] { hex(k).try_into().unwrap() };

    let call = CallId::from_binding(&hex("call_binding")).unwrap();
    assert_eq!(call.as_bytes().to_vec(), hex("call_id"));
    let (a, b) = (MemberId(num("member_a")), MemberId(num("member_b")));
    let a_id = SigningKey::from_bytes(&arr32("identity_seed_a"));
    let b_id = SigningKey::from_bytes(&arr32("identity_seed_b"));
    let a_eph = EphemeralKey::generate(
        &mut Replay(hex("ephemeral_secret_a").into()),
        num("seq_a") as u32,
    );
    let b_eph = EphemeralKey::generate(
        &mut Replay(hex("ephemeral_secret_b").into()),
        num("seq_b") as u32,
    );
    assert_eq!(a_eph.public().to_vec(), hex("ephemeral_public_a"));
    assert_eq!(b_eph.public().to_vec(), hex("ephemeral_public_b"));

    let ann_a = a_eph.announce(&call, a, &a_id);
    let ann_b = b_eph.announce(&call, b, &b_id);
    assert_eq!(ann_a.encode().to_vec(), hex("announcement_a"));
    assert_eq!(ann_b.encode().to_vec(), hex("announcement_b"));
    let parsed = Announcement::decode(&hex("announcement_b")).unwrap();
    assert_eq!(parsed.verify(&call, &b_id.verifying_key()), Ok(()));

    let kek_a = PairwiseKek::derive(&call, a, &a_eph, b, &b_eph.public()).unwrap();
    let kek_b = PairwiseKek::derive(&call, b, &b_eph, a, &a_eph.public()).unwrap();
    let info = DeliveryInfo {
        sender: a,
        recipient: b,
        sender_seq: num("seq_a") as u32,
        recipient_seq: num("seq_b") as u32,
        generation: num("generation"),
        kid: KeyId(num("kid")),
    };
    let base_key = SenderBaseKey::from_bytes(arr32("base_key"));
    let sealed = KeyDelivery::seal(
        &mut Replay(hex("nonce").into()),
        &kek_a,
        &call,
        info,
        &base_key,
    );
    assert_eq!(sealed.encode().to_vec(), hex("delivery_a_to_b"));
    let theirs = KeyDelivery::decode(&hex("delivery_a_to_b")).unwrap();
    assert_eq!(theirs.info(), &info);
    assert_eq!(
        theirs.open(&kek_b, &call).unwrap().as_bytes(),
        base_key.as_bytes()
    );

    let n = SafetyNumber::compute(
        &call,
        &[
            SafetyEntry {
                member: a,
                identity: a_id.verifying_key(),
                ephemeral: a_eph.public(),
            },
            SafetyEntry {
                member: b,
                identity: b_id.verifying_key(),
                ephemeral: b_eph.public(),
            },
        ],
    )
    .unwrap();
    assert_eq!(n.to_string(), v["safety_number"].as_str().unwrap());
}
