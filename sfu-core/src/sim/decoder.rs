//! The virtual decoder: what a subscriber's video receiver would make of the packets it gets,
//! without decoding pixels.
//!
//! Packets are reassembled into frames by sequence number (a frame runs from a packet that
//! starts one, per the VP8 descriptor or the AV1 dependency descriptor, to the packet with the
//! marker bit, all with one timestamp). Frames are decoded in order, like a receiver with a
//! jitter buffer:
//!
//! - A complete frame is **displayed** if it is decodable: a keyframe always is (and sets the
//!   resolution, from the VP8 keyframe header or the AV1 structure); a delta frame is if its
//!   references were decoded since that keyframe. VP8: a T0 frame needs the T0 before it
//!   (TL0PICIDX one lower), a higher frame needs the T0 of its group and, unless it has the
//!   layer-sync bit, the frame one temporal layer down in that group. AV1: every frame the
//!   template's frame diffs point at. Otherwise it is counted **undecodable**.
//! - An incomplete frame (or a hole between frames) holds up later frames until its missing
//!   packets arrive (NACK repair): for at most `jitter_buffer` if the next complete frame can be
//!   decoded without it, else for at most `max_wait`; then it is **abandoned** and decoding
//!   moves on. A complete keyframe later in the buffer ends the wait at once.
//! - A sequence number that never arrives within `gap_timeout` is an **unexplained gap**,
//!   unless it is the engine's one deliberate gap at a layer switch (the packet before it ended
//!   a frame early, without the marker bit, and the packet after it starts a keyframe); the
//!   frame cut short there counts as **cut at switch**, not abandoned.
//! - A hole of which nothing arrived counts as one abandoned frame (the receiver cannot tell
//!   how many frames it held, or whether the engine skipped it).
//! - Timestamps of displayed frames must not go backwards (a repeated timestamp, two frames
//!   of one capture instant, is counted apart); the largest step between two displayed frames
//!   is recorded, so a misaligned layer switch shows. Gaps between displayed frames are
//!   freezes.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::time::{Duration, Instant};

use super::publisher::MediaCodec;
use crate::av1dd::{self, DependencyStructure};
use crate::codec::Vp8Descriptor;
use crate::rtcp::ReportBlock;

/// Largest jump of sequence numbers tracked as individual missing packets.
const MAX_GAP: u64 = 2048;
/// Most packets buffered, and most missing sequence numbers tracked, before the oldest go.
const MAX_BUFFER: usize = 8192;
/// Sequence numbers remembered for classifying gaps.
const RING: usize = 4096;
/// Resolution changes remembered.
const MAX_CHANGES: usize = 1024;

/// Receiver behaviour of a synthetic subscriber.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct ReceiverConfig {
    /// Send NACKs for missing packets.
    pub nack: bool,
    /// Wait before the first NACK of a missing packet (reordering usually fills it).
    pub nack_delay: Duration,
    /// Wait between NACKs of the same packet.
    pub nack_retry: Duration,
    /// NACKs per missing packet before giving up.
    pub max_nacks: u8,
    /// How long an incomplete frame may hold up a complete frame after it that can be decoded
    /// without it (the jitter buffer's delay).
    pub jitter_buffer: Duration,
    /// How long an incomplete frame may hold up the frames after it when they may need it.
    pub max_wait: Duration,
    /// A missing sequence number not received within this is counted as lost.
    pub gap_timeout: Duration,
    /// Interval between keyframe requests (PLI) while the decoder is stuck.
    pub pli_interval: Duration,
    /// A gap between displayed frames longer than this counts as a freeze.
    pub freeze_threshold: Duration,
    /// Interval of receiver reports.
    pub report_interval: Duration,
}

impl Default for ReceiverConfig {
    fn default() -> Self {
        Self {
            nack: true,
            nack_delay: Duration::from_millis(10),
            nack_retry: Duration::from_millis(80),
            max_nacks: 10,
            jitter_buffer: Duration::from_millis(150),
            max_wait: Duration::from_millis(400),
            gap_timeout: Duration::from_secs(2),
            pli_interval: Duration::from_millis(500),
            freeze_threshold: Duration::from_millis(500),
            report_interval: Duration::from_secs(1),
        }
    }
}

/// One packet as the virtual decoder takes it: for a retransmission that came as RTX, the
/// original sequence number and the payload after it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Received<'a> {
    /// Sequence number (the original one for RTX).
    pub seq: u16,
    /// RTP timestamp.
    pub ts: u32,
    /// Marker bit: the packet ends a frame.
    pub marker: bool,
    /// The payload (after the original sequence number for RTX).
    pub payload: &'a [u8],
    /// The dependency descriptor extension's value, if the packet has one.
    pub dependency_descriptor: Option<&'a [u8]>,
    /// It came as RTX.
    pub rtx: bool,
}

/// What a virtual decoder saw. Frame counts are disjoint: every frame that reached the
/// decoder is displayed, undecodable, abandoned or cut at a switch (or still pending).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct DecoderStats {
    /// RTP packets received (RTX included, duplicates included).
    pub packets: u64,
    /// Of those, retransmissions that came as RTX.
    pub rtx_packets: u64,
    /// Packets received twice (or after their frame was done).
    pub duplicates: u64,
    /// Packets whose payload descriptor did not parse.
    pub malformed: u64,
    /// Frames displayed.
    pub frames_displayed: u64,
    /// Of those, keyframes.
    pub keyframes_displayed: u64,
    /// Displayed frames per temporal layer.
    pub frames_by_temporal: [u64; 4],
    /// Complete frames that could not be decoded (a reference was missing, or no keyframe yet).
    pub frames_undecodable: u64,
    /// Incomplete frames given up.
    pub frames_abandoned: u64,
    /// Incomplete frames ended by the engine's deliberate gap at a layer switch.
    pub frames_cut_at_switch: u64,
    /// Missing sequence numbers that arrived later (NACK repair or reordering).
    pub gaps_repaired: u64,
    /// Missing sequence numbers that were the engine's deliberate gap at a layer switch.
    pub gaps_explained: u64,
    /// Missing sequence numbers never received (within `gap_timeout`) and not explained.
    pub gaps_unexplained: u64,
    /// Displayed frames whose timestamp was before the previous displayed frame's.
    pub ts_backwards: u64,
    /// Displayed frames with the same timestamp as the previous displayed frame (two pictures
    /// of one capture instant, e.g. from two layers around a switch).
    pub ts_repeated: u64,
    /// Largest timestamp step between consecutive displayed frames, in 90 kHz ticks.
    pub max_ts_step: u32,
    /// When the first frame was displayed.
    pub first_display: Option<Instant>,
    /// When the last frame was displayed.
    pub last_display: Option<Instant>,
    /// Longest time between two displayed frames.
    pub longest_freeze: Duration,
    /// Gaps between displayed frames longer than the freeze threshold.
    pub freezes: u64,
    /// Resolution of the last displayed frame.
    pub resolution: Option<(u16, u16)>,
    /// Times the displayed resolution changed.
    pub resolution_changes: u64,
    /// Sequence numbers NACKed (each NACK of each number).
    pub nacks_sent: u64,
    /// Keyframe requests sent.
    pub plis_sent: u64,
}

#[derive(Debug, Clone, Copy)]
enum FrameRef {
    Vp8 {
        tid: u8,
        tl0: u8,
        sync: bool,
    },
    Av1 {
        frame_number: u16,
        template: u8,
    },
    /// An Opus packet: a whole frame that needs nothing before it.
    Audio,
}

#[derive(Debug)]
struct Pkt {
    ts: u32,
    marker: bool,
    start: bool,
    key: bool,
    frame: Option<FrameRef>,
    resolution: Option<(u16, u16)>,
    structure: Option<Box<DependencyStructure>>,
}

#[derive(Debug, Clone, Copy)]
struct Missing {
    since: Instant,
    next_nack: Instant,
    tries: u8,
}

#[derive(Debug, Clone, Copy, Default)]
struct Seen {
    seq: u64,
    marker: bool,
    key_start: bool,
    /// A padding-only packet (a probe on the media stream).
    padding: bool,
}

#[derive(Debug)]
enum Refs {
    Vp8 {
        /// TL0PICIDX of the newest decoded T0 frame.
        tl0: u8,
        /// Temporal layers decoded in its group (bit per TID).
        mask: u8,
    },
    Av1 {
        structure: Box<DependencyStructure>,
        decoded: VecDeque<u16>,
    },
    Audio,
}

#[derive(Debug)]
struct Epoch {
    resolution: (u16, u16),
    refs: Refs,
}

enum Walk {
    Complete(u64),
    Missing(u64),
    Cut(u64),
    NotStart,
}

/// One received video stream's reassembly, decodability check and NACK list. See the
/// module documentation for the rules.
#[derive(Debug)]
pub struct VirtualDecoder {
    codec: MediaCodec,
    config: ReceiverConfig,
    epoch_time: Instant,
    packets: BTreeMap<u64, Pkt>,
    /// Sequence numbers filled by padding-only packets, skipped when walking frames.
    fillers: BTreeSet<u64>,
    key_starts: BTreeSet<u64>,
    max_seq: Option<u64>,
    missing: BTreeMap<u64, Missing>,
    seen: Box<[Seen]>,
    next_seq: Option<u64>,
    epoch: Option<Epoch>,
    want_key: bool,
    blocked_until: Option<Instant>,
    last_ts: Option<u32>,
    abandoned_ts: Option<u32>,
    av1_structure: Option<DependencyStructure>,
    stats: DecoderStats,
    by_resolution: Vec<((u16, u16), u64)>,
    changes: Vec<(Instant, (u16, u16))>,
    // Reception statistics for receiver reports (RFC 3550 A.3, A.8).
    base_seq: Option<u64>,
    received: u64,
    expected_prior: u64,
    received_prior: u64,
    jitter_q4: u64,
    last_transit: Option<i64>,
}

impl VirtualDecoder {
    /// A decoder for a stream of `codec`; `epoch` is any fixed instant (for jitter).
    pub fn new(codec: MediaCodec, config: ReceiverConfig, epoch: Instant) -> Self {
        Self {
            codec,
            config,
            epoch_time: epoch,
            packets: BTreeMap::new(),
            fillers: BTreeSet::new(),
            key_starts: BTreeSet::new(),
            max_seq: None,
            missing: BTreeMap::new(),
            seen: vec![
                Seen {
                    seq: u64::MAX,
                    ..Seen::default()
                };
                RING
            ]
            .into_boxed_slice(),
            next_seq: None,
            epoch: None,
            want_key: false,
            blocked_until: None,
            last_ts: None,
            abandoned_ts: None,
            av1_structure: None,
            stats: DecoderStats::default(),
            by_resolution: Vec::new(),
            changes: Vec::new(),
            base_seq: None,
            received: 0,
            expected_prior: 0,
            received_prior: 0,
            jitter_q4: 0,
            last_transit: None,
        }
    }

    /// Counters so far.
    pub fn stats(&self) -> DecoderStats {
        self.stats
    }

    /// Frames displayed at `width` x `height`.
    pub fn frames_at(&self, width: u16, height: u16) -> u64 {
        self.by_resolution
            .iter()
            .find(|(r, _)| *r == (width, height))
            .map_or(0, |(_, n)| *n)
    }

    /// When the displayed resolution changed, and to what (the first 1024 changes).
    pub fn resolution_changes(&self) -> &[(Instant, (u16, u16))] {
        &self.changes
    }

    /// How long the picture has been frozen at `now` (since the last displayed frame).
    pub fn current_freeze(&self, now: Instant) -> Option<Duration> {
        self.stats
            .last_display
            .map(|t| now.saturating_duration_since(t))
    }

    /// True while the decoder cannot go on without a keyframe.
    pub fn wants_keyframe(&self) -> bool {
        self.want_key
    }

    /// Records that a keyframe request was sent.
    pub fn note_pli(&mut self) {
        self.stats.plis_sent += 1;
    }

    fn extend(&self, seq: u16) -> u64 {
        match self.max_seq {
            None => (1 << 32) + u64::from(seq),
            Some(max) => (max as i64 + i64::from(seq.wrapping_sub(max as u16) as i16)) as u64,
        }
    }

    /// One received packet of the stream (RTX already unwrapped).
    pub fn on_packet(&mut self, now: Instant, packet: Received<'_>) {
        let Received {
            seq,
            ts,
            marker,
            payload,
            dependency_descriptor: dd,
            rtx,
        } = packet;
        self.stats.packets += 1;
        if rtx {
            self.stats.rtx_packets += 1;
        }
        let ext = self.extend(seq);
        let newest = match self.max_seq {
            None => {
                self.base_seq = Some(ext);
                true
            }
            Some(max) if ext > max => {
                let gap = ext - max - 1;
                if gap > MAX_GAP {
                    self.stats.gaps_unexplained += gap;
                } else {
                    for s in max + 1..ext {
                        self.missing.insert(
                            s,
                            Missing {
                                since: now,
                                next_nack: now + self.config.nack_delay,
                                tries: 0,
                            },
                        );
                    }
                    while self.missing.len() > MAX_BUFFER {
                        if let Some((s, _)) = self.missing.pop_first() {
                            self.resolve_gap(s);
                        }
                    }
                }
                true
            }
            Some(_) => {
                if self.missing.remove(&ext).is_some() {
                    self.stats.gaps_repaired += 1;
                } else {
                    self.stats.duplicates += 1;
                    return;
                }
                false
            }
        };
        if newest {
            self.max_seq = Some(ext);
        }
        self.received += 1;
        // Padding only counts for its sequence number: a real receiver (libwebrtc) updates
        // the jitter only when the timestamp moves, and padding repeats the last one.
        if newest && !rtx && !payload.is_empty() {
            let arrival = now.saturating_duration_since(self.epoch_time).as_micros() as i64;
            let transit = arrival * 90 / 1000 - i64::from(ts);
            if let Some(prev) = self.last_transit {
                let d = (transit - prev).unsigned_abs();
                self.jitter_q4 = self.jitter_q4 + d - (self.jitter_q4 >> 4);
            }
            self.last_transit = Some(transit);
        }

        if payload.is_empty() {
            // Padding only: it fills its sequence number (the engine sends it in place of a
            // packet of a filtered frame) and carries no media.
            self.seen[(ext % RING as u64) as usize] = Seen {
                seq: ext,
                marker,
                key_start: false,
                padding: true,
            };
            if self.next_seq.is_none_or(|n| ext >= n) && self.fillers.len() < MAX_BUFFER {
                self.fillers.insert(ext);
            }
            self.process(now);
            return;
        }
        let Some(pkt) = self.describe(ts, marker, payload, dd) else {
            self.stats.malformed += 1;
            return;
        };
        self.seen[(ext % RING as u64) as usize] = Seen {
            seq: ext,
            marker,
            key_start: pkt.key,
            padding: false,
        };
        if self.next_seq.is_some_and(|n| ext < n) {
            // Its frame was already decoded or given up.
            return;
        }
        if pkt.key {
            self.key_starts.insert(ext);
        }
        self.packets.insert(ext, pkt);
        while self.packets.len() > MAX_BUFFER {
            let Some((&first, _)) = self.packets.first_key_value() else {
                break;
            };
            let next = self.next_start_after(first).unwrap_or(first + 1);
            self.abandon(first, next, false);
            self.next_seq = Some(next);
        }
        self.process(now);
    }

    fn describe(
        &mut self,
        ts: u32,
        marker: bool,
        payload: &[u8],
        dd: Option<&[u8]>,
    ) -> Option<Pkt> {
        let mut p = Pkt {
            ts,
            marker,
            start: false,
            key: false,
            frame: None,
            resolution: None,
            structure: None,
        };
        match self.codec {
            MediaCodec::Vp8 => {
                let d = Vp8Descriptor::parse(payload).ok()?;
                p.start = d.start_of_partition && d.partition_id == 0;
                if p.start {
                    p.key = d.keyframe && d.dimensions.is_some();
                    p.resolution = d.dimensions;
                    p.frame = Some(FrameRef::Vp8 {
                        tid: d.tid.map_or(0, |t| t.0),
                        tl0: d.tl0_pic_idx.map_or(0, |t| t.0),
                        sync: d.layer_sync,
                    });
                }
            }
            MediaCodec::Av1 => {
                let dd = dd?;
                if dd.len() < 3 {
                    return None;
                }
                p.start = dd[0] & 0x80 != 0;
                let template = dd[0] & 0x3f;
                let frame_number = u16::from_be_bytes([dd[1], dd[2]]);
                if dd.len() > 3 {
                    let info = av1dd::parse(dd, &mut self.av1_structure).ok()?;
                    if info.new_structure
                        && let Some(s) = self.av1_structure.as_ref()
                    {
                        p.resolution = s.resolutions.map(|r| r[usize::from(info.spatial_id)]);
                        p.structure = Some(Box::new(s.clone()));
                    }
                }
                p.key = p.start && p.structure.is_some();
                if p.start {
                    p.frame = Some(FrameRef::Av1 {
                        frame_number,
                        template,
                    });
                }
            }
            MediaCodec::Opus => {
                // Every packet is a frame of its own ("displayed" = played out).
                p.start = true;
                p.key = true;
                p.marker = true;
                p.frame = Some(FrameRef::Audio);
            }
        }
        Some(p)
    }

    fn next_start_after(&self, seq: u64) -> Option<u64> {
        self.packets
            .range(seq + 1..)
            .find(|(_, p)| p.start)
            .map(|(s, _)| *s)
    }

    fn walk(&self, s: u64) -> Walk {
        let Some(first) = self.packets.get(&s) else {
            return Walk::Missing(s);
        };
        if !first.start {
            return Walk::NotStart;
        }
        let mut q = s;
        loop {
            let Some(p) = self.packets.get(&q) else {
                return Walk::Missing(q);
            };
            if q != s && (p.start || p.ts != first.ts) {
                return Walk::Cut(q);
            }
            if p.marker {
                return Walk::Complete(q);
            }
            q += 1;
        }
    }

    /// Drops the packets in `[from, to)` and counts the frames they held as abandoned (or one
    /// as cut at a switch).
    fn abandon(&mut self, from: u64, to: u64, cut_at_switch: bool) {
        // The frame at `from` (missing, or a remainder whose start never came) plus every frame
        // that starts in the range.
        let mut frames = match self.packets.get(&from) {
            None => 1,
            Some(p) if !p.start && self.abandoned_ts != Some(p.ts) => 1,
            Some(_) => 0,
        };
        let mut last_ts = None;
        for (_, p) in self.packets.range(from..to) {
            frames += u64::from(p.start);
            last_ts = Some(p.ts);
        }
        if let Some(ts) = last_ts {
            self.abandoned_ts = Some(ts);
        }
        if cut_at_switch && frames > 0 {
            self.stats.frames_cut_at_switch += 1;
            frames -= 1;
        }
        self.stats.frames_abandoned += frames;
        self.remove_below(to);
    }

    fn remove_below(&mut self, to: u64) {
        self.packets = self.packets.split_off(&to);
        self.key_starts = self.key_starts.split_off(&to);
        self.fillers = self.fillers.split_off(&to);
    }

    /// Decodes forward from `next_seq` as far as the buffer allows.
    fn process(&mut self, now: Instant) {
        self.blocked_until = None;
        loop {
            if let Some(ns) = self.next_seq
                && self.fillers.remove(&ns)
            {
                self.next_seq = Some(ns + 1);
                continue;
            }
            let Some(ns) = self.next_seq else {
                if let Some(&k) = self.key_starts.first() {
                    // Whatever came before the first keyframe cannot be decoded.
                    let before = self.packets.range(..k).filter(|(_, p)| p.start).count();
                    self.stats.frames_undecodable += before as u64;
                    self.remove_below(k);
                    self.next_seq = Some(k);
                    continue;
                }
                if self.packets.values().any(|p| p.start) {
                    self.want_key = true;
                }
                return;
            };
            match self.walk(ns) {
                Walk::Complete(end) => {
                    self.decode(ns, end, now);
                    self.next_seq = Some(end + 1);
                }
                Walk::Cut(q) => {
                    self.abandon(ns, q, false);
                    self.next_seq = Some(q);
                }
                Walk::NotStart => {
                    let next = self.next_start_after(ns);
                    let to = next.unwrap_or(self.max_seq.map_or(ns, |m| m + 1));
                    self.abandon(ns, to, false);
                    self.next_seq = Some(to);
                    if next.is_none() {
                        return;
                    }
                }
                Walk::Missing(m) => {
                    if self.max_seq.is_none_or(|max| m > max) {
                        return; // the rest of the frame is still on its way
                    }
                    if self.jump_to_keyframe(ns) {
                        continue;
                    }
                    // Wait for the repair: briefly (the jitter buffer) if the next complete
                    // frame does not need what is missing, up to `max_wait` if it might.
                    let next_ok = self.next_start_after(m).is_some_and(|k| {
                        matches!(self.walk(k), Walk::Complete(_)) && self.decodable(k)
                    });
                    let wait = if next_ok {
                        self.config.jitter_buffer.min(self.config.max_wait)
                    } else {
                        self.config.max_wait
                    };
                    let deadline = self.missing.get(&m).map(|x| x.since + wait);
                    if let Some(d) = deadline
                        && now < d
                    {
                        self.blocked_until = Some(d);
                        return;
                    }
                    // Waited long enough: give the frame up.
                    let next = self.next_start_after(m);
                    let to = next.unwrap_or(self.max_seq.map_or(m, |x| x + 1));
                    self.abandon(ns, to, false);
                    self.next_seq = Some(to);
                    if next.is_none() {
                        return;
                    }
                }
            }
        }
    }

    /// If a complete keyframe follows `ns`, skips to it. True if it did.
    fn jump_to_keyframe(&mut self, ns: u64) -> bool {
        let Some(k) = self
            .key_starts
            .range(ns + 1..)
            .copied()
            .find(|&k| matches!(self.walk(k), Walk::Complete(_)))
        else {
            return false;
        };
        // The engine's deliberate gap: one number missing right before the keyframe, after a
        // packet that ended a frame early.
        let cut = k >= 2
            && !self.packets.contains_key(&(k - 1))
            && self
                .packets
                .get(&(k - 2))
                .is_some_and(|p| !p.marker && k - 2 >= ns);
        self.abandon(ns, k, cut);
        self.next_seq = Some(k);
        true
    }

    /// Whether a delta frame's references were decoded (keyframes need none), and its TID.
    fn refs_ok(&self, frame: FrameRef) -> (bool, u8) {
        let Some(epoch) = self.epoch.as_ref() else {
            return (false, 0);
        };
        match (&epoch.refs, frame) {
            (Refs::Vp8 { tl0: last, mask }, FrameRef::Vp8 { tid, tl0, sync }) => {
                let ok = if tid == 0 {
                    tl0 == last.wrapping_add(1)
                } else {
                    tl0 == *last && (sync || tid < 2 || mask & (1 << (tid - 1)) != 0)
                };
                (ok, tid)
            }
            (
                Refs::Av1 { structure, decoded },
                FrameRef::Av1 {
                    frame_number,
                    template,
                },
            ) => {
                let idx = usize::from((template + 64 - structure.template_id_offset) % 64);
                if idx >= usize::from(structure.templates) {
                    return (false, 0);
                }
                let diffs = &structure.fdiffs[idx][..usize::from(structure.fdiff_count[idx])];
                let ok = diffs
                    .iter()
                    .all(|d| decoded.contains(&frame_number.wrapping_sub(u16::from(*d))));
                (ok, structure.temporal[idx])
            }
            _ => (false, 0),
        }
    }

    /// Whether the complete frame starting at `start` could be decoded now.
    fn decodable(&self, start: u64) -> bool {
        self.packets
            .get(&start)
            .is_some_and(|p| p.key || p.frame.is_some_and(|f| self.refs_ok(f).0))
    }

    fn decode(&mut self, start: u64, end: u64, now: Instant) {
        let Some(first) = self.packets.get_mut(&start) else {
            return;
        };
        let (ts, key, frame, resolution) = (first.ts, first.key, first.frame, first.resolution);
        let structure = first.structure.take();
        self.remove_below(end + 1);
        let Some(frame) = frame else { return };
        if key {
            let refs = match (frame, structure) {
                (FrameRef::Vp8 { tl0, .. }, _) => Refs::Vp8 { tl0, mask: 1 },
                (FrameRef::Av1 { frame_number, .. }, Some(s)) => Refs::Av1 {
                    structure: s,
                    decoded: VecDeque::from([frame_number]),
                },
                (FrameRef::Av1 { .. }, None) => return,
                (FrameRef::Audio, _) => Refs::Audio,
            };
            let resolution = resolution.unwrap_or((0, 0));
            self.epoch = Some(Epoch { resolution, refs });
            self.want_key = false;
            self.stats.keyframes_displayed += 1;
            self.display(now, ts, resolution, 0);
            return;
        }
        let (ok, tid) = self.refs_ok(frame);
        let Some(epoch) = self.epoch.as_mut().filter(|_| ok) else {
            self.stats.frames_undecodable += 1;
            if tid == 0 || self.epoch.is_none() {
                self.want_key = true;
            }
            return;
        };
        match (&mut epoch.refs, frame) {
            (Refs::Vp8 { tl0: last, mask }, FrameRef::Vp8 { tid, tl0, .. }) => {
                if tid == 0 {
                    *last = tl0;
                    *mask = 1;
                } else {
                    *mask |= 1 << tid.min(7);
                }
            }
            (Refs::Av1 { decoded, .. }, FrameRef::Av1 { frame_number, .. }) => {
                if decoded.len() == 32 {
                    decoded.pop_front();
                }
                decoded.push_back(frame_number);
            }
            _ => {}
        }
        let res = epoch.resolution;
        self.display(now, ts, res, tid);
    }

    fn display(&mut self, now: Instant, ts: u32, resolution: (u16, u16), tid: u8) {
        let s = &mut self.stats;
        s.frames_displayed += 1;
        s.frames_by_temporal[usize::from(tid.min(3))] += 1;
        if let Some(last) = self.last_ts {
            let step = ts.wrapping_sub(last) as i32;
            if step < 0 {
                s.ts_backwards += 1;
            } else if step == 0 {
                s.ts_repeated += 1;
            } else {
                s.max_ts_step = s.max_ts_step.max(step as u32);
            }
        }
        self.last_ts = Some(ts);
        match s.last_display {
            Some(last) => {
                let gap = now.saturating_duration_since(last);
                s.longest_freeze = s.longest_freeze.max(gap);
                if gap > self.config.freeze_threshold {
                    s.freezes += 1;
                }
            }
            None => s.first_display = Some(now),
        }
        s.last_display = Some(now);
        if s.resolution != Some(resolution) {
            if s.resolution.is_some() {
                s.resolution_changes += 1;
            }
            s.resolution = Some(resolution);
            if self.changes.len() < MAX_CHANGES {
                self.changes.push((now, resolution));
            }
        }
        match self
            .by_resolution
            .iter_mut()
            .find(|(r, _)| *r == resolution)
        {
            Some((_, n)) => *n += 1,
            None => self.by_resolution.push((resolution, 1)),
        }
    }

    /// Classifies a missing number given up on.
    fn resolve_gap(&mut self, seq: u64) {
        let get = |s: u64| {
            let e = self.seen[(s % RING as u64) as usize];
            (e.seq == s).then_some(e)
        };
        // The engine's one deliberate gap: the rest of a frame cut at a switch or pause, then
        // the keyframe it resumes at, possibly after probe padding sent while paused
        // (`Forwarder::take_padding`: one number skipped, then the padding, then the keyframe).
        let mut next = seq + 1;
        while get(next).is_some_and(|e| e.padding) && next - seq < RING as u64 {
            next += 1;
        }
        let cut = seq > 0
            && get(seq - 1).is_some_and(|e| !e.marker && !e.padding)
            && get(next).is_some_and(|e| e.key_start);
        // A padding packet lost inside a probe's run of padding, which the decoder moved past
        // at the next keyframe (a stream paused for bandwidth is padded, then resumes at a
        // keyframe): no media was in it.
        let padding = seq > 0
            && get(seq - 1).is_some_and(|e| e.padding)
            && next > seq + 1
            && self.next_seq.is_some_and(|n| n > seq);
        let deliberate = cut || padding;
        if deliberate {
            self.stats.gaps_explained += 1;
        } else {
            self.stats.gaps_unexplained += 1;
        }
    }

    /// Sequence numbers due for a NACK at `now`, appended to `out`.
    pub fn poll_nacks(&mut self, now: Instant, out: &mut Vec<u16>) {
        if !self.config.nack {
            return;
        }
        let floor = self.next_seq.unwrap_or(0);
        for (&seq, m) in self.missing.range_mut(floor..) {
            if m.tries < self.config.max_nacks && m.next_nack <= now {
                out.push(seq as u16);
                m.tries += 1;
                m.next_nack = now + self.config.nack_retry;
                self.stats.nacks_sent += 1;
            }
        }
    }

    /// Gives up old gaps and frames whose wait is over.
    pub fn handle_timeout(&mut self, now: Instant) {
        let timeout = self.config.gap_timeout;
        while let Some((&seq, m)) = self.missing.first_key_value() {
            if now < m.since + timeout {
                break;
            }
            self.missing.remove(&seq);
            self.resolve_gap(seq);
        }
        self.process(now);
    }

    /// When [`VirtualDecoder::handle_timeout`] or [`VirtualDecoder::poll_nacks`] next has work.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let floor = self.next_seq.unwrap_or(0);
        let nack = if self.config.nack {
            self.missing
                .range(floor..)
                .filter(|(_, m)| m.tries < self.config.max_nacks)
                .map(|(_, m)| m.next_nack)
                .min()
        } else {
            None
        };
        let gap = self
            .missing
            .first_key_value()
            .map(|(_, m)| m.since + self.config.gap_timeout);
        [nack, gap, self.blocked_until].into_iter().flatten().min()
    }

    /// A reception report block for the stream as `ssrc`, given the last sender report
    /// (NTP time and when it arrived). Resets the interval counters.
    pub fn report_block(
        &mut self,
        ssrc: u32,
        now: Instant,
        last_sr: Option<(u64, Instant)>,
    ) -> Option<ReportBlock> {
        let (base, max) = (self.base_seq?, self.max_seq?);
        let expected = max - base + 1;
        let lost = expected as i64 - self.received as i64;
        let expected_interval = expected - self.expected_prior;
        let received_interval = self.received - self.received_prior;
        self.expected_prior = expected;
        self.received_prior = self.received;
        let lost_interval = expected_interval as i64 - received_interval as i64;
        let fraction_lost = if expected_interval == 0 || lost_interval <= 0 {
            0
        } else {
            ((lost_interval << 8) / expected_interval as i64).min(255) as u8
        };
        let (lsr, dlsr) = match last_sr {
            Some((ntp, at)) => {
                let d = now.saturating_duration_since(at);
                (
                    (ntp >> 16) as u32,
                    (d.as_micros() as u64 * 65_536 / 1_000_000) as u32,
                )
            }
            None => (0, 0),
        };
        Some(ReportBlock {
            ssrc,
            fraction_lost,
            cumulative_lost: lost.clamp(-0x80_0000, 0x7f_ffff) as i32,
            extended_highest_seq: max as u32,
            jitter: (self.jitter_q4 >> 4) as u32,
            last_sr: lsr,
            delay_since_last_sr: dlsr,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::ExtensionIds;
    use crate::rtp::RtpPacket;
    use crate::sim::publisher::{LayerConfig, Publisher, PublisherConfig};
    use crate::sim::rng::SimRng;

    const FRAME: Duration = Duration::from_nanos(33_333_333);

    fn t0() -> Instant {
        #[allow(clippy::disallowed_methods)]
        Instant::now()
    }

    /// `n` frames of one layer, each a list of RTP packets.
    fn frames(cfg: PublisherConfig, layer: LayerConfig, n: usize, seed: u64) -> Vec<Vec<Vec<u8>>> {
        let start = t0();
        let ids = ExtensionIds {
            dependency_descriptor: Some(12),
            ..ExtensionIds::default()
        };
        let cfg = cfg.with_layers(vec![layer]).with_keyframe_interval(None);
        let mut p = Publisher::new(cfg, 1, ids, SimRng::new(seed), start, 0);
        let mut out: Vec<Vec<Vec<u8>>> = vec![];
        let mut last_ts = None;
        while out.len() < n || out.len() == n && p.poll_timeout().is_none() {
            let t = p.poll_timeout().unwrap();
            p.handle_timeout(t);
            while let Some(d) = p.poll_transmit() {
                if crate::rtp::is_rtcp(&d) {
                    continue;
                }
                let ts = RtpPacket::parse(&d).unwrap().timestamp();
                if last_ts != Some(ts) {
                    out.push(vec![]);
                    last_ts = Some(ts);
                }
                out.last_mut().unwrap().push(d);
            }
        }
        out.truncate(n);
        out
    }

    fn hd() -> LayerConfig {
        LayerConfig::new(1280, 720, 1_500_000)
    }

    fn feed(
        d: &mut VirtualDecoder,
        at: Instant,
        pkt: &[u8],
        seq: Option<u16>,
        ts: Option<u32>,
        rtx: bool,
    ) {
        let r = RtpPacket::parse(pkt).unwrap();
        d.on_packet(
            at,
            Received {
                seq: seq.unwrap_or(r.sequence_number()),
                ts: ts.unwrap_or(r.timestamp()),
                marker: r.marker(),
                payload: r.payload(),
                dependency_descriptor: r.extension(12),
                rtx,
            },
        );
    }

    /// Feeds frame `f` at `start + f * FRAME`, skipping the packets `drop` rejects, then runs
    /// timers to `start + end`.
    fn play(
        d: &mut VirtualDecoder,
        start: Instant,
        frames: &[Vec<Vec<u8>>],
        drop: impl Fn(usize, usize) -> bool,
    ) {
        for (f, pkts) in frames.iter().enumerate() {
            let at = start + FRAME * f as u32;
            if d.poll_timeout().is_some_and(|t| t <= at) {
                d.handle_timeout(at);
            }
            for (k, p) in pkts.iter().enumerate() {
                if !drop(f, k) {
                    feed(d, at, p, None, None, false);
                }
            }
        }
        d.handle_timeout(start + FRAME * frames.len() as u32 + Duration::from_secs(3));
    }

    #[test]
    fn displays_every_frame_of_a_clean_stream() {
        for cfg in [PublisherConfig::vp8(), PublisherConfig::av1()] {
            let fs = frames(cfg.clone(), hd(), 60, 1);
            assert!(fs[0].len() > 10 && fs[1].len() > 2, "multi-packet frames");
            let start = t0();
            let mut d = VirtualDecoder::new(cfg.codec, ReceiverConfig::default(), start);
            play(&mut d, start, &fs, |_, _| false);
            let s = d.stats();
            assert_eq!(s.frames_displayed, 60, "{:?}", cfg.codec);
            assert_eq!(
                (
                    s.keyframes_displayed,
                    s.frames_by_temporal[0],
                    s.frames_by_temporal[2]
                ),
                (1, 15, 30)
            );
            assert_eq!(s.resolution, Some((1280, 720)));
            assert_eq!(d.frames_at(1280, 720), 60);
            assert_eq!(
                s.frames_undecodable + s.frames_abandoned + s.gaps_unexplained + s.ts_backwards,
                0
            );
            assert_eq!(s.max_ts_step, 3000);
            assert!(s.longest_freeze <= FRAME + Duration::from_micros(1));
            assert!(!d.wants_keyframe());
        }
    }

    #[test]
    fn a_lost_non_reference_frame_is_skipped_and_its_numbers_count_as_unexplained() {
        let fs = frames(PublisherConfig::vp8(), hd(), 40, 2);
        let start = t0();
        let mut d = VirtualDecoder::new(MediaCodec::Vp8, ReceiverConfig::default(), start);
        // Frame 5 is a T2 (pattern T0 T2 T1 T2 from the keyframe); it never arrives.
        let lost = fs[5].len() as u64;
        let mut nacked = vec![];
        for (f, pkts) in fs.iter().enumerate() {
            let at = start + FRAME * f as u32;
            if d.poll_timeout().is_some_and(|t| t <= at) {
                d.handle_timeout(at);
            }
            d.poll_nacks(at, &mut nacked);
            for p in pkts {
                if f != 5 {
                    feed(&mut d, at, p, None, None, false);
                }
            }
        }
        d.handle_timeout(start + Duration::from_secs(5));
        let s = d.stats();
        assert_eq!(
            (s.frames_displayed, s.frames_abandoned, s.frames_undecodable),
            (39, 1, 0)
        );
        assert_eq!(s.gaps_unexplained, lost);
        assert_eq!(s.gaps_explained + s.gaps_repaired, 0);
        // The missing numbers were NACKed; the wait was the jitter buffer, not max_wait.
        let first = RtpPacket::parse(&fs[5][0]).unwrap().sequence_number();
        assert!(nacked.contains(&first));
        assert!(
            s.longest_freeze < Duration::from_millis(250),
            "{:?}",
            s.longest_freeze
        );
    }

    #[test]
    fn a_lost_reference_breaks_the_chain_until_a_keyframe() {
        for cfg in [PublisherConfig::vp8(), PublisherConfig::av1()] {
            let fs = frames(cfg.clone(), hd(), 40, 3);
            // T1 at frame 6: the T2 after it (frame 7) needs it, the T0 at 8 does not.
            let start = t0();
            let mut d = VirtualDecoder::new(cfg.codec, ReceiverConfig::default(), start);
            play(&mut d, start, &fs, |f, _| f == 6);
            let s = d.stats();
            assert_eq!(
                (s.frames_displayed, s.frames_abandoned, s.frames_undecodable),
                (38, 1, 1),
                "{:?}",
                cfg.codec
            );
            assert!(!d.wants_keyframe(), "a lost T1 does not need a keyframe");
            // A T0 (frame 4) lost: nothing decodes until a keyframe.
            let mut d = VirtualDecoder::new(cfg.codec, ReceiverConfig::default(), start);
            play(&mut d, start, &fs, |f, _| f == 4);
            let s = d.stats();
            assert_eq!(
                (s.frames_displayed, s.frames_abandoned, s.frames_undecodable),
                (4, 1, 35)
            );
            assert!(d.wants_keyframe());
        }
    }

    #[test]
    fn a_late_repair_completes_its_frame() {
        let fs = frames(PublisherConfig::vp8(), hd(), 30, 4);
        let start = t0();
        let mut d = VirtualDecoder::new(MediaCodec::Vp8, ReceiverConfig::default(), start);
        // The middle packet of T0 frame 8 arrives 90 ms late, as RTX.
        let (f, k) = (8, fs[8].len() / 2);
        for (i, pkts) in fs.iter().enumerate() {
            let at = start + FRAME * i as u32;
            for (j, p) in pkts.iter().enumerate() {
                if (i, j) != (f, k) {
                    feed(&mut d, at, p, None, None, false);
                }
            }
            if i == f + 2 {
                feed(
                    &mut d,
                    at + Duration::from_millis(23),
                    &fs[f][k],
                    None,
                    None,
                    true,
                );
            }
        }
        d.handle_timeout(start + Duration::from_secs(5));
        let s = d.stats();
        assert_eq!(
            (s.frames_displayed, s.gaps_repaired, s.rtx_packets),
            (30, 1, 1)
        );
        assert_eq!(s.frames_abandoned + s.gaps_unexplained, 0);
        // Frames 9 and 10 waited for 8: frame 7 to frame 8 took 3 frame times + 23 ms.
        assert_eq!(s.longest_freeze, FRAME * 3 + Duration::from_millis(23));
        assert_eq!(s.freezes, 0);
    }

    /// What the engine sends at a switch from a 180p to a 360p layer: 180p frames 0-9, the
    /// first packet of frame 10 (cut short, or the whole frame if `cut` is false), then one
    /// skipped number, then the 360p stream from its keyframe, timestamps continuing.
    fn switch(cut: bool) -> DecoderStats {
        let low = frames(
            PublisherConfig::vp8(),
            LayerConfig::new(320, 180, 600_000),
            11,
            5,
        );
        let high = frames(
            PublisherConfig::vp8(),
            LayerConfig::new(640, 360, 1_500_000),
            10,
            6,
        );
        let start = t0();
        let mut d = VirtualDecoder::new(MediaCodec::Vp8, ReceiverConfig::default(), start);
        let mut seq = 100u16;
        let out = |d: &mut VirtualDecoder, at: Instant, p: &[u8], ts: u32, seq: &mut u16| {
            feed(d, at, p, Some(*seq), Some(ts), false);
            *seq += 1;
        };
        for (f, pkts) in low.iter().enumerate() {
            let at = start + FRAME * f as u32;
            let n = if f == 10 && cut { 1 } else { pkts.len() };
            assert!(pkts.len() > 1);
            for p in &pkts[..n] {
                out(&mut d, at, p, 9000 + 3000 * f as u32, &mut seq);
            }
        }
        seq += 1; // the deliberate gap
        for (f, pkts) in high.iter().enumerate() {
            let at = start + FRAME * (f + 11) as u32;
            for p in pkts {
                out(&mut d, at, p, 9000 + 3000 * (f + 11) as u32, &mut seq);
            }
        }
        d.handle_timeout(start + Duration::from_secs(5));
        assert_eq!(d.frames_at(320, 180), 10 + u64::from(!cut));
        assert_eq!(d.frames_at(640, 360), 10);
        d.stats()
    }

    #[test]
    fn the_engines_deliberate_gap_after_a_cut_frame_is_explained_and_no_other() {
        let s = switch(true);
        assert_eq!((s.frames_cut_at_switch, s.frames_abandoned), (1, 0));
        assert_eq!((s.gaps_explained, s.gaps_unexplained), (1, 0));
        assert_eq!((s.resolution, s.resolution_changes), (Some((640, 360)), 1));
        assert!(s.longest_freeze < Duration::from_millis(70));
        // The same gap after a complete frame is loss, not the engine's rule.
        let s = switch(false);
        assert_eq!(
            (s.frames_cut_at_switch, s.gaps_explained, s.gaps_unexplained),
            (0, 0, 1)
        );
    }

    #[test]
    fn arbitrary_packets_never_panic_and_keep_the_books_bounded() {
        let start = t0();
        for codec in [MediaCodec::Vp8, MediaCodec::Av1] {
            let mut rng = SimRng::new(99);
            let mut d = VirtualDecoder::new(codec, ReceiverConfig::default(), start);
            let real = frames(PublisherConfig::vp8(), hd(), 20, 8);
            let mut now = start;
            let mut seq = 0u16;
            let mut nacks = vec![];
            for i in 0..20_000u32 {
                now += Duration::from_micros(rng.below(3000));
                // Mostly nearby numbers, sometimes far jumps; payloads random, sometimes a
                // real VP8 packet's.
                seq = seq.wrapping_add(match rng.below(10) {
                    0 => rng.next_u32() as u16,
                    1..=3 => (rng.below(7) as u16).wrapping_sub(3),
                    _ => 1,
                });
                let mut payload = vec![0u8; rng.below(40) as usize];
                rng.fill(&mut payload);
                if rng.chance(0.3) {
                    let f = &real[rng.below(20) as usize];
                    let r = RtpPacket::parse(&f[rng.below(f.len() as u64) as usize]).unwrap();
                    payload = r.payload().to_vec();
                }
                let mut dd = vec![0u8; rng.below(24) as usize];
                rng.fill(&mut dd);
                d.on_packet(
                    now,
                    Received {
                        seq,
                        ts: rng.next_u32() >> rng.below(32),
                        marker: rng.chance(0.3),
                        payload: &payload,
                        dependency_descriptor: rng.chance(0.9).then_some(&dd[..]),
                        rtx: rng.chance(0.1),
                    },
                );
                if i % 16 == 0 {
                    d.handle_timeout(now);
                    nacks.clear();
                    d.poll_nacks(now, &mut nacks);
                    let _ = d.report_block(1, now, Some((0, now)));
                }
                assert!(d.packets.len() <= MAX_BUFFER && d.missing.len() <= MAX_BUFFER);
            }
            let s = d.stats();
            assert_eq!(s.packets, 20_000);
        }
    }

    #[test]
    fn receiver_report_counts_loss_and_echoes_the_sender_report() {
        let fs = frames(PublisherConfig::vp8(), hd(), 10, 7);
        let start = t0();
        let mut d = VirtualDecoder::new(MediaCodec::Vp8, ReceiverConfig::default(), start);
        let total: usize = fs.iter().map(Vec::len).sum();
        play(&mut d, start, &fs, |f, k| f == 3 && k == 0);
        let sr_at = start + Duration::from_millis(200);
        let b = d
            .report_block(
                77,
                sr_at + Duration::from_millis(500),
                Some((0x1234_5678_9abc_def0, sr_at)),
            )
            .unwrap();
        assert_eq!(b.ssrc, 77);
        assert_eq!(b.cumulative_lost, 1);
        assert_eq!(b.fraction_lost, (256 / total) as u8);
        assert_eq!(b.last_sr, 0x5678_9abc);
        assert_eq!(b.delay_since_last_sr, 65_536 / 2);
    }
}
