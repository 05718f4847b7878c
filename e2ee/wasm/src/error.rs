//! Errors as JavaScript sees them: an `Error` whose `code` is one stable string.
//!
//! The codes are the contract (the worker counts dropped frames by them, vendors switch on
//! them); the message is for people and may change.
//!
//! | code | meaning |
//! |---|---|
//! | `no_key` | no key for this frame yet: no send key before the first epoch, or no receive key for the frame's KID (it may arrive with the next commit) |
//! | `not_of_sender` | the frame's KID belongs to another member than the participant it is attributed to (refused before decryption) |
//! | `unknown_sender` | no member of the group (or more than one) claims this participant id |
//! | `replayed` | this (KID, CTR) was already accepted |
//! | `too_old` | the counter is behind the replay window |
//! | `auth_failed` | the authentication tag did not verify (forged, corrupted, wrong key, altered clear prefix) |
//! | `malformed` | not a frame of its codec, or not an SFrame ciphertext (bad header, truncated) |
//! | `too_long` | metadata, a clear prefix, a chat text or a frame beyond its limit |
//! | `wrong_direction` | a send key used to open or a receive key used to seal (RFC 9605 §4.4.1) |
//! | `counter_exhausted` | the send counter reached its end |
//! | `duplicate_kid`, `too_many_keys` | key management misuse (raw SFrame contexts) |
//! | `not_in_group` | the operation needs membership in the group (chat before joining) |
//! | `certificate` | this member's own certificate does not fit its key, room, authority or the time |
//! | `invalid_argument` | a value from JavaScript has the wrong type, length, range or encoding |
//! | `bad_message` | a signaling (`mls`) message does not follow `docs/signaling.md` §6 |
//! | `unknown_suite` | a cipher suite this build does not know |
//! | `mls` | a local MLS operation failed |
//! | `internal` | a bug: please report it |

use core::fmt;

use telesfu_e2ee::Error;

/// An error for JavaScript: a stable `code` and a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct GlueError {
    pub(crate) code: &'static str,
    pub(crate) message: String,
}

impl fmt::Display for GlueError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

impl GlueError {
    pub(crate) fn new(code: &'static str, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }

    /// A value from JavaScript that is not what the API takes.
    pub(crate) fn invalid(message: impl Into<String>) -> Self {
        Self::new("invalid_argument", message)
    }

    /// A signaling message that breaks `docs/signaling.md` §6.
    pub(crate) fn bad_message(message: impl Into<String>) -> Self {
        Self::new("bad_message", message)
    }
}

/// The stable code of a `telesfu-e2ee` error.
pub(crate) fn code_of(e: &Error) -> &'static str {
    match e {
        Error::NoSendKey(_) | Error::UnknownKeyId(_) => "no_key",
        Error::KeyIdNotOfSender { .. } => "not_of_sender",
        Error::UnknownSender(_) => "unknown_sender",
        Error::Replayed { .. } => "replayed",
        Error::TooOld { .. } => "too_old",
        Error::AuthenticationFailed => "auth_failed",
        Error::InvalidHeader(_)
        | Error::TruncatedCiphertext { .. }
        | Error::InvalidFrame { .. } => "malformed",
        Error::MetadataTooLong { .. } => "too_long",
        Error::WrongKeyDirection { .. } => "wrong_direction",
        Error::CounterExhausted(_) => "counter_exhausted",
        Error::DuplicateKeyId(_) => "duplicate_kid",
        Error::TooManyKeys { .. } => "too_many_keys",
        Error::NotInGroup => "not_in_group",
        Error::Certificate(_) => "certificate",
        Error::InvalidKeyLength { .. } | Error::LengthOutOfRange { .. } => "invalid_argument",
        Error::InvalidConfig(_) => "invalid_argument",
        Error::UnknownSuite(_) | Error::SuiteUnavailable { .. } => "unknown_suite",
        Error::Mls(_) => "mls",
        // Our buffers are sized by the crate's own bound (`seal_buffer_len`): a bug if hit.
        Error::BufferTooSmall { .. } => "internal",
        // A variant added to the crate after this table: the message still says what it is.
        _ => "internal",
    }
}

impl From<Error> for GlueError {
    fn from(e: Error) -> Self {
        Self::new(code_of(&e), e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use telesfu_e2ee::{Counter, HeaderError, KeyId};

    #[test]
    fn media_errors_have_their_codes() {
        let cases = [
            (Error::NoSendKey(KeyId(1)), "no_key"),
            (Error::UnknownKeyId(KeyId(1)), "no_key"),
            (
                Error::KeyIdNotOfSender {
                    kid: KeyId(17),
                    sender: "p2".into(),
                },
                "not_of_sender",
            ),
            (Error::UnknownSender("p9".into()), "unknown_sender"),
            (
                Error::Replayed {
                    kid: KeyId(1),
                    ctr: Counter(4),
                },
                "replayed",
            ),
            (
                Error::TooOld {
                    kid: KeyId(1),
                    ctr: Counter(4),
                    newest: Counter(5000),
                },
                "too_old",
            ),
            (Error::AuthenticationFailed, "auth_failed"),
            (Error::InvalidHeader(HeaderError::Empty), "malformed"),
            (Error::TruncatedCiphertext { len: 3, min: 17 }, "malformed"),
            (
                Error::InvalidFrame {
                    codec: "VP8",
                    reason: "empty frame",
                },
                "malformed",
            ),
            (Error::NotInGroup, "not_in_group"),
        ];
        for (e, code) in cases {
            let g = GlueError::from(e.clone());
            assert_eq!(g.code, code, "{e:?}");
            assert_eq!(g.message, e.to_string());
        }
    }
}
