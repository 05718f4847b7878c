//! Rate controllers: AIMD on the delay signal (GCC §5.5), the loss-based controller (GCC §6)
//! and the windowed throughput meters both feed on.

use std::time::Duration;

use super::delay::BandwidthUsage;

/// Multiplicative increase per second far from convergence (GCC §5.5: eta = 1.08).
pub const MULTIPLICATIVE_INCREASE: f64 = 1.08;
/// Decrease factor applied to the acknowledged bitrate on overuse (GCC §5.5: beta = 0.85).
pub const BETA: f64 = 0.85;
/// Increases never take the estimate above this multiple of the acknowledged bitrate plus
/// [`ACKED_HEADROOM_BPS`] (libwebrtc AIMD: 1.5 × throughput + 10 kbps). This is also what keeps
/// an application-limited sender from ramping the estimate without bound.
pub const ACKED_CAP_FACTOR: f64 = 1.5;
/// See [`ACKED_CAP_FACTOR`].
pub const ACKED_HEADROOM_BPS: f64 = 10_000.0;
/// Smoothing of the link-capacity average on each overuse (libwebrtc: 0.05).
pub const CAPACITY_ALPHA: f64 = 0.05;
/// Bounds of the capacity variance normalised by the average, in kbps (libwebrtc: 0.4, 2.5).
pub const CAPACITY_VAR_RANGE: (f64, f64) = (0.4, 2.5);
/// Standard deviations around the capacity average that count as "near convergence"
/// (GCC §5.5: three).
pub const CAPACITY_SIGMAS: f64 = 3.0;
/// Assumed packet size and frame rate for the additive increase step (libwebrtc: 1200 B, 30 fps).
const ADDITIVE_PACKET_BITS: f64 = 1200.0 * 8.0;
const ADDITIVE_FPS: f64 = 30.0;
/// Response time = RTT + this (GCC §5.5: 100 ms).
const RESPONSE_EXTRA: Duration = Duration::from_millis(100);
/// Minimum additive increase, bps per second (libwebrtc: 4 kbps/s).
const MIN_ADDITIVE_BPS_PER_S: f64 = 4_000.0;

/// Loss fraction below which the loss-based estimate increases (GCC §6: 2 %).
pub const LOW_LOSS: f64 = 0.02;
/// Loss fraction above which the loss-based estimate decreases (GCC §6: 10 %).
pub const HIGH_LOSS: f64 = 0.10;
/// Loss-based decreases are at least this far apart, plus one RTT (libwebrtc
/// `kBweDecreaseInterval` = 300 ms).
pub const LOSS_DECREASE_INTERVAL: Duration = Duration::from_millis(300);

/// The AIMD controller's state (GCC §5.5, figure 2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RateControlState {
    /// Raising the estimate.
    #[default]
    Increasing,
    /// Holding it.
    Hold,
    /// Lowering it.
    Decreasing,
}

/// Running mean and normalised variance of the acknowledged bitrate seen at overuse: the
/// link capacity as far as GCC knows it.
#[derive(Debug, Clone, Copy, Default)]
struct LinkCapacity {
    mean_kbps: Option<f64>,
    var: f64,
}

impl LinkCapacity {
    fn update(&mut self, sample_bps: f64) {
        let x = sample_bps / 1000.0;
        let m = match self.mean_kbps {
            None => x,
            Some(m) => (1.0 - CAPACITY_ALPHA) * m + CAPACITY_ALPHA * x,
        };
        let err = m - x;
        self.var = ((1.0 - CAPACITY_ALPHA) * self.var + CAPACITY_ALPHA * err * err / m.max(1.0))
            .clamp(CAPACITY_VAR_RANGE.0, CAPACITY_VAR_RANGE.1);
        self.mean_kbps = Some(m);
    }

    fn sigma_kbps(&self) -> f64 {
        self.mean_kbps.map_or(0.0, |m| (self.var * m).sqrt())
    }

    fn upper_bps(&self) -> Option<f64> {
        self.mean_kbps
            .map(|m| (m + CAPACITY_SIGMAS * self.sigma_kbps()) * 1000.0)
    }

    fn lower_bps(&self) -> Option<f64> {
        self.mean_kbps
            .map(|m| (m - CAPACITY_SIGMAS * self.sigma_kbps()) * 1000.0)
    }

    fn reset(&mut self) {
        self.mean_kbps = None;
    }
}

/// Additive-increase / multiplicative-decrease control of the delay-based estimate.
#[derive(Debug, Clone)]
pub(crate) struct Aimd {
    bitrate: f64,
    state: RateControlState,
    capacity: LinkCapacity,
    last_change_us: Option<i64>,
    last_decrease_us: Option<i64>,
}

impl Aimd {
    pub(crate) fn new(start_bps: f64) -> Self {
        Self {
            bitrate: start_bps,
            state: RateControlState::Hold,
            capacity: LinkCapacity::default(),
            last_change_us: None,
            last_decrease_us: None,
        }
    }

    pub(crate) fn bitrate(&self) -> f64 {
        self.bitrate
    }

    pub(crate) fn state(&self) -> RateControlState {
        self.state
    }

    /// Sets the estimate without touching the capacity knowledge (clamping, timeouts).
    pub(crate) fn set_bitrate_clamped(&mut self, bps: f64) {
        self.bitrate = bps;
    }

    /// Sets the estimate directly (a probe result). The capacity knowledge stays, as in
    /// libwebrtc: it is reset only when the acknowledged rate leaves its band. (Resetting it
    /// here made every probe that reached a saturated link's rate switch AIMD back to 8 %/s,
    /// which climbed past the link before a deep queue drained: a standing queue of 1 s behind
    /// a 500 kbps token bucket.)
    pub(crate) fn set_estimate(&mut self, bps: f64, now_us: i64) {
        self.bitrate = bps;
        self.last_change_us = Some(now_us);
    }

    /// Whether the estimate may be lowered again already: once per RTT (10–200 ms), or at once
    /// if the path delivers less than half the estimate (libwebrtc `TimeToReduceFurther`).
    fn may_reduce(&self, now_us: i64, rtt: Duration, acked: Option<f64>) -> bool {
        let interval = rtt.clamp(Duration::from_millis(10), Duration::from_millis(200));
        let Some(last) = self.last_decrease_us else {
            return true;
        };
        now_us - last >= interval.as_micros() as i64
            || acked.is_some_and(|a| a < self.bitrate / 2.0)
    }

    /// One update on the detector's signal. `acked` is the acknowledged bitrate, if known.
    /// `hold` suppresses increases (the predictor sees congestion coming).
    pub(crate) fn update(
        &mut self,
        signal: BandwidthUsage,
        acked: Option<f64>,
        rtt: Duration,
        now_us: i64,
        hold: bool,
    ) {
        // State transitions (GCC §5.5).
        self.state = match (signal, self.state) {
            (BandwidthUsage::Overusing, _) => RateControlState::Decreasing,
            (BandwidthUsage::Underusing, _) => RateControlState::Hold,
            (BandwidthUsage::Normal, RateControlState::Hold) => RateControlState::Increasing,
            (BandwidthUsage::Normal, RateControlState::Increasing) => RateControlState::Increasing,
            (BandwidthUsage::Normal, RateControlState::Decreasing) => RateControlState::Hold,
        };
        let dt_s = self
            .last_change_us
            .map_or(0.0, |l| ((now_us - l) as f64 / 1e6).clamp(0.0, 1.0));
        match self.state {
            RateControlState::Hold => {}
            RateControlState::Increasing if hold => {}
            RateControlState::Increasing => {
                if let (Some(a), Some(upper)) = (acked, self.capacity.upper_bps())
                    && a > upper
                {
                    self.capacity.reset(); // the link got faster: far from convergence again
                }
                let inc = if self.capacity.mean_kbps.is_some() {
                    self.additive_per_s(rtt) * dt_s
                } else {
                    (self.bitrate * (MULTIPLICATIVE_INCREASE.powf(dt_s) - 1.0)).max(1000.0 * dt_s)
                };
                let mut next = self.bitrate + inc;
                if let Some(a) = acked {
                    // Never ramp far past what actually gets through; never lower for it.
                    next = next.min((ACKED_CAP_FACTOR * a + ACKED_HEADROOM_BPS).max(self.bitrate));
                }
                self.bitrate = next;
            }
            RateControlState::Decreasing => {
                if self.may_reduce(now_us, rtt, acked) {
                    let mut next = match acked {
                        Some(a) => {
                            let mut n = BETA * a;
                            if n > self.bitrate
                                && let Some(m) = self.capacity.mean_kbps
                            {
                                n = BETA * m * 1000.0;
                            }
                            n
                        }
                        None => BETA * self.bitrate,
                    };
                    next = next.min(self.bitrate);
                    if let Some(a) = acked {
                        if self.capacity.lower_bps().is_some_and(|l| a < l) {
                            self.capacity.reset();
                        }
                        self.capacity.update(a);
                    }
                    self.bitrate = next;
                    self.last_decrease_us = Some(now_us);
                }
                // After acting on an overuse, wait for the next signal before moving again.
                self.state = RateControlState::Hold;
            }
        }
        self.last_change_us = Some(now_us);
    }

    /// Lowers the estimate to `bps` to drain a standing queue (see
    /// [`super::QueueDelay`]); nothing increases until the next signal.
    pub(crate) fn drain(&mut self, bps: f64, now_us: i64) {
        if bps < self.bitrate {
            self.bitrate = bps;
            self.last_decrease_us = Some(now_us);
        }
        self.state = RateControlState::Hold;
        self.last_change_us = Some(now_us);
    }

    /// Additive increase near convergence: about one packet per response time.
    fn additive_per_s(&self, rtt: Duration) -> f64 {
        let bits_per_frame = self.bitrate / ADDITIVE_FPS;
        let packets = (bits_per_frame / ADDITIVE_PACKET_BITS).ceil().max(1.0);
        let packet_bits = bits_per_frame / packets;
        let response = (rtt + RESPONSE_EXTRA).as_secs_f64();
        (packet_bits / response).max(MIN_ADDITIVE_BPS_PER_S)
    }
}

/// The loss-based controller (GCC §6). It keeps its own ceiling: raised 8 % a second above
/// the lowest combined target of the last second while loss stays under 2 %, held between 2
/// and 10 %, cut by (1 − loss/2) above. It is never pulled down to the delay-based estimate,
/// so a delay-based dip under moderate loss cannot ratchet it downwards (the "downgrade
/// spiral" of capping loss-based state by the delay-based one).
#[derive(Debug, Clone)]
pub(crate) struct LossBased {
    bitrate: f64,
    last_decrease_us: Option<i64>,
    /// Lowest combined target in the last second: (time, bps) samples every 100 ms.
    min_history: [(i64, f64); 10],
    history_len: usize,
    history_head: usize,
}

impl LossBased {
    pub(crate) fn new(start_bps: f64) -> Self {
        Self {
            bitrate: start_bps,
            last_decrease_us: None,
            min_history: [(0, 0.0); 10],
            history_len: 0,
            history_head: 0,
        }
    }

    pub(crate) fn bitrate(&self) -> f64 {
        self.bitrate
    }

    pub(crate) fn cap(&mut self, bps: f64) {
        self.bitrate = self.bitrate.min(bps);
    }

    pub(crate) fn raise_to(&mut self, bps: f64) {
        self.bitrate = self.bitrate.max(bps);
    }

    /// Records the combined target (every 100 ms at most).
    pub(crate) fn record_target(&mut self, now_us: i64, target: f64) {
        if self.history_len > 0 {
            let newest = (self.history_head + 10 - 1) % 10;
            if now_us - self.min_history[newest].0 < 100_000 {
                let e = &mut self.min_history[newest];
                e.1 = e.1.min(target);
                return;
            }
        }
        self.min_history[self.history_head] = (now_us, target);
        self.history_head = (self.history_head + 1) % 10;
        self.history_len = (self.history_len + 1).min(10);
    }

    fn min_recent(&self, now_us: i64) -> Option<f64> {
        self.min_history[..self.history_len]
            .iter()
            .filter(|(t, _)| now_us - t <= 1_000_000)
            .map(|&(_, b)| b)
            .reduce(f64::min)
    }

    /// One update with a fresh loss measurement. `target` is the current combined target.
    pub(crate) fn update(&mut self, loss: f64, target: f64, rtt: Duration, now_us: i64) {
        if loss < LOW_LOSS {
            let base = self.min_recent(now_us).unwrap_or(target);
            self.bitrate = self.bitrate.max(base * MULTIPLICATIVE_INCREASE + 1000.0);
        } else if loss > HIGH_LOSS {
            let gap = (LOSS_DECREASE_INTERVAL + rtt).as_micros() as i64;
            if self.last_decrease_us.is_none_or(|l| now_us - l >= gap) {
                self.bitrate = target.min(self.bitrate) * (1.0 - 0.5 * loss);
                self.last_decrease_us = Some(now_us);
            }
        }
    }
}

/// Bytes per fixed-width bucket over a sliding window of (microsecond) time: the
/// acknowledged bitrate (on the receiver's arrival clock) and the send rate (on ours).
#[derive(Debug, Clone)]
pub(crate) struct RateWindow {
    bucket_us: i64,
    buckets: [u64; RATE_BUCKETS],
    /// Index (time / bucket_us) of the newest bucket.
    newest: Option<i64>,
    first_us: Option<i64>,
}

const RATE_BUCKETS: usize = 20;

impl RateWindow {
    pub(crate) fn new(window: Duration) -> Self {
        Self {
            bucket_us: (window.as_micros() as i64 / RATE_BUCKETS as i64).max(1),
            buckets: [0; RATE_BUCKETS],
            newest: None,
            first_us: None,
        }
    }

    fn advance(&mut self, idx: i64) {
        match self.newest {
            None => self.newest = Some(idx),
            Some(n) if idx > n => {
                let steps = (idx - n).min(RATE_BUCKETS as i64);
                for k in 1..=steps {
                    self.buckets[((n + k).rem_euclid(RATE_BUCKETS as i64)) as usize] = 0;
                }
                self.newest = Some(idx);
            }
            Some(_) => {}
        }
    }

    pub(crate) fn add(&mut self, t_us: i64, bytes: u64) {
        self.first_us.get_or_insert(t_us);
        let idx = t_us.div_euclid(self.bucket_us);
        self.advance(idx);
        let n = self.newest.unwrap_or(idx);
        if n - idx < RATE_BUCKETS as i64 {
            self.buckets[idx.rem_euclid(RATE_BUCKETS as i64) as usize] += bytes;
        }
    }

    /// The rate over the window ending at `t_us`, in bits per second; `None` before the
    /// first sample.
    pub(crate) fn rate_bps(&mut self, t_us: i64) -> Option<f64> {
        let first = self.first_us?;
        self.advance(t_us.div_euclid(self.bucket_us));
        let total: u64 = self.buckets.iter().sum();
        let window = self.bucket_us * RATE_BUCKETS as i64;
        let span = (t_us - first + self.bucket_us).clamp(self.bucket_us, window);
        Some(total as f64 * 8.0 * 1e6 / span as f64)
    }
}
