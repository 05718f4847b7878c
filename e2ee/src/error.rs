//! The crate's one error type.

use crate::mls::identity::CertificateError;
use crate::{Counter, KeyId};

/// Everything that can go wrong in telesfu-e2ee.
///
/// Variants are grouped by who is at fault: bytes from the network (a peer or an attacker),
/// the caller's use of the API, and configuration. Every variant says what to fix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    // ----- Malformed or hostile input (from the network) -----
    /// The SFrame header could not be parsed.
    #[error("malformed SFrame header: {0}")]
    InvalidHeader(#[from] HeaderError),
    /// The frame is shorter than the header plus the suite's tag.
    #[error("SFrame ciphertext of {len} bytes is shorter than header plus tag ({min} bytes)")]
    TruncatedCiphertext {
        /// Bytes received.
        len: usize,
        /// The least a valid ciphertext can be.
        min: usize,
    },
    /// The authentication tag did not verify: forged, corrupted, or sealed under another key.
    /// Nothing in the context changed.
    #[error("SFrame authentication failed")]
    AuthenticationFailed,
    /// No receive key is installed for this KID (it may arrive later; the frame may be retried).
    #[error("no receive key installed for {0}")]
    UnknownKeyId(KeyId),
    /// The (KID, CTR) pair was already accepted once.
    #[error("replayed frame: {kid} {ctr} was already accepted")]
    Replayed {
        /// Key the frame names.
        kid: KeyId,
        /// Counter the frame carries.
        ctr: Counter,
    },
    /// The counter is older than the replay window reaches.
    #[error("frame too old: {kid} {ctr} is behind the replay window (newest accepted {newest})")]
    TooOld {
        /// Key the frame names.
        kid: KeyId,
        /// Counter the frame carries.
        ctr: Counter,
        /// Newest counter accepted under this key.
        newest: Counter,
    },
    /// A media frame does not have the codec header its clear prefix needs.
    #[error("malformed {codec} frame: {reason}")]
    InvalidFrame {
        /// Codec name.
        codec: &'static str,
        /// What is wrong.
        reason: &'static str,
    },
    /// The SFU attributes the frame to `sender`, but its KID is another member's: a member
    /// sealing under someone else's key (RFC 9605 §5.2 keys are known to the whole group).
    /// Refused before decryption; nothing changed.
    #[error("{kid} is not a key of {sender}: refused before decryption")]
    KeyIdNotOfSender {
        /// The KID the frame carries.
        kid: KeyId,
        /// The participant the frame was attributed to.
        sender: String,
    },
    /// No member of the group claims this participant id (not joined yet, left, or claimed
    /// by two leaves).
    #[error("no member of the group is participant {0:?}")]
    UnknownSender(String),

    // ----- The caller's use of the API -----
    /// The output buffer cannot hold the result.
    #[error("buffer too small: {needed} bytes needed, {have} available")]
    BufferTooSmall {
        /// Bytes the operation needs.
        needed: usize,
        /// Bytes the caller gave.
        have: usize,
    },
    /// The send counter for this KID reached its end; install a new key (new KID) to go on.
    #[error("send counter exhausted for {0}: install a new key under a new KID")]
    CounterExhausted(KeyId),
    /// A seal named a receive key, or an open matched a send key. RFC 9605 §4.4.1: a key is
    /// for one direction only.
    #[error("{kid} is installed as a {installed} key, but {operation} needs a {wanted} key")]
    WrongKeyDirection {
        /// The KID.
        kid: KeyId,
        /// "send" or "receive".
        installed: &'static str,
        /// "send" or "receive".
        wanted: &'static str,
        /// "seal" or "open".
        operation: &'static str,
    },
    /// A key is already installed under this KID; remove it first.
    #[error("{0} already has a key installed; remove it before installing another")]
    DuplicateKeyId(KeyId),
    /// The context already holds its configured maximum of keys; remove old ones first.
    #[error("the context already holds its maximum of {max} keys; remove old keys first")]
    TooManyKeys {
        /// The configured maximum.
        max: usize,
    },
    /// No send key is installed under this KID.
    #[error("no send key installed for {0}")]
    NoSendKey(KeyId),
    /// A key or secret has the wrong length.
    #[error("{what} must be {expected} bytes, got {got}")]
    InvalidKeyLength {
        /// Which key.
        what: &'static str,
        /// Length required.
        expected: usize,
        /// Length given.
        got: usize,
    },
    /// A length handed to the AEAD is outside what the suite can take. A payload longer than
    /// one nonce covers (AES-CTR would wrap its 32-bit block counter; AES-GCM stops at
    /// 2^36 - 32 bytes) is a caller error on seal, and on open a frame no honest sender can
    /// have produced. A tag buffer that is not the suite's `Nt` bytes is a caller error.
    #[error("{what} is {len} bytes, outside the {min}..={max} bytes that {suite} takes")]
    LengthOutOfRange {
        /// Which input: "plaintext to seal", "ciphertext to open", "AAD", "tag buffer".
        what: &'static str,
        /// The suite's RFC name.
        suite: &'static str,
        /// Bytes given.
        len: u64,
        /// Fewest bytes accepted.
        min: u64,
        /// Most bytes accepted.
        max: u64,
    },
    /// Metadata (or a clear prefix) is longer than the context accepts.
    #[error("metadata of {len} bytes exceeds the {max}-byte limit")]
    MetadataTooLong {
        /// Bytes given.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The operation needs membership in the MLS group (wait for [`crate::session::Event::Joined`]).
    #[error("not a member of the group yet")]
    NotInGroup,
    /// An MLS operation of this member failed (building a commit, exporting a secret): a local
    /// fault, not the network's.
    #[error("MLS: {0}")]
    Mls(String),

    // ----- Configuration -----
    /// The suite ID is not one this build knows.
    #[error(
        "unknown SFrame cipher suite {0:#06x} (known: 0x0001-0x0005; 0x0006-0x0008 need feature `draft-aes256-ctr-hmac`)"
    )]
    UnknownSuite(u16),
    /// The crypto backend does not implement this suite.
    #[error("cipher suite {suite} is not available in the `{provider}` crypto backend")]
    SuiteUnavailable {
        /// The suite's RFC name.
        suite: &'static str,
        /// Backend name.
        provider: &'static str,
    },
    /// This member's own certificate does not fit its key, room, authority or the time.
    #[error("this member's certificate is not usable: {0}")]
    Certificate(CertificateError),
    /// A configuration value is out of range.
    #[error("invalid configuration: {0}")]
    InvalidConfig(&'static str),
}

/// Why an SFrame header did not parse.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum HeaderError {
    /// No bytes at all.
    #[error("empty input")]
    Empty,
    /// The config byte announces more bytes than there are.
    #[error("config byte announces {needed} header bytes, only {have} present")]
    Truncated {
        /// Header length the config byte announces.
        needed: usize,
        /// Bytes present.
        have: usize,
    },
    /// A KID or CTR is not in its minimal encoding (RFC 9605 §4.3): a value below 8 in extended
    /// form, or a leading zero byte.
    #[error("{field} is not minimally encoded")]
    NonMinimal {
        /// "KID" or "CTR".
        field: &'static str,
    },
}
