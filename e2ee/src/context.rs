//! STAND-IN for the SFrame `Context` (branch `wip-agreement` only).
//!
//! The real context (RFC 9605 AEAD, replay windows) is written in parallel and replaces this
//! file on merge. This stand-in has the same public signatures and the same error behaviour the
//! session code and its tests rely on: an unknown KID is [`Error::UnknownKeyId`], a frame under
//! another key fails with [`Error::AuthenticationFailed`], a key serves one direction only, and
//! removing a key erases it. Its "cipher" is a SHA-256 keystream with a SHA-256 tag: NOT an
//! AEAD anyone should use; it exists so the key-agreement tests run before the real one lands.

use core::fmt;
use core::ops::Range;
use std::collections::BTreeMap;

use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::crypto::{CryptoProvider, default_provider};
use crate::header::{Header, MAX_HEADER_LEN};
use crate::{CipherSuite, Counter, Error, KeyId};

const TAG_LEN: usize = 16;

/// How a [`Context`] is set up.
#[derive(Debug)]
pub struct ContextConfig {
    /// The cipher suite for every key.
    pub suite: CipherSuite,
    /// The crypto backend.
    pub provider: &'static dyn CryptoProvider,
    /// Receive replay window, in frames.
    pub replay_window: u32,
    /// The most keys installed at once.
    pub max_keys: usize,
}

impl ContextConfig {
    /// Defaults for `suite`.
    pub fn new(suite: CipherSuite) -> Self {
        Self {
            suite,
            provider: default_provider(),
            replay_window: 128,
            max_keys: 256,
        }
    }
}

/// Where an opened frame's payload is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Opened {
    /// Key the frame was sealed under.
    pub kid: KeyId,
    /// The frame's counter.
    pub ctr: Counter,
    /// Payload range within `out`.
    pub payload: Range<usize>,
}

struct Slot {
    send: bool,
    key: Zeroizing<Vec<u8>>,
    next_ctr: u64,
}

/// SFrame keys by KID (stand-in, see the module docs).
pub struct Context {
    suite: CipherSuite,
    max_keys: usize,
    keys: BTreeMap<KeyId, Slot>,
}

impl fmt::Debug for Context {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Context")
            .field("suite", &self.suite)
            .field("kids", &self.keys.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

impl Context {
    /// A context with default configuration.
    pub fn new(suite: CipherSuite) -> Result<Self, Error> {
        Self::with_config(ContextConfig::new(suite))
    }

    /// A context with `cfg`.
    pub fn with_config(cfg: ContextConfig) -> Result<Self, Error> {
        if cfg.max_keys == 0 {
            return Err(Error::InvalidConfig("max_keys must be at least 1"));
        }
        Ok(Self {
            suite: cfg.suite,
            max_keys: cfg.max_keys,
            keys: BTreeMap::new(),
        })
    }

    /// The suite.
    pub fn suite(&self) -> CipherSuite {
        self.suite
    }

    /// Installs a send key.
    pub fn add_send_key(&mut self, kid: KeyId, base_key: &[u8]) -> Result<(), Error> {
        self.add(kid, base_key, true)
    }

    /// Installs a receive key.
    pub fn add_recv_key(&mut self, kid: KeyId, base_key: &[u8]) -> Result<(), Error> {
        self.add(kid, base_key, false)
    }

    fn add(&mut self, kid: KeyId, base_key: &[u8], send: bool) -> Result<(), Error> {
        if base_key.is_empty() {
            return Err(Error::InvalidKeyLength {
                what: "base key",
                expected: 1,
                got: 0,
            });
        }
        if self.keys.contains_key(&kid) {
            return Err(Error::DuplicateKeyId(kid));
        }
        if self.keys.len() >= self.max_keys {
            return Err(Error::InvalidConfig("context key limit reached"));
        }
        let mut h = Sha256::new();
        h.update(b"stand-in key");
        h.update(kid.0.to_be_bytes());
        h.update(base_key);
        let key = Zeroizing::new(h.finalize().to_vec());
        self.keys.insert(
            kid,
            Slot {
                send,
                key,
                next_ctr: 0,
            },
        );
        Ok(())
    }

    /// Removes (and erases) a key; false when none was installed.
    pub fn remove_key(&mut self, kid: KeyId) -> bool {
        self.keys.remove(&kid).is_some()
    }

    /// True when a key is installed under `kid`.
    pub fn contains_key(&self, kid: KeyId) -> bool {
        self.keys.contains_key(&kid)
    }

    /// Most bytes a seal adds.
    pub fn max_overhead(&self) -> usize {
        MAX_HEADER_LEN + TAG_LEN
    }

    /// Seals `plaintext` under `kid` into `out`; returns the bytes written.
    pub fn seal(
        &mut self,
        kid: KeyId,
        metadata: &[u8],
        plaintext: &[u8],
        out: &mut [u8],
    ) -> Result<usize, Error> {
        let slot = self.keys.get_mut(&kid).ok_or(Error::NoSendKey(kid))?;
        if !slot.send {
            return Err(Error::WrongKeyDirection {
                kid,
                installed: "receive",
                wanted: "send",
                operation: "seal",
            });
        }
        let ctr = slot.next_ctr;
        let (hdr, hlen) = Header::new(kid, Counter(ctr)).to_bytes();
        let needed = hlen + plaintext.len() + TAG_LEN;
        if out.len() < needed {
            return Err(Error::BufferTooSmall {
                needed,
                have: out.len(),
            });
        }
        slot.next_ctr = ctr.checked_add(1).ok_or(Error::CounterExhausted(kid))?;
        out[..hlen].copy_from_slice(&hdr[..hlen]);
        let body = &mut out[hlen..hlen + plaintext.len()];
        body.copy_from_slice(plaintext);
        keystream(&slot.key, ctr, body);
        let tag = tag(&slot.key, &hdr[..hlen], metadata, body);
        out[hlen + plaintext.len()..needed].copy_from_slice(&tag);
        Ok(needed)
    }

    /// Opens `ciphertext` into `out`.
    pub fn open(
        &mut self,
        metadata: &[u8],
        ciphertext: &[u8],
        out: &mut [u8],
    ) -> Result<Opened, Error> {
        let (hdr, hlen) = Header::decode(ciphertext)?;
        if ciphertext.len() < hlen + TAG_LEN {
            return Err(Error::TruncatedCiphertext {
                len: ciphertext.len(),
                min: hlen + TAG_LEN,
            });
        }
        let slot = self
            .keys
            .get(&hdr.kid)
            .ok_or(Error::UnknownKeyId(hdr.kid))?;
        if slot.send {
            return Err(Error::WrongKeyDirection {
                kid: hdr.kid,
                installed: "send",
                wanted: "receive",
                operation: "open",
            });
        }
        let body_end = ciphertext.len() - TAG_LEN;
        let body = &ciphertext[hlen..body_end];
        let expect = tag(&slot.key, &ciphertext[..hlen], metadata, body);
        if !bool::from(subtle::ConstantTimeEq::ct_eq(
            &expect[..],
            &ciphertext[body_end..],
        )) {
            return Err(Error::AuthenticationFailed);
        }
        if out.len() < body.len() {
            return Err(Error::BufferTooSmall {
                needed: body.len(),
                have: out.len(),
            });
        }
        out[..body.len()].copy_from_slice(body);
        keystream(&slot.key, hdr.ctr.0, &mut out[..body.len()]);
        Ok(Opened {
            kid: hdr.kid,
            ctr: hdr.ctr,
            payload: 0..body.len(),
        })
    }
}

fn keystream(key: &[u8], ctr: u64, data: &mut [u8]) {
    for (i, chunk) in data.chunks_mut(32).enumerate() {
        let mut h = Sha256::new();
        h.update(key);
        h.update(ctr.to_be_bytes());
        h.update((i as u64).to_be_bytes());
        let block = h.finalize();
        for (d, k) in chunk.iter_mut().zip(block.iter()) {
            *d ^= k;
        }
    }
}

fn tag(key: &[u8], header: &[u8], metadata: &[u8], body: &[u8]) -> [u8; TAG_LEN] {
    let mut h = Sha256::new();
    h.update(b"stand-in tag");
    h.update(key);
    for part in [header, metadata, body] {
        h.update((part.len() as u64).to_be_bytes());
        h.update(part);
    }
    let mut t = [0; TAG_LEN];
    t.copy_from_slice(&h.finalize()[..TAG_LEN]);
    t
}

/// The real context derives its AEAD keys with `key::derive_aead`; this stand-in does not.
/// Referencing it here keeps the dead-code lint quiet until the real context lands.
#[allow(dead_code)]
fn real_context_uses_derive_aead() {
    let _ = crate::key::derive_aead;
}
