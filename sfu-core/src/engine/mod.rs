//! The forwarding engine.

mod bandwidth;
mod forward;
mod recv;
mod slab;
mod store;
mod types;

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::time::{Duration, Instant};

pub use types::{
    BandwidthConfig, Codec, DropReason, EncodingConfig, EngineConfig, EngineStats, Error, Event,
    ExtensionIds, Input, LayerPreference, Mid, PacingConfig, ParticipantConfig, Rid,
    SubscriptionConfig, SubscriptionStats, TrackConfig, Transmit,
};

use crate::av1dd::{self, DependencyStructure};
use crate::codec::{H264Info, Vp8Descriptor};
use crate::ids::{ParticipantId, RoomId, SubscriptionId, TrackId};
use crate::pacer::{Class, Pacer, PacerConfig, Released};
use crate::rtcp::{self, RtcpPacket, SenderInfo};
use crate::rtp::{RTP_HEADER_LEN, RtpPacket};
use bandwidth::{Alloc, HookBox, LayerMeter, ProbeOut, ProbeWrite, SubscriberBandwidth};
use forward::{Forwarder, PacketInfo, Verdict, Vp8Ids};
use recv::{RecvStream, SrInfo};
use slab::Slab;
use store::{PacketStore, Rewrite, SendHistory, Sent, SlotMeta, SlotRef, Vp8Offsets};

/// Largest RTCP datagram the engine builds.
const MAX_RTCP: usize = 1200;
/// The body of a padding-only packet: three zero bytes and the padding count (RFC 3550 §5.1).
const PADDING: [u8; 4] = [0, 0, 0, 4];
/// Recent packets remembered per video encoding for replay at a layer switch. A power of two,
/// so a sequence number maps to its entry with a mask, not a division.
const RECENT: usize = 128;
const _: () = assert!(RECENT.is_power_of_two());
/// Transport-wide sequence numbers remembered per publisher for feedback.
const TWCC_WINDOW: usize = 1024;

#[derive(Debug, Clone, Copy)]
struct SourceRef {
    track: TrackId,
    encoding: u8,
    rtx: bool,
}

#[derive(Debug)]
struct Participant {
    room: RoomId,
    config: ParticipantConfig,
    ssrcs: BTreeMap<u32, SourceRef>,
    tracks: Vec<TrackId>,
    subscriptions: Vec<SubscriptionId>,
    /// Our RTCP sender SSRC toward this participant.
    rtcp_ssrc: u32,
    /// Transport-wide sequence number for the next packet we send it.
    twcc_out: u16,
    twcc_in: TwccRecorder,
    rtt: Option<Duration>,
    fb_count: u8,
    bytes_in_interval: u64,
    /// Send-side estimation and allocation toward this participant (when enabled).
    bw: Option<Box<SubscriberBandwidth>>,
    estimate_cap: Option<u64>,
    /// Media pacing toward this participant (when estimation and pacing are on).
    pacer: Option<Box<Pacer<Out>>>,
    /// In [`PacingState::active`].
    paced_active: bool,
}

#[derive(Debug)]
struct Encoding {
    config: EncodingConfig,
    ssrc: Option<u32>,
    rtx_ssrc: Option<u32>,
    recv: Option<RecvStream>,
    dd: Option<DependencyStructure>,
    last_keyframe_request: Option<Instant>,
    /// `rtp - ntp_ticks` from the last sender report, for aligning layers.
    base: Option<u32>,
    prev_marker: bool,
    /// Recent packets by extended sequence number (video only): store slot, parsed info,
    /// length and payload length, to replay packets that overtook a keyframe's first packet.
    /// Its length is a power of two (1 for audio).
    recent: Box<[Option<Recent>]>,
}

/// A recently received video packet, kept to replay it at a layer switch.
#[derive(Debug, Clone, Copy)]
struct Recent {
    slot: SlotRef,
    info: PacketInfo,
    len: u16,
    payload_len: u16,
}

#[derive(Debug)]
struct Track {
    owner: ParticipantId,
    room: RoomId,
    config: TrackConfig,
    encodings: Vec<Encoding>,
    subscriptions: Vec<SubscriptionId>,
    /// Sum of audio loudness (127 - level) and packet count this speaker interval.
    loudness: (u32, u32),
    /// Measured bitrate and frame rate of each layer.
    meter: LayerMeter,
}

/// A subscription's RTP header and fixed one-byte extensions (mid, transport-cc,
/// abs-send-time), laid out once; each forwarded copy patches sequence number, timestamp,
/// marker and the two per-packet extension values.
#[derive(Debug, Clone, Copy)]
struct HeaderTemplate {
    bytes: [u8; 48],
    /// Header plus extension block header plus fixed items.
    len: u8,
    /// `len` with the extension block padded to a multiple of four bytes (its length field
    /// set to match): the whole header when the packet adds no audio level or dependency
    /// descriptor.
    padded_len: u8,
    /// The subscriber's one-byte-form IDs for the per-packet items, if it negotiated them.
    audio_id: Option<u8>,
    dd_id: Option<u8>,
    /// The template has an extension block (the subscriber negotiated some extension).
    has_ext: bool,
    twcc_at: Option<u8>,
    abs_at: Option<u8>,
}

impl HeaderTemplate {
    /// `None` when the fixed items need the two-byte form (then the general path is used).
    fn new(ids: &ExtensionIds, ssrc: u32, pt: u8, mid: Option<Mid>) -> Option<Self> {
        let mut t = Self {
            bytes: [0; 48],
            len: 12,
            padded_len: 12,
            audio_id: ids.audio_level.filter(|i| *i < 15),
            dd_id: ids.dependency_descriptor.filter(|i| *i < 15),
            has_ext: false,
            twcc_at: None,
            abs_at: None,
        };
        t.bytes[0] = 0x80;
        t.bytes[1] = pt & 0x7f;
        t.bytes[8..12].copy_from_slice(&ssrc.to_be_bytes());
        let any = ids.mid.is_some()
            || ids.transport_cc.is_some()
            || ids.abs_send_time.is_some()
            || ids.audio_level.is_some()
            || ids.dependency_descriptor.is_some();
        if !any {
            return Some(t);
        }
        t.has_ext = true;
        t.bytes[0] |= 0x10;
        t.bytes[12..14].copy_from_slice(&0xBEDEu16.to_be_bytes());
        // Writes one one-byte-form item; returns where its value starts. `None` when the item
        // needs the two-byte form.
        fn put(bytes: &mut [u8; 48], at: &mut usize, id: u8, value: &[u8]) -> Option<u8> {
            if id >= 15 || !(1..=16).contains(&value.len()) {
                return None;
            }
            bytes[*at] = (id << 4) | (value.len() as u8 - 1);
            let v = *at + 1;
            bytes[v..v + value.len()].copy_from_slice(value);
            *at = v + value.len();
            Some(v as u8)
        }
        let mut at = 16usize;
        if let (Some(id), Some(m)) = (ids.mid, mid) {
            put(&mut t.bytes, &mut at, id, m.as_bytes())?;
        }
        if let Some(id) = ids.transport_cc {
            t.twcc_at = Some(put(&mut t.bytes, &mut at, id, &[0, 0])?);
        }
        if let Some(id) = ids.abs_send_time {
            t.abs_at = Some(put(&mut t.bytes, &mut at, id, &[0, 0, 0])?);
        }
        t.len = at as u8;
        let el = (at - 16).next_multiple_of(4);
        t.padded_len = (16 + el) as u8;
        t.bytes[14..16].copy_from_slice(&((el / 4) as u16).to_be_bytes());
        Some(t)
    }
}

#[derive(Debug)]
struct Subscription {
    subscriber: ParticipantId,
    track: TrackId,
    config: SubscriptionConfig,
    preference: LayerPreference,
    /// The bandwidth allocator's ceiling (issue 5 sets it); `None` = no limit.
    allocation: Option<Alloc>,
    forwarder: Forwarder,
    history: SendHistory,
    rtx_seq: u16,
    stats: SubscriptionStats,
    last_keyframe_request: Option<Instant>,
    /// Fast-path header layout; `None` when the general path is needed.
    template: Option<HeaderTemplate>,
    octets: u32,
    /// Highest sequence number (and its marker) that left the pacer on the media SSRC.
    released: Option<(u16, bool)>,
    /// The newest forwarded frame is a keyframe (its packets are never the pacer's reason to
    /// drop queued video).
    in_key: bool,
}

#[derive(Debug, Default)]
struct Room {
    participants: Vec<ParticipantId>,
    speaker: Option<ParticipantId>,
    /// Challenger and how many intervals in a row it was loudest.
    challenger: Option<(ParticipantId, u8)>,
    hook: Option<HookBox>,
}

/// Arrival times of a publisher's packets by transport-wide sequence number.
#[derive(Debug)]
struct TwccRecorder {
    arrivals: Box<[Option<(u64, i64)>]>,
    max: Option<u64>,
    next_report: Option<u64>,
}

impl TwccRecorder {
    fn new() -> Self {
        Self {
            arrivals: vec![None; TWCC_WINDOW].into_boxed_slice(),
            max: None,
            next_report: None,
        }
    }

    fn record(&mut self, seq: u16, at_us: i64) {
        let ext = match self.max {
            None => u64::from(seq) + (1 << 16),
            Some(max) => {
                (max as i64 + i64::from(seq.wrapping_sub(max as u16) as i16)).max(0) as u64
            }
        };
        if self.max.is_none_or(|m| ext > m) {
            self.max = Some(ext);
        }
        if self.next_report.is_none() {
            self.next_report = Some(ext);
        }
        if let Some(n) = self.next_report
            && ext < n
        {
            return; // already reported
        }
        self.arrivals[ext as usize % TWCC_WINDOW] = Some((ext, at_us));
    }

    fn pending(&self) -> bool {
        matches!((self.next_report, self.max), (Some(n), Some(m)) if n <= m)
    }
}

/// An outgoing media packet waiting in the transmit queue.
#[derive(Debug, Clone, Copy)]
struct Out {
    subscription: SubscriptionId,
    slot: SlotRef,
    rewrite: Rewrite,
    /// Original sequence number when sent as RTX.
    rtx_osn: Option<u16>,
    /// Part of a keyframe (pacing only).
    key: bool,
}

/// The transports whose pacers hold packets, visited in turn by `poll_transmit`.
#[derive(Debug, Default)]
struct PacingState {
    /// Pacing is on (estimation and pacing enabled).
    enabled: bool,
    /// Participants with a non-empty pacer; capacity kept at the participant count, so adding
    /// one never allocates.
    active: Vec<ParticipantId>,
    /// Next index of `active` to visit.
    cursor: usize,
    /// No pacer releases anything before this: `now` after a push, exact after a drain.
    wakeup: Option<Instant>,
}

/// A fixed ring of RTCP datagrams waiting to be sent.
#[derive(Debug)]
struct RtcpQueue {
    buf: Box<[u8]>,
    meta: VecDeque<(ParticipantId, u32, u16)>,
    slots: usize,
    next: usize,
}

impl RtcpQueue {
    fn new(slots: usize) -> Self {
        let slots = slots.max(8);
        Self {
            buf: vec![0; slots * MAX_RTCP].into_boxed_slice(),
            meta: VecDeque::with_capacity(slots),
            slots,
            next: 0,
        }
    }

    /// Builds a packet with `f` into a free slot. `None` when the queue is full.
    fn push(
        &mut self,
        to: ParticipantId,
        f: impl FnOnce(&mut [u8]) -> Option<usize>,
    ) -> Option<()> {
        if self.meta.len() == self.slots {
            return None;
        }
        let i = self.next;
        let len = f(&mut self.buf[i * MAX_RTCP..(i + 1) * MAX_RTCP])?;
        self.next = (self.next + 1) % self.slots;
        self.meta.push_back((to, i as u32, len as u16));
        Some(())
    }
}

/// The telesfu forwarding engine: rooms of participants that publish tracks and subscribe to
/// each other's, forwarded as plain RTP/RTCP. Sans-IO: the caller owns sockets, SRTP and
/// time.
///
/// # Contract
///
/// - **Setup and commands** (mutate, return at once): [`Engine::create_room`],
///   [`Engine::add_participant`], [`Engine::publish`], [`Engine::subscribe`],
///   [`Engine::set_preference`], [`Engine::unsubscribe`], [`Engine::unpublish`],
///   [`Engine::remove_participant`].
/// - **Input**: [`Engine::handle_input`] with a datagram (plain RTP or RTCP, after SRTP) and the
///   participant it came from, or [`Input::Timeout`] when the time from
///   [`Engine::poll_timeout`] has come. A spurious timeout does nothing harmful.
/// - **Drain**, after every input or command, until each returns `None`:
///   [`Engine::poll_transmit`] (writes one datagram into the caller's buffer; RTCP first, then
///   media), [`Engine::poll_event`], then [`Engine::poll_timeout`] for the next wakeup.
/// - **Getters**: [`Engine::stats`], [`Engine::subscription_stats`].
///
/// `now` never moves backwards between calls. Nothing reads a clock: the `now` passed in is
/// the only time. The hot path (a datagram in, its copies out) allocates nothing: packets are
/// copied once into a preallocated store and once per subscriber into the caller's buffer.
/// Every queue is bounded and counts what it drops; polling an idle engine costs the same
/// whatever the number of tracks.
#[derive(Debug)]
pub struct Engine {
    config: EngineConfig,
    epoch: Instant,
    epoch_ntp: u64,
    rooms: Slab<Room>,
    participants: Slab<Participant>,
    tracks: Slab<Track>,
    subscriptions: Slab<Subscription>,
    store: PacketStore,
    transmit: VecDeque<Out>,
    rtcp: RtcpQueue,
    events: VecDeque<Event>,
    stats: EngineStats,
    /// Subscriptions waiting for a keyframe.
    want_keyframe: BTreeSet<SubscriptionId>,
    /// Tracks with packets missing upstream: (track, encoding).
    nack_pending: BTreeSet<(TrackId, u8)>,
    next_report: Instant,
    next_feedback: Instant,
    next_nack: Instant,
    next_speaker: Instant,
    ssrc_seed: u32,
    /// Reused id lists, so timers allocate nothing once warmed up.
    scratch_subs: Vec<SubscriptionId>,
    scratch_parts: Vec<ParticipantId>,
    scratch_nack: Vec<(TrackId, u8)>,
    scratch_rooms: Vec<RoomId>,
    scratch_tracks: Vec<TrackId>,
    /// abs-send-time for the last `now` seen by `poll_transmit` (many copies share one `now`).
    abs_cache: Option<(Instant, [u8; 3])>,
    next_bandwidth: Instant,
    probes: VecDeque<ProbeOut>,
    scratch_layers: Vec<Vec<crate::alloc::Layer>>,
    pacing: PacingState,
}

/// abs-send-time (6.18 fixed-point seconds, 24 bits) for `now`, cached for the last `now`
/// (many copies share one `now`).
fn abs_send_time(cache: &mut Option<(Instant, [u8; 3])>, epoch: Instant, now: Instant) -> [u8; 3] {
    match *cache {
        Some((at, v)) if at == now => v,
        _ => {
            let us = now.saturating_duration_since(epoch).as_micros() as u64;
            let b = (((us << 18) / 1_000_000) as u32).to_be_bytes();
            let v = [b[1], b[2], b[3]];
            *cache = Some((now, v));
            v
        }
    }
}

/// What a padding resend is built from when its slot holds no packet (a probe's padding on
/// a media stream never had one, and an old slot may have been reused): nothing but the
/// padding itself.
fn padding_source(out: &Out) -> Option<(&'static [u8], &'static SlotMeta)> {
    const NO_META: SlotMeta = SlotMeta {
        payload: (0, 0),
        audio_level: None,
        dd: None,
        vp8: None,
    };
    out.rewrite.pad.then_some((&[], &NO_META))
}

fn twcc_seq(p: &RtpPacket<'_>, ids: &ExtensionIds) -> Option<u16> {
    let v = p.extension(ids.transport_cc?)?;
    (v.len() >= 2).then(|| u16::from_be_bytes([v[0], v[1]]))
}

impl Engine {
    /// A new engine. `now` starts its clock; `ntp_now` is the wall-clock time at `now` in NTP
    /// format (used only to stamp sender reports, read once by the caller). `seed` seeds the
    /// SSRCs the engine picks for its own RTCP.
    pub fn new(config: EngineConfig, now: Instant, ntp_now: u64, seed: u32) -> Self {
        let store = PacketStore::new(config.packet_store_slots);
        let transmit = VecDeque::with_capacity(config.transmit_queue);
        let rtcp = RtcpQueue::new(config.rtcp_queue);
        let events = VecDeque::with_capacity(config.event_queue);
        Self {
            epoch: now,
            epoch_ntp: ntp_now,
            rooms: Slab::new(),
            participants: Slab::new(),
            tracks: Slab::new(),
            subscriptions: Slab::new(),
            store,
            transmit,
            rtcp,
            events,
            stats: EngineStats::default(),
            want_keyframe: BTreeSet::new(),
            nack_pending: BTreeSet::new(),
            next_report: now + config.report_interval,
            next_feedback: now + config.feedback_interval,
            next_nack: now + config.nack_interval,
            next_speaker: now + config.speaker_interval,
            ssrc_seed: seed | 1,
            scratch_subs: Vec::new(),
            scratch_parts: Vec::new(),
            scratch_nack: Vec::new(),
            scratch_rooms: Vec::new(),
            scratch_tracks: Vec::new(),
            abs_cache: None,
            next_bandwidth: now + config.bandwidth.allocation_interval,
            probes: VecDeque::new(),
            scratch_layers: Vec::new(),
            pacing: PacingState {
                enabled: config.bandwidth.enabled && config.bandwidth.pacing.enabled,
                ..PacingState::default()
            },
            config,
        }
    }

    fn random_ssrc(&mut self) -> u32 {
        // xorshift32: deterministic from the seed, good enough to keep SSRCs apart.
        let mut x = self.ssrc_seed;
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        self.ssrc_seed = x;
        x
    }

    fn ntp(&self, now: Instant) -> u64 {
        let d = now.saturating_duration_since(self.epoch);
        let frac = (u128::from(d.subsec_nanos()) << 32) / 1_000_000_000;
        self.epoch_ntp
            .wrapping_add(d.as_secs() << 32)
            .wrapping_add(frac as u64)
    }

    fn micros(&self, now: Instant) -> i64 {
        now.saturating_duration_since(self.epoch).as_micros() as i64
    }

    fn drop(&mut self, reason: DropReason) {
        self.stats.drops[reason.index()] += 1;
    }

    fn event(&mut self, e: Event) {
        if self.events.len() >= self.config.event_queue {
            self.drop(DropReason::EventQueueFull);
        } else {
            self.events.push_back(e);
        }
    }

    // ----- Commands -----

    /// Creates an empty room.
    pub fn create_room(&mut self) -> RoomId {
        let id = RoomId(self.rooms.next_key());
        self.rooms.insert(Room::default());
        id
    }

    /// Adds a participant (one transport) to a room.
    pub fn add_participant(
        &mut self,
        room: RoomId,
        config: ParticipantConfig,
    ) -> Result<ParticipantId, Error> {
        if !self.rooms.contains(room.0) {
            return Err(Error::UnknownRoom(room));
        }
        let id = ParticipantId(self.participants.next_key());
        let rtcp_ssrc = self.random_ssrc();
        self.participants.insert(Participant {
            room,
            config,
            ssrcs: BTreeMap::new(),
            tracks: Vec::new(),
            subscriptions: Vec::new(),
            rtcp_ssrc,
            twcc_out: 0,
            twcc_in: TwccRecorder::new(),
            rtt: None,
            fb_count: 0,
            bytes_in_interval: 0,
            bw: self.config.bandwidth.enabled.then(|| {
                Box::new(SubscriberBandwidth::new(
                    self.epoch,
                    config.extensions.transport_cc.is_some(),
                    self.config.bandwidth.predictor,
                ))
            }),
            estimate_cap: None,
            pacer: self.pacing.enabled.then(|| {
                let pc = self.config.bandwidth.pacing;
                let n = pc.queue_packets.max(8);
                let cfg = PacerConfig {
                    capacity: [n / 8, n / 4, n, n / 8],
                    max_burst: pc.max_burst,
                };
                Box::new(Pacer::new(cfg, self.epoch))
            }),
            paced_active: false,
        });
        if let Some(r) = self.rooms.get_mut(room.0) {
            r.participants.push(id);
        }
        if self.pacing.enabled {
            let n = self.participants.keys().count();
            let a = &mut self.pacing.active;
            a.reserve(n.saturating_sub(a.len()));
            self.update_pacing_rate(self.epoch, id);
        }
        Ok(id)
    }

    /// Publishes a track from `participant`.
    pub fn publish(
        &mut self,
        participant: ParticipantId,
        config: TrackConfig,
    ) -> Result<TrackId, Error> {
        if config.encodings.is_empty() || config.encodings.len() > 8 {
            return Err(Error::InvalidConfig("a track needs 1-8 encodings"));
        }
        if config.codec.is_audio() && config.encodings.len() != 1 {
            return Err(Error::InvalidConfig(
                "an audio track has exactly one encoding",
            ));
        }
        if config
            .encodings
            .iter()
            .any(|e| e.ssrc.is_none() && e.rid.is_none())
        {
            return Err(Error::InvalidConfig("each encoding needs an SSRC or a rid"));
        }
        let p = self
            .participants
            .get(participant.0)
            .ok_or(Error::UnknownParticipant(participant))?;
        for e in &config.encodings {
            for s in [e.ssrc, e.rtx_ssrc].into_iter().flatten() {
                if p.ssrcs.contains_key(&s.0) {
                    return Err(Error::SsrcInUse(s));
                }
            }
        }
        let room = p.room;
        let id = TrackId(self.tracks.next_key());
        let encodings = config
            .encodings
            .iter()
            .map(|e| Encoding {
                config: *e,
                ssrc: e.ssrc.map(|s| s.0),
                rtx_ssrc: e.rtx_ssrc.map(|s| s.0),
                recv: None,
                dd: None,
                last_keyframe_request: None,
                base: None,
                prev_marker: true,
                recent: vec![None; if config.codec.is_audio() { 1 } else { RECENT }]
                    .into_boxed_slice(),
            })
            .collect::<Vec<_>>();
        let p = self
            .participants
            .get_mut(participant.0)
            .ok_or(Error::UnknownParticipant(participant))?;
        for (i, e) in encodings.iter().enumerate() {
            let i = i as u8;
            if let Some(s) = e.ssrc {
                p.ssrcs.insert(
                    s,
                    SourceRef {
                        track: id,
                        encoding: i,
                        rtx: false,
                    },
                );
            }
            if let Some(s) = e.rtx_ssrc {
                p.ssrcs.insert(
                    s,
                    SourceRef {
                        track: id,
                        encoding: i,
                        rtx: true,
                    },
                );
            }
        }
        p.tracks.push(id);
        self.tracks.insert(Track {
            owner: participant,
            room,
            config,
            encodings,
            subscriptions: Vec::new(),
            loudness: (0, 0),
            meter: LayerMeter::new(self.epoch),
        });
        Ok(id)
    }

    /// Subscribes `subscriber` to `track`.
    pub fn subscribe(
        &mut self,
        now: Instant,
        subscriber: ParticipantId,
        track: TrackId,
        config: SubscriptionConfig,
    ) -> Result<SubscriptionId, Error> {
        let t = self.tracks.get(track.0).ok_or(Error::UnknownTrack(track))?;
        let p = self
            .participants
            .get(subscriber.0)
            .ok_or(Error::UnknownParticipant(subscriber))?;
        if p.room != t.room {
            return Err(Error::DifferentRoom);
        }
        if config.rtx_ssrc.is_some() != config.rtx_payload_type.is_some() {
            return Err(Error::InvalidConfig(
                "RTX needs both an SSRC and a payload type",
            ));
        }
        let codec = t.config.codec;
        let layers = t.encodings.len() as u8;
        let template = HeaderTemplate::new(
            &p.config.extensions,
            config.ssrc.0,
            config.payload_type,
            config.mid,
        );
        let id = SubscriptionId(self.subscriptions.next_key());
        // With estimation on and transport-wide feedback coming, video starts on its lowest
        // layer and the allocator raises it as the estimate grows: the top layer's first
        // keyframe into an unmeasured link is what freezes a call's first seconds.
        let allocation = (!codec.is_audio()
            && p.bw.as_ref().is_some_and(|b| b.transport_cc && !b.informed))
        .then_some(Alloc {
            spatial: 0,
            temporal: u8::MAX,
            paused: false,
        });
        let mut pref = config.preference;
        if let Some(a) = allocation {
            pref.max_spatial = pref.max_spatial.min(a.spatial);
        }
        let mut forwarder = Forwarder::new(codec.clock_rate(), codec.is_audio());
        forwarder.set_preference(pref, layers - 1);
        let sub = Subscription {
            subscriber,
            track,
            config,
            preference: config.preference,
            allocation,
            forwarder,
            history: SendHistory::new(self.config.send_history),
            rtx_seq: 0,
            stats: SubscriptionStats::default(),
            last_keyframe_request: None,
            template,
            octets: 0,
            released: None,
            in_key: false,
        };
        self.subscriptions.insert(sub);
        if let Some(t) = self.tracks.get_mut(track.0) {
            t.subscriptions.push(id);
        }
        if let Some(p) = self.participants.get_mut(subscriber.0) {
            p.subscriptions.push(id);
        }
        if !codec.is_audio() {
            self.want_keyframe.insert(id);
            self.request_keyframe_for(now, id);
        }
        Ok(id)
    }

    /// Changes what a subscriber wants at most (e.g. its rendered size changed).
    pub fn set_preference(
        &mut self,
        now: Instant,
        sub: SubscriptionId,
        pref: LayerPreference,
    ) -> Result<(), Error> {
        let s = self
            .subscriptions
            .get_mut(sub.0)
            .ok_or(Error::UnknownSubscription(sub))?;
        s.preference = pref;
        self.apply_layers(now, sub);
        Ok(())
    }

    /// Caps a subscription's spatial layer from bandwidth allocation (`None` lifts the cap).
    /// The seam for the allocator: the forwarded layer is the lower of this and the
    /// subscriber's preference.
    pub fn set_allocated_layer(
        &mut self,
        now: Instant,
        sub: SubscriptionId,
        spatial: Option<u8>,
    ) -> Result<(), Error> {
        let s = self
            .subscriptions
            .get_mut(sub.0)
            .ok_or(Error::UnknownSubscription(sub))?;
        s.allocation = spatial.map(|spatial| Alloc {
            spatial,
            temporal: u8::MAX,
            paused: false,
        });
        self.apply_layers(now, sub);
        Ok(())
    }

    fn apply_layers(&mut self, now: Instant, sub: SubscriptionId) {
        let Some(s) = self.subscriptions.get_mut(sub.0) else {
            return;
        };
        let layers = self
            .tracks
            .get(s.track.0)
            .map_or(1, |t| t.encodings.len() as u8);
        let mut pref = s.preference;
        if let Some(a) = s.allocation {
            pref.max_spatial = pref.max_spatial.min(a.spatial);
            pref.max_temporal = pref.max_temporal.min(a.temporal);
            pref.paused |= a.paused;
        }
        s.forwarder.set_preference(pref, layers - 1);
        if s.forwarder.wants_keyframe() {
            self.want_keyframe.insert(sub);
            self.request_keyframe_for(now, sub);
        } else {
            self.want_keyframe.remove(&sub);
        }
    }

    /// Ends a subscription.
    pub fn unsubscribe(&mut self, sub: SubscriptionId) -> Result<(), Error> {
        let s = self
            .subscriptions
            .remove(sub.0)
            .ok_or(Error::UnknownSubscription(sub))?;
        if let Some(t) = self.tracks.get_mut(s.track.0) {
            t.subscriptions.retain(|x| *x != sub);
        }
        if let Some(p) = self.participants.get_mut(s.subscriber.0) {
            p.subscriptions.retain(|x| *x != sub);
        }
        self.want_keyframe.remove(&sub);
        Ok(())
    }

    /// Stops a track and every subscription to it.
    pub fn unpublish(&mut self, track: TrackId) -> Result<(), Error> {
        let t = self
            .tracks
            .remove(track.0)
            .ok_or(Error::UnknownTrack(track))?;
        // The track is gone already, so `unsubscribe` only detaches each subscriber.
        for sub in t.subscriptions {
            let _ = self.unsubscribe(sub);
        }
        if let Some(p) = self.participants.get_mut(t.owner.0) {
            p.ssrcs.retain(|_, r| r.track != track);
            p.tracks.retain(|x| *x != track);
        }
        self.nack_pending.retain(|(t, _)| *t != track);
        Ok(())
    }

    /// Removes a participant: its tracks, its subscriptions, and subscriptions to its tracks.
    pub fn remove_participant(&mut self, participant: ParticipantId) -> Result<(), Error> {
        let p = self
            .participants
            .get(participant.0)
            .ok_or(Error::UnknownParticipant(participant))?;
        let (tracks, subs, room) = (p.tracks.clone(), p.subscriptions.clone(), p.room);
        for t in tracks {
            let _ = self.unpublish(t);
        }
        for s in subs {
            let _ = self.unsubscribe(s);
        }
        self.participants.remove(participant.0);
        self.pacing.active.retain(|p| *p != participant);
        if let Some(r) = self.rooms.get_mut(room.0) {
            r.participants.retain(|x| *x != participant);
            if r.speaker == Some(participant) {
                r.speaker = None;
            }
        }
        // Forwards already queued to it are dropped at poll time.
        Ok(())
    }

    // ----- Getters -----

    /// Engine-wide counters.
    pub fn stats(&self) -> &EngineStats {
        &self.stats
    }

    /// One subscription's statistics.
    pub fn subscription_stats(&self, sub: SubscriptionId) -> Option<SubscriptionStats> {
        self.subscriptions.get(sub.0).map(|s| {
            let mut st = s.stats;
            st.spatial = s.forwarder.current;
            st
        })
    }

    /// The track a subscription receives.
    pub fn subscription_track(&self, sub: SubscriptionId) -> Option<TrackId> {
        self.subscriptions.get(sub.0).map(|s| s.track)
    }

    // ----- Input -----

    /// Feeds one input. See the type's contract for what to drain afterwards.
    pub fn handle_input(&mut self, now: Instant, input: Input<'_>) {
        match input {
            Input::Datagram { from, contents } => {
                if !self.participants.contains(from.0) {
                    self.drop(DropReason::UnknownParticipant);
                } else if crate::rtp::is_rtcp(contents) {
                    self.stats.rtcp_in += 1;
                    self.handle_rtcp(now, from, contents);
                } else {
                    self.handle_rtp(now, from, contents);
                }
            }
            Input::Timeout => self.handle_timeout(now),
        }
    }

    fn handle_rtp(&mut self, now: Instant, from: ParticipantId, contents: &[u8]) {
        let Ok(pkt) = RtpPacket::parse(contents) else {
            self.drop(DropReason::Malformed);
            return;
        };
        self.stats.rtp_in += 1;
        self.stats.rtp_bytes_in += contents.len() as u64;
        let at_us = self.micros(now);
        let Some(p) = self.participants.get_mut(from.0) else {
            return;
        };
        p.bytes_in_interval += contents.len() as u64;
        let ids = p.config.extensions;
        let rtt = p.rtt.unwrap_or(self.config.initial_rtt);
        if let Some(seq) = twcc_seq(&pkt, &ids) {
            p.twcc_in.record(seq, at_us);
        }
        let src = match p.ssrcs.get(&pkt.ssrc()) {
            Some(s) => *s,
            None => match self.bind_rid(from, &pkt, &ids) {
                Some(s) => s,
                None => {
                    self.drop(DropReason::UnknownSsrc);
                    return;
                }
            },
        };
        if src.rtx {
            self.handle_rtx(now, at_us, rtt, &ids, src, &pkt);
        } else {
            self.handle_media(now, at_us, rtt, &ids, src, &pkt);
        }
    }

    /// An RTX packet (RFC 4588) from a publisher: unwrapped (the original sequence number
    /// leads the payload) into a packet of the original stream. Out of line: its 1500-byte
    /// scratch buffer stays off the media path's stack frame.
    #[inline(never)]
    fn handle_rtx(
        &mut self,
        now: Instant,
        at_us: i64,
        rtt: Duration,
        ids: &ExtensionIds,
        src: SourceRef,
        pkt: &RtpPacket<'_>,
    ) {
        let contents = pkt.as_bytes();
        let payload = pkt.payload();
        if payload.len() < 2 {
            self.drop(DropReason::PaddingOnly);
            return;
        }
        let mut buf = [0u8; store::MAX_PACKET];
        let off = pkt.payload_offset();
        let len = contents.len() - pkt.padding_len() - 2;
        if len > buf.len() {
            self.drop(DropReason::TooLarge);
            return;
        }
        buf[..off].copy_from_slice(&contents[..off]);
        buf[0] &= !0x20; // padding removed
        buf[off..len].copy_from_slice(&payload[2..]);
        let Some(t) = self.tracks.get(src.track.0) else {
            return;
        };
        let Some(ssrc) = t.encodings[usize::from(src.encoding)].ssrc else {
            self.drop(DropReason::UnknownSsrc);
            return;
        };
        buf[1] = (buf[1] & 0x80) | t.config.payload_type;
        buf[2..4].copy_from_slice(&payload[..2]);
        buf[8..12].copy_from_slice(&ssrc.to_be_bytes());
        if let Ok(inner) = RtpPacket::parse(&buf[..len]) {
            self.handle_media(now, at_us, rtt, ids, src, &inner);
        }
    }

    /// Binds an unknown SSRC to an encoding by its rid (or repaired rid) extension.
    fn bind_rid(
        &mut self,
        from: ParticipantId,
        pkt: &RtpPacket<'_>,
        ids: &ExtensionIds,
    ) -> Option<SourceRef> {
        let (rid, rtx) = match (
            ids.rid.and_then(|i| pkt.extension(i)),
            ids.repaired_rid.and_then(|i| pkt.extension(i)),
        ) {
            (Some(r), _) => (Rid::from_bytes(r)?, false),
            (None, Some(r)) => (Rid::from_bytes(r)?, true),
            _ => return None,
        };
        let p = self.participants.get(from.0)?;
        let (track, encoding) = p.tracks.iter().find_map(|t| {
            let tr = self.tracks.get(t.0)?;
            if tr.config.payload_type != pkt.payload_type() && !rtx {
                return None;
            }
            tr.encodings
                .iter()
                .position(|e| e.config.rid == Some(rid))
                .map(|i| (*t, i as u8))
        })?;
        let enc = &mut self.tracks.get_mut(track.0)?.encodings[usize::from(encoding)];
        if rtx {
            enc.rtx_ssrc = Some(pkt.ssrc());
        } else {
            enc.ssrc = Some(pkt.ssrc());
        }
        let r = SourceRef {
            track,
            encoding,
            rtx,
        };
        self.participants
            .get_mut(from.0)?
            .ssrcs
            .insert(pkt.ssrc(), r);
        Some(r)
    }

    /// One media packet from a publisher (the track's owner, with round-trip time `rtt` and
    /// extension IDs `owner_ids`), arrived at `now` (`at_us` after the epoch).
    fn handle_media(
        &mut self,
        now: Instant,
        at_us: i64,
        rtt: Duration,
        owner_ids: &ExtensionIds,
        src: SourceRef,
        pkt: &RtpPacket<'_>,
    ) {
        let Some(t) = self.tracks.get_mut(src.track.0) else {
            return;
        };
        let codec = t.config.codec;
        let enc = &mut t.encodings[usize::from(src.encoding)];
        let recv = enc
            .recv
            .get_or_insert_with(|| RecvStream::new(codec.clock_rate()));
        let arrival = recv.on_packet_at(
            pkt.sequence_number(),
            pkt.timestamp(),
            pkt.as_bytes().len(),
            now,
            at_us as u64,
            rtt,
        );
        if arrival.duplicate {
            self.stats.drops[DropReason::Duplicate.index()] += 1;
            return;
        }
        if recv.missing_count() > 0 {
            self.nack_pending.insert((src.track, src.encoding));
        }
        // What the packet is, from descriptors that stay readable under E2EE.
        let payload = pkt.payload();
        let mut info = PacketInfo {
            ext_seq: arrival.ext_seq,
            ts: pkt.timestamp(),
            marker: pkt.marker(),
            spatial: src.encoding,
            temporal: 0,
            frame_start: enc.prev_marker,
            keyframe: false,
            padding_only: pkt.is_padding_only(),
            vp8: None,
            layer_base: enc.base,
            arrival: now,
        };
        if arrival.newest {
            enc.prev_marker = pkt.marker();
        }
        let mut vp8_offsets = None;
        let mut dims = None;
        if !info.padding_only {
            match codec {
                Codec::Opus => {
                    info.frame_start = true;
                    info.keyframe = true;
                }
                Codec::Vp8 => {
                    if let Ok(d) = Vp8Descriptor::parse(payload) {
                        info.frame_start = d.start_of_partition && d.partition_id == 0;
                        info.keyframe = d.keyframe;
                        // Without a TID (Chromium 156 sends a one-byte descriptor, no
                        // PictureID/TL0PICIDX/TID, when an encoded transform such as our
                        // E2EE is attached, even in L1T3), the N bit still says which frames
                        // nothing references: they form temporal layer 1, droppable at any
                        // frame (half the frame rate, about 60 % of the bitrate for L1T3), so
                        // a lower frame rate is tried before a pause (issue 10).
                        info.temporal = d.tid.map_or(u8::from(d.non_reference), |(t, _)| t);
                        dims = d.dimensions;
                        vp8_offsets = d.picture_id.as_ref().map(|(_, r)| Vp8Offsets {
                            picture_id: r.start as u16,
                            long_picture_id: r.len() == 2,
                            tl0: d.tl0_pic_idx.map(|(_, o)| o as u16),
                        });
                        info.vp8 = Some(Vp8Ids {
                            picture_id: d.picture_id.as_ref().map(|(v, r)| (*v, r.len() == 2)),
                            tl0: d.tl0_pic_idx.map(|(v, _)| v),
                        });
                    }
                }
                Codec::H264 => {
                    if let Ok(h) = H264Info::parse(payload) {
                        info.keyframe = info.frame_start && h.is_keyframe_start();
                    }
                }
                Codec::Av1 => {
                    if let Some(dd) = owner_ids
                        .dependency_descriptor
                        .and_then(|i| pkt.extension(i))
                        && let Ok(d) = av1dd::parse(dd, &mut enc.dd)
                    {
                        info.frame_start = d.start_of_frame;
                        info.keyframe = d.new_structure && d.start_of_frame;
                        info.temporal = d.temporal_id;
                    }
                }
            }
        }
        if codec.is_audio()
            && let Some(level) = owner_ids
                .audio_level
                .and_then(|i| pkt.extension(i))
                .and_then(|v| v.first())
        {
            let loud = 127 - u32::from(level & 0x7f);
            t.loudness.0 += loud;
            t.loudness.1 += 1;
        }
        let offset_in = |v: &[u8]| (v.as_ptr() as usize - pkt.as_bytes().as_ptr() as usize) as u16;
        let meta = SlotMeta {
            payload: (pkt.payload_offset() as u16, payload.len() as u16),
            audio_level: owner_ids
                .audio_level
                .and_then(|i| pkt.extension(i))
                .and_then(|v| v.first().copied()),
            dd: owner_ids
                .dependency_descriptor
                .and_then(|i| pkt.extension(i))
                .map(|v| (offset_in(v), v.len() as u16)),
            vp8: vp8_offsets,
        };
        let Some(slot) = self.store.insert(pkt.as_bytes(), meta) else {
            self.stats.drops[DropReason::TooLarge.index()] += 1;
            return;
        };
        let len = pkt.as_bytes().len();
        if !info.padding_only {
            t.meter
                .on_packet(now, src.encoding, info.temporal, len, info.marker, dims);
        }
        let enc = &mut t.encodings[usize::from(src.encoding)];
        if !codec.is_audio() {
            let mask = enc.recent.len() - 1;
            enc.recent[arrival.ext_seq as usize & mask] = Some(Recent {
                slot,
                info,
                len: len as u16,
                payload_len: meta.payload.1,
            });
        }
        let newest = enc.recv.as_ref().map_or(arrival.ext_seq, |r| r.newest());
        let payload_len = usize::from(meta.payload.1);
        let paced = self.pacing.enabled;
        let audio = codec.is_audio();
        for &sub_id in &t.subscriptions {
            let Some(s) = self.subscriptions.get_mut(sub_id.0) else {
                continue;
            };
            let verdict = s.forwarder.on_packet(&info);
            let switched = matches!(verdict, Verdict::Forward { switched: true, .. });
            if paced {
                Self::deliver_paced(
                    now,
                    &mut self.stats,
                    &mut self.participants,
                    &mut self.pacing,
                    (sub_id, s),
                    (slot, &info, audio),
                    verdict,
                    len,
                    payload_len,
                );
            } else {
                Self::deliver(
                    &mut self.stats,
                    &mut self.transmit,
                    self.config.transmit_queue,
                    sub_id,
                    s,
                    slot,
                    verdict,
                    len,
                    payload_len,
                );
            }
            if switched {
                self.stats.layer_switches += 1;
                self.want_keyframe.remove(&sub_id);
                if self.events.len() < self.config.event_queue {
                    self.events.push_back(Event::LayerSwitched {
                        subscription: sub_id,
                        spatial: info.spatial,
                    });
                }
                // Packets of this layer newer than the keyframe's first packet may have
                // overtaken it and been dropped for this subscriber: replay them from the store.
                let enc = &t.encodings[usize::from(src.encoding)];
                let n = enc.recent.len() as u64;
                let from = arrival.ext_seq + 1;
                for e in from..=newest.min(arrival.ext_seq + n - 1) {
                    let Some(Recent {
                        slot,
                        info,
                        len,
                        payload_len: pl,
                    }) = enc.recent[(e & (n - 1)) as usize].filter(|r| r.info.ext_seq == e)
                    else {
                        continue;
                    };
                    let verdict = s.forwarder.on_packet(&info);
                    if paced {
                        Self::deliver_paced(
                            now,
                            &mut self.stats,
                            &mut self.participants,
                            &mut self.pacing,
                            (sub_id, s),
                            (slot, &info, false),
                            verdict,
                            usize::from(len),
                            usize::from(pl),
                        );
                    } else {
                        Self::deliver(
                            &mut self.stats,
                            &mut self.transmit,
                            self.config.transmit_queue,
                            sub_id,
                            s,
                            slot,
                            verdict,
                            usize::from(len),
                            usize::from(pl),
                        );
                    }
                }
            }
        }
    }

    /// Queues a forwarder's verdict on one packet for one subscription.
    #[allow(clippy::too_many_arguments)]
    #[inline]
    fn deliver(
        stats: &mut EngineStats,
        transmit: &mut VecDeque<Out>,
        queue_limit: usize,
        sub_id: SubscriptionId,
        s: &mut Subscription,
        slot: SlotRef,
        verdict: Verdict,
        len: usize,
        payload_len: usize,
    ) {
        match verdict {
            Verdict::Drop(r) => stats.drops[r.index()] += 1,
            Verdict::Forward { rewrite, .. } => {
                if transmit.len() >= queue_limit {
                    stats.drops[DropReason::QueueFull.index()] += 1;
                    return;
                }
                s.history.record(Sent { slot, rewrite });
                s.stats.packets += 1;
                s.stats.bytes += len as u64;
                s.octets = s.octets.wrapping_add(payload_len as u32);
                transmit.push_back(Out {
                    subscription: sub_id,
                    slot,
                    rewrite,
                    rtx_osn: None,
                    key: false,
                });
            }
        }
    }

    /// [`Self::deliver`] into the subscriber transport's pacer.
    #[allow(clippy::too_many_arguments)]
    #[inline(never)]
    fn deliver_paced(
        now: Instant,
        stats: &mut EngineStats,
        participants: &mut Slab<Participant>,
        pacing: &mut PacingState,
        (sub_id, s): (SubscriptionId, &mut Subscription),
        (slot, info, audio): (SlotRef, &PacketInfo, bool),
        verdict: Verdict,
        len: usize,
        payload_len: usize,
    ) {
        let rewrite = match verdict {
            Verdict::Drop(r) => {
                stats.drops[r.index()] += 1;
                return;
            }
            Verdict::Forward { rewrite, .. } => rewrite,
        };
        if info.frame_start && !rewrite.pad {
            s.in_key = info.keyframe;
        }
        let Some(p) = participants.get_mut(s.subscriber.0) else {
            return;
        };
        let Some(pacer) = p.pacer.as_mut() else {
            return;
        };
        // Recorded even if the pacer refuses it: the hole is then repaired by NACK.
        s.history.record(Sent { slot, rewrite });
        s.stats.packets += 1;
        s.stats.bytes += len as u64;
        s.octets = s.octets.wrapping_add(payload_len as u32);
        let class = if audio {
            Class::Audio
        } else if rewrite.pad {
            Class::Padding
        } else {
            Class::Video
        };
        let out = Out {
            subscription: sub_id,
            slot,
            rewrite,
            rtx_osn: None,
            key: s.in_key && !audio,
        };
        if pacer.push(now, class, out, len).is_err() {
            stats.drops[DropReason::PacerQueue.index()] += 1;
            return;
        }
        if !p.paced_active {
            p.paced_active = true;
            pacing.active.push(s.subscriber);
        }
        pacing.wakeup = Some(pacing.wakeup.map_or(now, |w| w.min(now)));
    }

    #[inline(never)]
    fn handle_rtcp(&mut self, now: Instant, from: ParticipantId, contents: &[u8]) {
        for pkt in rtcp::parse_compound(contents) {
            let Ok(pkt) = pkt else {
                self.drop(DropReason::Malformed);
                return;
            };
            match pkt {
                RtcpPacket::SenderReport(sr) => {
                    let Some(src) = self
                        .participants
                        .get(from.0)
                        .and_then(|p| p.ssrcs.get(&sr.ssrc()).copied())
                    else {
                        continue;
                    };
                    if let Some(t) = self.tracks.get_mut(src.track.0) {
                        let rate = u64::from(t.config.codec.clock_rate());
                        let e = &mut t.encodings[usize::from(src.encoding)];
                        let ntp_ticks =
                            ((u128::from(sr.ntp_time()) * u128::from(rate)) >> 32) as u32;
                        e.base = Some(sr.rtp_time().wrapping_sub(ntp_ticks));
                        if let Some(r) = e.recv.as_mut() {
                            r.last_sr = Some(SrInfo {
                                ntp: sr.ntp_time(),
                                rtp: sr.rtp_time(),
                                at: now,
                            });
                        }
                    }
                }
                RtcpPacket::ReceiverReport(rr) => {
                    for block in rr.reports() {
                        self.on_report_block(now, from, &block);
                    }
                }
                RtcpPacket::Nack(n) => {
                    let Some(sub) = self.sub_by_out_ssrc(from, n.media_ssrc) else {
                        continue;
                    };
                    for seq in n.lost() {
                        self.retransmit(now, sub, seq);
                    }
                }
                RtcpPacket::Pli { media_ssrc, .. } => {
                    if let Some(sub) = self.sub_by_out_ssrc(from, media_ssrc) {
                        self.request_keyframe_for(now, sub);
                    }
                }
                RtcpPacket::Fir(f) => {
                    for (ssrc, _) in f.entries() {
                        if let Some(sub) = self.sub_by_out_ssrc(from, ssrc) {
                            self.request_keyframe_for(now, sub);
                        }
                    }
                }
                RtcpPacket::TransportCc(fb) => {
                    if let Some(bw) = self
                        .participants
                        .get_mut(from.0)
                        .and_then(|p| p.bw.as_mut())
                    {
                        bw.bwe.on_feedback(now, &fb);
                        bw.informed = true;
                        bw.informed_at.get_or_insert(now);
                        self.on_estimate_update(now, from);
                    }
                }
                RtcpPacket::Remb(r) => {
                    if let Some(bw) = self
                        .participants
                        .get_mut(from.0)
                        .and_then(|p| p.bw.as_mut())
                    {
                        bw.bwe.on_remb(now, r.bitrate_bps);
                        bw.informed = true;
                        bw.informed_at.get_or_insert(now);
                        self.on_estimate_update(now, from);
                    }
                    for ssrc in r.ssrcs() {
                        if let Some(sub) = self.sub_by_out_ssrc(from, ssrc)
                            && let Some(s) = self.subscriptions.get_mut(sub.0)
                        {
                            s.stats.remb_bps = Some(r.bitrate_bps);
                        }
                    }
                }
                _ => {}
            }
        }
    }

    fn sub_by_out_ssrc(&self, from: ParticipantId, ssrc: u32) -> Option<SubscriptionId> {
        let p = self.participants.get(from.0)?;
        p.subscriptions.iter().copied().find(|s| {
            self.subscriptions.get(s.0).is_some_and(|x| {
                x.config.ssrc.0 == ssrc || x.config.rtx_ssrc.is_some_and(|r| r.0 == ssrc)
            })
        })
    }

    fn on_report_block(&mut self, now: Instant, from: ParticipantId, b: &rtcp::ReportBlock) {
        let Some(sub) = self.sub_by_out_ssrc(from, b.ssrc) else {
            return;
        };
        let now_mid = (self.ntp(now) >> 16) as u32;
        let rtt = (b.last_sr != 0).then(|| {
            let r = now_mid
                .wrapping_sub(b.last_sr)
                .wrapping_sub(b.delay_since_last_sr);
            Duration::from_micros(u64::from(r) * 1_000_000 / 65_536)
        });
        let Some(s) = self.subscriptions.get_mut(sub.0) else {
            return;
        };
        let rate = self
            .tracks
            .get(s.track.0)
            .map_or(90_000, |t| t.config.codec.clock_rate());
        s.stats.fraction_lost = f32::from(b.fraction_lost) / 256.0;
        s.stats.jitter_ms = b.jitter as f32 * 1000.0 / rate as f32;
        if let Some(rtt) = rtt.filter(|r| *r < Duration::from_secs(10)) {
            s.stats.rtt = Some(rtt);
            if let Some(p) = self.participants.get_mut(from.0) {
                p.rtt = Some(rtt);
                if let Some(bw) = p.bw.as_mut() {
                    bw.bwe.on_rtt(rtt);
                }
            }
        }
    }

    fn retransmit(&mut self, now: Instant, sub: SubscriptionId, seq: u16) {
        let Some(s) = self.subscriptions.get_mut(sub.0) else {
            return;
        };
        let Some(sent) = s.history.lookup(seq) else {
            self.stats.drops[DropReason::HistoryMiss.index()] += 1;
            return;
        };
        // Padding needs no stored packet (a probe's padding never had one).
        if !sent.rewrite.pad && self.store.get(sent.slot).is_none() {
            self.stats.drops[DropReason::HistoryMiss.index()] += 1;
            return;
        }
        // With pacing, one repair per packet per round trip (libwebrtc does the same): repairs
        // go ahead of video, and a receiver behind a long queue NACKs again before the first
        // repair can arrive; answering every NACK would starve the video behind them.
        let rtt = s.stats.rtt.unwrap_or(self.config.initial_rtt);
        let now_ms = now.saturating_duration_since(self.epoch).as_millis() as u32;
        if self.pacing.enabled
            && !s
                .history
                .may_resend(seq, now_ms, rtt.as_millis().min(1000) as u32)
        {
            self.stats.retransmissions_throttled += 1;
            return;
        }
        // Padding is resent as padding under its own number, never wrapped in RTX.
        let rtx_osn = s
            .config
            .rtx_ssrc
            .filter(|_| !sent.rewrite.pad)
            .map(|_| sent.rewrite.seq);
        let out = Out {
            subscription: sub,
            slot: sent.slot,
            rewrite: sent.rewrite,
            rtx_osn,
            key: false,
        };
        if let Some(p) = self.participants.get_mut(s.subscriber.0)
            && let Some(pacer) = p.pacer.as_mut()
        {
            let len = self.store.get(sent.slot).map_or(0, |(b, _)| b.len());
            if pacer.push(now, Class::Retransmission, out, len).is_err() {
                self.stats.drops[DropReason::PacerQueue.index()] += 1;
                return;
            }
            if !p.paced_active {
                p.paced_active = true;
                self.pacing.active.push(s.subscriber);
            }
            self.pacing.wakeup = Some(self.pacing.wakeup.map_or(now, |w| w.min(now)));
        } else {
            if self.transmit.len() >= self.config.transmit_queue {
                self.stats.drops[DropReason::QueueFull.index()] += 1;
                return;
            }
            self.transmit.push_back(out);
        }
        s.stats.retransmissions += 1;
        self.stats.retransmissions += 1;
    }

    /// Asks the publisher of a subscription's target layer for a keyframe, throttled per source
    /// and per subscriber to one per max(2 x RTT, 200 ms), at most 1 s apart.
    fn request_keyframe_for(&mut self, now: Instant, sub: SubscriptionId) {
        let Some(s) = self.subscriptions.get(sub.0) else {
            return;
        };
        let spatial = if s.forwarder.wants_keyframe() {
            s.forwarder.target
        } else {
            s.forwarder.current.unwrap_or(s.forwarder.target)
        };
        let track = s.track;
        let sub_rtt = s.stats.rtt;
        let sub_last = s.last_keyframe_request;
        let Some(t) = self.tracks.get(track.0) else {
            return;
        };
        if t.config.codec.is_audio() {
            return;
        }
        let owner = t.owner;
        let Some(p) = self.participants.get(owner.0) else {
            return;
        };
        let rtt = p.rtt.or(sub_rtt).unwrap_or(self.config.initial_rtt);
        let interval = (rtt * 2)
            .max(Duration::from_millis(200))
            .min(Duration::from_secs(1));
        let enc = &t.encodings[usize::from(spatial.min(t.encodings.len() as u8 - 1))];
        let Some(media_ssrc) = enc.ssrc else { return };
        let throttled = |last: Option<Instant>| {
            last.is_some_and(|l| now.saturating_duration_since(l) < interval)
        };
        if throttled(enc.last_keyframe_request) || throttled(sub_last) {
            self.drop(DropReason::KeyframeThrottled);
            return;
        }
        let sender = p.rtcp_ssrc;
        if self
            .rtcp
            .push(owner, |b| rtcp::write_pli(b, sender, media_ssrc))
            .is_none()
        {
            self.drop(DropReason::QueueFull);
            return;
        }
        self.stats.keyframe_requests += 1;
        if let Some(t) = self.tracks.get_mut(track.0) {
            let i = usize::from(spatial.min(t.encodings.len() as u8 - 1));
            t.encodings[i].last_keyframe_request = Some(now);
        }
        if let Some(s) = self.subscriptions.get_mut(sub.0) {
            s.last_keyframe_request = Some(now);
        }
        self.event(Event::KeyframeRequested { track, spatial });
    }

    // ----- Timers -----

    fn handle_timeout(&mut self, now: Instant) {
        if now >= self.next_nack {
            self.next_nack = now + self.config.nack_interval;
            self.send_nacks(now);
        }
        if now >= self.next_feedback {
            self.next_feedback = now + self.config.feedback_interval;
            self.send_feedback(now);
            let mut waiting = std::mem::take(&mut self.scratch_subs);
            waiting.clear();
            waiting.extend(self.want_keyframe.iter().copied());
            for &sub in &waiting {
                self.request_keyframe_for(now, sub);
            }
            self.scratch_subs = waiting;
        }
        if now >= self.next_report {
            self.next_report = now + self.config.report_interval;
            self.send_reports(now);
        }
        if now >= self.next_speaker {
            self.next_speaker = now + self.config.speaker_interval;
            self.update_speakers();
        }
        if self.config.bandwidth.enabled && now >= self.next_bandwidth {
            self.next_bandwidth = now + self.config.bandwidth.allocation_interval;
            self.bandwidth_tick(now);
        }
    }

    fn send_nacks(&mut self, now: Instant) {
        let mut pending = std::mem::take(&mut self.scratch_nack);
        pending.clear();
        pending.extend(self.nack_pending.iter().copied());
        for &(track, enc) in &pending {
            let Some(t) = self.tracks.get_mut(track.0) else {
                continue;
            };
            let owner = t.owner;
            let rtt = self
                .participants
                .get(owner.0)
                .and_then(|p| p.rtt)
                .unwrap_or(self.config.initial_rtt);
            let e = &mut t.encodings[usize::from(enc)];
            let (Some(ssrc), Some(r)) = (e.ssrc, e.recv.as_mut()) else {
                continue;
            };
            let mut lost = [0u16; 64];
            let n = r.due_nacks(now, rtt, &mut lost);
            if r.missing_count() == 0 {
                self.nack_pending.remove(&(track, enc));
            }
            if n == 0 {
                continue;
            }
            let Some(sender) = self.participants.get(owner.0).map(|p| p.rtcp_ssrc) else {
                continue;
            };
            if self
                .rtcp
                .push(owner, |b| rtcp::write_nack(b, sender, ssrc, &lost[..n]))
                .is_some()
            {
                self.stats.nacks_sent += n as u64;
            } else {
                self.drop(DropReason::QueueFull);
            }
        }
        self.scratch_nack = pending;
    }

    fn send_feedback(&mut self, now: Instant) {
        let mut ids = std::mem::take(&mut self.scratch_parts);
        ids.clear();
        ids.extend(self.participants.keys().map(ParticipantId));
        for &pid in &ids {
            let Some(p) = self.participants.get_mut(pid.0) else {
                continue;
            };
            if p.config.extensions.transport_cc.is_some() {
                if !p.twcc_in.pending() {
                    continue;
                }
                let (Some(first), Some(max)) = (p.twcc_in.next_report, p.twcc_in.max) else {
                    continue;
                };
                let first = first.max(max.saturating_sub(TWCC_WINDOW as u64 - 1));
                let count = (max - first + 1) as usize;
                let mut arrivals = [None; TWCC_WINDOW];
                for (i, a) in arrivals.iter_mut().enumerate().take(count) {
                    let ext = first + i as u64;
                    *a = p.twcc_in.arrivals[ext as usize % TWCC_WINDOW]
                        .filter(|(e, _)| *e == ext)
                        .map(|(_, t)| t);
                }
                let (sender, fb) = (p.rtcp_ssrc, p.fb_count);
                let media = p.ssrcs.keys().next().copied().unwrap_or(0);
                let mut covered = 0;
                let ok = self.rtcp.push(pid, |b| {
                    let (len, c) = rtcp::write_transport_cc(
                        b,
                        sender,
                        media,
                        first as u16,
                        fb,
                        &arrivals[..count],
                    )?;
                    covered = c;
                    Some(len)
                });
                if ok.is_some() {
                    p.fb_count = p.fb_count.wrapping_add(1);
                    p.twcc_in.next_report = Some(first + covered as u64);
                    self.stats.rtcp_out += 1;
                } else if arrivals[..count].iter().all(Option::is_none) {
                    // Nothing received in the window (all lost): skip past it.
                    p.twcc_in.next_report = Some(max + 1);
                }
            } else if !p.tracks.is_empty() {
                // REMB fallback: tell the publisher the rate it reaches us at with headroom,
                // never below 300 kbit/s, so its estimator can grow toward its layers.
                let interval = self.config.feedback_interval.as_secs_f64();
                let rate = (p.bytes_in_interval as f64 * 8.0 / interval) as u64;
                p.bytes_in_interval = 0;
                let estimate = (rate + rate / 2).max(300_000);
                let sender = p.rtcp_ssrc;
                let mut ssrcs = [0u32; 16];
                let n = p
                    .ssrcs
                    .keys()
                    .take(16)
                    .enumerate()
                    .map(|(i, s)| ssrcs[i] = *s)
                    .count();
                if self
                    .rtcp
                    .push(pid, |b| rtcp::write_remb(b, sender, estimate, &ssrcs[..n]))
                    .is_none()
                {
                    self.stats.drops[DropReason::QueueFull.index()] += 1;
                }
            }
        }
        self.scratch_parts = ids;
        let _ = now;
    }

    fn send_reports(&mut self, now: Instant) {
        let ntp = self.ntp(now);
        // Sender reports for every outgoing stream that has sent something.
        let mut subs = std::mem::take(&mut self.scratch_subs);
        subs.clear();
        subs.extend(self.subscriptions.keys().map(SubscriptionId));
        for &sub in &subs {
            let Some(s) = self.subscriptions.get(sub.0) else {
                continue;
            };
            let Some((ts, at)) = s.forwarder.last_out() else {
                continue;
            };
            let rate = self
                .tracks
                .get(s.track.0)
                .map_or(90_000, |t| t.config.codec.clock_rate());
            let elapsed = now.saturating_duration_since(at);
            let rtp_time =
                ts.wrapping_add((elapsed.as_micros() as u64 * u64::from(rate) / 1_000_000) as u32);
            let info = SenderInfo {
                ssrc: s.config.ssrc.0,
                ntp_time: ntp,
                rtp_time,
                packet_count: s.stats.packets as u32,
                octet_count: s.octets,
            };
            let to = s.subscriber;
            if self
                .rtcp
                .push(to, |b| rtcp::write_sender_report(b, &info, &[]))
                .is_some()
            {
                self.stats.rtcp_out += 1;
            } else {
                self.drop(DropReason::QueueFull);
            }
        }
        // Receiver reports toward every publisher, up to 31 blocks per packet.
        self.scratch_subs = subs;
        let mut pids = std::mem::take(&mut self.scratch_parts);
        pids.clear();
        pids.extend(self.participants.keys().map(ParticipantId));
        let mut tracks = std::mem::take(&mut self.scratch_tracks);
        for &pid in &pids {
            let Some(p) = self.participants.get(pid.0) else {
                continue;
            };
            let sender = p.rtcp_ssrc;
            tracks.clear();
            tracks.extend(p.tracks.iter().copied());
            let mut blocks = [rtcp::ReportBlock::default(); 31];
            let mut n = 0;
            for t in &tracks {
                let Some(tr) = self.tracks.get_mut(t.0) else {
                    continue;
                };
                for e in tr.encodings.iter_mut() {
                    if let (Some(ssrc), Some(r)) = (e.ssrc, e.recv.as_mut())
                        && n < 31
                        && let Some(b) = r.report_block(ssrc, now)
                    {
                        blocks[n] = b;
                        n += 1;
                    }
                }
            }
            if n > 0 {
                if self
                    .rtcp
                    .push(pid, |b| {
                        rtcp::write_receiver_report(b, sender, &blocks[..n])
                    })
                    .is_some()
                {
                    self.stats.rtcp_out += 1;
                } else {
                    self.drop(DropReason::QueueFull);
                }
            }
        }
        self.scratch_parts = pids;
        self.scratch_tracks = tracks;
    }

    fn update_speakers(&mut self) {
        let mut rooms = std::mem::take(&mut self.scratch_rooms);
        rooms.clear();
        rooms.extend(self.rooms.keys().map(RoomId));
        for &rid in &rooms {
            let Some(room) = self.rooms.get(rid.0) else {
                continue;
            };
            let mut loudest: Option<(ParticipantId, u32)> = None;
            for pid in &room.participants {
                let Some(p) = self.participants.get(pid.0) else {
                    continue;
                };
                for t in &p.tracks {
                    let Some(tr) = self.tracks.get(t.0) else {
                        continue;
                    };
                    let (sum, n) = tr.loudness;
                    if n == 0 {
                        continue;
                    }
                    let mean = sum / n;
                    // Below -60 dBov (loudness 67) counts as silence.
                    if mean > 67 && loudest.is_none_or(|(_, l)| mean > l) {
                        loudest = Some((*pid, mean));
                    }
                }
            }
            for pid in &room.participants {
                if let Some(p) = self.participants.get(pid.0) {
                    for t in &p.tracks {
                        if let Some(tr) = self.tracks.get_mut(t.0) {
                            tr.loudness = (0, 0);
                        }
                    }
                }
            }
            let Some(room) = self.rooms.get_mut(rid.0) else {
                continue;
            };
            let Some((who, _)) = loudest else {
                room.challenger = None;
                continue;
            };
            if room.speaker == Some(who) {
                room.challenger = None;
                continue;
            }
            // Hysteresis: a new speaker must be loudest for two intervals in a row.
            let streak = match room.challenger {
                Some((c, n)) if c == who => n + 1,
                _ => 1,
            };
            room.challenger = Some((who, streak));
            if streak >= 2 || room.speaker.is_none() {
                room.speaker = Some(who);
                room.challenger = None;
                self.event(Event::ActiveSpeaker {
                    room: rid,
                    participant: who,
                });
            }
        }
        self.scratch_rooms = rooms;
    }

    // ----- Drain -----

    /// The earliest time the engine needs [`Input::Timeout`]. O(1).
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        let t = self
            .next_report
            .min(self.next_feedback)
            .min(self.next_nack)
            .min(self.next_speaker);
        Some(if self.config.bandwidth.enabled {
            let t = t.min(self.next_bandwidth);
            let t = self.pacing.wakeup.map_or(t, |w| t.min(w));
            self.probes.front().map_or(t, |p| t.min(p.at))
        } else {
            t
        })
    }

    /// The next event, if any.
    #[must_use]
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// Writes the next datagram to send into `buf` (at least 1500 bytes to fit any packet).
    /// RTCP goes first. `None` when nothing is waiting.
    #[must_use]
    pub fn poll_transmit(&mut self, now: Instant, buf: &mut [u8]) -> Option<Transmit> {
        if let Some((to, slot, len)) = self.rtcp.meta.pop_front() {
            let i = slot as usize * MAX_RTCP;
            let len = usize::from(len);
            if buf.len() >= len {
                buf[..len].copy_from_slice(&self.rtcp.buf[i..i + len]);
                return Some(Transmit {
                    to,
                    len,
                    rtcp: true,
                });
            }
            self.drop(DropReason::TooLarge);
        }
        if let Some(pr) = self.probes.front().copied().filter(|p| p.at <= now) {
            match self.write_probe(now, &pr, buf, !self.transmit.is_empty()) {
                ProbeWrite::Sent(len) => {
                    self.probes.pop_front();
                    // Probes keep their cluster's timing and are not charged to the pacer's
                    // media budget: as in libwebrtc, a probe is sent on top of the media, and
                    // charging it made media wait behind every distrusted 250 ms cluster
                    // (sim_pacing behind a 500 kbps bucket: 795 tail drops paced vs 813
                    // unpaced with the charge, 525 without).
                    self.stats.rtp_out += 1;
                    self.stats.rtp_bytes_out += len as u64;
                    return Some(Transmit {
                        to: pr.to,
                        len,
                        rtcp: false,
                    });
                }
                ProbeWrite::Later(at) => {
                    if let Some(front) = self.probes.front_mut() {
                        front.at = at;
                        front.retries += 1;
                    }
                }
                ProbeWrite::AfterMedia => {}
                ProbeWrite::Gone => {
                    self.probes.pop_front();
                }
            }
        }
        if self.pacing.wakeup.is_some_and(|t| t <= now)
            && let Some(t) = self.poll_paced(now, buf)
        {
            return Some(t);
        }
        while let Some(out) = self.transmit.pop_front() {
            if self.transmit.is_empty() {
                // Start the ring over while it is empty, so a queue that drains every round
                // keeps reusing the same (cached) entries instead of walking its whole capacity.
                self.transmit.clear();
            }
            if let Some((to, len)) = self.write_media(now, &out, buf) {
                self.stats.rtp_out += 1;
                self.stats.rtp_bytes_out += len as u64;
                return Some(Transmit {
                    to,
                    len,
                    rtcp: false,
                });
            }
        }
        None
    }

    /// The next paced packet due at `now`, visiting the transports with queued packets in
    /// turn (one packet each per visit, so none starves the others). When none is due, sets
    /// the pacing wakeup to the earliest release.
    fn poll_paced(&mut self, now: Instant, buf: &mut [u8]) -> Option<Transmit> {
        let mut misses = 0;
        while misses < self.pacing.active.len() {
            let i = self.pacing.cursor % self.pacing.active.len();
            let pid = self.pacing.active[i];
            let Some(p) = self.participants.get_mut(pid.0) else {
                self.pacing.active.swap_remove(i);
                self.pacing.cursor = i;
                continue;
            };
            let Some(pacer) = p.pacer.as_mut() else {
                self.pacing.active.swap_remove(i);
                self.pacing.cursor = i;
                continue;
            };
            let Some(r) = pacer.pop(now) else {
                if pacer.is_empty() {
                    p.paced_active = false;
                    self.pacing.active.swap_remove(i);
                    self.pacing.cursor = i;
                } else {
                    self.pacing.cursor = i + 1;
                    misses += 1;
                }
                continue;
            };
            self.pacing.cursor = i + 1;
            misses = 0;
            if let Some(t) = self.release(now, r, buf) {
                return Some(t);
            }
        }
        let participants = &self.participants;
        self.pacing.wakeup = self
            .pacing
            .active
            .iter()
            .filter_map(|p| participants.get(p.0)?.pacer.as_ref()?.next_send(now))
            .min();
        None
    }

    /// Sends one item the pacer released, unless it waited too long.
    fn release(&mut self, now: Instant, r: Released<Out>, buf: &mut [u8]) -> Option<Transmit> {
        let late = now.saturating_duration_since(r.queued_at)
            > self.config.bandwidth.pacing.max_queue_delay;
        match r.class {
            Class::Audio => {}
            Class::Retransmission | Class::Padding if late => {
                self.drop(DropReason::PacerQueue);
                return None;
            }
            Class::Retransmission => {}
            Class::Video if late && !r.item.key => {
                self.pacer_flush(now, &r.item);
                return None;
            }
            Class::Video | Class::Padding => {
                let s = self.subscriptions.get_mut(r.item.subscription.0)?;
                let seq = r.item.rewrite.seq;
                if s.released
                    .is_none_or(|(h, _)| (seq.wrapping_sub(h) as i16) > 0)
                {
                    s.released = Some((seq, r.item.rewrite.marker && !r.item.rewrite.pad));
                }
            }
        }
        let (to, len) = self.write_media(now, &r.item, buf)?;
        self.stats.rtp_out += 1;
        self.stats.rtp_bytes_out += len as u64;
        Some(Transmit {
            to,
            len,
            rtcp: false,
        })
    }

    /// The queue-delay bound: `out` waited too long, so the subscription's queued video (and
    /// padding) is dropped and it starts over at the next keyframe, numbering on from what
    /// actually left (as at a layer switch).
    #[inline(never)]
    fn pacer_flush(&mut self, now: Instant, out: &Out) {
        let sub = out.subscription;
        let Some(s) = self.subscriptions.get_mut(sub.0) else {
            return;
        };
        s.history.forget(out.rewrite.seq);
        let mut n = 1;
        if let Some(pacer) = self
            .participants
            .get_mut(s.subscriber.0)
            .and_then(|p| p.pacer.as_mut())
        {
            let history = &mut s.history;
            for class in [Class::Video, Class::Padding] {
                n += pacer.remove_if(class, |o| {
                    let hit = o.subscription == sub;
                    if hit {
                        history.forget(o.rewrite.seq);
                    }
                    hit
                });
            }
        }
        s.stats.packets = s.stats.packets.saturating_sub(n as u64);
        s.forwarder.restart_after(s.released);
        self.stats.drops[DropReason::PacerQueue.index()] += n as u64;
        self.stats.pacer_flushes += 1;
        self.want_keyframe.insert(sub);
        self.request_keyframe_for(now, sub);
    }

    /// Sets `pid`'s pacing rate from its estimate: estimate × factor, at least the floor.
    pub(super) fn update_pacing_rate(&mut self, now: Instant, pid: ParticipantId) {
        let pc = self.config.bandwidth.pacing;
        let Some(p) = self.participants.get_mut(pid.0) else {
            return;
        };
        let (Some(bw), Some(pacer)) = (p.bw.as_ref(), p.pacer.as_mut()) else {
            return;
        };
        let e = bw.bwe.target_bitrate();
        let e = p.estimate_cap.map_or(e, |c| e.min(c));
        let rate = ((e as f64 * pc.factor) as u64).max(pc.min_rate_bps);
        pacer.set_rate(now, rate);
    }

    /// Writes one outgoing packet: the fast path from the subscription's header template when
    /// the packet's own extensions fit the one-byte form, else the general path. Returns the
    /// transport to send it to and its length.
    fn write_media(
        &mut self,
        now: Instant,
        out: &Out,
        buf: &mut [u8],
    ) -> Option<(ParticipantId, usize)> {
        let s = self.subscriptions.get(out.subscription.0)?;
        let Some(t) = s.template.as_ref().filter(|_| out.rtx_osn.is_none()) else {
            return self.write_media_general(now, out, buf);
        };
        let (src, meta) = self.store.get(out.slot).or(padding_source(out))?;
        let dd = match meta.dd {
            Some((o, l)) => {
                let d = src.get(usize::from(o)..usize::from(o) + usize::from(l))?;
                if d.len() > 16 {
                    return self.write_media_general(now, out, buf);
                }
                t.dd_id.filter(|_| !d.is_empty()).map(|id| (id, d))
            }
            None => None,
        };
        let audio = t.audio_id.zip(meta.audio_level);
        let to = s.subscriber;
        let payload = if out.rewrite.pad {
            &PADDING[..]
        } else {
            let po = usize::from(meta.payload.0);
            src.get(po..po + usize::from(meta.payload.1))?
        };
        let (hl, extra) = if audio.is_none() && dd.is_none() {
            (usize::from(t.padded_len), 0)
        } else {
            let el = usize::from(t.len) - 16
                + audio.map_or(0, |_| 2)
                + dd.map_or(0, |(_, d)| 1 + d.len());
            (16 + el.next_multiple_of(4), el)
        };
        let total = hl + payload.len();
        let Some(buf) = buf.get_mut(..total) else {
            self.stats.drops[DropReason::TooLarge.index()] += 1;
            return None;
        };
        // The template as a whole (fixed size: a few moves, no call), then the per-copy fields.
        if let Some(h) = buf.get_mut(..48) {
            h.copy_from_slice(&t.bytes);
        } else {
            buf[..hl].copy_from_slice(&t.bytes[..hl]);
        }
        buf[1] |= u8::from(out.rewrite.marker) << 7;
        buf[2..4].copy_from_slice(&out.rewrite.seq.to_be_bytes());
        buf[4..8].copy_from_slice(&out.rewrite.ts.to_be_bytes());
        if let Some(at) = t.twcc_at {
            let p = self.participants.get_mut(to.0)?;
            let at = usize::from(at);
            buf[at..at + 2].copy_from_slice(&p.twcc_out.to_be_bytes());
            if let Some(bw) = p.bw.as_mut() {
                bw.bwe.on_packet_sent(now, p.twcc_out, total, None);
            }
            p.twcc_out = p.twcc_out.wrapping_add(1);
        }
        if let Some(at) = t.abs_at {
            let abs = abs_send_time(&mut self.abs_cache, self.epoch, now);
            let at = usize::from(at);
            buf[at..at + 3].copy_from_slice(&abs);
        }
        if extra > 0 {
            let mut at = usize::from(t.len);
            if let Some((id, v)) = audio {
                buf[at] = id << 4;
                buf[at + 1] = v;
                at += 2;
            }
            if let Some((id, d)) = dd {
                buf[at] = (id << 4) | (d.len() as u8 - 1);
                buf[at + 1..at + 1 + d.len()].copy_from_slice(d);
                at += 1 + d.len();
            }
            buf[at..hl].fill(0);
            buf[14..16].copy_from_slice(&(((hl - 16) / 4) as u16).to_be_bytes());
        }
        let body = &mut buf[hl..];
        body.copy_from_slice(payload);
        if out.rewrite.pad {
            buf[0] |= 0x20;
        } else if out.rewrite.vp8.is_some() {
            Self::rewrite_vp8(out, meta, body);
        }
        Some((to, total))
    }

    fn rewrite_vp8(out: &Out, meta: &SlotMeta, payload: &mut [u8]) {
        if let (Some((picid, tl0)), Some(v)) = (out.rewrite.vp8, meta.vp8) {
            let at = usize::from(v.picture_id);
            if v.long_picture_id {
                payload[at] = 0x80 | ((picid >> 8) as u8 & 0x7f);
                payload[at + 1] = picid as u8;
            } else {
                payload[at] = picid as u8 & 0x7f;
            }
            if let (Some(t), Some(o)) = (tl0, v.tl0) {
                payload[usize::from(o)] = t;
            }
        }
    }

    /// Builds one outgoing RTP packet the general way: a fresh header with the subscriber's
    /// SSRC, sequence number, timestamp and payload type, the extensions the subscriber
    /// negotiated (with its IDs and a transport-wide sequence number of its own transport),
    /// then the payload (after the original sequence number when sent as RTX).
    fn write_media_general(
        &mut self,
        now: Instant,
        out: &Out,
        buf: &mut [u8],
    ) -> Option<(ParticipantId, usize)> {
        let abs = abs_send_time(&mut self.abs_cache, self.epoch, now);
        let s = self.subscriptions.get_mut(out.subscription.0)?;
        let (src, meta) = self.store.get(out.slot).or(padding_source(out))?;
        let sub_p = self.participants.get_mut(s.subscriber.0)?;
        let ids = sub_p.config.extensions;
        let (ssrc, pt, seq) = match out.rtx_osn {
            Some(_) => {
                s.rtx_seq = s.rtx_seq.wrapping_add(1);
                (s.config.rtx_ssrc?.0, s.config.rtx_payload_type?, s.rtx_seq)
            }
            None => (s.config.ssrc.0, s.config.payload_type, out.rewrite.seq),
        };
        // Extensions in the subscriber's IDs: mid, transport-cc (this transport's own
        // sequence), abs-send-time, audio level and dependency descriptor. Values are gathered
        // first so the exact size is known before anything is written.
        let tw = sub_p.twcc_out.to_be_bytes();
        let audio = meta.audio_level.map(|v| [v]);
        let dd = meta
            .dd
            .map(|(o, l)| &src[usize::from(o)..usize::from(o) + usize::from(l)]);
        let mid = s.config.mid;
        let items: [(Option<u8>, Option<&[u8]>); 5] = [
            (ids.mid, mid.as_ref().map(|m| m.as_bytes())),
            (ids.transport_cc, Some(&tw[..])),
            (ids.abs_send_time, Some(&abs[..])),
            (ids.audio_level, audio.as_ref().map(|a| &a[..])),
            (ids.dependency_descriptor, dd),
        ];
        let two_byte = dd.is_some_and(|d| d.len() > 16);
        let fits = |id: u8, v: &[u8]| two_byte || (id < 15 && (1..=16).contains(&v.len()));
        let el: usize = items
            .iter()
            .filter_map(|(id, v)| Some((id.as_ref()?, v.as_ref()?)))
            .filter(|(id, v)| fits(**id, v))
            .map(|(_, v)| v.len() + if two_byte { 2 } else { 1 })
            .sum();
        let ext_len = if el == 0 {
            0
        } else {
            4 + el.next_multiple_of(4)
        };
        let (po, pl) = (usize::from(meta.payload.0), usize::from(meta.payload.1));
        let payload = if out.rewrite.pad {
            &PADDING[..]
        } else {
            &src[po..po + pl]
        };
        let osn_len = if out.rtx_osn.is_some() { 2 } else { 0 };
        let total = RTP_HEADER_LEN + ext_len + osn_len + payload.len();
        if buf.len() < total {
            self.stats.drops[DropReason::TooLarge.index()] += 1;
            return None;
        }
        if ids.transport_cc.is_some() {
            if let Some(bw) = sub_p.bw.as_mut() {
                bw.bwe.on_packet_sent(now, sub_p.twcc_out, total, None);
            }
            sub_p.twcc_out = sub_p.twcc_out.wrapping_add(1);
        }
        buf[0] = 0x80 | if ext_len > 0 { 0x10 } else { 0 };
        buf[1] = (u8::from(out.rewrite.marker) << 7) | (pt & 0x7f);
        buf[2..4].copy_from_slice(&seq.to_be_bytes());
        buf[4..8].copy_from_slice(&out.rewrite.ts.to_be_bytes());
        buf[8..12].copy_from_slice(&ssrc.to_be_bytes());
        let mut pos = RTP_HEADER_LEN;
        if ext_len > 0 {
            let profile: u16 = if two_byte { 0x1000 } else { 0xBEDE };
            buf[pos..pos + 2].copy_from_slice(&profile.to_be_bytes());
            buf[pos + 2..pos + 4].copy_from_slice(&(((ext_len - 4) / 4) as u16).to_be_bytes());
            let mut at = pos + 4;
            for (id, v) in items
                .iter()
                .filter_map(|(id, v)| Some((id.as_ref()?, v.as_ref()?)))
            {
                if !fits(*id, v) {
                    continue;
                }
                if two_byte {
                    buf[at] = *id;
                    buf[at + 1] = v.len() as u8;
                    at += 2;
                } else {
                    buf[at] = (id << 4) | (v.len() as u8 - 1);
                    at += 1;
                }
                buf[at..at + v.len()].copy_from_slice(v);
                at += v.len();
            }
            buf[at..pos + ext_len].fill(0);
            pos += ext_len;
        }
        if let Some(osn) = out.rtx_osn {
            buf[pos..pos + 2].copy_from_slice(&osn.to_be_bytes());
            pos += 2;
        }
        buf[pos..pos + payload.len()].copy_from_slice(payload);
        if out.rewrite.pad && out.rtx_osn.is_none() {
            buf[0] |= 0x20;
        } else if !out.rewrite.pad {
            // VP8 picture ID and TL0PICIDX, at the offsets found when the packet arrived.
            Self::rewrite_vp8(out, meta, &mut buf[pos..pos + payload.len()]);
        }
        Some((s.subscriber, total))
    }
}
