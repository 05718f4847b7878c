//! The SFrame cipher suites (RFC 9605 §4.5, IANA "SFrame Cipher Suites").

use core::fmt;

use crate::Error;

/// The hash a suite uses for HKDF (and HMAC in the CTR suites).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Hash {
    /// SHA-256, `Nh` = 32.
    Sha256,
    /// SHA-512, `Nh` = 64.
    Sha512,
}

#[allow(clippy::len_without_is_empty)] // a hash output is never empty
impl Hash {
    /// Output length `Nh` in bytes.
    pub const fn len(self) -> usize {
        match self {
            Self::Sha256 => 32,
            Self::Sha512 => 64,
        }
    }
}

/// An SFrame cipher suite.
///
/// Suites 1-5 are RFC 9605's. Suites 6-8 (AES-256-CTR with HMAC-SHA-512) come from
/// draft-barnes-sframe-iana-256; their IDs are provisional and they exist only with the
/// `draft-aes256-ctr-hmac` feature.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum CipherSuite {
    /// `AES_128_CTR_HMAC_SHA256_80` (0x0001).
    Aes128CtrHmacSha256Tag80,
    /// `AES_128_CTR_HMAC_SHA256_64` (0x0002).
    Aes128CtrHmacSha256Tag64,
    /// `AES_128_CTR_HMAC_SHA256_32` (0x0003).
    Aes128CtrHmacSha256Tag32,
    /// `AES_128_GCM_SHA256_128` (0x0004).
    Aes128GcmSha256,
    /// `AES_256_GCM_SHA512_128` (0x0005).
    Aes256GcmSha512,
    /// `AES_256_CTR_HMAC_SHA512_80` (provisional 0x0006).
    #[cfg(feature = "draft-aes256-ctr-hmac")]
    Aes256CtrHmacSha512Tag80,
    /// `AES_256_CTR_HMAC_SHA512_64` (provisional 0x0007).
    #[cfg(feature = "draft-aes256-ctr-hmac")]
    Aes256CtrHmacSha512Tag64,
    /// `AES_256_CTR_HMAC_SHA512_32` (provisional 0x0008).
    #[cfg(feature = "draft-aes256-ctr-hmac")]
    Aes256CtrHmacSha512Tag32,
}

/// Every suite this build knows, in ID order.
pub const ALL_SUITES: &[CipherSuite] = &[
    CipherSuite::Aes128CtrHmacSha256Tag80,
    CipherSuite::Aes128CtrHmacSha256Tag64,
    CipherSuite::Aes128CtrHmacSha256Tag32,
    CipherSuite::Aes128GcmSha256,
    CipherSuite::Aes256GcmSha512,
    #[cfg(feature = "draft-aes256-ctr-hmac")]
    CipherSuite::Aes256CtrHmacSha512Tag80,
    #[cfg(feature = "draft-aes256-ctr-hmac")]
    CipherSuite::Aes256CtrHmacSha512Tag64,
    #[cfg(feature = "draft-aes256-ctr-hmac")]
    CipherSuite::Aes256CtrHmacSha512Tag32,
];

/// Nonce length `Nn`, the same (12 bytes) for every suite.
pub const NONCE_LEN: usize = 12;

/// The longest AEAD key any suite uses (`Nk` of suites 6-8: 32 + 64).
pub const MAX_KEY_LEN: usize = 96;

/// The longest tag any suite uses.
pub const MAX_TAG_LEN: usize = 16;

impl CipherSuite {
    /// The suite for an IANA ID.
    pub fn from_id(id: u16) -> Result<Self, Error> {
        ALL_SUITES
            .iter()
            .copied()
            .find(|s| s.id() == id)
            .ok_or(Error::UnknownSuite(id))
    }

    /// IANA ID (the value used in key derivation labels).
    pub const fn id(self) -> u16 {
        match self {
            Self::Aes128CtrHmacSha256Tag80 => 1,
            Self::Aes128CtrHmacSha256Tag64 => 2,
            Self::Aes128CtrHmacSha256Tag32 => 3,
            Self::Aes128GcmSha256 => 4,
            Self::Aes256GcmSha512 => 5,
            #[cfg(feature = "draft-aes256-ctr-hmac")]
            Self::Aes256CtrHmacSha512Tag80 => 6,
            #[cfg(feature = "draft-aes256-ctr-hmac")]
            Self::Aes256CtrHmacSha512Tag64 => 7,
            #[cfg(feature = "draft-aes256-ctr-hmac")]
            Self::Aes256CtrHmacSha512Tag32 => 8,
        }
    }

    /// The registry name, e.g. `AES_128_GCM_SHA256_128`.
    pub const fn name(self) -> &'static str {
        match self {
            Self::Aes128CtrHmacSha256Tag80 => "AES_128_CTR_HMAC_SHA256_80",
            Self::Aes128CtrHmacSha256Tag64 => "AES_128_CTR_HMAC_SHA256_64",
            Self::Aes128CtrHmacSha256Tag32 => "AES_128_CTR_HMAC_SHA256_32",
            Self::Aes128GcmSha256 => "AES_128_GCM_SHA256_128",
            Self::Aes256GcmSha512 => "AES_256_GCM_SHA512_128",
            #[cfg(feature = "draft-aes256-ctr-hmac")]
            Self::Aes256CtrHmacSha512Tag80 => "AES_256_CTR_HMAC_SHA512_80",
            #[cfg(feature = "draft-aes256-ctr-hmac")]
            Self::Aes256CtrHmacSha512Tag64 => "AES_256_CTR_HMAC_SHA512_64",
            #[cfg(feature = "draft-aes256-ctr-hmac")]
            Self::Aes256CtrHmacSha512Tag32 => "AES_256_CTR_HMAC_SHA512_32",
        }
    }

    /// The KDF (and, for CTR suites, HMAC) hash.
    pub const fn hash(self) -> Hash {
        match self {
            Self::Aes128CtrHmacSha256Tag80
            | Self::Aes128CtrHmacSha256Tag64
            | Self::Aes128CtrHmacSha256Tag32
            | Self::Aes128GcmSha256 => Hash::Sha256,
            _ => Hash::Sha512,
        }
    }

    /// `Nh`: hash output length.
    pub const fn hash_len(self) -> usize {
        self.hash().len()
    }

    /// True for the AES-CTR + HMAC compound AEADs (§4.5.1).
    pub const fn is_ctr_hmac(self) -> bool {
        !matches!(self, Self::Aes128GcmSha256 | Self::Aes256GcmSha512)
    }

    /// `Nka`: AES key length inside a CTR+HMAC key (`None` for GCM suites).
    pub const fn enc_key_len(self) -> Option<usize> {
        match self {
            Self::Aes128GcmSha256 | Self::Aes256GcmSha512 => None,
            Self::Aes128CtrHmacSha256Tag80
            | Self::Aes128CtrHmacSha256Tag64
            | Self::Aes128CtrHmacSha256Tag32 => Some(16),
            #[cfg(feature = "draft-aes256-ctr-hmac")]
            _ => Some(32),
        }
    }

    /// `Nk`: AEAD key length (for CTR suites `Nka + Nh`).
    pub const fn key_len(self) -> usize {
        match self {
            Self::Aes128GcmSha256 => 16,
            Self::Aes256GcmSha512 => 32,
            _ => match self.enc_key_len() {
                Some(nka) => nka + self.hash_len(),
                None => 0,
            },
        }
    }

    /// `Nn`: nonce length (12 for every suite).
    pub const fn nonce_len(self) -> usize {
        NONCE_LEN
    }

    /// `Nt`: authentication tag length.
    pub const fn tag_len(self) -> usize {
        match self {
            Self::Aes128CtrHmacSha256Tag80 => 10,
            Self::Aes128CtrHmacSha256Tag64 => 8,
            Self::Aes128CtrHmacSha256Tag32 => 4,
            Self::Aes128GcmSha256 | Self::Aes256GcmSha512 => 16,
            #[cfg(feature = "draft-aes256-ctr-hmac")]
            Self::Aes256CtrHmacSha512Tag80 => 10,
            #[cfg(feature = "draft-aes256-ctr-hmac")]
            Self::Aes256CtrHmacSha512Tag64 => 8,
            #[cfg(feature = "draft-aes256-ctr-hmac")]
            Self::Aes256CtrHmacSha512Tag32 => 4,
        }
    }
}

impl fmt::Display for CipherSuite {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({:#06x})", self.name(), self.id())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_and_parameters_match_rfc_table() {
        for &s in ALL_SUITES {
            assert_eq!(CipherSuite::from_id(s.id()), Ok(s));
        }
        let s = CipherSuite::Aes128CtrHmacSha256Tag80;
        assert_eq!((s.key_len(), s.hash_len(), s.tag_len()), (48, 32, 10));
        let s = CipherSuite::Aes256GcmSha512;
        assert_eq!((s.key_len(), s.hash_len(), s.tag_len()), (32, 64, 16));
        assert_eq!(CipherSuite::from_id(0), Err(Error::UnknownSuite(0)));
        assert_eq!(
            CipherSuite::from_id(0xf000),
            Err(Error::UnknownSuite(0xf000))
        );
    }

    #[cfg(feature = "draft-aes256-ctr-hmac")]
    #[test]
    fn draft_suites_have_96_byte_keys() {
        let s = CipherSuite::from_id(6).unwrap();
        assert_eq!((s.key_len(), s.hash_len(), s.tag_len()), (96, 64, 10));
    }
}
