//! SRTP and SRTCP (RFC 3711, RFC 7714) for DTLS-SRTP associations, transformed in place.
//!
//! One [`SrtpSession`] holds both directions of one DTLS-SRTP association: the keys derived from
//! the DTLS exporter output (RFC 5764 §4.2), the per-SSRC receive state (rollover counter and
//! replay window) and the per-SSRC send state. It is a plain value: no clock, no I/O, no locks.
//!
//! # Why our own
//!
//! The Rust SRTP crates we looked at (`webrtc-srtp`, `rtc-srtp`, str0m's module) allocate a fresh
//! buffer for every packet and parse the RTP header a second time into an owned struct. An SFU
//! protects and unprotects every packet it forwards, so that allocation sits on the hottest path
//! there is. Here every transform works in the caller's buffer: [`SrtpSession::unprotect_rtp`]
//! decrypts `buf[..len]` where it lies and returns the shorter plain length;
//! [`SrtpSession::protect_rtp`] encrypts `buf[..len]` where it lies and appends the tag (and, for
//! SRTCP, the index) into the spare room after `len` in the same buffer. The header is parsed once,
//! for exactly what the transform needs (CSRC count and extension length). Nothing on the
//! per-packet path allocates; the per-SSRC tables are allocated once, at their bound, when the
//! session is created.
//!
//! `webrtc-srtp` stays in the tree as a dev-dependency: it is the differential test oracle
//! (`tests/srtp.rs`), so every profile is checked in both directions against an independent
//! implementation.
//!
//! # Profiles
//!
//! [`SrtpProfile`] covers what browsers negotiate: `SRTP_AEAD_AES_128_GCM`,
//! `SRTP_AEAD_AES_256_GCM` (RFC 7714, through `ring`) and `SRTP_AES128_CM_HMAC_SHA1_80`
//! (RFC 3711: AES-CTR from the `aes`/`ctr` crates, HMAC-SHA1 with an 80-bit tag). Session keys
//! come from the RFC 3711 §4.3 AES-CM PRF with key derivation rate 0; the GCM profiles use the same
//! PRF with AES of the master key's size (RFC 7714 §11). MKIs are not supported (WebRTC does not
//! use them). The three profiles are fixed by the RFCs, so they are a closed private enum rather
//! than a pluggable provider.
//!
//! # State and bounds
//!
//! * Receive, per SSRC: the highest 48-bit packet index seen (ROC estimated as in RFC 3711
//!   §3.3.1 / Appendix A) and a 128-packet sliding replay window. SRTCP keeps a 128-entry window
//!   over the 31-bit SRTCP index, per SSRC. State is created and advanced only after a packet
//!   authenticates, so a replayed, forged or corrupted packet changes nothing.
//! * Send, per SSRC: the highest index written, so the ROC follows the sequence numbers the caller
//!   writes (including the 65535 → 0 wrap). One SRTCP index counter for the outbound direction.
//! * At most [`MAX_SSRCS`] SSRCs per table (receive RTP, receive RTCP, send RTP). A packet for one
//!   more SSRC fails with [`SrtpError::TooManySsrcs`]; the tables never grow past the bound.
//!
//! The sender does not refuse a sequence number it has already used: resending the same packet
//! (a NACK retransmission without RTX) produces the same bytes and is harmless, but protecting
//! *different* plaintext under the same SSRC and sequence number reuses a keystream / GCM nonce.
//! The caller owns sequence numbers and must never do that.
//!
//! # Errors
//!
//! Every length from the network is checked; bad input returns an [`SrtpError`] and never panics.
//! After a failed `unprotect_*` the session state is unchanged but the contents of `buf[..len]` are
//! unspecified (GCM may have decrypted part of it); drop the packet.

use aes::cipher::{BlockCipherEncrypt, InnerIvInit, KeyInit, StreamCipher};
use aes::{Aes128, Aes256};
use hmac::{Hmac, Mac};
use ring::aead::{self, Aad, LessSafeKey, Nonce, Tag, UnboundKey};
use sha1::Sha1;
use subtle::ConstantTimeEq;

/// Most SSRCs tracked per table (receive RTP, receive RTCP, send RTP) in one [`SrtpSession`].
pub const MAX_SSRCS: usize = 64;

/// Width of the replay windows, in packets.
const REPLAY_WINDOW: u64 = 128;
/// Largest 48-bit SRTP packet index.
const MAX_SRTP_INDEX: u64 = (1 << 48) - 1;
/// Largest 31-bit SRTCP index.
const MAX_SRTCP_INDEX: u32 = 0x7FFF_FFFF;
/// The E bit in the SRTCP `E|index` word: the payload is encrypted.
const SRTCP_E_BIT: u32 = 0x8000_0000;
/// Length of the `E|index` word.
const SRTCP_INDEX_LEN: usize = 4;
/// Fixed RTP header length.
const RTP_HEADER_LEN: usize = 12;
/// RTCP header plus sender SSRC: the part of an SRTCP packet that is never encrypted.
const RTCP_HEADER_LEN: usize = 8;
/// GCM tag length (RFC 7714: 16 octets).
const GCM_TAG_LEN: usize = 16;
/// HMAC-SHA1-80 tag length.
const HMAC_TAG_LEN: usize = 10;

// KDF labels, RFC 3711 §4.3.1.
const LABEL_RTP_KEY: u8 = 0;
const LABEL_RTP_AUTH: u8 = 1;
const LABEL_RTP_SALT: u8 = 2;
const LABEL_RTCP_KEY: u8 = 3;
const LABEL_RTCP_AUTH: u8 = 4;
const LABEL_RTCP_SALT: u8 = 5;

/// An SRTP protection profile negotiated by DTLS-SRTP (RFC 5764 `use_srtp`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SrtpProfile {
    /// `SRTP_AEAD_AES_128_GCM` (0x0007), RFC 7714.
    AeadAes128Gcm,
    /// `SRTP_AEAD_AES_256_GCM` (0x0008), RFC 7714.
    AeadAes256Gcm,
    /// `SRTP_AES128_CM_HMAC_SHA1_80` (0x0001), RFC 3711 / RFC 5764.
    Aes128CmHmacSha1_80,
}

impl SrtpProfile {
    /// The profile for a DTLS `use_srtp` protection profile id, if we implement it.
    #[must_use]
    pub fn from_dtls_id(id: u16) -> Option<Self> {
        match id {
            0x0001 => Some(Self::Aes128CmHmacSha1_80),
            0x0007 => Some(Self::AeadAes128Gcm),
            0x0008 => Some(Self::AeadAes256Gcm),
            _ => None,
        }
    }

    /// The DTLS `use_srtp` protection profile id.
    #[must_use]
    pub fn dtls_id(self) -> u16 {
        match self {
            Self::Aes128CmHmacSha1_80 => 0x0001,
            Self::AeadAes128Gcm => 0x0007,
            Self::AeadAes256Gcm => 0x0008,
        }
    }

    /// Master key length in bytes.
    #[must_use]
    pub fn key_len(self) -> usize {
        match self {
            Self::Aes128CmHmacSha1_80 | Self::AeadAes128Gcm => 16,
            Self::AeadAes256Gcm => 32,
        }
    }

    /// Master salt length in bytes.
    #[must_use]
    pub fn salt_len(self) -> usize {
        match self {
            Self::Aes128CmHmacSha1_80 => 14,
            Self::AeadAes128Gcm | Self::AeadAes256Gcm => 12,
        }
    }

    /// Bytes SRTP adds to an RTP packet (the authentication tag).
    #[must_use]
    pub fn rtp_overhead(self) -> usize {
        self.tag_len()
    }

    /// Bytes SRTCP adds to an RTCP packet (the tag plus the 4-byte `E|SRTCP index` word).
    #[must_use]
    pub fn rtcp_overhead(self) -> usize {
        self.tag_len() + SRTCP_INDEX_LEN
    }

    /// Length of the DTLS exporter output [`SrtpSession::new`] expects: `2 * (key_len + salt_len)`.
    #[must_use]
    pub fn keying_material_len(self) -> usize {
        2 * (self.key_len() + self.salt_len())
    }

    fn tag_len(self) -> usize {
        match self {
            Self::Aes128CmHmacSha1_80 => HMAC_TAG_LEN,
            Self::AeadAes128Gcm | Self::AeadAes256Gcm => GCM_TAG_LEN,
        }
    }
}

/// Why an SRTP/SRTCP transform failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SrtpError {
    // --- Malformed input from the network.
    /// The packet is shorter than its headers plus the SRTP overhead.
    #[error("SRTP/SRTCP packet of {len} bytes is too short for its headers and tag")]
    TooShort {
        /// Length of the packet that was given.
        len: usize,
    },
    /// The packet is not a well-formed RTP/RTCP packet.
    #[error("malformed RTP/RTCP packet: {reason}")]
    Malformed {
        /// What was wrong.
        reason: &'static str,
    },

    // --- The peer (or someone on the path) sent something we must refuse.
    /// The authentication tag did not verify: the packet was corrupted, forged or keyed differently.
    #[error("SRTP/SRTCP authentication failed")]
    AuthenticationFailed,
    /// A packet with this index was already accepted for this SSRC.
    #[error("replayed packet: SSRC {ssrc:#010x} index {index} was already received")]
    Replayed {
        /// SSRC of the packet.
        ssrc: u32,
        /// SRTP packet index (ROC << 16 | SEQ) or SRTCP index.
        index: u64,
    },
    /// The packet is older than the replay window, so it cannot be checked and is refused.
    #[error("packet too old: SSRC {ssrc:#010x} index {index} is behind the replay window")]
    TooOld {
        /// SSRC of the packet.
        ssrc: u32,
        /// SRTP packet index (ROC << 16 | SEQ) or SRTCP index.
        index: u64,
    },
    /// The session already tracks [`MAX_SSRCS`] SSRCs in this table.
    #[error("SSRC {ssrc:#010x} refused: the session already tracks its limit of {limit} SSRCs")]
    TooManySsrcs {
        /// The SSRC that did not fit.
        ssrc: u32,
        /// The bound ([`MAX_SSRCS`]).
        limit: usize,
    },
    /// The 48-bit SRTP or 31-bit SRTCP index space is used up; RFC 3711 §9.2 requires re-keying.
    #[error("SRTP/SRTCP index space exhausted for this key: the association must be re-keyed")]
    IndexExhausted,

    // --- The caller misused the API.
    /// `buf` has no room for the output; `needed` is the buffer length required.
    #[error("buffer too small: {needed} bytes needed")]
    BufferTooSmall {
        /// Buffer length required.
        needed: usize,
    },
    /// `len` is larger than `buf.len()`.
    #[error("packet length {len} exceeds the buffer length {buf_len}")]
    LengthOutOfBounds {
        /// The `len` passed.
        len: usize,
        /// `buf.len()`.
        buf_len: usize,
    },

    // --- Bad configuration.
    /// The DTLS exporter output (or a master key cut from it) has the wrong length for the profile.
    #[error("bad SRTP keying material: {expected} bytes expected for the profile, got {actual}")]
    BadKeyingMaterial {
        /// Length the profile needs.
        expected: usize,
        /// Length given.
        actual: usize,
    },
}

/// Both directions of one DTLS-SRTP association.
///
/// Contract: [`protect_rtp`](Self::protect_rtp) / [`protect_rtcp`](Self::protect_rtcp) turn
/// outgoing plain packets into SRTP/SRTCP in the caller's buffer;
/// [`unprotect_rtp`](Self::unprotect_rtp) / [`unprotect_rtcp`](Self::unprotect_rtcp) verify and
/// decrypt incoming ones in place. All four mutate per-SSRC state only on success. Nothing here
/// reads a clock, allocates per packet or panics on network input.
pub struct SrtpSession {
    profile: SrtpProfile,
    /// Keys for what we receive (the peer's write keys).
    inbound: DirectionKeys,
    /// Keys for what we send (our write keys).
    outbound: DirectionKeys,
    rtp_recv: Vec<RecvState>,
    rtcp_recv: Vec<RecvState>,
    rtp_send: Vec<SendState>,
    /// Next SRTCP index to send.
    rtcp_send_index: u32,
}

impl std::fmt::Debug for SrtpSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Keys are deliberately left out.
        f.debug_struct("SrtpSession")
            .field("profile", &self.profile)
            .field("rtp_recv_ssrcs", &self.rtp_recv.len())
            .field("rtcp_recv_ssrcs", &self.rtcp_recv.len())
            .field("rtp_send_ssrcs", &self.rtp_send.len())
            .field("rtcp_send_index", &self.rtcp_send_index)
            .finish_non_exhaustive()
    }
}

impl SrtpSession {
    /// Derive the session keys for both directions.
    ///
    /// `material` is the DTLS exporter output "EXTRACTOR-dtls_srtp" of length
    /// `2 * (key_len + salt_len)`, laid out `client_key | server_key | client_salt | server_salt`
    /// (RFC 5764 §4.2). `local_is_client` is false for our server: as DTLS server we decrypt with
    /// the client keys and encrypt with the server keys.
    ///
    /// # Errors
    ///
    /// [`SrtpError::BadKeyingMaterial`] when `material` is not
    /// [`SrtpProfile::keying_material_len`] bytes long.
    pub fn new(
        profile: SrtpProfile,
        material: &[u8],
        local_is_client: bool,
    ) -> Result<Self, SrtpError> {
        let expected = profile.keying_material_len();
        if material.len() != expected {
            return Err(SrtpError::BadKeyingMaterial {
                expected,
                actual: material.len(),
            });
        }
        let (kl, sl) = (profile.key_len(), profile.salt_len());
        let client_key = &material[..kl];
        let server_key = &material[kl..2 * kl];
        let client_salt = &material[2 * kl..2 * kl + sl];
        let server_salt = &material[2 * kl + sl..];
        let client = DirectionKeys::derive(profile, client_key, client_salt)?;
        let server = DirectionKeys::derive(profile, server_key, server_salt)?;
        let (inbound, outbound) = if local_is_client {
            (server, client)
        } else {
            (client, server)
        };
        Ok(Self {
            profile,
            inbound,
            outbound,
            rtp_recv: Vec::with_capacity(MAX_SSRCS),
            rtcp_recv: Vec::with_capacity(MAX_SSRCS),
            rtp_send: Vec::with_capacity(MAX_SSRCS),
            rtcp_send_index: 0,
        })
    }

    /// The negotiated profile.
    #[must_use]
    pub fn profile(&self) -> SrtpProfile {
        self.profile
    }

    /// Verify and decrypt the SRTP packet occupying `buf[..len]` in place; returns the plain RTP
    /// length (the tag is stripped). On error nothing changes but `buf[..len]` is unspecified.
    ///
    /// # Errors
    ///
    /// [`SrtpError::TooShort`] / [`SrtpError::Malformed`] for packets that do not parse,
    /// [`SrtpError::AuthenticationFailed`], [`SrtpError::Replayed`], [`SrtpError::TooOld`],
    /// [`SrtpError::TooManySsrcs`] for a new SSRC past the bound, and
    /// [`SrtpError::LengthOutOfBounds`] when `len > buf.len()`.
    pub fn unprotect_rtp(&mut self, buf: &mut [u8], len: usize) -> Result<usize, SrtpError> {
        check_len(buf, len)?;
        let tag_len = self.profile.tag_len();
        let packet = &buf[..len];
        let hdr_len = rtp_header_len(packet)?;
        if len < hdr_len + tag_len {
            return Err(SrtpError::TooShort { len });
        }
        let ssrc = be_u32(packet, 8);
        let seq = be_u16(packet, 2);

        let slot = find(&self.rtp_recv, ssrc);
        let index = match slot {
            Some(i) => {
                let state = &self.rtp_recv[i];
                let index = estimate_index(state.highest, seq).ok_or(SrtpError::TooOld {
                    ssrc,
                    index: u64::from(seq),
                })?;
                state.check(ssrc, index)?;
                index
            }
            None => {
                if self.rtp_recv.len() >= MAX_SSRCS {
                    return Err(SrtpError::TooManySsrcs {
                        ssrc,
                        limit: MAX_SSRCS,
                    });
                }
                // RFC 3711 §3.3.1: the receiver starts with ROC 0 and s_l = the first SEQ.
                u64::from(seq)
            }
        };

        let roc = (index >> 16) as u32;
        let plain_len =
            self.inbound
                .rtp
                .open_rtp(&mut buf[..len], hdr_len, ssrc, roc, seq, index)?;

        match slot {
            Some(i) => self.rtp_recv[i].accept(index),
            None => self.rtp_recv.push(RecvState::new(ssrc, index)),
        }
        Ok(plain_len)
    }

    /// Verify and decrypt the SRTCP packet occupying `buf[..len]` in place; returns the plain RTCP
    /// length (tag and SRTCP index stripped). On error nothing changes but `buf[..len]` is
    /// unspecified.
    ///
    /// # Errors
    ///
    /// [`SrtpError::TooShort`] / [`SrtpError::Malformed`] for packets that do not parse,
    /// [`SrtpError::AuthenticationFailed`], [`SrtpError::Replayed`], [`SrtpError::TooOld`],
    /// [`SrtpError::TooManySsrcs`] for a new SSRC past the bound, and
    /// [`SrtpError::LengthOutOfBounds`] when `len > buf.len()`.
    pub fn unprotect_rtcp(&mut self, buf: &mut [u8], len: usize) -> Result<usize, SrtpError> {
        check_len(buf, len)?;
        let overhead = self.profile.rtcp_overhead();
        if len < RTCP_HEADER_LEN + overhead {
            return Err(SrtpError::TooShort { len });
        }
        check_rtcp_header(&buf[..len])?;
        let ssrc = be_u32(buf, 4);
        // Both layouts end with the E|index word (GCM) or the tag after it (CM): find it.
        let ei_at = match self.profile {
            SrtpProfile::Aes128CmHmacSha1_80 => len - HMAC_TAG_LEN - SRTCP_INDEX_LEN,
            SrtpProfile::AeadAes128Gcm | SrtpProfile::AeadAes256Gcm => len - SRTCP_INDEX_LEN,
        };
        let e_index = be_u32(buf, ei_at);
        let index = u64::from(e_index & MAX_SRTCP_INDEX);

        let slot = find(&self.rtcp_recv, ssrc);
        match slot {
            Some(i) => self.rtcp_recv[i].check(ssrc, index)?,
            None => {
                if self.rtcp_recv.len() >= MAX_SSRCS {
                    return Err(SrtpError::TooManySsrcs {
                        ssrc,
                        limit: MAX_SSRCS,
                    });
                }
            }
        }

        let plain_len = self
            .inbound
            .rtcp
            .open_rtcp(&mut buf[..len], ssrc, e_index)?;

        match slot {
            Some(i) => self.rtcp_recv[i].accept(index),
            None => self.rtcp_recv.push(RecvState::new(ssrc, index)),
        }
        Ok(plain_len)
    }

    /// Encrypt the plain RTP packet in `buf[..len]` in place and append the tag; `buf` must have
    /// room for [`SrtpProfile::rtp_overhead`] more bytes. Returns the SRTP length.
    ///
    /// # Errors
    ///
    /// [`SrtpError::BufferTooSmall`] without room for the overhead (the packet is left as it
    /// was), [`SrtpError::TooShort`] / [`SrtpError::Malformed`] for a packet that does not parse,
    /// [`SrtpError::TooManySsrcs`] for a new SSRC past the bound, [`SrtpError::IndexExhausted`]
    /// when the key must be renewed, [`SrtpError::LengthOutOfBounds`] when `len > buf.len()`.
    pub fn protect_rtp(&mut self, buf: &mut [u8], len: usize) -> Result<usize, SrtpError> {
        check_len(buf, len)?;
        let hdr_len = rtp_header_len(&buf[..len])?;
        let needed = len + self.profile.tag_len();
        if buf.len() < needed {
            return Err(SrtpError::BufferTooSmall { needed });
        }
        let ssrc = be_u32(buf, 8);
        let seq = be_u16(buf, 2);

        let slot = find(&self.rtp_send, ssrc);
        let index = match slot {
            Some(i) => {
                estimate_index(self.rtp_send[i].highest, seq).ok_or(SrtpError::IndexExhausted)?
            }
            None => {
                if self.rtp_send.len() >= MAX_SSRCS {
                    return Err(SrtpError::TooManySsrcs {
                        ssrc,
                        limit: MAX_SSRCS,
                    });
                }
                u64::from(seq)
            }
        };
        let roc = (index >> 16) as u32;
        let out =
            self.outbound
                .rtp
                .seal_rtp(&mut buf[..needed], hdr_len, len, ssrc, roc, seq, index)?;
        match slot {
            Some(i) => {
                let state = &mut self.rtp_send[i];
                state.highest = state.highest.max(index);
            }
            None => self.rtp_send.push(SendState {
                ssrc,
                highest: index,
            }),
        }
        Ok(out)
    }

    /// Encrypt the plain RTCP packet in `buf[..len]` in place and append the tag and SRTCP index;
    /// `buf` must have room for [`SrtpProfile::rtcp_overhead`] more bytes. Returns the SRTCP length.
    ///
    /// # Errors
    ///
    /// [`SrtpError::BufferTooSmall`] without room for the overhead (the packet is left as it
    /// was), [`SrtpError::TooShort`] / [`SrtpError::Malformed`] for a packet that does not parse,
    /// [`SrtpError::TooManySsrcs`] for a new SSRC past the bound, [`SrtpError::IndexExhausted`]
    /// when the key must be renewed, [`SrtpError::LengthOutOfBounds`] when `len > buf.len()`.
    pub fn protect_rtcp(&mut self, buf: &mut [u8], len: usize) -> Result<usize, SrtpError> {
        check_len(buf, len)?;
        if len < RTCP_HEADER_LEN {
            return Err(SrtpError::TooShort { len });
        }
        check_rtcp_header(&buf[..len])?;
        let needed = len + self.profile.rtcp_overhead();
        if buf.len() < needed {
            return Err(SrtpError::BufferTooSmall { needed });
        }
        let index = self.rtcp_send_index;
        if index > MAX_SRTCP_INDEX {
            return Err(SrtpError::IndexExhausted);
        }
        let ssrc = be_u32(buf, 4);
        let out = self
            .outbound
            .rtcp
            .seal_rtcp(&mut buf[..needed], len, ssrc, index)?;
        self.rtcp_send_index = index + 1;
        Ok(out)
    }
}

/// Receive state of one SSRC: highest index accepted and the replay window behind it.
#[derive(Debug, Clone, Copy)]
struct RecvState {
    ssrc: u32,
    highest: u64,
    /// Bit `d` set: index `highest - d` was accepted.
    window: u128,
}

impl RecvState {
    fn new(ssrc: u32, index: u64) -> Self {
        Self {
            ssrc,
            highest: index,
            window: 1,
        }
    }

    /// Would `index` be accepted? Changes nothing.
    fn check(&self, ssrc: u32, index: u64) -> Result<(), SrtpError> {
        if index > self.highest {
            return Ok(());
        }
        let delta = self.highest - index;
        if delta >= REPLAY_WINDOW {
            return Err(SrtpError::TooOld { ssrc, index });
        }
        if self.window & (1u128 << delta) != 0 {
            return Err(SrtpError::Replayed { ssrc, index });
        }
        Ok(())
    }

    /// Record `index` as accepted (after [`check`](Self::check) and authentication passed).
    fn accept(&mut self, index: u64) {
        if index > self.highest {
            let shift = index - self.highest;
            self.window = if shift >= REPLAY_WINDOW {
                0
            } else {
                self.window << shift
            };
            self.window |= 1;
            self.highest = index;
        } else {
            let delta = self.highest - index;
            if delta < REPLAY_WINDOW {
                self.window |= 1u128 << delta;
            }
        }
    }
}

/// Send state of one SSRC: the highest packet index protected, which carries the ROC.
#[derive(Debug, Clone, Copy)]
struct SendState {
    ssrc: u32,
    highest: u64,
}

trait HasSsrc {
    fn ssrc(&self) -> u32;
}
impl HasSsrc for RecvState {
    fn ssrc(&self) -> u32 {
        self.ssrc
    }
}
impl HasSsrc for SendState {
    fn ssrc(&self) -> u32 {
        self.ssrc
    }
}

fn find<T: HasSsrc>(table: &[T], ssrc: u32) -> Option<usize> {
    table.iter().position(|s| s.ssrc() == ssrc)
}

/// RFC 3711 §3.3.1 / Appendix A: the 48-bit index of `seq` given the highest index seen so far.
/// `None` when the guess falls outside `0..=MAX_SRTP_INDEX` (before the first packet, or past the
/// last one the key may protect).
fn estimate_index(highest: u64, seq: u16) -> Option<u64> {
    let roc = highest >> 16;
    let s_l = (highest & 0xFFFF) as u16;
    let v = if s_l < 0x8000 {
        if u32::from(seq) > u32::from(s_l) + 0x8000 {
            roc.checked_sub(1)?
        } else {
            roc
        }
    } else if u32::from(s_l) - 0x8000 > u32::from(seq) {
        roc + 1
    } else {
        roc
    };
    let index = (v << 16) | u64::from(seq);
    (index <= MAX_SRTP_INDEX).then_some(index)
}

fn check_len(buf: &[u8], len: usize) -> Result<(), SrtpError> {
    if len > buf.len() {
        return Err(SrtpError::LengthOutOfBounds {
            len,
            buf_len: buf.len(),
        });
    }
    Ok(())
}

/// Length of the RTP header of `packet` including CSRCs and the header extension.
fn rtp_header_len(packet: &[u8]) -> Result<usize, SrtpError> {
    if packet.len() < RTP_HEADER_LEN {
        return Err(SrtpError::TooShort { len: packet.len() });
    }
    if packet[0] >> 6 != 2 {
        return Err(SrtpError::Malformed {
            reason: "RTP version is not 2",
        });
    }
    let csrc_count = usize::from(packet[0] & 0x0F);
    let mut len = RTP_HEADER_LEN + 4 * csrc_count;
    if packet[0] & 0x10 != 0 {
        if packet.len() < len + 4 {
            return Err(SrtpError::TooShort { len: packet.len() });
        }
        let words = usize::from(be_u16(packet, len + 2));
        len += 4 + 4 * words;
    }
    if packet.len() < len {
        return Err(SrtpError::TooShort { len: packet.len() });
    }
    Ok(len)
}

/// The first RTCP header must say version 2 (the 8 bytes are known to be there).
fn check_rtcp_header(packet: &[u8]) -> Result<(), SrtpError> {
    if packet[0] >> 6 != 2 {
        return Err(SrtpError::Malformed {
            reason: "RTCP version is not 2",
        });
    }
    Ok(())
}

/// Big-endian u16 at `at`; callers have checked `at + 2 <= b.len()`.
fn be_u16(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}

/// Big-endian u32 at `at`; callers have checked `at + 4 <= b.len()`.
fn be_u32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

/// RTP and RTCP session keys for one direction.
struct DirectionKeys {
    rtp: Transform,
    rtcp: Transform,
}

impl DirectionKeys {
    fn derive(profile: SrtpProfile, key: &[u8], salt: &[u8]) -> Result<Self, SrtpError> {
        Ok(Self {
            rtp: Transform::derive(
                profile,
                key,
                salt,
                [LABEL_RTP_KEY, LABEL_RTP_AUTH, LABEL_RTP_SALT],
            )?,
            rtcp: Transform::derive(
                profile,
                key,
                salt,
                [LABEL_RTCP_KEY, LABEL_RTCP_AUTH, LABEL_RTCP_SALT],
            )?,
        })
    }
}

/// The session keys of one direction and one of RTP/RTCP, ready to use.
enum Transform {
    Gcm {
        key: LessSafeKey,
        salt: [u8; 12],
    },
    CmHmac {
        aes: Aes128,
        salt: [u8; 14],
        /// HMAC-SHA1 already keyed; cloned (on the stack) per packet.
        mac: Hmac<Sha1>,
    },
}

impl Transform {
    /// Derive the session keys with the RFC 3711 §4.3 PRF; `labels` = [key, auth, salt].
    fn derive(
        profile: SrtpProfile,
        master_key: &[u8],
        master_salt: &[u8],
        labels: [u8; 3],
    ) -> Result<Self, SrtpError> {
        let bad = || SrtpError::BadKeyingMaterial {
            expected: profile.key_len(),
            actual: master_key.len(),
        };
        let [key_label, auth_label, salt_label] = labels;
        match profile {
            SrtpProfile::AeadAes128Gcm | SrtpProfile::AeadAes256Gcm => {
                let mut session_key = [0u8; 32];
                let session_key = &mut session_key[..master_key.len()];
                kdf(master_key, master_salt, key_label, session_key)?;
                let mut salt = [0u8; 12];
                kdf(master_key, master_salt, salt_label, &mut salt)?;
                let alg = if profile == SrtpProfile::AeadAes128Gcm {
                    &aead::AES_128_GCM
                } else {
                    &aead::AES_256_GCM
                };
                let key = UnboundKey::new(alg, session_key).map_err(|_| bad())?;
                Ok(Self::Gcm {
                    key: LessSafeKey::new(key),
                    salt,
                })
            }
            SrtpProfile::Aes128CmHmacSha1_80 => {
                let mut session_key = [0u8; 16];
                kdf(master_key, master_salt, key_label, &mut session_key)?;
                let mut auth_key = [0u8; 20];
                kdf(master_key, master_salt, auth_label, &mut auth_key)?;
                let mut salt = [0u8; 14];
                kdf(master_key, master_salt, salt_label, &mut salt)?;
                let aes = Aes128::new_from_slice(&session_key).map_err(|_| bad())?;
                let mac = <Hmac<Sha1> as KeyInit>::new_from_slice(&auth_key).map_err(|_| bad())?;
                Ok(Self::CmHmac { aes, salt, mac })
            }
        }
    }

    /// Encrypt `buf[hdr_len..len]` and write the tag after it; `buf` is exactly the output length.
    #[allow(clippy::too_many_arguments)]
    fn seal_rtp(
        &self,
        buf: &mut [u8],
        hdr_len: usize,
        len: usize,
        ssrc: u32,
        roc: u32,
        seq: u16,
        index: u64,
    ) -> Result<usize, SrtpError> {
        match self {
            Self::Gcm { key, salt } => {
                let nonce = gcm_rtp_nonce(salt, ssrc, roc, seq);
                let (header, rest) = buf.split_at_mut(hdr_len);
                let (payload, tag_out) = rest.split_at_mut(len - hdr_len);
                let tag = key
                    .seal_in_place_separate_tag(nonce, Aad::from(&*header), payload)
                    .map_err(|_| SrtpError::Malformed {
                        reason: "packet too long for AES-GCM",
                    })?;
                tag_out.copy_from_slice(tag.as_ref());
                Ok(len + GCM_TAG_LEN)
            }
            Self::CmHmac { aes, salt, mac } => {
                cm_apply(aes, salt, ssrc, index, &mut buf[hdr_len..len]);
                let tag = hmac_tag(mac, &buf[..len], Some(roc));
                buf[len..len + HMAC_TAG_LEN].copy_from_slice(&tag[..HMAC_TAG_LEN]);
                Ok(len + HMAC_TAG_LEN)
            }
        }
    }

    /// Verify and decrypt the SRTP packet `buf` (exactly the packet); returns the plain length.
    fn open_rtp(
        &self,
        buf: &mut [u8],
        hdr_len: usize,
        ssrc: u32,
        roc: u32,
        seq: u16,
        index: u64,
    ) -> Result<usize, SrtpError> {
        let len = buf.len();
        match self {
            Self::Gcm { key, salt } => {
                let nonce = gcm_rtp_nonce(salt, ssrc, roc, seq);
                let (header, rest) = buf.split_at_mut(hdr_len);
                let plain = key
                    .open_in_place(nonce, Aad::from(&*header), rest)
                    .map_err(|_| SrtpError::AuthenticationFailed)?;
                Ok(hdr_len + plain.len())
            }
            Self::CmHmac { aes, salt, mac } => {
                let end = len - HMAC_TAG_LEN;
                let tag = hmac_tag(mac, &buf[..end], Some(roc));
                if !bool::from(tag[..HMAC_TAG_LEN].ct_eq(&buf[end..])) {
                    return Err(SrtpError::AuthenticationFailed);
                }
                cm_apply(aes, salt, ssrc, index, &mut buf[hdr_len..end]);
                Ok(end)
            }
        }
    }

    /// Encrypt `buf[8..len]`, append tag and `E|index`; `buf` is exactly the output length.
    fn seal_rtcp(
        &self,
        buf: &mut [u8],
        len: usize,
        ssrc: u32,
        index: u32,
    ) -> Result<usize, SrtpError> {
        let e_index = (SRTCP_E_BIT | index).to_be_bytes();
        match self {
            Self::Gcm { key, salt } => {
                // RFC 7714 §9: AAD = header (8) || E|index; index appended after the tag.
                let nonce = gcm_rtcp_nonce(salt, ssrc, index);
                let mut aad = [0u8; RTCP_HEADER_LEN + SRTCP_INDEX_LEN];
                aad[..RTCP_HEADER_LEN].copy_from_slice(&buf[..RTCP_HEADER_LEN]);
                aad[RTCP_HEADER_LEN..].copy_from_slice(&e_index);
                let tag = key
                    .seal_in_place_separate_tag(
                        nonce,
                        Aad::from(&aad),
                        &mut buf[RTCP_HEADER_LEN..len],
                    )
                    .map_err(|_| SrtpError::Malformed {
                        reason: "packet too long for AES-GCM",
                    })?;
                buf[len..len + GCM_TAG_LEN].copy_from_slice(tag.as_ref());
                buf[len + GCM_TAG_LEN..len + GCM_TAG_LEN + SRTCP_INDEX_LEN]
                    .copy_from_slice(&e_index);
                Ok(len + GCM_TAG_LEN + SRTCP_INDEX_LEN)
            }
            Self::CmHmac { aes, salt, mac } => {
                // RFC 3711 §3.4: header || encrypted payload || E|index || tag.
                cm_apply(
                    aes,
                    salt,
                    ssrc,
                    u64::from(index),
                    &mut buf[RTCP_HEADER_LEN..len],
                );
                let auth_end = len + SRTCP_INDEX_LEN;
                buf[len..auth_end].copy_from_slice(&e_index);
                let tag = hmac_tag(mac, &buf[..auth_end], None);
                buf[auth_end..auth_end + HMAC_TAG_LEN].copy_from_slice(&tag[..HMAC_TAG_LEN]);
                Ok(auth_end + HMAC_TAG_LEN)
            }
        }
    }

    /// Verify and decrypt the SRTCP packet `buf` (exactly the packet, length already checked
    /// against the overhead); returns the plain RTCP length.
    fn open_rtcp(&self, buf: &mut [u8], ssrc: u32, e_index: u32) -> Result<usize, SrtpError> {
        let len = buf.len();
        let encrypted = e_index & SRTCP_E_BIT != 0;
        let index = e_index & MAX_SRTCP_INDEX;
        match self {
            Self::Gcm { key, salt } => {
                let nonce = gcm_rtcp_nonce(salt, ssrc, index);
                let ei_at = len - SRTCP_INDEX_LEN;
                let plain_len = ei_at - GCM_TAG_LEN;
                if encrypted {
                    let mut aad = [0u8; RTCP_HEADER_LEN + SRTCP_INDEX_LEN];
                    aad[..RTCP_HEADER_LEN].copy_from_slice(&buf[..RTCP_HEADER_LEN]);
                    aad[RTCP_HEADER_LEN..].copy_from_slice(&e_index.to_be_bytes());
                    key.open_in_place(nonce, Aad::from(&aad), &mut buf[RTCP_HEADER_LEN..ei_at])
                        .map_err(|_| SrtpError::AuthenticationFailed)?;
                } else {
                    // RFC 7714 §9.2, E = 0: everything but the tag is AAD, the plaintext is empty.
                    // Move E|index over the tag so the AAD is contiguous.
                    let tag = Tag::try_from(&buf[plain_len..ei_at])
                        .map_err(|_| SrtpError::AuthenticationFailed)?;
                    buf.copy_within(ei_at..len, plain_len);
                    let (aad, rest) = buf.split_at_mut(plain_len + SRTCP_INDEX_LEN);
                    key.open_in_place_separate_tag(
                        nonce,
                        Aad::from(&*aad),
                        tag,
                        &mut rest[..0],
                        0..,
                    )
                    .map_err(|_| SrtpError::AuthenticationFailed)?;
                }
                Ok(plain_len)
            }
            Self::CmHmac { aes, salt, mac } => {
                let auth_end = len - HMAC_TAG_LEN;
                let tag = hmac_tag(mac, &buf[..auth_end], None);
                if !bool::from(tag[..HMAC_TAG_LEN].ct_eq(&buf[auth_end..])) {
                    return Err(SrtpError::AuthenticationFailed);
                }
                let plain_len = auth_end - SRTCP_INDEX_LEN;
                if encrypted {
                    cm_apply(
                        aes,
                        salt,
                        ssrc,
                        u64::from(index),
                        &mut buf[RTCP_HEADER_LEN..plain_len],
                    );
                }
                Ok(plain_len)
            }
        }
    }
}

/// RFC 7714 §8.1: 12-byte IV = (00 00 || SSRC || ROC || SEQ) XOR salt.
fn gcm_rtp_nonce(salt: &[u8; 12], ssrc: u32, roc: u32, seq: u16) -> Nonce {
    let mut iv = [0u8; 12];
    iv[2..6].copy_from_slice(&ssrc.to_be_bytes());
    iv[6..10].copy_from_slice(&roc.to_be_bytes());
    iv[10..12].copy_from_slice(&seq.to_be_bytes());
    for (b, s) in iv.iter_mut().zip(salt) {
        *b ^= s;
    }
    Nonce::assume_unique_for_key(iv)
}

/// RFC 7714 §9.1: 12-byte IV = (00 00 || SSRC || 00 00 || 0 || SRTCP index) XOR salt.
fn gcm_rtcp_nonce(salt: &[u8; 12], ssrc: u32, index: u32) -> Nonce {
    let mut iv = [0u8; 12];
    iv[2..6].copy_from_slice(&ssrc.to_be_bytes());
    iv[8..12].copy_from_slice(&(index & MAX_SRTCP_INDEX).to_be_bytes());
    for (b, s) in iv.iter_mut().zip(salt) {
        *b ^= s;
    }
    Nonce::assume_unique_for_key(iv)
}

/// RFC 3711 §4.1.1 AES-CM: XOR `data` with the keystream for (SSRC, index).
/// IV = (salt * 2^16) XOR (SSRC * 2^64) XOR (index * 2^16).
fn cm_apply(aes: &Aes128, salt: &[u8; 14], ssrc: u32, index: u64, data: &mut [u8]) {
    let mut iv = [0u8; 16];
    iv[..14].copy_from_slice(salt);
    for (b, x) in iv[4..8].iter_mut().zip(ssrc.to_be_bytes()) {
        *b ^= x;
    }
    // The 48-bit index sits in bytes 8..14.
    for (b, x) in iv[8..14].iter_mut().zip(&index.to_be_bytes()[2..]) {
        *b ^= x;
    }
    let core =
        ctr::CtrCore::<Aes128, ctr::flavors::Ctr128BE>::inner_iv_init(aes.clone(), &iv.into());
    let mut ctr = ctr::Ctr128BE::<Aes128>::from_core(core);
    ctr.apply_keystream(data);
}

/// Full HMAC-SHA1 over `data` (|| ROC for SRTP).
fn hmac_tag(mac: &Hmac<Sha1>, data: &[u8], roc: Option<u32>) -> [u8; 20] {
    let mut mac = mac.clone();
    mac.update(data);
    if let Some(roc) = roc {
        mac.update(&roc.to_be_bytes());
    }
    mac.finalize().into_bytes().into()
}

/// RFC 3711 §4.3 AES-CM PRF with kdr = 0: `out` = AES_k(x || counter) for counter = 0, 1, …,
/// x = master salt (right-padded to 14 bytes) with `label` XORed into byte 7. AES-128 or AES-256
/// by the master key's length (RFC 6188 §7 / RFC 7714 §11).
fn kdf(master_key: &[u8], master_salt: &[u8], label: u8, out: &mut [u8]) -> Result<(), SrtpError> {
    let bad = SrtpError::BadKeyingMaterial {
        expected: 16,
        actual: master_key.len(),
    };
    if master_salt.len() > 14 {
        return Err(bad);
    }
    let mut x = [0u8; 16];
    x[..master_salt.len()].copy_from_slice(master_salt);
    x[7] ^= label;
    match master_key.len() {
        16 => prf_blocks(
            &Aes128::new_from_slice(master_key).map_err(|_| bad)?,
            x,
            out,
        ),
        32 => prf_blocks(
            &Aes256::new_from_slice(master_key).map_err(|_| bad)?,
            x,
            out,
        ),
        _ => return Err(bad),
    }
    Ok(())
}

fn prf_blocks<C: BlockCipherEncrypt<BlockSize = aes::cipher::consts::U16>>(
    aes: &C,
    x: [u8; 16],
    out: &mut [u8],
) {
    for (i, chunk) in out.chunks_mut(16).enumerate() {
        let mut block = x;
        block[14..16].copy_from_slice(&(i as u16).to_be_bytes());
        let mut block = aes::Block::from(block);
        aes.encrypt_block(&mut block);
        chunk.copy_from_slice(&block[..chunk.len()]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("test hex"))
            .collect()
    }

    /// RFC 3711 Appendix B.3 key derivation test vectors.
    #[test]
    fn rfc3711_b3_key_derivation() {
        let key = hex("E1F97A0D3E018BE0D64FA32C06DE4139");
        let salt = hex("0EC675AD498AFEEBB6960B3AABE6");
        let mut cipher_key = [0u8; 16];
        kdf(&key, &salt, LABEL_RTP_KEY, &mut cipher_key).expect("kdf");
        assert_eq!(cipher_key.to_vec(), hex("C61E7A93744F39EE10734AFE3FF7A087"));
        let mut cipher_salt = [0u8; 14];
        kdf(&key, &salt, LABEL_RTP_SALT, &mut cipher_salt).expect("kdf");
        assert_eq!(cipher_salt.to_vec(), hex("30CBBC08863D8C85D49DB34A9AE1"));
        let mut auth_key = [0u8; 20];
        kdf(&key, &salt, LABEL_RTP_AUTH, &mut auth_key).expect("kdf");
        assert_eq!(
            auth_key.to_vec(),
            hex("CEBE321F6FF7716B6FD4AB49AF256A156D38BAA4")
        );
    }

    /// RFC 6188 §7.2: the AES-256 PRF (what AEAD_AES_256_GCM derives its keys with).
    #[test]
    fn rfc6188_7_2_aes256_key_derivation() {
        let key = hex("f0f04914b513f2763a1b1fa130f10e2998f6f6e43e4309d1e622a0e332b9f1b6");
        let salt = hex("3b04803de51ee7c96423ab5b78d2");
        let mut cipher_key = [0u8; 32];
        kdf(&key, &salt, LABEL_RTP_KEY, &mut cipher_key).expect("kdf");
        assert_eq!(
            cipher_key.to_vec(),
            hex("5ba1064e30ec51613cad926c5a28ef731ec7fb397f70a960653caf06554cd8c4")
        );
        let mut cipher_salt = [0u8; 14];
        kdf(&key, &salt, LABEL_RTP_SALT, &mut cipher_salt).expect("kdf");
        assert_eq!(cipher_salt.to_vec(), hex("fa31791685ca444a9e07c6c64e93"));
        let mut auth_key = [0u8; 20];
        kdf(&key, &salt, LABEL_RTP_AUTH, &mut auth_key).expect("kdf");
        assert_eq!(
            auth_key.to_vec(),
            hex("fd9c32d39ed5fbb5a9dc96b30818454d1313dc05")
        );
    }

    /// RFC 3711 Appendix B.2: the AES-CM keystream for SSRC 0, index 0.
    #[test]
    fn rfc3711_b2_aes_cm_keystream() {
        let aes = Aes128::new_from_slice(&hex("2B7E151628AED2A6ABF7158809CF4F3C")).expect("key");
        let salt: [u8; 14] = hex("F0F1F2F3F4F5F6F7F8F9FAFBFCFD")
            .try_into()
            .expect("salt");
        let mut data = [0u8; 48];
        cm_apply(&aes, &salt, 0, 0, &mut data);
        assert_eq!(
            data.to_vec(),
            hex(concat!(
                "E03EAD0935C95E80E166B16DD92B4EB4",
                "D23513162B02D0F72A43A2FE4A5F97AB",
                "41E95B3BB0A2E8DD477901E4FCA894C0"
            ))
        );
    }

    fn gcm_transform(key: &[u8], salt: &str) -> Transform {
        let alg = if key.len() == 16 {
            &aead::AES_128_GCM
        } else {
            &aead::AES_256_GCM
        };
        Transform::Gcm {
            key: LessSafeKey::new(UnboundKey::new(alg, key).expect("key")),
            salt: hex(salt).try_into().expect("salt"),
        }
    }

    /// RFC 7714 §16.1.1 (AES-128) and §16.2.1 (AES-256): SRTP encryption at the session-key
    /// level, SSRC 0x5501a0b2, ROC 0, SEQ 0xf17b.
    #[test]
    fn rfc7714_16_gcm_rtp_vectors() {
        let plain = hex(concat!(
            "8040f17b8041f8d35501a0b2",
            "47616c6c696120657374206f6d6e69732064697669736120696e207061727465732074726573"
        ));
        let cases = [
            (
                hex("000102030405060708090a0b0c0d0e0f"),
                concat!(
                    "8040f17b8041f8d35501a0b2",
                    "f24de3a3fb34de6cacba861c9d7e4bcabe633bd50d294e6f42a5f47a51c7d19b36de",
                    "3adf8833899d7f27beb16a9152cf765ee4390cce"
                ),
            ),
            (
                hex("000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"),
                concat!(
                    "8040f17b8041f8d35501a0b2",
                    "32b1de78a822fe12ef9f78fa332e33aab18012389a58e2f3b50b2a0276ffae0f1ba6",
                    "3799b87b7aa3db36dfffd6b0f9bb7878d7a76c13"
                ),
            ),
        ];
        for (key, expected) in cases {
            let t = gcm_transform(&key, "517569642070726f2071756f");
            let mut buf = plain.clone();
            buf.resize(plain.len() + GCM_TAG_LEN, 0);
            let n = t
                .seal_rtp(&mut buf, 12, plain.len(), 0x5501_a0b2, 0, 0xf17b, 0xf17b)
                .expect("seal");
            assert_eq!(buf[..n].to_vec(), hex(expected));
            let m = t
                .open_rtp(&mut buf[..n], 12, 0x5501_a0b2, 0, 0xf17b, 0xf17b)
                .expect("open");
            assert_eq!(buf[..m].to_vec(), plain);
        }
    }

    /// SRTCP with E = 0 (authenticated, not encrypted) opens for both transforms; flipping the
    /// E bit of an E = 1 packet fails.
    #[test]
    fn srtcp_unencrypted_e0_packets_open() {
        let header_and_body = hex("80c90003cafebabe0102030405060708");
        let len = header_and_body.len();
        let ssrc = 0xcafe_babe;
        let index: u32 = 7;
        let ei = index.to_be_bytes();

        // GCM: everything before the tag is AAD, the plaintext is empty.
        let t = gcm_transform(
            &hex("000102030405060708090a0b0c0d0e0f"),
            "517569642070726f2071756f",
        );
        let Transform::Gcm { key, salt } = &t else {
            unreachable!("built as GCM")
        };
        let mut aad = header_and_body.clone();
        aad.extend_from_slice(&ei);
        let tag = key
            .seal_in_place_separate_tag(gcm_rtcp_nonce(salt, ssrc, index), Aad::from(&aad), &mut [])
            .expect("seal");
        let mut pkt = header_and_body.clone();
        pkt.extend_from_slice(tag.as_ref());
        pkt.extend_from_slice(&ei);
        let mut buf = pkt.clone();
        assert_eq!(t.open_rtcp(&mut buf, ssrc, index), Ok(len));
        assert_eq!(buf[..len], header_and_body[..]);
        let mut buf = pkt.clone();
        assert_eq!(
            t.open_rtcp(&mut buf, ssrc, index | SRTCP_E_BIT),
            Err(SrtpError::AuthenticationFailed)
        );

        // AES-CM: the tag covers header || body || E|index.
        let mut material = hex("E1F97A0D3E018BE0D64FA32C06DE4139");
        material.extend(hex("E1F97A0D3E018BE0D64FA32C06DE4139"));
        material.extend(hex("0EC675AD498AFEEBB6960B3AABE6"));
        material.extend(hex("0EC675AD498AFEEBB6960B3AABE6"));
        let keys = DirectionKeys::derive(
            SrtpProfile::Aes128CmHmacSha1_80,
            &material[..16],
            &material[32..46],
        )
        .expect("keys");
        let Transform::CmHmac { mac, .. } = &keys.rtcp else {
            unreachable!("built as CM")
        };
        let mut pkt = aad.clone();
        let tag = hmac_tag(mac, &pkt, None);
        pkt.extend_from_slice(&tag[..HMAC_TAG_LEN]);
        let mut buf = pkt.clone();
        assert_eq!(keys.rtcp.open_rtcp(&mut buf, ssrc, index), Ok(len));
        assert_eq!(buf[..len], header_and_body[..]);
    }

    #[test]
    fn index_estimation_follows_rfc3711_appendix_a() {
        // No wrap in the middle of the space.
        assert_eq!(estimate_index(1000, 1001), Some(1001));
        assert_eq!(estimate_index(1000, 999), Some(999));
        // Forward across 65535 -> 0.
        assert_eq!(estimate_index(65535, 0), Some(65536));
        assert_eq!(estimate_index(65530, 10), Some(65536 + 10));
        // Late packet from before the wrap.
        assert_eq!(estimate_index(65536 + 3, 65534), Some(65534));
        // Before the first index: no valid guess.
        assert_eq!(estimate_index(3, 65534), None);
        // Past the last index the key may protect.
        assert_eq!(estimate_index(MAX_SRTP_INDEX, 0), None);
    }

    #[test]
    fn replay_window_accepts_new_refuses_seen_and_old() {
        let mut s = RecvState::new(7, 500);
        assert_eq!(
            s.check(7, 500),
            Err(SrtpError::Replayed {
                ssrc: 7,
                index: 500
            })
        );
        assert_eq!(s.check(7, 499), Ok(()));
        s.accept(499);
        assert_eq!(
            s.check(7, 499),
            Err(SrtpError::Replayed {
                ssrc: 7,
                index: 499
            })
        );
        s.accept(700);
        assert_eq!(
            s.check(7, 700 - 128),
            Err(SrtpError::TooOld {
                ssrc: 7,
                index: 572
            })
        );
        assert_eq!(s.check(7, 700 - 127), Ok(()));
        assert_eq!(
            s.check(7, 500),
            Err(SrtpError::TooOld {
                ssrc: 7,
                index: 500
            })
        );
    }

    #[test]
    fn profile_ids_and_lengths() {
        for p in [
            SrtpProfile::AeadAes128Gcm,
            SrtpProfile::AeadAes256Gcm,
            SrtpProfile::Aes128CmHmacSha1_80,
        ] {
            assert_eq!(SrtpProfile::from_dtls_id(p.dtls_id()), Some(p));
        }
        assert_eq!(SrtpProfile::from_dtls_id(0x0002), None);
        assert_eq!(SrtpProfile::AeadAes128Gcm.rtp_overhead(), 16);
        assert_eq!(SrtpProfile::AeadAes128Gcm.rtcp_overhead(), 20);
        assert_eq!(SrtpProfile::Aes128CmHmacSha1_80.rtp_overhead(), 10);
        assert_eq!(SrtpProfile::Aes128CmHmacSha1_80.rtcp_overhead(), 14);
        assert_eq!(SrtpProfile::AeadAes256Gcm.keying_material_len(), 88);
    }
}
