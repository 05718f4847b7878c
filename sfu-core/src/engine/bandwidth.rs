//! Bandwidth-driven layer choice: what each published layer costs, and how much each
//! subscriber's transport carries.
//!
//! [`LayerMeter`] measures every encoding and temporal layer of a published track as it
//! arrives (bytes, frames, and the VP8 keyframe dimensions, which stay in clear under E2EE);
//! [`SubscriberBandwidth`] holds a subscriber transport's send-side estimator
//! ([`crate::bwe::SendSideBwe`]) and its [`Allocator`]. The engine feeds both and applies the
//! allocator's decisions through the same seam an application uses
//! ([`super::Engine::set_allocated_layer`]).

use std::fmt;
use std::time::{Duration, Instant};

use super::store::{Rewrite, Sent, SlotRef};
use super::{Engine, Error, Event};
use crate::alloc::{
    AllocEvent, Allocator, AllocatorConfig, DefaultHook, Layer, SpecialtyHook, TrackInput,
};
use crate::bwe::{BweConfig, FeedbackMode, ProbeClusterId, SendSideBwe};
use crate::ids::{ParticipantId, RoomId, SubscriptionId};
use crate::rtp::RTP_HEADER_LEN;

/// Padding bytes per probe packet: the most an RTP padding count (one byte) can say.
const PROBE_PADDING: usize = 255;
/// Quality alerts wait this long after a subscriber's first feedback: the estimate starts at a
/// guess and needs a few probe rounds to find the link.
const ALERT_WARMUP: Duration = Duration::from_secs(5);
/// Probe packets per cluster at most: 72 kB of padding, 400 ms at 1.4 Mbps (a cluster is
/// 15 ms at twice the estimate, up to 400 ms after token-bucket contradictions).
const MAX_PROBE_PACKETS: u64 = 256;
/// A probe packet for a media stream (no RTX) that finds a frame half forwarded waits this
/// long before it tries again: a frame's packets arrive within a few milliseconds.
pub(super) const PROBE_RETRY: Duration = Duration::from_millis(1);
/// ...at most this many times; then it is dropped (the publisher stopped mid-frame), so one
/// stuck stream cannot hold up the probes queued behind it.
pub(super) const MAX_PROBE_RETRIES: u8 = 50;
/// The send-history slot of a padding packet the engine made up (a probe without RTX): it
/// names no stored packet (no store has `u32::MAX` slots), so a NACK for its number is
/// answered with padding, never with media.
pub(super) const PADDING_SLOT: SlotRef = SlotRef {
    index: u32::MAX,
    generation: 1,
};

/// Buckets of the meter's sliding window.
const BUCKETS: usize = 9;
/// Length of one bucket: the window is the `BUCKETS - 1` complete buckets (2 s).
const BUCKET: Duration = Duration::from_millis(250);
/// Encodings metered per track (more are counted as the last).
const MAX_ENCODINGS: usize = 4;
/// Temporal layers metered per encoding (higher TIDs count as the last).
const MAX_TEMPORAL: usize = 4;

#[derive(Debug, Clone, Copy, Default)]
struct Bucket {
    /// Which bucket period this holds (index since the meter's epoch).
    period: u64,
    bytes: [[u32; MAX_TEMPORAL]; MAX_ENCODINGS],
    frames: [[u16; MAX_TEMPORAL]; MAX_ENCODINGS],
}

/// Per-layer bitrate and frame rate of one published track over the last second.
#[derive(Debug, Clone)]
pub(crate) struct LayerMeter {
    epoch: Instant,
    /// The bucket period of the first packet: until the window is full, rates are over the
    /// complete buckets since then (dividing a track's first quarter second by the whole 2 s
    /// window made every layer look 8 times cheaper, and new subscribers jumped to the top).
    first: Option<u64>,
    buckets: [Bucket; BUCKETS],
    dims: [(u16, u16); MAX_ENCODINGS],
    max_tid: [u8; MAX_ENCODINGS],
}

impl LayerMeter {
    pub(crate) fn new(epoch: Instant) -> Self {
        Self {
            epoch,
            first: None,
            buckets: [Bucket::default(); BUCKETS],
            dims: [(0, 0); MAX_ENCODINGS],
            max_tid: [0; MAX_ENCODINGS],
        }
    }

    fn period(&self, now: Instant) -> u64 {
        (now.saturating_duration_since(self.epoch).as_millis() / BUCKET.as_millis()) as u64
    }

    /// One media packet of `encoding` and temporal layer `tid`, `bytes` long; `frame_end` on
    /// the last packet of a frame; `dims` when it carried a keyframe header.
    pub(crate) fn on_packet(
        &mut self,
        now: Instant,
        encoding: u8,
        tid: u8,
        bytes: usize,
        frame_end: bool,
        dims: Option<(u16, u16)>,
    ) {
        let e = usize::from(encoding).min(MAX_ENCODINGS - 1);
        let t = usize::from(tid).min(MAX_TEMPORAL - 1);
        let period = self.period(now);
        self.first.get_or_insert(period);
        let b = &mut self.buckets[period as usize % BUCKETS];
        if b.period != period {
            *b = Bucket {
                period,
                ..Bucket::default()
            };
        }
        b.bytes[e][t] = b.bytes[e][t].saturating_add(bytes as u32);
        if frame_end {
            b.frames[e][t] = b.frames[e][t].saturating_add(1);
        }
        self.max_tid[e] = self.max_tid[e].max(t as u8);
        if let Some(d) = dims {
            self.dims[e] = d;
        }
    }

    /// The layers seen in the last second, cumulative over temporal layers, into `out`.
    pub(crate) fn layers(&self, now: Instant, out: &mut Vec<Layer>) {
        out.clear();
        let period = self.period(now);
        // Complete buckets only: the current one is partial.
        let live = |b: &Bucket| b.period < period && b.period + BUCKETS as u64 > period;
        let Some(first) = self.first else { return };
        let complete = period.saturating_sub(first).min(BUCKETS as u64 - 1);
        if complete == 0 {
            return; // not a whole bucket measured yet
        }
        let window = BUCKET.as_secs_f64() * complete as f64;
        for e in 0..MAX_ENCODINGS {
            let mut bytes = 0u64;
            let mut frames = 0u64;
            for t in 0..=usize::from(self.max_tid[e]) {
                for b in self.buckets.iter().filter(|b| live(b)) {
                    bytes += u64::from(b.bytes[e][t]);
                    frames += u64::from(b.frames[e][t]);
                }
                if bytes == 0 {
                    continue;
                }
                out.push(Layer {
                    spatial: e as u8,
                    temporal: t as u8,
                    bitrate_bps: (bytes as f64 * 8.0 / window) as u64,
                    width: self.dims[e].0,
                    height: self.dims[e].1,
                    fps: (frames as f64 / window).round() as u16,
                });
            }
        }
    }
}

/// One subscriber transport's estimator and allocator.
#[derive(Debug)]
pub(crate) struct SubscriberBandwidth {
    pub(crate) bwe: SendSideBwe,
    pub(crate) alloc: Allocator,
    /// Feedback (TWCC or REMB) has arrived: until then the estimate is a guess and does not
    /// limit layers.
    pub(crate) informed: bool,
    /// What the last allocation granted in all (bits per second): an estimate that falls below
    /// it is acted on at once, not at the next tick.
    pub(crate) granted: u64,
    /// When feedback first arrived.
    pub(crate) informed_at: Option<Instant>,
    /// Transport-wide CC negotiated (else REMB only).
    pub(crate) transport_cc: bool,
    /// The estimator's probe successes at the last allocation.
    pub(crate) probe_successes_seen: u64,
}

impl SubscriberBandwidth {
    pub(crate) fn new(now: Instant, transport_cc: bool, predictor: bool) -> Self {
        let config = BweConfig {
            mode: if transport_cc {
                FeedbackMode::TransportCc
            } else {
                FeedbackMode::RembOnly
            },
            predictor,
            ..BweConfig::default()
        };
        Self {
            bwe: SendSideBwe::new(config, now),
            alloc: Allocator::new(AllocatorConfig::default()),
            informed: false,
            granted: 0,
            informed_at: None,
            transport_cc,
            probe_successes_seen: 0,
        }
    }
}

/// What the allocator gave a subscription: at most this spatial and temporal layer, or
/// nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Alloc {
    pub(crate) spatial: u8,
    pub(crate) temporal: u8,
    pub(crate) paused: bool,
}

/// A room's specialty hook (a boxed trait object has no `Debug` of its own).
pub(crate) struct HookBox(pub(crate) Box<dyn SpecialtyHook + Send>);

impl fmt::Debug for HookBox {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SpecialtyHook")
    }
}

/// One probe packet waiting for `poll_transmit`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ProbeOut {
    pub(crate) to: ParticipantId,
    pub(crate) subscription: SubscriptionId,
    pub(crate) cluster: ProbeClusterId,
    /// When to send it: a cluster is paced evenly over its duration, so the estimator reads
    /// a real sending rate (a burst sent at one instant has none).
    pub(crate) at: Instant,
    /// Times it waited for a frame to end on its media stream (no RTX).
    pub(crate) retries: u8,
}

impl Engine {
    /// Sets the room's specialty hook: the clinical policy that ranks tracks, orders their
    /// layers and sets floors when bandwidth allocation is on
    /// ([`super::BandwidthConfig::enabled`]). Without one, [`DefaultHook`] applies.
    ///
    /// # Errors
    ///
    /// [`Error::UnknownRoom`]; [`Error::BandwidthOff`] when bandwidth allocation is off, since
    /// the hook would never be consulted (API misuse, not silently ignored).
    pub fn set_room_hook(
        &mut self,
        room: RoomId,
        hook: Box<dyn SpecialtyHook + Send>,
    ) -> Result<(), Error> {
        if !self.config.bandwidth.enabled {
            return Err(Error::BandwidthOff);
        }
        let r = self.rooms.get_mut(room.0).ok_or(Error::UnknownRoom(room))?;
        r.hook = Some(HookBox(hook));
        Ok(())
    }

    /// The bandwidth estimate toward `participant` in bits per second, once its feedback has
    /// arrived (with any cap from [`Engine::set_estimate_cap`] applied).
    pub fn estimate(&self, participant: ParticipantId) -> Option<u64> {
        let p = self.participants.get(participant.0)?;
        let bw = p.bw.as_ref().filter(|b| b.informed)?;
        let e = bw.bwe.target_bitrate();
        Some(p.estimate_cap.map_or(e, |c| e.min(c)))
    }

    /// The estimator toward `participant` (read-only: its state, loss, acknowledged rate,
    /// probe results), when bandwidth estimation is on. For diagnostics and tests.
    pub fn estimator(&self, participant: ParticipantId) -> Option<&SendSideBwe> {
        Some(&self.participants.get(participant.0)?.bw.as_ref()?.bwe)
    }

    /// What the allocator gave `sub`: `Some(Some((spatial, temporal)))` when forwarding that
    /// layer, `Some(None)` when paused for bandwidth, `None` when it has not allocated yet (or
    /// bandwidth allocation is off). For diagnostics.
    pub fn allocation(&self, sub: SubscriptionId) -> Option<Option<(u8, u8)>> {
        let a = self.subscriptions.get(sub.0)?.allocation?;
        Some((!a.paused).then_some((a.spatial, a.temporal)))
    }

    /// The layers of the track `sub` receives as the allocator sees them now (measured over the
    /// last two seconds: bitrate cumulative over temporal layers, size, frame rate), into
    /// `out`. For diagnostics: "why is this viewer on that layer".
    pub fn measured_layers(&self, now: Instant, sub: SubscriptionId, out: &mut Vec<Layer>) {
        out.clear();
        if let Some(t) = self
            .subscriptions
            .get(sub.0)
            .and_then(|s| self.tracks.get(s.track.0))
        {
            t.meter.layers(now, out);
        }
    }

    /// Caps the estimate toward `participant` (`None` lifts the cap): for tests and for
    /// operators who know a subscriber's link is smaller than it looks.
    pub fn set_estimate_cap(
        &mut self,
        participant: ParticipantId,
        cap_bps: Option<u64>,
    ) -> Result<(), Error> {
        let p = self
            .participants
            .get_mut(participant.0)
            .ok_or(Error::UnknownParticipant(participant))?;
        p.estimate_cap = cap_bps;
        Ok(())
    }

    /// Runs every subscriber's estimator timers and allocation. Called every
    /// [`super::BandwidthConfig::allocation_interval`].
    pub(super) fn bandwidth_tick(&mut self, now: Instant) {
        let mut parts = std::mem::take(&mut self.scratch_parts);
        parts.clear();
        parts.extend(
            self.participants
                .keys()
                .map(ParticipantId)
                .filter(|p| self.participants.get(p.0).is_some_and(|x| x.bw.is_some())),
        );
        for &pid in &parts {
            let Some(p) = self.participants.get_mut(pid.0) else {
                continue;
            };
            let Some(bw) = p.bw.as_mut() else { continue };
            bw.bwe.handle_timeout(now);
            self.update_pacing_rate(now, pid);
            let Some(p) = self.participants.get_mut(pid.0) else {
                continue;
            };
            let Some(bw) = p.bw.as_mut() else { continue };
            // With transport-wide CC negotiated, feedback is on its way: allocate from the
            // estimator's start value meanwhile, so a new subscriber starts low and climbs
            // instead of getting the top layer into a link nobody has measured. With REMB only,
            // wait for the first REMB (a receiver may never send one).
            let start_low = bw.transport_cc;
            if (bw.informed || start_low) && !p.subscriptions.is_empty() {
                self.allocate_for(now, pid);
            }
        }
        self.scratch_parts = parts;
    }

    /// After feedback from `pid`: when the estimate fell below what the allocation grants,
    /// reallocate now rather than at the next tick (a congested link should not wait).
    pub(super) fn on_estimate_update(&mut self, now: Instant, pid: ParticipantId) {
        self.update_pacing_rate(now, pid);
        let Some(p) = self.participants.get(pid.0) else {
            return;
        };
        let Some(bw) = p.bw.as_ref() else { return };
        let estimate = p
            .estimate_cap
            .map_or(bw.bwe.target_bitrate(), |c| c.min(bw.bwe.target_bitrate()));
        if bw.informed && estimate < bw.granted && !p.subscriptions.is_empty() {
            self.allocate_for(now, pid);
        }
    }

    pub(super) fn allocate_for(&mut self, now: Instant, pid: ParticipantId) {
        let Some(p) = self.participants.get(pid.0) else {
            return;
        };
        let room = p.room;
        let mut subs = std::mem::take(&mut self.scratch_subs);
        subs.clear();
        subs.extend(p.subscriptions.iter().copied());
        let mut layers = std::mem::take(&mut self.scratch_layers);
        layers.resize_with(subs.len(), Vec::new);
        let mut inputs = Vec::with_capacity(subs.len());
        for (i, sub) in subs.iter().enumerate() {
            let Some(s) = self.subscriptions.get(sub.0) else {
                layers[i].clear();
                continue;
            };
            let Some(t) = self.tracks.get(s.track.0) else {
                layers[i].clear();
                continue;
            };
            t.meter.layers(now, &mut layers[i]);
            if !t.config.codec.is_audio() {
                // Video with no measured layer yet (just published): nothing to decide.
                if layers[i].is_empty() {
                    continue;
                }
            }
            inputs.push((i, *sub, t.config.meta, s.preference));
        }
        let inputs: Vec<TrackInput<'_>> = inputs
            .iter()
            .map(|&(i, sub, meta, pref)| TrackInput {
                id: sub.0,
                meta,
                layers: &layers[i],
                max_spatial: pref.max_spatial,
                max_temporal: pref.max_temporal,
                paused: pref.paused,
            })
            .collect();
        let hook: &dyn SpecialtyHook = match self.rooms.get(room.0).and_then(|r| r.hook.as_ref()) {
            Some(h) => &*h.0,
            None => &DefaultHook,
        };
        let Some(p) = self.participants.get_mut(pid.0) else {
            return;
        };
        let cap = p.estimate_cap;
        let Some(bw) = p.bw.as_mut() else { return };
        let estimate = {
            let e = bw.bwe.target_bitrate();
            cap.map_or(e, |c| e.min(c))
        };
        // No clinical alerts while the estimator is still ramping up from its start value.
        let warm = bw
            .informed_at
            .is_some_and(|t| now.saturating_duration_since(t) >= ALERT_WARMUP);
        bw.alloc.set_alerts(warm);
        // A probe that raised the estimate since the last allocation is measured evidence
        // the link carries more: it ends an upgrade hold (after a lifted limit the hold kept
        // the old layer for 5 s with the estimate already at the top).
        let successes = bw.bwe.stats().probe_successes;
        if successes > bw.probe_successes_seen {
            bw.probe_successes_seen = successes;
            bw.alloc.release_hold();
        }
        let decisions = bw.alloc.allocate(now, estimate, &inputs, hook);
        // What the viewers would take with no bandwidth limit: the probing target.
        let wanted: u64 = inputs
            .iter()
            .filter(|t| !t.paused)
            .filter_map(|t| {
                t.layers
                    .iter()
                    .filter(|l| l.spatial <= t.max_spatial && l.temporal <= t.max_temporal)
                    .map(|l| l.bitrate_bps)
                    .max()
            })
            .sum();
        let granted: u64 = decisions.iter().map(|d| d.bitrate_bps).sum();
        bw.granted = granted;
        let mut changes: Vec<(SubscriptionId, Alloc)> = decisions
            .iter()
            .map(|d| {
                let a = match d.layer {
                    Some((spatial, temporal)) => Alloc {
                        spatial,
                        temporal,
                        paused: false,
                    },
                    None => Alloc {
                        spatial: 0,
                        temporal: 0,
                        paused: true,
                    },
                };
                (SubscriptionId(d.id), a)
            })
            .collect();
        let mut events = Vec::new();
        while let Some(e) = bw.alloc.poll_event() {
            events.push(e);
        }
        bw.bwe.set_desired_bitrate(Some(wanted.max(granted)));
        let mut clusters = Vec::new();
        if self.config.bandwidth.probing && cap.is_none_or(|c| c > estimate) {
            if wanted > granted && !bw.alloc.holding(now) {
                bw.bwe.request_probe(wanted + wanted / 5);
            }
            while let Some(c) = bw.bwe.poll_probe(now) {
                clusters.push(c);
            }
        }
        drop(inputs);
        self.scratch_layers = layers;
        self.scratch_subs = subs;

        for (sub, a) in changes.drain(..) {
            let Some(s) = self.subscriptions.get_mut(sub.0) else {
                continue;
            };
            if s.allocation != Some(a) {
                s.allocation = Some(a);
                self.apply_layers(now, sub);
            }
        }
        for e in events {
            match e {
                AllocEvent::QualityAlert {
                    id,
                    floor,
                    delivered,
                } => self.event(Event::QualityAlert {
                    subscription: SubscriptionId(id),
                    floor,
                    delivered: delivered.map(|l| (l.width, l.height, l.fps)),
                    estimate_bps: estimate,
                }),
                AllocEvent::QualityRestored { id } => self.event(Event::QualityRestored {
                    subscription: SubscriptionId(id),
                }),
            }
        }
        for c in clusters {
            self.queue_probe(now, pid, c);
        }
    }

    /// Queues a probe cluster as padding packets toward `pid`, on the carrier
    /// [`Engine::probe_carrier`] picks. Nothing is queued when `pid` receives no video.
    fn queue_probe(&mut self, now: Instant, pid: ParticipantId, c: crate::bwe::ProbeCluster) {
        let Some(sub) = self.probe_carrier(pid) else {
            return; // no video stream to pad on (audio is never padded)
        };
        let per = (PROBE_PADDING + RTP_HEADER_LEN + 16) as u64;
        let n = u64::from(c.min_packets)
            .max(c.min_bytes.div_ceil(per))
            .min(MAX_PROBE_PACKETS);
        // Queued after any cluster still waiting, so clusters never interleave.
        let start = self.probes.back().map_or(now, |p| p.at.max(now));
        let step = c.duration / n.max(1) as u32;
        for i in 0..n {
            if self.probes.len() >= self.config.transmit_queue {
                break;
            }
            self.probes.push_back(ProbeOut {
                to: pid,
                subscription: sub,
                cluster: c.id,
                at: start + step * i as u32,
                retries: 0,
            });
        }
    }

    /// The subscription whose stream carries `pid`'s probes, best first:
    ///
    /// 1. One with RTX negotiated: padding on the RTX stream, which the receiver drops without
    ///    touching the media stream (what browsers negotiate).
    /// 2. A video subscription without RTX that is forwarding a layer: padding on its media
    ///    SSRC between frames (libwebrtc's sender does the same without RTX).
    /// 3. Any other video subscription without RTX (paused by the allocator, or waiting for
    ///    its first keyframe): padding on its media SSRC too. This is the case of a viewer
    ///    whose only video layer does not fit the estimate it starts from: without a probe
    ///    the estimate, fed by audio alone, never reaches the layer, and the layer stays
    ///    paused for good. The SSRC is the one signalled for the stream, so the receiver
    ///    knows it before any media; [`super::forward::Forwarder::take_padding`] says which
    ///    numbers and timestamps such padding takes.
    ///
    /// Audio never carries probes (libwebrtc does not pad audio either): with only audio
    /// subscriptions there is nothing to probe for, as no video layer waits for bandwidth.
    /// (Duplicating already-forwarded media as probes, libwebrtc's "probe with media", was
    /// not chosen: it needs media recently sent, which a paused-only transport does not have,
    /// and every duplicate reaches the decoder path as a duplicate packet, whereas padding is
    /// discarded at the RTP layer after its sequence number is noted.)
    pub(super) fn probe_carrier(&self, pid: ParticipantId) -> Option<SubscriptionId> {
        let p = self.participants.get(pid.0)?;
        let mut best: Option<(u8, SubscriptionId)> = None;
        for &sub in &p.subscriptions {
            let Some(s) = self.subscriptions.get(sub.0) else {
                continue;
            };
            let audio = self
                .tracks
                .get(s.track.0)
                .is_none_or(|t| t.config.codec.is_audio());
            let rank = if s.config.rtx_ssrc.is_some() && s.config.rtx_payload_type.is_some() {
                0
            } else if audio {
                continue;
            } else if !s.forwarder.paused && s.forwarder.current.is_some() {
                1
            } else {
                2
            };
            if best.is_none_or(|(r, _)| rank < r) {
                best = Some((rank, sub));
            }
        }
        best.map(|(_, sub)| sub)
    }

    /// Writes one probe packet into `buf`: padding only (255 bytes of it, the most an RTP
    /// padding count can say), with the subscriber's mid, transport-wide sequence number and
    /// abs-send-time, tagged with the cluster for the estimator.
    ///
    /// - **With RTX** negotiated for the subscription: on the RTX stream, under the RTX
    ///   payload type and the RTX stream's own sequence numbers, with the timestamp of the
    ///   last media packet forwarded. The receiver's RTX depacketizer drops it.
    /// - **Without RTX**: on the media SSRC, with the media payload type, the marker bit
    ///   clear, the timestamp of the last packet sent and the next number of the
    ///   subscription's rewritten sequence ([`super::forward::Forwarder::take_padding`]), only
    ///   between frames: while a frame is half forwarded the packet waits
    ///   ([`ProbeWrite::Later`], up to [`MAX_PROBE_RETRIES`] times [`PROBE_RETRY`], then it is
    ///   dropped). It also waits while media is queued (`media_queued`, [`ProbeWrite::AfterMedia`]):
    ///   the queued packets hold lower numbers and must leave first, or the receiver would see
    ///   the padding overtake them. It is recorded in the send history, so a NACK for its
    ///   number is answered with padding under that number, never with media.
    pub(super) fn write_probe(
        &mut self,
        now: Instant,
        pr: &ProbeOut,
        buf: &mut [u8],
        media_queued: bool,
    ) -> ProbeWrite {
        let abs = super::abs_send_time(&mut self.abs_cache, self.epoch, now);
        let Some(s) = self.subscriptions.get_mut(pr.subscription.0) else {
            return ProbeWrite::Gone;
        };
        let Some(sub_p) = self.participants.get_mut(pr.to.0) else {
            return ProbeWrite::Gone;
        };
        let rtx = s.config.rtx_ssrc.zip(s.config.rtx_payload_type);
        if rtx.is_none() && media_queued {
            return ProbeWrite::AfterMedia;
        }
        let ids = sub_p.config.extensions;
        let tw = sub_p.twcc_out.to_be_bytes();
        let mid = s.config.mid;
        let items: [(Option<u8>, Option<&[u8]>); 3] = [
            (ids.mid, mid.as_ref().map(|m| m.as_bytes())),
            (ids.transport_cc, Some(&tw[..])),
            (ids.abs_send_time, Some(&abs[..])),
        ];
        let fits = |id: u8, v: &[u8]| id < 15 && (1..=16).contains(&v.len());
        let el: usize = items
            .iter()
            .filter_map(|(id, v)| Some((id.as_ref()?, v.as_ref()?)))
            .filter(|(id, v)| fits(**id, v))
            .map(|(_, v)| v.len() + 1)
            .sum();
        let ext_len = if el == 0 {
            0
        } else {
            4 + el.next_multiple_of(4)
        };
        let total = RTP_HEADER_LEN + ext_len + PROBE_PADDING;
        if buf.len() < total {
            return ProbeWrite::Gone;
        }
        let (ssrc, pt, seq, ts) = match rtx {
            Some((rtx_ssrc, rtx_pt)) => {
                s.rtx_seq = s.rtx_seq.wrapping_add(1);
                let ts = s.forwarder.last_out().map_or(0, |(ts, _)| ts);
                (rtx_ssrc.0, rtx_pt, s.rtx_seq, ts)
            }
            None => {
                let own = s.config.ssrc.0;
                let Some((seq, ts)) =
                    s.forwarder
                        .take_padding(now, own as u16 ^ 0x5a5a, own.rotate_left(16))
                else {
                    return if pr.retries >= MAX_PROBE_RETRIES {
                        ProbeWrite::Gone
                    } else {
                        ProbeWrite::Later(now + PROBE_RETRY)
                    };
                };
                s.history.record(Sent {
                    slot: PADDING_SLOT,
                    rewrite: Rewrite {
                        seq,
                        ts,
                        marker: false,
                        vp8: None,
                        pad: true,
                    },
                });
                s.stats.padding_packets += 1;
                (own, s.config.payload_type, seq, ts)
            }
        };
        buf[0] = 0x80 | 0x20 | if ext_len > 0 { 0x10 } else { 0 };
        buf[1] = pt & 0x7f;
        buf[2..4].copy_from_slice(&seq.to_be_bytes());
        buf[4..8].copy_from_slice(&ts.to_be_bytes());
        buf[8..12].copy_from_slice(&ssrc.to_be_bytes());
        let mut pos = RTP_HEADER_LEN;
        if ext_len > 0 {
            buf[pos..pos + 2].copy_from_slice(&0xBEDEu16.to_be_bytes());
            buf[pos + 2..pos + 4].copy_from_slice(&(((ext_len - 4) / 4) as u16).to_be_bytes());
            let mut at = pos + 4;
            for (id, v) in items
                .iter()
                .filter_map(|(id, v)| Some((id.as_ref()?, v.as_ref()?)))
                .filter(|(id, v)| fits(**id, v))
            {
                buf[at] = (id << 4) | (v.len() as u8 - 1);
                buf[at + 1..at + 1 + v.len()].copy_from_slice(v);
                at += 1 + v.len();
            }
            buf[at..pos + ext_len].fill(0);
            pos += ext_len;
        }
        buf[pos..pos + PROBE_PADDING - 1].fill(0);
        buf[pos + PROBE_PADDING - 1] = PROBE_PADDING as u8;
        if ids.transport_cc.is_some() {
            let seq = sub_p.twcc_out;
            sub_p.twcc_out = sub_p.twcc_out.wrapping_add(1);
            if let Some(bw) = sub_p.bw.as_mut() {
                bw.bwe.on_packet_sent(now, seq, total, Some(pr.cluster));
            }
        }
        self.stats.probe_packets += 1;
        ProbeWrite::Sent(total)
    }
}

/// What became of a probe packet at the head of the queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum ProbeWrite {
    /// Written into the buffer, this long.
    Sent(usize),
    /// Not now (a frame is half forwarded on its media stream): retry at this time.
    Later(Instant),
    /// Not before the queued media has gone (padding on a media stream must not overtake
    /// it).
    AfterMedia,
    /// Its subscription or subscriber is gone, the buffer is too small, or it waited too
    /// long: dropped.
    Gone,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bwe::ProbeCluster;
    use crate::engine::{
        Codec, EncodingConfig, EngineConfig, ExtensionIds, Input, LayerPreference, Mid,
        ParticipantConfig, SubscriptionConfig, TrackConfig,
    };
    use crate::ids::{Ssrc, TrackId};
    use crate::rtp::RtpPacket;

    const TWCC: u8 = 3;
    const MID: u8 = 1;
    const SUB_SSRC: u32 = 5000;

    /// A VP8 packet from the publisher (SSRC 100): transport-cc, a descriptor with a 15-bit
    /// picture ID, then the frame tag at a frame start, then `body` (the encrypted rest of an
    /// SFrame payload, or any bytes).
    fn vp8(seq: u16, ts: u32, start: bool, key: bool, marker: bool, body: &[u8]) -> Vec<u8> {
        let mut p = vec![0x90, 96 | if marker { 0x80 } else { 0 }];
        p.extend_from_slice(&seq.to_be_bytes());
        p.extend_from_slice(&ts.to_be_bytes());
        p.extend_from_slice(&100u32.to_be_bytes());
        p.extend_from_slice(&[0xbe, 0xde, 0, 1, (TWCC << 4) | 1]);
        p.extend_from_slice(&seq.to_be_bytes());
        p.push(0);
        p.push(0x80 | if start { 0x10 } else { 0 });
        p.push(0x80);
        p.extend_from_slice(&(0x8000 | (ts / 3000) as u16).to_be_bytes());
        if start {
            if key {
                p.extend_from_slice(&[0x50, 0x42, 0x00, 0x9d, 0x01, 0x2a, 0x80, 0x02, 0x68, 0x01]);
            } else {
                p.extend_from_slice(&[0x51, 0x42, 0x00]);
            }
        }
        p.extend_from_slice(body);
        p
    }

    struct Call {
        e: Engine,
        now: Instant,
        publisher: ParticipantId,
        viewer: ParticipantId,
        track: TrackId,
        sub: SubscriptionId,
        buf: Vec<u8>,
        next_cluster: u32,
    }

    impl Call {
        fn new(rtx: bool, pref: LayerPreference) -> Self {
            #[allow(clippy::disallowed_methods)]
            let now = Instant::now();
            // Estimation on (so probes count in `poll_timeout`), the allocator's own probing
            // off: the tests queue the clusters.
            let mut config = EngineConfig::default();
            config.bandwidth.enabled = true;
            config.bandwidth.probing = false;
            let mut e = Engine::new(config, now, 0xe000_0000_0000_0000, 3);
            let pc = ParticipantConfig {
                extensions: ExtensionIds {
                    transport_cc: Some(TWCC),
                    mid: Some(MID),
                    ..ExtensionIds::default()
                },
            };
            let room = e.create_room();
            let publisher = e.add_participant(room, pc).unwrap();
            let viewer = e.add_participant(room, pc).unwrap();
            let enc = vec![EncodingConfig::ssrc(Ssrc(100), None)];
            let track = e
                .publish(publisher, TrackConfig::new(Codec::Vp8, 96, None, enc))
                .unwrap();
            let mut cfg = SubscriptionConfig::new(Ssrc(SUB_SSRC), 96);
            if rtx {
                cfg = cfg.with_rtx(Ssrc(SUB_SSRC + 1), 97);
            }
            cfg.preference = pref;
            cfg.mid = Mid::new("0");
            let sub = e.subscribe(now, viewer, track, cfg).unwrap();
            Self {
                e,
                now,
                publisher,
                viewer,
                track,
                sub,
                buf: vec![0; 1500],
                next_cluster: 1,
            }
        }

        fn send(&mut self, p: &[u8]) {
            self.e.handle_input(
                self.now,
                Input::Datagram {
                    from: self.publisher,
                    contents: p,
                },
            );
        }

        fn nack(&mut self, seqs: &[u16]) {
            let mut b = [0u8; 200];
            let n = crate::rtcp::write_nack(&mut b, 77, SUB_SSRC, seqs).unwrap();
            self.e.handle_input(
                self.now,
                Input::Datagram {
                    from: self.viewer,
                    contents: &b[..n],
                },
            );
        }

        /// Queues a cluster of `n` probe packets, all due now.
        fn probe(&mut self, n: u32) {
            let c = ProbeCluster {
                id: ProbeClusterId(self.next_cluster),
                target_bps: 1_000_000,
                min_packets: n,
                min_bytes: 0,
                duration: Duration::ZERO,
            };
            self.next_cluster += 1;
            let (now, viewer) = (self.now, self.viewer);
            self.e.queue_probe(now, viewer, c);
        }

        /// RTP packets sent to the viewer since the last call.
        fn drain(&mut self) -> Vec<Vec<u8>> {
            let mut out = Vec::new();
            while let Some(t) = self.e.poll_transmit(self.now, &mut self.buf) {
                if t.to == self.viewer && !t.rtcp {
                    out.push(self.buf[..t.len].to_vec());
                }
            }
            out
        }

        fn advance(&mut self, ms: u64) {
            self.now += Duration::from_millis(ms);
            self.e.handle_input(self.now, Input::Timeout);
        }
    }

    /// (seq, ts, marker, padding only, payload) of a packet sent.
    fn view(p: &[u8]) -> (u16, u32, bool, bool, Vec<u8>) {
        let r = RtpPacket::parse(p).expect("valid RTP");
        (
            r.sequence_number(),
            r.timestamp(),
            r.marker(),
            r.is_padding_only(),
            r.payload().to_vec(),
        )
    }

    #[test]
    fn padding_on_the_media_stream_keeps_the_sequence_continuous() {
        let mut c = Call::new(false, LayerPreference::ALL);
        // Opaque bodies: an SFrame payload is ciphertext after the clear VP8 header.
        let body = |i: u8| {
            (0..120u8)
                .map(|b| b.wrapping_mul(31) ^ i)
                .collect::<Vec<u8>>()
        };
        let mut sent_media = Vec::new();
        let mut all = Vec::new();
        for (seq, ts, start, key, marker) in
            [(1, 3000, true, true, false), (2, 3000, false, true, true)]
        {
            let p = vp8(seq, ts, start, key, marker, &body(seq as u8));
            sent_media.push(RtpPacket::parse(&p).unwrap().payload().to_vec());
            c.send(&p);
        }
        all.extend(c.drain());
        // Half of the next frame, then a probe cluster: it waits for the frame's end.
        let p = vp8(3, 6000, true, false, false, &body(3));
        sent_media.push(RtpPacket::parse(&p).unwrap().payload().to_vec());
        c.send(&p);
        c.probe(3);
        let got = c.drain();
        assert_eq!(got.len(), 1, "only the media: no padding inside a frame");
        all.extend(got);
        assert_eq!(c.e.stats().probe_packets, 0);
        let due = c.e.poll_timeout().unwrap();
        assert!(
            due > c.now,
            "the waiting probe does not spin the caller's loop"
        );
        let p = vp8(4, 6000, false, false, true, &body(4));
        sent_media.push(RtpPacket::parse(&p).unwrap().payload().to_vec());
        c.send(&p);
        all.extend(c.drain());
        c.advance(2);
        let pads = c.drain();
        assert_eq!(pads.len(), 3, "the cluster goes once the frame has ended");
        all.extend(pads.iter().cloned());
        for (seq, ts, start, key, marker) in
            [(5, 9000, true, false, false), (6, 9000, false, false, true)]
        {
            let p = vp8(seq, ts, start, key, marker, &body(seq as u8));
            sent_media.push(RtpPacket::parse(&p).unwrap().payload().to_vec());
            c.send(&p);
        }
        all.extend(c.drain());

        let v: Vec<_> = all.iter().map(|p| view(p)).collect();
        assert_eq!(v.len(), 9, "{v:?}");
        // One unbroken sequence: media, media, media, media, 3 x padding, media, media.
        for w in v.windows(2) {
            assert_eq!(w[1].0, w[0].0.wrapping_add(1), "{v:?}");
        }
        let kinds: Vec<bool> = v.iter().map(|x| x.3).collect();
        assert_eq!(
            kinds,
            [false, false, false, false, true, true, true, false, false]
        );
        for (i, pad) in pads.iter().enumerate() {
            let r = RtpPacket::parse(pad).unwrap();
            assert!(r.is_padding_only() && r.payload().is_empty());
            assert_eq!(pad[0] & 0x20, 0x20, "padding bit");
            assert_eq!(r.padding_len(), PROBE_PADDING);
            assert_eq!(usize::from(*pad.last().unwrap()), PROBE_PADDING);
            assert_eq!(
                (r.ssrc(), r.payload_type(), r.marker()),
                (SUB_SSRC, 96, false)
            );
            assert_eq!(r.timestamp(), v[3].1, "the last frame's timestamp");
            assert_eq!(r.extension(MID), Some(&b"0"[..]));
            let tw = r.extension(TWCC).expect("transport-wide sequence number");
            let prev = RtpPacket::parse(&all[3 + i]).unwrap();
            let prev_tw = prev.extension(TWCC).unwrap();
            assert_eq!(
                u16::from_be_bytes([tw[0], tw[1]]),
                u16::from_be_bytes([prev_tw[0], prev_tw[1]]).wrapping_add(1)
            );
        }
        // Media payloads (here: opaque, as under SFrame) went out byte for byte.
        let media: Vec<Vec<u8>> = v.iter().filter(|x| !x.3).map(|x| x.4.clone()).collect();
        assert_eq!(media, sent_media);
        assert_eq!(c.e.stats().probe_packets, 3);
        assert_eq!(c.e.subscription_stats(c.sub).unwrap().padding_packets, 3);
        assert_eq!(c.e.subscription_stats(c.sub).unwrap().packets, 6);

        // A NACK for a padding number gets padding under that number, never media; one for
        // a media number gets that media (no RTX: on the media stream); one for a number
        // never sent gets nothing.
        let (pad_seq, media_seq) = (v[5].0, v[2].0);
        c.nack(&[pad_seq]);
        let r = c.drain();
        assert_eq!(r.len(), 1);
        let (seq, ts, marker, pad, payload) = view(&r[0]);
        assert_eq!((seq, ts, marker, pad), (pad_seq, v[5].1, false, true));
        assert!(payload.is_empty());
        c.nack(&[media_seq]);
        let r = c.drain();
        assert_eq!(r.len(), 1);
        assert_eq!(view(&r[0]), v[2]);
        let misses = c.e.stats().dropped(crate::engine::DropReason::HistoryMiss);
        c.nack(&[v[8].0.wrapping_add(5)]);
        assert!(c.drain().is_empty());
        assert_eq!(
            c.e.stats().dropped(crate::engine::DropReason::HistoryMiss),
            misses + 1
        );
    }

    #[test]
    fn a_paused_only_transport_is_probed_on_its_video_stream() {
        let mut paused = LayerPreference::ALL;
        paused.paused = true;
        let mut c = Call::new(false, paused);
        c.send(&vp8(1, 3000, true, true, true, &[1; 50]));
        assert!(c.drain().is_empty(), "paused: no media");
        assert_eq!(c.e.probe_carrier(c.viewer), Some(c.sub));
        c.probe(2);
        let pads = c.drain();
        assert_eq!(pads.len(), 2);
        let (a, ts, ..) = view(&pads[0]);
        let (b, ts_b, _, pad, _) = view(&pads[1]);
        assert!(pad && b == a.wrapping_add(1) && ts_b == ts);
        // Resumed 100 ms later: the keyframe continues the numbers and the clock.
        c.advance(100);
        let (now, sub) = (c.now, c.sub);
        c.e.set_preference(now, sub, LayerPreference::ALL).unwrap();
        c.send(&vp8(2, 12_000, true, true, true, &[1; 50]));
        let k = c.drain();
        assert_eq!(k.len(), 1);
        let (seq, kts, _, pad, _) = view(&k[0]);
        assert!(!pad);
        assert_eq!(seq, b.wrapping_add(1));
        assert_eq!(
            kts,
            ts.wrapping_add(9000),
            "100 ms after the padding at 90 kHz"
        );
    }

    #[test]
    fn probes_prefer_rtx_and_never_use_audio() {
        let mut c = Call::new(true, LayerPreference::ALL);
        c.send(&vp8(1, 3000, true, true, true, &[1; 50]));
        c.drain();
        c.probe(1);
        let p = c.drain();
        assert_eq!(p.len(), 1);
        let r = RtpPacket::parse(&p[0]).unwrap();
        assert_eq!((r.ssrc(), r.payload_type()), (SUB_SSRC + 1, 97));
        assert_eq!(c.e.subscription_stats(c.sub).unwrap().padding_packets, 0);

        // A viewer of audio only has no carrier.
        let room = c.e.participants.get(c.viewer.0).unwrap().room;
        let listener =
            c.e.add_participant(room, ParticipantConfig::default())
                .unwrap();
        let mic =
            c.e.publish(
                c.publisher,
                TrackConfig::new(
                    Codec::Opus,
                    111,
                    None,
                    vec![EncodingConfig::ssrc(Ssrc(200), None)],
                ),
            )
            .unwrap();
        let now = c.now;
        c.e.subscribe(now, listener, mic, SubscriptionConfig::new(Ssrc(9000), 111))
            .unwrap();
        assert_eq!(c.e.probe_carrier(listener), None);
        let _ = c.track;
    }

    #[test]
    fn meter_reports_cumulative_temporal_layers() {
        #[allow(clippy::disallowed_methods)]
        let t0 = Instant::now();
        let mut m = LayerMeter::new(t0);
        // 2 s of 30 fps: TID pattern 0,2,1,2; 1000 bytes per frame on encoding 1.
        for i in 0..60u32 {
            let now = t0 + Duration::from_millis(u64::from(i) * 1000 / 30);
            let tid = [0, 2, 1, 2][i as usize % 4];
            let dims = (i == 0).then_some((640, 360));
            m.on_packet(now, 1, tid, 1000, true, dims);
        }
        let mut out = Vec::new();
        m.layers(t0 + Duration::from_millis(2000), &mut out);
        assert_eq!(out.len(), 3, "{out:?}");
        let top = out[2];
        assert_eq!(
            (top.spatial, top.temporal, top.width, top.height),
            (1, 2, 640, 360)
        );
        // 30 frames/s of 1000 bytes = 240 kbps; TL0 is a quarter of that.
        assert!((200_000..=280_000).contains(&top.bitrate_bps), "{top:?}");
        assert!((28..=32).contains(&top.fps), "{top:?}");
        assert!(out[0].bitrate_bps * 3 < top.bitrate_bps, "{out:?}");
        // After silence, nothing.
        m.layers(t0 + Duration::from_secs(5), &mut out);
        assert!(out.is_empty(), "{out:?}");
    }
}
