//! The packet store: every received media packet is copied once into a preallocated ring of
//! slots; forwards and retransmissions refer to it by (slot, generation). A slot is reused
//! after the ring wraps, which bumps its generation, so a stale reference is detected instead
//! of sending the wrong bytes.

/// Largest packet the store keeps (bytes). Larger datagrams are dropped and counted.
pub(crate) const MAX_PACKET: usize = 1500;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SlotRef {
    pub(crate) index: u32,
    pub(crate) generation: u32,
}

/// What was parsed from a stored packet, so sending a copy needs no second parse.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct SlotMeta {
    /// Payload offset and length (padding excluded).
    pub(crate) payload: (u16, u16),
    /// The RFC 6464 audio level byte, if the packet carried one.
    pub(crate) audio_level: Option<u8>,
    /// Offset and length of the dependency descriptor value, if present.
    pub(crate) dd: Option<(u16, u16)>,
    /// Where a VP8 packet's picture ID and TL0PICIDX sit in the payload.
    pub(crate) vp8: Option<Vp8Offsets>,
}

/// Offsets (from the payload start) of the VP8 descriptor fields the forwarder rewrites.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Vp8Offsets {
    pub(crate) picture_id: u16,
    pub(crate) long_picture_id: bool,
    pub(crate) tl0: Option<u16>,
}

/// Per-slot bookkeeping, kept together so a lookup touches one entry.
#[derive(Debug, Clone, Copy, Default)]
struct SlotHeader {
    generation: u32,
    len: u16,
    meta: SlotMeta,
}

#[derive(Debug)]
pub(crate) struct PacketStore {
    data: Box<[u8]>,
    slots: Box<[SlotHeader]>,
    next: usize,
}

impl PacketStore {
    pub(crate) fn new(slots: usize) -> Self {
        let slots = slots.max(16);
        Self {
            data: vec![0; slots * MAX_PACKET].into_boxed_slice(),
            slots: vec![SlotHeader::default(); slots].into_boxed_slice(),
            next: 0,
        }
    }

    /// Copies `packet` into the next slot (the oldest is overwritten). `None` if too large.
    pub(crate) fn insert(&mut self, packet: &[u8], meta: SlotMeta) -> Option<SlotRef> {
        if packet.len() > MAX_PACKET {
            return None;
        }
        let i = self.next;
        self.next = if i + 1 == self.slots.len() { 0 } else { i + 1 };
        let h = self.slots.get_mut(i)?;
        // Generation 0 is never handed out: it marks an empty send-history entry.
        h.generation = h.generation.wrapping_add(1).max(1);
        h.len = packet.len() as u16;
        h.meta = meta;
        let generation = h.generation;
        self.data[i * MAX_PACKET..i * MAX_PACKET + packet.len()].copy_from_slice(packet);
        Some(SlotRef {
            index: i as u32,
            generation,
        })
    }

    /// The packet behind `r`, if its slot has not been reused since.
    #[inline]
    pub(crate) fn get(&self, r: SlotRef) -> Option<(&[u8], &SlotMeta)> {
        let i = r.index as usize;
        let h = self.slots.get(i)?;
        if h.generation != r.generation {
            return None;
        }
        let data = self
            .data
            .get(i * MAX_PACKET..i * MAX_PACKET + usize::from(h.len))?;
        Some((data, &h.meta))
    }
}

/// What a subscriber was sent under one outgoing sequence number (`rewrite.seq`), for
/// answering its NACKs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Sent {
    pub(crate) slot: SlotRef,
    pub(crate) rewrite: Rewrite,
}

/// The per-subscriber rewrite of one forwarded packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Rewrite {
    pub(crate) seq: u16,
    pub(crate) ts: u32,
    pub(crate) marker: bool,
    /// VP8 picture ID and TL0PICIDX to write, if rewritten (`None` when they go out as they
    /// came in).
    pub(crate) vp8: Option<(u16, Option<u8>)>,
    /// Send a padding-only packet under this number instead of the media (the packet it was
    /// reserved for turned out to be filtered).
    pub(crate) pad: bool,
}

/// A fixed-size history of what one subscription sent, indexed by outgoing sequence number.
/// An entry is one plain store (no `Option`): a slot generation of 0 never names a stored
/// packet (generations start at 1), so it marks an empty entry.
#[derive(Debug)]
pub(crate) struct SendHistory {
    entries: Box<[Sent]>,
    /// When each entry was last retransmitted: (sequence number, ms since the engine's epoch).
    /// Touched only by retransmissions, never by the forwarding path.
    resent: Box<[(u16, u32)]>,
    mask: usize,
}

impl SendHistory {
    /// A history of at least `len` entries (rounded up to a power of two, so an index is a
    /// mask; at most 65536, the sequence-number space).
    pub(crate) fn new(len: usize) -> Self {
        let len = len.clamp(16, 65536).next_power_of_two();
        let empty = Sent {
            slot: SlotRef {
                index: 0,
                generation: 0,
            },
            rewrite: Rewrite::default(),
        };
        Self {
            entries: vec![empty; len].into_boxed_slice(),
            resent: vec![(0, u32::MAX); len].into_boxed_slice(),
            mask: len - 1,
        }
    }

    #[inline]
    pub(crate) fn record(&mut self, s: Sent) {
        let i = usize::from(s.rewrite.seq) & self.mask;
        if let Some(e) = self.entries.get_mut(i) {
            *e = s;
        }
    }

    /// Whether `out_seq` may be retransmitted at `now_ms` (ms since the epoch): not if it was
    /// retransmitted less than `min_interval_ms` ago (the receiver's repeated NACKs while the
    /// first repair is still on its way). Records the retransmission when it may.
    pub(crate) fn may_resend(&mut self, out_seq: u16, now_ms: u32, min_interval_ms: u32) -> bool {
        let Some(r) = self.resent.get_mut(usize::from(out_seq) & self.mask) else {
            return false;
        };
        if r.0 == out_seq && r.1 != u32::MAX && now_ms.wrapping_sub(r.1) < min_interval_ms {
            return false;
        }
        *r = (out_seq, now_ms);
        true
    }

    /// Forgets what was sent as `out_seq` (it never left: a NACK for it is a miss).
    pub(crate) fn forget(&mut self, out_seq: u16) {
        if let Some(e) = self.entries.get_mut(usize::from(out_seq) & self.mask)
            && e.rewrite.seq == out_seq
        {
            e.slot.generation = 0;
        }
    }

    pub(crate) fn lookup(&self, out_seq: u16) -> Option<Sent> {
        self.entries
            .get(usize::from(out_seq) & self.mask)
            .copied()
            .filter(|s| s.rewrite.seq == out_seq && s.slot.generation != 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stale_slots_are_detected() {
        let mut s = PacketStore::new(16);
        let m = SlotMeta::default();
        let a = s.insert(b"first", m).unwrap();
        assert_eq!(s.get(a), Some((&b"first"[..], &m)));
        for _ in 0..16 {
            s.insert(b"x", m).unwrap();
        }
        assert_eq!(s.get(a), None);
        assert!(s.insert(&[0; MAX_PACKET + 1], m).is_none());
    }

    #[test]
    fn history_keeps_the_latest_per_index() {
        let mut h = SendHistory::new(16);
        let slot = SlotRef {
            index: 0,
            generation: 1,
        };
        let rw = |seq| Rewrite {
            seq,
            ..Rewrite::default()
        };
        assert_eq!(h.lookup(0), None, "an empty entry is no packet");
        h.record(Sent {
            slot,
            rewrite: rw(3),
        });
        assert_eq!(h.lookup(3).unwrap().rewrite.seq, 3);
        h.record(Sent {
            slot,
            rewrite: rw(19),
        });
        assert_eq!(h.lookup(3), None);
        assert_eq!(h.lookup(19).unwrap().rewrite.seq, 19);
    }
}
