//! A synthetic publisher: simulcast video (VP8 or AV1 at three resolutions, L1T3 temporal
//! layers, keyframes on an interval and on request, frame sizes by layer and frame type), or
//! Opus audio (one packet per 20 ms frame, [`PublisherConfig::opus`]),
//! optional (emulated) SFrame encryption, packetized into RTP with the descriptors a browser
//! writes. It answers PLI/FIR with a keyframe on that layer, NACKs from its send history (RTX
//! with the original sequence number, or a plain resend), stamps transport-wide sequence
//! numbers, and sends sender reports.
//!
//! Sans-IO like the engine: [`Publisher::handle_timeout`] produces frames when
//! [`Publisher::poll_timeout`] says, [`Publisher::handle_datagram`] takes RTCP from the SFU,
//! and [`Publisher::poll_transmit`] drains datagrams to send.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use super::packet::{Header, write_rtp};
use super::rng::SimRng;
use crate::av1dd::{self, DependencyStructure, MAX_SPATIAL};
use crate::engine::{Codec, EncodingConfig, ExtensionIds, TrackConfig};
use crate::ids::Ssrc;
use crate::rtcp::{self, RtcpPacket, SenderInfo};
use crate::rtp::{RtpPacket, RtpPacketMut};

/// Room kept in every packet for the header extension block, so packets never exceed the MTU.
const EXT_ROOM: usize = 40;
/// Largest number of simulcast layers a publisher has.
pub const MAX_LAYERS: usize = MAX_SPATIAL;

/// The codec a synthetic publisher emits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum MediaCodec {
    /// VP8 with the RFC 7741 payload descriptor (15-bit picture ID, TL0PICIDX, TID, Y).
    Vp8,
    /// AV1 with the dependency descriptor header extension.
    Av1,
    /// Opus audio: every packet is one 20 ms frame, decodable on its own.
    Opus,
}

impl MediaCodec {
    /// The engine's codec.
    pub fn codec(self) -> Codec {
        match self {
            Self::Vp8 => Codec::Vp8,
            Self::Av1 => Codec::Av1,
            Self::Opus => Codec::Opus,
        }
    }

    /// Whether this is audio.
    pub fn is_audio(self) -> bool {
        self == Self::Opus
    }
}

/// One simulcast layer (encoding).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct LayerConfig {
    /// Width in pixels.
    pub width: u16,
    /// Height in pixels.
    pub height: u16,
    /// Target bitrate, bits per second.
    pub bitrate_bps: u64,
}

impl LayerConfig {
    /// A layer of `width` x `height` at `bitrate_bps`.
    pub fn new(width: u16, height: u16, bitrate_bps: u64) -> Self {
        Self {
            width,
            height,
            bitrate_bps,
        }
    }
}

/// How a synthetic publisher encodes and sends. Start from [`PublisherConfig::vp8`] or
/// [`PublisherConfig::av1`].
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct PublisherConfig {
    /// The codec.
    pub codec: MediaCodec,
    /// Simulcast layers, lowest first (1-4).
    pub layers: Vec<LayerConfig>,
    /// Frames per second of every layer.
    pub fps: u32,
    /// Temporal layers per encoding: 1 (L1T1), 2 (T0,T1) or 3 (L1T3: T0,T2,T1,T2).
    pub temporal_layers: u8,
    /// A keyframe on every layer at least this often (`None`: only the first and on request).
    pub keyframe_interval: Option<Duration>,
    /// A keyframe's size relative to the layer's average frame.
    pub keyframe_factor: f64,
    /// Random variation of frame sizes, +/- this fraction.
    pub size_spread: f64,
    /// Answer NACKs with RTX (RFC 4588) rather than resending the packet as it was.
    pub rtx: bool,
    /// Emulated SFrame encryption (see the module docs of [`crate::sim`]).
    pub sframe: bool,
    /// Payload type.
    pub payload_type: u8,
    /// RTX payload type.
    pub rtx_payload_type: u8,
    /// Largest datagram (RTP packet) size.
    pub mtu: usize,
    /// Interval of sender reports.
    pub report_interval: Duration,
    /// Packets kept per layer to answer NACKs.
    pub history: usize,
    /// Interleave the layers' packets of one capture instant (as a pacer does) rather than
    /// sending each layer's frame in one run.
    pub interleave: bool,
    /// What the track is, for the allocator's specialty hook.
    pub source: crate::alloc::TrackSource,
    /// Who publishes it.
    pub role: crate::alloc::PublisherRole,
    /// Congestion control as a browser does it: a send-side estimator
    /// ([`crate::bwe::SendSideBwe`]) fed by the SFU's transport-wide CC feedback, and simulcast
    /// layers switched off from the top when the estimate cannot carry them (back on, with a
    /// keyframe, when it can). Off: every layer is always sent.
    pub adaptive: bool,
}

impl PublisherConfig {
    /// VP8 simulcast at 320x180 / 640x360 / 1280x720, 150 / 500 / 1500 kbit/s, 30 fps, L1T3,
    /// a keyframe every 10 s, RTX on.
    pub fn vp8() -> Self {
        Self {
            codec: MediaCodec::Vp8,
            layers: vec![
                LayerConfig::new(320, 180, 150_000),
                LayerConfig::new(640, 360, 500_000),
                LayerConfig::new(1280, 720, 1_500_000),
            ],
            fps: 30,
            temporal_layers: 3,
            keyframe_interval: Some(Duration::from_secs(10)),
            keyframe_factor: 5.0,
            size_spread: 0.15,
            rtx: true,
            sframe: false,
            payload_type: 96,
            rtx_payload_type: 97,
            mtu: 1200,
            report_interval: Duration::from_secs(1),
            history: 1024,
            interleave: true,
            adaptive: false,
            source: crate::alloc::TrackSource::Camera,
            role: crate::alloc::PublisherRole::Patient,
        }
    }

    /// The same layers as [`PublisherConfig::vp8`], as AV1 with the dependency descriptor.
    pub fn av1() -> Self {
        Self {
            codec: MediaCodec::Av1,
            payload_type: 45,
            rtx_payload_type: 46,
            ..Self::vp8()
        }
    }

    /// Opus at 32 kbit/s in 20 ms frames (50 packets a second, about 47 kbit/s with RTP
    /// headers), no RTX: a microphone as browsers send it.
    pub fn opus() -> Self {
        Self {
            codec: MediaCodec::Opus,
            layers: vec![LayerConfig::new(1, 1, 32_000)],
            fps: 50,
            temporal_layers: 1,
            keyframe_interval: None,
            keyframe_factor: 1.0,
            size_spread: 0.1,
            rtx: false,
            payload_type: 111,
            rtx_payload_type: 112,
            source: crate::alloc::TrackSource::Microphone,
            ..Self::vp8()
        }
    }

    /// With these simulcast layers, lowest first.
    pub fn with_layers(mut self, layers: Vec<LayerConfig>) -> Self {
        self.layers = layers;
        self
    }

    /// Published as `source` of a participant in `role` (the allocator ranks by these).
    pub fn with_meta(
        mut self,
        source: crate::alloc::TrackSource,
        role: crate::alloc::PublisherRole,
    ) -> Self {
        self.source = source;
        self.role = role;
        self
    }

    /// With this frame rate.
    pub fn with_fps(mut self, fps: u32) -> Self {
        self.fps = fps;
        self
    }

    /// With 1, 2 or 3 temporal layers.
    pub fn with_temporal_layers(mut self, n: u8) -> Self {
        self.temporal_layers = n;
        self
    }

    /// With this keyframe interval (`None`: keyframes only at the start and on request).
    pub fn with_keyframe_interval(mut self, interval: Option<Duration>) -> Self {
        self.keyframe_interval = interval;
        self
    }

    /// With or without RTX.
    pub fn with_rtx(mut self, rtx: bool) -> Self {
        self.rtx = rtx;
        self
    }

    /// With or without browser-like congestion control ([`PublisherConfig::adaptive`]).
    pub fn with_adaptive(mut self, adaptive: bool) -> Self {
        self.adaptive = adaptive;
        self
    }

    /// With or without emulated SFrame encryption.
    pub fn with_sframe(mut self, sframe: bool) -> Self {
        self.sframe = sframe;
        self
    }

    /// Checks the configuration; the text says what to fix.
    pub fn validate(&self) -> Result<(), &'static str> {
        if self.layers.is_empty() || self.layers.len() > MAX_LAYERS {
            return Err("a publisher needs 1-4 layers");
        }
        if self.codec.is_audio() && (self.layers.len() != 1 || self.temporal_layers != 1) {
            return Err("an audio publisher has one layer and one temporal layer");
        }
        if self
            .layers
            .iter()
            .any(|l| l.width == 0 || l.height == 0 || l.width > 0x3fff || l.height > 0x3fff)
        {
            return Err("layer dimensions must be 1-16383");
        }
        if !(1..=3).contains(&self.temporal_layers) {
            return Err("temporal_layers must be 1, 2 or 3");
        }
        if self.fps == 0 || self.fps > 1000 {
            return Err("fps must be 1-1000");
        }
        if self.mtu < 200 || self.mtu > 1500 {
            return Err("mtu must be 200-1500");
        }
        if self.history == 0 {
            return Err("history must hold at least one packet");
        }
        Ok(())
    }
}

/// (TID, layer sync) of each frame position in a temporal pattern. Layer sync (Y) is set on a
/// frame that references only the base layer; in L1T3 the second T2 references the T1.
fn pattern(temporal_layers: u8) -> &'static [(u8, bool)] {
    match temporal_layers {
        1 => &[(0, false)],
        2 => &[(0, false), (1, true)],
        _ => &[(0, false), (2, true), (1, true), (2, false)],
    }
}

/// Size of a frame of temporal layer `tid` relative to the layer's average frame.
fn weight(temporal_layers: u8, tid: u8) -> f64 {
    match (temporal_layers, tid) {
        (3, 0) => 1.6,
        (3, 1) => 1.0,
        (3, _) => 0.7,
        (2, 0) => 1.3,
        (2, _) => 0.7,
        _ => 1.0,
    }
}

/// The AV1 dependency structure a publisher attaches to keyframes: [`DependencyStructure::simple`]
/// for one spatial layer, with a keyframe template (no references) in front and frame diffs
/// on the others that match the temporal pattern (T0 references the previous T0, T1 the T0
/// two frames back, T2 the frame just before).
pub fn av1_structure(temporal_layers: u8, resolution: (u16, u16)) -> DependencyStructure {
    let tl = temporal_layers.clamp(1, 3);
    let mut res = [(0u16, 0u16); MAX_SPATIAL];
    res[0] = resolution;
    let base = DependencyStructure::simple(1, tl, Some(res));
    let mut s = base.clone();
    let n = usize::from(tl);
    s.templates = tl + 1;
    for t in 0..n {
        s.spatial[t + 1] = base.spatial[t];
        s.temporal[t + 1] = base.temporal[t];
        s.dti[t + 1] = base.dti[t];
    }
    // Template 0: the keyframe (T0, references nothing).
    s.fdiff_count[0] = 0;
    let period = pattern(tl).len() as u8;
    let diffs: &[u8] = match tl {
        1 => &[1],
        2 => &[2, 1],
        _ => &[period, 2, 1],
    };
    for (t, d) in diffs.iter().enumerate() {
        s.fdiffs[t + 1][0] = *d;
        s.fdiff_count[t + 1] = 1;
    }
    s
}

/// Counters of one simulcast layer.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct LayerStats {
    /// Frames produced.
    pub frames: u64,
    /// Keyframes produced.
    pub keyframes: u64,
    /// Frames produced per temporal layer.
    pub frames_by_temporal: [u64; 4],
    /// Media packets sent (not retransmissions).
    pub packets: u64,
    /// Media bytes sent (whole packets).
    pub bytes: u64,
}

/// Counters of a publisher.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct PublisherStats {
    /// Picture loss indications received.
    pub plis: u64,
    /// Full intra requests received.
    pub firs: u64,
    /// Sequence numbers NACKed.
    pub nacked: u64,
    /// Retransmissions sent.
    pub retransmissions: u64,
    /// NACKed packets no longer (or never) in the history.
    pub retransmission_misses: u64,
    /// Transport-wide CC feedback packets received.
    pub twcc_feedback: u64,
    /// Last REMB bitrate received.
    pub remb_bps: Option<u64>,
    /// Receiver report blocks received.
    pub report_blocks: u64,
    /// Highest fraction lost (0-255) in any report block.
    pub max_fraction_lost: u8,
    /// Sender report packets sent.
    pub sender_reports: u64,
    /// The congestion controller's estimate of the uplink, bps (adaptive publishers only).
    pub estimate_bps: Option<u64>,
    /// Layers switched off by the congestion controller, all told.
    pub layers_dropped: u64,
}

/// An adaptive publisher re-decides its active layers this often.
const ADAPT_INTERVAL: Duration = Duration::from_millis(500);

#[derive(Debug)]
struct Layer {
    cfg: LayerConfig,
    ssrc: u32,
    rtx_ssrc: u32,
    seq: u16,
    rtx_seq: u16,
    ts_offset: u32,
    picture_id: u16,
    tl0: u8,
    pos: usize,
    frame_number: u16,
    key_requested: bool,
    last_key: Option<Instant>,
    active: bool,
    history: Vec<Option<Vec<u8>>>,
    structure: Option<DependencyStructure>,
    octets: u32,
    stats: LayerStats,
}

/// A synthetic simulcast video publisher. See the module documentation.
#[derive(Debug)]
pub struct Publisher {
    config: PublisherConfig,
    twcc_id: Option<u8>,
    dd_id: Option<u8>,
    rng: SimRng,
    start: Instant,
    ntp_start: u64,
    layers: Vec<Layer>,
    frame_index: u64,
    next_frame: Instant,
    next_report: Instant,
    twcc_seq: u16,
    out: VecDeque<Vec<u8>>,
    pending: Vec<VecDeque<Vec<u8>>>,
    frame: Vec<u8>,
    stopped: bool,
    stats: PublisherStats,
    /// Congestion control of an adaptive publisher, and when it next re-decides its layers.
    bwe: Option<crate::bwe::SendSideBwe>,
    next_adapt: Instant,
    /// Layers the congestion controller switched off (the caller's `set_layer_active` rules
    /// the rest).
    throttled: Vec<bool>,
}

impl Publisher {
    /// A publisher whose layer `i` sends as SSRC `ssrc_base + 2i` (RTX `ssrc_base + 2i + 1`),
    /// with the extension IDs of its transport, starting at `start`. `ntp_start` is its wall
    /// clock at `start` (NTP format), for sender reports.
    ///
    /// # Panics
    /// If the configuration is invalid ([`PublisherConfig::validate`]) or the codec is AV1 and
    /// `extensions` has no dependency descriptor ID. Both are caller mistakes.
    pub fn new(
        config: PublisherConfig,
        ssrc_base: u32,
        extensions: ExtensionIds,
        mut rng: SimRng,
        start: Instant,
        ntp_start: u64,
    ) -> Self {
        if let Err(e) = config.validate() {
            panic!("invalid publisher configuration: {e}");
        }
        assert!(
            config.codec != MediaCodec::Av1 || extensions.dependency_descriptor.is_some(),
            "an AV1 publisher needs a dependency descriptor extension ID"
        );
        let layers = config
            .layers
            .iter()
            .enumerate()
            .map(|(i, cfg)| Layer {
                cfg: *cfg,
                ssrc: ssrc_base.wrapping_add(2 * i as u32),
                rtx_ssrc: ssrc_base.wrapping_add(2 * i as u32 + 1),
                seq: rng.next_u32() as u16,
                rtx_seq: rng.next_u32() as u16,
                ts_offset: rng.next_u32(),
                picture_id: rng.next_u32() as u16 & 0x7fff,
                tl0: rng.next_u32() as u8,
                pos: 0,
                frame_number: rng.next_u32() as u16,
                key_requested: false,
                last_key: None,
                active: true,
                history: vec![None; config.history],
                structure: (config.codec == MediaCodec::Av1)
                    .then(|| av1_structure(config.temporal_layers, (cfg.width, cfg.height))),
                octets: 0,
                stats: LayerStats::default(),
            })
            .collect::<Vec<_>>();
        let frame_gap = Duration::from_nanos(1_000_000_000 / u64::from(config.fps));
        Self {
            pending: (0..layers.len()).map(|_| VecDeque::new()).collect(),
            twcc_id: extensions.transport_cc,
            dd_id: extensions.dependency_descriptor,
            twcc_seq: rng.next_u32() as u16,
            rng,
            start,
            ntp_start,
            layers,
            frame_index: 0,
            next_frame: start,
            next_report: start + frame_gap / 2,
            out: VecDeque::new(),
            frame: Vec::new(),
            stopped: false,
            stats: PublisherStats::default(),
            bwe: config
                .adaptive
                .then(|| crate::bwe::SendSideBwe::new(crate::bwe::BweConfig::default(), start)),
            next_adapt: start + ADAPT_INTERVAL,
            throttled: vec![false; config.layers.len()],
            config,
        }
    }

    /// The configuration.
    pub fn config(&self) -> &PublisherConfig {
        &self.config
    }

    /// The track to announce to the engine.
    pub fn track_config(&self) -> TrackConfig {
        let encodings = self
            .layers
            .iter()
            .map(|l| {
                EncodingConfig::ssrc(Ssrc(l.ssrc), self.config.rtx.then_some(Ssrc(l.rtx_ssrc)))
            })
            .collect();
        TrackConfig::new(
            self.config.codec.codec(),
            self.config.payload_type,
            self.config.rtx.then_some(self.config.rtx_payload_type),
            encodings,
        )
        .with_meta(self.config.source, self.config.role)
    }

    /// Media SSRC of layer `layer`.
    pub fn ssrc(&self, layer: usize) -> Option<u32> {
        self.layers.get(layer).map(|l| l.ssrc)
    }

    /// Counters.
    pub fn stats(&self) -> PublisherStats {
        let mut s = self.stats;
        s.estimate_bps = self.bwe.as_ref().map(|b| b.target_bitrate());
        s
    }

    /// Whether layer `layer` is being sent now.
    pub fn layer_sending(&self, layer: usize) -> bool {
        self.layers.get(layer).is_some_and(|l| l.active) && !self.throttled[layer]
    }

    /// Counters of layer `layer`.
    pub fn layer_stats(&self, layer: usize) -> Option<LayerStats> {
        self.layers.get(layer).map(|l| l.stats)
    }

    /// Starts or stops sending layer `layer` (as a browser does when its bandwidth estimate
    /// changes). A restarted layer begins with a keyframe.
    pub fn set_layer_active(&mut self, layer: usize, active: bool) {
        if let Some(l) = self.layers.get_mut(layer) {
            if active && !l.active {
                l.key_requested = true;
            }
            l.active = active;
        }
    }

    /// Stops producing anything (the camera is off, the participant left).
    pub fn stop(&mut self) {
        self.stopped = true;
        self.out.clear();
    }

    /// When [`Publisher::handle_timeout`] must next be called; `None` once stopped.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        let bwe = self
            .bwe
            .as_ref()
            .map(|b| b.poll_timeout().min(self.next_adapt));
        (!self.stopped).then(|| {
            let t = self.next_frame.min(self.next_report);
            bwe.map_or(t, |b| t.min(b))
        })
    }

    /// Produces every frame and report due at `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.stopped {
            return;
        }
        while self.next_frame <= now {
            let at = self.next_frame;
            self.emit_frames(at);
            self.frame_index += 1;
            let nanos = self.frame_index * 1_000_000_000 / u64::from(self.config.fps);
            self.next_frame = self.start + Duration::from_nanos(nanos);
        }
        if self.next_report <= now {
            self.next_report = now + self.config.report_interval;
            self.send_reports(now);
        }
        if let Some(b) = self.bwe.as_mut() {
            if b.poll_timeout() <= now {
                b.handle_timeout(now);
            }
            if self.next_adapt <= now {
                self.next_adapt = now + ADAPT_INTERVAL;
                self.adapt();
            }
        }
    }

    /// Browser-like simulcast adaptation: send the lowest layers whose rates add up within
    /// the estimate (the lowest always); a layer switched back on starts with a keyframe.
    fn adapt(&mut self) {
        let Some(target) = self.bwe.as_ref().map(|b| b.target_bitrate()) else {
            return;
        };
        let mut sum = 0;
        for i in 0..self.layers.len() {
            sum += self.layers[i].cfg.bitrate_bps;
            let fits = i == 0 || sum <= target;
            if !fits && !self.throttled[i] {
                self.throttled[i] = true;
                self.stats.layers_dropped += 1;
            } else if fits && self.throttled[i] {
                self.throttled[i] = false;
                self.layers[i].key_requested = true;
            }
        }
    }

    /// The next datagram to send.
    #[must_use]
    pub fn poll_transmit(&mut self) -> Option<Vec<u8>> {
        self.out.pop_front()
    }

    /// Takes a datagram from the SFU: RTCP feedback is acted on, anything else ignored.
    pub fn handle_datagram(&mut self, now: Instant, data: &[u8]) {
        if self.stopped || !crate::rtp::is_rtcp(data) {
            return;
        }
        for pkt in rtcp::parse_compound(data) {
            let Ok(pkt) = pkt else { break };
            match pkt {
                RtcpPacket::Pli { media_ssrc, .. } => {
                    if let Some(l) = self.layers.iter_mut().find(|l| l.ssrc == media_ssrc) {
                        l.key_requested = true;
                        self.stats.plis += 1;
                    }
                }
                RtcpPacket::Fir(f) => {
                    for (ssrc, _) in f.entries() {
                        if let Some(l) = self.layers.iter_mut().find(|l| l.ssrc == ssrc) {
                            l.key_requested = true;
                            self.stats.firs += 1;
                        }
                    }
                }
                RtcpPacket::Nack(n) => {
                    if let Some(i) = self.layers.iter().position(|l| l.ssrc == n.media_ssrc) {
                        for seq in n.lost() {
                            self.stats.nacked += 1;
                            self.retransmit(now, i, seq);
                        }
                    }
                }
                RtcpPacket::ReceiverReport(rr) => {
                    for b in rr.reports() {
                        self.stats.report_blocks += 1;
                        self.stats.max_fraction_lost =
                            self.stats.max_fraction_lost.max(b.fraction_lost);
                    }
                }
                RtcpPacket::TransportCc(fb) => {
                    self.stats.twcc_feedback += 1;
                    if let Some(b) = self.bwe.as_mut() {
                        b.on_feedback(now, &fb);
                    }
                }
                RtcpPacket::Remb(r) => self.stats.remb_bps = Some(r.bitrate_bps),
                _ => {}
            }
        }
    }

    fn ntp(&self, now: Instant) -> u64 {
        let d = now.saturating_duration_since(self.start);
        let frac = (u128::from(d.subsec_nanos()) << 32) / 1_000_000_000;
        self.ntp_start
            .wrapping_add(d.as_secs() << 32)
            .wrapping_add(frac as u64)
    }

    fn ticks(&self, at: Instant) -> u32 {
        let us = at.saturating_duration_since(self.start).as_micros();
        let rate = u128::from(self.config.codec.codec().clock_rate());
        (us * rate / 1_000_000) as u32
    }

    fn send_reports(&mut self, now: Instant) {
        let ntp = self.ntp(now);
        let ticks = self.ticks(now);
        let mut buf = vec![0u8; 28 * self.layers.len()];
        let mut len = 0;
        for l in self.layers.iter().filter(|l| l.stats.packets > 0) {
            let info = SenderInfo {
                ssrc: l.ssrc,
                ntp_time: ntp,
                rtp_time: l.ts_offset.wrapping_add(ticks),
                packet_count: l.stats.packets as u32,
                octet_count: l.octets,
            };
            if let Some(n) = rtcp::write_sender_report(&mut buf[len..], &info, &[]) {
                len += n;
            }
        }
        if len > 0 {
            buf.truncate(len);
            self.out.push_back(buf);
            self.stats.sender_reports += 1;
        }
    }

    fn emit_frames(&mut self, at: Instant) {
        // Capture time in clock ticks, exact for any frame rate (ticks(at) would round).
        let rate = u64::from(self.config.codec.codec().clock_rate());
        let ticks = (self.frame_index * rate / u64::from(self.config.fps)) as u32;
        for i in 0..self.layers.len() {
            if self.layers[i].active && !self.throttled[i] {
                self.build_frame(i, at, ticks);
            }
        }
        if self.config.interleave {
            loop {
                let mut any = false;
                for i in 0..self.pending.len() {
                    if let Some(p) = self.pending[i].pop_front() {
                        self.send_media(at, i, p);
                        any = true;
                    }
                }
                if !any {
                    break;
                }
            }
        } else {
            for i in 0..self.pending.len() {
                while let Some(p) = self.pending[i].pop_front() {
                    self.send_media(at, i, p);
                }
            }
        }
    }

    /// Encodes one frame of layer `i` (random content of a realistic size) and packetizes it
    /// into `self.pending[i]`.
    fn build_frame(&mut self, i: usize, at: Instant, ticks: u32) {
        let cfg = &self.config;
        let l = &mut self.layers[i];
        let key = l.key_requested
            || l.last_key.is_none()
            || cfg
                .keyframe_interval
                .zip(l.last_key)
                .is_some_and(|(iv, last)| at.saturating_duration_since(last) >= iv);
        if key {
            l.pos = 0;
            l.key_requested = false;
            l.last_key = Some(at);
        }
        let pat = pattern(cfg.temporal_layers);
        let (tid, sync) = if key {
            (0, false)
        } else {
            pat[l.pos % pat.len()]
        };
        l.pos += 1;
        if tid == 0 {
            l.tl0 = l.tl0.wrapping_add(1);
        }
        let avg = l.cfg.bitrate_bps as f64 / 8.0 / f64::from(cfg.fps);
        let mean = if key {
            avg * cfg.keyframe_factor
        } else {
            avg * weight(cfg.temporal_layers, tid)
        };
        let size = self.rng.vary(mean, cfg.size_spread).round().max(32.0) as usize;

        // The frame as the encoder (and, with SFrame, the encryptor) outputs it.
        let frame = &mut self.frame;
        frame.clear();
        match cfg.codec {
            MediaCodec::Vp8 => {
                // RFC 6386 §9.1: 3-byte frame tag (bit 0 clear on keyframes, show_frame,
                // first partition size), then on keyframes the start code and dimensions.
                let first_part = (size as u32 / 2).min(0x7ffff);
                let tag = (first_part << 5) | (1 << 4) | u32::from(!key);
                frame.extend_from_slice(&tag.to_le_bytes()[..3]);
                if key {
                    frame.extend_from_slice(&[0x9d, 0x01, 0x2a]);
                    frame.extend_from_slice(&l.cfg.width.to_le_bytes());
                    frame.extend_from_slice(&l.cfg.height.to_le_bytes());
                }
            }
            MediaCodec::Av1 => {
                if key {
                    // A sequence header OBU (type 1) before the frame.
                    frame.extend_from_slice(&[0x0a, 0x0b]);
                    let at = frame.len();
                    frame.resize(at + 11, 0);
                    self.rng.fill(&mut frame[at..]);
                }
                // A frame OBU (type 6) with a size field.
                frame.push(0x32);
            }
            // An Opus packet is its TOC byte and the frame: opaque, nothing to describe.
            MediaCodec::Opus => {}
        }
        let body = size.saturating_sub(frame.len()).max(1);
        if cfg.sframe {
            // Emulated SFrame (RFC 9605): the codec's clear prefix (VP8: the 10-byte keyframe
            // or 3-byte delta header; AV1 and Opus: nothing) stays readable, then a 1-byte SFrame
            // header (KID = layer, 3-bit CTR), the ciphertext and a 16-byte tag.
            if cfg.codec != MediaCodec::Vp8 {
                frame.clear();
            }
            frame.push(((i as u8 & 0x7) << 4) | (l.stats.frames as u8 & 0x7));
            let at = frame.len();
            frame.resize(at + body + 16, 0);
            self.rng.fill(&mut frame[at..]);
        } else {
            let at = frame.len();
            frame.resize(at + body, 0);
            self.rng.fill(&mut frame[at..]);
        }

        // Packetize into near-equal pieces that fit the MTU.
        let desc_len = match cfg.codec {
            MediaCodec::Vp8 => 6,
            MediaCodec::Av1 => 1,
            MediaCodec::Opus => 0,
        };
        let room = cfg.mtu - crate::rtp::RTP_HEADER_LEN - EXT_ROOM - desc_len;
        let n = frame.len().div_ceil(room);
        let (per, extra) = (frame.len() / n, frame.len() % n);
        let ssrc = l.ssrc;
        let ts = l.ts_offset.wrapping_add(ticks);
        let mut off = 0;
        for k in 0..n {
            let len = per + usize::from(k < extra);
            let chunk = &frame[off..off + len];
            off += len;
            let (first, last) = (k == 0, k == n - 1);
            let mut desc = [0u8; 6];
            let desc = match cfg.codec {
                MediaCodec::Vp8 => {
                    let non_ref = cfg.temporal_layers > 1 && tid == cfg.temporal_layers - 1;
                    desc[0] = 0x80 | (u8::from(non_ref) << 5) | (u8::from(first) << 4);
                    desc[1] = 0xe0; // I, L, T
                    desc[2] = 0x80 | (l.picture_id >> 8) as u8;
                    desc[3] = l.picture_id as u8;
                    desc[4] = l.tl0;
                    desc[5] = (tid << 6) | (u8::from(sync) << 5);
                    &desc[..6]
                }
                MediaCodec::Av1 => {
                    // Aggregation header: Z (continues an OBU), Y (continues in the next
                    // packet), W = 1 element, N (first packet of a coded video sequence).
                    desc[0] = (u8::from(!first) << 7)
                        | (u8::from(!last) << 6)
                        | (1 << 4)
                        | (u8::from(key && first) << 3);
                    &desc[..1]
                }
                MediaCodec::Opus => &desc[..0],
            };
            let mut dd = [0u8; 64];
            let mut exts: [(u8, &[u8]); 2] = [(0, &[]), (0, &[])];
            let mut ne = 0;
            if let Some(id) = self.twcc_id {
                exts[ne] = (id, &[0, 0]); // stamped when sent
                ne += 1;
            }
            if let (Some(id), Some(s)) = (self.dd_id, l.structure.as_ref()) {
                let template = if key { 0 } else { 1 + tid };
                let dl = av1dd::write(
                    &mut dd,
                    first,
                    last,
                    template,
                    l.frame_number,
                    s,
                    key && first,
                )
                .unwrap_or(0);
                if dl > 0 {
                    exts[ne] = (id, &dd[..dl]);
                    ne += 1;
                }
            }
            // Opus sets the marker on a talkspurt's first packet (RFC 7587 §4.2); video on a
            // frame's last.
            let marker = if cfg.codec.is_audio() {
                l.stats.frames == 0
            } else {
                last
            };
            let header = Header {
                marker,
                payload_type: cfg.payload_type,
                seq: l.seq,
                ts,
                ssrc,
            };
            l.seq = l.seq.wrapping_add(1);
            let mut pkt = Vec::with_capacity(cfg.mtu);
            write_rtp(&mut pkt, &header, &exts[..ne], &[desc, chunk]);
            debug_assert!(pkt.len() <= cfg.mtu, "packet over the MTU");
            self.pending[i].push_back(pkt);
        }
        l.picture_id = (l.picture_id + 1) & 0x7fff;
        l.frame_number = l.frame_number.wrapping_add(1);
        l.stats.frames += 1;
        l.stats.frames_by_temporal[usize::from(tid)] += 1;
        if key {
            l.stats.keyframes += 1;
        }
    }

    fn stamp_twcc(&mut self, now: Instant, pkt: &mut [u8]) {
        let Some(id) = self.twcc_id else { return };
        let seq = self.twcc_seq;
        if let Ok(mut p) = RtpPacketMut::parse(pkt)
            && let Some(v) = p.extension_mut(id)
            && v.len() == 2
        {
            v.copy_from_slice(&seq.to_be_bytes());
            self.twcc_seq = seq.wrapping_add(1);
            if let Some(b) = self.bwe.as_mut() {
                b.on_packet_sent(now, seq, pkt.len(), None);
            }
        }
    }

    fn send_media(&mut self, now: Instant, i: usize, mut pkt: Vec<u8>) {
        self.stamp_twcc(now, &mut pkt);
        let l = &mut self.layers[i];
        let Ok(p) = RtpPacket::parse(&pkt) else {
            return;
        };
        let seq = p.sequence_number();
        l.octets = l.octets.wrapping_add(p.payload().len() as u32);
        l.stats.packets += 1;
        l.stats.bytes += pkt.len() as u64;
        let slot = usize::from(seq) % l.history.len();
        l.history[slot] = Some(pkt.clone());
        self.out.push_back(pkt);
    }

    fn retransmit(&mut self, now: Instant, i: usize, seq: u16) {
        let rtx = self.config.rtx;
        let (rtx_pt, dd_id, twcc_id) = (self.config.rtx_payload_type, self.dd_id, self.twcc_id);
        let l = &mut self.layers[i];
        let slot = usize::from(seq) % l.history.len();
        let Some(p) = l.history[slot]
            .as_deref()
            .and_then(|b| RtpPacket::parse(b).ok())
            .filter(|p| p.sequence_number() == seq)
        else {
            self.stats.retransmission_misses += 1;
            return;
        };
        let mut exts: [(u8, &[u8]); 2] = [(0, &[]), (0, &[])];
        let mut ne = 0;
        if let Some(id) = twcc_id {
            exts[ne] = (id, &[0, 0]);
            ne += 1;
        }
        if let Some(v) = dd_id.and_then(|id| p.extension(id).map(|v| (id, v))) {
            exts[ne] = v;
            ne += 1;
        }
        let osn = seq.to_be_bytes();
        let mut out = Vec::with_capacity(p.as_bytes().len() + 2);
        if rtx {
            let header = Header {
                marker: p.marker(),
                payload_type: rtx_pt,
                seq: l.rtx_seq,
                ts: p.timestamp(),
                ssrc: l.rtx_ssrc,
            };
            l.rtx_seq = l.rtx_seq.wrapping_add(1);
            write_rtp(&mut out, &header, &exts[..ne], &[&osn, p.payload()]);
        } else {
            let header = Header {
                marker: p.marker(),
                payload_type: p.payload_type(),
                seq,
                ts: p.timestamp(),
                ssrc: p.ssrc(),
            };
            write_rtp(&mut out, &header, &exts[..ne], &[p.payload()]);
        }
        self.stamp_twcc(now, &mut out);
        self.stats.retransmissions += 1;
        self.out.push_back(out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::Vp8Descriptor;

    fn t0() -> Instant {
        #[allow(clippy::disallowed_methods)]
        Instant::now()
    }

    fn ids() -> ExtensionIds {
        ExtensionIds {
            transport_cc: Some(3),
            dependency_descriptor: Some(12),
            ..ExtensionIds::default()
        }
    }

    fn run(p: &mut Publisher, start: Instant, d: Duration) -> Vec<Vec<u8>> {
        let mut out = vec![];
        while let Some(t) = p.poll_timeout().filter(|t| *t <= start + d) {
            p.handle_timeout(t);
            while let Some(x) = p.poll_transmit() {
                out.push(x);
            }
        }
        out
    }

    #[test]
    fn vp8_simulcast_has_browser_descriptors_sizes_and_reports() {
        let start = t0();
        let mut p = Publisher::new(
            PublisherConfig::vp8(),
            1000,
            ids(),
            SimRng::new(1),
            start,
            1 << 32,
        );
        let out = run(&mut p, start, Duration::from_millis(3990));
        let mut srs = 0;
        let mut per_layer: [Vec<(u16, u32, bool, Vp8Descriptor)>; 3] = Default::default();
        let mut twcc = vec![];
        for d in &out {
            if crate::rtp::is_rtcp(d) {
                for r in rtcp::parse_compound(d) {
                    if let Ok(RtcpPacket::SenderReport(sr)) = r {
                        assert!([1000, 1002, 1004].contains(&sr.ssrc()));
                        srs += 1;
                    }
                }
                continue;
            }
            assert!(d.len() <= 1200, "packet of {} bytes", d.len());
            let r = RtpPacket::parse(d).unwrap();
            twcc.push(u16::from_be_bytes(
                r.extension(3).unwrap().try_into().unwrap(),
            ));
            let layer = ((r.ssrc() - 1000) / 2) as usize;
            let desc = Vp8Descriptor::parse(r.payload()).unwrap();
            per_layer[layer].push((r.sequence_number(), r.timestamp(), r.marker(), desc));
        }
        // Four sender reports per layer in 4 s (the first right after the first frame).
        assert_eq!(srs, 12);
        // Transport-wide sequence numbers count every packet in send order.
        assert!(twcc.windows(2).all(|w| w[1] == w[0].wrapping_add(1)));
        let mut bytes = [0usize; 3];
        for (i, pkts) in per_layer.iter().enumerate() {
            assert!(
                pkts.windows(2).all(|w| w[1].0 == w[0].0.wrapping_add(1)),
                "layer {i} seq"
            );
            let frames: Vec<_> = pkts.iter().filter(|p| p.3.start_of_partition).collect();
            assert_eq!(frames.len(), 120, "layer {i}: 30 fps for 4 s");
            // Each frame ends with the marker; one timestamp per frame, 3000 ticks apart.
            assert_eq!(pkts.iter().filter(|p| p.2).count(), 120);
            assert!(
                frames
                    .windows(2)
                    .all(|w| w[1].1.wrapping_sub(w[0].1) == 3000)
            );
            // 15-bit picture IDs count frames; TL0PICIDX counts T0 frames; L1T3 pattern.
            let pics: Vec<u16> = frames
                .iter()
                .map(|f| f.3.picture_id.clone().unwrap().0)
                .collect();
            assert!(pics.windows(2).all(|w| w[1] == (w[0] + 1) & 0x7fff));
            assert!(
                frames
                    .iter()
                    .all(|f| f.3.picture_id.as_ref().unwrap().1.len() == 2)
            );
            let tids: Vec<u8> = frames.iter().map(|f| f.3.tid.unwrap().0).collect();
            assert_eq!(&tids[..8], &[0, 2, 1, 2, 0, 2, 1, 2]);
            let syncs: Vec<bool> = frames.iter().map(|f| f.3.layer_sync).collect();
            assert_eq!(&syncs[..4], &[false, true, true, false]);
            for w in frames.windows(2) {
                let (a, b) = (w[0].3.tl0_pic_idx.unwrap().0, w[1].3.tl0_pic_idx.unwrap().0);
                let t = w[1].3.tid.unwrap().0;
                assert_eq!(b, if t == 0 { a.wrapping_add(1) } else { a });
            }
            // The first frame is a keyframe with the layer's dimensions; no other in 4 s.
            let dims = [(320, 180), (640, 360), (1280, 720)][i];
            assert_eq!(frames[0].3.dimensions, Some(dims));
            assert_eq!(frames.iter().filter(|f| f.3.keyframe).count(), 1);
            bytes[i] = pkts.len() * 1200; // upper bound
        }
        // Bitrates near the targets (keyframe included): layer stats count real bytes.
        for (i, target) in [150_000u64, 500_000, 1_500_000].iter().enumerate() {
            let s = p.layer_stats(i).unwrap();
            let bps = s.bytes * 8 / 4;
            assert!(
                bps > target * 9 / 10 && bps < target * 13 / 10,
                "layer {i}: {bps} bit/s"
            );
            assert!(s.bytes as usize <= bytes[i]);
        }
    }

    #[test]
    fn answers_pli_with_a_keyframe_and_nack_with_rtx() {
        let start = t0();
        let mut p = Publisher::new(
            PublisherConfig::vp8(),
            1000,
            ids(),
            SimRng::new(2),
            start,
            1 << 32,
        );
        let out = run(&mut p, start, Duration::from_millis(100));
        let l1: Vec<_> = out
            .iter()
            .filter(|d| !crate::rtp::is_rtcp(d))
            .filter(|d| RtpPacket::parse(d).unwrap().ssrc() == 1002)
            .cloned()
            .collect();
        let lost = RtpPacket::parse(&l1[3]).unwrap();
        let mut b = [0u8; 64];
        let n = rtcp::write_nack(&mut b, 9, 1002, &[lost.sequence_number(), 7]).unwrap();
        let m = rtcp::write_pli(&mut b[n..], 9, 1004).unwrap();
        p.handle_datagram(start, &b[..n + m]);
        let rtx = p.poll_transmit().unwrap();
        assert!(p.poll_transmit().is_none(), "seq 7 was never sent");
        let r = RtpPacket::parse(&rtx).unwrap();
        assert_eq!(
            (r.ssrc(), r.payload_type(), r.timestamp(), r.marker()),
            (1003, 97, lost.timestamp(), lost.marker())
        );
        assert_eq!(&r.payload()[..2], &lost.sequence_number().to_be_bytes());
        assert_eq!(&r.payload()[2..], lost.payload());
        assert!(r.extension(3).is_some());
        let s = p.stats();
        assert_eq!(
            (s.nacked, s.retransmissions, s.retransmission_misses, s.plis),
            (2, 1, 1, 1)
        );
        // The next frame of layer 2 (only) is a keyframe.
        let next = run(&mut p, start, Duration::from_millis(140));
        let keys: Vec<u32> = next
            .iter()
            .filter(|d| !crate::rtp::is_rtcp(d))
            .map(|d| RtpPacket::parse(d).unwrap())
            .filter(|r| Vp8Descriptor::parse(r.payload()).unwrap().keyframe)
            .map(|r| r.ssrc())
            .collect();
        assert_eq!(keys, vec![1004]);
        // Without RTX the packet is resent as it was.
        let mut p = Publisher::new(
            PublisherConfig::vp8().with_rtx(false),
            1000,
            ids(),
            SimRng::new(2),
            start,
            1 << 32,
        );
        assert!(p.track_config().rtx_payload_type.is_none());
        let out = run(&mut p, start, Duration::from_millis(1));
        let first =
            RtpPacket::parse(out.iter().find(|d| !crate::rtp::is_rtcp(d)).unwrap()).unwrap();
        let n = rtcp::write_nack(&mut b, 9, first.ssrc(), &[first.sequence_number()]).unwrap();
        p.handle_datagram(start, &b[..n]);
        let again = p.poll_transmit().unwrap();
        let r = RtpPacket::parse(&again).unwrap();
        assert_eq!(
            (r.ssrc(), r.sequence_number(), r.payload()),
            (first.ssrc(), first.sequence_number(), first.payload())
        );
    }

    #[test]
    fn av1_carries_the_dependency_descriptor_and_sframe_keeps_the_clear_prefix() {
        let start = t0();
        let cfg = PublisherConfig::av1().with_layers(vec![LayerConfig::new(640, 360, 500_000)]);
        let mut p = Publisher::new(cfg, 1000, ids(), SimRng::new(3), start, 1 << 32);
        let out = run(&mut p, start, Duration::from_millis(250));
        let mut structure = None;
        let mut frames = vec![];
        for d in out.iter().filter(|d| !crate::rtp::is_rtcp(d)) {
            let r = RtpPacket::parse(d).unwrap();
            let dd = r.extension(12).expect("every AV1 packet has a DD");
            let info = av1dd::parse(dd, &mut structure).unwrap();
            assert_eq!(info.end_of_frame, r.marker());
            if info.start_of_frame {
                frames.push((info.frame_number, info.temporal_id, info.new_structure));
            }
        }
        let s = structure.unwrap();
        assert_eq!(s.resolutions.unwrap()[0], (640, 360));
        assert_eq!(s, av1_structure(3, (640, 360)));
        assert!(frames[0].2 && frames[1..].iter().all(|f| !f.2));
        let tids: Vec<u8> = frames.iter().map(|f| f.1).collect();
        assert_eq!(&tids[..8], &[0, 2, 1, 2, 0, 2, 1, 2]);
        assert!(frames.windows(2).all(|w| w[1].0 == w[0].0.wrapping_add(1)));

        // SFrame emulation: VP8 keeps the 10-byte keyframe / 3-byte delta header in the clear,
        // so the SFU still reads keyframes and dimensions; frames grow by header + tag.
        let cfg = PublisherConfig::vp8()
            .with_layers(vec![LayerConfig::new(320, 180, 150_000)])
            .with_sframe(true);
        let mut p = Publisher::new(cfg, 1000, ids(), SimRng::new(4), start, 1 << 32);
        let out = run(&mut p, start, Duration::from_millis(40));
        let starts: Vec<Vp8Descriptor> = out
            .iter()
            .filter(|d| !crate::rtp::is_rtcp(d))
            .map(|d| Vp8Descriptor::parse(RtpPacket::parse(d).unwrap().payload()).unwrap())
            .filter(|d| d.start_of_partition)
            .collect();
        assert_eq!(starts.len(), 2);
        assert!(starts[0].keyframe && starts[0].dimensions == Some((320, 180)));
        assert!(!starts[1].keyframe);
    }

    #[test]
    fn invalid_configurations_are_named() {
        assert!(PublisherConfig::vp8().validate().is_ok());
        assert!(
            PublisherConfig::vp8()
                .with_layers(vec![])
                .validate()
                .is_err()
        );
        assert!(
            PublisherConfig::vp8()
                .with_temporal_layers(4)
                .validate()
                .is_err()
        );
        assert!(PublisherConfig::vp8().with_fps(0).validate().is_err());
    }
}
