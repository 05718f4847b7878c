//! Signed X25519 key agreement for per-sender SFrame keys (RFC 9605 §5.1 sender keys).
//!
//! Every call member holds a long-term Ed25519 **identity key**, supplied by the embedding
//! product; the other members know its public half out of band (the product's account
//! system). For each call, and again whenever it refreshes, a member makes an X25519
//! **ephemeral key** from a caller-supplied RNG and publishes an [`Announcement`]: its member
//! id, a sequence number and the ephemeral public key, signed with its identity key over the
//! call's [`CallId`]. A relay that swaps the ephemeral key, the member id or the call cannot
//! produce a valid signature, so [`Announcement::verify`] rejects it with
//! [`Error::InvalidSignature`].
//!
//! Two members that hold each other's verified announcements agree a [`PairwiseKek`]
//! (X25519, then HKDF-SHA256 bound to the call, both member ids and both ephemeral keys). Each
//! member makes a random 32-byte [`SenderBaseKey`] per key generation and sends it to every
//! other member in its own [`KeyDelivery`], sealed with AES-256-GCM under that pair's KEK. A
//! delivery needs no signature: only the two holders of the signed ephemeral keys can compute
//! the KEK, so a delivery that opens came from the sender it names.
//!
//! A [`SafetyNumber`] lets people compare, by reading 30 digits aloud, that every screen sees
//! the same identity and ephemeral keys: if the relay substituted a key for anyone, the numbers
//! differ.
//!
//! [`crate::session::Session`] drives all of this (plus rotation); these are the building
//! blocks, usable on their own.
//!
//! # Wire format (version 1)
//!
//! Every message is a fixed-length byte string that the server relays opaquely. Integers are
//! big-endian. Decoding is strict: a wrong version, an unknown type or a wrong length is
//! [`Error::InvalidKeyMessage`], so every message has exactly one encoding.
//!
//! ## Announcement (110 bytes)
//!
//! | offset | length | field |
//! |-------:|-------:|-------|
//! | 0 | 1 | version = `0x01` |
//! | 1 | 1 | type = `0x01` (announcement) |
//! | 2 | 8 | member id (u64) |
//! | 10 | 4 | announcement sequence number (u32; 0 for a member's first ephemeral key in a call, +1 per refresh) |
//! | 14 | 32 | X25519 ephemeral public key |
//! | 46 | 64 | Ed25519 signature (RFC 8032, verified strictly) |
//!
//! The signature covers `"telesfu-e2ee v1 announcement" || call_id (32) || bytes[0..46]`.
//!
//! ## Key delivery (102 bytes)
//!
//! | offset | length | field |
//! |-------:|-------:|-------|
//! | 0 | 1 | version = `0x01` |
//! | 1 | 1 | type = `0x02` (key delivery) |
//! | 2 | 8 | sender member id (u64) |
//! | 10 | 8 | recipient member id (u64) |
//! | 18 | 4 | sender's announcement sequence number the KEK used (u32) |
//! | 22 | 4 | recipient's announcement sequence number the KEK used (u32) |
//! | 26 | 8 | key generation (u64, per sender, increasing) |
//! | 34 | 8 | SFrame KID the key is for (u64) |
//! | 42 | 12 | AES-GCM nonce (random) |
//! | 54 | 32 | sender base key, encrypted |
//! | 86 | 16 | AES-GCM tag |
//!
//! Sealed with AES-256-GCM under the pair's KEK; the AAD is
//! `"telesfu-e2ee v1 key delivery" || call_id (32) || bytes[0..54]`, so the call, both members,
//! both ephemeral keys (through their sequence numbers and the KEK), the generation and the
//! KID are all authenticated. The nonce is 96 random bits from the caller's RNG: a KEK seals a
//! handful of keys in its life, far from the birthday bound.
//!
//! # Derivations
//!
//! ```text
//! call_id   = SHA-256("telesfu-e2ee v1 call id" || u32(len(binding)) || binding)
//! dh        = X25519(my_ephemeral_secret, their_ephemeral_public)     # all-zero output rejected
//! (lo, hi)  = the two members ordered by member id
//! kek       = HKDF-SHA256(salt = "telesfu-e2ee v1 pairwise kek" || call_id,
//!                         ikm  = dh,
//!                         info = u64(lo.id) || u64(hi.id) || lo.ephemeral || hi.ephemeral,
//!                         L    = 32)
//! safety    = SHA-256("telesfu-e2ee v1 safety number" || call_id || u32(n) ||
//!                     for each member, sorted by id: u64(id) || identity_pub (32) || ephemeral_pub (32))
//! digits[i] = u40(safety[5i .. 5i+5]) mod 100000,  i = 0..6   → "ddddd ddddd ddddd ddddd ddddd ddddd"
//! ```
//!
//! The call binding is whatever the product uses to name one call (a meeting id plus a
//! server-issued nonce, say): it must be the same on every member and never reused for another
//! call, so an old announcement cannot be replayed into a new call.

use core::fmt;

use aes_gcm::aead::{AeadInOut, KeyInit};
use aes_gcm::{Aes256Gcm, Nonce, Tag};
use ed25519_dalek::{Signature, Signer};
use hkdf::Hkdf;
use rand_core::CryptoRng;
use sha2::{Digest, Sha256};
use x25519_dalek::{PublicKey, StaticSecret};
use zeroize::Zeroizing;

use crate::{Error, KeyId, MemberId};

pub use ed25519_dalek::{SigningKey, VerifyingKey};

/// Wire format version of every key message.
pub const VERSION: u8 = 1;
/// Message type byte of an [`Announcement`].
pub const TYPE_ANNOUNCEMENT: u8 = 1;
/// Message type byte of a [`KeyDelivery`].
pub const TYPE_KEY_DELIVERY: u8 = 2;
/// Length of a sender base key.
pub const BASE_KEY_LEN: usize = 32;

const CALL_LABEL: &[u8] = b"telesfu-e2ee v1 call id";
const ANNOUNCE_LABEL: &[u8] = b"telesfu-e2ee v1 announcement";
const KEK_LABEL: &[u8] = b"telesfu-e2ee v1 pairwise kek";
const DELIVERY_LABEL: &[u8] = b"telesfu-e2ee v1 key delivery";
const SAFETY_LABEL: &[u8] = b"telesfu-e2ee v1 safety number";

const NONCE_LEN: usize = 12;
const TAG_LEN: usize = 16;
/// Signed part of an announcement: everything before the signature.
const ANNOUNCEMENT_SIGNED_LEN: usize = 46;
/// Clear part of a delivery: everything before the encrypted key.
const DELIVERY_HEADER_LEN: usize = 54;

/// Writes big-endian integers into a fixed buffer.
struct Writer<'a> {
    buf: &'a mut [u8],
    at: usize,
}

impl Writer<'_> {
    fn put(&mut self, bytes: &[u8]) {
        self.buf[self.at..self.at + bytes.len()].copy_from_slice(bytes);
        self.at += bytes.len();
    }
}

/// Reads fixed fields from a buffer whose length was checked first.
struct Reader<'a> {
    buf: &'a [u8],
    at: usize,
}

impl Reader<'_> {
    fn array<const N: usize>(&mut self) -> [u8; N] {
        let mut out = [0; N];
        out.copy_from_slice(&self.buf[self.at..self.at + N]);
        self.at += N;
        out
    }
    fn u32(&mut self) -> u32 {
        u32::from_be_bytes(self.array())
    }
    fn u64(&mut self) -> u64 {
        u64::from_be_bytes(self.array())
    }
}

/// Checks version, type and exact length.
fn check_frame(bytes: &[u8], msg_type: u8, len: usize, what: &'static str) -> Result<(), Error> {
    match bytes {
        [] => Err(Error::InvalidKeyMessage("empty key message")),
        [v, ..] if *v != VERSION => {
            Err(Error::InvalidKeyMessage("unsupported key message version"))
        }
        [_] => Err(Error::InvalidKeyMessage("key message has no type byte")),
        [_, t, ..] if *t != msg_type => {
            Err(Error::InvalidKeyMessage("unexpected key message type"))
        }
        _ if bytes.len() != len => Err(Error::InvalidKeyMessage(what)),
        _ => Ok(()),
    }
}

// ---------------------------------------------------------------------------------------------

/// Names one call: a digest of the product's call binding bytes. Everything signed or derived
/// in this module is bound to it.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct CallId([u8; 32]);

impl CallId {
    /// The call id for `binding`: bytes that name this call, identical on every member and
    /// never reused for another call (e.g. the meeting id and a server-issued nonce).
    pub fn from_binding(binding: &[u8]) -> Result<Self, Error> {
        if binding.is_empty() {
            return Err(Error::InvalidConfig("call binding must not be empty"));
        }
        let len = u32::try_from(binding.len())
            .map_err(|_| Error::InvalidConfig("call binding must be shorter than 4 GiB"))?;
        let mut h = Sha256::new();
        h.update(CALL_LABEL);
        h.update(len.to_be_bytes());
        h.update(binding);
        Ok(Self(h.finalize().into()))
    }

    /// The 32-byte digest.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl fmt::Debug for CallId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CallId(")?;
        for b in &self.0[..8] {
            write!(f, "{b:02x}")?;
        }
        write!(f, "..)")
    }
}

// ---------------------------------------------------------------------------------------------

/// A member's X25519 ephemeral key pair for one call (or until it refreshes). The secret is
/// erased on drop and never printed.
pub struct EphemeralKey {
    secret: StaticSecret,
    public: PublicKey,
    seq: u32,
}

impl fmt::Debug for EphemeralKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EphemeralKey")
            .field("seq", &self.seq)
            .field("public", &Hex(self.public.as_bytes()))
            .finish_non_exhaustive()
    }
}

impl EphemeralKey {
    /// A fresh key pair from `rng`, announced with sequence number `seq`.
    pub fn generate<R: CryptoRng + ?Sized>(rng: &mut R, seq: u32) -> Self {
        let secret = StaticSecret::random_from_rng(rng);
        let public = PublicKey::from(&secret);
        Self {
            secret,
            public,
            seq,
        }
    }

    /// The public key.
    pub fn public(&self) -> [u8; 32] {
        self.public.to_bytes()
    }

    /// The announcement sequence number.
    pub fn seq(&self) -> u32 {
        self.seq
    }

    /// The signed announcement of this key by `member` in `call`.
    pub fn announce(&self, call: &CallId, member: MemberId, identity: &SigningKey) -> Announcement {
        let mut a = Announcement {
            member,
            seq: self.seq,
            ephemeral: self.public.to_bytes(),
            signature: [0; 64],
        };
        let signed = a.signed_bytes(call);
        a.signature = identity.sign(&signed).to_bytes();
        a
    }
}

// ---------------------------------------------------------------------------------------------

/// A member's signed ephemeral key (wire layout in the [module docs](self)).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Announcement {
    /// The member announcing.
    pub member: MemberId,
    /// Sequence number: 0 for the member's first ephemeral key in the call, +1 per refresh.
    pub seq: u32,
    /// X25519 ephemeral public key.
    pub ephemeral: [u8; 32],
    /// Ed25519 signature by the member's identity key.
    pub signature: [u8; 64],
}

impl Announcement {
    /// Encoded length.
    pub const LEN: usize = ANNOUNCEMENT_SIGNED_LEN + 64;

    fn write_signed_part(&self, out: &mut [u8]) {
        let mut w = Writer { buf: out, at: 0 };
        w.put(&[VERSION, TYPE_ANNOUNCEMENT]);
        w.put(&self.member.0.to_be_bytes());
        w.put(&self.seq.to_be_bytes());
        w.put(&self.ephemeral);
    }

    /// The bytes the signature covers.
    fn signed_bytes(
        &self,
        call: &CallId,
    ) -> [u8; ANNOUNCE_LABEL.len() + 32 + ANNOUNCEMENT_SIGNED_LEN] {
        let mut out = [0; ANNOUNCE_LABEL.len() + 32 + ANNOUNCEMENT_SIGNED_LEN];
        let (label, rest) = out.split_at_mut(ANNOUNCE_LABEL.len());
        label.copy_from_slice(ANNOUNCE_LABEL);
        let (call_part, msg) = rest.split_at_mut(32);
        call_part.copy_from_slice(&call.0);
        self.write_signed_part(msg);
        out
    }

    /// The wire form.
    pub fn encode(&self) -> [u8; Self::LEN] {
        let mut out = [0; Self::LEN];
        self.write_signed_part(&mut out[..ANNOUNCEMENT_SIGNED_LEN]);
        out[ANNOUNCEMENT_SIGNED_LEN..].copy_from_slice(&self.signature);
        out
    }

    /// Parses the wire form. Says nothing about the signature: call [`Announcement::verify`].
    pub fn decode(bytes: &[u8]) -> Result<Self, Error> {
        check_frame(
            bytes,
            TYPE_ANNOUNCEMENT,
            Self::LEN,
            "announcement must be 110 bytes",
        )?;
        let mut r = Reader { buf: bytes, at: 2 };
        Ok(Self {
            member: MemberId(r.u64()),
            seq: r.u32(),
            ephemeral: r.array(),
            signature: r.array(),
        })
    }

    /// Checks the signature against `identity`, the identity key the product knows for
    /// [`Announcement::member`], over `call`. A substituted ephemeral key, member id, sequence
    /// number or call, or a signature by any other key, is [`Error::InvalidSignature`].
    pub fn verify(&self, call: &CallId, identity: &VerifyingKey) -> Result<(), Error> {
        let sig = Signature::from_bytes(&self.signature);
        identity
            .verify_strict(&self.signed_bytes(call), &sig)
            .map_err(|_| Error::InvalidSignature(self.member))
    }
}

// ---------------------------------------------------------------------------------------------

/// The key-encryption key two members share in one call, erased on drop.
pub struct PairwiseKek(Zeroizing<[u8; 32]>);

impl fmt::Debug for PairwiseKek {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PairwiseKek(..)")
    }
}

impl PairwiseKek {
    /// Agrees the KEK between `me` (holding `mine`) and `peer` (who announced `theirs`). Both
    /// sides get the same key. Fails when the two ids are equal, or when `theirs` is a
    /// low-order point that makes the X25519 output all zero (a peer breaking the protocol).
    pub fn derive(
        call: &CallId,
        me: MemberId,
        mine: &EphemeralKey,
        peer: MemberId,
        theirs: &[u8; 32],
    ) -> Result<Self, Error> {
        if me == peer {
            return Err(Error::InvalidKeyMessage(
                "a member cannot agree a pairwise key with itself",
            ));
        }
        let shared = mine.secret.diffie_hellman(&PublicKey::from(*theirs));
        if !shared.was_contributory() {
            return Err(Error::InvalidKeyMessage(
                "ephemeral key is a low-order point (all-zero X25519 output)",
            ));
        }
        let my_pub = mine.public.to_bytes();
        let ((lo, lo_eph), (hi, hi_eph)) = if me < peer {
            ((me, &my_pub), (peer, theirs))
        } else {
            ((peer, theirs), (me, &my_pub))
        };
        let mut salt = [0; KEK_LABEL.len() + 32];
        salt[..KEK_LABEL.len()].copy_from_slice(KEK_LABEL);
        salt[KEK_LABEL.len()..].copy_from_slice(&call.0);
        let hk = Hkdf::<Sha256>::new(Some(&salt), shared.as_bytes());
        let mut kek = Zeroizing::new([0; 32]);
        hk.expand_multi_info(
            &[&lo.0.to_be_bytes(), &hi.0.to_be_bytes(), lo_eph, hi_eph],
            &mut kek[..],
        )
        .expect("32 bytes is within HKDF-SHA256's 8160-byte output limit");
        Ok(Self(kek))
    }

    fn cipher(&self) -> Aes256Gcm {
        Aes256Gcm::new(&(*self.0).into())
    }
}

// ---------------------------------------------------------------------------------------------

/// A sender's 32-byte SFrame base key for one generation, erased on drop and never printed.
#[derive(Clone)]
pub struct SenderBaseKey(Zeroizing<[u8; BASE_KEY_LEN]>);

impl fmt::Debug for SenderBaseKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SenderBaseKey(..)")
    }
}

impl SenderBaseKey {
    /// A fresh random key from `rng`.
    pub fn generate<R: CryptoRng + ?Sized>(rng: &mut R) -> Self {
        let mut k = Zeroizing::new([0; BASE_KEY_LEN]);
        rng.fill_bytes(&mut k[..]);
        Self(k)
    }

    /// A key from bytes (e.g. in a test).
    pub fn from_bytes(bytes: [u8; BASE_KEY_LEN]) -> Self {
        Self(Zeroizing::new(bytes))
    }

    /// The key bytes, to install into a [`crate::Context`].
    pub fn as_bytes(&self) -> &[u8; BASE_KEY_LEN] {
        &self.0
    }
}

// ---------------------------------------------------------------------------------------------

/// The clear fields of a [`KeyDelivery`], all authenticated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeliveryInfo {
    /// The member whose sender key this is.
    pub sender: MemberId,
    /// The member it is sealed for.
    pub recipient: MemberId,
    /// Sequence number of the sender's announcement whose ephemeral key the KEK used.
    pub sender_seq: u32,
    /// Sequence number of the recipient's announcement whose ephemeral key the KEK used.
    pub recipient_seq: u32,
    /// The sender's key generation (increases with every new key).
    pub generation: u64,
    /// The SFrame KID the sender seals with under this key.
    pub kid: KeyId,
}

/// A sender base key sealed for one recipient (wire layout in the [module docs](self)).
#[derive(Clone, PartialEq, Eq)]
pub struct KeyDelivery {
    info: DeliveryInfo,
    nonce: [u8; NONCE_LEN],
    sealed: [u8; BASE_KEY_LEN + TAG_LEN],
}

impl fmt::Debug for KeyDelivery {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyDelivery")
            .field("info", &self.info)
            .finish_non_exhaustive()
    }
}

impl KeyDelivery {
    /// Encoded length.
    pub const LEN: usize = DELIVERY_HEADER_LEN + BASE_KEY_LEN + TAG_LEN;

    /// Seals `key` for `info.recipient` under the pair's `kek`, with a nonce from `rng`.
    pub fn seal<R: CryptoRng + ?Sized>(
        rng: &mut R,
        kek: &PairwiseKek,
        call: &CallId,
        info: DeliveryInfo,
        key: &SenderBaseKey,
    ) -> Self {
        let mut nonce = [0; NONCE_LEN];
        rng.fill_bytes(&mut nonce);
        let mut d = Self {
            info,
            nonce,
            sealed: [0; BASE_KEY_LEN + TAG_LEN],
        };
        let aad = d.aad(call);
        let (ct, tag_out) = d.sealed.split_at_mut(BASE_KEY_LEN);
        ct.copy_from_slice(key.as_bytes());
        let tag = kek
            .cipher()
            .encrypt_inout_detached(&Nonce::from(nonce), &aad, ct.into())
            .expect("AES-GCM seals 32 bytes with 120 bytes of AAD: both far below its limits");
        tag_out.copy_from_slice(tag.as_slice());
        d
    }

    /// Opens the key with the pair's `kek`. [`Error::AuthenticationFailed`] when the delivery
    /// was altered, or sealed under another KEK or for another call.
    pub fn open(&self, kek: &PairwiseKek, call: &CallId) -> Result<SenderBaseKey, Error> {
        let aad = self.aad(call);
        let mut key = Zeroizing::new([0; BASE_KEY_LEN]);
        key.copy_from_slice(&self.sealed[..BASE_KEY_LEN]);
        let tag = Tag::try_from(&self.sealed[BASE_KEY_LEN..])
            .expect("the sealed field holds exactly a 16-byte tag after the key");
        kek.cipher()
            .decrypt_inout_detached(&Nonce::from(self.nonce), &aad, (&mut key[..]).into(), &tag)
            .map_err(|_| Error::AuthenticationFailed)?;
        Ok(SenderBaseKey(key))
    }

    /// The clear, authenticated fields.
    pub fn info(&self) -> &DeliveryInfo {
        &self.info
    }

    fn write_header(&self, out: &mut [u8]) {
        let i = &self.info;
        let mut w = Writer { buf: out, at: 0 };
        w.put(&[VERSION, TYPE_KEY_DELIVERY]);
        w.put(&i.sender.0.to_be_bytes());
        w.put(&i.recipient.0.to_be_bytes());
        w.put(&i.sender_seq.to_be_bytes());
        w.put(&i.recipient_seq.to_be_bytes());
        w.put(&i.generation.to_be_bytes());
        w.put(&i.kid.0.to_be_bytes());
        w.put(&self.nonce);
    }

    fn aad(&self, call: &CallId) -> [u8; DELIVERY_LABEL.len() + 32 + DELIVERY_HEADER_LEN] {
        let mut out = [0; DELIVERY_LABEL.len() + 32 + DELIVERY_HEADER_LEN];
        out[..DELIVERY_LABEL.len()].copy_from_slice(DELIVERY_LABEL);
        out[DELIVERY_LABEL.len()..DELIVERY_LABEL.len() + 32].copy_from_slice(&call.0);
        self.write_header(&mut out[DELIVERY_LABEL.len() + 32..]);
        out
    }

    /// The wire form.
    pub fn encode(&self) -> [u8; Self::LEN] {
        let mut out = [0; Self::LEN];
        self.write_header(&mut out[..DELIVERY_HEADER_LEN]);
        out[DELIVERY_HEADER_LEN..].copy_from_slice(&self.sealed);
        out
    }

    /// Parses the wire form (the key stays sealed until [`KeyDelivery::open`]).
    pub fn decode(bytes: &[u8]) -> Result<Self, Error> {
        check_frame(
            bytes,
            TYPE_KEY_DELIVERY,
            Self::LEN,
            "key delivery must be 102 bytes",
        )?;
        let mut r = Reader { buf: bytes, at: 2 };
        Ok(Self {
            info: DeliveryInfo {
                sender: MemberId(r.u64()),
                recipient: MemberId(r.u64()),
                sender_seq: r.u32(),
                recipient_seq: r.u32(),
                generation: r.u64(),
                kid: KeyId(r.u64()),
            },
            nonce: r.array(),
            sealed: r.array(),
        })
    }
}

// ---------------------------------------------------------------------------------------------

/// Any key message, as the relay or a member decodes it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum KeyMessage {
    /// A signed ephemeral key, for every member.
    Announcement(Announcement),
    /// A sealed sender key, for one recipient.
    KeyDelivery(KeyDelivery),
}

impl KeyMessage {
    /// Parses any key message by its type byte.
    pub fn decode(bytes: &[u8]) -> Result<Self, Error> {
        match bytes {
            [VERSION, TYPE_ANNOUNCEMENT, ..] => Announcement::decode(bytes).map(Self::Announcement),
            [VERSION, TYPE_KEY_DELIVERY, ..] => KeyDelivery::decode(bytes).map(Self::KeyDelivery),
            [] => Err(Error::InvalidKeyMessage("empty key message")),
            [v, ..] if *v != VERSION => {
                Err(Error::InvalidKeyMessage("unsupported key message version"))
            }
            [_] => Err(Error::InvalidKeyMessage("key message has no type byte")),
            _ => Err(Error::InvalidKeyMessage("unknown key message type")),
        }
    }

    /// The member the message claims to come from (not yet authenticated).
    pub fn sender(&self) -> MemberId {
        match self {
            Self::Announcement(a) => a.member,
            Self::KeyDelivery(d) => d.info.sender,
        }
    }

    /// The one member it is for, or `None` for a message to every member. A relay routes by it.
    pub fn recipient(&self) -> Option<MemberId> {
        match self {
            Self::Announcement(_) => None,
            Self::KeyDelivery(d) => Some(d.info.recipient),
        }
    }
}

// ---------------------------------------------------------------------------------------------

/// One member's keys as the safety number sees them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SafetyEntry {
    /// The member.
    pub member: MemberId,
    /// Its long-term identity key.
    pub identity: VerifyingKey,
    /// Its current X25519 ephemeral public key.
    pub ephemeral: [u8; 32],
}

/// 30 digits in 6 groups that every member of a call sees alike when nobody's keys were
/// substituted (derivation in the [module docs](self)). `Display` renders
/// `"12345 67890 12345 67890 12345 67890"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SafetyNumber([u32; 6]);

impl SafetyNumber {
    /// The safety number of `call` with `members` (any order; each member once).
    pub fn compute(call: &CallId, members: &[SafetyEntry]) -> Result<Self, Error> {
        let mut sorted: Vec<&SafetyEntry> = members.iter().collect();
        sorted.sort_by_key(|e| e.member);
        if sorted.windows(2).any(|w| w[0].member == w[1].member) {
            return Err(Error::InvalidConfig(
                "safety number: a member appears twice",
            ));
        }
        let n = u32::try_from(sorted.len())
            .map_err(|_| Error::InvalidConfig("safety number: too many members"))?;
        let mut h = Sha256::new();
        h.update(SAFETY_LABEL);
        h.update(call.0);
        h.update(n.to_be_bytes());
        for e in sorted {
            h.update(e.member.0.to_be_bytes());
            h.update(e.identity.as_bytes());
            h.update(e.ephemeral);
        }
        let digest = h.finalize();
        let mut groups = [0u32; 6];
        for (i, g) in groups.iter_mut().enumerate() {
            let mut v = [0u8; 8];
            v[3..].copy_from_slice(&digest[5 * i..5 * i + 5]);
            *g = (u64::from_be_bytes(v) % 100_000) as u32;
        }
        Ok(Self(groups))
    }

    /// The six 5-digit groups (each below 100000).
    pub fn groups(&self) -> [u32; 6] {
        self.0
    }
}

impl fmt::Display for SafetyNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, g) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            write!(f, "{g:05}")?;
        }
        Ok(())
    }
}

/// Hex for public values in `Debug`.
struct Hex<'a>(&'a [u8]);

impl fmt::Debug for Hex<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for b in self.0 {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}
