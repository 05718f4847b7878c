//! A media pacer for one subscriber transport: packets leave at a pacing rate, in priority
//! order, instead of all at the instant they were forwarded.
//!
//! Without pacing, a 1280x720 keyframe (30 or more packets) leaves the SFU in one instant and
//! lands in the subscriber's bottleneck queue at once; a consumer router's token bucket with a
//! few kilobytes of queue tail-drops most of it, and the viewer freezes until the next
//! keyframe. The pacer spreads such bursts over time at a rate a little above what the link
//! carries, so the bottleneck queue stays short.
//!
//! # Design
//!
//! - **One pacer per subscriber transport** (one [`crate::engine::Engine`] participant), four
//!   classes with a fixed-capacity FIFO each ([`Class`]): audio, retransmissions, video,
//!   padding. Capacities are allocated when the pacer is made; pushing and popping never
//!   allocate. A push into a full class is refused and handed back.
//! - **Budget as a virtual finish time.** The pacer keeps `free_at`, the instant by which
//!   everything it has released would have left at the pacing rate (a leaky bucket whose level
//!   is `(free_at - now) × rate`). A packet may leave when `free_at <= now + max_burst`;
//!   releasing `n` bytes moves `free_at` to `max(free_at, now) + n × 8 / rate`. An idle pacer
//!   thus saves up no more than `max_burst` of credit (plus the packet that crosses it), which
//!   is what a router's small token bucket absorbs. The arithmetic is exact to the nanosecond,
//!   so the rate holds over long runs.
//! - **Priority**: audio is released at once, whatever the budget (it is small, regular and the
//!   thing a visit cannot lose), but its bytes count; then retransmissions (a NACKed packet
//!   holds up a frame the receiver already has most of), then video, then padding. Within a
//!   class, first in first out.
//! - **Bytes sent outside the queues** can be charged with [`Pacer::charge`], so that they
//!   and the media together stay near the pacing rate. The engine does not charge its
//!   bandwidth probes (they keep their own cluster timing and go on top of the media, as in
//!   libwebrtc).
//! - **Debt is bounded** at one second at the current rate, so a flood of audio or probes on a
//!   far too low rate cannot hold video back for longer than that.
//! - **Queueing delay** is the caller's to bound, because what may be dropped depends on the
//!   stream (a video frame cannot lose a packet without the receiver noticing): every released
//!   item comes with the time it was queued ([`Released::queued_at`]), and
//!   [`Pacer::remove_if`] drops queued items of one stream. The engine's policy is described in
//!   [`crate::engine`]'s `EngineConfig::bandwidth` docs and `docs/bandwidth.md`.
//!
//! The rate is clamped to [`MIN_RATE_BPS`]..=[`MAX_RATE_BPS`], so a zero or absurd rate neither
//! panics nor stalls the queue for ever.
//!
//! # Use
//!
//! ```
//! use std::time::{Duration, Instant};
//! use telesfu_core::pacer::{Class, Pacer, PacerConfig};
//!
//! # #[allow(clippy::disallowed_methods)]
//! let t0 = Instant::now();
//! let mut p = Pacer::new(PacerConfig::default(), t0);
//! p.set_rate(t0, 1_000_000);
//! for i in 0..10u32 {
//!     p.push(t0, Class::Video, i, 1200).unwrap();
//! }
//! let mut now = t0;
//! let mut sent = 0;
//! while let Some(at) = p.next_send(now) {
//!     now = at;
//!     while let Some(r) = p.pop(now) {
//!         sent += 1;
//!         let _ = r.item;
//!     }
//! }
//! assert_eq!(sent, 10);
//! // 10 × 1200 bytes at 1 Mbps is 96 ms; the first packets went at once.
//! assert!(now - t0 > Duration::from_millis(80));
//! ```

use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// Lowest pacing rate, bits per second: a lower (or zero) rate is raised to this.
pub const MIN_RATE_BPS: u64 = 10_000;
/// Highest pacing rate, bits per second (100 Gbit/s): a higher one is lowered to this.
pub const MAX_RATE_BPS: u64 = 100_000_000_000;
/// Most debt the pacer carries, in time at the current rate.
const MAX_DEBT: Duration = Duration::from_secs(1);

/// A pacer queue, in priority order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Class {
    /// Audio: released at once, counted against the budget.
    Audio,
    /// Retransmissions (NACK answers).
    Retransmission,
    /// Video.
    Video,
    /// Padding: last, when nothing else waits.
    Padding,
}

impl Class {
    /// Every class, highest priority first.
    pub const ALL: [Class; 4] = [
        Self::Audio,
        Self::Retransmission,
        Self::Video,
        Self::Padding,
    ];

    fn index(self) -> usize {
        match self {
            Self::Audio => 0,
            Self::Retransmission => 1,
            Self::Video => 2,
            Self::Padding => 3,
        }
    }
}

/// How a [`Pacer`] is made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct PacerConfig {
    /// Items each class holds at most, indexed like [`Class::ALL`]. Default 256 audio,
    /// 512 retransmissions, 2048 video, 256 padding.
    pub capacity: [usize; 4],
    /// Credit an idle pacer saves up, in time at the pacing rate (a packet may leave while the
    /// pacer is less than this far behind). Default 5 ms.
    pub max_burst: Duration,
}

impl Default for PacerConfig {
    fn default() -> Self {
        Self {
            capacity: [256, 512, 2048, 256],
            max_burst: Duration::from_millis(5),
        }
    }
}

/// One queued item.
#[derive(Debug, Clone, Copy)]
struct Entry<T> {
    item: T,
    size: u32,
    at: Instant,
}

/// An item the pacer released.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Released<T> {
    /// What was pushed.
    pub item: T,
    /// Its class.
    pub class: Class,
    /// When it was pushed.
    pub queued_at: Instant,
    /// The size it was pushed with, bytes.
    pub size: u32,
}

/// A pacer for one transport. See the [module docs](self).
///
/// - **Input**: [`Pacer::push`] (an item of a class and size), [`Pacer::set_rate`],
///   [`Pacer::charge`] (bytes sent outside the pacer).
/// - **Drain**: [`Pacer::pop`] with the current time until it returns `None`, then
///   [`Pacer::next_send`] for when to try again.
///
/// `now` never moves backwards between calls; nothing reads a clock.
#[derive(Debug)]
pub struct Pacer<T> {
    queues: [VecDeque<Entry<T>>; 4],
    capacity: [usize; 4],
    rate_bps: u64,
    max_burst: Duration,
    /// When everything released so far would have left at the pacing rate.
    free_at: Instant,
    bytes: u64,
}

impl<T: Copy> Pacer<T> {
    /// A pacer with the queues `config` sizes, allocated now, at [`MIN_RATE_BPS`] until
    /// [`Pacer::set_rate`].
    pub fn new(config: PacerConfig, now: Instant) -> Self {
        let cap = config.capacity.map(|c| c.max(1));
        Self {
            queues: cap.map(VecDeque::with_capacity),
            capacity: cap,
            rate_bps: MIN_RATE_BPS,
            max_burst: config.max_burst,
            free_at: now,
            bytes: 0,
        }
    }

    /// The pacing rate, bits per second.
    pub fn rate(&self) -> u64 {
        self.rate_bps
    }

    /// Sets the pacing rate (clamped to [`MIN_RATE_BPS`]..=[`MAX_RATE_BPS`]). What is still
    /// owed is rescaled, so it drains at the new rate from now on.
    pub fn set_rate(&mut self, now: Instant, bps: u64) {
        let bps = bps.clamp(MIN_RATE_BPS, MAX_RATE_BPS);
        if bps == self.rate_bps {
            return;
        }
        if let Some(owed) = self.free_at.checked_duration_since(now) {
            let ns = owed.as_nanos() * u128::from(self.rate_bps) / u128::from(bps);
            let ns = ns.min(MAX_DEBT.as_nanos()) as u64;
            self.free_at = now + Duration::from_nanos(ns);
        }
        self.rate_bps = bps;
    }

    /// Queues `item` of `class`, `size` bytes on the wire. Hands it back when the class is
    /// full.
    pub fn push(&mut self, now: Instant, class: Class, item: T, size: usize) -> Result<(), T> {
        let i = class.index();
        let q = &mut self.queues[i];
        if q.len() >= self.capacity[i] {
            return Err(item);
        }
        if q.is_empty() {
            // Start the ring over while it is empty, so a queue that drains every round keeps
            // reusing the same (cached) entries instead of walking its whole capacity.
            q.clear();
        }
        q.push_back(Entry {
            item,
            size: size.min(u32::MAX as usize) as u32,
            at: now,
        });
        self.bytes += size as u64;
        Ok(())
    }

    /// Accounts `size` bytes sent on this transport outside the queues (probes).
    pub fn charge(&mut self, now: Instant, size: usize) {
        self.consume(now, size as u64);
    }

    /// Whether the budget lets a paced packet leave at `now`.
    #[inline]
    fn budget_allows(&self, now: Instant) -> bool {
        self.free_at <= now + self.max_burst
    }

    fn consume(&mut self, now: Instant, size: u64) {
        let ns = (u128::from(size) * 8 * 1_000_000_000).div_ceil(u128::from(self.rate_bps));
        let ns = ns.min(MAX_DEBT.as_nanos()) as u64;
        let base = self.free_at.max(now);
        self.free_at = (base + Duration::from_nanos(ns)).min(now + MAX_DEBT);
    }

    /// The next item allowed to leave at `now`, highest class first: audio always, the others
    /// when the budget allows. `None` when nothing may leave yet (see [`Pacer::next_send`]).
    pub fn pop(&mut self, now: Instant) -> Option<Released<T>> {
        let class = if !self.queues[0].is_empty() {
            Class::Audio
        } else if self.budget_allows(now) {
            *Class::ALL[1..]
                .iter()
                .find(|c| !self.queues[c.index()].is_empty())?
        } else {
            return None;
        };
        let e = self.queues[class.index()].pop_front()?;
        self.bytes -= u64::from(e.size);
        self.consume(now, u64::from(e.size));
        Some(Released {
            item: e.item,
            class,
            queued_at: e.at,
            size: e.size,
        })
    }

    /// When [`Pacer::pop`] will next release something: `now` or earlier if it would now,
    /// `None` when every queue is empty. After `pop(now)` returned `None`, this is later than
    /// `now`.
    pub fn next_send(&self, now: Instant) -> Option<Instant> {
        if !self.queues[0].is_empty() {
            return Some(now);
        }
        if self.queues[1..].iter().all(VecDeque::is_empty) {
            return None;
        }
        Some(match self.free_at.checked_sub(self.max_burst) {
            Some(t) => t.max(now),
            None => now,
        })
    }

    /// Items waiting in `class`.
    pub fn len(&self, class: Class) -> usize {
        self.queues[class.index()].len()
    }

    /// Whether nothing waits in any class.
    pub fn is_empty(&self) -> bool {
        self.queues.iter().all(VecDeque::is_empty)
    }

    /// Bytes waiting in all classes.
    pub fn queued_bytes(&self) -> u64 {
        self.bytes
    }

    /// The oldest item of `class` and when it was queued.
    pub fn front(&self, class: Class) -> Option<(&T, Instant)> {
        self.queues[class.index()].front().map(|e| (&e.item, e.at))
    }

    /// Removes every item of `class` for which `f` returns true (it sees each item once, in
    /// order, and may note what it removes). Returns how many were removed. Allocates nothing.
    pub fn remove_if(&mut self, class: Class, mut f: impl FnMut(&T) -> bool) -> usize {
        let q = &mut self.queues[class.index()];
        let before = q.len();
        let mut freed = 0u64;
        q.retain(|e| {
            let drop = f(&e.item);
            if drop {
                freed += u64::from(e.size);
            }
            !drop
        });
        self.bytes -= freed;
        before - q.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t0() -> Instant {
        #[allow(clippy::disallowed_methods)]
        Instant::now()
    }

    /// Pops everything, following `next_send`; returns (item, class, when released).
    fn drain<T: Copy>(p: &mut Pacer<T>, mut now: Instant) -> Vec<(T, Class, Instant)> {
        let mut out = Vec::new();
        while let Some(at) = p.next_send(now) {
            assert!(at >= now, "next_send went backwards");
            now = at;
            let mut any = false;
            while let Some(r) = p.pop(now) {
                out.push((r.item, r.class, now));
                any = true;
            }
            assert!(any, "next_send promised a release that pop refused");
        }
        out
    }

    #[test]
    fn priority_is_audio_then_retransmission_then_video_then_padding() {
        let t = t0();
        let mut p = Pacer::new(PacerConfig::default(), t);
        p.set_rate(t, 1_000_000);
        p.push(t, Class::Padding, 'p', 300).unwrap();
        p.push(t, Class::Video, 'v', 1200).unwrap();
        p.push(t, Class::Retransmission, 'r', 1200).unwrap();
        p.push(t, Class::Audio, 'a', 100).unwrap();
        p.push(t, Class::Video, 'w', 1200).unwrap();
        let order: String = drain(&mut p, t).iter().map(|(c, _, _)| *c).collect();
        assert_eq!(order, "arvwp");
    }

    #[test]
    fn a_keyframe_burst_is_spread_over_its_transmission_time() {
        let t = t0();
        let mut p = Pacer::new(PacerConfig::default(), t);
        let rate = 1_250_000;
        p.set_rate(t, rate);
        let (n, size) = (40u32, 1200usize);
        for i in 0..n {
            p.push(t, Class::Video, i, size).unwrap();
        }
        let out = drain(&mut p, t);
        assert_eq!(out.len(), n as usize);
        let span = out.last().unwrap().2 - t;
        // N × size × 8 / rate = 307 ms, less the 5 ms burst and the first packet's slot.
        let ideal = Duration::from_secs_f64(f64::from(n) * size as f64 * 8.0 / rate as f64);
        let slot = Duration::from_secs_f64(size as f64 * 8.0 / rate as f64);
        let expected = ideal - slot - Duration::from_millis(5);
        let err = span.abs_diff(expected);
        assert!(
            err < Duration::from_millis(2),
            "span {span:?}, expected {expected:?}"
        );
        // No instant released more than the burst allows: two packets at most.
        let most = out
            .iter()
            .map(|(_, _, at)| out.iter().filter(|(_, _, b)| b == at).count())
            .max()
            .unwrap();
        assert!(most <= 2, "{most} packets left in one instant");
    }

    #[test]
    fn the_rate_holds_over_a_long_run() {
        let t = t0();
        let mut p = Pacer::new(PacerConfig::default(), t);
        let rate = 2_500_000;
        p.set_rate(t, rate);
        // 10 s of 1100-byte video offered at twice the rate, pushed every 5 ms, drained at
        // each instant the pacer asks for (the way the engine's driver does).
        let mut now = t;
        let mut bytes = 0u64;
        let mut next_push = t;
        let end = t + Duration::from_secs(10);
        let mut i = 0u64;
        loop {
            if now >= next_push {
                for _ in 0..3 {
                    // The excess beyond the queue is the caller's to drop.
                    if p.len(Class::Video) < 1000 {
                        p.push(now, Class::Video, i, 1100).unwrap();
                    }
                    i += 1;
                }
                next_push += Duration::from_millis(5);
            }
            while let Some(r) = p.pop(now) {
                bytes += u64::from(r.size);
            }
            let wake = p.next_send(now).map_or(next_push, |s| s.min(next_push));
            if wake >= end {
                break;
            }
            now = wake;
        }
        let got = bytes as f64 * 8.0 / 10.0;
        let err = (got - rate as f64).abs() / rate as f64;
        assert!(err < 0.01, "sent {got:.0} bps at a pacing rate of {rate}");
    }

    #[test]
    fn audio_is_never_held_behind_video() {
        let t = t0();
        let mut p = Pacer::new(PacerConfig::default(), t);
        p.set_rate(t, 500_000);
        for i in 0..50 {
            p.push(t, Class::Video, i, 1200).unwrap();
        }
        // Drain as far as the budget allows now: the queue is far behind.
        while p.pop(t).is_some() {}
        assert!(p.next_send(t).unwrap() > t);
        let later = t + Duration::from_millis(7);
        p.push(later, Class::Audio, 1000, 120).unwrap();
        assert_eq!(p.next_send(later), Some(later));
        let r = p.pop(later).unwrap();
        assert_eq!((r.item, r.class), (1000, Class::Audio));
        // Its bytes counted: video waits a little longer than it would have.
        assert!(p.pop(later).is_none());
    }

    #[test]
    fn zero_and_absurd_rates_neither_panic_nor_stall() {
        let t = t0();
        for rate in [0, 1, u64::MAX] {
            let mut p = Pacer::new(PacerConfig::default(), t);
            p.set_rate(t, rate);
            for i in 0..20 {
                p.push(t, Class::Video, i, 1500).unwrap();
                p.push(t, Class::Audio, i, u32::MAX as usize).unwrap();
            }
            p.charge(t, usize::MAX);
            let out = drain(&mut p, t);
            assert_eq!(out.len(), 40, "rate {rate}");
            // The debt bound keeps the wait finite: 20 packets at most a second apart each.
            let span = out.last().unwrap().2 - t;
            assert!(span <= Duration::from_secs(21), "rate {rate}: {span:?}");
        }
    }

    #[test]
    fn a_full_class_refuses_and_remove_if_frees_room() {
        let t = t0();
        let cfg = PacerConfig {
            capacity: [2, 2, 3, 2],
            ..PacerConfig::default()
        };
        let mut p = Pacer::new(cfg, t);
        for i in 0..3 {
            p.push(t, Class::Video, i, 1000).unwrap();
        }
        assert_eq!(p.push(t, Class::Video, 9, 1000), Err(9));
        assert_eq!(p.queued_bytes(), 3000);
        let mut seen = Vec::new();
        let n = p.remove_if(Class::Video, |i| {
            seen.push(*i);
            i % 2 == 0
        });
        assert_eq!((n, seen), (2, vec![0, 1, 2]));
        assert_eq!(p.queued_bytes(), 1000);
        assert_eq!(p.front(Class::Video).map(|(i, _)| *i), Some(1));
        p.push(t, Class::Video, 9, 1000).unwrap();
    }

    #[test]
    fn lowering_the_rate_stretches_what_is_owed() {
        let t = t0();
        let mut p = Pacer::new(PacerConfig::default(), t);
        p.set_rate(t, 1_000_000);
        p.charge(t, 12_500); // 100 ms at 1 Mbps
        p.push(t, Class::Video, 0, 1000).unwrap();
        assert_eq!(p.next_send(t), Some(t + Duration::from_millis(95)));
        p.set_rate(t, 500_000);
        assert_eq!(p.next_send(t), Some(t + Duration::from_millis(195)));
    }
}
