//! The development authority: this process playing the vendor's backend that certifies MLS
//! members (docs/signaling.md §6.2), so the demo runs from one command.
//!
//! In telesfu the authority that binds a member's MLS signature key to its identity is the
//! vendor's backend, the same one that signs join tokens; the SFU holds no authority key and so
//! cannot admit anyone to a call's keys ([`telesfu_e2ee::mls::identity`]). A production
//! configuration sets `e2ee.dev_authority = false`: then this module is never instantiated,
//! `/api/authority` and `/api/credential` answer 404, and the process holds no signing key.
//! With it on, the server can certify anyone for any room its token key can mint, which is
//! why it is a development aid only.
//!
//! A certificate is issued for a valid join token, checked exactly as the WebSocket join checks
//! it ([`crate::token::TokenKey::verify`]), and says what the token says: name, role and room,
//! the configured tenant, and a subject. The token format has no subject claim, so the subject
//! is derived from the name ([`subject_for`]): two people with the same display name share a
//! subject here, where a vendor's authority would use its own user id. The certificate is valid
//! from [`BACKDATE_SECS`] before issue (clock differences between clients) until the token
//! expires, at most [`MAX_LIFETIME_SECS`] after issue.

use sha2::{Digest as _, Sha256};
use telesfu_e2ee::mls::identity::{Authority, AuthorityKey, CertificateError, Claims};

use crate::token;

/// How far before issue a certificate becomes valid (seconds).
pub const BACKDATE_SECS: u64 = 60;
/// The longest a certificate lasts from issue (seconds): 12 hours, however long the token.
pub const MAX_LIFETIME_SECS: u64 = 12 * 3600;

/// Why a credential was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CredentialError {
    /// The member's signature key is not a 32-byte Ed25519 public key.
    #[error(
        "signatureKey must be the client's 32-byte Ed25519 MLS public key, base64url without \
         padding: {0}"
    )]
    BadKey(String),
    /// The claims cannot be certified (a claim too long for the format).
    #[error("cannot issue the certificate: {0}")]
    Issue(CertificateError),
}

/// The development authority: an Ed25519 signing key and the tenant it certifies.
#[derive(Debug)]
pub struct DevAuthority {
    authority: Authority,
    tenant: String,
}

impl DevAuthority {
    /// The authority of `seed`.
    pub fn from_seed(seed: &[u8; 32], tenant: &str) -> Self {
        Self {
            authority: Authority::from_seed(seed),
            tenant: tenant.to_owned(),
        }
    }

    /// An authority with a key from the OS random number generator.
    pub fn random(tenant: &str) -> Result<Self, getrandom::Error> {
        let mut seed = zeroize::Zeroizing::new([0u8; 32]);
        getrandom::fill(seed.as_mut())?;
        Ok(Self::from_seed(&seed, tenant))
    }

    /// The public key clients trust (served by `GET /api/authority`).
    pub fn public_key(&self) -> AuthorityKey {
        self.authority.public_key()
    }

    /// A certificate for the member whose MLS signature public key is `signature_key`, with
    /// the identity of `token` (already verified), issued at `unix_now`.
    pub fn certify(
        &self,
        token: &token::Claims,
        signature_key: &[u8],
        unix_now: u64,
    ) -> Result<Vec<u8>, CredentialError> {
        if signature_key.len() != 32 {
            return Err(CredentialError::BadKey(format!(
                "it is {} bytes",
                signature_key.len()
            )));
        }
        // Decompressing it as a point is the whole of Ed25519 public-key validation; the
        // library names that check after its use for authority keys.
        AuthorityKey::from_bytes(signature_key)
            .map_err(|_| CredentialError::BadKey("it is not a point of the curve".into()))?;
        let not_after = token.exp.min(unix_now.saturating_add(MAX_LIFETIME_SECS));
        let mut claims = Claims::new(
            &subject_for(&token.name),
            &token.room,
            unix_now.saturating_sub(BACKDATE_SECS),
            not_after,
        );
        claims.name.clone_from(&token.name);
        claims.role = token.role.as_str().to_owned();
        claims.tenant.clone_from(&self.tenant);
        self.authority
            .issue(&claims, signature_key)
            .map_err(CredentialError::Issue)
    }
}

/// The subject the development authority certifies for a display name: `dev-` and 16 hex
/// digits of SHA-256 over a fixed label and the name. Stable across tokens and restarts; the
/// same for two people with the same name (see the module docs).
pub fn subject_for(name: &str) -> String {
    let digest = Sha256::new()
        .chain_update(b"telesfu dev authority subject\0")
        .chain_update(name.as_bytes())
        .finalize();
    let mut s = String::with_capacity(20);
    s.push_str("dev-");
    for b in &digest[..8] {
        s.push(char::from(b"0123456789abcdef"[usize::from(b >> 4)]));
        s.push(char::from(b"0123456789abcdef"[usize::from(b & 15)]));
    }
    s
}

#[cfg(test)]
mod tests {
    use telesfu_e2ee::mls::identity::{Certificate, TrustAnchors};
    use telesfu_e2ee::session::MemberKey;

    use super::*;
    use crate::token::Role;

    const NOW: u64 = 1_800_000_000;

    fn token(exp: u64) -> token::Claims {
        token::Claims {
            room: "visit-7".into(),
            name: "Dr Ada".into(),
            role: Role::Clinician,
            exp,
            visit: None,
        }
    }

    #[test]
    fn certificate_says_what_the_token_says() {
        let a = DevAuthority::from_seed(&[5; 32], "clinic-a");
        let key = MemberKey::from_seed([9; 32]).public_key();
        let bytes = a.certify(&token(NOW + 3600), &key, NOW).unwrap();
        let cert = Certificate::decode(&bytes).unwrap();
        let anchors = TrustAnchors::new([a.public_key()]);
        cert.verify(&anchors, &key, "visit-7", Some(NOW), 0)
            .unwrap();
        let c = &cert.claims;
        assert_eq!(
            (c.name.as_str(), c.role.as_str(), c.tenant.as_str()),
            ("Dr Ada", "clinician", "clinic-a")
        );
        assert_eq!(c.subject, subject_for("Dr Ada"));
        assert_eq!((c.not_before, c.not_after), (NOW - 60, NOW + 3600));
        // Another authority's anchors refuse it.
        let other = TrustAnchors::new([DevAuthority::from_seed(&[6; 32], "x").public_key()]);
        assert!(cert.verify(&other, &key, "visit-7", Some(NOW), 0).is_err());
    }

    #[test]
    fn lifetime_is_capped_at_twelve_hours() {
        let a = DevAuthority::from_seed(&[5; 32], "demo");
        let key = MemberKey::from_seed([9; 32]).public_key();
        let bytes = a.certify(&token(NOW + 7 * 86_400), &key, NOW).unwrap();
        let cert = Certificate::decode(&bytes).unwrap();
        assert_eq!(cert.claims.not_after, NOW + MAX_LIFETIME_SECS);
    }

    #[test]
    fn bad_keys_are_refused() {
        let a = DevAuthority::from_seed(&[5; 32], "demo");
        let t = token(NOW + 60);
        assert!(matches!(
            a.certify(&t, &[1; 31], NOW),
            Err(CredentialError::BadKey(m)) if m.contains("31 bytes")
        ));
        // y = 2 is not on the curve (no x satisfies the equation).
        let mut not_a_point = [0u8; 32];
        not_a_point[0] = 2;
        assert!(matches!(
            a.certify(&t, &not_a_point, NOW),
            Err(CredentialError::BadKey(m)) if m.contains("point")
        ));
    }

    #[test]
    fn subjects_are_stable_and_distinct() {
        assert_eq!(subject_for("Pat"), subject_for("Pat"));
        assert_ne!(subject_for("Pat"), subject_for("Pat "));
        assert_eq!(subject_for("Pat").len(), 20);
        assert!(subject_for("Pat").starts_with("dev-"));
    }
}
