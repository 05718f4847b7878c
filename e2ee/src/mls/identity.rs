//! Who holds the keys: member certificates issued by an authority the SFU does not hold.
//!
//! MLS authenticates members by their credentials; it leaves deciding which credentials to
//! trust to the application (RFC 9420 §5.3, the Authentication Service of RFC 9750). In
//! telesfu the authority is the vendor's backend, the same one that signs join tokens. It
//! signs a [`Certificate`] binding a member's MLS signature key to who the member is (subject,
//! display name, role, tenant) and to one room, for a time window. Every client checks every
//! member's certificate against the authority keys it was configured with ([`TrustAnchors`],
//! shipped with the client, never fetched from the SFU) before it sends that member any key:
//! mls-rs calls [`CertificateIdentity`] for every leaf it adds, updates or finds in a tree it
//! joins, and refuses the commit or the join when the check fails. A server that injects a
//! member it has no certificate for gets nothing; a member with a certificate appears in
//! every member's roster (MLS gives every member the same tree).
//!
//! # Wire format (credential type [`CREDENTIAL_TYPE`], version 1)
//!
//! ```text
//! certificate = tbs || signature[64]
//! tbs = version(1) = 0x01
//!       authority_id[8]          first 8 bytes of SHA-256(authority public key)
//!       signature_key[32]        the member's MLS Ed25519 public key
//!       not_before u64, not_after u64   (unix seconds, big-endian)
//!       subject<u8>, name<u8>, role<u8>, tenant<u8>, room<u8>   (UTF-8, 1-byte length prefix)
//! signature = Ed25519(authority, "telesfu member certificate v1" || 0x00 || tbs)
//! ```
//! Decoding is strict: every field present, valid UTF-8, nothing after the signature.

use std::sync::Arc;

use ed25519_dalek::{Signer as _, SigningKey, VerifyingKey};
use mls_rs_core::error::IntoAnyError;
use mls_rs_core::extension::ExtensionList;
use mls_rs_core::identity::{
    Credential, CredentialType, CustomCredential, MemberValidationContext, SigningIdentity,
};
use mls_rs_core::time::MlsTime;
use sha2::{Digest as _, Sha256};

/// The MLS credential type of a telesfu [`Certificate`] (RFC 9420 private-use range).
pub const CREDENTIAL_TYPE: u16 = 0xF7E1;

const VERSION: u8 = 1;
const SIGNATURE_CONTEXT: &[u8] = b"telesfu member certificate v1\0";
const FIXED_LEN: usize = 1 + 8 + 32 + 8 + 8;
const SIGNATURE_LEN: usize = 64;

/// Why a certificate was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CertificateError {
    /// The bytes are not a certificate of this version.
    #[error("malformed member certificate: {0}")]
    Malformed(&'static str),
    /// The credential is not a telesfu certificate (another MLS credential type).
    #[error("credential type {0:#06x} is not a telesfu member certificate")]
    WrongCredentialType(u16),
    /// No trusted authority has this id.
    #[error("certificate issued by an authority this client does not trust")]
    UnknownAuthority,
    /// The authority's signature does not verify.
    #[error("certificate signature does not verify")]
    BadSignature,
    /// The certificate is for another MLS signature key than the leaf presents.
    #[error("certificate is for another signature key than the member's")]
    KeyMismatch,
    /// The certificate is for another room.
    #[error("certificate is for room {got:?}, this call is {expected:?}")]
    WrongRoom {
        /// This call's room.
        expected: String,
        /// The certificate's room.
        got: String,
    },
    /// Not valid yet at the given time.
    #[error("certificate not valid before {not_before} (now {now})")]
    NotYetValid {
        /// Unix seconds.
        not_before: u64,
        /// Unix seconds.
        now: u64,
    },
    /// Expired at the given time.
    #[error("certificate expired at {not_after} (now {now})")]
    Expired {
        /// Unix seconds.
        not_after: u64,
        /// Unix seconds.
        now: u64,
    },
    /// A claim is longer than 255 bytes (issuing only).
    #[error("{0} is longer than 255 bytes")]
    ClaimTooLong(&'static str),
}

impl IntoAnyError for CertificateError {
    fn into_dyn_error(self) -> Result<Box<dyn std::error::Error + Send + Sync>, Self> {
        Ok(self.into())
    }
}

/// What the authority vouches for.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct Claims {
    /// The vendor's stable id of the person (a JWT `sub`).
    pub subject: String,
    /// The name other members see.
    pub name: String,
    /// The clinical role: `clinician`, `patient`, `observer`, `interpreter`, ...
    pub role: String,
    /// The organisation.
    pub tenant: String,
    /// The room (visit) the certificate admits its holder to.
    pub room: String,
    /// Unix seconds.
    pub not_before: u64,
    /// Unix seconds.
    pub not_after: u64,
}

impl Claims {
    /// Claims for `subject` in `room`, valid over `[not_before, not_after]` (unix seconds).
    pub fn new(subject: &str, room: &str, not_before: u64, not_after: u64) -> Self {
        Self {
            subject: subject.into(),
            room: room.into(),
            not_before,
            not_after,
            ..Self::default()
        }
    }
}

/// The 8-byte id of an authority key: the first bytes of its SHA-256.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct AuthorityId(pub [u8; 8]);

/// An authority's public key: what clients trust.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct AuthorityKey(VerifyingKey);

impl core::fmt::Debug for AuthorityKey {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "AuthorityKey({})", hex(&self.0.as_bytes()[..8]))
    }
}

impl AuthorityKey {
    /// From the 32-byte Ed25519 public key.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, CertificateError> {
        let b: &[u8; 32] = bytes
            .try_into()
            .map_err(|_| CertificateError::Malformed("authority key must be 32 bytes"))?;
        VerifyingKey::from_bytes(b)
            .map(Self)
            .map_err(|_| CertificateError::Malformed("authority key is not an Ed25519 point"))
    }

    /// The 32 bytes.
    pub fn to_bytes(&self) -> [u8; 32] {
        self.0.to_bytes()
    }

    /// Its id.
    pub fn id(&self) -> AuthorityId {
        let d = Sha256::digest(self.0.as_bytes());
        let mut id = [0u8; 8];
        id.copy_from_slice(&d[..8]);
        AuthorityId(id)
    }
}

/// The authority keys a client trusts (more than one during a key rotation).
#[derive(Debug, Clone, Default)]
pub struct TrustAnchors(Arc<[AuthorityKey]>);

impl TrustAnchors {
    /// Trusts exactly `keys`.
    pub fn new(keys: impl IntoIterator<Item = AuthorityKey>) -> Self {
        Self(keys.into_iter().collect())
    }

    /// The keys.
    pub fn keys(&self) -> &[AuthorityKey] {
        &self.0
    }

    fn find(&self, id: AuthorityId) -> Option<&AuthorityKey> {
        self.0.iter().find(|k| k.id() == id)
    }
}

/// The issuing side: the vendor's backend holds this, never the SFU.
pub struct Authority {
    key: SigningKey,
}

impl core::fmt::Debug for Authority {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "Authority({:?})", self.public_key())
    }
}

impl Authority {
    /// An authority from a 32-byte Ed25519 seed (kept in the vendor's key store).
    pub fn from_seed(seed: &[u8; 32]) -> Self {
        Self {
            key: SigningKey::from_bytes(seed),
        }
    }

    /// The public key clients trust.
    pub fn public_key(&self) -> AuthorityKey {
        AuthorityKey(self.key.verifying_key())
    }

    /// Signs `claims` for the member whose MLS signature public key is `signature_key`.
    pub fn issue(
        &self,
        claims: &Claims,
        signature_key: &[u8],
    ) -> Result<Vec<u8>, CertificateError> {
        let key: &[u8; 32] = signature_key
            .try_into()
            .map_err(|_| CertificateError::Malformed("member signature key must be 32 bytes"))?;
        let mut out = Vec::with_capacity(FIXED_LEN + 5 * 32 + SIGNATURE_LEN);
        out.push(VERSION);
        out.extend_from_slice(&self.public_key().id().0);
        out.extend_from_slice(key);
        out.extend_from_slice(&claims.not_before.to_be_bytes());
        out.extend_from_slice(&claims.not_after.to_be_bytes());
        for (what, s) in [
            ("subject", &claims.subject),
            ("name", &claims.name),
            ("role", &claims.role),
            ("tenant", &claims.tenant),
            ("room", &claims.room),
        ] {
            let len = u8::try_from(s.len()).map_err(|_| CertificateError::ClaimTooLong(what))?;
            out.push(len);
            out.extend_from_slice(s.as_bytes());
        }
        let sig = self.key.sign(&signed_message(&out));
        out.extend_from_slice(&sig.to_bytes());
        Ok(out)
    }
}

fn signed_message(tbs: &[u8]) -> Vec<u8> {
    let mut m = Vec::with_capacity(SIGNATURE_CONTEXT.len() + tbs.len());
    m.extend_from_slice(SIGNATURE_CONTEXT);
    m.extend_from_slice(tbs);
    m
}

/// A decoded certificate. Decoding checks the format only; [`Certificate::verify`] checks the
/// signature, the key binding, the room and the time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Certificate {
    /// Who issued it.
    pub authority: AuthorityId,
    /// The member's MLS signature public key.
    pub signature_key: [u8; 32],
    /// What the authority vouches for.
    pub claims: Claims,
    tbs_len: usize,
    bytes: Vec<u8>,
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], CertificateError> {
        if self.0.len() < n {
            return Err(CertificateError::Malformed("truncated"));
        }
        let (a, b) = self.0.split_at(n);
        self.0 = b;
        Ok(a)
    }

    fn u64(&mut self) -> Result<u64, CertificateError> {
        let b = self.take(8)?;
        Ok(u64::from_be_bytes(
            b.try_into()
                .map_err(|_| CertificateError::Malformed("truncated"))?,
        ))
    }

    fn text(&mut self) -> Result<String, CertificateError> {
        let n = usize::from(self.take(1)?[0]);
        let b = self.take(n)?;
        String::from_utf8(b.to_vec()).map_err(|_| CertificateError::Malformed("claim is not UTF-8"))
    }
}

impl Certificate {
    /// Parses `bytes` strictly.
    pub fn decode(bytes: &[u8]) -> Result<Self, CertificateError> {
        let mut r = Reader(bytes);
        if r.take(1)?[0] != VERSION {
            return Err(CertificateError::Malformed("unknown certificate version"));
        }
        let mut authority = [0u8; 8];
        authority.copy_from_slice(r.take(8)?);
        let mut signature_key = [0u8; 32];
        signature_key.copy_from_slice(r.take(32)?);
        let not_before = r.u64()?;
        let not_after = r.u64()?;
        let subject = r.text()?;
        let name = r.text()?;
        let role = r.text()?;
        let tenant = r.text()?;
        let room = r.text()?;
        let tbs_len = bytes.len() - r.0.len();
        r.take(SIGNATURE_LEN)?;
        if !r.0.is_empty() {
            return Err(CertificateError::Malformed("bytes after the signature"));
        }
        Ok(Self {
            authority: AuthorityId(authority),
            signature_key,
            claims: Claims {
                subject,
                name,
                role,
                tenant,
                room,
                not_before,
                not_after,
            },
            tbs_len,
            bytes: bytes.to_vec(),
        })
    }

    /// The encoded certificate.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// Checks the authority's signature against `anchors`.
    pub fn verify_signature(&self, anchors: &TrustAnchors) -> Result<(), CertificateError> {
        let key = anchors
            .find(self.authority)
            .ok_or(CertificateError::UnknownAuthority)?;
        let (tbs, sig) = self.bytes.split_at(self.tbs_len);
        let sig = ed25519_dalek::Signature::from_slice(sig)
            .map_err(|_| CertificateError::BadSignature)?;
        key.0
            .verify_strict(&signed_message(tbs), &sig)
            .map_err(|_| CertificateError::BadSignature)
    }

    /// Everything a member's certificate must satisfy: signed by a trusted authority, for
    /// `signature_key`, for `room`, and (when `now` is given, unix seconds) valid at `now`
    /// give or take `skew` seconds.
    pub fn verify(
        &self,
        anchors: &TrustAnchors,
        signature_key: &[u8],
        room: &str,
        now: Option<u64>,
        skew: u64,
    ) -> Result<(), CertificateError> {
        self.verify_signature(anchors)?;
        if self.signature_key.as_slice() != signature_key {
            return Err(CertificateError::KeyMismatch);
        }
        if self.claims.room != room {
            return Err(CertificateError::WrongRoom {
                expected: room.into(),
                got: self.claims.room.clone(),
            });
        }
        if let Some(now) = now {
            if now.saturating_add(skew) < self.claims.not_before {
                return Err(CertificateError::NotYetValid {
                    not_before: self.claims.not_before,
                    now,
                });
            }
            if now.saturating_sub(skew) > self.claims.not_after {
                return Err(CertificateError::Expired {
                    not_after: self.claims.not_after,
                    now,
                });
            }
        }
        Ok(())
    }

    /// The MLS credential carrying this certificate.
    pub fn credential(&self) -> Credential {
        Credential::Custom(CustomCredential::new(
            CredentialType::new(CREDENTIAL_TYPE),
            self.bytes.clone(),
        ))
    }

    /// Decodes the certificate inside an MLS credential.
    pub fn from_credential(credential: &Credential) -> Result<Self, CertificateError> {
        match credential {
            Credential::Custom(c) if c.credential_type == CredentialType::new(CREDENTIAL_TYPE) => {
                Self::decode(&c.data)
            }
            other => Err(CertificateError::WrongCredentialType(
                other.credential_type().raw_value(),
            )),
        }
    }

    /// A short fingerprint of the member's signature key for display: 4 groups of 4 hex digits
    /// of its SHA-256.
    pub fn fingerprint(&self) -> String {
        fingerprint(&self.signature_key)
    }
}

/// 4 groups of 4 hex digits of SHA-256(`key`).
pub fn fingerprint(key: &[u8]) -> String {
    let d = Sha256::digest(key);
    let h = hex(&d[..8]);
    format!("{} {} {} {}", &h[0..4], &h[4..8], &h[8..12], &h[12..16])
}

fn hex(b: &[u8]) -> String {
    use core::fmt::Write as _;
    let mut s = String::with_capacity(b.len() * 2);
    for x in b {
        let _ = write!(s, "{x:02x}");
    }
    s
}

/// The mls-rs identity provider: admits exactly the members whose [`Certificate`] verifies
/// against the trust anchors for this room.
#[derive(Debug, Clone)]
pub struct CertificateIdentity {
    anchors: TrustAnchors,
    room: Arc<str>,
    skew: u64,
}

impl CertificateIdentity {
    /// Members of `room` certified by one of `anchors`; validity windows get `skew_secs` of slack
    /// for clock differences.
    pub fn new(anchors: TrustAnchors, room: &str, skew_secs: u64) -> Self {
        Self {
            anchors,
            room: room.into(),
            skew: skew_secs,
        }
    }

    fn check(
        &self,
        id: &SigningIdentity,
        time: Option<MlsTime>,
    ) -> Result<Certificate, CertificateError> {
        let cert = Certificate::from_credential(&id.credential)?;
        cert.verify(
            &self.anchors,
            id.signature_key.as_bytes(),
            &self.room,
            time.map(|t| t.seconds_since_epoch()),
            self.skew,
        )?;
        Ok(cert)
    }
}

impl mls_rs_core::identity::IdentityProvider for CertificateIdentity {
    type Error = CertificateError;

    fn validate_member(
        &self,
        signing_identity: &SigningIdentity,
        timestamp: Option<MlsTime>,
        _context: MemberValidationContext<'_>,
    ) -> Result<(), CertificateError> {
        self.check(signing_identity, timestamp).map(|_| ())
    }

    fn validate_external_sender(
        &self,
        _signing_identity: &SigningIdentity,
        _timestamp: Option<MlsTime>,
        _extensions: Option<&ExtensionList>,
    ) -> Result<(), CertificateError> {
        // telesfu groups have no external senders: the SFU proposes nothing.
        Err(CertificateError::Malformed(
            "external senders are not accepted",
        ))
    }

    fn identity(
        &self,
        signing_identity: &SigningIdentity,
        _extensions: &ExtensionList,
    ) -> Result<Vec<u8>, CertificateError> {
        // Unique per member: the signature key (a member never changes it).
        Ok(signing_identity.signature_key.as_bytes().to_vec())
    }

    fn valid_successor(
        &self,
        predecessor: &SigningIdentity,
        successor: &SigningIdentity,
        _extensions: &ExtensionList,
    ) -> Result<bool, CertificateError> {
        // A member rejoining (after losing its state) may replace its own old leaf: same
        // person, same tenant, both certified.
        let (Ok(old), Ok(new)) = (
            Certificate::from_credential(&predecessor.credential),
            self.check(successor, None),
        ) else {
            return Ok(false);
        };
        Ok(old.claims.subject == new.claims.subject && old.claims.tenant == new.claims.tenant)
    }

    fn supported_types(&self) -> Vec<CredentialType> {
        vec![CredentialType::new(CREDENTIAL_TYPE)]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims() -> Claims {
        Claims {
            subject: "u-17".into(),
            name: "Dr Ada".into(),
            role: "clinician".into(),
            tenant: "clinic-a".into(),
            room: "visit-1".into(),
            not_before: 1_000,
            not_after: 2_000,
        }
    }

    #[test]
    fn issue_decode_verify() {
        let auth = Authority::from_seed(&[1; 32]);
        let anchors = TrustAnchors::new([auth.public_key()]);
        let key = [9u8; 32];
        let bytes = auth.issue(&claims(), &key).unwrap();
        let cert = Certificate::decode(&bytes).unwrap();
        assert_eq!(cert.claims, claims());
        cert.verify(&anchors, &key, "visit-1", Some(1_500), 0)
            .unwrap();
        assert_eq!(
            cert.verify(&anchors, &key, "visit-2", Some(1_500), 0),
            Err(CertificateError::WrongRoom {
                expected: "visit-2".into(),
                got: "visit-1".into()
            })
        );
        assert_eq!(
            cert.verify(&anchors, &[8; 32], "visit-1", Some(1_500), 0),
            Err(CertificateError::KeyMismatch)
        );
        assert!(matches!(
            cert.verify(&anchors, &key, "visit-1", Some(2_100), 60),
            Err(CertificateError::Expired { .. })
        ));
        cert.verify(&anchors, &key, "visit-1", Some(2_050), 60)
            .unwrap();
        assert!(matches!(
            cert.verify(&anchors, &key, "visit-1", Some(900), 60),
            Err(CertificateError::NotYetValid { .. })
        ));
        let other = TrustAnchors::new([Authority::from_seed(&[2; 32]).public_key()]);
        assert_eq!(
            cert.verify(&other, &key, "visit-1", None, 0),
            Err(CertificateError::UnknownAuthority)
        );
    }

    #[test]
    fn every_flipped_bit_is_refused() {
        let auth = Authority::from_seed(&[1; 32]);
        let anchors = TrustAnchors::new([auth.public_key()]);
        let key = [9u8; 32];
        let bytes = auth.issue(&claims(), &key).unwrap();
        for i in 0..bytes.len() * 8 {
            let mut b = bytes.clone();
            b[i / 8] ^= 1 << (i % 8);
            let ok = Certificate::decode(&b).and_then(|c| {
                let k = c.signature_key;
                c.verify(&anchors, &k, &c.claims.room.clone(), None, 0)
            });
            assert!(ok.is_err(), "bit {i} flipped still verifies");
        }
        // Truncations and trailing bytes.
        for n in 0..bytes.len() {
            assert!(Certificate::decode(&bytes[..n]).is_err());
        }
        let mut long = bytes.clone();
        long.push(0);
        assert!(Certificate::decode(&long).is_err());
    }
}
