//! One direction of a network path: a bottleneck queue with a (possibly scripted) rate, then
//! random or bursty loss, propagation delay, jitter and reordering.
//!
//! Order of effects for each datagram sent at `now`:
//! 1. **Bottleneck.** With a rate set, the datagram waits behind the bytes already queued and
//!    leaves at the rate in force when it reaches the head of the queue. If the queue already
//!    holds `queue_bytes` it is dropped (tail drop). A rate of 0 (an outage in a trace) drops
//!    everything. Two disciplines:
//!    - a **serializer** (the default): each datagram takes `len × 8 / rate` on the wire, so
//!      nothing leaves faster than the rate, even after an idle time;
//!    - a **token bucket** ([`LinkConfig::with_token_bucket`]), the way Linux `tc tbf` and
//!      consumer routers shape: tokens (bytes) accrue at the rate up to `burst`; a datagram at
//!      the head of the queue leaves as soon as the bucket holds its length, so after an idle
//!      spell up to `burst` bytes leave at once (line rate), and a backlogged queue drains at
//!      exactly the rate. A datagram longer than `burst` can never leave and is dropped (tbf
//!      does the same).
//! 2. **Loss** on the wire: none, independent random, or Gilbert-Elliott (bursty).
//! 3. **Delay**: fixed one-way delay plus uniform jitter in `[0, jitter]`. Jitter alone keeps
//!    datagrams in order (a datagram never overtakes the one sent before it); with the
//!    reordering probability a datagram is instead held back by `reorder_delay` on top, so
//!    later ones overtake it.

use std::cmp::Ordering;
use std::collections::{BinaryHeap, VecDeque};
use std::time::{Duration, Instant};

use super::rng::SimRng;

/// How a link loses datagrams on the wire.
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub enum Loss {
    /// Nothing is lost.
    None,
    /// Each datagram is lost independently with this probability.
    Random(f64),
    /// Gilbert-Elliott: a two-state Markov chain stepped once per datagram. In the good state
    /// datagrams are lost with `loss_in_good`, in the bad state with `loss_in_bad`.
    GilbertElliott {
        /// Probability of moving from good to bad, per datagram.
        good_to_bad: f64,
        /// Probability of moving from bad to good, per datagram.
        bad_to_good: f64,
        /// Loss probability in the good state.
        loss_in_good: f64,
        /// Loss probability in the bad state.
        loss_in_bad: f64,
    },
}

impl Loss {
    /// Bursty loss with the given long-run loss rate and mean burst length (in datagrams):
    /// Gilbert-Elliott with every datagram lost in the bad state and none in the good state.
    pub fn bursty(mean_loss: f64, mean_burst: f64) -> Self {
        let mean_loss = mean_loss.clamp(0.0, 0.99);
        let bad_to_good = 1.0 / mean_burst.max(1.0);
        // Stationary P(bad) = p / (p + r) = mean_loss.
        let good_to_bad = bad_to_good * mean_loss / (1.0 - mean_loss);
        Self::GilbertElliott {
            good_to_bad,
            bad_to_good,
            loss_in_good: 0.0,
            loss_in_bad: 1.0,
        }
    }
}

/// A link's behaviour. Build with [`LinkConfig::new`] and the `with_*` methods.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct LinkConfig {
    /// One-way propagation delay.
    pub delay: Duration,
    /// Extra delay, uniform in `[0, jitter]`, per datagram (order kept).
    pub jitter: Duration,
    /// Loss on the wire.
    pub loss: Loss,
    /// Probability that a datagram is held back by [`LinkConfig::reorder_delay`].
    pub reorder_probability: f64,
    /// How long a reordered datagram is held back.
    pub reorder_delay: Duration,
    /// Bottleneck rate in bits per second; `None` is unlimited (no queue).
    pub rate_bps: Option<u64>,
    /// Bottleneck queue size in bytes; a datagram that does not fit is dropped.
    pub queue_bytes: usize,
    /// Token bucket depth in bytes (`tc tbf ... burst`); `None` is the plain serializer.
    pub burst_bytes: Option<usize>,
    /// Scripted rate changes: from each offset (since the start of the simulation) on, the
    /// bottleneck runs at that rate (0 = outage). Sorted by offset; before the first step the
    /// rate is [`LinkConfig::rate_bps`].
    pub trace: Vec<(Duration, u64)>,
}

impl Default for LinkConfig {
    /// 10 ms one-way, nothing else.
    fn default() -> Self {
        Self::new(Duration::from_millis(10))
    }
}

impl LinkConfig {
    /// A perfect link with a fixed one-way delay.
    pub fn new(delay: Duration) -> Self {
        Self {
            delay,
            jitter: Duration::ZERO,
            loss: Loss::None,
            reorder_probability: 0.0,
            reorder_delay: Duration::ZERO,
            rate_bps: None,
            queue_bytes: 256 * 1024,
            burst_bytes: None,
            trace: Vec::new(),
        }
    }

    /// With uniform jitter in `[0, jitter]`.
    pub fn with_jitter(mut self, jitter: Duration) -> Self {
        self.jitter = jitter;
        self
    }

    /// With a loss model.
    pub fn with_loss(mut self, loss: Loss) -> Self {
        self.loss = loss;
        self
    }

    /// With a fraction `probability` of datagrams held back by `delay` (reordered).
    pub fn with_reorder(mut self, probability: f64, delay: Duration) -> Self {
        self.reorder_probability = probability;
        self.reorder_delay = delay;
        self
    }

    /// With a bottleneck of `bps` and a queue of `queue_bytes`.
    pub fn with_rate(mut self, bps: u64, queue_bytes: usize) -> Self {
        self.rate_bps = Some(bps);
        self.queue_bytes = queue_bytes;
        self
    }

    /// With a token-bucket shaper as `tc qdisc add ... tbf rate <bps>bit burst <burst>
    /// limit <limit>` builds one: tokens accrue at `bps` up to `burst_bytes`, a datagram leaves
    /// when the bucket holds its length, and at most `limit_bytes` wait (tail drop beyond).
    /// `tc`'s `latency L` form is `limit = bps / 8 × L + burst`.
    pub fn with_token_bucket(mut self, bps: u64, burst_bytes: usize, limit_bytes: usize) -> Self {
        self.rate_bps = Some(bps);
        self.burst_bytes = Some(burst_bytes);
        self.queue_bytes = limit_bytes;
        self
    }

    /// With a scripted bandwidth trace: `(offset since start, bps)` steps. The queue size is
    /// [`LinkConfig::queue_bytes`].
    pub fn with_trace(mut self, mut steps: Vec<(Duration, u64)>) -> Self {
        steps.sort_by_key(|s| s.0);
        self.trace = steps;
        self
    }
}

/// What a link did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct LinkStats {
    /// Datagrams handed to the link.
    pub sent: u64,
    /// Bytes handed to the link.
    pub bytes_sent: u64,
    /// Datagrams delivered.
    pub delivered: u64,
    /// Bytes delivered.
    pub bytes_delivered: u64,
    /// Datagrams lost on the wire (loss model).
    pub lost: u64,
    /// Datagrams dropped because the bottleneck queue was full (or the rate was 0).
    pub queue_drops: u64,
    /// Datagrams held back for reordering.
    pub held_back: u64,
    /// Most bytes ever waiting in the bottleneck queue.
    pub max_queue_bytes: usize,
    /// Longest time a datagram waited in the bottleneck queue.
    pub max_queue_delay: Duration,
}

#[derive(Debug)]
struct InFlight {
    at: Instant,
    order: u64,
    data: Vec<u8>,
}

impl PartialEq for InFlight {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.order) == (other.at, other.order)
    }
}
impl Eq for InFlight {}
impl PartialOrd for InFlight {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for InFlight {
    // Reversed: the binary heap pops the earliest delivery (ties in send order).
    fn cmp(&self, other: &Self) -> Ordering {
        (other.at, other.order).cmp(&(self.at, self.order))
    }
}

/// One direction of a path, driven in virtual time: [`Link::send`] datagrams in, and take them
/// out with [`Link::poll_delivery`] once [`Link::next_delivery`] has come.
#[derive(Debug)]
pub struct Link {
    config: LinkConfig,
    rng: SimRng,
    start: Instant,
    bad: bool,
    flight: BinaryHeap<InFlight>,
    order: u64,
    last_in_order: Option<Instant>,
    tx_free: Instant,
    /// Token bucket: bytes in the bucket at `tokens_at` (the last departure).
    tokens: f64,
    tokens_at: Instant,
    queue: VecDeque<(Instant, usize)>,
    queued_bytes: usize,
    stats: LinkStats,
}

impl Link {
    /// A link with `config`, drawing from `rng`; `start` is the simulation's start (trace
    /// offsets count from it).
    pub fn new(config: LinkConfig, rng: SimRng, start: Instant) -> Self {
        let tokens = config.burst_bytes.unwrap_or(0) as f64;
        Self {
            config,
            rng,
            start,
            bad: false,
            flight: BinaryHeap::new(),
            order: 0,
            last_in_order: None,
            tx_free: start,
            tokens,
            tokens_at: start,
            queue: VecDeque::new(),
            queued_bytes: 0,
            stats: LinkStats::default(),
        }
    }

    /// The configuration.
    pub fn config(&self) -> &LinkConfig {
        &self.config
    }

    /// Replaces the configuration from now on (datagrams in flight keep their schedule).
    pub fn set_config(&mut self, config: LinkConfig) {
        self.config = config;
    }

    /// Counters so far.
    pub fn stats(&self) -> LinkStats {
        self.stats
    }

    /// Datagrams in flight (sent, not yet delivered or dropped).
    pub fn in_flight(&self) -> usize {
        self.flight.len()
    }

    /// The bottleneck rate in force at `now`, if any.
    pub fn rate_at(&self, now: Instant) -> Option<u64> {
        let offset = now.saturating_duration_since(self.start);
        self.config
            .trace
            .iter()
            .rev()
            .find(|(at, _)| *at <= offset)
            .map(|&(_, bps)| bps)
            .or(self.config.rate_bps)
    }

    fn lose(&mut self) -> bool {
        match self.config.loss {
            Loss::None => false,
            Loss::Random(p) => self.rng.chance(p),
            Loss::GilbertElliott {
                good_to_bad,
                bad_to_good,
                loss_in_good,
                loss_in_bad,
            } => {
                self.bad = if self.bad {
                    !self.rng.chance(bad_to_good)
                } else {
                    self.rng.chance(good_to_bad)
                };
                self.rng
                    .chance(if self.bad { loss_in_bad } else { loss_in_good })
            }
        }
    }

    /// Sends one datagram at `now`.
    pub fn send(&mut self, now: Instant, data: Vec<u8>) {
        let len = data.len();
        self.stats.sent += 1;
        self.stats.bytes_sent += len as u64;
        let mut depart = now;
        if let Some(bps) = self.rate_at(now) {
            while self.queue.front().is_some_and(|(done, _)| *done <= now) {
                if let Some((_, n)) = self.queue.pop_front() {
                    self.queued_bytes -= n;
                }
            }
            let too_long = self.config.burst_bytes.is_some_and(|b| len > b);
            if bps == 0 || too_long || self.queued_bytes + len > self.config.queue_bytes {
                self.stats.queue_drops += 1;
                return;
            }
            let begin = self.tx_free.max(now);
            let done = match self.config.burst_bytes {
                None => {
                    let nanos = (len as u128 * 8 * 1_000_000_000) / u128::from(bps);
                    begin + Duration::from_nanos(nanos.min(u128::from(u64::MAX)) as u64)
                }
                Some(burst) => {
                    // Tokens accrued since the last departure, up to the bucket's depth.
                    let idle = begin
                        .saturating_duration_since(self.tokens_at)
                        .as_secs_f64();
                    let tokens = (self.tokens + idle * bps as f64 / 8.0).min(burst as f64);
                    let (leave, left) = if tokens >= len as f64 {
                        (begin, tokens - len as f64)
                    } else {
                        let short = (len as f64 - tokens) * 8.0 * 1e9 / bps as f64;
                        (begin + Duration::from_nanos(short.ceil() as u64), 0.0)
                    };
                    self.tokens = left;
                    self.tokens_at = leave;
                    leave
                }
            };
            self.stats.max_queue_delay = self
                .stats
                .max_queue_delay
                .max(done.saturating_duration_since(now));
            self.tx_free = done;
            if done > now {
                self.queue.push_back((done, len));
                self.queued_bytes += len;
                self.stats.max_queue_bytes = self.stats.max_queue_bytes.max(self.queued_bytes);
            }
            depart = done;
        }
        if self.lose() {
            self.stats.lost += 1;
            return;
        }
        let mut at = depart + self.config.delay + self.rng.duration_up_to(self.config.jitter);
        if self.rng.chance(self.config.reorder_probability) {
            at += self.config.reorder_delay;
            self.stats.held_back += 1;
        } else {
            if let Some(last) = self.last_in_order {
                at = at.max(last);
            }
            self.last_in_order = Some(at);
        }
        self.order += 1;
        self.flight.push(InFlight {
            at,
            order: self.order,
            data,
        });
    }

    /// When the next datagram arrives, if any is in flight.
    pub fn next_delivery(&self) -> Option<Instant> {
        self.flight.peek().map(|f| f.at)
    }

    /// The next datagram that has arrived by `now`.
    pub fn poll_delivery(&mut self, now: Instant) -> Option<Vec<u8>> {
        if self.flight.peek()?.at > now {
            return None;
        }
        let f = self.flight.pop()?;
        self.stats.delivered += 1;
        self.stats.bytes_delivered += f.data.len() as u64;
        Some(f.data)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t0() -> Instant {
        #[allow(clippy::disallowed_methods)]
        Instant::now()
    }

    /// Sends `n` datagrams of `len` bytes every `every`, then delivers all; returns
    /// (send index, delivery offset from start) in delivery order.
    fn run(
        link: &mut Link,
        start: Instant,
        n: usize,
        len: usize,
        every: Duration,
    ) -> Vec<(usize, Duration)> {
        let mut out = vec![];
        for i in 0..n {
            let now = start + every * i as u32;
            let mut d = vec![0u8; len.max(8)];
            d[..8].copy_from_slice(&(i as u64).to_be_bytes());
            link.send(now, d);
        }
        while let Some(at) = link.next_delivery() {
            let d = link.poll_delivery(at).unwrap();
            let i = u64::from_be_bytes(d[..8].try_into().unwrap()) as usize;
            out.push((i, at - start));
        }
        out
    }

    #[test]
    fn delay_and_jitter_keep_order() {
        let start = t0();
        let cfg = LinkConfig::new(Duration::from_millis(30)).with_jitter(Duration::from_millis(20));
        let mut l = Link::new(cfg, SimRng::new(1), start);
        let got = run(&mut l, start, 500, 100, Duration::from_millis(1));
        assert_eq!(got.len(), 500);
        assert!(got.windows(2).all(|w| w[0].0 < w[1].0), "jitter reordered");
        for (i, at) in &got {
            let sent = Duration::from_millis(*i as u64);
            assert!(*at >= sent + Duration::from_millis(30), "{i} early");
            // Order is kept by waiting for the previous datagram, so the bound is delay +
            // jitter + the send spacing it may have to wait for.
            assert!(*at <= sent + Duration::from_millis(51), "{i} late: {at:?}");
        }
        // Not everything arrived at the minimum delay: jitter did something.
        assert!(
            got.iter()
                .any(|(i, at)| *at > Duration::from_millis(*i as u64 + 35))
        );
        assert_eq!(l.poll_delivery(start + Duration::from_secs(9)), None);
    }

    #[test]
    fn reordering_holds_back_the_configured_fraction() {
        let start = t0();
        let cfg =
            LinkConfig::new(Duration::from_millis(10)).with_reorder(0.1, Duration::from_millis(15));
        let mut l = Link::new(cfg, SimRng::new(2), start);
        let got = run(&mut l, start, 2000, 100, Duration::from_millis(2));
        let overtaken = got.windows(2).filter(|w| w[1].0 < w[0].0).count();
        let held = l.stats().held_back;
        assert!((150..250).contains(&held), "held back {held}");
        assert!(overtaken > 100, "only {overtaken} inversions");
    }

    #[test]
    fn rate_limit_serializes_and_tail_drops() {
        let start = t0();
        // 1 Mbit/s, 10 kB queue; 100 datagrams of 1000 bytes sent at once.
        let cfg = LinkConfig::new(Duration::from_millis(5)).with_rate(1_000_000, 10_000);
        let mut l = Link::new(cfg, SimRng::new(3), start);
        let got = run(&mut l, start, 100, 1000, Duration::ZERO);
        assert_eq!(got.len(), 10, "queue holds 10 datagrams");
        assert_eq!(l.stats().queue_drops, 90);
        // 8 ms per datagram on the wire, then 5 ms of propagation.
        for (k, (_, at)) in got.iter().enumerate() {
            assert_eq!(*at, Duration::from_millis(8 * (k as u64 + 1) + 5));
        }
        // Paced below the rate, nothing is dropped and nothing queues.
        let mut l = Link::new(
            LinkConfig::new(Duration::ZERO).with_rate(1_000_000, 2_000),
            SimRng::new(3),
            start,
        );
        let got = run(&mut l, start, 100, 1000, Duration::from_millis(9));
        assert_eq!(got.len(), 100);
        assert_eq!(l.stats().max_queue_bytes, 1000);
    }

    #[test]
    fn token_bucket_lets_a_burst_through_then_holds_the_rate() {
        let start = t0();
        // tc tbf rate 1mbit burst 5000 limit 10000; 20 datagrams of 1000 bytes at once.
        let cfg =
            LinkConfig::new(Duration::from_millis(5)).with_token_bucket(1_000_000, 5_000, 10_000);
        let mut l = Link::new(cfg.clone(), SimRng::new(3), start);
        let got = run(&mut l, start, 20, 1000, Duration::ZERO);
        // Five leave at once on the full bucket, ten wait, five are tail-dropped.
        assert_eq!(got.len(), 15);
        assert_eq!(l.stats().queue_drops, 5);
        for (k, (_, at)) in got.iter().enumerate() {
            let waited = 8 * (k as u64).saturating_sub(4);
            assert_eq!(*at, Duration::from_millis(waited + 5), "datagram {k}");
        }
        assert_eq!(l.stats().max_queue_bytes, 10_000);
        assert_eq!(l.stats().max_queue_delay, Duration::from_millis(80));
        // After an idle second the bucket is full again: the next burst passes at once.
        let t = start + Duration::from_secs(2);
        for _ in 0..5 {
            l.send(t, vec![0; 1000]);
        }
        let mut at = vec![];
        while let Some(a) = l.next_delivery() {
            let _ = l.poll_delivery(a);
            at.push(a - t);
        }
        assert_eq!(at, vec![Duration::from_millis(5); 5]);
        // Backlogged, it drains at the rate: 200 datagrams paced at 2 Mbps deliver 1 Mbps.
        let mut l = Link::new(
            cfg.with_token_bucket(1_000_000, 5_000, 1 << 20),
            SimRng::new(3),
            start,
        );
        let got = run(&mut l, start, 200, 1000, Duration::from_millis(4));
        // (The first few ride the full bucket; measure once it is empty.)
        let span = got[199].1 - got[99].1;
        let bps = 100.0 * 8000.0 / span.as_secs_f64();
        assert!((990_000.0..1_010_000.0).contains(&bps), "{bps}");
        // A datagram longer than the bucket never leaves.
        let mut l = Link::new(
            LinkConfig::new(Duration::ZERO).with_token_bucket(1_000_000, 1_000, 10_000),
            SimRng::new(3),
            start,
        );
        l.send(start, vec![0; 1001]);
        assert_eq!((l.stats().queue_drops, l.in_flight()), (1, 0));
    }

    #[test]
    fn trace_changes_the_rate_and_zero_is_an_outage() {
        let start = t0();
        let cfg = LinkConfig::new(Duration::ZERO)
            .with_rate(8_000_000, 1 << 20)
            .with_trace(vec![
                (Duration::from_secs(2), 0),
                (Duration::from_secs(1), 800_000),
            ]);
        let mut l = Link::new(cfg, SimRng::new(4), start);
        assert_eq!(l.rate_at(start), Some(8_000_000));
        assert_eq!(
            l.rate_at(start + Duration::from_millis(1500)),
            Some(800_000)
        );
        assert_eq!(l.rate_at(start + Duration::from_secs(3)), Some(0));
        // 1000 bytes at 8 Mbit/s take 1 ms; at 800 kbit/s 10 ms.
        l.send(start, vec![0; 1000]);
        assert_eq!(l.next_delivery(), Some(start + Duration::from_millis(1)));
        let _ = l.poll_delivery(start + Duration::from_millis(1));
        let t = start + Duration::from_secs(1);
        l.send(t, vec![0; 1000]);
        assert_eq!(l.next_delivery(), Some(t + Duration::from_millis(10)));
        l.send(start + Duration::from_secs(2), vec![0; 10]);
        assert_eq!(l.stats().queue_drops, 1);
    }

    #[test]
    fn random_and_bursty_loss_rates_and_burst_lengths() {
        let start = t0();
        let n = 50_000;
        let mut l = Link::new(
            LinkConfig::new(Duration::ZERO).with_loss(Loss::Random(0.05)),
            SimRng::new(5),
            start,
        );
        let got = run(&mut l, start, n, 8, Duration::from_micros(10));
        let rate = 1.0 - got.len() as f64 / n as f64;
        assert!((0.045..0.055).contains(&rate), "random loss {rate}");
        let bursts = |got: &[(usize, Duration)]| {
            // Mean length of runs of consecutive missing indices.
            let (mut runs, mut lost) = (0, 0);
            for w in got.windows(2) {
                let gap = w[1].0 - w[0].0 - 1;
                if gap > 0 {
                    runs += 1;
                    lost += gap;
                }
            }
            lost as f64 / runs as f64
        };
        let random_burst = bursts(&got);
        let mut l = Link::new(
            LinkConfig::new(Duration::ZERO).with_loss(Loss::bursty(0.05, 4.0)),
            SimRng::new(5),
            start,
        );
        let got = run(&mut l, start, n, 8, Duration::from_micros(10));
        let rate = 1.0 - got.len() as f64 / n as f64;
        assert!((0.04..0.06).contains(&rate), "bursty loss {rate}");
        let burst = bursts(&got);
        assert!((3.4..4.6).contains(&burst), "mean burst {burst}");
        assert!(random_burst < 1.2, "random bursts {random_burst}");
    }

    #[test]
    fn same_seed_same_fate() {
        let start = t0();
        let cfg = LinkConfig::new(Duration::from_millis(20))
            .with_jitter(Duration::from_millis(5))
            .with_loss(Loss::Random(0.1))
            .with_reorder(0.05, Duration::from_millis(8));
        let a = run(
            &mut Link::new(cfg.clone(), SimRng::new(9), start),
            start,
            300,
            50,
            Duration::from_millis(1),
        );
        let b = run(
            &mut Link::new(cfg.clone(), SimRng::new(9), start),
            start,
            300,
            50,
            Duration::from_millis(1),
        );
        let c = run(
            &mut Link::new(cfg, SimRng::new(10), start),
            start,
            300,
            50,
            Duration::from_millis(1),
        );
        assert_eq!(a, b);
        assert_ne!(a, c);
    }
}
