//! Bandwidth-driven layer choice: what each published layer costs, and how much each
//! subscriber's transport carries.
//!
//! [`LayerMeter`] measures every encoding and temporal layer of a published track as it
//! arrives (bytes, frames, and the VP8 keyframe dimensions, which stay in clear under E2EE);
//! [`SubscriberBandwidth`] holds a subscriber transport's send-side estimator
//! ([`crate::bwe::SendSideBwe`]) and its [`Allocator`]. The engine feeds both and applies the
//! allocator's decisions through the same seam an application uses
//! ([`super::Engine::set_allocated_layer`]).
#![allow(dead_code)] // Wired into the engine in the following commits.

use std::time::{Duration, Instant};

use crate::alloc::{Allocator, AllocatorConfig, Layer};
use crate::bwe::{BweConfig, FeedbackMode, SendSideBwe};

/// Buckets of the meter's sliding window.
const BUCKETS: usize = 4;
/// Length of one bucket: the window is `BUCKETS * BUCKET` (1 s).
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
    buckets: [Bucket; BUCKETS],
    dims: [(u16, u16); MAX_ENCODINGS],
    max_tid: [u8; MAX_ENCODINGS],
}

impl LayerMeter {
    pub(crate) fn new(epoch: Instant) -> Self {
        Self {
            epoch,
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
        let window = BUCKET.as_secs_f64() * (BUCKETS - 1) as f64;
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
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
