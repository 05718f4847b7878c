//! One subscription's forwarding decision and header rewrite.
//!
//! The forwarder sees every packet of the subscribed track (all simulcast layers) and decides
//! per packet: forward (with the rewrite to apply) or drop (with the reason). It switches
//! spatial layers only at a keyframe of the target layer, keeps the outgoing sequence numbers
//! continuous across switches and drops (leaving one deliberate gap when the previous layer's
//! frame was cut short, so the decoder discards it), maps timestamps across layers using the
//! publishers' sender reports, and keeps VP8 picture IDs and TL0PICIDX continuous.
//!
//! It also hands out numbers for padding-only packets the engine sends on the media stream
//! (bandwidth probes toward a subscriber without RTX, see [`Forwarder::take_padding`]): a
//! padding packet takes the next outgoing number and the media after it moves up by one, so
//! the subscriber sees one unbroken sequence of media and padding.

use std::collections::VecDeque;
use std::time::Instant;

use super::store::Rewrite;
use super::{DropReason, LayerPreference};

/// What the engine learned about one incoming media packet.
#[derive(Debug, Clone, Copy)]
pub(crate) struct PacketInfo {
    pub(crate) ext_seq: u64,
    pub(crate) ts: u32,
    pub(crate) marker: bool,
    pub(crate) spatial: u8,
    pub(crate) temporal: u8,
    /// The packet starts a frame.
    pub(crate) frame_start: bool,
    /// The packet starts a keyframe (decodable without earlier frames of its layer).
    pub(crate) keyframe: bool,
    pub(crate) padding_only: bool,
    /// VP8 picture ID and TL0PICIDX, for VP8 packets.
    pub(crate) vp8: Option<Vp8Ids>,
    /// `rtp - ntp_ticks` of this layer's last sender report, for cross-layer alignment.
    pub(crate) layer_base: Option<u32>,
    pub(crate) arrival: Instant,
}

/// The VP8 descriptor fields the forwarder keeps continuous.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Vp8Ids {
    /// Picture ID and whether it is in the 15-bit form.
    pub(crate) picture_id: Option<(u16, bool)>,
    pub(crate) tl0: Option<u8>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    Forward { rewrite: Rewrite, switched: bool },
    Drop(DropReason),
}

/// Most sequence-offset breakpoints kept for late (retransmitted) packets.
const BREAKPOINTS: usize = 256;

#[derive(Debug)]
pub(crate) struct Forwarder {
    clock_rate: u32,
    /// An audio stream: never padded (see [`Forwarder::take_padding`]).
    audio: bool,
    pub(crate) current: Option<u8>,
    pub(crate) target: u8,
    pub(crate) max_temporal: u8,
    /// Temporal ceiling actually applied; moves up only at a TL0 frame start.
    applied_temporal: u8,
    pub(crate) paused: bool,
    last_in: Option<u64>,
    /// (first input ext seq, offset) pairs: out = in + offset (mod 2^16).
    breakpoints: VecDeque<(u64, i64)>,
    /// The newest breakpoint's offset (0 before the first): what in-order packets use.
    offset: i64,
    /// The layer forwarded before the last switch, so its repairs still fill the numbers
    /// reserved for them: (spatial, last input ext seq, ts, picture-ID and TL0PICIDX offsets).
    prev: Option<(u8, u64, u32, u16, u8)>,
    /// That layer's breakpoints (swapped with `breakpoints` at a switch: no allocation).
    prev_breakpoints: VecDeque<(u64, i64)>,
    last_out_seq: Option<u64>,
    ts_offset: u32,
    last_out_ts: u32,
    last_out_at: Option<Instant>,
    last_base: Option<u32>,
    picid_offset: u16,
    tl0_offset: u8,
    last_out_picid: Option<u16>,
    last_out_tl0: Option<u8>,
    /// The last forwarded packet ended a frame.
    last_marker: bool,
    /// Timestamp of the packet numbered `last_out_seq` (what a padding packet after it
    /// carries).
    last_seq_ts: u32,
    /// Current frame is being dropped (temporal filtering decides per frame).
    dropping_frame: bool,
    /// Timestamp of the frame `dropping_frame` was decided for.
    frame_ts: Option<u32>,
}

impl Forwarder {
    pub(crate) fn new(clock_rate: u32, audio: bool) -> Self {
        Self {
            clock_rate,
            audio,
            current: if audio { Some(0) } else { None },
            target: 0,
            max_temporal: u8::MAX,
            applied_temporal: u8::MAX,
            paused: false,
            last_in: None,
            breakpoints: VecDeque::with_capacity(BREAKPOINTS),
            offset: 0,
            prev: None,
            prev_breakpoints: VecDeque::with_capacity(BREAKPOINTS),
            last_out_seq: None,
            ts_offset: 0,
            last_out_ts: 0,
            last_out_at: None,
            last_base: None,
            picid_offset: 0,
            tl0_offset: 0,
            last_out_picid: None,
            last_out_tl0: None,
            last_marker: true,
            last_seq_ts: 0,
            dropping_frame: false,
            frame_ts: None,
        }
    }

    /// Takes the next outgoing sequence number for a padding-only packet on the media stream
    /// (a bandwidth probe toward a subscriber that negotiated no RTX) and returns it with the
    /// timestamp to send it under. The packet is accounted for in the numbering: media
    /// forwarded after it continues with the number after it (no gap, no duplicate), and media
    /// late from the publisher (repairs) still takes the numbers reserved for it before.
    ///
    /// Padding goes only between frames, as libwebrtc's sender does without RTX: a padding
    /// packet inside a frame would split it for receivers that assemble frames by sequence
    /// number. So:
    ///
    /// - **Forwarding** (a layer current, not paused): only when the last packet forwarded
    ///   ended a frame (marker bit); the padding carries that packet's timestamp. `None`
    ///   otherwise: the engine retries once the frame is through.
    /// - **Paused, or waiting for a keyframe to resume**: the frame in flight at the pause may
    ///   have been cut short; then one number is skipped first, exactly the gap a resume leaves
    ///   (the subscriber discards the cut frame as at a layer switch), and the resume
    ///   continues after the padding without a second gap. The padding carries the timestamp
    ///   of the last packet sent.
    /// - **Nothing forwarded yet** (paused, or waiting for the first keyframe, from the
    ///   start): the stream starts with the padding, at `seed_seq` and `seed_ts` (the engine
    ///   derives them from the subscription's SSRC; RFC 3550 only asks that they be
    ///   unpredictable from outside, which the signalled SSRC already is), and the padding
    ///   counts as the last packet sent at `now`: the first keyframe's timestamp continues
    ///   from it by the time elapsed, as after a layer switch, and sender reports describe
    ///   the same clock from then on.
    ///
    /// `None` for audio: libwebrtc never pads an audio stream (a marker bit there does not end
    /// a frame), and neither do we.
    pub(crate) fn take_padding(
        &mut self,
        now: Instant,
        seed_seq: u16,
        seed_ts: u32,
    ) -> Option<(u16, u32)> {
        if self.audio {
            return None;
        }
        let forwarding = !self.paused && self.current.is_some();
        match (self.last_out_seq, self.last_in) {
            (Some(last), Some(last_in)) if forwarding => {
                if !self.last_marker {
                    return None;
                }
                let seq = last + 1;
                // The next in-order packet (last_in + 1) takes seq + 1. A breakpoint already
                // at last_in + 1 (an earlier padding, or a drop, since the last packet) is
                // updated in place, so a probe cluster between two frames costs one entry and
                // the older entries late repairs need are kept.
                let from = last_in + 1;
                let offset = seq as i64 - last_in as i64;
                match self.breakpoints.back_mut() {
                    Some(b) if b.0 == from => {
                        b.1 = offset;
                        self.offset = offset;
                    }
                    _ => self.push_breakpoint(from, offset),
                }
                self.last_out_seq = Some(seq);
                Some((seq as u16, self.last_seq_ts))
            }
            (Some(_), _) if forwarding => None, // not reached: a current video layer has input
            (Some(last), _) => {
                let seq = last + 1 + u64::from(!self.last_marker);
                self.last_out_seq = Some(seq);
                self.last_marker = true;
                Some((seq as u16, self.last_seq_ts))
            }
            (None, _) => {
                // Far from 0 in the extended space, so offsets from it never underflow.
                let seq = (1 << 32) + u64::from(seed_seq);
                self.last_out_seq = Some(seq);
                self.last_marker = true;
                self.last_seq_ts = seed_ts;
                self.last_out_ts = seed_ts;
                self.last_out_at = Some(now);
                Some((seed_seq, seed_ts))
            }
        }
    }

    pub(crate) fn set_preference(&mut self, pref: LayerPreference, available_spatial: u8) {
        if self.paused && !pref.paused {
            // Resuming: the frames dropped while paused are gone, so start again at a
            // keyframe, numbering on from the last packet sent (as a switch does).
            self.current = None;
        }
        self.paused = pref.paused;
        self.target = pref.max_spatial.min(available_spatial);
        self.max_temporal = pref.max_temporal;
        if self.max_temporal < self.applied_temporal {
            self.applied_temporal = self.max_temporal;
        }
    }

    /// Starts over at the next keyframe of the target layer after the packets numbered above
    /// `sent` (the highest sequence number that actually left, and whether it ended a frame)
    /// were dropped before leaving (the pacer's queue-delay bound). Numbering goes on from
    /// `sent` as at a layer switch: the subscriber sees no hole but, when `sent` ended its
    /// frame early, the one deliberate gap before the keyframe. `None`: nothing left yet.
    pub(crate) fn restart_after(&mut self, sent: Option<(u16, bool)>) {
        if !self.paused {
            self.current = None;
        }
        match (sent, self.last_out_seq) {
            (Some((seq, marker)), Some(last)) => {
                let back = u64::from((last as u16).wrapping_sub(seq));
                if back < 0x8000 && back <= last {
                    self.last_out_seq = Some(last - back);
                    self.last_marker = marker;
                }
            }
            (None, _) => {
                self.last_out_seq = None;
                self.last_marker = true;
            }
            (Some(_), None) => {}
        }
    }

    /// RTP timestamp of the newest frame forwarded and when it arrived (for sender reports).
    pub(crate) fn last_out(&self) -> Option<(u32, Instant)> {
        self.last_out_at.map(|at| (self.last_out_ts, at))
    }

    /// True when the forwarder waits for a keyframe of `target` (to start, or to switch).
    pub(crate) fn wants_keyframe(&self) -> bool {
        !self.paused && self.current != Some(self.target)
    }

    fn offset_for(&self, ext: u64) -> Option<i64> {
        self.breakpoints
            .iter()
            .rev()
            .find(|(from, _)| *from <= ext)
            .map(|&(_, o)| o)
    }

    fn push_breakpoint(&mut self, from: u64, offset: i64) {
        if self.breakpoints.len() == BREAKPOINTS {
            self.breakpoints.pop_front();
        }
        self.breakpoints.push_back((from, offset));
        self.offset = offset;
    }

    /// Drop of an in-order packet of the current layer: later packets close the hole.
    #[inline(never)]
    fn drop_in_order(&mut self, p: &PacketInfo, reason: DropReason) -> Verdict {
        if let Some(last) = self.last_in
            && !self.breakpoints.is_empty()
            && p.ext_seq > last
        {
            // Later packets take this one's number; a late packet below it keeps the old
            // offset through the breakpoint list.
            self.push_breakpoint(p.ext_seq + 1, self.offset - 1);
            self.last_in = Some(p.ext_seq);
        }
        Verdict::Drop(reason)
    }

    /// A late packet (a repair) of the layer forwarded before the last switch, from before the
    /// switch: it takes the number reserved for it then.
    fn prev_layer_repair(&self, p: &PacketInfo) -> Option<Verdict> {
        let (layer, last, ts_offset, picid_offset, tl0_offset) = self.prev?;
        if p.spatial != layer || p.ext_seq > last || p.padding_only {
            return None;
        }
        if p.temporal > self.applied_temporal {
            return Some(Verdict::Drop(DropReason::TemporalLayer));
        }
        let offset = self
            .prev_breakpoints
            .iter()
            .rev()
            .find(|(from, _)| *from <= p.ext_seq)
            .map(|&(_, o)| o)?;
        let vp8 = p
            .vp8
            .and_then(|v| v.picture_id)
            .filter(|_| picid_offset != 0 || tl0_offset != 0)
            .map(|(id, long)| {
                let m = if long { 0x7fff } else { 0x7f };
                (
                    id.wrapping_add(picid_offset) & m,
                    p.vp8
                        .and_then(|v| v.tl0)
                        .map(|t| t.wrapping_add(tl0_offset)),
                )
            });
        Some(Verdict::Forward {
            rewrite: Rewrite {
                seq: (p.ext_seq as i64 + offset) as u16,
                ts: p.ts.wrapping_add(ts_offset),
                marker: p.marker,
                vp8,
                pad: false,
            },
            switched: false,
        })
    }

    /// Decides a new frame's temporal fate, once per frame (at its first packet seen).
    fn decide_frame(&mut self, p: &PacketInfo) {
        self.dropping_frame = p.temporal > self.applied_temporal;
        self.frame_ts = Some(p.ts);
        // A dropped frame gives up its picture ID: the next forwarded frame takes it, so the
        // subscriber sees consecutive IDs (TL0PICIDX is unaffected: only frames above layer 0
        // are ever dropped).
        if self.dropping_frame && p.vp8.is_some_and(|v| v.picture_id.is_some()) {
            self.picid_offset = self.picid_offset.wrapping_sub(1);
        }
    }

    /// The forwarding decision for one packet of the track. The steady state (the current
    /// layer's media, in order) is decided inline; switches, late packets and drops take
    /// [`Self::on_packet_slow`].
    #[inline(always)]
    pub(crate) fn on_packet(&mut self, p: &PacketInfo) -> Verdict {
        if !self.paused
            && self.current == Some(p.spatial)
            && !p.padding_only
            && self.last_in.is_some_and(|last| p.ext_seq > last)
        {
            self.decide_temporal(p);
            if self.dropping_frame {
                return self.drop_in_order(p, DropReason::TemporalLayer);
            }
            self.last_in = Some(p.ext_seq);
            return self.forward(p, self.offset, false);
        }
        self.on_packet_slow(p)
    }

    /// Temporal filtering of an in-order packet, per frame: decided at the frame's first
    /// packet. The ceiling rises only at a TL0 frame, which every higher layer can decode
    /// from.
    #[inline(always)]
    fn decide_temporal(&mut self, p: &PacketInfo) {
        if p.frame_start {
            if p.temporal == 0 && self.applied_temporal < self.max_temporal {
                self.applied_temporal = self.max_temporal;
            }
            self.decide_frame(p);
        } else if self.frame_ts != Some(p.ts) {
            // The frame's first packet was lost (or is late): every packet carries its
            // frame's temporal layer, so decide from this one.
            self.decide_frame(p);
        }
    }

    #[inline(never)]
    fn on_packet_slow(&mut self, p: &PacketInfo) -> Verdict {
        if self.paused {
            return Verdict::Drop(DropReason::Paused);
        }
        let mut switched = false;
        if self.current != Some(p.spatial) {
            if let Some(v) = self.prev_layer_repair(p) {
                return v;
            }
            if !(p.spatial == self.target && p.keyframe && p.frame_start) {
                return Verdict::Drop(DropReason::NotCurrentLayer);
            }
            self.switch_to(p);
            switched = true;
        } else if p.padding_only {
            return self.drop_in_order(p, DropReason::PaddingOnly);
        }
        let late = self.last_in.is_some_and(|last| p.ext_seq <= last);
        if late {
            if p.temporal > self.applied_temporal {
                // Its number was reserved when later packets arrived first: fill it with
                // padding, or the subscriber would wait (and NACK) for it forever.
                return match self.offset_for(p.ext_seq) {
                    Some(o) => Verdict::Forward {
                        rewrite: Rewrite {
                            seq: (p.ext_seq as i64 + o) as u16,
                            ts: p.ts.wrapping_add(self.ts_offset),
                            marker: false,
                            vp8: None,
                            pad: true,
                        },
                        switched: false,
                    },
                    None => Verdict::Drop(DropReason::TemporalLayer),
                };
            }
        } else {
            self.decide_temporal(p);
            if self.dropping_frame {
                return self.drop_in_order(p, DropReason::TemporalLayer);
            }
        }
        let offset = match self.last_in {
            Some(_) if late => match self.offset_for(p.ext_seq) {
                Some(o) => o,
                None => return Verdict::Drop(DropReason::TooLate),
            },
            _ => {
                self.last_in = Some(p.ext_seq);
                self.offset
            }
        };
        self.forward(p, offset, switched)
    }

    /// The rewrite of a packet forwarded with `offset` (out = in + offset), updating what
    /// was sent last.
    #[inline(always)]
    fn forward(&mut self, p: &PacketInfo, offset: i64, switched: bool) -> Verdict {
        let out_seq = (p.ext_seq as i64 + offset) as u64;
        let ts = p.ts.wrapping_add(self.ts_offset);
        if self.last_out_seq.is_none_or(|l| out_seq > l) {
            self.last_out_seq = Some(out_seq);
            self.last_marker = p.marker;
            self.last_seq_ts = ts;
        }
        if p.arrival >= self.last_out_at.unwrap_or(p.arrival) {
            self.last_out_ts = ts;
            self.last_out_at = Some(p.arrival);
        }
        let mut vp8 = None;
        if let Some(Vp8Ids {
            picture_id: pic,
            tl0,
        }) = p.vp8
        {
            let tl0 = tl0.map(|t| {
                let out = t.wrapping_add(self.tl0_offset);
                self.last_out_tl0 = Some(out);
                out
            });
            if let Some((v, long)) = pic {
                let m = if long { 0x7fff } else { 0x7f };
                let out = v.wrapping_add(self.picid_offset) & m;
                self.last_out_picid = Some(out);
                // With both offsets zero the descriptor goes out as it came in: no rewrite.
                if self.picid_offset != 0 || self.tl0_offset != 0 {
                    vp8 = Some((out, tl0));
                }
            }
        }
        Verdict::Forward {
            rewrite: Rewrite {
                seq: out_seq as u16,
                ts,
                marker: p.marker,
                vp8,
                pad: false,
            },
            switched,
        }
    }

    fn switch_to(&mut self, p: &PacketInfo) {
        // Sequence: continue after the last sent number, one gap if that frame was cut short.
        let out_start = match self.last_out_seq {
            Some(l) => l + 1 + u64::from(!self.last_marker),
            None => p.ext_seq,
        };
        self.prev = match (self.current, self.last_in) {
            (Some(layer), Some(last)) => {
                std::mem::swap(&mut self.breakpoints, &mut self.prev_breakpoints);
                Some((
                    layer,
                    last,
                    self.ts_offset,
                    self.picid_offset,
                    self.tl0_offset,
                ))
            }
            _ => None,
        };
        self.breakpoints.clear();
        self.push_breakpoint(p.ext_seq, out_start as i64 - p.ext_seq as i64);
        self.last_in = Some(p.ext_seq);
        self.frame_ts = Some(p.ts);
        // Timestamp: same capture clock if both layers have sender reports, else elapsed time.
        // A frame captured at one instant has `in_new - in_old = new - old` (base = rtp - ntp
        // ticks), so keeping its output timestamp means subtracting that difference.
        self.ts_offset = match (self.last_out_at, self.last_base, p.layer_base) {
            (Some(_), Some(old), Some(new)) => self.ts_offset.wrapping_add(old.wrapping_sub(new)),
            (Some(at), _, _) => {
                let elapsed = p.arrival.saturating_duration_since(at);
                let ticks = (elapsed.as_micros() as u64 * u64::from(self.clock_rate) / 1_000_000)
                    .max(1) as u32;
                self.last_out_ts.wrapping_add(ticks).wrapping_sub(p.ts)
            }
            (None, _, _) => 0,
        };
        // Never backwards: when the keyframe switched to was captured before the last frame
        // sent (its first packet came late, after a repair, while the old layer went on), go on
        // one tick after that frame. The shift carries to the layer's later frames until the
        // next switch re-aligns.
        if self.last_out_at.is_some() {
            let behind = self
                .last_out_ts
                .wrapping_sub(p.ts.wrapping_add(self.ts_offset)) as i32;
            if behind >= 0 {
                self.ts_offset = self.ts_offset.wrapping_add(behind as u32 + 1);
            }
        }
        self.last_base = p.layer_base;
        // VP8: continue picture IDs and TL0PICIDX.
        if let Some(Vp8Ids {
            picture_id: pic,
            tl0,
        }) = p.vp8
        {
            if let (Some((v, long)), Some(last)) = (pic, self.last_out_picid) {
                let m = if long { 0x7fff } else { 0x7f };
                self.picid_offset = last.wrapping_add(1).wrapping_sub(v) & m;
            }
            if let (Some(t), Some(last)) = (tl0, self.last_out_tl0) {
                self.tl0_offset = last.wrapping_add(1).wrapping_sub(t);
            }
        }
        self.current = Some(p.spatial);
        self.applied_temporal = self.max_temporal;
        self.dropping_frame = false;
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn t0() -> Instant {
        #[allow(clippy::disallowed_methods)]
        Instant::now()
    }

    /// A packet of layer 0 with sequence number `seq` of frame `ts`.
    fn pkt(at: Instant, seq: u64, ts: u32, start: bool, marker: bool, key: bool) -> PacketInfo {
        PacketInfo {
            ext_seq: (1 << 16) + seq,
            ts,
            marker,
            spatial: 0,
            temporal: 0,
            frame_start: start,
            keyframe: key,
            padding_only: false,
            vp8: None,
            layer_base: None,
            arrival: at,
        }
    }

    fn seq_of(v: Verdict) -> u16 {
        match v {
            Verdict::Forward { rewrite, .. } => {
                assert!(!rewrite.pad, "{rewrite:?}");
                rewrite.seq
            }
            Verdict::Drop(r) => panic!("dropped: {r:?}"),
        }
    }

    #[test]
    fn padding_goes_between_frames_and_media_continues_after_it() {
        let now = t0();
        let mut f = Forwarder::new(90_000, false);
        f.set_preference(LayerPreference::ALL, 0);
        let a = seq_of(f.on_packet(&pkt(now, 10, 1000, true, false, true)));
        let b = seq_of(f.on_packet(&pkt(now, 11, 1000, false, true, true)));
        assert_eq!(b, a.wrapping_add(1));
        // Between frames: three paddings take the next numbers, with the last frame's
        // timestamp.
        let pads: Vec<_> = (0..3)
            .map(|_| f.take_padding(now, 0, 0).expect("between frames"))
            .collect();
        assert_eq!(
            pads,
            vec![
                (b.wrapping_add(1), 1000),
                (b.wrapping_add(2), 1000),
                (b.wrapping_add(3), 1000)
            ]
        );
        // The next frame continues after them; in the middle of it, no padding.
        let c = seq_of(f.on_packet(&pkt(now, 12, 4000, true, false, false)));
        assert_eq!(c, b.wrapping_add(4));
        assert_eq!(f.take_padding(now, 0, 0), None, "never inside a frame");
        // Packet 13 is lost upstream; 14 ends the frame; padding; then 13 arrives late (a
        // repair) and takes the number reserved for it, not the padding's.
        let e = seq_of(f.on_packet(&pkt(now, 14, 4000, false, true, false)));
        assert_eq!(e, c.wrapping_add(2));
        let (p, ts) = f.take_padding(now, 0, 0).expect("after the frame's end");
        assert_eq!((p, ts), (e.wrapping_add(1), 4000));
        let d = seq_of(f.on_packet(&pkt(now, 13, 4000, false, false, false)));
        assert_eq!(d, c.wrapping_add(1));
        let g = seq_of(f.on_packet(&pkt(now, 15, 7000, true, true, false)));
        assert_eq!(g, p.wrapping_add(1));
    }

    #[test]
    fn a_probe_cluster_between_frames_keeps_the_breakpoints_late_repairs_need() {
        let now = t0();
        let mut f = Forwarder::new(90_000, false);
        f.set_preference(LayerPreference::ALL, 0);
        let a = seq_of(f.on_packet(&pkt(now, 100, 0, true, true, true)));
        // Packet 101 lost; 102 arrives and ends its frame.
        let c = seq_of(f.on_packet(&pkt(now, 102, 3000, true, true, false)));
        assert_eq!(c, a.wrapping_add(2));
        // Far more paddings than breakpoints are kept, all between the same two frames.
        for i in 1..=(BREAKPOINTS as u16 + 44) {
            let (s, _) = f.take_padding(now, 0, 0).unwrap();
            assert_eq!(s, c.wrapping_add(i));
        }
        assert!(f.breakpoints.len() <= 2, "{:?}", f.breakpoints.len());
        // The repair of 101 still finds its number.
        let b = seq_of(f.on_packet(&pkt(now, 101, 3000, false, false, false)));
        assert_eq!(b, a.wrapping_add(1));
        let d = seq_of(f.on_packet(&pkt(now, 103, 6000, true, true, false)));
        assert_eq!(d, c.wrapping_add(BREAKPOINTS as u16 + 45));
    }

    #[test]
    fn padding_while_paused_leaves_the_gap_of_a_cut_frame_once() {
        let now = t0();
        let mut f = Forwarder::new(90_000, false);
        f.set_preference(LayerPreference::ALL, 0);
        seq_of(f.on_packet(&pkt(now, 1, 0, true, true, true)));
        // A frame cut short by the pause.
        let cut = seq_of(f.on_packet(&pkt(now, 2, 3000, true, false, false)));
        let mut paused = LayerPreference::ALL;
        paused.paused = true;
        f.set_preference(paused, 0);
        assert!(matches!(
            f.on_packet(&pkt(now, 3, 3000, false, true, false)),
            Verdict::Drop(DropReason::Paused)
        ));
        // One number skipped (the cut frame's end), then padding; more padding follows on.
        assert_eq!(f.take_padding(now, 0, 0), Some((cut.wrapping_add(2), 3000)));
        assert_eq!(f.take_padding(now, 0, 0), Some((cut.wrapping_add(3), 3000)));
        // Resumed: the keyframe follows the padding without a second gap.
        f.set_preference(LayerPreference::ALL, 0);
        let k = seq_of(f.on_packet(&pkt(now, 10, 30000, true, false, true)));
        assert_eq!(k, cut.wrapping_add(4));
    }

    #[test]
    fn padding_before_any_media_starts_the_stream() {
        let now = t0();
        let mut f = Forwarder::new(90_000, false);
        let mut paused = LayerPreference::ALL;
        paused.paused = true;
        f.set_preference(paused, 0);
        assert_eq!(f.take_padding(now, 65535, 7), Some((65535, 7)));
        assert_eq!(f.take_padding(now, 65535, 7), Some((0, 7)));
        f.set_preference(LayerPreference::ALL, 0);
        // 100 ms later the first keyframe: numbered on, timestamped 100 ms after the padding.
        let later = now + Duration::from_millis(100);
        match f.on_packet(&pkt(later, 500, 123_456, true, true, true)) {
            Verdict::Forward { rewrite, .. } => {
                assert_eq!(rewrite.seq, 1);
                assert_eq!(rewrite.ts, 7 + 9000);
            }
            v => panic!("{v:?}"),
        }
    }

    #[test]
    fn audio_is_never_padded() {
        let mut f = Forwarder::new(48_000, true);
        assert_eq!(f.take_padding(t0(), 0, 0), None);
    }
}
