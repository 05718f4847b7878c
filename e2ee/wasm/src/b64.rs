//! base64url without padding (RFC 4648 §5), the encoding of every binary field of
//! `docs/signaling.md` §6. Decoding is strict: no padding, no whitespace, no other alphabet,
//! and the unused low bits of the last character must be zero, so each byte string has
//! exactly one encoding.

use core::fmt;

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

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
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = u32::from(b[0]) << 16 | u32::from(b[1]) << 8 | u32::from(b[2]);
        let chars = chunk.len() + 1;
        for i in 0..chars {
            let idx = (n >> (18 - 6 * i)) & 0x3f;
            out.push(char::from(ALPHABET[idx as usize]));
        }
    }
    out
}

fn value(c: u8) -> Option<u32> {
    Some(match c {
        b'A'..=b'Z' => c - b'A',
        b'a'..=b'z' => c - b'a' + 26,
        b'0'..=b'9' => c - b'0' + 52,
        b'-' => 62,
        b'_' => 63,
        _ => return None,
    } as u32)
}

/// Decodes `s`, refusing anything that would decode to more than `max` bytes before
/// allocating for it.
pub(crate) fn decode(s: &str, max: usize) -> Result<Vec<u8>, B64Error> {
    let n = s.len();
    if n % 4 == 1 {
        return Err(B64Error::BadLength(n));
    }
    let len = n / 4 * 3 + (n % 4).saturating_sub(1);
    if len > max {
        return Err(B64Error::TooLong { len, max });
    }
    let mut out = Vec::with_capacity(len);
    let bytes = s.as_bytes();
    for (ci, chunk) in bytes.chunks(4).enumerate() {
        let mut acc = 0u32;
        for (i, &c) in chunk.iter().enumerate() {
            let v = value(c).ok_or_else(|| B64Error::InvalidChar {
                at: ci * 4 + i,
                // The first byte refused is always where a character starts (every byte
                // before it was ASCII); `get` keeps even a wrong guess from panicking.
                ch: s
                    .get(ci * 4 + i..)
                    .and_then(|r| r.chars().next())
                    .unwrap_or('\u{fffd}'),
            })?;
            acc |= v << (18 - 6 * i);
        }
        let take = chunk.len() - 1;
        let unused = match chunk.len() {
            2 => acc & 0xffff,
            3 => acc & 0xff,
            _ => 0,
        };
        if unused != 0 {
            return Err(B64Error::NonCanonical);
        }
        for i in 0..take {
            out.push((acc >> (16 - 8 * i)) as u8);
        }
    }
    Ok(out)
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
