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

#[cfg(test)]
mod tests {
    use chacha20::ChaCha20Rng;
    use proptest::prelude::*;
    use rand_core::SeedableRng;

    use super::*;

    fn rng(seed: u8) -> ChaCha20Rng {
        ChaCha20Rng::from_seed([seed; 32])
    }

    fn call() -> CallId {
        CallId::from_binding(b"call 1").unwrap()
    }

    fn id_key(seed: u8) -> SigningKey {
        SigningKey::from_bytes(&[seed; 32])
    }

    #[test]
    fn call_binding_must_not_be_empty_and_names_one_call() {
        assert!(CallId::from_binding(b"").is_err());
        assert_ne!(call(), CallId::from_binding(b"call 2").unwrap());
        assert_eq!(call(), CallId::from_binding(b"call 1").unwrap());
    }

    #[test]
    fn announcement_verifies_only_unaltered_and_under_its_identity() {
        let eph = EphemeralKey::generate(&mut rng(1), 3);
        let a = eph.announce(&call(), MemberId(7), &id_key(1));
        assert_eq!(a.seq, 3);
        assert_eq!(a.verify(&call(), &id_key(1).verifying_key()), Ok(()));
        let bad = Err(Error::InvalidSignature(MemberId(7)));
        assert_eq!(a.verify(&call(), &id_key(2).verifying_key()), bad);
        let other_call = CallId::from_binding(b"call 2").unwrap();
        assert_eq!(a.verify(&other_call, &id_key(1).verifying_key()), bad);
        let mut m = a.clone();
        m.ephemeral[31] ^= 0x80;
        assert_eq!(m.verify(&call(), &id_key(1).verifying_key()), bad);
        let mut m = a.clone();
        m.seq += 1;
        assert_eq!(m.verify(&call(), &id_key(1).verifying_key()), bad);
        let mut m = a.clone();
        m.member = MemberId(8);
        assert_eq!(
            m.verify(&call(), &id_key(1).verifying_key()),
            Err(Error::InvalidSignature(MemberId(8)))
        );
        let mut m = a;
        m.signature[0] ^= 1;
        assert_eq!(m.verify(&call(), &id_key(1).verifying_key()), bad);
    }

    #[test]
    fn decoding_is_strict() {
        let a = EphemeralKey::generate(&mut rng(1), 0)
            .announce(&call(), MemberId(1), &id_key(1))
            .encode();
        assert_eq!(Announcement::decode(&a).unwrap().encode(), a);
        fn err<T>(s: &'static str) -> Result<T, Error> {
            Err(Error::InvalidKeyMessage(s))
        }
        assert_eq!(KeyMessage::decode(&[]), err("empty key message"));
        assert_eq!(
            KeyMessage::decode(&[1]),
            err("key message has no type byte")
        );
        assert_eq!(
            KeyMessage::decode(&[2, 1]),
            err("unsupported key message version")
        );
        assert_eq!(
            KeyMessage::decode(&[1, 9, 0]),
            err("unknown key message type")
        );
        assert_eq!(
            KeyMessage::decode(&a[..109]),
            err("announcement must be 110 bytes")
        );
        let mut long = a.to_vec();
        long.push(0);
        assert_eq!(
            KeyMessage::decode(&long),
            err("announcement must be 110 bytes")
        );
        assert_eq!(
            Announcement::decode(&[1, 2, 0]),
            err("unexpected key message type")
        );
        assert_eq!(
            KeyDelivery::decode(&a[..102]),
            err("unexpected key message type")
        );
        let mut d = a[..102].to_vec();
        d[1] = TYPE_KEY_DELIVERY;
        assert!(KeyDelivery::decode(&d).is_ok());
        assert_eq!(
            KeyDelivery::decode(&d[..101]),
            err("key delivery must be 102 bytes")
        );
    }

    fn pair() -> (EphemeralKey, EphemeralKey) {
        (
            EphemeralKey::generate(&mut rng(1), 0),
            EphemeralKey::generate(&mut rng(2), 0),
        )
    }

    #[test]
    fn both_members_derive_the_same_kek_bound_to_call_and_members() {
        let (a, b) = pair();
        let (ma, mb) = (MemberId(1), MemberId(2));
        let at_a = PairwiseKek::derive(&call(), ma, &a, mb, &b.public()).unwrap();
        let at_b = PairwiseKek::derive(&call(), mb, &b, ma, &a.public()).unwrap();
        assert_eq!(*at_a.0, *at_b.0);
        let other_call = CallId::from_binding(b"call 2").unwrap();
        let elsewhere = PairwiseKek::derive(&other_call, ma, &a, mb, &b.public()).unwrap();
        assert_ne!(*elsewhere.0, *at_a.0);
        let other_ids = PairwiseKek::derive(&call(), ma, &a, MemberId(3), &b.public()).unwrap();
        assert_ne!(*other_ids.0, *at_a.0);
        assert!(PairwiseKek::derive(&call(), ma, &a, ma, &b.public()).is_err());
    }

    #[test]
    fn low_order_ephemeral_keys_are_rejected() {
        let (a, _) = pair();
        // u = 0 and u = 1 have small order: X25519 with them is all zero.
        let mut one = [0u8; 32];
        one[0] = 1;
        for bad in [[0u8; 32], one] {
            assert!(matches!(
                PairwiseKek::derive(&call(), MemberId(1), &a, MemberId(2), &bad),
                Err(Error::InvalidKeyMessage(_))
            ));
        }
    }

    fn delivery_info() -> DeliveryInfo {
        DeliveryInfo {
            sender: MemberId(1),
            recipient: MemberId(2),
            sender_seq: 0,
            recipient_seq: 4,
            generation: 9,
            kid: KeyId(0x109),
        }
    }

    #[test]
    fn delivery_opens_only_with_the_pair_kek_in_the_same_call_unaltered() {
        let (a, b) = pair();
        let kek = PairwiseKek::derive(&call(), MemberId(1), &a, MemberId(2), &b.public()).unwrap();
        let key = SenderBaseKey::generate(&mut rng(9));
        let d = KeyDelivery::seal(&mut rng(3), &kek, &call(), delivery_info(), &key);
        let wire = d.encode();
        let back = KeyDelivery::decode(&wire).unwrap();
        assert_eq!(back, d);
        assert_eq!(back.info(), &delivery_info());
        assert_eq!(back.open(&kek, &call()).unwrap().as_bytes(), key.as_bytes());
        // The key is not in the clear on the wire.
        assert!(!wire.windows(32).any(|w| w == key.as_bytes()));

        let c = EphemeralKey::generate(&mut rng(4), 0);
        let other =
            PairwiseKek::derive(&call(), MemberId(1), &a, MemberId(2), &c.public()).unwrap();
        assert_eq!(
            back.open(&other, &call()).unwrap_err(),
            Error::AuthenticationFailed
        );
        let other_call = CallId::from_binding(b"call 2").unwrap();
        assert_eq!(
            back.open(&kek, &other_call).unwrap_err(),
            Error::AuthenticationFailed
        );
        for i in 2..KeyDelivery::LEN {
            let mut bad = wire;
            bad[i] ^= 0x20;
            let d = KeyDelivery::decode(&bad).unwrap();
            assert_eq!(
                d.open(&kek, &call()).unwrap_err(),
                Error::AuthenticationFailed,
                "byte {i}"
            );
        }
    }

    #[test]
    fn safety_number_is_order_independent_and_covers_every_key() {
        let entry = |m: u64, seed: u8| SafetyEntry {
            member: MemberId(m),
            identity: id_key(seed).verifying_key(),
            ephemeral: EphemeralKey::generate(&mut rng(seed), 0).public(),
        };
        let (e1, e2, e3) = (entry(1, 1), entry(2, 2), entry(3, 3));
        let n = SafetyNumber::compute(&call(), &[e1, e2, e3]).unwrap();
        assert_eq!(SafetyNumber::compute(&call(), &[e3, e1, e2]).unwrap(), n);
        let s = n.to_string();
        assert_eq!(s.len(), 35);
        assert!(n.groups().iter().all(|&g| g < 100_000));
        let mut e2b = e2;
        e2b.ephemeral[0] ^= 1;
        assert_ne!(SafetyNumber::compute(&call(), &[e1, e2b, e3]).unwrap(), n);
        let mut e2c = e2;
        e2c.identity = id_key(9).verifying_key();
        assert_ne!(SafetyNumber::compute(&call(), &[e1, e2c, e3]).unwrap(), n);
        assert_ne!(SafetyNumber::compute(&call(), &[e1, e2]).unwrap(), n);
        let other_call = CallId::from_binding(b"call 2").unwrap();
        assert_ne!(
            SafetyNumber::compute(&other_call, &[e1, e2, e3]).unwrap(),
            n
        );
        assert!(SafetyNumber::compute(&call(), &[e1, e1]).is_err());
        assert_eq!(
            SafetyNumber([7, 0, 12345, 99999, 10, 100]).to_string(),
            "00007 00000 12345 99999 00010 00100"
        );
    }

    #[test]
    fn debug_never_prints_secrets() {
        let key = SenderBaseKey::from_bytes([0xab; 32]);
        let (a, b) = pair();
        let kek = PairwiseKek::derive(&call(), MemberId(1), &a, MemberId(2), &b.public()).unwrap();
        let secret_hex: String = a
            .secret
            .as_bytes()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        let kek_hex: String = kek.0.iter().map(|b| format!("{b:02x}")).collect();
        let printed = format!("{key:?} {a:?} {kek:?}");
        assert!(
            !printed.contains("ab, ab") && !printed.contains("abab") && !printed.contains("171")
        );
        assert!(!printed.contains(&secret_hex[..16]));
        assert!(!printed.contains(&kek_hex[..16]));
        assert!(printed.contains("seq"));
    }

    proptest! {
        #[test]
        fn announcements_round_trip(member: u64, seq: u32, eph: [u8; 32], sig0: [u8; 32], sig1: [u8; 32]) {
            let mut signature = [0; 64];
            signature[..32].copy_from_slice(&sig0);
            signature[32..].copy_from_slice(&sig1);
            let a = Announcement { member: MemberId(member), seq, ephemeral: eph, signature };
            let wire = a.encode();
            prop_assert_eq!(KeyMessage::decode(&wire), Ok(KeyMessage::Announcement(a)));
        }

        #[test]
        fn deliveries_round_trip(sender: u64, recipient: u64, ss: u32, rs: u32, generation: u64, kid: u64, seed: u8) {
            let info = DeliveryInfo {
                sender: MemberId(sender), recipient: MemberId(recipient), sender_seq: ss,
                recipient_seq: rs, generation, kid: KeyId(kid),
            };
            let (a, b) = pair();
            let kek = PairwiseKek::derive(&call(), MemberId(1), &a, MemberId(2), &b.public()).unwrap();
            let key = SenderBaseKey::generate(&mut rng(seed));
            let d = KeyDelivery::seal(&mut rng(seed), &kek, &call(), info, &key);
            let wire = d.encode();
            let m = KeyMessage::decode(&wire).unwrap();
            prop_assert_eq!(m.sender(), MemberId(sender));
            prop_assert_eq!(m.recipient(), Some(MemberId(recipient)));
            prop_assert_eq!(&m, &KeyMessage::KeyDelivery(d));
            let KeyMessage::KeyDelivery(back) = m else { unreachable!() };
            let opened = back.open(&kek, &call()).unwrap();
            prop_assert_eq!(opened.as_bytes(), key.as_bytes());
        }

        #[test]
        fn any_bytes_decode_to_an_error_or_their_one_encoding(bytes in proptest::collection::vec(any::<u8>(), 0..140), kind in 0u8..4) {
            let mut bytes = bytes;
            // Steer a share of inputs at the real lengths and headers.
            match kind {
                0 => { bytes.resize(Announcement::LEN, 0); bytes[0] = VERSION; bytes[1] = TYPE_ANNOUNCEMENT; }
                1 => { bytes.resize(KeyDelivery::LEN, 0); bytes[0] = VERSION; bytes[1] = TYPE_KEY_DELIVERY; }
                _ => {}
            }
            match KeyMessage::decode(&bytes) {
                Ok(KeyMessage::Announcement(a)) => prop_assert_eq!(&a.encode()[..], &bytes[..]),
                Ok(KeyMessage::KeyDelivery(d)) => prop_assert_eq!(&d.encode()[..], &bytes[..]),
                Err(e) => prop_assert!(matches!(e, Error::InvalidKeyMessage(_))),
            }
        }
    }
}
