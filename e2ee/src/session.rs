//! The sans-IO end-to-end-encryption session of one call member: key agreement
//! ([`crate::agreement`]), sender-key rotation and an SFrame [`Context`] in one state machine.
//!
//! # KIDs
//!
//! Every sender's keys live in their own part of the KID space, in the §5.2 layout of
//! [`MlsKidLayout`] with context 0:
//!
//! ```text
//! KID = (member_id << E) | (generation mod 2^E)        E = SessionConfig::epoch_bits (default 8)
//! ```
//!
//! The member id is the product's number for the member (its participant index), so it must be
//! below `2^(63 - E)`; small ids give short SFrame headers (ids below 256 with E = 8 give a
//! 2-byte KID). A receiver accepts a key only under the KID its sender's id and the
//! generation dictate, so no member can install a key in another sender's KID space. At most
//! three generations per sender are live at once, far below `2^E`, and a new generation
//! evicts any older one that shares its low E bits (as §5.2 requires).
//!
//! # Rotation
//!
//! - **First key**: made when the first other member is added, and used at once (nobody
//!   holds an older one to fall back on).
//! - **Periodic**: every [`SessionConfig::rotation_interval`] (default 30 min) after the last
//!   new key.
//! - **Leave**: [`Session::remove_member`] makes a fresh random key and delivers it to the
//!   remaining members only. Ratcheting would not do: the leaver can ratchet too.
//! - **Join** ([`SessionConfig::rotate_on_join`], default on): a joiner gets a fresh key that
//!   nothing was sealed under before it joined, never the current one, so a joiner cannot
//!   decrypt media the server may have recorded before it arrived (in a consultation, what the
//!   patient said before an interpreter or a second clinician was brought in). The cost is
//!   one extra delivery per member per join and [`SessionConfig::switch_delay`] before the
//!   joiner can decrypt us. A §5.1 ratchet would save the deliveries but needs the
//!   step-in-KID layout and receivers that ratchet on unknown KIDs; calls are small, so a fresh
//!   key is the simpler sound choice. Joins that land while a new key is still pending share
//!   it. With the option off, a joiner gets the current key (and any pending one).
//! - **Switch**: a new key is delivered at once but sealed with only after
//!   [`SessionConfig::switch_delay`] (default 2 s: deliveries are ~100-byte messages on the
//!   signalling path, and Zoom waits about as long), so receivers have it before the first
//!   frame under it. On the switch [`Event::SendKeyChanged`] tells the product to send a
//!   keyframe (RFC 9605 §6.2).
//! - **Grace**: an old key stays installed for [`SessionConfig::grace_period`] (default 10 s)
//!   after the switch, so frames in flight still open; then it is removed from the context,
//!   which erases it. A receiver cannot see the sender's switch, so it removes a sender's
//!   previous key `switch_delay + grace_period` after the new one arrived (members of one call
//!   share one configuration). A leaver's keys go `grace_period` after its removal.
//!
//! # Relay requirements
//!
//! The relay (the SFU's signalling path) carries [`Transmit`] payloads as opaque bytes to
//! [`Transmit::destination`], and keeps each sender's messages in order: a member announces a
//! new ephemeral key before it sends deliveries sealed under it.

use core::fmt;
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::time::{Duration, Instant};

use rand_core::CryptoRng;

use crate::agreement::{
    Announcement, CallId, DeliveryInfo, EphemeralKey, KeyDelivery, KeyMessage, PairwiseKek,
    SafetyEntry, SafetyNumber, SenderBaseKey, SigningKey, VerifyingKey,
};
use crate::kid::MlsKidLayout;
use crate::{CipherSuite, Context, ContextConfig, Error, KeyId, MemberId};

/// Most key generations of one sender installed at once (current, previous in its grace
/// period, and a newer one not yet sealed with).
const MAX_LIVE_GENERATIONS: usize = 3;

/// How a [`Session`] behaves. Build with [`SessionConfig::new`], then change fields.
#[non_exhaustive]
pub struct SessionConfig {
    /// The SFrame context: suite, crypto backend, replay window, key capacity.
    /// `max_keys` must be at least `3 * max_members + 2`.
    pub context: ContextConfig,
    /// E: low KID bits that hold the key generation (1-16). Default 8.
    pub epoch_bits: u8,
    /// A new send key after this long with no other new key. Default 30 minutes.
    pub rotation_interval: Duration,
    /// How long a new send key is delivered but not yet sealed with. Default 2 s.
    pub switch_delay: Duration,
    /// How long a replaced key still opens frames in flight. Default 10 s.
    pub grace_period: Duration,
    /// Give each joiner a fresh key rather than the current one. Default on (see the
    /// [module docs](self)).
    pub rotate_on_join: bool,
    /// Most other members at once. Default 32.
    pub max_members: usize,
    /// Bound of the outgoing message queue; beyond it messages are dropped and counted.
    /// Default 1024.
    pub max_queued_messages: usize,
    /// Bound of the event queue; beyond it events are dropped and counted. Default 1024.
    pub max_queued_events: usize,
}

impl SessionConfig {
    /// Defaults for `suite`. Raises the context's `max_keys` to what 32 members need.
    pub fn new(suite: CipherSuite) -> Self {
        let mut context = ContextConfig::new(suite);
        let max_members = 32;
        context.max_keys = context.max_keys.max(keys_needed(max_members));
        Self {
            context,
            epoch_bits: 8,
            rotation_interval: Duration::from_secs(30 * 60),
            switch_delay: Duration::from_secs(2),
            grace_period: Duration::from_secs(10),
            rotate_on_join: true,
            max_members,
            max_queued_messages: 1024,
            max_queued_events: 1024,
        }
    }
}

impl fmt::Debug for SessionConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SessionConfig")
            .field("suite", &self.context.suite)
            .field("max_keys", &self.context.max_keys)
            .field("epoch_bits", &self.epoch_bits)
            .field("rotation_interval", &self.rotation_interval)
            .field("switch_delay", &self.switch_delay)
            .field("grace_period", &self.grace_period)
            .field("rotate_on_join", &self.rotate_on_join)
            .field("max_members", &self.max_members)
            .field("max_queued_messages", &self.max_queued_messages)
            .field("max_queued_events", &self.max_queued_events)
            .finish()
    }
}

fn keys_needed(max_members: usize) -> usize {
    max_members
        .saturating_mul(MAX_LIVE_GENERATIONS)
        .saturating_add(2)
}

/// Where a [`Transmit`] goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Destination {
    /// One member.
    Member(MemberId),
    /// Every other member of the call.
    AllMembers,
}

/// A key message to relay.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Transmit {
    /// Who gets it.
    pub destination: Destination,
    /// The encoded message ([`crate::agreement`] wire format), opaque to the relay.
    pub payload: Vec<u8>,
}

/// Why this member made a new send key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RotationReason {
    /// The first key, made when the first other member was added.
    First,
    /// [`SessionConfig::rotation_interval`] passed.
    Periodic,
    /// A member joined ([`SessionConfig::rotate_on_join`]).
    MemberJoined(MemberId),
    /// A member left.
    MemberLeft(MemberId),
    /// [`Session::request_rotation`].
    Requested,
}

/// Something the product may want to know or show.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// A member's announcement verified against its identity key: its ephemeral key is bound
    /// to it (again, after a refresh, with a higher `seq`).
    MemberVerified {
        /// The member.
        member: MemberId,
        /// Its announcement sequence number.
        seq: u32,
    },
    /// A sender's key was installed and now opens its frames.
    ReceiveKeyInstalled {
        /// The sender.
        sender: MemberId,
        /// The sender's key generation.
        generation: u64,
        /// The KID its frames carry.
        kid: KeyId,
    },
    /// A key was removed from the context and erased (grace over, or superseded).
    KeyRemoved {
        /// Whose key it was (possibly this member's own send key).
        sender: MemberId,
        /// Its KID.
        kid: KeyId,
    },
    /// This member made a new send key and delivered it; it seals with it from `switch_at`.
    RotationStarted {
        /// The new key's generation.
        generation: u64,
        /// Its KID.
        kid: KeyId,
        /// Why.
        reason: RotationReason,
        /// When sealing switches to it.
        switch_at: Instant,
    },
    /// This member now seals with a new key ([`Session::current_send_kid`]). Send a keyframe
    /// now (RFC 9605 §6.2).
    SendKeyChanged {
        /// The key's generation.
        generation: u64,
        /// Its KID.
        kid: KeyId,
    },
    /// The call's safety number changed (a member's keys changed, or membership did).
    SafetyNumberChanged(SafetyNumber),
    /// Making a new send key failed; it is retried after `switch_delay`. Until it succeeds,
    /// a member that left may still decrypt this member's frames.
    RotationFailed(Error),
    /// An announcement that arrived before its member was added failed when the member was
    /// added.
    DeferredMessageRejected(Error),
}

struct OwnKey {
    generation: u64,
    kid: KeyId,
    key: SenderBaseKey,
}

struct Pending {
    key: OwnKey,
    switch_at: Instant,
}

struct PeerEphemeral {
    seq: u32,
    public: [u8; 32],
    kek: PairwiseKek,
}

struct RecvKey {
    generation: u64,
    kid: KeyId,
}

struct Peer {
    identity: VerifyingKey,
    ephemeral: Option<PeerEphemeral>,
    /// Oldest generation of our keys this member may receive.
    min_generation: u64,
    /// Installed receive keys, oldest generation first.
    recv: Vec<RecvKey>,
}

/// The E2EE session of one member in one call.
///
/// # Contract
///
/// A `Session` does no I/O and reads no clock; the product drives it:
///
/// - **Getters** ([`Session::current_send_kid`], [`Session::safety_number`],
///   [`Session::context`], ...) change nothing.
/// - **Input**: [`Session::add_member`] and [`Session::remove_member`] when the product's
///   signalling says a member joined or left; [`Session::handle_message`] for every key message
///   the relay delivers; [`Session::handle_timeout`] when the instant from
///   [`Session::poll_timeout`] is reached. [`Session::request_rotation`] and
///   [`Session::refresh_ephemeral`] on the product's decision.
/// - **Drain** after every input, in this order: [`Session::poll_message`] until `None`
///   (send each [`Transmit`] through the relay), then [`Session::poll_event`] until `None`,
///   then [`Session::poll_timeout`] to re-arm the one timer.
/// - **Media**: [`Session::context_mut`] seals (under [`Session::current_send_kid`]) and opens
///   frames. Use it for `seal` and `open` only: the session owns which keys are installed.
///
/// Every input takes `now`, which only moves forward; an earlier `now` is taken as the latest
/// seen. A timeout that arrives early or twice is a no-op. Randomness (ephemeral keys, base
/// keys, nonces) comes from the RNG the caller passes to [`Session::new`], so a seeded RNG
/// replays a whole session exactly.
///
/// An input that returns `Err` was refused: a malformed, forged or misrouted message, or a
/// bad call, changes nothing.
pub struct Session<R> {
    call: CallId,
    me: MemberId,
    identity: SigningKey,
    identity_public: VerifyingKey,
    rng: R,
    context: Context,
    layout: MlsKidLayout,

    rotation_interval: Duration,
    switch_delay: Duration,
    grace_period: Duration,
    rotate_on_join: bool,
    max_members: usize,
    max_keys: usize,
    max_queued_messages: usize,
    max_queued_events: usize,

    now: Instant,
    ephemeral: EphemeralKey,
    announcement: Announcement,
    members: BTreeMap<MemberId, Peer>,
    /// Announcements from members not added yet, latest per member.
    parked: BTreeMap<MemberId, Announcement>,

    current: Option<OwnKey>,
    pending: Option<Pending>,
    next_generation: u64,
    next_rotation_at: Option<Instant>,

    /// Keys to remove, by time; `removal_at` indexes it by KID.
    removals: BTreeSet<(Instant, KeyId)>,
    removal_at: BTreeMap<KeyId, Instant>,
    /// Keys this session installed in the context.
    installed: usize,

    safety: SafetyNumber,
    outgoing: VecDeque<Transmit>,
    events: VecDeque<Event>,
    dropped_messages: u64,
    dropped_events: u64,
    dropped_parked: u64,
}

impl<R> fmt::Debug for Session<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Session")
            .field("call", &self.call)
            .field("me", &self.me)
            .field("members", &self.members.keys().collect::<Vec<_>>())
            .field("current_send_kid", &self.current.as_ref().map(|k| k.kid))
            .field(
                "pending_send_kid",
                &self.pending.as_ref().map(|p| p.key.kid),
            )
            .field("safety_number", &self.safety)
            .field("queued_messages", &self.outgoing.len())
            .field("queued_events", &self.events.len())
            .finish_non_exhaustive()
    }
}

impl<R: CryptoRng> Session<R> {
    /// A session for member `me` in the call named by `call_binding` (see
    /// [`CallId::from_binding`]), with the member's long-term `identity` key. Makes the first
    /// ephemeral key from `rng`; the session keeps `rng` for all later randomness.
    pub fn new(
        config: SessionConfig,
        identity: SigningKey,
        me: MemberId,
        call_binding: &[u8],
        mut rng: R,
        now: Instant,
    ) -> Result<Self, Error> {
        let layout = MlsKidLayout::new(config.epoch_bits, 63 - config.epoch_bits.min(63))?;
        layout
            .kid(0, me.0, 0)
            .map_err(|_| Error::InvalidConfig("member id must be below 2^(63 - epoch_bits)"))?;
        if config.rotation_interval.is_zero() {
            return Err(Error::InvalidConfig("rotation_interval must be positive"));
        }
        if config.switch_delay >= config.rotation_interval {
            return Err(Error::InvalidConfig(
                "switch_delay must be shorter than rotation_interval",
            ));
        }
        if config.max_members == 0
            || config.max_queued_messages == 0
            || config.max_queued_events == 0
        {
            return Err(Error::InvalidConfig(
                "max_members and the queue bounds must be at least 1",
            ));
        }
        if config.context.max_keys < keys_needed(config.max_members) {
            return Err(Error::InvalidConfig(
                "context max_keys must be at least 3 * max_members + 2",
            ));
        }
        let call = CallId::from_binding(call_binding)?;
        let max_keys = config.context.max_keys;
        let context = Context::with_config(config.context)?;
        let identity_public = identity.verifying_key();
        let ephemeral = EphemeralKey::generate(&mut rng, 0);
        let announcement = ephemeral.announce(&call, me, &identity);
        let safety = SafetyNumber::compute(
            &call,
            &[SafetyEntry {
                member: me,
                identity: identity_public,
                ephemeral: ephemeral.public(),
            }],
        )?;
        Ok(Self {
            call,
            me,
            identity,
            identity_public,
            rng,
            context,
            layout,
            rotation_interval: config.rotation_interval,
            switch_delay: config.switch_delay,
            grace_period: config.grace_period,
            rotate_on_join: config.rotate_on_join,
            max_members: config.max_members,
            max_keys,
            max_queued_messages: config.max_queued_messages,
            max_queued_events: config.max_queued_events,
            now,
            ephemeral,
            announcement,
            members: BTreeMap::new(),
            parked: BTreeMap::new(),
            current: None,
            pending: None,
            next_generation: 0,
            next_rotation_at: None,
            removals: BTreeSet::new(),
            removal_at: BTreeMap::new(),
            installed: 0,
            safety,
            outgoing: VecDeque::new(),
            events: VecDeque::new(),
            dropped_messages: 0,
            dropped_events: 0,
            dropped_parked: 0,
        })
    }

    // ----- Getters -----

    /// This member.
    pub fn member_id(&self) -> MemberId {
        self.me
    }

    /// The call.
    pub fn call_id(&self) -> &CallId {
        &self.call
    }

    /// This member's identity public key.
    pub fn identity_public(&self) -> VerifyingKey {
        self.identity_public
    }

    /// This member's current signed announcement.
    pub fn announcement(&self) -> &Announcement {
        &self.announcement
    }

    /// The KID to seal with now; `None` until another member was added.
    pub fn current_send_kid(&self) -> Option<KeyId> {
        self.current.as_ref().map(|k| k.kid)
    }

    /// A new send key delivered but not sealed with yet, if any.
    pub fn pending_send_kid(&self) -> Option<KeyId> {
        self.pending.as_ref().map(|p| p.key.kid)
    }

    /// The safety number over this member and every member whose announcement verified. Equal
    /// on every screen once every member has every other member's announcement.
    pub fn safety_number(&self) -> SafetyNumber {
        self.safety
    }

    /// The other members, in id order.
    pub fn members(&self) -> impl Iterator<Item = MemberId> + '_ {
        self.members.keys().copied()
    }

    /// True when `member`'s announcement verified.
    pub fn is_verified(&self, member: MemberId) -> bool {
        self.members
            .get(&member)
            .is_some_and(|p| p.ephemeral.is_some())
    }

    /// The SFrame context.
    pub fn context(&self) -> &Context {
        &self.context
    }

    /// The SFrame context, to seal and open frames (not to install or remove keys).
    pub fn context_mut(&mut self) -> &mut Context {
        &mut self.context
    }

    /// Messages dropped because the outgoing queue was full.
    pub fn dropped_messages(&self) -> u64 {
        self.dropped_messages
    }

    /// Events dropped because the event queue was full.
    pub fn dropped_events(&self) -> u64 {
        self.dropped_events
    }

    /// Announcements from not-yet-added members dropped because too many were parked.
    pub fn dropped_parked_announcements(&self) -> u64 {
        self.dropped_parked
    }

    // ----- Drain -----

    /// The next key message to relay.
    #[must_use]
    pub fn poll_message(&mut self) -> Option<Transmit> {
        self.outgoing.pop_front()
    }

    /// The next event.
    #[must_use]
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// When [`Session::handle_timeout`] should next be called, if ever.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        let switch = self.pending.as_ref().map(|p| p.switch_at);
        let rotation = self.current.as_ref().and(self.next_rotation_at);
        let removal = self.removals.first().map(|(t, _)| *t);
        [switch, rotation, removal].into_iter().flatten().min()
    }

    // ----- Input -----

    /// Adds a member with its identity public key (from the product's account system). Sends
    /// this member's announcement to it and, per [`SessionConfig::rotate_on_join`], starts a
    /// new send key for it. Its keys arrive once its announcement does.
    pub fn add_member(
        &mut self,
        now: Instant,
        member: MemberId,
        identity: VerifyingKey,
    ) -> Result<(), Error> {
        let now = self.advance(now);
        if member == self.me {
            return Err(Error::InvalidConfig(
                "a session cannot add its own member id",
            ));
        }
        if let Some(peer) = self.members.get(&member) {
            return if peer.identity == identity {
                Ok(())
            } else {
                Err(Error::InvalidConfig(
                    "member already added with another identity key; remove it first",
                ))
            };
        }
        self.layout
            .kid(0, member.0, 0)
            .map_err(|_| Error::InvalidConfig("member id must be below 2^(63 - epoch_bits)"))?;
        if identity.is_weak() {
            return Err(Error::InvalidConfig(
                "identity key is a weak (small-order) key",
            ));
        }
        if self.members.len() >= self.max_members {
            return Err(Error::InvalidConfig(
                "member limit reached (SessionConfig::max_members)",
            ));
        }

        // Which of our keys the joiner may have, and whether it needs a new one.
        let (min_generation, rotate) = match (&self.current, &self.pending) {
            (None, _) => (self.next_generation, true),
            (Some(_), _) if !self.rotate_on_join => (0, false),
            (Some(_), Some(p)) => (p.key.generation, false),
            (Some(_), None) => (self.next_generation, true),
        };
        self.members.insert(
            member,
            Peer {
                identity,
                ephemeral: None,
                min_generation,
                recv: Vec::new(),
            },
        );
        self.queue_message(
            Destination::Member(member),
            self.announcement.encode().to_vec(),
        );
        if rotate {
            let reason = if self.current.is_none() {
                RotationReason::First
            } else {
                RotationReason::MemberJoined(member)
            };
            self.rotate(now, reason);
        }
        if let Some(Err(e)) = self.parked.remove(&member).map(|a| self.on_announcement(a)) {
            self.push_event(Event::DeferredMessageRejected(e));
        }
        Ok(())
    }

    /// Removes a member that left: its receive keys go after the grace period, and a fresh
    /// send key is delivered to the remaining members only.
    pub fn remove_member(&mut self, now: Instant, member: MemberId) -> Result<(), Error> {
        let now = self.advance(now);
        let peer = self
            .members
            .remove(&member)
            .ok_or(Error::UnknownMember(member))?;
        self.parked.remove(&member);
        let at = now + self.grace_period;
        for rk in &peer.recv {
            self.schedule_removal(rk.kid, at);
        }
        if peer.ephemeral.is_some() {
            self.update_safety_number();
        }
        if self.current.is_some() {
            self.rotate(now, RotationReason::MemberLeft(member));
        }
        Ok(())
    }

    /// Feeds one key message from the relay. `Err` means the message was dropped and nothing
    /// changed: [`Error::InvalidSignature`] is a substituted key (report it), the others are
    /// malformed or misrouted messages.
    pub fn handle_message(&mut self, now: Instant, bytes: &[u8]) -> Result<(), Error> {
        let now = self.advance(now);
        match KeyMessage::decode(bytes)? {
            KeyMessage::Announcement(a) => self.on_announcement(a),
            KeyMessage::KeyDelivery(d) => self.on_delivery(now, d),
        }
    }

    /// Runs the timers due at `now`: switches to a pending key, starts a periodic rotation,
    /// removes keys whose grace period is over.
    pub fn handle_timeout(&mut self, now: Instant) {
        let now = self.advance(now);
        if self.pending.as_ref().is_some_and(|p| p.switch_at <= now) {
            self.switch(now);
        }
        if self.current.is_some()
            && self.pending.is_none()
            && self.next_rotation_at.is_some_and(|t| t <= now)
        {
            self.rotate(now, RotationReason::Periodic);
        }
        while let Some(&(at, kid)) = self.removals.first() {
            if at > now {
                break;
            }
            self.remove_key_now(kid);
        }
    }

    /// Starts a new send key now (e.g. when the product suspects a key leaked). Replaces a
    /// pending one. Does nothing before the first key exists.
    pub fn request_rotation(&mut self, now: Instant) {
        let now = self.advance(now);
        if self.current.is_some() {
            self.rotate(now, RotationReason::Requested);
        }
    }

    /// Makes a new ephemeral key, announces it to every member and re-delivers this member's
    /// keys under the new pairwise keys. The safety number changes.
    pub fn refresh_ephemeral(&mut self, now: Instant) -> Result<(), Error> {
        let _ = self.advance(now);
        let seq = self
            .ephemeral
            .seq()
            .checked_add(1)
            .ok_or(Error::InvalidConfig(
                "ephemeral key sequence number exhausted",
            ))?;
        let ephemeral = EphemeralKey::generate(&mut self.rng, seq);
        // Derive every new KEK before changing anything.
        let mut keks = Vec::new();
        for (&id, peer) in &self.members {
            if let Some(e) = &peer.ephemeral {
                keks.push((
                    id,
                    PairwiseKek::derive(&self.call, self.me, &ephemeral, id, &e.public)?,
                ));
            }
        }
        self.ephemeral = ephemeral;
        self.announcement = self.ephemeral.announce(&self.call, self.me, &self.identity);
        self.queue_message(Destination::AllMembers, self.announcement.encode().to_vec());
        for (id, kek) in keks {
            if let Some(e) = self.members.get_mut(&id).and_then(|p| p.ephemeral.as_mut()) {
                e.kek = kek;
            }
            self.deliver_all_to(id);
        }
        self.update_safety_number();
        Ok(())
    }

    // ----- Internals -----

    fn advance(&mut self, now: Instant) -> Instant {
        self.now = self.now.max(now);
        self.now
    }

    fn on_announcement(&mut self, a: Announcement) -> Result<(), Error> {
        if a.member == self.me {
            // The relay echoed ours (or replayed an old one): fine if genuinely ours.
            return a.verify(&self.call, &self.identity_public);
        }
        let Some(peer) = self.members.get(&a.member) else {
            // Not added yet: keep the latest until the product adds the member.
            let newer = self.parked.get(&a.member).is_none_or(|p| p.seq < a.seq);
            if !newer {
                return Ok(());
            }
            if !self.parked.contains_key(&a.member) && self.parked.len() >= self.max_members {
                self.dropped_parked += 1;
                return Ok(());
            }
            self.parked.insert(a.member, a);
            return Ok(());
        };
        a.verify(&self.call, &peer.identity)?;
        if let Some(e) = &peer.ephemeral {
            if a.seq < e.seq {
                return Ok(()); // an older key of the member, replaced since
            }
            if a.seq == e.seq {
                return if a.ephemeral == e.public {
                    Ok(()) // duplicate
                } else {
                    Err(Error::InvalidKeyMessage(
                        "member signed two ephemeral keys under one sequence number",
                    ))
                };
            }
        }
        let kek =
            PairwiseKek::derive(&self.call, self.me, &self.ephemeral, a.member, &a.ephemeral)?;
        let peer = self.members.get_mut(&a.member).expect("looked up above");
        peer.ephemeral = Some(PeerEphemeral {
            seq: a.seq,
            public: a.ephemeral,
            kek,
        });
        self.push_event(Event::MemberVerified {
            member: a.member,
            seq: a.seq,
        });
        self.update_safety_number();
        // Its earlier deliveries to us (if any) may have been sealed for a key it replaced, and
        // our deliveries to it must use the new KEK: deliver everything it may have.
        self.deliver_all_to(a.member);
        Ok(())
    }

    fn on_delivery(&mut self, now: Instant, d: KeyDelivery) -> Result<(), Error> {
        let info = *d.info();
        if info.recipient != self.me {
            return Err(Error::InvalidKeyMessage(
                "key delivery addressed to another member",
            ));
        }
        if info.sender == self.me {
            return Err(Error::InvalidKeyMessage(
                "key delivery claims to come from this member",
            ));
        }
        let peer = self
            .members
            .get(&info.sender)
            .ok_or(Error::UnknownMember(info.sender))?;
        let e = peer.ephemeral.as_ref().ok_or(Error::InvalidKeyMessage(
            "key delivery arrived before its sender's announcement",
        ))?;
        if info.sender_seq > e.seq || info.recipient_seq > self.ephemeral.seq() {
            return Err(Error::InvalidKeyMessage(
                "key delivery refers to an announcement that never arrived",
            ));
        }
        if info.sender_seq < e.seq || info.recipient_seq < self.ephemeral.seq() {
            // Sealed for an ephemeral key replaced since; the sender re-delivers.
            return Ok(());
        }
        let expected = self.layout.kid(info.generation, info.sender.0, 0)?;
        if info.kid != expected {
            return Err(Error::InvalidKeyMessage(
                "KID does not match the sender and generation",
            ));
        }
        let key = d.open(&e.kek, &self.call)?;

        let newest = peer.recv.last().map(|r| r.generation);
        if newest.is_some_and(|n| info.generation <= n) {
            return Ok(()); // duplicate, or older than what we have
        }
        // A key of an earlier incarnation of this member (or a wrapped generation) under the
        // same KID goes first.
        if self.removal_at.contains_key(&info.kid) {
            self.remove_key_now(info.kid);
        }
        self.make_room()?;
        self.context.add_recv_key(info.kid, key.as_bytes())?;
        self.installed += 1;

        let retire_at = now + self.switch_delay + self.grace_period;
        let peer = self.members.get_mut(&info.sender).expect("looked up above");
        let older: Vec<KeyId> = peer.recv.iter().map(|r| r.kid).collect();
        peer.recv.push(RecvKey {
            generation: info.generation,
            kid: info.kid,
        });
        let excess: Vec<KeyId> = if peer.recv.len() > MAX_LIVE_GENERATIONS {
            peer.recv[..peer.recv.len() - MAX_LIVE_GENERATIONS]
                .iter()
                .map(|r| r.kid)
                .collect()
        } else {
            Vec::new()
        };
        for kid in older {
            self.schedule_removal(kid, retire_at);
        }
        for kid in excess {
            self.remove_key_now(kid);
        }
        self.push_event(Event::ReceiveKeyInstalled {
            sender: info.sender,
            generation: info.generation,
            kid: info.kid,
        });
        Ok(())
    }

    /// Makes a new send key for `reason`. Failures become [`Event::RotationFailed`].
    fn rotate(&mut self, now: Instant, reason: RotationReason) {
        if let Err(e) = self.try_rotate(now, reason) {
            self.next_rotation_at = Some(now + self.switch_delay.max(Duration::from_millis(1)));
            self.push_event(Event::RotationFailed(e));
        }
    }

    fn try_rotate(&mut self, now: Instant, reason: RotationReason) -> Result<(), Error> {
        let generation = self.next_generation;
        let kid = self.layout.kid(generation, self.me.0, 0)?;
        // A pending key was never sealed with, but members that left may hold it: drop it.
        if let Some(p) = self.pending.take() {
            self.remove_key_now(p.key.kid);
        }
        if self.removal_at.contains_key(&kid) {
            self.remove_key_now(kid); // generation wrapped onto a retiring key
        }
        self.make_room()?;
        let key = SenderBaseKey::generate(&mut self.rng);
        self.context.add_send_key(kid, key.as_bytes())?;
        self.installed += 1;
        self.next_generation += 1;
        self.next_rotation_at = Some(now + self.rotation_interval);
        let own = OwnKey {
            generation,
            kid,
            key,
        };
        if self.current.is_none() {
            self.current = Some(own);
            self.push_event(Event::SendKeyChanged { generation, kid });
        } else {
            let switch_at = now + self.switch_delay;
            self.pending = Some(Pending {
                key: own,
                switch_at,
            });
            self.push_event(Event::RotationStarted {
                generation,
                kid,
                reason,
                switch_at,
            });
        }
        let verified: Vec<MemberId> = self
            .members
            .iter()
            .filter(|(_, p)| p.ephemeral.is_some())
            .map(|(&id, _)| id)
            .collect();
        for id in verified {
            self.deliver(id, generation);
        }
        Ok(())
    }

    fn switch(&mut self, now: Instant) {
        let Some(p) = self.pending.take() else { return };
        let (generation, kid) = (p.key.generation, p.key.kid);
        if let Some(old) = self.current.replace(p.key) {
            self.schedule_removal(old.kid, now + self.grace_period);
        }
        self.push_event(Event::SendKeyChanged { generation, kid });
    }

    /// Delivers every live key of ours that `member` may have.
    fn deliver_all_to(&mut self, member: MemberId) {
        let gens: Vec<u64> = [
            self.current.as_ref().map(|k| k.generation),
            self.pending.as_ref().map(|p| p.key.generation),
        ]
        .into_iter()
        .flatten()
        .collect();
        for g in gens {
            self.deliver(member, g);
        }
    }

    /// Seals our key of `generation` for `member`, if it is verified and may have it.
    fn deliver(&mut self, member: MemberId, generation: u64) {
        let own = match (&self.current, &self.pending) {
            (Some(c), _) if c.generation == generation => c,
            (_, Some(p)) if p.key.generation == generation => &p.key,
            _ => return,
        };
        let Some(peer) = self.members.get(&member) else {
            return;
        };
        let Some(e) = &peer.ephemeral else { return };
        if generation < peer.min_generation {
            return;
        }
        let info = DeliveryInfo {
            sender: self.me,
            recipient: member,
            sender_seq: self.ephemeral.seq(),
            recipient_seq: e.seq,
            generation,
            kid: own.kid,
        };
        let d = KeyDelivery::seal(&mut self.rng, &e.kek, &self.call, info, &own.key);
        self.queue_message(Destination::Member(member), d.encode().to_vec());
    }

    fn schedule_removal(&mut self, kid: KeyId, at: Instant) {
        if let Some(&old) = self.removal_at.get(&kid) {
            if old <= at {
                return;
            }
            self.removals.remove(&(old, kid));
        }
        self.removal_at.insert(kid, at);
        self.removals.insert((at, kid));
    }

    /// Removes (and erases) a key now, wherever it is tracked.
    fn remove_key_now(&mut self, kid: KeyId) {
        if let Some(at) = self.removal_at.remove(&kid) {
            self.removals.remove(&(at, kid));
        }
        let sender = MemberId(self.layout.split(kid).sender_index);
        if let Some(peer) = self.members.get_mut(&sender) {
            peer.recv.retain(|r| r.kid != kid);
        }
        if self.context.remove_key(kid) {
            self.installed = self.installed.saturating_sub(1);
            self.push_event(Event::KeyRemoved { sender, kid });
        }
    }

    /// Frees a context slot when full, by removing the key closest to its removal anyway.
    fn make_room(&mut self) -> Result<(), Error> {
        while self.installed >= self.max_keys {
            let Some(&(_, kid)) = self.removals.first() else {
                return Err(Error::InvalidConfig(
                    "context key capacity reached with no key due for removal; raise max_keys",
                ));
            };
            self.remove_key_now(kid);
        }
        Ok(())
    }

    fn update_safety_number(&mut self) {
        let mut entries = vec![SafetyEntry {
            member: self.me,
            identity: self.identity_public,
            ephemeral: self.ephemeral.public(),
        }];
        for (&member, peer) in &self.members {
            if let Some(e) = &peer.ephemeral {
                entries.push(SafetyEntry {
                    member,
                    identity: peer.identity,
                    ephemeral: e.public,
                });
            }
        }
        let n = SafetyNumber::compute(&self.call, &entries).expect(
            "entries hold each member once: the members map is keyed by id and excludes us",
        );
        if n != self.safety {
            self.safety = n;
            self.push_event(Event::SafetyNumberChanged(n));
        }
    }

    fn queue_message(&mut self, destination: Destination, payload: Vec<u8>) {
        if self.outgoing.len() >= self.max_queued_messages {
            self.dropped_messages += 1;
            return;
        }
        self.outgoing.push_back(Transmit {
            destination,
            payload,
        });
    }

    fn push_event(&mut self, e: Event) {
        if self.events.len() >= self.max_queued_events {
            self.dropped_events += 1;
            return;
        }
        self.events.push_back(e);
    }
}

#[cfg(test)]
mod tests {
    use chacha20::ChaCha20Rng;
    use rand_core::SeedableRng;

    use super::*;

    fn config() -> SessionConfig {
        SessionConfig::new(CipherSuite::Aes128GcmSha256)
    }

    fn id_key(m: u64) -> SigningKey {
        SigningKey::from_bytes(&[m as u8; 32])
    }

    fn start() -> Instant {
        #[allow(clippy::disallowed_methods)] // one base instant for virtual time
        Instant::now()
    }

    fn session(cfg: SessionConfig, me: u64, t: Instant) -> Result<Session<ChaCha20Rng>, Error> {
        Session::new(
            cfg,
            id_key(me),
            MemberId(me),
            b"call",
            ChaCha20Rng::from_seed([me as u8; 32]),
            t,
        )
    }

    #[test]
    fn configuration_is_checked() {
        let t = start();
        let with = |f: fn(&mut SessionConfig)| {
            let mut c = config();
            f(&mut c);
            session(c, 1, t).err()
        };
        assert!(with(|_| {}).is_none());
        assert!(with(|c| c.epoch_bits = 0).is_some());
        assert!(with(|c| c.epoch_bits = 17).is_some());
        assert!(with(|c| c.rotation_interval = Duration::ZERO).is_some());
        assert!(with(|c| c.switch_delay = c.rotation_interval).is_some());
        assert!(with(|c| c.max_members = 0).is_some());
        assert!(with(|c| c.max_queued_messages = 0).is_some());
        assert!(with(|c| c.context.max_keys = 3 * 32 + 1).is_some());
        assert!(with(|c| c.context.max_keys = 3 * 32 + 2).is_none());
        // E = 8 leaves 55 bits for the member id.
        assert!(session(config(), 1 << 55, t).is_err());
        assert!(session(config(), (1 << 55) - 1, t).is_ok());
        assert!(
            Session::new(
                config(),
                id_key(1),
                MemberId(1),
                b"",
                ChaCha20Rng::from_seed([0; 32]),
                t
            )
            .is_err()
        );
    }

    #[test]
    fn a_lone_member_has_no_key_and_no_timer() {
        let t = start();
        let mut s = session(config(), 1, t).unwrap();
        assert_eq!(s.current_send_kid(), None);
        assert_eq!(s.poll_timeout(), None);
        assert!(s.poll_message().is_none());
        assert!(s.poll_event().is_none());
        s.request_rotation(t);
        s.handle_timeout(t + Duration::from_secs(86_400));
        assert_eq!(s.current_send_kid(), None);
    }

    #[test]
    fn the_first_member_added_gets_an_announcement_and_starts_the_first_key() {
        let t = start();
        let mut s = session(config(), 5, t).unwrap();
        s.add_member(t, MemberId(6), id_key(6).verifying_key())
            .unwrap();
        let m = s.poll_message().unwrap();
        assert_eq!(m.destination, Destination::Member(MemberId(6)));
        assert_eq!(m.payload, s.announcement().encode().to_vec());
        // Used at once, in member 5's KID space, generation 0.
        assert_eq!(s.current_send_kid(), Some(KeyId(5 << 8)));
        assert_eq!(s.pending_send_kid(), None);
        assert_eq!(
            s.poll_event(),
            Some(Event::SendKeyChanged {
                generation: 0,
                kid: KeyId(0x500)
            })
        );
        assert_eq!(s.poll_timeout(), Some(t + Duration::from_secs(1800)));
        // Nobody is verified yet, so no key was delivered.
        assert!(s.poll_message().is_none());
    }

    #[test]
    fn membership_calls_are_checked() {
        let t = start();
        let mut s = session(config(), 1, t).unwrap();
        let k2 = id_key(2).verifying_key();
        assert!(s.add_member(t, MemberId(1), k2).is_err());
        assert!(s.add_member(t, MemberId(1 << 55), k2).is_err());
        s.add_member(t, MemberId(2), k2).unwrap();
        assert_eq!(s.add_member(t, MemberId(2), k2), Ok(()));
        assert!(
            s.add_member(t, MemberId(2), id_key(3).verifying_key())
                .is_err()
        );
        assert_eq!(
            s.remove_member(t, MemberId(3)),
            Err(Error::UnknownMember(MemberId(3)))
        );
        let mut small = config();
        small.max_members = 1;
        let mut s = session(small, 1, t).unwrap();
        s.add_member(t, MemberId(2), k2).unwrap();
        assert!(
            s.add_member(t, MemberId(3), id_key(3).verifying_key())
                .is_err()
        );
    }

    #[test]
    fn the_outgoing_queue_is_bounded_and_counts_drops() {
        let t = start();
        let mut c = config();
        c.max_queued_messages = 2;
        let mut s = session(c, 1, t).unwrap();
        for m in 2..6 {
            s.add_member(t, MemberId(m), id_key(m).verifying_key())
                .unwrap();
        }
        assert_eq!(s.dropped_messages(), 2);
        let mut n = 0;
        while s.poll_message().is_some() {
            n += 1;
        }
        assert_eq!(n, 2);
    }

    #[test]
    fn debug_shows_state_not_secrets() {
        let t = start();
        let s = session(config(), 1, t).unwrap();
        let d = format!("{s:?}");
        assert!(d.contains("Session") && d.contains("safety_number"));
        let secret: String = id_key(1).to_bytes()[..8]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert!(!d.contains(&secret) && !d.contains("[1, 1, 1"));
    }
}
