//! The SFrame context: keys by KID, counters, replay windows, seal and open.

use core::fmt;
use core::ops::Range;
use std::collections::BTreeMap;

use zeroize::Zeroizing;

use crate::crypto::{self, AeadKey, CryptoProvider, SuiteProvider};
use crate::header::{Header, MAX_HEADER_LEN};
use crate::key::derive_aead;
use crate::replay::ReplayWindow;
use crate::suite::NONCE_LEN;
use crate::{CipherSuite, Counter, Error, KeyId};

/// The longest metadata (or clear prefix) a seal or open accepts. The AAD is built in a stack
/// buffer of this size plus the header, so no frame allocates.
pub const MAX_METADATA_LEN: usize = 1024;

/// How a [`Context`] is set up.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ContextConfig {
    /// The suite every key in the context uses (one per context, as in RFC 9605 App. A).
    pub suite: CipherSuite,
    /// The crypto backend.
    pub provider: &'static dyn CryptoProvider,
    /// Receive replay window per KID, in counters (1-65536). Frames up to this far behind the
    /// newest one accepted under the same key still open, once each. Default 1024: a sender key
    /// serves all of a sender's tracks and layers, so its counters interleave across streams
    /// that the network delays differently.
    pub replay_window: u32,
    /// The most keys (send and receive) the context holds at once. Default 1024.
    pub max_keys: usize,
}

impl ContextConfig {
    /// Defaults for `suite` with the default backend.
    pub fn new(suite: CipherSuite) -> Self {
        Self {
            suite,
            provider: crypto::default_provider(),
            replay_window: 1024,
            max_keys: 1024,
        }
    }
}

/// What an open found.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Opened {
    /// The key that opened the frame.
    pub kid: KeyId,
    /// The frame's counter.
    pub ctr: Counter,
    /// Where the plaintext is, in the buffer the open wrote to.
    pub payload: Range<usize>,
}

struct SendKey {
    aead: Box<dyn AeadKey>,
    salt: Zeroizing<[u8; NONCE_LEN]>,
    /// The counter the next seal uses; `None` once `u64::MAX` was used.
    next: Option<u64>,
}

struct RecvKey {
    aead: Box<dyn AeadKey>,
    salt: Zeroizing<[u8; NONCE_LEN]>,
    window: ReplayWindow,
}

enum Slot {
    Send(SendKey),
    Recv(RecvKey),
}

/// An SFrame context (RFC 9605 §4.4): the keys of one call member, by KID.
///
/// Each KID maps to a send key or a receive key, never both (§4.4.1). A send key carries the
/// next counter, which a seal consumes before it encrypts, so no (key, counter) pair is ever
/// used twice, even when a seal fails half way. A receive key carries a [`ReplayWindow`].
///
/// # Seal and open
///
/// - [`Context::seal`] / [`Context::open`] copy between the caller's input and output slices.
/// - [`Context::seal_in_place`] / [`Context::open_in_place`] work inside one buffer: the
///   caller keeps [`MAX_HEADER_LEN`] bytes of headroom before the payload and a tag's room
///   after it, and no byte of the payload moves.
/// - [`Context::seal_detached`] takes header, payload and tag as separate slices; the media
///   layer ([`crate::media`]) builds the clear-prefix layout on it.
///
/// None of them allocates. A buffer that is too small gives [`Error::BufferTooSmall`] with
/// the size needed, before any state changes. An open screens the header and replay window
/// read-only, decrypts, and records the counter only once the tag verified.
pub struct Context {
    suite: &'static dyn SuiteProvider,
    provider: &'static str,
    config: ContextConfig,
    keys: BTreeMap<KeyId, Slot>,
}

impl fmt::Debug for Context {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Context")
            .field("suite", &self.config.suite)
            .field("provider", &self.provider)
            .field("keys", &self.keys.len())
            .finish_non_exhaustive()
    }
}

fn nonce(salt: &[u8; NONCE_LEN], ctr: u64) -> [u8; NONCE_LEN] {
    let mut n = *salt;
    for (b, c) in n[NONCE_LEN - 8..].iter_mut().zip(ctr.to_be_bytes()) {
        *b ^= c;
    }
    n
}

/// `header || metadata`, built in a stack buffer. Only called with metadata: without it the
/// AAD is the header itself, and no buffer is touched (zeroing 1 KiB per frame measurably
/// slowed 1200-byte frames).
fn aad_with_metadata(
    header: &[u8],
    metadata: &[u8],
) -> ([u8; MAX_HEADER_LEN + MAX_METADATA_LEN], usize) {
    let mut scratch = [0u8; MAX_HEADER_LEN + MAX_METADATA_LEN];
    let n = header.len() + metadata.len();
    scratch[..header.len()].copy_from_slice(header);
    scratch[header.len()..n].copy_from_slice(metadata);
    (scratch, n)
}

fn check_metadata(metadata: &[u8]) -> Result<(), Error> {
    if metadata.len() > MAX_METADATA_LEN {
        return Err(Error::MetadataTooLong {
            len: metadata.len(),
            max: MAX_METADATA_LEN,
        });
    }
    Ok(())
}

impl Context {
    /// A context for `suite` with the default backend and defaults.
    pub fn new(suite: CipherSuite) -> Result<Self, Error> {
        Self::with_config(ContextConfig::new(suite))
    }

    /// A context from a full configuration.
    pub fn with_config(config: ContextConfig) -> Result<Self, Error> {
        // Validate the window size once here, so every later key install succeeds on it.
        ReplayWindow::new(config.replay_window)?;
        if config.max_keys == 0 {
            return Err(Error::InvalidConfig("max_keys must be at least 1"));
        }
        let suite = crypto::suite_provider(config.provider, config.suite)?;
        Ok(Self {
            suite,
            provider: config.provider.name(),
            config,
            keys: BTreeMap::new(),
        })
    }

    /// The context's suite.
    pub fn suite(&self) -> CipherSuite {
        self.config.suite
    }

    /// The context's configuration.
    pub fn config(&self) -> &ContextConfig {
        &self.config
    }

    /// The most bytes a seal adds: the longest header plus the tag.
    pub fn max_overhead(&self) -> usize {
        MAX_HEADER_LEN + self.config.suite.tag_len()
    }

    /// Number of keys installed.
    pub fn key_count(&self) -> usize {
        self.keys.len()
    }

    /// Installs a send key under `kid`; its counter starts at 0.
    pub fn add_send_key(&mut self, kid: KeyId, base_key: &[u8]) -> Result<(), Error> {
        self.add_send_key_at(kid, base_key, Counter(0))
    }

    /// Installs a send key whose next counter is `next`: for a context restored from storage,
    /// which must have stored the counter before using it (§9.1).
    pub fn add_send_key_at(
        &mut self,
        kid: KeyId,
        base_key: &[u8],
        next: Counter,
    ) -> Result<(), Error> {
        self.check_room(kid)?;
        let (aead, salt) = derive_aead(self.suite, kid, base_key)?;
        self.keys.insert(
            kid,
            Slot::Send(SendKey {
                aead,
                salt,
                next: Some(next.0),
            }),
        );
        Ok(())
    }

    /// Installs a receive key under `kid`, with a fresh replay window.
    pub fn add_recv_key(&mut self, kid: KeyId, base_key: &[u8]) -> Result<(), Error> {
        self.check_room(kid)?;
        let (aead, salt) = derive_aead(self.suite, kid, base_key)?;
        let window = ReplayWindow::new(self.config.replay_window)?;
        self.keys
            .insert(kid, Slot::Recv(RecvKey { aead, salt, window }));
        Ok(())
    }

    fn check_room(&self, kid: KeyId) -> Result<(), Error> {
        if self.keys.contains_key(&kid) {
            return Err(Error::DuplicateKeyId(kid));
        }
        if self.keys.len() >= self.config.max_keys {
            return Err(Error::TooManyKeys {
                max: self.config.max_keys,
            });
        }
        Ok(())
    }

    /// Removes the key under `kid` and erases it. Returns whether one was there.
    pub fn remove_key(&mut self, kid: KeyId) -> bool {
        self.keys.remove(&kid).is_some()
    }

    /// Whether a key (of either direction) is installed under `kid`.
    pub fn contains_key(&self, kid: KeyId) -> bool {
        self.keys.contains_key(&kid)
    }

    /// The counter the next seal under `kid` will use (`None` if `kid` is no send key, or its
    /// counter is exhausted).
    pub fn next_counter(&self, kid: KeyId) -> Option<Counter> {
        match self.keys.get(&kid) {
            Some(Slot::Send(k)) => k.next.map(Counter),
            _ => None,
        }
    }

    fn send_key(&mut self, kid: KeyId) -> Result<&mut SendKey, Error> {
        match self.keys.get_mut(&kid) {
            Some(Slot::Send(k)) => Ok(k),
            Some(Slot::Recv(_)) => Err(Error::WrongKeyDirection {
                kid,
                installed: "receive",
                wanted: "send",
                operation: "seal",
            }),
            None => Err(Error::NoSendKey(kid)),
        }
    }

    /// Length of the header the next seal under `kid` writes (1-17 bytes).
    pub fn header_len(&self, kid: KeyId) -> Result<usize, Error> {
        match self.keys.get(&kid) {
            Some(Slot::Send(k)) => {
                let ctr = k.next.ok_or(Error::CounterExhausted(kid))?;
                Ok(Header::new(kid, Counter(ctr)).encoded_len())
            }
            Some(Slot::Recv(_)) => Err(Error::WrongKeyDirection {
                kid,
                installed: "receive",
                wanted: "send",
                operation: "seal",
            }),
            None => Err(Error::NoSendKey(kid)),
        }
    }

    /// Seals `payload` in place under `kid`.
    ///
    /// The header is written right-aligned into `header` (which needs at least
    /// [`Context::header_len`] bytes; pass the headroom just before the payload and the header
    /// lands adjacent to it). The tag goes to the first `Nt` bytes of `tag`. AAD is
    /// `header || metadata`. Returns the header length.
    pub fn seal_detached(
        &mut self,
        kid: KeyId,
        metadata: &[u8],
        header: &mut [u8],
        payload: &mut [u8],
        tag: &mut [u8],
    ) -> Result<usize, Error> {
        check_metadata(metadata)?;
        let nt = self.config.suite.tag_len();
        if tag.len() < nt {
            return Err(Error::BufferTooSmall {
                needed: nt,
                have: tag.len(),
            });
        }
        let k = self.send_key(kid)?;
        let ctr = k.next.ok_or(Error::CounterExhausted(kid))?;
        let h = Header::new(kid, Counter(ctr));
        let hlen = h.encoded_len();
        let hstart = header
            .len()
            .checked_sub(hlen)
            .ok_or(Error::BufferTooSmall {
                needed: hlen,
                have: header.len(),
            })?;
        let header = &mut header[hstart..];
        // `header` is exactly `hlen` bytes, the header's encoded length.
        h.encode(header).ok_or(Error::BufferTooSmall {
            needed: hlen,
            have: header.len(),
        })?;
        // Consume the counter before encrypting: it is never used twice, whatever happens next.
        k.next = ctr.checked_add(1);
        let scratch;
        let aad: &[u8] = if metadata.is_empty() {
            header
        } else {
            let (buf, n) = aad_with_metadata(header, metadata);
            scratch = buf;
            &scratch[..n]
        };
        k.aead
            .seal_in_place(&nonce(&k.salt, ctr), aad, payload, &mut tag[..nt])?;
        Ok(hlen)
    }

    /// Seals `buf[payload]` in place: the header goes just before it (so
    /// `payload.start >= header_len(kid)`; [`MAX_HEADER_LEN`] always suffices), the tag just after
    /// it (so `buf.len() >= payload.end + Nt`). Returns the range of the whole ciphertext.
    pub fn seal_in_place(
        &mut self,
        kid: KeyId,
        metadata: &[u8],
        buf: &mut [u8],
        payload: Range<usize>,
    ) -> Result<Range<usize>, Error> {
        let nt = self.config.suite.tag_len();
        let end = payload.end.checked_add(nt).ok_or(Error::BufferTooSmall {
            needed: usize::MAX,
            have: buf.len(),
        })?;
        if payload.start > payload.end || end > buf.len() {
            return Err(Error::BufferTooSmall {
                needed: end.max(payload.start),
                have: buf.len(),
            });
        }
        let (header, rest) = buf.split_at_mut(payload.start);
        let (body, tag) = rest.split_at_mut(payload.end - payload.start);
        let hlen = self.seal_detached(kid, metadata, header, body, &mut tag[..nt])?;
        Ok(payload.start - hlen..end)
    }

    /// Seals `plaintext` under `kid` into `out` (which needs `plaintext.len() + header + Nt`
    /// bytes; [`Context::max_overhead`] bounds header + tag). Returns the ciphertext length.
    pub fn seal(
        &mut self,
        kid: KeyId,
        metadata: &[u8],
        plaintext: &[u8],
        out: &mut [u8],
    ) -> Result<usize, Error> {
        let hlen = self.header_len(kid)?;
        let needed = hlen + plaintext.len() + self.config.suite.tag_len();
        if out.len() < needed {
            return Err(Error::BufferTooSmall {
                needed,
                have: out.len(),
            });
        }
        out[hlen..hlen + plaintext.len()].copy_from_slice(plaintext);
        let r = self.seal_in_place(
            kid,
            metadata,
            &mut out[..needed],
            hlen..hlen + plaintext.len(),
        )?;
        Ok(r.end)
    }

    /// Opens `frame` (`header || ciphertext || tag`) in place; the plaintext is left at
    /// `frame[opened.payload]`. On any error no key, counter or window changes.
    pub fn open_in_place(&mut self, metadata: &[u8], frame: &mut [u8]) -> Result<Opened, Error> {
        check_metadata(metadata)?;
        let (h, hlen) = Header::decode(frame)?;
        let nt = self.config.suite.tag_len();
        let min = hlen + nt;
        if frame.len() < min {
            return Err(Error::TruncatedCiphertext {
                len: frame.len(),
                min,
            });
        }
        let k = match self.keys.get_mut(&h.kid) {
            Some(Slot::Recv(k)) => k,
            Some(Slot::Send(_)) => {
                return Err(Error::WrongKeyDirection {
                    kid: h.kid,
                    installed: "send",
                    wanted: "receive",
                    operation: "open",
                });
            }
            None => return Err(Error::UnknownKeyId(h.kid)),
        };
        k.window.check_frame(h.kid, h.ctr)?;
        let len = frame.len();
        let (header, rest) = frame.split_at_mut(hlen);
        let (body, tag) = rest.split_at_mut(len - min);
        let scratch;
        let aad: &[u8] = if metadata.is_empty() {
            header
        } else {
            let (buf, n) = aad_with_metadata(header, metadata);
            scratch = buf;
            &scratch[..n]
        };
        k.aead
            .open_in_place(&nonce(&k.salt, h.ctr.0), aad, body, tag)?;
        k.window.record(h.ctr.0);
        Ok(Opened {
            kid: h.kid,
            ctr: h.ctr,
            payload: hlen..len - nt,
        })
    }

    /// Opens `ciphertext` into `out` (which needs `ciphertext.len()` bytes); the plaintext is at
    /// `out[opened.payload]`. On any error no key, counter or window changes.
    pub fn open(
        &mut self,
        metadata: &[u8],
        ciphertext: &[u8],
        out: &mut [u8],
    ) -> Result<Opened, Error> {
        let have = out.len();
        let out = out
            .get_mut(..ciphertext.len())
            .ok_or(Error::BufferTooSmall {
                needed: ciphertext.len(),
                have,
            })?;
        out.copy_from_slice(ciphertext);
        self.open_in_place(metadata, out)
    }
}
