//! Probing: deciding when to send a burst above the estimate, and reading the result from
//! what the receiver acknowledged of it.

use std::time::{Duration, Instant};

/// Identifies one probe cluster. The engine tags each padding/RTX packet it sends for the
/// cluster with this id ([`super::SendSideBwe::on_packet_sent`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ProbeClusterId(pub u32);

/// A probe the engine should send now: padding (or RTX of recent packets) at `target_bps`
/// for `duration`, at least `min_packets` packets and `min_bytes` bytes in all, of similar
/// size and paced evenly, each tagged with `id`. Media keeps flowing untagged alongside.
///
/// (Padding that only filled the gap from the media rate to the target was tried: it loads a
/// constrained link less, but over a 15 ms cluster video's lumpy packets (a frame every
/// 33 ms) make the total rate unmeasurable, and scaling the padding's rate up to a total
/// claimed 2.5 Mbps on a 2 Mbps link. Measured on its own, the padding is smooth, and a probe
/// on top of the media overshoots enough for saturation to show.)
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct ProbeCluster {
    /// Tag for the packets.
    pub id: ProbeClusterId,
    /// Sending rate of the cluster, bits per second.
    pub target_bps: u64,
    /// Minimum number of packets.
    pub min_packets: u32,
    /// Minimum number of bytes (target × duration).
    pub min_bytes: u64,
    /// How long to spread the cluster over.
    pub duration: Duration,
}

/// Probe scheduling parameters.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct ProbeConfig {
    /// Minimum packets per cluster (libwebrtc `min_probe_packets_sent` = 5).
    pub min_packets: u32,
    /// Cluster duration (libwebrtc `min_probe_duration` = 15 ms).
    pub duration: Duration,
    /// A probe aims at most this multiple of the current estimate (libwebrtc's further
    /// exponential probe scale: 2).
    pub scale: f64,
    /// A probe counts as successful when its result reaches this fraction of its target, and
    /// is then followed at once by the next, larger one (libwebrtc
    /// `further_probe_threshold` = 0.7).
    pub success_fraction: f64,
    /// Interval between probes after a success; also the first backoff step.
    pub min_interval: Duration,
    /// Each consecutive failure multiplies the interval by this.
    pub backoff: f64,
    /// Interval cap. libwebrtc re-probes in application-limited periods every 5 s; LiveKit
    /// backs off from 3 s × 1.5 up to 2 min. We cap at 3 s so a link that recovers is found
    /// well within 5 s, at the price of one failed probe burst (a few packets, 15 ms) every
    /// 3 s while the allocator wants more than the link gives.
    pub max_interval: Duration,
    /// A cluster with no result this long after it was issued counts as failed.
    pub timeout: Duration,
}

impl Default for ProbeConfig {
    fn default() -> Self {
        Self {
            min_packets: 5,
            duration: Duration::from_millis(15),
            scale: 2.0,
            success_fraction: 0.7,
            min_interval: Duration::from_millis(1000),
            backoff: 2.0,
            max_interval: Duration::from_secs(3),
            timeout: Duration::from_secs(1),
        }
    }
}

/// A result this far above the estimate before the probe counts as progress.
const PROGRESS: f64 = 1.1;
/// A probe's raise is contradicted when, within this long, congestion takes the estimate
/// below [`CONTRADICTED`] of what the probe claimed.
pub const CONTRADICTION_WINDOW: Duration = Duration::from_secs(3);
/// See [`CONTRADICTION_WINDOW`].
pub const CONTRADICTED: f64 = 0.7;
/// ...while the link still carries at least this share of what it carried before the probe
/// (else the link itself got slower, and the probe is not to blame).
pub const STILL_CARRIED: f64 = 0.8;
/// After a contradicted probe, later probe results are capped at this multiple of what the
/// link carried (the acknowledged rate when the contradiction was seen)...
pub const DISTRUST_CEILING: f64 = 1.2;
/// ...for this long, doubling with every further contradiction up to [`DISTRUST_MAX`].
pub const DISTRUST_FIRST: Duration = Duration::from_secs(10);
/// See [`DISTRUST_FIRST`].
pub const DISTRUST_MAX: Duration = Duration::from_secs(120);
/// Each contradiction also makes clusters this many times longer, up to
/// [`MAX_PROBE_DURATION`], so that a later probe outlasts the burst a token bucket lets
/// through.
pub const DURATION_GROWTH: u32 = 4;
/// See [`DURATION_GROWTH`].
pub const MAX_PROBE_DURATION: Duration = Duration::from_millis(250);
/// While distrusted, probes aim at most this multiple of the estimate (not
/// [`ProbeConfig::scale`]): a long cluster at 1.5x fits the queue of a token bucket at the
/// estimate (250 ms at 1.5x of 500 kbps is 7.8 kB above the rate: the bucket's burst and a
/// 50 ms queue take it without a loss), and still finds a lifted limit in a few steps
/// (1.5^3 = 3.4x).
pub const DISTRUSTED_SCALE: f64 = 1.5;
/// After a contradiction the backoff between failed probes grows up to this. Probes go on
/// while distrusted (gentler and judged by their tail, see [`DISTRUSTED_SCALE`]), so that a
/// limit that is lifted is found within a few seconds (issue 10: the top layer back within
/// 5 s); before, a distrusted controller stopped probing for 10 s to 2 min.
pub const DISTRUSTED_MAX_INTERVAL: Duration = Duration::from_secs(3);

#[derive(Debug, Clone, Copy)]
struct InFlight {
    id: ProbeClusterId,
    target_bps: f64,
    issued: Instant,
}

/// Decides when to probe and how hard. Driven by [`super::SendSideBwe`], which tells it the
/// estimate, the allocator's wish and each cluster's result.
#[derive(Debug, Clone)]
pub struct ProbeController {
    config: ProbeConfig,
    /// Current cluster duration: the configured one, longer after contradictions.
    duration: Duration,
    /// After a contradicted probe: until when, and the rate probes may not claim above.
    ceiling: Option<(Instant, f64)>,
    distrust: Duration,
    contradictions: u32,
    /// The estimate when the last probe failed: what the link was found to carry.
    failed_at: f64,
    /// The first acknowledged rate reported after the last failed probe.
    failed_acked: Option<f64>,
    /// The estimate at the last poll or result.
    last_estimate: f64,
    next_id: u32,
    desired_bps: Option<f64>,
    requested_bps: Option<f64>,
    in_flight: Option<InFlight>,
    continue_at: Option<f64>,
    next_allowed: Option<Instant>,
    interval: Duration,
    failures: u32,
    last_result: Option<(ProbeClusterId, f64)>,
}

impl ProbeController {
    /// A controller with nothing to probe for yet.
    pub fn new(config: ProbeConfig) -> Self {
        let interval = config.min_interval;
        Self {
            duration: config.duration,
            ceiling: None,
            distrust: DISTRUST_FIRST,
            contradictions: 0,
            failed_at: 0.0,
            failed_acked: None,
            last_estimate: 0.0,
            config,
            next_id: 1,
            desired_bps: None,
            requested_bps: None,
            in_flight: None,
            continue_at: None,
            next_allowed: None,
            interval,
            failures: 0,
            last_result: None,
        }
    }

    /// The configuration.
    pub fn config(&self) -> &ProbeConfig {
        &self.config
    }

    /// What the allocator would use if it could (the sum of the wanted layers), or `None`.
    /// While the estimate is below it, probes run at the backoff-limited pace.
    pub fn set_desired(&mut self, bps: Option<u64>) {
        self.desired_bps = bps.map(|b| b as f64);
    }

    /// The allocator asks "can I have `bps`?" before an upgrade: probe for it as soon as the
    /// rate limit allows (the answer arrives as a raised estimate, or not).
    pub fn request(&mut self, bps: u64) {
        self.requested_bps = Some(bps as f64);
    }

    /// Consecutive failed probes.
    pub fn failures(&self) -> u32 {
        self.failures
    }

    /// The most recent cluster result, bps.
    pub fn last_result(&self) -> Option<(ProbeClusterId, f64)> {
        self.last_result
    }

    /// The cluster in flight, if any.
    pub fn in_flight(&self) -> Option<ProbeClusterId> {
        self.in_flight.map(|f| f.id)
    }

    /// Probe raises that congestion contradicted soon after (a token bucket's burst let a
    /// short cluster through at line rate).
    pub fn contradictions(&self) -> u32 {
        self.contradictions
    }

    /// While probes are distrusted: the rate their results are capped at.
    pub fn ceiling(&self, now: Instant) -> Option<u64> {
        self.ceiling
            .filter(|(until, _)| now < *until)
            .map(|(_, c)| c as u64)
    }

    /// The cluster duration now.
    pub fn duration(&self) -> Duration {
        self.duration
    }

    /// A raise by a probe was contradicted by congestion: the link carried `carried` bps.
    /// Cap later results near it for a while, and make clusters longer.
    pub(crate) fn on_contradiction(&mut self, now: Instant, carried: f64) {
        self.contradictions += 1;
        self.ceiling = Some((now + self.distrust, carried * DISTRUST_CEILING));
        self.distrust = (self.distrust * 2).min(DISTRUST_MAX);
        self.duration = (self.duration * DURATION_GROWTH).min(MAX_PROBE_DURATION);
        self.continue_at = None;
        self.requested_bps = None;
    }

    /// The link delivered `acked` bps. After failed probes the next one waits out the
    /// backoff (up to 3 s); when the link now carries more than `factor` times what it
    /// carried when the last probe failed (a limit was lifted, and the queue behind it
    /// drained at the new rate), the next probe may go at once. libwebrtc probes again when
    /// the network changes for the same reason. Returns whether it cut the backoff short.
    pub(crate) fn on_acked(&mut self, now: Instant, acked: f64, factor: f64) -> bool {
        if self.failures == 0 || self.in_flight.is_some() {
            return false;
        }
        // What the link carried when the probe failed: the estimate then, or the first
        // acknowledged rate after it if higher (a link whose estimate was cut below what it
        // carries is not faster for delivering what it always did).
        let carried = *self.failed_acked.get_or_insert(acked);
        if acked <= self.failed_at.max(carried) * factor {
            return false;
        }
        self.failures = 0;
        self.interval = self.config.min_interval;
        self.next_allowed = Some(now);
        true
    }

    /// Whether probe results are distrusted now (a recent raise was contradicted).
    pub fn distrusted(&self, now: Instant) -> bool {
        self.ceiling.is_some_and(|(until, _)| now < until)
    }

    /// How far above the estimate a probe aims: [`ProbeConfig::scale`], or
    /// [`DISTRUSTED_SCALE`] while distrusted.
    fn scale(&self, now: Instant) -> f64 {
        if self.distrusted(now) {
            self.config.scale.min(DISTRUSTED_SCALE)
        } else {
            self.config.scale
        }
    }

    /// A cluster's result as the estimator may use it. While probes are distrusted a result
    /// counts only as far as the cluster's second half confirms it ([`ClusterStats::tail_rate`]);
    /// with too little tail to judge, only up to the ceiling (the rate the link carried at the
    /// contradiction, times [`DISTRUST_CEILING`]).
    pub(crate) fn judge(&self, now: Instant, c: &ClusterStats) -> Option<f64> {
        let r = c.result()?;
        if !self.distrusted(now) {
            return Some(r);
        }
        Some(match (c.tail_rate(), self.ceiling) {
            (Some(t), _) => r.min(t),
            (None, Some((_, ceiling))) => r.min(ceiling),
            (None, None) => r,
        })
    }

    /// When a probe could next be issued (for `poll_timeout`), if one is wanted.
    /// (Under a ceiling that leaves nothing to probe for, nothing is due: the estimator's
    /// periodic tick sees it lift.)
    pub(crate) fn next_wakeup(&self, now: Instant, estimate: f64) -> Option<Instant> {
        if let Some(f) = self.in_flight {
            return Some(f.issued + self.config.timeout);
        }
        let goal = self.goal(now, estimate)?;
        (goal > estimate).then_some(self.next_allowed?)
    }

    fn goal(&self, now: Instant, estimate: f64) -> Option<f64> {
        let want = match (self.desired_bps, self.requested_bps) {
            (Some(d), Some(r)) => Some(d.max(r)),
            (d, r) => d.or(r),
        }?;
        let _ = now;
        // Probe only for a meaningful step (5 % above the estimate).
        (want > estimate * 1.05).then_some(want)
    }

    /// A cluster to send now, if one is due. `estimate` is the current target, bps.
    pub(crate) fn poll(&mut self, now: Instant, estimate: f64) -> Option<ProbeCluster> {
        self.last_estimate = estimate;
        if let Some(f) = self.in_flight {
            if now < f.issued + self.config.timeout {
                return None;
            }
            // No result in time: a failure.
            self.in_flight = None;
            self.fail(now);
        }
        let target = if let Some(c) = self.continue_at.take() {
            c.min(estimate * self.scale(now))
        } else {
            let goal = self.goal(now, estimate)?;
            if self.next_allowed.is_some_and(|t| now < t) {
                return None;
            }
            goal.min(estimate * self.scale(now))
        };
        if target <= estimate {
            return None;
        }
        let id = ProbeClusterId(self.next_id);
        self.next_id = self.next_id.wrapping_add(1).max(1);
        self.in_flight = Some(InFlight {
            id,
            target_bps: target,
            issued: now,
        });
        let min_bytes = (target * self.duration.as_secs_f64() / 8.0).ceil() as u64;
        Some(ProbeCluster {
            id,
            target_bps: target as u64,
            min_packets: self.config.min_packets,
            min_bytes,
            duration: self.duration,
        })
    }

    fn fail(&mut self, now: Instant) {
        self.failures += 1;
        self.failed_at = self.last_estimate;
        self.failed_acked = None;
        self.continue_at = None;
        self.next_allowed = Some(now + self.interval);
        let cap = if self.contradictions > 0 {
            self.config.max_interval.max(DISTRUSTED_MAX_INTERVAL)
        } else {
            self.config.max_interval
        };
        self.interval = self.interval.mul_f64(self.config.backoff).min(cap);
    }

    /// A cluster's measured result (bps; `None` if too few of its packets arrived to say).
    /// `estimate` is the target after the result was applied.
    pub(crate) fn on_result(
        &mut self,
        now: Instant,
        id: ProbeClusterId,
        result: Option<f64>,
        before: f64,
        estimate: f64,
    ) {
        let Some(f) = self.in_flight.filter(|f| f.id == id) else {
            return;
        };
        self.in_flight = None;
        self.last_estimate = estimate;
        if let Some(r) = result {
            self.last_result = Some((id, r));
        }
        match result {
            Some(r)
                if r >= f.target_bps * self.config.success_fraction && r >= before * PROGRESS =>
            {
                self.failures = 0;
                self.interval = self.config.min_interval;
                self.next_allowed = Some(now + self.interval);
                let goal = self.goal(now, estimate);
                if let Some(g) = goal {
                    // Exponential continuation: the link took this much, try for more.
                    self.continue_at = Some(g.min(r * self.config.scale));
                } else {
                    self.requested_bps = None;
                }
            }
            // Short of the target but it raised the estimate: no backoff, no continuation.
            Some(r) if r >= before * PROGRESS => {
                self.failures = 0;
                self.interval = self.config.min_interval;
                self.next_allowed = Some(now + self.interval);
            }
            _ => {
                self.requested_bps = None;
                self.fail(now);
            }
        }
    }
}

/// Sent and received totals for one cluster, as feedback reports its packets
/// (libwebrtc probe bitrate estimator rules: ≥ 80 % of the packets received, rate from the
/// first to the last packet excluding one packet's size at the far end, min(send, receive)).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct ClusterStats {
    pub(crate) id: Option<ProbeClusterId>,
    sent: u32,
    sent_bytes: u64,
    first_send_us: i64,
    last_send_us: i64,
    last_send_size: u64,
    reported: u32,
    recv: u32,
    recv_bytes: u64,
    first_arrival_us: i64,
    last_arrival_us: i64,
    first_recv_size: u64,
    /// Packets sent in the cluster's second half (by send time) count in the tail.
    half_us: i64,
    tail_recv: u32,
    tail_bytes: u64,
    tail_first_arrival_us: i64,
    tail_last_arrival_us: i64,
    tail_first_size: u64,
}

/// Received share of a cluster needed for a result (libwebrtc `kMinReceivedProbesRatio`).
const MIN_RECEIVED_RATIO: f64 = 0.8;
/// A receive rate this far below the send rate means the link saturated; the result is then
/// a little under the receive rate (libwebrtc: 0.9 and 0.95).
const SATURATION_RATIO: f64 = 0.9;
const SATURATED_FRACTION: f64 = 0.95;

impl ClusterStats {
    pub(crate) fn start(id: ProbeClusterId, duration: Duration) -> Self {
        Self {
            id: Some(id),
            half_us: (duration.as_micros() / 2) as i64,
            ..Self::default()
        }
    }

    pub(crate) fn on_sent(&mut self, send_us: i64, size: u64) {
        if self.sent == 0 {
            self.first_send_us = send_us;
        }
        self.sent += 1;
        self.sent_bytes += size;
        self.last_send_us = send_us;
        self.last_send_size = size;
    }

    pub(crate) fn on_report(&mut self, arrival_us: Option<i64>, send_us: i64, size: u64) {
        self.reported += 1;
        let Some(a) = arrival_us else {
            return;
        };
        if self.sent > 0 && send_us >= self.first_send_us + self.half_us {
            if self.tail_recv == 0 {
                self.tail_first_arrival_us = a;
                self.tail_last_arrival_us = a;
                self.tail_first_size = size;
            }
            self.tail_recv += 1;
            self.tail_bytes += size;
            self.tail_first_arrival_us = self.tail_first_arrival_us.min(a);
            self.tail_last_arrival_us = self.tail_last_arrival_us.max(a);
        }
        if self.recv == 0 {
            self.first_arrival_us = a;
            self.last_arrival_us = a;
            self.first_recv_size = size;
        }
        self.recv += 1;
        self.recv_bytes += size;
        self.first_arrival_us = self.first_arrival_us.min(a);
        self.last_arrival_us = self.last_arrival_us.max(a);
    }

    /// Every packet sent for the cluster has been reported on.
    pub(crate) fn complete(&self, min_packets: u32) -> bool {
        self.sent >= min_packets && self.reported >= self.sent
    }

    /// The receive rate of the cluster's second half, bps (at least three packets). A token
    /// bucket lets the first part of a cluster through at line rate, from its burst; once the
    /// burst is spent the rest arrives at the bucket's rate, so the tail measures the link,
    /// not the burst (as long as the cluster outlasts it: hence longer clusters after a
    /// contradiction). On a link that really carries the probe the tail matches the head.
    pub(crate) fn tail_rate(&self) -> Option<f64> {
        if self.tail_recv < 3 {
            return None;
        }
        let span = (self.tail_last_arrival_us - self.tail_first_arrival_us).max(1) as f64 / 1e6;
        Some((self.tail_bytes - self.tail_first_size) as f64 * 8.0 / span)
    }

    /// The probe's result, bps, if enough arrived.
    pub(crate) fn result(&self) -> Option<f64> {
        if self.recv < 2 || f64::from(self.recv) < MIN_RECEIVED_RATIO * f64::from(self.sent) {
            return None;
        }
        let send_span = (self.last_send_us - self.first_send_us).max(1) as f64 / 1e6;
        let recv_span = (self.last_arrival_us - self.first_arrival_us).max(1) as f64 / 1e6;
        let send_rate = (self.sent_bytes - self.last_send_size) as f64 * 8.0 / send_span;
        let recv_rate = (self.recv_bytes - self.first_recv_size) as f64 * 8.0 / recv_span;
        if recv_rate < SATURATION_RATIO * send_rate {
            Some(SATURATED_FRACTION * recv_rate)
        } else {
            Some(send_rate.min(recv_rate))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t0() -> Instant {
        #[allow(clippy::disallowed_methods, reason = "a base instant for a pure test")]
        Instant::now()
    }

    /// A controller whose first probe (from 400 kbps toward 2 Mbps) failed at `now`.
    fn failed(now: Instant) -> ProbeController {
        let mut p = ProbeController::new(ProbeConfig::default());
        p.set_desired(Some(2_000_000));
        let c = p.poll(now, 400_000.0).expect("a probe is due");
        p.on_result(now, c.id, None, 400_000.0, 400_000.0);
        assert_eq!(p.failures(), 1);
        p
    }

    #[test]
    fn a_lifted_limit_cuts_the_backoff_short() {
        let now = t0();
        let mut p = failed(now);
        let later = now + Duration::from_millis(100);
        assert!(p.poll(later, 400_000.0).is_none(), "backing off");
        // The link delivers what it did when the probe failed: nothing changes.
        assert!(!p.on_acked(later, 420_000.0, 1.25));
        assert!(!p.on_acked(later, 480_000.0, 1.25));
        assert!(p.poll(later, 400_000.0).is_none());
        // The queue behind a lifted limit drains at the new rate: probe at once.
        assert!(p.on_acked(later, 900_000.0, 1.25));
        assert_eq!(p.failures(), 0);
        assert!(p.poll(later, 400_000.0).is_some());
    }

    #[test]
    fn a_link_that_always_carried_more_than_its_estimate_is_not_faster() {
        let now = t0();
        let mut p = failed(now);
        // The estimate (400 kbps) was cut below what the link carries (600 kbps): that is
        // the baseline, not a lift.
        let later = now + Duration::from_millis(100);
        assert!(!p.on_acked(later, 600_000.0, 1.25));
        assert!(!p.on_acked(later, 700_000.0, 1.25));
        assert!(p.on_acked(later, 800_000.0, 1.25));
    }
}
