//! Join tokens: `base64url(claims) "." base64url(HMAC-SHA256(key, base64url(claims)))`.
//!
//! The format is deliberately small (docs/signaling.md §5): a vendor's backend mints tokens with
//! the shared key and the server checks them. The signature is checked first, in constant time
//! (ring's `hmac::verify`), so nothing of an unsigned token is trusted; then expiry, then the
//! claims' shape. Time is passed in as Unix seconds.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use ring::hmac;
use serde::{Deserialize, Serialize};

/// The longest token accepted, so a hostile client cannot make us decode megabytes.
pub const MAX_TOKEN_LEN: usize = 2048;

/// What a token grants.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Claims {
    /// The room.
    pub room: String,
    /// Display name.
    pub name: String,
    /// `clinician`, `patient` or `observer`.
    pub role: Role,
    /// Expiry, Unix seconds.
    pub exp: u64,
    /// The visit type (selects the room's clinical profile when the room is created, e.g.
    /// `dermatology`, `telestroke`); absent: the server's default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub visit: Option<String>,
}

/// A participant's role in the visit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// The treating clinician.
    Clinician,
    /// The patient.
    Patient,
    /// Receives only (interpreter, trainee, a WHEP viewer).
    Observer,
}

impl Role {
    /// Its wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Clinician => "clinician",
            Self::Patient => "patient",
            Self::Observer => "observer",
        }
    }

    /// Parses a wire name.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "clinician" => Some(Self::Clinician),
            "patient" => Some(Self::Patient),
            "observer" => Some(Self::Observer),
            _ => None,
        }
    }
}

/// Why a token was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TokenError {
    /// Not two base64url parts, or too long.
    #[error("token is malformed (expected base64url claims, a dot, and a base64url signature)")]
    Malformed,
    /// The signature does not match.
    #[error("token signature is invalid (minted with another key?)")]
    BadSignature,
    /// Past its `exp`.
    #[error("token expired")]
    Expired,
    /// Signed, but the claims are not what this server understands.
    #[error("token claims are invalid: {0}")]
    BadClaims(String),
}

/// Mints and checks tokens with one key.
#[derive(Debug)]
pub struct TokenKey {
    key: hmac::Key,
}

impl TokenKey {
    /// A key from the configured secret.
    pub fn new(secret: &[u8]) -> Self {
        Self {
            key: hmac::Key::new(hmac::HMAC_SHA256, secret),
        }
    }

    /// Signs `claims`.
    pub fn mint(&self, claims: &Claims) -> String {
        // Serialising a plain struct of strings and integers cannot fail.
        let json = serde_json::to_vec(claims).unwrap_or_default();
        let body = B64.encode(json);
        let tag = hmac::sign(&self.key, body.as_bytes());
        format!("{body}.{}", B64.encode(tag.as_ref()))
    }

    /// Checks `token` at Unix time `now_secs`.
    pub fn verify(&self, token: &str, now_secs: u64) -> Result<Claims, TokenError> {
        if token.len() > MAX_TOKEN_LEN {
            return Err(TokenError::Malformed);
        }
        let (body, sig) = token.split_once('.').ok_or(TokenError::Malformed)?;
        let sig = B64.decode(sig).map_err(|_| TokenError::Malformed)?;
        hmac::verify(&self.key, body.as_bytes(), &sig).map_err(|_| TokenError::BadSignature)?;
        let json = B64.decode(body).map_err(|_| TokenError::Malformed)?;
        let claims: Claims =
            serde_json::from_slice(&json).map_err(|e| TokenError::BadClaims(e.to_string()))?;
        if claims.exp <= now_secs {
            return Err(TokenError::Expired);
        }
        if claims.room.is_empty() || claims.room.len() > 64 {
            return Err(TokenError::BadClaims("room must be 1-64 bytes".into()));
        }
        if claims.visit.as_ref().is_some_and(|v| v.len() > 64) {
            return Err(TokenError::BadClaims(
                "visit must be at most 64 bytes".into(),
            ));
        }
        if claims.name.len() > 64 {
            return Err(TokenError::BadClaims(
                "name must be at most 64 bytes".into(),
            ));
        }
        Ok(claims)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims() -> Claims {
        Claims {
            room: "visit-1".into(),
            name: "Dr. Ada".into(),
            role: Role::Clinician,
            exp: 1_000,
            visit: Some("dermatology".into()),
        }
    }

    #[test]
    fn round_trip() {
        let k = TokenKey::new(b"0123456789abcdef0123");
        let t = k.mint(&claims());
        assert_eq!(k.verify(&t, 999).unwrap(), claims());
    }

    #[test]
    fn refusals() {
        let k = TokenKey::new(b"0123456789abcdef0123");
        let other = TokenKey::new(b"another key of enough length");
        let t = k.mint(&claims());
        assert_eq!(k.verify(&t, 1_000), Err(TokenError::Expired));
        assert_eq!(other.verify(&t, 0), Err(TokenError::BadSignature));
        assert_eq!(k.verify("nodot", 0), Err(TokenError::Malformed));
        assert_eq!(k.verify("a.b!", 0), Err(TokenError::Malformed));
        assert_eq!(k.verify(&"a".repeat(5000), 0), Err(TokenError::Malformed));
        // A tampered body fails the signature, whatever it says.
        let (body, sig) = t.split_once('.').unwrap();
        let forged = B64.encode(
            String::from_utf8(B64.decode(body).unwrap())
                .unwrap()
                .replace("clinician", "observer"),
        );
        assert_eq!(
            k.verify(&format!("{forged}.{sig}"), 0),
            Err(TokenError::BadSignature)
        );
        // Signed but wrong shape.
        let body = B64.encode(br#"{"room":"r"}"#);
        let tag = B64.encode(hmac::sign(&k.key, body.as_bytes()).as_ref());
        assert!(matches!(
            k.verify(&format!("{body}.{tag}"), 0),
            Err(TokenError::BadClaims(_))
        ));
    }
}
