//! STAND-IN, branch `wip-media` only: replaced by the real SFrame context at merge.
//!
//! It has the real context's signatures so that [`crate::media`] compiles and its tests run,
//! but its "AEAD" is a keyed SHA-256 keystream XOR with a keyed SHA-256 tag over
//! `aad || ciphertext`. It is **not** RFC 9605 and not secure; it only keeps the properties the
//! media layer relies on: the header is real, any change to header, metadata, ciphertext or
//! tag fails authentication, counters advance before sealing, replays are refused, and a
//! failed open changes nothing.

use core::fmt;
use core::ops::Range;
use std::collections::BTreeMap;

use sha2::{Digest, Sha256};

use crate::{CipherSuite, Counter, Error, Header, KeyId, MAX_HEADER_LEN};

/// The longest metadata accepted.
const MAX_METADATA_LEN: usize = 1024;

/// Placeholder.
#[derive(Debug)]
pub struct ContextConfig;

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

enum Slot {
    Send {
        key: Vec<u8>,
        next: Option<u64>,
    },
    Recv {
        key: Vec<u8>,
        newest: Option<u64>,
        seen: u64,
    },
}

/// Stand-in SFrame context: keys by KID (see the module docs).
pub struct Context {
    suite: CipherSuite,
    keys: BTreeMap<KeyId, Slot>,
}

impl fmt::Debug for Context {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Context")
            .field("suite", &self.suite)
            .finish_non_exhaustive()
    }
}

fn block(key: &[u8], label: &[u8], ctr: u64, parts: &[&[u8]]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update((key.len() as u64).to_be_bytes());
    h.update(key);
    h.update(label);
    h.update(ctr.to_be_bytes());
    for p in parts {
        h.update((p.len() as u64).to_be_bytes());
        h.update(p);
    }
    h.finalize().into()
}

fn keystream(key: &[u8], ctr: u64, data: &mut [u8]) {
    for (i, chunk) in data.chunks_mut(32).enumerate() {
        let ks = block(key, b"ks", ctr, &[&(i as u64).to_be_bytes()]);
        for (d, k) in chunk.iter_mut().zip(ks) {
            *d ^= k;
        }
    }
}

fn aad_tag(key: &[u8], ctr: u64, header: &[u8], metadata: &[u8], ct: &[u8]) -> [u8; 32] {
    block(key, b"tag", ctr, &[header, metadata, ct])
}

impl Context {
    /// A context with no keys.
    pub fn new(suite: CipherSuite) -> Result<Self, Error> {
        Ok(Self {
            suite,
            keys: BTreeMap::new(),
        })
    }

    fn add(&mut self, kid: KeyId, slot: Slot) -> Result<(), Error> {
        if self.keys.contains_key(&kid) {
            return Err(Error::DuplicateKeyId(kid));
        }
        self.keys.insert(kid, slot);
        Ok(())
    }

    /// Installs a send key.
    pub fn add_send_key(&mut self, kid: KeyId, base_key: &[u8]) -> Result<(), Error> {
        let key = base_key.to_vec();
        self.add(kid, Slot::Send { key, next: Some(0) })
    }

    /// Installs a receive key.
    pub fn add_recv_key(&mut self, kid: KeyId, base_key: &[u8]) -> Result<(), Error> {
        let key = base_key.to_vec();
        self.add(
            kid,
            Slot::Recv {
                key,
                newest: None,
                seen: 0,
            },
        )
    }

    /// The suite.
    pub fn suite(&self) -> CipherSuite {
        self.suite
    }

    /// Longest header plus the tag.
    pub fn max_overhead(&self) -> usize {
        MAX_HEADER_LEN + self.suite.tag_len()
    }

    /// Length of the header the next seal under `kid` writes.
    pub fn header_len(&self, kid: KeyId) -> Result<usize, Error> {
        match self.keys.get(&kid) {
            Some(Slot::Send { next: Some(c), .. }) => {
                Ok(Header::new(kid, Counter(*c)).encoded_len())
            }
            Some(Slot::Send { next: None, .. }) => Err(Error::CounterExhausted(kid)),
            Some(Slot::Recv { .. }) => Err(Error::WrongKeyDirection {
                kid,
                installed: "receive",
                wanted: "send",
                operation: "seal",
            }),
            None => Err(Error::NoSendKey(kid)),
        }
    }

    /// Seals `payload` in place; header right-aligned in `header`, tag in `tag`.
    pub fn seal_detached(
        &mut self,
        kid: KeyId,
        metadata: &[u8],
        header: &mut [u8],
        payload: &mut [u8],
        tag: &mut [u8],
    ) -> Result<usize, Error> {
        if metadata.len() > MAX_METADATA_LEN {
            return Err(Error::MetadataTooLong {
                len: metadata.len(),
                max: MAX_METADATA_LEN,
            });
        }
        let nt = self.suite.tag_len();
        if tag.len() != nt {
            return Err(Error::BufferTooSmall {
                needed: nt,
                have: tag.len(),
            });
        }
        let hlen = self.header_len(kid)?;
        let have = header.len();
        let header = header
            .get_mut(have.saturating_sub(hlen)..)
            .filter(|h| h.len() == hlen)
            .ok_or(Error::BufferTooSmall { needed: hlen, have })?;
        let Some(Slot::Send { key, next }) = self.keys.get_mut(&kid) else {
            return Err(Error::NoSendKey(kid));
        };
        let ctr = next.ok_or(Error::CounterExhausted(kid))?;
        Header::new(kid, Counter(ctr)).encode(header);
        *next = ctr.checked_add(1);
        keystream(key, ctr, payload);
        tag.copy_from_slice(&aad_tag(key, ctr, header, metadata, payload)[..nt]);
        Ok(hlen)
    }

    /// Opens `frame` = header || ct || tag in place.
    pub fn open_in_place(&mut self, metadata: &[u8], frame: &mut [u8]) -> Result<Opened, Error> {
        if metadata.len() > MAX_METADATA_LEN {
            return Err(Error::MetadataTooLong {
                len: metadata.len(),
                max: MAX_METADATA_LEN,
            });
        }
        let (h, hlen) = Header::decode(frame)?;
        let nt = self.suite.tag_len();
        let min = hlen + nt;
        if frame.len() < min {
            return Err(Error::TruncatedCiphertext {
                len: frame.len(),
                min,
            });
        }
        let (key, newest, seen) = match self.keys.get_mut(&h.kid) {
            Some(Slot::Recv { key, newest, seen }) => (key, newest, seen),
            Some(Slot::Send { .. }) => {
                return Err(Error::WrongKeyDirection {
                    kid: h.kid,
                    installed: "send",
                    wanted: "receive",
                    operation: "open",
                });
            }
            None => return Err(Error::UnknownKeyId(h.kid)),
        };
        let ctr = h.ctr.0;
        if let Some(n) = *newest
            && ctr <= n
        {
            {
                let age = n - ctr;
                if age >= 64 {
                    return Err(Error::TooOld {
                        kid: h.kid,
                        ctr: h.ctr,
                        newest: Counter(n),
                    });
                }
                if *seen & (1 << age) != 0 {
                    return Err(Error::Replayed {
                        kid: h.kid,
                        ctr: h.ctr,
                    });
                }
            }
        }
        let len = frame.len();
        let (header, rest) = frame.split_at_mut(hlen);
        let (body, tag) = rest.split_at_mut(len - min);
        let want = aad_tag(key, ctr, header, metadata, body);
        if want[..nt] != *tag {
            return Err(Error::AuthenticationFailed);
        }
        keystream(key, ctr, body);
        match *newest {
            Some(n) if ctr <= n => *seen |= 1 << (n - ctr),
            Some(n) => {
                let shift = ctr - n;
                *seen = if shift >= 64 { 0 } else { *seen << shift };
                *seen |= 1;
                *newest = Some(ctr);
            }
            None => {
                *seen = 1;
                *newest = Some(ctr);
            }
        }
        Ok(Opened {
            kid: h.kid,
            ctr: h.ctr,
            payload: hlen..len - nt,
        })
    }

    /// Seals `plaintext` into `out`; returns the ciphertext length.
    pub fn seal(
        &mut self,
        kid: KeyId,
        metadata: &[u8],
        plaintext: &[u8],
        out: &mut [u8],
    ) -> Result<usize, Error> {
        let hlen = self.header_len(kid)?;
        let (n, nt) = (plaintext.len(), self.suite.tag_len());
        let needed = hlen + n + nt;
        if out.len() < needed {
            return Err(Error::BufferTooSmall {
                needed,
                have: out.len(),
            });
        }
        let (header, rest) = out.split_at_mut(hlen);
        let (body, rest) = rest.split_at_mut(n);
        body.copy_from_slice(plaintext);
        self.seal_detached(kid, metadata, header, body, &mut rest[..nt])?;
        Ok(needed)
    }

    /// Opens `ciphertext` into `out`; the plaintext is at `out[opened.payload]`.
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
