//! base64url without padding (RFC 4648 §5), the encoding of every binary field of
//! `docs/signaling.md` §6: the `base64` crate's URL_SAFE_NO_PAD engine, as in the server.
//! Decoding is strict: no padding, no whitespace, no other alphabet, and the unused low bits
//! of the last character must be zero, so each byte string has exactly one encoding. This
//! module adds the size limit (checked before anything is allocated) and errors that say
//! where the text is wrong.

use core::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// Why a base64url field did not decode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum B64Error {
    /// A character outside the base64url alphabet (`=` padding included).
    InvalidChar { at: usize, ch: char },
    /// A length no encoding has (4n + 1 characters).
    BadLength(usize),
    /// The last character carries bits that are not zero: a non-canonical encoding.
    NonCanonical,
    /// The decoded bytes would exceed the limit.
    TooLong { len: usize, max: usize },
}

impl fmt::Display for B64Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::InvalidChar { at, ch: '=' } => {
                write!(f, "padding '=' at {at}: base64url here is unpadded")
            }
            Self::InvalidChar { at, ch } => {
                write!(f, "character {ch:?} at {at} is not base64url")
            }
            Self::BadLength(n) => write!(f, "{n} characters is no base64url length"),
            Self::NonCanonical => f.write_str("the last character has non-zero unused bits"),
            Self::TooLong { len, max } => {
                write!(f, "{len} bytes decoded exceed the {max}-byte limit")
            }
        }
    }
}

/// Encodes `bytes`.
pub(crate) fn encode(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// The character at byte offset `at` of `s`, for an error message.
fn char_at(s: &str, at: usize) -> char {
    s.get(at..)
        .and_then(|r| r.chars().next())
        .unwrap_or('\u{fffd}')
}

/// Decodes `s`, refusing anything that would decode to more than `max` bytes before
/// allocating for it.
pub(crate) fn decode(s: &str, max: usize) -> Result<Vec<u8>, B64Error> {
    let n = s.len();
    let len = n / 4 * 3 + (n % 4).saturating_sub(1);
    if n % 4 != 1 && len > max {
        return Err(B64Error::TooLong { len, max });
    }
    URL_SAFE_NO_PAD.decode(s).map_err(|e| match e {
        base64::DecodeError::InvalidByte(at, _) => B64Error::InvalidChar {
            at,
            ch: char_at(s, at),
        },
        base64::DecodeError::InvalidLength(_) => B64Error::BadLength(n),
        base64::DecodeError::InvalidLastSymbol(..) => B64Error::NonCanonical,
        base64::DecodeError::InvalidPadding => B64Error::InvalidChar {
            at: s.find('=').unwrap_or(n),
            ch: '=',
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc4648_vectors_unpadded() {
        // RFC 4648 §10, with the padding removed and the URL alphabet.
        for (plain, enc) in [
            ("", ""),
            ("f", "Zg"),
            ("fo", "Zm8"),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg"),
            ("fooba", "Zm9vYmE"),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(encode(plain.as_bytes()), enc);
            assert_eq!(decode(enc, 64).unwrap(), plain.as_bytes());
        }
        // The two characters where base64url differs from base64.
        assert_eq!(encode(&[0xfb, 0xff]), "-_8");
        assert_eq!(decode("-_8", 8).unwrap(), [0xfb, 0xff]);
    }

    #[test]
    fn round_trips_every_length_and_byte() {
        let data: Vec<u8> = (0..=255u8).chain((0..=255u8).rev()).collect();
        for len in 0..data.len() {
            let e = encode(&data[..len]);
            assert!(!e.contains('='));
            assert_eq!(decode(&e, len).unwrap(), &data[..len], "length {len}");
        }
    }

    #[test]
    fn strict_errors() {
        assert_eq!(
            decode("Zg==", 8),
            Err(B64Error::InvalidChar { at: 2, ch: '=' })
        );
        assert_eq!(
            decode("Zm9+", 8),
            Err(B64Error::InvalidChar { at: 3, ch: '+' })
        );
        assert_eq!(
            decode("Z é", 8),
            Err(B64Error::InvalidChar { at: 1, ch: ' ' })
        );
        assert_eq!(
            decode("Zmé", 8),
            Err(B64Error::InvalidChar { at: 2, ch: 'é' })
        );
        assert_eq!(decode("Zm9vY", 8), Err(B64Error::BadLength(5)));
        // "Zh" has a non-zero bit where "Zg" has none: both would decode to "f".
        assert_eq!(decode("Zh", 8), Err(B64Error::NonCanonical));
        assert_eq!(decode("Zm9", 8), Err(B64Error::NonCanonical));
        assert_eq!(
            decode("Zm9vYmFy", 5),
            Err(B64Error::TooLong { len: 6, max: 5 })
        );
        assert!(decode("Zm9vYmFy", 6).is_ok());
    }
}
