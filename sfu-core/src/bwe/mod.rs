//! Sender-side bandwidth estimation for one subscriber transport (issue 5).
//!
//! [`SendSideBwe`] estimates how fast the SFU may send to one subscriber, from the
//! transport-wide CC feedback (draft-holmer-rmcat-transport-wide-cc-extensions-01) that
//! subscriber returns, with REMB as the fallback when transport-cc is not negotiated. It
//! follows Google Congestion Control (draft-ietf-rmcat-gcc-02, "GCC") as libwebrtc refined it:
//!
//! - **Delay-based** ([`delay`]): acknowledged packets are grouped by send time (5 ms bursts);
//!   each group's delay variation d = Δarrival − Δsend feeds a trendline (least-squares slope
//!   of the smoothed accumulated delay over 20 groups); an adaptive-threshold detector
//!   (K_u = 0.01, K_d = 0.00018) calls overuse, underuse or normal; AIMD rate control
//!   increases 8 %/s far from the known link capacity and about one packet per response time
//!   near it, and on overuse drops to 0.85 × the acknowledged bitrate.
//! - **Loss-based**: under 2 % loss the loss ceiling rises 8 % a second, 2–10 % holds,
//!   over 10 % cuts by (1 − loss/2). Target = min(delay-based, loss-based, REMB), clamped to
//!   the configured range.
//! - **Acknowledged bitrate**: bytes the receiver reports as arrived, over a sliding window of
//!   its arrival clock.
//! - **Application-limited** periods: increases never take the delay-based estimate above
//!   1.5 × the acknowledged bitrate + 10 kbps, and a sender well below the estimate does not
//!   lower it; [`SendSideBwe::is_app_limited`] reports the period (send rate under 50 % of the
//!   target for 500 ms; ends at 80 %).
//! - **Probing** ([`probe`]): when the allocator wants more than the estimate
//!   ([`SendSideBwe::set_desired_bitrate`], [`SendSideBwe::request_probe`]), a cluster of at
//!   least 5 packets over 15 ms at up to 2 × the estimate; the acknowledged rate of the
//!   cluster's packets is the result; a success raises the estimate and is followed at once by
//!   a larger probe, a failure backs the next one off (1 s, doubling, capped at 4 s).
//! - **Predictor** ([`predictor`], off by default): lowers the target while the delay trend
//!   climbs towards the threshold and jitter, loss or a send/arrival gap agrees. The
//!   `bwe_predictor` test prints how it does against purely reactive estimation
//!   (`docs/bwe.md`): on periodic dips it halved frozen time for 6 % less throughput; it stays
//!   switchable until layer-level traces confirm it.
//!
//! Deviations from libwebrtc, each for a measured reason: the overuse threshold does not climb
//! after a signal that is already being acted on ([`OveruseDetector`]); probe packets measure
//! the probe but stay out of the delay signal; the loss-based ceiling is never pulled down to
//! the delay-based estimate (no downgrade spiral under moderate random loss). Issue 10 (a
//! 500 kbps token bucket, `tc tbf` or a consumer router) added three:
//!
//! - **Standing queue** ([`QueueDelay`]): when even the smallest one-way delay of the last
//!   300 ms is more than [`STANDING_QUEUE`] above the smallest of the last 30 s, the estimate
//!   stops rising and is cut to `BETA - queue / 4 s` of the acknowledged rate (at least half),
//!   at most every 500 ms, and returns to `BETA ×` that rate once the queue is gone. Behind a
//!   token bucket with 1 s of buffer the trend alone left 0.8–1.25 s of queue for good.
//! - **Probe distrust** ([`ProbeController`]): a short cluster fits in a token bucket's burst
//!   and arrives at line rate, so it "proves" several times the bucket's rate (1.5 Mbps on a
//!   500 kbps bucket). When congestion takes back a probe's raise within 3 s while the link
//!   carries what it carried before but far less than the probe claimed, later results are
//!   capped at 1.2 × what it carried (10 s, doubling to 2 min), clusters grow four-fold (to
//!   400 ms) and the backoff between failed probes grows to 10 s.
//! - A probe result keeps the link-capacity knowledge (libwebrtc's `SetEstimate` does too;
//!   resetting it made each probe switch AIMD back to 8 %/s).
//!
//! # Contract
//!
//! A plain struct, driven by the caller, sans-IO like the engine:
//!
//! - **Input** (mutating): [`SendSideBwe::on_packet_sent`] for every packet carrying a
//!   transport-wide sequence number (media, RTX, padding, probes), in send order;
//!   [`SendSideBwe::on_feedback`] for each transport-cc feedback from the subscriber;
//!   [`SendSideBwe::on_remb`], [`SendSideBwe::on_rtt`]; [`SendSideBwe::handle_timeout`] when
//!   [`SendSideBwe::poll_timeout`] says so (a spurious call is harmless).
//! - **Allocator wishes**: [`SendSideBwe::set_desired_bitrate`], [`SendSideBwe::request_probe`].
//! - **Drain**: [`SendSideBwe::poll_probe`] after any input; send the cluster's padding/RTX
//!   packets paced over its duration, tagged with its id.
//! - **Getters**: [`SendSideBwe::target_bitrate`], [`SendSideBwe::state`],
//!   [`SendSideBwe::loss_fraction`], [`SendSideBwe::acknowledged_bitrate`], and others.
//!
//! `now` only moves forward; nothing reads a clock. After construction nothing allocates: the
//! send history, rate windows, regression window and probe slots are fixed-size.

pub mod delay;
pub mod predictor;
pub mod probe;
pub mod rate;

use std::time::{Duration, Instant};

use crate::rtcp::TransportCc;

pub use delay::{BandwidthUsage, GroupDelta, InterArrival, OveruseDetector, Trendline};
pub use predictor::Predictor;
pub use probe::{ProbeCluster, ProbeClusterId, ProbeConfig, ProbeController};
pub use rate::{
    ACKED_CAP_FACTOR, ACKED_HEADROOM_BPS, BETA, HIGH_LOSS, LOSS_DECREASE_INTERVAL, LOW_LOSS,
    MULTIPLICATIVE_INCREASE, RateControlState,
};

use probe::ClusterStats;
use rate::{Aimd, LossBased, RateWindow};

/// The acknowledged rate this far above what the link carried when a probe last failed shows a
/// faster link: the probe backoff is cut short (`ProbeController::on_acked`)...
const LINK_FASTER: f64 = 1.25;
/// ...at most this often.
const LINK_FASTER_EVERY: Duration = Duration::from_secs(2);
/// Packets remembered for matching feedback: at 2 000 packets/s (about 20 Mbps of 1 200-byte
/// packets) this is 4 s, longer than any feedback is late.
pub const HISTORY: usize = 8192;
/// Probe clusters tracked at once.
const CLUSTER_SLOTS: usize = 4;
/// Periodic work (application-limited detection, feedback timeout).
const TICK: Duration = Duration::from_millis(50);
/// Loss is measured over at least this many reported packets…
const LOSS_MIN_PACKETS: u32 = 20;
/// …and at least this long, unless [`LOSS_MAX_PACKETS`] arrive sooner.
const LOSS_WINDOW: Duration = Duration::from_secs(1);
const LOSS_MAX_PACKETS: u32 = 500;
/// Application-limited: send rate below this share of the target…
const ALR_START: f64 = 0.5;
/// …for this long; it ends when the send rate is back above [`ALR_END`] of the target.
const ALR_TIME: Duration = Duration::from_millis(500);
const ALR_END: f64 = 0.8;
/// Cut per missed feedback period when packets go out and nothing comes back (libwebrtc
/// feedback timeout: 20 %).
const TIMEOUT_CUT: f64 = 0.8;
/// A standing queue: even the smallest one-way delay of the last [`QUEUE_RECENT`] is this much
/// above the smallest of the last [`QUEUE_BASE_WINDOW`]. Above it the delay-based estimate
/// stops increasing and is cut to drain the queue (see [`QueueDelay`]).
pub const STANDING_QUEUE: Duration = Duration::from_millis(150);
/// The queue is drained over about this long: the cut is `BETA - standing / DRAIN_HORIZON`
/// of the acknowledged rate (at least [`DRAIN_FLOOR`] of it).
pub const DRAIN_HORIZON: Duration = Duration::from_secs(4);
/// The deepest drain cut, as a share of the acknowledged rate.
pub const DRAIN_FLOOR: f64 = 0.5;
/// Window of the base (smallest) one-way delay: a path whose delay really grew is learnt
/// again after this long.
pub const QUEUE_BASE_WINDOW: Duration = Duration::from_secs(30);
/// Window of the recent smallest one-way delay.
pub const QUEUE_RECENT: Duration = Duration::from_millis(300);

/// Where the estimate comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum FeedbackMode {
    /// Transport-wide CC feedback drives the estimate; REMB, if any, caps it.
    TransportCc,
    /// Transport-cc is not negotiated: the receiver's REMB is the estimate.
    RembOnly,
}

/// Estimator configuration.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct BweConfig {
    /// The estimate before any feedback, bps (Jitsi starts at 2.5 Mbps, libwebrtc at 300 kbps;
    /// we start low and let probes find more).
    pub start_bps: u64,
    /// Lower bound of the target, bps (Jitsi `min-bw` = 30 kbps).
    pub min_bps: u64,
    /// Upper bound of the target, bps (Jitsi `max-bw` = 20 Mbps).
    pub max_bps: u64,
    /// Transport-cc or REMB-only.
    pub mode: FeedbackMode,
    /// Window of the acknowledged-bitrate meter (libwebrtc uses 500 ms after a 150 ms start; a
    /// shorter window reacts faster to a step down at the price of noise).
    pub acked_window: Duration,
    /// With no feedback for this long while sending, the target drops 20 % (per period).
    pub feedback_timeout: Duration,
    /// Round-trip time assumed until [`SendSideBwe::on_rtt`].
    pub initial_rtt: Duration,
    /// Enable the predictive layer ([`Predictor`]).
    pub predictor: bool,
    /// Probe scheduling.
    pub probe: ProbeConfig,
}

impl Default for BweConfig {
    fn default() -> Self {
        Self {
            start_bps: 300_000,
            min_bps: 30_000,
            max_bps: 20_000_000,
            mode: FeedbackMode::TransportCc,
            acked_window: Duration::from_millis(300),
            feedback_timeout: Duration::from_secs(1),
            initial_rtt: Duration::from_millis(100),
            predictor: false,
            probe: ProbeConfig::default(),
        }
    }
}

/// A snapshot of the estimator's mind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct BweState {
    /// The AIMD controller's state.
    pub rate_control: RateControlState,
    /// The detector's last conclusion.
    pub usage: BandwidthUsage,
    /// Sending well below the estimate.
    pub app_limited: bool,
    /// The predictor is holding the target down.
    pub predicting: bool,
}

/// Counters for diagnostics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct BweStats {
    /// Feedback packets processed.
    pub feedback: u64,
    /// Entries reported received.
    pub acked: u64,
    /// Entries reported lost (or skipped between feedback packets).
    pub lost: u64,
    /// Entries for packets not in the history (too old, never sent, duplicates).
    pub unknown: u64,
    /// Overuse detections.
    pub overuses: u64,
    /// Probe clusters issued.
    pub probes: u64,
    /// Probe clusters that raised the estimate.
    pub probe_successes: u64,
    /// Times the predictor fired.
    pub predictions: u64,
    /// Cuts to drain a standing queue.
    pub drains: u64,
    /// Probe raises contradicted by congestion soon after (see [`ProbeController`]).
    pub probe_contradictions: u64,
}

/// Standing-queue detector: the one-way delay of acknowledged media packets (arrival on the
/// receiver's clock minus send time on ours, so only differences count) against its smallest
/// value over [`QUEUE_BASE_WINDOW`].
///
/// Deviation from libwebrtc, for a measured reason: GCC reacts to the delay *trend* only. A
/// deep buffer (a router or `tc tbf` with a second of queue) that filled once stays full: after
/// each 0.85× decrease it drains at 15 % of the link rate, the trend turns flat well before it
/// is empty, and the estimate climbs back above the link first. Behind a 500 kbps token bucket
/// with 1 s of queue that left a standing queue of 0.8–1.25 s for good, a second of latency in
/// a conversation. The queue is visible as a base delay that never comes back.
#[derive(Debug, Clone)]
pub struct QueueDelay {
    /// Smallest delay per second of the base window, µs (`i64::MAX` empty).
    base: [i64; 30],
    /// Smallest delay per 100 ms of the recent window.
    recent: [i64; 3],
    /// Index of the newest second and of the newest 100 ms slot.
    second: Option<i64>,
    tenth: Option<i64>,
}

impl Default for QueueDelay {
    fn default() -> Self {
        Self::new()
    }
}

impl QueueDelay {
    /// No samples yet.
    pub fn new() -> Self {
        Self {
            base: [i64::MAX; 30],
            recent: [i64::MAX; 3],
            second: None,
            tenth: None,
        }
    }

    /// One acknowledged packet: arrived at `arrival_us` (receiver clock), sent at `send_us`.
    pub fn on_sample(&mut self, arrival_us: i64, send_us: i64) {
        let d = arrival_us - send_us;
        let sec = arrival_us.div_euclid(1_000_000);
        let tenth = arrival_us.div_euclid(100_000);
        Self::advance(&mut self.base, &mut self.second, sec);
        Self::advance(&mut self.recent, &mut self.tenth, tenth);
        if self.second == Some(sec) {
            let i = sec.rem_euclid(self.base.len() as i64) as usize;
            self.base[i] = self.base[i].min(d);
        }
        if self.tenth == Some(tenth) {
            let i = tenth.rem_euclid(self.recent.len() as i64) as usize;
            self.recent[i] = self.recent[i].min(d);
        }
    }

    fn advance<const N: usize>(slots: &mut [i64; N], newest: &mut Option<i64>, at: i64) {
        match *newest {
            None => *newest = Some(at),
            Some(n) if at > n => {
                for k in 1..=(at - n).min(N as i64) {
                    slots[(n + k).rem_euclid(N as i64) as usize] = i64::MAX;
                }
                *newest = Some(at);
            }
            Some(_) => {}
        }
    }

    /// The standing queue: recent smallest delay minus the base, once both are known.
    pub fn standing(&self) -> Option<Duration> {
        let base = self.base.iter().copied().min().filter(|b| *b != i64::MAX)?;
        let recent = self
            .recent
            .iter()
            .copied()
            .min()
            .filter(|r| *r != i64::MAX)?;
        Some(Duration::from_micros((recent - base).max(0) as u64))
    }
}

#[derive(Debug, Clone, Copy)]
struct Sent {
    ext: u64,
    send_us: i64,
    size: u32,
    cluster: Option<ProbeClusterId>,
    reported: bool,
}

const EMPTY: Sent = Sent {
    ext: u64::MAX,
    send_us: 0,
    size: 0,
    cluster: None,
    reported: true,
};

/// Sender-side bandwidth estimator for one subscriber transport. See the [module docs](self)
/// for the algorithm and the calling contract.
#[derive(Debug)]
pub struct SendSideBwe {
    config: BweConfig,
    base: Instant,
    history: Box<[Sent]>,
    last_sent_ext: Option<u64>,
    highest_reported: Option<u64>,
    reference: Option<(i32, i64)>,
    inter: InterArrival,
    trend: Trendline,
    detector: OveruseDetector,
    aimd: Aimd,
    loss: LossBased,
    acked: RateWindow,
    sent: RateWindow,
    last_arrival_us: Option<i64>,
    loss_lost: u32,
    loss_total: u32,
    loss_since: Option<i64>,
    loss_fraction: f64,
    rtt: Duration,
    remb: Option<f64>,
    probe: ProbeController,
    clusters: [ClusterStats; CLUSTER_SLOTS],
    predictor: Option<Predictor>,
    queue: QueueDelay,
    last_drain_us: Option<i64>,
    /// What the link carried at the last cut for a standing queue (× [`BETA`]): the
    /// estimate returns to it once the queue is gone.
    drain_restore: Option<f64>,
    /// The last raise by a probe, while it may still be contradicted: when, to what, and
    /// what the link carried before it.
    probe_raise: Option<(Instant, f64, f64)>,
    /// When a lifted limit last cut the probe backoff short (see `on_feedback`).
    link_faster_at: Option<Instant>,
    below_since: Option<Instant>,
    app_limited: bool,
    target: f64,
    last_feedback: Option<Instant>,
    last_send: Option<Instant>,
    last_timeout_cut: Option<Instant>,
    next_tick: Instant,
    /// The last `now` seen by the periodic work.
    last_tick: Instant,
    stats: BweStats,
}

impl SendSideBwe {
    /// A new estimator at `config.start_bps`. `now` is the time base for everything after.
    pub fn new(config: BweConfig, now: Instant) -> Self {
        let start = config.start_bps.clamp(config.min_bps, config.max_bps) as f64;
        Self {
            base: now,
            history: vec![EMPTY; HISTORY].into_boxed_slice(),
            last_sent_ext: None,
            highest_reported: None,
            reference: None,
            inter: InterArrival::new(),
            trend: Trendline::new(),
            detector: OveruseDetector::new(),
            aimd: Aimd::new(start),
            loss: LossBased::new(start),
            acked: RateWindow::new(config.acked_window),
            sent: RateWindow::new(Duration::from_millis(500)),
            last_arrival_us: None,
            loss_lost: 0,
            loss_total: 0,
            loss_since: None,
            loss_fraction: 0.0,
            rtt: config.initial_rtt,
            remb: None,
            probe: ProbeController::new(config.probe.clone()),
            clusters: [ClusterStats::default(); CLUSTER_SLOTS],
            predictor: config.predictor.then(Predictor::new),
            queue: QueueDelay::new(),
            last_drain_us: None,
            drain_restore: None,
            probe_raise: None,
            link_faster_at: None,
            below_since: None,
            app_limited: false,
            target: start,
            last_feedback: None,
            last_send: None,
            last_timeout_cut: None,
            next_tick: now + TICK,
            last_tick: now,
            stats: BweStats::default(),
            config,
        }
    }

    fn us(&self, now: Instant) -> i64 {
        now.saturating_duration_since(self.base).as_micros() as i64
    }

    // ---- getters ----

    /// The rate the allocator may fill, bits per second.
    pub fn target_bitrate(&self) -> u64 {
        self.target as u64
    }

    /// Rate controller, detector, application-limited and predictor state.
    pub fn state(&self) -> BweState {
        BweState {
            rate_control: self.aimd.state(),
            usage: self.detector.state(),
            app_limited: self.app_limited,
            predicting: self
                .predictor
                .as_ref()
                .is_some_and(|p| p.cap_bps().is_some()),
        }
    }

    /// Loss fraction of the last completed loss window (0..=1).
    pub fn loss_fraction(&self) -> f64 {
        self.loss_fraction
    }

    /// The delay-based estimate, bps.
    pub fn delay_based_bitrate(&self) -> u64 {
        self.aimd.bitrate() as u64
    }

    /// The loss-based ceiling, bps.
    pub fn loss_based_bitrate(&self) -> u64 {
        self.loss.bitrate() as u64
    }

    /// What the receiver acknowledged over the last window, bps.
    pub fn acknowledged_bitrate(&mut self) -> Option<u64> {
        let t = self.last_arrival_us?;
        self.acked.rate_bps(t).map(|b| b as u64)
    }

    /// What we sent over the last 500 ms, bps.
    pub fn send_rate(&mut self, now: Instant) -> u64 {
        let t = self.us(now);
        self.sent.rate_bps(t).unwrap_or(0.0) as u64
    }

    /// Sending well below the estimate (see the module docs).
    pub fn is_app_limited(&self) -> bool {
        self.app_limited
    }

    /// The last REMB, bps.
    pub fn remb(&self) -> Option<u64> {
        self.remb.map(|r| r as u64)
    }

    /// The probe controller (read-only: failures, last result).
    pub fn probe_controller(&self) -> &ProbeController {
        &self.probe
    }

    /// The overuse detector (threshold).
    pub fn detector(&self) -> &OveruseDetector {
        &self.detector
    }

    /// The trendline filter (modified trend).
    pub fn trendline(&self) -> &Trendline {
        &self.trend
    }

    /// The standing queue toward the receiver (see [`QueueDelay`]), once measured.
    pub fn standing_queue(&self) -> Option<Duration> {
        self.queue.standing()
    }

    /// Diagnostics counters.
    pub fn stats(&self) -> BweStats {
        let mut s = self.stats;
        s.predictions = self.predictor.as_ref().map_or(0, Predictor::fired);
        s
    }

    // ---- input ----

    /// A packet with transport-wide sequence number `seq` and `size` bytes (the whole RTP
    /// packet) left at `now`. `probe` tags packets sent for a [`ProbeCluster`].
    pub fn on_packet_sent(
        &mut self,
        now: Instant,
        seq: u16,
        size: usize,
        probe: Option<ProbeClusterId>,
    ) {
        let ext = match self.last_sent_ext {
            None => u64::from(seq) + (1 << 16),
            Some(last) => {
                let d = i64::from(seq.wrapping_sub(last as u16) as i16);
                (last as i64 + d).max(0) as u64
            }
        };
        if self.last_sent_ext.is_none_or(|l| ext > l) {
            self.last_sent_ext = Some(ext);
        }
        let send_us = self.us(now);
        self.history[ext as usize % HISTORY] = Sent {
            ext,
            send_us,
            size: size.min(u32::MAX as usize) as u32,
            cluster: probe,
            reported: false,
        };
        self.sent.add(send_us, size as u64);
        if let Some(id) = probe
            && let Some(c) = self.clusters.iter_mut().find(|c| c.id == Some(id))
        {
            c.on_sent(send_us, size as u64);
        }
        self.last_send = Some(now);
    }

    /// The subscriber's round-trip time (from receiver reports).
    pub fn on_rtt(&mut self, rtt: Duration) {
        self.rtt = rtt;
    }

    /// A REMB from the subscriber, bps: the estimate in [`FeedbackMode::RembOnly`], an upper
    /// bound otherwise.
    pub fn on_remb(&mut self, now: Instant, bps: u64) {
        self.remb = Some(bps as f64);
        let t = self.us(now);
        self.recompute(t);
    }

    /// The allocator would use `bps` if it had it (`None`: it wants nothing more). While the
    /// target is below, probes run, rate-limited.
    pub fn set_desired_bitrate(&mut self, bps: Option<u64>) {
        self.probe.set_desired(bps);
    }

    /// "Can I have `bps`?": probe for it as soon as the rate limit allows. The answer is the
    /// target after the probe's feedback.
    pub fn request_probe(&mut self, bps: u64) {
        self.probe.request(bps.min(self.config.max_bps));
    }

    fn unwrap_seq(&self, seq: u16) -> Option<u64> {
        let last = self.last_sent_ext?;
        let back = u64::from((last as u16).wrapping_sub(seq));
        (back < 0x8000 && back <= last).then(|| last - back)
    }

    fn unwrap_reference(&mut self, raw: i32) -> i64 {
        let v = match self.reference {
            None => i64::from(raw),
            Some((prev, acc)) => {
                // 24-bit signed difference.
                let d = (raw.wrapping_sub(prev) << 8) >> 8;
                acc + i64::from(d)
            }
        };
        self.reference = Some((raw, v));
        v
    }

    /// Transport-wide CC feedback from the subscriber.
    pub fn on_feedback(&mut self, now: Instant, fb: &TransportCc<'_>) {
        if self.config.mode == FeedbackMode::RembOnly {
            return;
        }
        self.stats.feedback += 1;
        self.last_feedback = Some(now);
        let now_us = self.us(now);
        // Packets between the previous feedback and this one's base were never reported:
        // the receiver gave up on them.
        if let (Some(base), Some(high)) = (self.unwrap_seq(fb.base_seq), self.highest_reported)
            && base > high + 1
        {
            let from = (high + 1).max(base.saturating_sub(HISTORY as u64));
            for ext in from..base {
                self.report(ext, None);
            }
        }
        let mut arrival = self.unwrap_reference(fb.reference_time) * 64_000;
        let mut overuse = false;
        fb.for_each(|e| {
            let Some(ext) = self.unwrap_seq(e.seq) else {
                self.stats.unknown += 1;
                return;
            };
            let at = e.delta_ticks.map(|d| {
                arrival += i64::from(d) * 250;
                arrival
            });
            overuse |= self.report(ext, at);
        });
        let acked = self.last_arrival_us.and_then(|t| self.acked.rate_bps(t));
        // The link delivered well above what it carried when a probe last failed (a limit was
        // lifted, and the queue behind it drained at the new rate): probe soon instead of
        // waiting out the failures' backoff.
        if let Some(a) = acked
            && self
                .link_faster_at
                .is_none_or(|t| now.saturating_duration_since(t) >= LINK_FASTER_EVERY)
            && self.probe.on_acked(now, a, LINK_FASTER)
        {
            self.link_faster_at = Some(now);
        }
        let signal = if overuse {
            BandwidthUsage::Overusing
        } else {
            self.detector.state()
        };
        if overuse {
            self.stats.overuses += 1;
            if let Some(p) = self.predictor.as_mut() {
                p.on_overuse();
            }
        }
        let queue = self.queue.standing();
        let standing =
            queue.filter(|q| *q > STANDING_QUEUE && signal != BandwidthUsage::Underusing);
        // The queue is gone: the cut that drained it was no finding about the link, which
        // carried the rate measured while it was full.
        if let (Some(q), Some(r)) = (queue, self.drain_restore)
            && q < STANDING_QUEUE / 3
        {
            self.drain_restore = None;
            if r > self.aimd.bitrate() {
                self.aimd.set_bitrate_clamped(r);
            }
        }
        let hold = standing.is_some()
            || self
                .predictor
                .as_ref()
                .is_some_and(|p| p.cap_bps().is_some());
        self.aimd.update(signal, acked, self.rtt, now_us, hold);
        // A standing queue: drain it (once per round trip, at least 500 ms apart, so each cut
        // is seen before the next).
        if let (Some(q), Some(a)) = (standing, acked) {
            let gap = self.rtt.max(Duration::from_millis(500)).as_micros() as i64;
            if self.last_drain_us.is_none_or(|l| now_us - l >= gap) {
                let f = (BETA - q.as_secs_f64() / DRAIN_HORIZON.as_secs_f64()).max(DRAIN_FLOOR);
                self.aimd.drain(a * f, now_us);
                self.drain_restore = Some(a * BETA);
                self.last_drain_us = Some(now_us);
                self.stats.drains += 1;
            }
        }
        self.aimd_clamp();
        // Loss window.
        let since = *self.loss_since.get_or_insert(now_us);
        if self.loss_total >= LOSS_MIN_PACKETS
            && (now_us - since >= LOSS_WINDOW.as_micros() as i64
                || self.loss_total >= LOSS_MAX_PACKETS)
        {
            self.loss_fraction = f64::from(self.loss_lost) / f64::from(self.loss_total);
            self.loss
                .update(self.loss_fraction, self.target, self.rtt, now_us);
            if let Some(p) = self.predictor.as_mut() {
                p.on_loss(self.loss_fraction);
            }
            self.loss_lost = 0;
            self.loss_total = 0;
            self.loss_since = Some(now_us);
        }
        self.recompute(now_us);
        self.check_probe_raise(now);
        self.finish_clusters(now);
    }

    /// A probe raised the estimate and congestion took it back soon after, while the link
    /// carried what it carried before the probe but far less than the probe claimed: the link
    /// let the short cluster through without carrying its rate (a token bucket's burst does
    /// that). A link that really got slower after the probe carries less than before, and one
    /// that carried most of the claim (a keyframe burst overflowing a queue at the new rate)
    /// did not lie; neither is held against probing.
    fn check_probe_raise(&mut self, now: Instant) {
        let Some((at, raised, before)) = self.probe_raise else {
            return;
        };
        if now.saturating_duration_since(at) > probe::CONTRADICTION_WINDOW {
            self.probe_raise = None;
        } else if self.target < raised * probe::CONTRADICTED {
            self.probe_raise = None;
            let carried = self
                .last_arrival_us
                .and_then(|t| self.acked.rate_bps(t))
                .unwrap_or(0.0);
            if carried >= before * probe::STILL_CARRIED && carried < raised * probe::CONTRADICTED {
                self.stats.probe_contradictions += 1;
                self.probe.on_contradiction(now, carried.max(self.target));
            }
        }
    }

    /// One reported entry. Returns whether it completed a group the detector calls overuse.
    fn report(&mut self, ext: u64, arrival_us: Option<i64>) -> bool {
        let slot = &mut self.history[ext as usize % HISTORY];
        if slot.ext != ext || slot.reported {
            self.stats.unknown += 1;
            return false;
        }
        slot.reported = true;
        let p = *slot;
        self.highest_reported = Some(self.highest_reported.map_or(ext, |h| h.max(ext)));
        if let Some(id) = p.cluster
            && let Some(c) = self.clusters.iter_mut().find(|c| c.id == Some(id))
        {
            c.on_report(arrival_us, p.send_us, u64::from(p.size));
        }
        self.loss_total += 1;
        let Some(at) = arrival_us else {
            self.loss_lost += 1;
            self.stats.lost += 1;
            return false;
        };
        self.stats.acked += 1;
        self.acked.add(at, u64::from(p.size));
        self.last_arrival_us = Some(self.last_arrival_us.map_or(at, |l| l.max(at)));
        // Probe packets measure the probe (see `finish_clusters`); kept out of the delay
        // signal so that a failed probe's burst does not also cut the media rate.
        if p.cluster.is_some() {
            return false;
        }
        self.queue.on_sample(at, p.send_us);
        let Some(d) = self.inter.add(p.send_us, at) else {
            return false;
        };
        let m = self.trend.update(&d);
        let usage = self
            .detector
            .detect(m, d.send_delta_ms, self.trend.deltas(), d.arrival_ms);
        if let Some(pred) = self.predictor.as_mut() {
            let acked = self.acked.rate_bps(at);
            let sent = self.sent.rate_bps(p.send_us);
            pred.on_group(
                m,
                self.detector.threshold(),
                d.delay_variation_ms(),
                acked,
                sent,
            );
        }
        usage == BandwidthUsage::Overusing
    }

    fn finish_clusters(&mut self, now: Instant) {
        let min_packets = self.probe.config().min_packets;
        for i in 0..CLUSTER_SLOTS {
            let c = self.clusters[i];
            let Some(id) = c.id else { continue };
            if !c.complete(min_packets) {
                continue;
            }
            self.clusters[i].id = None;
            // While probes are distrusted their results count only as far as the cluster's
            // tail confirms them.
            let result = self.probe.judge(now, &c);
            let before = self.target;
            if let Some(r) = result
                && r > self.target
            {
                let r = r.min(self.config.max_bps as f64);
                let t = self.us(now);
                if r > self.aimd.bitrate() {
                    self.aimd.set_estimate(r, t);
                }
                self.loss.raise_to(r);
                self.stats.probe_successes += 1;
                self.recompute(t);
                let carried = self
                    .last_arrival_us
                    .and_then(|t| self.acked.rate_bps(t))
                    .unwrap_or(0.0);
                // A chain of raises (exponential continuation) is judged against what the
                // link carried before the chain began: the acknowledged rate counts the probes'
                // own padding once they run.
                let pending = self
                    .probe_raise
                    .filter(|(at, ..)| {
                        now.saturating_duration_since(*at) <= probe::CONTRADICTION_WINDOW
                    })
                    .map(|(_, _, b)| b);
                let carried = pending.unwrap_or(carried);
                if self.target > before * 1.05 && carried > 0.0 {
                    self.probe_raise = Some((now, self.target, carried));
                }
            }
            self.probe.on_result(now, id, result, before, self.target);
        }
    }

    fn aimd_clamp(&mut self) {
        let b = self.aimd.bitrate();
        let c = b.clamp(self.config.min_bps as f64, self.config.max_bps as f64);
        if c != b {
            self.aimd.set_bitrate_clamped(c);
        }
    }

    fn recompute(&mut self, now_us: i64) {
        let mut t = match self.config.mode {
            FeedbackMode::RembOnly => self.remb.unwrap_or(self.config.start_bps as f64),
            FeedbackMode::TransportCc => {
                let mut t = self.aimd.bitrate().min(self.loss.bitrate());
                if let Some(r) = self.remb {
                    t = t.min(r);
                }
                if let Some(c) = self.predictor.as_ref().and_then(Predictor::cap_bps) {
                    t = t.min(c);
                }
                t
            }
        };
        t = t.clamp(self.config.min_bps as f64, self.config.max_bps as f64);
        self.target = t;
        self.loss.record_target(now_us, t);
    }

    /// When [`SendSideBwe::handle_timeout`] wants to run next.
    #[must_use]
    pub fn poll_timeout(&self) -> Instant {
        match self.probe.next_wakeup(self.last_tick, self.target) {
            Some(p) => p.min(self.next_tick),
            None => self.next_tick,
        }
    }

    /// Periodic work: application-limited detection and the feedback timeout. Harmless when
    /// called early.
    pub fn handle_timeout(&mut self, now: Instant) {
        if now < self.next_tick {
            return;
        }
        self.next_tick = now + TICK;
        self.last_tick = now;
        let now_us = self.us(now);
        let rate = self.sent.rate_bps(now_us).unwrap_or(0.0);
        if rate < ALR_START * self.target {
            let since = *self.below_since.get_or_insert(now);
            if now.saturating_duration_since(since) >= ALR_TIME {
                self.app_limited = true;
            }
        } else {
            self.below_since = None;
            if rate >= ALR_END * self.target {
                self.app_limited = false;
            }
        }
        // Feedback timeout: packets left, nothing came back.
        if self.config.mode == FeedbackMode::TransportCc
            && let Some(sent) = self.last_send
        {
            let heard = self.last_feedback.unwrap_or(self.base);
            let timeout = self.config.feedback_timeout.max(self.rtt * 3);
            let waiting = sent > heard && now.saturating_duration_since(heard) >= timeout;
            let cut_due = self
                .last_timeout_cut
                .is_none_or(|c| now.saturating_duration_since(c) >= timeout);
            if waiting && cut_due && self.last_feedback.is_some() {
                let cut = self.target * TIMEOUT_CUT;
                self.aimd.set_bitrate_clamped(cut.min(self.aimd.bitrate()));
                self.aimd_clamp();
                self.loss.cap(cut);
                self.last_timeout_cut = Some(now);
                self.recompute(now_us);
            }
        }
    }

    /// A probe cluster to send now, if one is due. Send its packets paced over its
    /// `duration`, each passed to [`SendSideBwe::on_packet_sent`] with its id.
    #[must_use]
    pub fn poll_probe(&mut self, now: Instant) -> Option<ProbeCluster> {
        if self.config.mode == FeedbackMode::RembOnly {
            return None;
        }
        // A cluster whose slot expired without completing is reported as failed by `poll`.
        let c = self.probe.poll(now, self.target)?;
        self.stats.probes += 1;
        let slot = self
            .clusters
            .iter()
            .position(|s| s.id.is_none())
            .unwrap_or((c.id.0 as usize) % CLUSTER_SLOTS);
        self.clusters[slot] = ClusterStats::start(c.id, c.duration);
        Some(c)
    }
}
