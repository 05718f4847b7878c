//! The delay-based detector: packet groups, the trendline filter and the adaptive-threshold
//! overuse detector (draft-ietf-rmcat-gcc-02 §5.2–5.4, as refined in libwebrtc).
//!
//! All times here are microseconds (`i64`): send times on the sender's clock, arrival times on
//! the receiver's clock as reported in transport-wide CC feedback. Only differences matter.

/// Packets sent within this span of a group's first packet form one group
/// (GCC §5.2: "a group ... sent within a burst_time interval", burst_time = 5 ms).
pub const GROUP_SPAN_US: i64 = 5_000;
/// A packet arriving within this time of the group's last arrival, and with a negative
/// propagation delta, joins the group even if sent later (burst merging, libwebrtc's
/// `kBurstDeltaThresholdMs` = 5 ms).
pub const BURST_ARRIVAL_US: i64 = 5_000;
/// A merged burst never spans more arrival time than this (libwebrtc `kMaxBurstDurationMs`).
pub const MAX_BURST_US: i64 = 100_000;
/// Groups in the regression window (libwebrtc trendline default window: 20).
pub const TREND_WINDOW: usize = 20;
/// Exponential smoothing of the accumulated delay (libwebrtc trendline smoothing: 0.9).
pub const TREND_SMOOTHING: f64 = 0.9;
/// Gain applied to the slope before comparing with the threshold (libwebrtc: 4.0).
pub const TREND_GAIN: f64 = 4.0;
/// The slope is multiplied by min(groups seen, this) (libwebrtc `kMinNumDeltas` = 60).
pub const TREND_DELTA_CAP: u32 = 60;
/// Threshold gain when the signal is above the threshold (GCC §5.4: K_u = 0.01).
pub const K_UP: f64 = 0.01;
/// Threshold gain when the signal is below the threshold (GCC §5.4: K_d = 0.00018).
pub const K_DOWN: f64 = 0.000_18;
/// Initial threshold, ms (GCC §5.4 / libwebrtc: 12.5).
pub const INITIAL_THRESHOLD: f64 = 12.5;
/// Threshold bounds, ms (libwebrtc: 6 and 600).
pub const THRESHOLD_RANGE: (f64, f64) = (6.0, 600.0);
/// Signals further than this above the threshold do not adapt it (libwebrtc
/// `kMaxAdaptOffsetMs` = 15 ms): a sudden spike must not raise the bar.
pub const MAX_ADAPT_OFFSET: f64 = 15.0;
/// Overuse must last this long, ms (GCC §5.4 overuse_time_th = 10 ms).
pub const OVERUSE_TIME: f64 = 10.0;

/// What the detector concludes about the path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BandwidthUsage {
    /// Delay is stable: the path carries what is sent.
    #[default]
    Normal,
    /// Delay is growing: a queue is building.
    Overusing,
    /// Delay is shrinking: a queue is draining.
    Underusing,
}

/// One group's timing relative to the previous group.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GroupDelta {
    /// Send-time difference of the groups' last packets, ms.
    pub send_delta_ms: f64,
    /// Arrival-time difference of the groups' last packets, ms.
    pub arrival_delta_ms: f64,
    /// Arrival time of the newer group's last packet, ms (receiver clock).
    pub arrival_ms: f64,
}

impl GroupDelta {
    /// The inter-group delay variation d(i) = arrival delta − send delta, ms.
    pub fn delay_variation_ms(&self) -> f64 {
        self.arrival_delta_ms - self.send_delta_ms
    }
}

#[derive(Debug, Clone, Copy)]
struct Group {
    first_send: i64,
    last_send: i64,
    first_arrival: i64,
    last_arrival: i64,
}

/// Splits acknowledged packets (in send order) into groups and yields the delta between each
/// completed group and the one before it.
#[derive(Debug, Clone, Default)]
pub struct InterArrival {
    current: Option<Group>,
    previous: Option<Group>,
}

impl InterArrival {
    /// A fresh grouper.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds one received packet. Returns a delta when `send_us` starts a new group and two
    /// complete groups precede it.
    pub fn add(&mut self, send_us: i64, arrival_us: i64) -> Option<GroupDelta> {
        let Some(cur) = self.current.as_mut() else {
            self.current = Some(Group {
                first_send: send_us,
                last_send: send_us,
                first_arrival: arrival_us,
                last_arrival: arrival_us,
            });
            return None;
        };
        if send_us < cur.first_send {
            return None; // reordered behind its group: ignore, as GCC does
        }
        let in_span = send_us - cur.first_send <= GROUP_SPAN_US;
        let arrival_delta = arrival_us - cur.last_arrival;
        let propagation = arrival_delta - (send_us - cur.last_send);
        let burst = (0..=BURST_ARRIVAL_US).contains(&arrival_delta)
            && propagation < 0
            && arrival_us - cur.first_arrival < MAX_BURST_US;
        if in_span || burst {
            cur.last_send = cur.last_send.max(send_us);
            cur.last_arrival = cur.last_arrival.max(arrival_us);
            return None;
        }
        let done = *cur;
        let out = self.previous.and_then(|p| {
            let arrival_delta = done.last_arrival - p.last_arrival;
            if arrival_delta < 0 {
                return None; // receiver clock jumped back: skip this pair
            }
            Some(GroupDelta {
                send_delta_ms: (done.last_send - p.last_send) as f64 / 1000.0,
                arrival_delta_ms: arrival_delta as f64 / 1000.0,
                arrival_ms: done.last_arrival as f64 / 1000.0,
            })
        });
        self.previous = Some(done);
        self.current = Some(Group {
            first_send: send_us,
            last_send: send_us,
            first_arrival: arrival_us,
            last_arrival: arrival_us,
        });
        out
    }
}

/// Linear-regression trend of the smoothed accumulated delay over the last
/// [`TREND_WINDOW`] groups (libwebrtc's trendline estimator, GCC's successor to the Kalman
/// filter of draft §5.3).
#[derive(Debug, Clone)]
pub struct Trendline {
    window: [(f64, f64); TREND_WINDOW],
    len: usize,
    head: usize,
    first_arrival_ms: Option<f64>,
    accumulated: f64,
    smoothed: f64,
    deltas: u32,
    slope: f64,
}

impl Default for Trendline {
    fn default() -> Self {
        Self::new()
    }
}

impl Trendline {
    /// An empty estimator.
    pub fn new() -> Self {
        Self {
            window: [(0.0, 0.0); TREND_WINDOW],
            len: 0,
            head: 0,
            first_arrival_ms: None,
            accumulated: 0.0,
            smoothed: 0.0,
            deltas: 0,
            slope: 0.0,
        }
    }

    /// Feeds one group delta. Returns the modified trend: slope × min(groups, 60) × gain, in
    /// ms, the quantity the overuse detector compares with its threshold.
    pub fn update(&mut self, d: &GroupDelta) -> f64 {
        self.deltas = self.deltas.saturating_add(1);
        self.accumulated += d.delay_variation_ms();
        self.smoothed =
            TREND_SMOOTHING * self.smoothed + (1.0 - TREND_SMOOTHING) * self.accumulated;
        let first = *self.first_arrival_ms.get_or_insert(d.arrival_ms);
        self.window[self.head] = (d.arrival_ms - first, self.smoothed);
        self.head = (self.head + 1) % TREND_WINDOW;
        self.len = (self.len + 1).min(TREND_WINDOW);
        if self.len == TREND_WINDOW
            && let Some(s) = self.regression()
        {
            self.slope = s;
        }
        self.modified_trend()
    }

    /// The current modified trend (see [`Trendline::update`]).
    pub fn modified_trend(&self) -> f64 {
        f64::from(self.deltas.min(TREND_DELTA_CAP)) * self.slope * TREND_GAIN
    }

    /// Groups seen so far.
    pub fn deltas(&self) -> u32 {
        self.deltas
    }

    /// The raw regression slope (ms of delay per ms of time).
    pub fn slope(&self) -> f64 {
        self.slope
    }

    fn regression(&self) -> Option<f64> {
        let n = self.len as f64;
        let (mut sx, mut sy) = (0.0, 0.0);
        for &(x, y) in &self.window[..self.len] {
            sx += x;
            sy += y;
        }
        let (mx, my) = (sx / n, sy / n);
        let (mut num, mut den) = (0.0, 0.0);
        for &(x, y) in &self.window[..self.len] {
            num += (x - mx) * (y - my);
            den += (x - mx) * (x - mx);
        }
        (den > 0.0).then(|| num / den)
    }
}

/// The adaptive-threshold overuse detector (GCC §5.4).
#[derive(Debug, Clone)]
pub struct OveruseDetector {
    threshold: f64,
    last_update_ms: Option<f64>,
    time_over: Option<f64>,
    over_count: u32,
    prev_trend: f64,
    state: BandwidthUsage,
}

impl Default for OveruseDetector {
    fn default() -> Self {
        Self::new()
    }
}

impl OveruseDetector {
    /// A detector at the initial threshold.
    pub fn new() -> Self {
        Self {
            threshold: INITIAL_THRESHOLD,
            last_update_ms: None,
            time_over: None,
            over_count: 0,
            prev_trend: 0.0,
            state: BandwidthUsage::Normal,
        }
    }

    /// The current threshold γ, ms.
    pub fn threshold(&self) -> f64 {
        self.threshold
    }

    /// The last conclusion.
    pub fn state(&self) -> BandwidthUsage {
        self.state
    }

    /// Compares the modified trend `m` with the threshold. `send_delta_ms` is the group's
    /// send-time delta (how long the signal has been observed), `deltas` the number of groups
    /// seen, `now_ms` a monotone time for threshold adaptation.
    pub fn detect(
        &mut self,
        m: f64,
        send_delta_ms: f64,
        deltas: u32,
        now_ms: f64,
    ) -> BandwidthUsage {
        if deltas < 2 {
            return BandwidthUsage::Normal;
        }
        if m > self.threshold {
            let t = match self.time_over {
                None => send_delta_ms / 2.0,
                Some(t) => t + send_delta_ms,
            };
            self.time_over = Some(t);
            self.over_count += 1;
            if t > OVERUSE_TIME && self.over_count > 1 && m >= self.prev_trend {
                self.time_over = Some(0.0);
                self.over_count = 0;
                self.state = BandwidthUsage::Overusing;
            }
        } else if m < -self.threshold {
            self.time_over = None;
            self.over_count = 0;
            self.state = BandwidthUsage::Underusing;
        } else {
            self.time_over = None;
            self.over_count = 0;
            self.state = BandwidthUsage::Normal;
        }
        self.prev_trend = m;
        self.adapt(m, now_ms);
        self.state
    }

    fn adapt(&mut self, m: f64, now_ms: f64) {
        let last = *self.last_update_ms.get_or_insert(now_ms);
        // Deviation from libwebrtc: while an overuse already acted on is still in the signal,
        // the threshold does not climb after it. The feedback of a queue that built before
        // the decrease keeps the trend rising for a queue-delay's time; letting γ follow it
        // (by less than 15 ms per step it can) left the detector blind for the ~15 s K_d
        // needs to bring γ back down, and the estimate crept above a dropped link.
        let chasing = self.state == BandwidthUsage::Overusing && m > self.threshold;
        if m.abs() > self.threshold + MAX_ADAPT_OFFSET || chasing {
            self.last_update_ms = Some(now_ms);
            return;
        }
        let k = if m.abs() < self.threshold {
            K_DOWN
        } else {
            K_UP
        };
        let dt = (now_ms - last).clamp(0.0, 100.0);
        self.threshold += k * (m.abs() - self.threshold) * dt;
        self.threshold = self.threshold.clamp(THRESHOLD_RANGE.0, THRESHOLD_RANGE.1);
        self.last_update_ms = Some(now_ms);
    }
}
