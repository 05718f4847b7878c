//! The SFrame header (RFC 9605 §4.3): a config byte, then KID and CTR.
//!
//! ```text
//!  0 1 2 3 4 5 6 7
//! +-+-+-+-+-+-+-+-+------------+------------+
//! |X|  K  |Y|  C  |   KID...   |   CTR...   |
//! +-+-+-+-+-+-+-+-+------------+------------+
//! ```
//! A value below 8 sits in K (or C) with X (or Y) clear. Otherwise X (Y) is set, K (C) holds
//! the byte length minus one, and the value follows big-endian in the fewest bytes that hold
//! it, KID first. Decoding is strict: a truncated header or a non-minimal encoding is an error,
//! so every (KID, CTR) has exactly one wire form.

use crate::{Counter, HeaderError, KeyId};

/// The longest header: config byte, 8-byte KID, 8-byte CTR.
pub const MAX_HEADER_LEN: usize = 17;

/// A parsed SFrame header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Header {
    /// Key ID: selects the key.
    pub kid: KeyId,
    /// Counter: with the key's salt, forms the nonce.
    pub ctr: Counter,
}

/// Bytes needed to hold `v` in extended form (1-8); 0 when it fits in three bits.
const fn value_len(v: u64) -> usize {
    if v < 8 {
        0
    } else {
        8 - (v.leading_zeros() as usize / 8)
    }
}

impl Header {
    /// A header for `kid` and `ctr`.
    pub const fn new(kid: KeyId, ctr: Counter) -> Self {
        Self { kid, ctr }
    }

    /// Encoded length in bytes (1-17).
    pub const fn encoded_len(&self) -> usize {
        1 + value_len(self.kid.0) + value_len(self.ctr.0)
    }

    /// Writes the header to the front of `out`, returning its length.
    ///
    /// Returns `None` if `out` is shorter than [`Header::encoded_len`].
    pub fn encode(&self, out: &mut [u8]) -> Option<usize> {
        let (kid, ctr) = (self.kid.0, self.ctr.0);
        let (kl, cl) = (value_len(kid), value_len(ctr));
        let len = 1 + kl + cl;
        let out = out.get_mut(..len)?;
        let kbits = if kl == 0 {
            kid as u8
        } else {
            0x8 | (kl as u8 - 1)
        };
        let cbits = if cl == 0 {
            ctr as u8
        } else {
            0x8 | (cl as u8 - 1)
        };
        out[0] = (kbits << 4) | cbits;
        out[1..1 + kl].copy_from_slice(&kid.to_be_bytes()[8 - kl..]);
        out[1 + kl..].copy_from_slice(&ctr.to_be_bytes()[8 - cl..]);
        Some(len)
    }

    /// The header as an owned array and its length: handy where the caller has no buffer.
    pub fn to_bytes(&self) -> ([u8; MAX_HEADER_LEN], usize) {
        let mut b = [0; MAX_HEADER_LEN];
        // The array holds the longest header, so encoding cannot fail.
        let n = self.encode(&mut b).unwrap_or(0);
        (b, n)
    }

    /// Parses a header from the front of `buf`, returning it and the bytes it used.
    pub fn decode(buf: &[u8]) -> Result<(Self, usize), HeaderError> {
        let &cfg = buf.first().ok_or(HeaderError::Empty)?;
        let (kbits, cbits) = (cfg >> 4, cfg & 0xf);
        let kl = if kbits & 0x8 != 0 {
            (kbits & 0x7) as usize + 1
        } else {
            0
        };
        let cl = if cbits & 0x8 != 0 {
            (cbits & 0x7) as usize + 1
        } else {
            0
        };
        let len = 1 + kl + cl;
        if buf.len() < len {
            return Err(HeaderError::Truncated {
                needed: len,
                have: buf.len(),
            });
        }
        let kid = read_value(kbits, &buf[1..1 + kl], "KID")?;
        let ctr = read_value(cbits, &buf[1 + kl..len], "CTR")?;
        Ok((Self::new(KeyId(kid), Counter(ctr)), len))
    }
}

fn read_value(bits: u8, bytes: &[u8], field: &'static str) -> Result<u64, HeaderError> {
    if bytes.is_empty() {
        return Ok(u64::from(bits & 0x7));
    }
    let v = bytes.iter().fold(0u64, |acc, &b| (acc << 8) | u64::from(b));
    if value_len(v) != bytes.len() {
        return Err(HeaderError::NonMinimal { field });
    }
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn rfc_examples() {
        let cases: &[(u64, u64, &[u8])] = &[
            (0, 0, &[0x00]),
            (0, 1, &[0x01]),
            (0, 0xff, &[0x08, 0xff]),
            (0, 0x100, &[0x09, 0x01, 0x00]),
            (0x123, 0x4567, &[0x99, 0x01, 0x23, 0x45, 0x67]),
            (7, 7, &[0x77]),
            (8, 8, &[0x88, 0x08, 0x08]),
        ];
        for &(kid, ctr, wire) in cases {
            let h = Header::new(KeyId(kid), Counter(ctr));
            let (b, n) = h.to_bytes();
            assert_eq!(&b[..n], wire, "kid {kid:#x} ctr {ctr:#x}");
            assert_eq!(Header::decode(wire), Ok((h, wire.len())));
        }
    }

    #[test]
    fn strict_errors() {
        assert_eq!(Header::decode(&[]), Err(HeaderError::Empty));
        assert_eq!(
            Header::decode(&[0x99, 0x01, 0x23, 0x45]),
            Err(HeaderError::Truncated { needed: 5, have: 4 })
        );
        // KID 5 in extended form.
        assert_eq!(
            Header::decode(&[0x80, 0x05]),
            Err(HeaderError::NonMinimal { field: "KID" })
        );
        // CTR 0x00ff in two bytes.
        assert_eq!(
            Header::decode(&[0x09, 0x00, 0xff]),
            Err(HeaderError::NonMinimal { field: "CTR" })
        );
        let mut small = [0u8; 2];
        assert_eq!(
            Header::new(KeyId(0), Counter(0x100)).encode(&mut small),
            None
        );
    }

    proptest! {
        #[test]
        fn round_trip(kid: u64, ctr: u64, tail in proptest::collection::vec(any::<u8>(), 0..4)) {
            let h = Header::new(KeyId(kid), Counter(ctr));
            let (b, n) = h.to_bytes();
            prop_assert_eq!(n, h.encoded_len());
            let mut wire = b[..n].to_vec();
            wire.extend_from_slice(&tail);
            prop_assert_eq!(Header::decode(&wire), Ok((h, n)));
            // Every strict prefix is rejected as truncated.
            for cut in 1..n {
                let truncated = matches!(Header::decode(&wire[..cut]), Err(HeaderError::Truncated { .. }));
                prop_assert!(truncated);
            }
        }

        #[test]
        fn decode_never_panics_and_reencodes_exactly(bytes in proptest::collection::vec(any::<u8>(), 0..20)) {
            if let Ok((h, n)) = Header::decode(&bytes) {
                let (b, m) = h.to_bytes();
                prop_assert_eq!(&b[..m], &bytes[..n]);
            }
        }
    }
}
