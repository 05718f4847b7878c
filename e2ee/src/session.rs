//! One call member's end-to-end encryption: an MLS (RFC 9420) group member whose epochs key
//! SFrame as RFC 9605 §5.2 describes, in one sans-IO state machine.
//!
//! # What it promises, against whom
//!
//! The adversary is the SFU, which also runs the MLS Delivery Service ([`crate::mls::ds`]):
//!
//! - **Only certified members get keys.** Every member's MLS credential is a certificate from
//!   an authority the SFU does not hold ([`crate::mls::identity`]); every member checks every
//!   other member's certificate before its keys reach that member. The roster ([`Session::roster`])
//!   is the MLS tree, the same for every member: nobody can be in the call without being in it.
//! - **Forward secrecy and post-compromise security inside a call.** Every join and every
//!   leave is a commit, so each changes the epoch and every key. A joiner cannot open what
//!   was sent before it joined; a leaver cannot open what is sent after. Each member also
//!   refreshes its own leaf every [`SessionConfig::update_interval`] (default 30 minutes).
//! - **No replay of key material.** Commits are bound to their epoch: an old one is refused
//!   and changes nothing. Chat is MLS application data (each key used once) with a per-sender
//!   sequence number that shows drops and reordering ([`ChatOrder`]).
//! - **One sender cannot speak for, or silence, another.** Each sender has its own receive
//!   context, and a frame opens only in the context of the participant the SFU says sent it,
//!   so a frame under another member's KID is refused before any decryption or replay state
//!   is touched. (SFrame with MLS keys authenticates the group, not the sender, RFC 9605
//!   §9.5: a member *colluding with the SFU* can still forge another member's media. This is
//!   a property of §5.2, documented in `docs/threat-model.md`.)
//! - **A verification code that cannot be ground.** [`Session::verification_code`] is derived
//!   from the MLS epoch authenticator, a secret of the epoch that only members know; the SFU
//!   cannot choose or even see it. Equal codes on two screens mean the same group state.
//!
//! # Keys (RFC 9605 §5.2)
//!
//! For every epoch: `base_key = MLS-Exporter("SFrame 1.0 Base Key", "", Nk)`, and a sender at
//! leaf index L uses `KID = (L << E) | (epoch mod 2^E)` ([`MlsKidLayout`], context 0, S bits of
//! leaf index). A new epoch's keys are installed at once for receiving; this member seals with
//! its new key [`SessionConfig::switch_delay`] later (every member processes the same commit
//! at about the same moment, so receivers hold the key before the first frame under it) and
//! emits [`Event::SendKeyChanged`] (send a keyframe). Keys of a replaced epoch stay for
//! [`SessionConfig::grace_period`] after that for frames in flight, then are erased. Keys of
//! an epoch that shares its low E bits with the new one go at once (§5.2).
//!
//! # The contract
//!
//! - Feed: [`Session::handle_ds`] with every [`FromDs`] message in the order the DS sent them,
//!   [`Session::participant_left`] when signaling says a participant left, and
//!   [`Session::handle_timeout`] at [`Session::poll_timeout`].
//! - Drain after each call, in this order: [`Session::poll_transmit`] (send each [`ToDs`] to
//!   the DS, in order), then [`Session::poll_event`].
//! - Media: [`Session::seal_frame`] and [`Session::open_frame`] (the latter names the
//!   participant the SFU attributes the frame to). Chat: [`Session::send_chat`].
//! - `now` only moves forward (an earlier `now` is taken as the latest seen). A timeout that
//!   fires early is a no-op.
//! - Bad bytes from the network never panic and never change state: they give
//!   [`Event::Refused`] (handshake) or an `Err` (media).
//!
//! ```no_run
//! use std::time::{Duration, Instant};
//! use telesfu_e2ee::session::{Session, SessionConfig, SessionParams, MemberKey};
//! use telesfu_e2ee::mls::identity::TrustAnchors;
//! use telesfu_e2ee::mls::ds::FromDs;
//!
//! # fn demo(anchors: TrustAnchors, certificate: Vec<u8>, seed: [u8; 32], rng_seed: [u8; 32],
//! #         from_ds: FromDs, unix_now: Duration) -> Result<(), telesfu_e2ee::Error> {
//! let key = MemberKey::from_seed(seed);
//! // ... the vendor's backend certifies key.public_key() for this room ...
//! let params = SessionParams::new("visit-42", "p3", anchors, key, certificate, rng_seed);
//! let now = Instant::now();
//! let mut s = Session::new(SessionConfig::default(), params, now, unix_now)?;
//! s.handle_ds(now, from_ds);
//! while let Some(msg) = s.poll_transmit() { /* send `msg` to the DS */ let _ = msg; }
//! while let Some(ev) = s.poll_event() { println!("{ev:?}"); }
//! # Ok(()) }
//! ```

use core::fmt;
use core::time::Duration;
use std::collections::{BTreeMap, BTreeSet, VecDeque};

use hkdf::Hkdf;
use mls_rs::client_builder::{BaseConfig, WithCryptoProvider, WithIdentityProvider, WithMlsRules};
use mls_rs::group::{CommitEffect, ReceivedMessage};
use mls_rs::identity::SigningIdentity;
use mls_rs::time::MlsTime;
use mls_rs::{Client, ExtensionList, Group, MlsMessage};
use mls_rs_core::extension::{Extension, ExtensionType};
use sha2::Sha256;
use zeroize::Zeroizing;

use crate::kid::MlsKidLayout;
use crate::media::{self, Codec};
use crate::mls::ds::{FromDs, ToDs};
use crate::mls::identity::{Certificate, CertificateIdentity, TrustAnchors};
use crate::mls::provider::{Drbg, MLS_SUITE, MlsCrypto, signature_secret_key};
use crate::mls::rules::Rules;
use crate::time::Instant;
use crate::{CipherSuite, Context, ContextConfig, Error, KeyId, Opened};

type Config = WithMlsRules<
    Rules,
    WithIdentityProvider<CertificateIdentity, WithCryptoProvider<MlsCrypto, BaseConfig>>,
>;
type MlsClient = Client<Config>;
type MlsGroup = Group<Config>;

/// The RFC 9605 §5.2 exporter label.
const SFRAME_LABEL: &[u8] = b"SFrame 1.0 Base Key";
/// The leaf-node extension carrying a member's participant id (private-use type: mls-rs
/// cannot carry RFC 9420's `application_id`, which must be listed in capabilities and must not
/// be, both at once).
pub const PARTICIPANT_EXTENSION: u16 = 0xF7E2;
/// Chat plaintext format version.
const CHAT_VERSION: u8 = 1;
/// Joins refused in a row before backing off.
const MAX_QUICK_RETRIES: u32 = 5;
/// The longest chat text (bytes of UTF-8).
pub const MAX_CHAT_LEN: usize = 4096;

/// How a [`Session`] behaves. `Default` gives the documented defaults; change fields after.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct SessionConfig {
    /// The SFrame suite, replay window and crypto backend of the media contexts.
    pub context: ContextConfig,
    /// E: low epoch bits in a KID (1-16). Default 4: 16 epochs in flight can be told apart;
    /// at most three are ever installed.
    pub epoch_bits: u8,
    /// S: leaf-index bits in a KID. Default 6 (64 leaves); `max_members` must fit.
    pub sender_bits: u8,
    /// Most members of the group; commits beyond it are refused by every member. Default 32.
    pub max_members: usize,
    /// How long after a new epoch this member goes on sealing with the previous key. Default 1 s.
    /// Receivers process the same commit at about the same moment, so they hold the new key
    /// before the first frame under it. The cost: a joiner holds only the new epoch's keys, so
    /// it opens the others' frames about this long after it joined; and a leaver, whom the SFU
    /// stops forwarding to at once, could open this long more if it were still sent frames.
    pub switch_delay: Duration,
    /// How long a replaced key still opens frames in flight. Default 10 s.
    pub grace_period: Duration,
    /// This member refreshes its leaf (an empty commit with a path) after this long without a
    /// commit of its own. Default 30 minutes.
    pub update_interval: Duration,
    /// When a participant leaves, the remaining member at rank r (by leaf index) commits the
    /// removal after r times this, unless someone did first. Default 1 s.
    pub removal_stagger: Duration,
    /// A commit or join the DS has not answered after this long is given up and the DS
    /// asked for its state. Default 10 s.
    pub commit_timeout: Duration,
    /// Slack for certificate validity windows (clock differences). Default 5 minutes.
    pub certificate_skew: Duration,
    /// Bound of the transmit and event queues; beyond it the oldest are dropped and counted.
    /// Default 1024.
    pub max_queued: usize,
}

impl Default for SessionConfig {
    fn default() -> Self {
        Self {
            context: ContextConfig::new(CipherSuite::Aes128GcmSha256),
            epoch_bits: 4,
            sender_bits: 6,
            max_members: 32,
            switch_delay: Duration::from_secs(1),
            grace_period: Duration::from_secs(10),
            update_interval: Duration::from_secs(30 * 60),
            removal_stagger: Duration::from_secs(1),
            commit_timeout: Duration::from_secs(10),
            certificate_skew: Duration::from_secs(300),
            max_queued: 1024,
        }
    }
}

/// A member's MLS signature key (Ed25519), from a 32-byte seed the caller draws. Its public
/// half is what the authority certifies.
pub struct MemberKey {
    seed: Zeroizing<[u8; 32]>,
}

impl fmt::Debug for MemberKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemberKey")
            .field(
                "public",
                &crate::mls::identity::fingerprint(&self.public_key()),
            )
            .finish_non_exhaustive()
    }
}

impl MemberKey {
    /// The key for `seed`.
    pub fn from_seed(seed: [u8; 32]) -> Self {
        Self {
            seed: Zeroizing::new(seed),
        }
    }

    /// The 32-byte Ed25519 public key to certify.
    pub fn public_key(&self) -> [u8; 32] {
        let (_, public) = signature_secret_key(&self.seed);
        let mut out = [0u8; 32];
        out.copy_from_slice(public.as_bytes());
        out
    }
}

/// Who this member is and what it trusts.
#[derive(Debug)]
#[non_exhaustive]
pub struct SessionParams {
    /// The room: certificates of every member must name it.
    pub room: String,
    /// This member's participant id on the SFU (how signaling and media name it). Carried in
    /// its leaf (extension [`PARTICIPANT_EXTENSION`]), signed by its key, so other members can tell which
    /// leaf a track's frames must come from.
    pub participant: String,
    /// The authority keys whose certificates this member accepts (shipped with the client).
    pub anchors: TrustAnchors,
    /// This member's signature key.
    pub key: MemberKey,
    /// The authority's certificate for `key`.
    pub certificate: Vec<u8>,
    /// 32 bytes from a cryptographic source: seeds all MLS randomness.
    pub rng_seed: [u8; 32],
}

impl SessionParams {
    /// All the parameters.
    pub fn new(
        room: &str,
        participant: &str,
        anchors: TrustAnchors,
        key: MemberKey,
        certificate: Vec<u8>,
        rng_seed: [u8; 32],
    ) -> Self {
        Self {
            room: room.into(),
            participant: participant.into(),
            anchors,
            key,
            certificate,
            rng_seed,
        }
    }
}

/// One member of the group, as every member sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RosterEntry {
    /// MLS leaf index.
    pub leaf: u32,
    /// The participant id its leaf claims (how the SFU names it), if any.
    pub participant: Option<String>,
    /// Verified by the authority: the person's stable id.
    pub subject: String,
    /// Verified: display name.
    pub name: String,
    /// Verified: role.
    pub role: String,
    /// Verified: tenant.
    pub tenant: String,
    /// Fingerprint of the member's signature key.
    pub fingerprint: String,
    /// This member.
    pub is_self: bool,
}

/// Where a chat message falls in its sender's sequence.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ChatOrder {
    /// The next one expected.
    InOrder,
    /// Later than expected: `missing` messages from this sender did not arrive (yet).
    AfterGap {
        /// How many were skipped.
        missing: u64,
    },
    /// Earlier than one already shown: delivered late (reordered on the way).
    Late,
}

/// A chat message from another member.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ChatMessage {
    /// Its sender, authenticated by MLS.
    pub from: RosterEntry,
    /// The sender's sequence number (1 for its first message in this call).
    pub seq: u64,
    /// The sender's clock when sent (milliseconds since the Unix epoch; not verified).
    pub sent_at_ms: u64,
    /// The text.
    pub text: String,
    /// Where it falls in the sender's sequence.
    pub order: ChatOrder,
}

/// What kind of DS message was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum RefusedKind {
    /// A commit (a forged, replayed, uncertified or out-of-policy change of the group).
    Commit,
    /// A GroupInfo (to create or join from).
    GroupInfo,
    /// An application (chat) message.
    Application,
}

/// Why the group moved to a new epoch, from this member's view.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct EpochChange {
    /// The new epoch.
    pub epoch: u64,
    /// Members that came in.
    pub added: Vec<RosterEntry>,
    /// Members that went.
    pub removed: Vec<RosterEntry>,
    /// The leaf that committed (None when this member created the group).
    pub committer: Option<u32>,
    /// The verification code of the new epoch.
    pub code: String,
}

/// Something the product shows or acts on.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// This member is now in the group (created it, or its join was accepted).
    Joined {
        /// The epoch.
        epoch: u64,
        /// It created the group.
        created: bool,
    },
    /// A new epoch: new keys; roster and code may have changed.
    EpochChanged(EpochChange),
    /// Sealing switched to a new key: a good moment for a keyframe (RFC 9605 §6.2).
    SendKeyChanged {
        /// The new KID.
        kid: KeyId,
        /// Its epoch.
        epoch: u64,
    },
    /// A message from the DS was refused; nothing changed.
    Refused {
        /// What it was.
        kind: RefusedKind,
        /// Why (for logs).
        reason: String,
    },
    /// A chat message.
    Chat(ChatMessage),
    /// This member is no longer in the group (the others removed it, or it fell behind); it
    /// asks the DS for the group and joins again by itself.
    Removed {
        /// The epoch it was at.
        epoch: u64,
    },
    /// Two leaves claim the same participant id: frames attributed to it open for neither.
    DuplicateParticipant {
        /// The participant id.
        participant: String,
    },
}

enum Phase {
    /// Not in the group; waiting for the DS's group state.
    Waiting,
    /// Sent `Create`; the group exists here at epoch 0 until the DS confirms.
    Creating {
        group: Box<MlsGroup>,
        group_info: Vec<u8>,
        since: Instant,
    },
    /// Sent an external commit; `group` is the state it makes if accepted.
    Joining {
        group: Box<MlsGroup>,
        commit: Vec<u8>,
        since: Instant,
    },
    /// A member.
    Member { group: Box<MlsGroup> },
}

struct PendingCommit {
    since: Instant,
}

struct Installed {
    /// None: this member's own send key.
    leaf: Option<u32>,
    kid: KeyId,
    epoch: u64,
    retire_at: Option<Instant>,
}

/// Counters for the product's metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct SessionStats {
    /// DS messages refused.
    pub refused: u64,
    /// Commits this member made that the DS accepted.
    pub commits_accepted: u64,
    /// Commits this member made that another commit beat.
    pub commits_rejected: u64,
    /// Transmits or events dropped because a queue was full.
    pub queue_drops: u64,
}

/// One member's MLS + SFrame state machine. See the [module docs](self).
pub struct Session {
    config: SessionConfig,
    layout: MlsKidLayout,
    room: String,
    participant: String,
    client: MlsClient,
    drbg: Drbg,
    phase: Phase,
    pending: Option<PendingCommit>,
    /// Leaves to remove, with when this member should commit it.
    to_remove: BTreeMap<u32, Instant>,
    /// When this member's leaf was last refreshed by its own commit (or join).
    last_own_commit: Option<Instant>,
    /// Joins or creates refused in a row (reset once in the group).
    rejections: u32,
    /// When to ask the DS again after giving up for a while.
    sync_at: Option<Instant>,
    send: Context,
    send_kid: Option<(KeyId, u64)>,
    next_send: Option<(KeyId, u64, Instant)>,
    recv: BTreeMap<u32, Context>,
    installed: Vec<Installed>,
    roster: Vec<RosterEntry>,
    participants: BTreeMap<String, u32>,
    code: Option<String>,
    chat_seq: u64,
    chat_seen: BTreeMap<[u8; 32], u64>,
    transmits: VecDeque<ToDs>,
    events: VecDeque<Event>,
    start: Instant,
    unix_at_start: Duration,
    last_now: Instant,
    stats: SessionStats,
}

impl fmt::Debug for Session {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Session")
            .field("room", &self.room)
            .field("participant", &self.participant)
            .field("epoch", &self.epoch())
            .field("members", &self.roster.len())
            .field("send_kid", &self.send_kid)
            .finish_non_exhaustive()
    }
}

fn mls_err(e: impl fmt::Display) -> Error {
    Error::Mls(e.to_string())
}

/// The verification code of an epoch: 6 groups of 5 digits (about 100 bits) from
/// HKDF-SHA256 over the MLS epoch authenticator.
pub fn verification_code(epoch_authenticator: &[u8]) -> String {
    let hk = Hkdf::<Sha256>::new(Some(b"telesfu verification code v1"), epoch_authenticator);
    let mut okm = [0u8; 16];
    hk.expand(b"", &mut okm)
        .expect("16 bytes is within HKDF-SHA256's output limit");
    let mut v = u128::from_be_bytes(okm);
    let mut groups = Vec::with_capacity(6);
    for _ in 0..6 {
        groups.push(format!("{:05}", v % 100_000));
        v /= 100_000;
    }
    groups.join(" ")
}

fn leaf_extensions(participant: &str) -> Result<ExtensionList, Error> {
    let mut exts = ExtensionList::new();
    exts.set(Extension::new(
        ExtensionType::new(PARTICIPANT_EXTENSION),
        participant.as_bytes().to_vec(),
    ));
    Ok(exts)
}

impl Session {
    /// A member that is not in any group yet: it joins when [`Session::handle_ds`] gets the
    /// DS's group state. `unix_now` is the wall-clock time at `now` (certificate validity).
    ///
    /// Fails with [`Error::Certificate`] when `params.certificate` is not a certificate of
    /// `params.key` for `params.room` from one of `params.anchors` valid now, and with
    /// [`Error::InvalidConfig`] for bad config values.
    pub fn new(
        config: SessionConfig,
        params: SessionParams,
        now: Instant,
        unix_now: Duration,
    ) -> Result<Self, Error> {
        let layout = MlsKidLayout::new(config.epoch_bits, config.sender_bits)?;
        if config.max_members == 0
            || (config.sender_bits < 64 && (config.max_members as u64) > 1u64 << config.sender_bits)
        {
            return Err(Error::InvalidConfig(
                "max_members must be between 1 and 2^sender_bits",
            ));
        }
        let cert = Certificate::decode(&params.certificate).map_err(Error::Certificate)?;
        let public = params.key.public_key();
        cert.verify(
            &params.anchors,
            &public,
            &params.room,
            Some(unix_now.as_secs()),
            config.certificate_skew.as_secs(),
        )
        .map_err(Error::Certificate)?;
        let drbg = Drbg::new(params.rng_seed);
        let (secret, public) = signature_secret_key(&params.key.seed);
        let client = Client::builder()
            .crypto_provider(MlsCrypto::new(drbg.clone()))
            .identity_provider(CertificateIdentity::new(
                params.anchors,
                &params.room,
                config.certificate_skew.as_secs(),
            ))
            .mls_rules(Rules {
                max_members: config.max_members,
            })
            .extension_type(ExtensionType::new(PARTICIPANT_EXTENSION))
            .signing_identity(
                SigningIdentity::new(cert.credential(), public),
                secret,
                MLS_SUITE,
            )
            .build();
        let mut send_config = config.context.clone();
        send_config.max_keys = send_config.max_keys.max(4);
        Ok(Self {
            send: Context::with_config(send_config)?,
            layout,
            room: params.room,
            participant: params.participant,
            client,
            drbg,
            phase: Phase::Waiting,
            pending: None,
            to_remove: BTreeMap::new(),
            last_own_commit: None,
            rejections: 0,
            sync_at: None,
            send_kid: None,
            next_send: None,
            recv: BTreeMap::new(),
            installed: Vec::new(),
            roster: Vec::new(),
            participants: BTreeMap::new(),
            code: None,
            chat_seq: 0,
            chat_seen: BTreeMap::new(),
            transmits: VecDeque::new(),
            events: VecDeque::new(),
            start: now,
            unix_at_start: unix_now,
            last_now: now,
            stats: SessionStats::default(),
            config,
        })
    }

    // ----- getters -----

    /// The current epoch, when a member.
    pub fn epoch(&self) -> Option<u64> {
        self.group().map(|g| g.current_epoch())
    }

    /// True once in the group.
    pub fn is_member(&self) -> bool {
        matches!(self.phase, Phase::Member { .. })
    }

    /// This member's leaf index, when a member.
    pub fn own_leaf(&self) -> Option<u32> {
        self.group().map(|g| g.current_member_index())
    }

    /// The members of the current epoch, by leaf index (empty when not a member).
    pub fn roster(&self) -> &[RosterEntry] {
        &self.roster
    }

    /// The current epoch's verification code: equal on two screens exactly when both hold
    /// the same group state (see [`verification_code`]).
    pub fn verification_code(&self) -> Option<&str> {
        self.code.as_deref()
    }

    /// The KID this member seals with now.
    pub fn send_kid(&self) -> Option<KeyId> {
        self.send_kid.map(|(k, _)| k)
    }

    /// The SFrame context configuration (suite, overhead).
    pub fn context_config(&self) -> &ContextConfig {
        &self.config.context
    }

    /// Bytes a sealed frame can grow by: SFrame header plus tag (H.264 escaping aside).
    pub fn max_overhead(&self) -> usize {
        self.send.max_overhead()
    }

    /// SFrame keys installed now (send and receive): at most three epochs' worth per member.
    pub fn installed_keys(&self) -> usize {
        self.installed.len()
    }

    /// Counters.
    pub fn stats(&self) -> SessionStats {
        self.stats
    }

    /// The leaf the participant's frames must come from, if exactly one leaf claims it.
    pub fn leaf_of(&self, participant: &str) -> Option<u32> {
        self.participants.get(participant).copied()
    }

    /// The MLS exporter of the current epoch (RFC 9420 §8.5): `len` bytes for `label` and
    /// `context`, known to every member and nobody else. The SFrame base key is
    /// `export_secret(b"SFrame 1.0 Base Key", b"", Nk)`; an application may derive its own keys
    /// under its own labels. [`Error::NotInGroup`] when not a member.
    pub fn export_secret(
        &self,
        label: &[u8],
        context: &[u8],
        len: usize,
    ) -> Result<Zeroizing<Vec<u8>>, Error> {
        let group = self.group().ok_or(Error::NotInGroup)?;
        let s = group.export_secret(label, context, len).map_err(mls_err)?;
        Ok(Zeroizing::new(s.as_bytes().to_vec()))
    }

    fn group(&self) -> Option<&MlsGroup> {
        match &self.phase {
            Phase::Member { group } => Some(group),
            _ => None,
        }
    }

    fn unix_at(&self, now: Instant) -> MlsTime {
        MlsTime::from_duration_since_epoch(
            self.unix_at_start + now.saturating_duration_since(self.start),
        )
    }

    fn advance(&mut self, now: Instant) -> Instant {
        if now > self.last_now {
            self.last_now = now;
        }
        self.last_now
    }

    fn transmit(&mut self, msg: ToDs) {
        if self.transmits.len() >= self.config.max_queued {
            self.transmits.pop_front();
            self.stats.queue_drops += 1;
        }
        self.transmits.push_back(msg);
    }

    fn event(&mut self, ev: Event) {
        if self.events.len() >= self.config.max_queued {
            self.events.pop_front();
            self.stats.queue_drops += 1;
        }
        self.events.push_back(ev);
    }

    fn refused(&mut self, kind: RefusedKind, reason: impl Into<String>) {
        self.stats.refused += 1;
        self.event(Event::Refused {
            kind,
            reason: reason.into(),
        });
    }

    // ----- drain -----

    /// The next message for the DS.
    #[must_use]
    pub fn poll_transmit(&mut self) -> Option<ToDs> {
        self.transmits.pop_front()
    }

    /// The next event.
    #[must_use]
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// When [`Session::handle_timeout`] should next run.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        let mut t: Option<Instant> = None;
        let mut at = |x: Instant| t = Some(t.map_or(x, |t| t.min(x)));
        if let Some((_, _, switch)) = self.next_send {
            at(switch);
        }
        for k in &self.installed {
            if let Some(r) = k.retire_at {
                at(r);
            }
        }
        match &self.phase {
            Phase::Creating { since, .. } | Phase::Joining { since, .. } => {
                at(*since + self.config.commit_timeout)
            }
            Phase::Member { .. } => {
                if let Some(p) = &self.pending {
                    at(p.since + self.config.commit_timeout);
                } else {
                    if let Some(due) = self.to_remove.values().min() {
                        at(*due);
                    }
                    if let Some(last) = self.last_own_commit {
                        at(last + self.config.update_interval);
                    }
                }
            }
            Phase::Waiting => {
                if let Some(x) = self.sync_at {
                    at(x);
                }
            }
        }
        t
    }

    // ----- input -----

    /// Mixes fresh entropy into the generator behind all MLS randomness.
    pub fn add_entropy(&mut self, entropy: &[u8]) {
        self.drbg.add_entropy(entropy);
    }

    /// Runs what is due: key switches and retirements, pending removals, the periodic
    /// update, and giving up on unanswered commits.
    pub fn handle_timeout(&mut self, now: Instant) {
        let now = self.advance(now);
        if let Some((kid, epoch, at)) = self.next_send
            && at <= now
        {
            self.switch_send_key(kid, epoch);
        }
        self.retire_keys(now);
        match &mut self.phase {
            Phase::Creating { since, .. } | Phase::Joining { since, .. } => {
                if *since + self.config.commit_timeout <= now {
                    self.phase = Phase::Waiting;
                    self.transmit(ToDs::Sync);
                }
            }
            Phase::Member { group } => {
                if let Some(p) = &self.pending {
                    if p.since + self.config.commit_timeout <= now {
                        group.clear_pending_commit();
                        self.pending = None;
                        self.transmit(ToDs::Sync);
                    }
                    return;
                }
                let due: Vec<u32> = self
                    .to_remove
                    .iter()
                    .filter(|(_, at)| **at <= now)
                    .map(|(l, _)| *l)
                    .collect();
                let update_due = self
                    .last_own_commit
                    .is_some_and(|last| last + self.config.update_interval <= now);
                if (!due.is_empty() || update_due)
                    && let Err(e) = self.commit(now, &due)
                {
                    // Our own commit failed to build: a local fault. Retry later.
                    self.refused(
                        RefusedKind::Commit,
                        format!("could not build a commit: {e}"),
                    );
                    let later = now + self.config.commit_timeout;
                    for l in due {
                        self.to_remove.insert(l, later);
                    }
                    self.last_own_commit = Some(now);
                }
            }
            Phase::Waiting => {
                if self.sync_at.is_some_and(|at| at <= now) {
                    self.sync_at = None;
                    self.transmit(ToDs::Sync);
                }
            }
        }
    }

    /// Backs off after joins that keep failing: asks the DS again after 1, 2, 4 ... 60 s.
    fn back_off(&mut self, now: Instant) {
        let shift = self.rejections.saturating_sub(1).min(6);
        let wait = Duration::from_secs(1 << shift).min(Duration::from_secs(60));
        self.sync_at = Some(now + wait);
    }

    /// Signaling says `participant` left the call: the remaining members remove its leaf,
    /// one commit, whoever is first (staggered by leaf rank so usually one tries).
    pub fn participant_left(&mut self, now: Instant, participant: &str) {
        let now = self.advance(now);
        let Some(me) = self.own_leaf() else { return };
        let leaving: Vec<u32> = self
            .roster
            .iter()
            .filter(|r| r.participant.as_deref() == Some(participant) && r.leaf != me)
            .map(|r| r.leaf)
            .collect();
        if leaving.is_empty() {
            return;
        }
        let rank = self
            .roster
            .iter()
            .filter(|r| !leaving.contains(&r.leaf) && !self.to_remove.contains_key(&r.leaf))
            .position(|r| r.leaf == me)
            .unwrap_or(0) as u32;
        let due = now + self.config.removal_stagger * rank;
        for l in leaving {
            self.to_remove.entry(l).or_insert(due);
        }
    }

    /// Feeds one DS message, in the order the DS sent them.
    pub fn handle_ds(&mut self, now: Instant, msg: FromDs) {
        let now = self.advance(now);
        match msg {
            FromDs::GroupState { group_info } => self.on_group_state(now, group_info),
            FromDs::Commit { commit } => self.on_commit(now, &commit),
            FromDs::Rejected { reason, group_info } => self.on_rejected(now, reason, group_info),
            FromDs::Application { message } => self.on_application(now, &message),
        }
    }

    fn on_group_state(&mut self, now: Instant, group_info: Option<Vec<u8>>) {
        match core::mem::replace(&mut self.phase, Phase::Waiting) {
            Phase::Creating {
                group,
                group_info: ours,
                ..
            } if group_info.as_deref() == Some(&ours[..]) => {
                // The DS took our group: we are its first member.
                self.phase = Phase::Member { group };
                self.last_own_commit = Some(now);
                self.rejections = 0;
                self.sync_at = None;
                self.event(Event::Joined {
                    epoch: 0,
                    created: true,
                });
                self.on_new_epoch(now, None);
            }
            Phase::Member { group } => {
                let verdict = self.check_newer_state(&group, group_info.as_deref());
                match verdict {
                    Ok(None) => self.phase = Phase::Member { group },
                    Ok(Some(info)) => {
                        // A member we know signed the group at a later epoch: we missed
                        // commits. Rejoin from it, replacing our old leaf.
                        let old = group.current_member_index();
                        self.leave_group(now);
                        self.join(now, &info, Some(old));
                    }
                    Err(reason) => {
                        self.phase = Phase::Member { group };
                        self.refused(RefusedKind::GroupInfo, reason);
                    }
                }
            }
            phase @ (Phase::Creating { .. } | Phase::Joining { .. }) => {
                // Our create or join is still unanswered: only its answer (acceptance, or
                // `Rejected` with the state to build on) moves us. Acting on this state too
                // would start a second join beside the first.
                self.phase = phase;
            }
            Phase::Waiting if self.rejections > 0 && self.sync_at.is_some() => {
                // Backing off: a state that arrives now (a replay, or the DS pushing) waits.
                self.phase = Phase::Waiting;
            }
            _ => match group_info {
                None => self.create(now),
                Some(info) => self.join(now, &info, None),
            },
        }
    }

    /// While a member: whether the DS's `state` proves we fell behind. `Ok(Some(info))` only for
    /// a GroupInfo of our group at a later epoch signed by a member of our current tree with
    /// the same key; `Ok(None)` when it is not newer than ours. Everything else (no group,
    /// another group, a signer we do not know) is refused: a replayed or forged state must not
    /// make a member leave its group.
    fn check_newer_state(
        &self,
        group: &MlsGroup,
        info: Option<&[u8]>,
    ) -> Result<Option<Vec<u8>>, String> {
        let info = info.ok_or("the DS says the room has no group; staying in ours")?;
        let msg = MlsMessage::from_bytes(info).map_err(|e| format!("not an MLS message: {e}"))?;
        let gi = msg.as_group_info().ok_or("not a GroupInfo")?;
        if gi.group_context().group_id != group.group_id() {
            return Err("the DS announces another group; staying in ours".into());
        }
        if gi.group_context().epoch <= group.current_epoch() {
            return Ok(None);
        }
        let signer = group
            .member_at_index(gi.sender())
            .ok_or("newer GroupInfo signed by a leaf we do not know")?;
        self.client
            .validate_group_info(&msg, &signer.signing_identity)
            .map_err(|e| format!("newer GroupInfo not signed by a member we know: {e}"))?;
        Ok(Some(info.to_vec()))
    }

    fn create(&mut self, now: Instant) {
        let made = (|| {
            let exts = leaf_extensions(&self.participant)?;
            let mut gid = vec![0u8; 16];
            self.drbg.fill(&mut gid);
            let mut group_id = b"telesfu/".to_vec();
            group_id.extend_from_slice(&gid);
            let group = self
                .client
                .create_group_with_id(
                    group_id,
                    ExtensionList::new(),
                    exts,
                    Some(self.unix_at(now)),
                )
                .map_err(mls_err)?;
            let info = group
                .group_info_message_allowing_ext_commit(true)
                .and_then(|m| m.to_bytes())
                .map_err(mls_err)?;
            Ok::<_, Error>((group, info))
        })();
        match made {
            Ok((group, info)) => {
                self.transmit(ToDs::Create {
                    group_info: info.clone(),
                });
                self.phase = Phase::Creating {
                    group: Box::new(group),
                    group_info: info,
                    since: now,
                };
            }
            Err(e) => self.refused(
                RefusedKind::GroupInfo,
                format!("could not create the group: {e}"),
            ),
        }
    }

    fn join(&mut self, now: Instant, info: &[u8], replace: Option<u32>) {
        let made = (|| {
            let msg = MlsMessage::from_bytes(info).map_err(mls_err)?;
            let mut b = self
                .client
                .external_commit_builder()
                .map_err(mls_err)?
                .with_leaf_node_extensions(leaf_extensions(&self.participant)?)
                .commit_time(self.unix_at(now));
            if let Some(old) = replace {
                b = b.with_removal(old);
            }
            let (group, commit) = b.build(msg).map_err(mls_err)?;
            let next_info = group
                .group_info_message_allowing_ext_commit(true)
                .and_then(|m| m.to_bytes())
                .map_err(mls_err)?;
            let commit = commit.to_bytes().map_err(mls_err)?;
            Ok::<_, Error>((group, commit, next_info))
        })();
        match made {
            Ok((group, commit, next_info)) => {
                self.transmit(ToDs::Commit {
                    commit: commit.clone(),
                    group_info: next_info,
                });
                self.phase = Phase::Joining {
                    group: Box::new(group),
                    commit,
                    since: now,
                };
            }
            Err(e) if replace.is_some() => {
                // The removal of our old leaf may be what failed: join without it.
                self.refused(
                    RefusedKind::GroupInfo,
                    format!("rejoin replacing our old leaf failed: {e}"),
                );
                self.join(now, info, None);
            }
            Err(e) => {
                // A GroupInfo we cannot join from: forged, or its tree holds a member whose
                // certificate does not verify. Stay out; ask again later.
                self.refused(
                    RefusedKind::GroupInfo,
                    format!("cannot join from this GroupInfo: {e}"),
                );
            }
        }
    }

    fn on_rejected(&mut self, now: Instant, reason: String, group_info: Option<Vec<u8>>) {
        match core::mem::replace(&mut self.phase, Phase::Waiting) {
            Phase::Member { mut group } => {
                // The DS answers a commit it refuses after sending the one that won, so by now
                // we have moved to the winner's epoch and may already have sent our next
                // commit. The rejection is about *that* commit only when the DS is past our
                // epoch (its GroupInfo is newer); otherwise it answers an older commit of ours
                // and must not cancel the one in flight.
                let ds_epoch = group_info.as_deref().and_then(|gi| {
                    MlsMessage::from_bytes(gi)
                        .ok()?
                        .as_group_info()
                        .map(|i| i.group_context().epoch)
                });
                let ours = ds_epoch.is_some_and(|e| e > group.current_epoch());
                if ours && self.pending.take().is_some() {
                    self.stats.commits_rejected += 1;
                    group.clear_pending_commit();
                }
                // What we wanted (removals, the update) stays due and is redone on top of
                // the commit that won. If the DS is past us we missed a commit: the same
                // check as for a state decides whether to rejoin from its GroupInfo.
                let behind = if ours {
                    self.check_newer_state(&group, group_info.as_deref())
                } else {
                    Ok(None)
                };
                match behind {
                    Ok(Some(info)) => {
                        let old = group.current_member_index();
                        self.leave_group(now);
                        self.join(now, &info, Some(old));
                    }
                    Ok(None) => self.phase = Phase::Member { group },
                    Err(e) => {
                        self.phase = Phase::Member { group };
                        self.refused(RefusedKind::GroupInfo, e);
                    }
                }
            }
            Phase::Creating { .. } | Phase::Joining { .. } | Phase::Waiting => {
                self.stats.commits_rejected += 1;
                self.rejections += 1;
                if self.rejections > MAX_QUICK_RETRIES {
                    self.back_off(now);
                    self.refused(
                        RefusedKind::GroupInfo,
                        format!(
                            "join refused {} times, retrying later: {reason}",
                            self.rejections
                        ),
                    );
                } else {
                    self.on_group_state(now, group_info);
                }
            }
        }
    }

    fn on_commit(&mut self, now: Instant, bytes: &[u8]) {
        match core::mem::replace(&mut self.phase, Phase::Waiting) {
            Phase::Joining {
                group,
                commit,
                since,
            } => {
                if commit == bytes {
                    self.stats.commits_accepted += 1;
                    let epoch = group.current_epoch();
                    self.phase = Phase::Member { group };
                    self.last_own_commit = Some(now);
                    self.rejections = 0;
                    self.sync_at = None;
                    self.event(Event::Joined {
                        epoch,
                        created: false,
                    });
                    self.on_new_epoch(now, None);
                } else {
                    // Another commit won; the DS rejects ours next.
                    self.phase = Phase::Joining {
                        group,
                        commit,
                        since,
                    };
                }
            }
            Phase::Member { mut group } => {
                let msg = match MlsMessage::from_bytes(bytes) {
                    Ok(m) => m,
                    Err(e) => {
                        self.phase = Phase::Member { group };
                        return self
                            .refused(RefusedKind::Commit, format!("not an MLS message: {e}"));
                    }
                };
                let epoch = group.current_epoch();
                match msg.epoch() {
                    Some(e) if e == epoch => {}
                    Some(e) if e > epoch => {
                        // We missed a commit: ask for the group and rejoin.
                        self.phase = Phase::Member { group };
                        self.transmit(ToDs::Sync);
                        return;
                    }
                    other => {
                        self.phase = Phase::Member { group };
                        return self.refused(
                            RefusedKind::Commit,
                            format!("commit for epoch {other:?}, the group is at {epoch}: replayed or stale"),
                        );
                    }
                }
                let time = self.unix_at(now);
                match group.process_incoming_message_with_time(msg, time) {
                    Ok(ReceivedMessage::Commit(desc)) => {
                        let ours = self.pending.take().is_some()
                            && desc.committer == group.current_member_index();
                        if ours {
                            self.stats.commits_accepted += 1;
                            self.last_own_commit = Some(now);
                        } else if group.has_pending_commit() {
                            group.clear_pending_commit();
                        }
                        if let CommitEffect::Removed { .. } = desc.effect {
                            self.leave_group(now);
                            self.event(Event::Removed { epoch });
                            self.transmit(ToDs::Sync);
                            return;
                        }
                        self.phase = Phase::Member { group };
                        self.on_new_epoch(now, Some(desc.committer));
                    }
                    Ok(_) => {
                        self.phase = Phase::Member { group };
                        self.refused(RefusedKind::Commit, "not a commit");
                    }
                    Err(mls_rs::error::MlsError::CantProcessMessageFromSelf) => {
                        // Our own commit, accepted, but no longer pending here: we cannot
                        // follow it. Ask for the group and rejoin from it (its GroupInfo is
                        // signed by our own leaf, which check_newer_state accepts).
                        self.phase = Phase::Member { group };
                        self.pending = None;
                        self.transmit(ToDs::Sync);
                    }
                    Err(e) => {
                        self.phase = Phase::Member { group };
                        self.refused(RefusedKind::Commit, e.to_string());
                    }
                }
            }
            other => {
                // Not in the group yet: commits are not for us.
                self.phase = other;
            }
        }
    }

    fn on_application(&mut self, now: Instant, bytes: &[u8]) {
        let time = self.unix_at(now);
        let Phase::Member { group } = &mut self.phase else {
            return;
        };
        let msg = match MlsMessage::from_bytes(bytes) {
            Ok(m) => m,
            Err(e) => {
                return self.refused(RefusedKind::Application, format!("not an MLS message: {e}"));
            }
        };
        let received = group.process_incoming_message_with_time(msg, time);
        match received {
            Ok(ReceivedMessage::ApplicationMessage(desc)) => {
                let data = desc.data().to_vec();
                let Some(from) = self
                    .roster
                    .iter()
                    .find(|r| r.leaf == desc.sender_index)
                    .cloned()
                else {
                    return self.refused(RefusedKind::Application, "sender is not in the roster");
                };
                let Some((seq, sent_at_ms, text)) = parse_chat(&data) else {
                    return self.refused(RefusedKind::Application, "not a chat message");
                };
                let key = self
                    .group()
                    .and_then(|g| g.member_at_index(desc.sender_index))
                    .map(|m| {
                        let mut k = [0u8; 32];
                        let b = m.signing_identity.signature_key.as_bytes();
                        k[..b.len().min(32)].copy_from_slice(&b[..b.len().min(32)]);
                        k
                    })
                    .unwrap_or_default();
                let last = self.chat_seen.get(&key).copied().unwrap_or(0);
                let order = if seq == last + 1 {
                    ChatOrder::InOrder
                } else if seq > last {
                    ChatOrder::AfterGap {
                        missing: seq - last - 1,
                    }
                } else {
                    ChatOrder::Late
                };
                if seq > last {
                    self.chat_seen.insert(key, seq);
                }
                self.event(Event::Chat(ChatMessage {
                    from,
                    seq,
                    sent_at_ms,
                    text,
                    order,
                }));
            }
            Ok(_) => self.refused(RefusedKind::Application, "not an application message"),
            Err(e) => self.refused(RefusedKind::Application, e.to_string()),
        }
    }

    /// Seals a chat message for the other members: MLS application data (sender
    /// authenticated, each key used once) carrying this member's next sequence number.
    pub fn send_chat(&mut self, now: Instant, sent_at_ms: u64, text: &str) -> Result<(), Error> {
        let _ = self.advance(now);
        if text.len() > MAX_CHAT_LEN {
            return Err(Error::MetadataTooLong {
                len: text.len(),
                max: MAX_CHAT_LEN,
            });
        }
        let Phase::Member { group } = &mut self.phase else {
            return Err(Error::NotInGroup);
        };
        let seq = self.chat_seq + 1;
        let mut plain = Vec::with_capacity(17 + text.len());
        plain.push(CHAT_VERSION);
        plain.extend_from_slice(&seq.to_be_bytes());
        plain.extend_from_slice(&sent_at_ms.to_be_bytes());
        plain.extend_from_slice(text.as_bytes());
        let msg = group
            .encrypt_application_message(&plain, Vec::new())
            .and_then(|m| m.to_bytes())
            .map_err(mls_err)?;
        self.chat_seq = seq;
        self.transmit(ToDs::Application { message: msg });
        Ok(())
    }

    // ----- own commits -----

    fn commit(&mut self, now: Instant, remove: &[u32]) -> Result<(), Error> {
        let time = self.unix_at(now);
        let Phase::Member { group } = &mut self.phase else {
            return Ok(());
        };
        let me = group.current_member_index();
        let present: BTreeSet<u32> = group.roster().members_iter().map(|m| m.index).collect();
        let mut b = group.commit_builder().commit_time(time);
        for l in remove.iter().filter(|l| **l != me && present.contains(l)) {
            b = b.remove_member(*l).map_err(mls_err)?;
        }
        let out = b.build().map_err(mls_err)?;
        let info = out
            .external_commit_group_info
            .as_ref()
            .ok_or_else(|| Error::Mls("commit built without a GroupInfo".into()))?
            .to_bytes()
            .map_err(mls_err)?;
        let commit = out.commit_message.to_bytes().map_err(mls_err)?;
        self.pending = Some(PendingCommit { since: now });
        self.transmit(ToDs::Commit {
            commit,
            group_info: info,
        });
        Ok(())
    }

    // ----- keys -----

    fn leave_group(&mut self, now: Instant) {
        self.phase = Phase::Waiting;
        self.pending = None;
        self.to_remove.clear();
        self.next_send = None;
        self.send_kid = None;
        for k in &mut self.installed {
            if k.leaf.is_none() {
                self.send.remove_key(k.kid);
                k.retire_at = Some(now);
            } else if k.retire_at.is_none() {
                k.retire_at = Some(now + self.config.grace_period);
            }
        }
        self.installed.retain(|k| k.leaf.is_some());
        self.roster.clear();
        self.participants.clear();
        self.code = None;
    }

    fn on_new_epoch(&mut self, now: Instant, committer: Option<u32>) {
        let Phase::Member { group } = &self.phase else {
            return;
        };
        let epoch = group.current_epoch();
        let me = group.current_member_index();
        let suite = self.config.context.suite;
        let base = match group.export_secret(SFRAME_LABEL, b"", suite.key_len()) {
            Ok(s) => Zeroizing::new(s.as_bytes().to_vec()),
            Err(e) => return self.refused(RefusedKind::Commit, format!("exporter failed: {e}")),
        };
        let code = match group.epoch_authenticator() {
            Ok(a) => verification_code(a.as_bytes()),
            Err(e) => {
                return self.refused(RefusedKind::Commit, format!("epoch authenticator: {e}"));
            }
        };
        let members: Vec<_> = group.roster().members();
        let new_roster: Vec<RosterEntry> = members
            .iter()
            .map(|m| {
                let cert = Certificate::from_credential(&m.signing_identity.credential).ok();
                let participant = m
                    .extensions
                    .get(ExtensionType::new(PARTICIPANT_EXTENSION))
                    .and_then(|a| String::from_utf8(a.extension_data().to_vec()).ok());
                let c = cert.as_ref().map(|c| c.claims.clone()).unwrap_or_default();
                RosterEntry {
                    leaf: m.index,
                    participant,
                    subject: c.subject,
                    name: c.name,
                    role: c.role,
                    tenant: c.tenant,
                    fingerprint: crate::mls::identity::fingerprint(
                        m.signing_identity.signature_key.as_bytes(),
                    ),
                    is_self: m.index == me,
                }
            })
            .collect();

        let added: Vec<RosterEntry> = new_roster
            .iter()
            .filter(|r| {
                !self
                    .roster
                    .iter()
                    .any(|o| o.leaf == r.leaf && o.fingerprint == r.fingerprint)
            })
            .cloned()
            .collect();
        let removed: Vec<RosterEntry> = self
            .roster
            .iter()
            .filter(|o| {
                !new_roster
                    .iter()
                    .any(|r| r.leaf == o.leaf && o.fingerprint == r.fingerprint)
            })
            .cloned()
            .collect();

        // Retire the previous epoch's keys after the switch and the grace period; drop at once
        // any key whose KID this epoch reuses (same low E bits, §5.2).
        let retire = now + self.config.switch_delay + self.config.grace_period;
        let layout = self.layout;
        for k in &mut self.installed {
            if k.epoch != epoch && layout.same_epoch_slot(k.kid, epoch) {
                k.retire_at = Some(now);
            } else if k.epoch != epoch && k.retire_at.is_none() {
                k.retire_at = Some(retire);
            }
        }
        // Keys of removed members (and of leaves now held by someone else) go with the rest.
        for r in &removed {
            for k in &mut self.installed {
                if k.leaf == Some(r.leaf) && k.retire_at.is_none() {
                    k.retire_at = Some(now + self.config.grace_period);
                }
            }
        }
        self.retire_keys(now);

        let mut failures = Vec::new();
        for r in &new_roster {
            let kid = match self.layout.kid(epoch, u64::from(r.leaf), 0) {
                Ok(k) => k,
                Err(_) => {
                    failures.push(format!("leaf {} does not fit the KID layout", r.leaf));
                    continue;
                }
            };
            if r.leaf == me {
                if self.send.contains_key(kid) {
                    continue;
                }
                if let Err(e) = self.send.add_send_key(kid, &base) {
                    failures.push(e.to_string());
                    continue;
                }
                self.installed.push(Installed {
                    leaf: None,
                    kid,
                    epoch,
                    retire_at: None,
                });
                // A superseded, never used next key goes now.
                if let Some((old, _, _)) = self.next_send.take() {
                    self.send.remove_key(old);
                    self.installed
                        .retain(|k| !(k.leaf.is_none() && k.kid == old));
                }
                match self.send_kid {
                    None => self.switch_send_key(kid, epoch),
                    Some(_) => self.next_send = Some((kid, epoch, now + self.config.switch_delay)),
                }
            } else {
                let cfg = self.config.context.clone();
                let ctx = match self.recv.entry(r.leaf) {
                    std::collections::btree_map::Entry::Occupied(o) => o.into_mut(),
                    std::collections::btree_map::Entry::Vacant(v) => {
                        match Context::with_config(cfg) {
                            Ok(c) => v.insert(c),
                            Err(e) => {
                                failures.push(e.to_string());
                                continue;
                            }
                        }
                    }
                };
                if ctx.contains_key(kid) {
                    ctx.remove_key(kid);
                }
                if let Err(e) = ctx.add_recv_key(kid, &base) {
                    failures.push(e.to_string());
                    continue;
                }
                self.installed
                    .retain(|k| !(k.leaf == Some(r.leaf) && k.kid == kid));
                self.installed.push(Installed {
                    leaf: Some(r.leaf),
                    kid,
                    epoch,
                    retire_at: None,
                });
            }
        }
        for f in failures {
            self.refused(RefusedKind::Commit, format!("key install failed: {f}"));
        }

        // Participant -> leaf, refusing ambiguity.
        let mut participants: BTreeMap<String, u32> = BTreeMap::new();
        let mut dup = BTreeSet::new();
        for r in &new_roster {
            if let Some(p) = &r.participant
                && participants.insert(p.clone(), r.leaf).is_some()
            {
                dup.insert(p.clone());
            }
        }
        for p in &dup {
            participants.remove(p);
        }
        let known_dup: BTreeSet<String> = self
            .roster
            .iter()
            .filter_map(|r| r.participant.clone())
            .filter(|p| !self.participants.contains_key(p))
            .collect();
        for p in dup {
            if !known_dup.contains(&p) {
                self.event(Event::DuplicateParticipant { participant: p });
            }
        }
        self.participants = participants;
        self.to_remove
            .retain(|l, _| new_roster.iter().any(|r| r.leaf == *l));
        self.roster = new_roster;
        self.code = Some(code.clone());
        self.event(Event::EpochChanged(EpochChange {
            epoch,
            added,
            removed,
            committer,
            code,
        }));
    }

    fn switch_send_key(&mut self, kid: KeyId, epoch: u64) {
        if let Some((old, _)) = self.send_kid.replace((kid, epoch))
            && old != kid
        {
            self.send.remove_key(old);
            self.installed
                .retain(|k| !(k.leaf.is_none() && k.kid == old));
        }
        if matches!(self.next_send, Some((k, _, _)) if k == kid) {
            self.next_send = None;
        }
        self.event(Event::SendKeyChanged { kid, epoch });
    }

    fn retire_keys(&mut self, now: Instant) {
        let send_kid = self.send_kid.map(|(k, _)| k);
        let next_kid = self.next_send.map(|(k, _, _)| k);
        let mut keep = Vec::with_capacity(self.installed.len());
        for k in self.installed.drain(..) {
            let due = k.retire_at.is_some_and(|t| t <= now);
            match (due, k.leaf) {
                (false, _) => keep.push(k),
                // Our own current or next send key is never retired by time.
                (true, None) if Some(k.kid) == send_kid || Some(k.kid) == next_kid => {
                    keep.push(Installed {
                        retire_at: None,
                        ..k
                    })
                }
                (true, None) => {
                    self.send.remove_key(k.kid);
                }
                (true, Some(leaf)) => {
                    if let Some(ctx) = self.recv.get_mut(&leaf) {
                        ctx.remove_key(k.kid);
                        if ctx.key_count() == 0 {
                            self.recv.remove(&leaf);
                        }
                    }
                }
            }
        }
        self.installed = keep;
    }

    // ----- media -----

    /// Seals one encoded frame in place with this member's current key (see
    /// [`media::seal_frame`] for the buffer layout). [`Error::NoSendKey`] before the first epoch.
    pub fn seal_frame(
        &mut self,
        codec: Codec,
        buf: &mut [u8],
        frame_len: usize,
    ) -> Result<usize, Error> {
        let (kid, _) = self.send_kid.ok_or(Error::NoSendKey(KeyId(u64::MAX)))?;
        media::seal_frame(&mut self.send, codec, kid, buf, frame_len)
    }

    /// A buffer length that always suffices to seal a `frame_len`-byte frame.
    pub fn seal_buffer_len(&self, codec: Codec, frame_len: usize) -> usize {
        media::seal_buffer_len(&self.send, codec, frame_len)
    }

    /// Opens one wire frame in place that the SFU attributes to `sender` (its participant id).
    ///
    /// The frame opens only under a key of the leaf that claims `sender`: a frame under any
    /// other member's KID is refused with [`Error::KeyIdNotOfSender`] before decryption, and no
    /// replay window moves. [`Error::UnknownSender`] when no leaf (or more than one) claims
    /// `sender`. Otherwise as [`media::open_frame`].
    pub fn open_frame(
        &mut self,
        sender: &str,
        codec: Codec,
        buf: &mut [u8],
    ) -> Result<(Opened, usize), Error> {
        let leaf = *self
            .participants
            .get(sender)
            .ok_or_else(|| Error::UnknownSender(sender.into()))?;
        let ctx = self
            .recv
            .get_mut(&leaf)
            .ok_or_else(|| Error::UnknownSender(sender.into()))?;
        match media::open_frame(ctx, codec, buf) {
            Err(Error::UnknownKeyId(kid))
                if self.layout.split(kid).sender_index != u64::from(leaf) =>
            {
                Err(Error::KeyIdNotOfSender {
                    kid,
                    sender: sender.into(),
                })
            }
            other => other,
        }
    }
}

fn parse_chat(data: &[u8]) -> Option<(u64, u64, String)> {
    if data.len() < 17 || data[0] != CHAT_VERSION {
        return None;
    }
    let seq = u64::from_be_bytes(data[1..9].try_into().ok()?);
    let at = u64::from_be_bytes(data[9..17].try_into().ok()?);
    let text = String::from_utf8(data[17..].to_vec()).ok()?;
    Some((seq, at, text))
}
