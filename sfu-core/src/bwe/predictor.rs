//! The short-horizon predictor (issue 5): lowers the target while the delay trend climbs
//! towards the overuse threshold and another sign of a filling queue agrees (rising jitter,
//! arrivals falling behind sends, or rising loss), before the detector fires.
//!
//! It is a layer on top of reactive GCC, off by default ([`super::BweConfig::predictor`]); the
//! `bwe_predictor` test compares both on the same traces and the module docs of
//! [`super`] carry the verdict.

/// Share of the overuse threshold the modified trend must reach to count as pressure.
pub const PRESSURE_ON: f64 = 0.5;
/// Pressure below this share releases the cap.
pub const PRESSURE_OFF: f64 = 0.25;
/// Consecutive rising trend samples needed.
pub const RISING_GROUPS: u32 = 3;
/// The cap is this fraction of the acknowledged bitrate when the predictor fires.
pub const CAP_FRACTION: f64 = 0.92;
/// Fast and slow smoothing of |delay variation| (the jitter signal).
const JITTER_FAST: f64 = 0.3;
const JITTER_SLOW: f64 = 0.05;

/// Predictor state. Fed by [`super::SendSideBwe`].
#[derive(Debug, Clone, Default)]
pub struct Predictor {
    prev_trend: f64,
    rising: u32,
    jitter_fast: f64,
    jitter_slow: f64,
    prev_loss: f64,
    loss_rising: bool,
    cap_bps: Option<f64>,
    fired: u64,
}

impl Predictor {
    /// A fresh predictor.
    pub fn new() -> Self {
        Self::default()
    }

    /// The cap on the target while congestion is predicted.
    pub fn cap_bps(&self) -> Option<f64> {
        self.cap_bps
    }

    /// How many times it has fired.
    pub fn fired(&self) -> u64 {
        self.fired
    }

    /// Feeds a loss measurement.
    pub fn on_loss(&mut self, loss: f64) {
        self.loss_rising = loss > super::rate::LOW_LOSS && loss > self.prev_loss;
        self.prev_loss = loss;
    }

    /// Feeds one group: the modified trend, the detector threshold, the group's delay
    /// variation (ms), and the acknowledged and sent rates (bps) when known.
    pub fn on_group(
        &mut self,
        trend: f64,
        threshold: f64,
        delay_variation_ms: f64,
        acked: Option<f64>,
        sent: Option<f64>,
    ) {
        let j = delay_variation_ms.abs();
        self.jitter_fast += JITTER_FAST * (j - self.jitter_fast);
        self.jitter_slow += JITTER_SLOW * (j - self.jitter_slow);
        self.rising = if trend > self.prev_trend {
            self.rising + 1
        } else {
            0
        };
        self.prev_trend = trend;
        let pressure = trend / threshold.max(1e-3);
        if pressure < PRESSURE_OFF {
            self.cap_bps = None;
            return;
        }
        let jitter_up = self.jitter_fast > 1.2 * self.jitter_slow && self.jitter_fast > 1.0;
        let falling_behind = matches!((acked, sent), (Some(a), Some(s)) if a < 0.9 * s);
        if self.cap_bps.is_none()
            && pressure >= PRESSURE_ON
            && self.rising >= RISING_GROUPS
            && (jitter_up || falling_behind || self.loss_rising)
            && let Some(a) = acked
        {
            self.cap_bps = Some(CAP_FRACTION * a);
            self.fired += 1;
        }
    }

    /// The detector fired anyway: the reactive controller takes over.
    pub fn on_overuse(&mut self) {
        self.cap_bps = None;
    }
}
