//! Stream allocation: which layer of each subscribed track fits a subscriber's bandwidth.
//!
//! Sans-IO and allocation-free after warm-up: the caller passes the estimate (from
//! [`crate::bwe`] or REMB), what each track offers (measured layer bitrates and sizes), and the
//! viewer's limits; [`Allocator::allocate`] returns one decision per track and queues clinical
//! quality events. A [`SpecialtyHook`] decides what matters: which track comes first, whether a
//! track climbs spatial layers or temporal layers first, and which floor it must hold
//! (telesfu-policy implements it for the clinical profiles).
//!
//! The algorithm, per call:
//! 1. Audio first: every audio track gets its layer, whatever the estimate.
//! 2. Video in the hook's rank order: each track gets the lowest step of its climb that meets
//!    its floor if that fits, else the lowest step at all if that fits (below its floor: a
//!    quality alert when the floor asks for one), else it is paused. The lowest step is the
//!    lowest frame rate of the lowest spatial layer, so a lower frame rate is tried before a
//!    pause. Lower-ranked video is therefore paused first when even the lowest layers do not
//!    fit. A pause always raises [`AllocEvent::QualityAlert`] (with `delivered: None`), floor
//!    or not: nobody should look at a frozen picture without being told.
//! 3. Upgrades, layer by layer: in rounds, each track in rank order takes its next step if the
//!    increment fits; a step that changes the spatial layer needs [`AllocatorConfig::spatial_margin`]
//!    times its increment, since it costs a keyframe and a short burst. A climb is built from
//!    the layers a track offers, whichever they are (see [`TrackInput::layers`]).
//! 4. Hysteresis: an estimate within [`AllocatorConfig::hysteresis`] of the one the current
//!    allocation was made for, with unchanged tracks and limits, keeps the allocation as long
//!    as it still fits; after a downgrade caused by the estimate, nothing is upgraded for
//!    [`AllocatorConfig::upgrade_hold`] (congestion tends to come back).

use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// What a track carries, for the hook to judge.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum TrackSource {
    /// A camera.
    Camera,
    /// A microphone.
    Microphone,
    /// A shared screen or window.
    Screen,
    /// A medical peripheral camera (dermatoscope, otoscope, a phone held close to a wound).
    Exam,
    /// Anything else.
    Other,
}

/// Who publishes a track, as the application labels participants.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum PublisherRole {
    /// The patient.
    Patient,
    /// A clinician.
    Clinician,
    /// Anyone else (interpreter, family member, trainee).
    Other,
}

/// A track as the hook sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TrackMeta {
    /// Its source.
    pub source: TrackSource,
    /// Its publisher's role.
    pub role: PublisherRole,
    /// Audio (always allocated first, never paused).
    pub audio: bool,
}

/// One forwardable layer of a track: spatial layer `spatial` with temporal layers up to
/// `temporal`. Bitrates are cumulative (all temporal layers up to `temporal`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Layer {
    /// Spatial layer (simulcast encoding index, lowest first).
    pub spatial: u8,
    /// Highest temporal layer included.
    pub temporal: u8,
    /// Measured bitrate in bits per second.
    pub bitrate_bps: u64,
    /// Frame width.
    pub width: u16,
    /// Frame height.
    pub height: u16,
    /// Frames per second.
    pub fps: u16,
}

/// How a track climbs from its lowest layer to its highest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum CandidateOrder {
    /// Resolution first, frame rate after (dermatology: detail over motion).
    SpatialFirst,
    /// Frame rate first, resolution after (behavioural health, telestroke: motion over detail).
    TemporalFirst,
    /// Cheapest next layer first.
    Balanced,
}

/// The least a track should get.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Floor {
    /// Minimum width (0: none).
    pub min_width: u16,
    /// Minimum height (0: none).
    pub min_height: u16,
    /// Minimum frames per second (0: none).
    pub min_fps: u16,
    /// Raise [`AllocEvent::QualityAlert`] when the floor cannot be held (a pause alerts
    /// whatever this says).
    pub alert: bool,
}

impl Floor {
    fn met_by(&self, l: &Layer) -> bool {
        l.width >= self.min_width && l.height >= self.min_height && l.fps >= self.min_fps
    }
}

/// The clinical policy the allocator consults.
pub trait SpecialtyHook {
    /// Lower ranks are served first. Default: audio 0, cameras 10 (patient first), screen 20.
    fn rank(&self, meta: &TrackMeta) -> u8 {
        match (meta.audio, meta.source, meta.role) {
            (true, _, _) => 0,
            (false, TrackSource::Camera, PublisherRole::Patient) => 10,
            (false, TrackSource::Camera, _) => 11,
            (false, TrackSource::Exam, _) => 12,
            (false, TrackSource::Screen, _) => 20,
            _ => 30,
        }
    }

    /// How the track climbs. Default: balanced.
    fn candidate_order(&self, _meta: &TrackMeta) -> CandidateOrder {
        CandidateOrder::Balanced
    }

    /// The floor the track should hold. Default: none.
    fn floor(&self, _meta: &TrackMeta) -> Option<Floor> {
        None
    }
}

/// The hook with every default: audio, then cameras, then screens; no floors.
#[derive(Debug, Clone, Copy, Default)]
pub struct DefaultHook;

impl SpecialtyHook for DefaultHook {}

/// One subscribed track, as input to [`Allocator::allocate`].
#[derive(Debug, Clone, Copy)]
pub struct TrackInput<'a> {
    /// The caller's id for the track (e.g. the subscription id).
    pub id: u64,
    /// What it is.
    pub meta: TrackMeta,
    /// Layers it offers now, in any order. Any subset of (spatial, temporal) pairs may be
    /// offered (a publisher without temporal scalability offers only its top temporal layer
    /// per encoding; a paused encoding offers nothing): each step of a track's climb takes the
    /// offered layer nearest to the one it names, so every offered set climbs to its best
    /// layer (property-tested over all subsets of a 3x3 ladder).
    pub layers: &'a [Layer],
    /// Highest spatial layer the viewer wants (its rendered size).
    pub max_spatial: u8,
    /// Highest temporal layer the viewer wants.
    pub max_temporal: u8,
    /// The viewer hid it.
    pub paused: bool,
}

/// What a track gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TrackDecision {
    /// The caller's id.
    pub id: u64,
    /// `(spatial, temporal)`, or `None` when paused.
    pub layer: Option<(u8, u8)>,
    /// Its bitrate.
    pub bitrate_bps: u64,
}

/// A clinical quality event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum AllocEvent {
    /// A track's floor cannot be held on this subscriber's network, or the track is paused
    /// (`delivered: None`; then `floor` is the hook's floor, or all zeros when it has none).
    /// Raised again when it goes from reduced to paused or back.
    QualityAlert {
        /// The track.
        id: u64,
        /// The floor.
        floor: Floor,
        /// What it gets instead (`None`: paused).
        delivered: Option<Layer>,
    },
    /// The floor is held again.
    QualityRestored {
        /// The track.
        id: u64,
    },
}

/// Tuning.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct AllocatorConfig {
    /// Relative estimate change ignored while the allocation still fits. Default 0.15.
    pub hysteresis: f64,
    /// No upgrades this long after a downgrade caused by the estimate. Default 5 s.
    pub upgrade_hold: Duration,
    /// A spatial step needs this many times its bitrate increment. Default 1.2.
    pub spatial_margin: f64,
    /// Events kept for `poll_event`. Default 64.
    pub event_queue: usize,
    /// Recompute at least this often even when the estimate stayed within the hysteresis
    /// band, so a link that settled just above the next layer gets it. Default 2 s.
    pub recheck: Duration,
}

impl Default for AllocatorConfig {
    fn default() -> Self {
        Self {
            hysteresis: 0.15,
            upgrade_hold: Duration::from_secs(5),
            spatial_margin: 1.2,
            event_queue: 64,
            recheck: Duration::from_secs(2),
        }
    }
}

/// Which quality alert is standing for a track.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Alerted {
    No,
    /// Below its alerting floor.
    Below,
    /// Paused: the network cannot carry even its lowest layer.
    Paused,
}

#[derive(Debug, Clone, Copy)]
struct TrackState {
    id: u64,
    layer: Option<(u8, u8)>,
    alerted: Alerted,
    /// The viewer limits the last allocation saw.
    limits: (u8, u8, bool),
}

/// Per-subscriber allocation with hysteresis.
#[derive(Debug)]
pub struct Allocator {
    config: AllocatorConfig,
    last_estimate: Option<u64>,
    last_compute: Option<Instant>,
    alerts: bool,
    hold_until: Option<Instant>,
    state: Vec<TrackState>,
    decisions: Vec<TrackDecision>,
    events: VecDeque<AllocEvent>,
    // Scratch, reused across calls.
    order: Vec<usize>,
    paths: Vec<Vec<Layer>>,
    steps: Vec<Option<usize>>,
    previous: Vec<Option<(u8, u8)>>,
    old_state: Vec<TrackState>,
}

impl Default for Allocator {
    fn default() -> Self {
        Self::new(AllocatorConfig::default())
    }
}

impl Allocator {
    /// An allocator with `config`.
    pub fn new(config: AllocatorConfig) -> Self {
        Self {
            config,
            last_estimate: None,
            last_compute: None,
            alerts: true,
            hold_until: None,
            state: Vec::new(),
            decisions: Vec::new(),
            events: VecDeque::new(),
            order: Vec::new(),
            paths: Vec::new(),
            steps: Vec::new(),
            previous: Vec::new(),
            old_state: Vec::new(),
        }
    }

    /// The next quality event.
    pub fn poll_event(&mut self) -> Option<AllocEvent> {
        self.events.pop_front()
    }

    /// Turns quality alerts off (and back on): while an estimator is still ramping up, a floor
    /// it cannot yet fund says nothing about the network. Turning them on forces the next
    /// [`Allocator::allocate`] to recompute, so a floor still not held alerts at once.
    pub fn set_alerts(&mut self, on: bool) {
        if on && !self.alerts {
            self.last_compute = None;
        }
        self.alerts = on;
    }

    /// Ends an upgrade hold early: the caller has measured evidence that the link carries
    /// more now (a probe's result raised the estimate), which outweighs the rule of thumb that
    /// congestion comes back. Forces the next [`Allocator::allocate`] to recompute.
    pub fn release_hold(&mut self) {
        if self.hold_until.take().is_some() {
            self.last_compute = None;
        }
    }

    /// Whether upgrades are held back after a congestion downgrade.
    pub fn holding(&self, now: Instant) -> bool {
        self.hold_until.is_some_and(|t| now < t)
    }

    /// Allocates `estimate_bps` over `tracks`. Returns one decision per track, in input order.
    pub fn allocate(
        &mut self,
        now: Instant,
        estimate_bps: u64,
        tracks: &[TrackInput<'_>],
        hook: &dyn SpecialtyHook,
    ) -> &[TrackDecision] {
        let same_tracks = tracks.len() == self.state.len()
            && tracks.iter().zip(&self.state).all(|(t, s)| {
                t.id == s.id && (t.max_spatial, t.max_temporal, t.paused) == s.limits
            });
        // The end of an upgrade hold is a reason to look again even if nothing else changed.
        let hold_over = self.hold_until.is_some_and(|t| now >= t);
        if hold_over {
            self.hold_until = None;
        }
        let stale = self
            .last_compute
            .is_none_or(|t| now.saturating_duration_since(t) >= self.config.recheck);
        if same_tracks
            && !hold_over
            && !stale
            && let Some(last) = self.last_estimate
        {
            let change = (estimate_bps as f64 - last as f64).abs() / (last.max(1) as f64);
            let fits = self.total_of_current(tracks) <= estimate_bps;
            if change < self.config.hysteresis && fits {
                return &self.decisions;
            }
        }
        self.compute(now, estimate_bps, tracks, hook, same_tracks);
        self.last_estimate = Some(estimate_bps);
        self.last_compute = Some(now);
        &self.decisions
    }

    fn total_of_current(&self, tracks: &[TrackInput<'_>]) -> u64 {
        tracks
            .iter()
            .zip(&self.state)
            .map(|(t, s)| match s.layer {
                Some((sp, tp)) => find(t.layers, sp, tp).map_or(0, |l| l.bitrate_bps),
                None => 0,
            })
            .sum()
    }

    fn compute(
        &mut self,
        now: Instant,
        estimate: u64,
        tracks: &[TrackInput<'_>],
        hook: &dyn SpecialtyHook,
        same_tracks: bool,
    ) {
        let n = tracks.len();
        // Climb paths, within the viewer's limits.
        self.paths.resize_with(n, Vec::new);
        for (path, t) in self.paths.iter_mut().zip(tracks) {
            path.clear();
            if !t.paused {
                build_path(path, t, hook.candidate_order(&t.meta), hook.floor(&t.meta));
            }
        }
        self.steps.clear();
        self.steps.resize(n, None);
        self.order.clear();
        self.order.extend(0..n);
        self.order
            .sort_by_key(|&i| (!tracks[i].meta.audio, hook.rank(&tracks[i].meta)));

        let mut budget = estimate as i64;
        // 1. Audio, unconditionally.
        for &i in &self.order {
            if tracks[i].meta.audio && !self.paths[i].is_empty() {
                self.steps[i] = Some(0);
                budget -= self.paths[i][0].bitrate_bps as i64;
            }
        }
        // 2. The least each video track needs, in rank order.
        for &i in &self.order {
            if tracks[i].meta.audio || self.paths[i].is_empty() {
                continue;
            }
            let path = &self.paths[i];
            let floor_step = hook
                .floor(&tracks[i].meta)
                .and_then(|f| path.iter().position(|l| f.met_by(l)));
            let pick = [floor_step, Some(0)]
                .into_iter()
                .flatten()
                .find(|&s| path[s].bitrate_bps as i64 <= budget);
            if let Some(s) = pick {
                self.steps[i] = Some(s);
                budget -= path[s].bitrate_bps as i64;
            }
        }
        // 3. Upgrades in rounds, one step per track per round.
        self.previous.clear();
        if same_tracks {
            self.previous.extend(self.state.iter().map(|s| s.layer));
        }
        let previous = &self.previous;
        let holding = self.holding(now);
        loop {
            let mut changed = false;
            for &i in &self.order {
                let Some(cur) = self.steps[i] else { continue };
                let path = &self.paths[i];
                let Some(next) = path.get(cur + 1) else {
                    continue;
                };
                if holding
                    && let Some(Some(prev)) = previous.get(i)
                    && (next.spatial, next.temporal) > *prev
                {
                    continue;
                }
                let delta = next.bitrate_bps.saturating_sub(path[cur].bitrate_bps) as f64;
                let need = if next.spatial != path[cur].spatial {
                    delta * self.config.spatial_margin
                } else {
                    delta
                };
                if need <= budget as f64 {
                    budget -= delta as i64;
                    self.steps[i] = Some(cur + 1);
                    changed = true;
                }
            }
            if !changed {
                break;
            }
        }

        // Record, detect downgrades, raise or clear alerts.
        let mut downgraded = false;
        self.decisions.clear();
        // The last allocation's state moves to scratch; both buffers keep their capacity.
        std::mem::swap(&mut self.state, &mut self.old_state);
        let mut state = std::mem::take(&mut self.state);
        state.clear();
        let old = std::mem::take(&mut self.old_state);
        for (i, t) in tracks.iter().enumerate() {
            let layer = self.steps[i].map(|s| self.paths[i][s]);
            let key = layer.map(|l| (l.spatial, l.temporal));
            let before = old.iter().find(|s| s.id == t.id);
            if let Some(b) = before
                && same_tracks
                && key < b.layer
            {
                downgraded = true;
            }
            let mut alerted = before.map_or(Alerted::No, |b| b.alerted);
            if self.alerts && !t.meta.audio && !t.paused {
                // No silent pause: a video the viewer wants that the network cannot carry at
                // all alerts whatever the floor says. Below an alerting floor alerts too.
                let floor = hook.floor(&t.meta);
                let alerting = floor.filter(|f| f.alert);
                let now_state = match layer {
                    None if !t.layers.is_empty() => Alerted::Paused,
                    Some(l)
                        if alerting.is_some_and(|f| {
                            !f.met_by(&l) && best_allowed(t).is_some_and(|b| f.met_by(&b))
                        }) =>
                    {
                        Alerted::Below
                    }
                    _ => Alerted::No,
                };
                if now_state != alerted {
                    if now_state == Alerted::No {
                        self.push_event(AllocEvent::QualityRestored { id: t.id });
                    } else {
                        self.push_event(AllocEvent::QualityAlert {
                            id: t.id,
                            floor: alerting.or(floor).unwrap_or_default(),
                            delivered: layer,
                        });
                    }
                    alerted = now_state;
                }
            }
            self.decisions.push(TrackDecision {
                id: t.id,
                layer: key,
                bitrate_bps: layer.map_or(0, |l| l.bitrate_bps),
            });
            state.push(TrackState {
                id: t.id,
                layer: key,
                alerted,
                limits: (t.max_spatial, t.max_temporal, t.paused),
            });
        }
        self.state = state;
        self.old_state = old;
        if downgraded && self.last_estimate.is_some_and(|l| estimate < l) {
            self.hold_until = Some(now + self.config.upgrade_hold);
        }
    }

    fn push_event(&mut self, e: AllocEvent) {
        if self.events.len() < self.config.event_queue {
            self.events.push_back(e);
        }
    }
}

fn find(layers: &[Layer], spatial: u8, temporal: u8) -> Option<&Layer> {
    layers
        .iter()
        .find(|l| l.spatial == spatial && l.temporal == temporal)
}

fn allowed(t: &TrackInput<'_>, l: &Layer) -> bool {
    l.spatial <= t.max_spatial && l.temporal <= t.max_temporal
}

/// The best layer the viewer allows (to tell a viewer-chosen small size from a network limit).
fn best_allowed(t: &TrackInput<'_>) -> Option<Layer> {
    t.layers
        .iter()
        .filter(|l| allowed(t, l))
        .max_by_key(|l| (l.spatial, l.temporal))
        .copied()
}

/// Builds the climb of `t`: layers within the viewer's limits, each step raising the spatial
/// or temporal layer (never lowering either), ordered by `order`.
fn build_path(
    path: &mut Vec<Layer>,
    t: &TrackInput<'_>,
    order: CandidateOrder,
    floor: Option<Floor>,
) {
    let max_s = t
        .layers
        .iter()
        .filter(|l| allowed(t, l))
        .map(|l| l.spatial)
        .max();
    let max_t = t
        .layers
        .iter()
        .filter(|l| allowed(t, l))
        .map(|l| l.temporal)
        .max();
    let (Some(max_s), Some(max_t)) = (max_s, max_t) else {
        return;
    };
    // Tracks need not offer every (spatial, temporal) pair: a publisher may send only its top
    // temporal layer per encoding, or leave one out. Each step therefore takes the offered
    // layer nearest to the one it names: at spatial layer `s`, the lowest offered temporal
    // layer at or above `tp`, else the highest below it.
    let at = |s: u8, tp: u8| -> Option<&Layer> {
        let (mut above, mut below): (Option<&Layer>, Option<&Layer>) = (None, None);
        for l in t.layers.iter().filter(|l| allowed(t, l) && l.spatial == s) {
            if l.temporal >= tp {
                if above.is_none_or(|a| l.temporal < a.temporal) {
                    above = Some(l);
                }
            } else if below.is_none_or(|b| l.temporal > b.temporal) {
                below = Some(l);
            }
        }
        above.or(below)
    };
    // The next offered temporal layer above `tp` at spatial layer `s`.
    let up = |s: u8, tp: u8| -> Option<&Layer> {
        t.layers
            .iter()
            .filter(|l| allowed(t, l) && l.spatial == s && l.temporal > tp)
            .min_by_key(|l| l.temporal)
    };
    let push = |path: &mut Vec<Layer>, l: Option<&Layer>| {
        if let Some(l) = l
            && path.last().is_none_or(|p| {
                (p.spatial, p.temporal) != (l.spatial, l.temporal)
                    && (p.bitrate_bps <= l.bitrate_bps || p.spatial < l.spatial)
            })
        {
            path.push(*l);
        }
    };
    let Some(s0) = (0..=max_s).find(|&s| at(s, 0).is_some()) else {
        return;
    };
    match order {
        CandidateOrder::SpatialFirst => {
            // Hold the lowest frame rate the floor accepts while resolution climbs.
            let base_t = floor
                .filter(|f| f.min_fps > 0)
                .and_then(|f| {
                    (0..=max_t).find(|&tp| {
                        at(s0, tp).is_some_and(|l| l.temporal >= tp && l.fps >= f.min_fps)
                    })
                })
                .unwrap_or(0);
            for s in s0..=max_s {
                push(path, at(s, base_t));
            }
            let top = path.last().map_or(max_s, |l| l.spatial);
            let mut tp = path.last().map_or(0, |l| l.temporal);
            while let Some(l) = up(top, tp) {
                tp = l.temporal;
                push(path, Some(l));
            }
        }
        CandidateOrder::TemporalFirst => {
            let mut l = at(s0, 0);
            while let Some(x) = l {
                push(path, Some(x));
                l = up(s0, x.temporal);
            }
            for s in s0 + 1..=max_s {
                push(path, at(s, max_t));
            }
        }
        CandidateOrder::Balanced => {
            // Each step takes the cheaper of "one spatial up" and "one temporal up".
            let Some(first) = at(s0, 0) else { return };
            let (mut s, mut tp) = (first.spatial, first.temporal);
            push(path, Some(first));
            loop {
                let up_s = (s + 1..=max_s).find_map(|n| at(n, tp));
                let up_t = up(s, tp);
                let next = match (up_s, up_t) {
                    (Some(a), Some(b)) if a.bitrate_bps <= b.bitrate_bps => a,
                    (Some(_), Some(b)) | (None, Some(b)) => b,
                    (Some(a), None) => a,
                    (None, None) => break,
                };
                (s, tp) = (next.spatial, next.temporal);
                push(path, Some(next));
            }
        }
    }
    if path.is_empty()
        && let Some(l) = t
            .layers
            .iter()
            .filter(|l| allowed(t, l))
            .min_by_key(|l| l.bitrate_bps)
    {
        path.push(*l);
    }
}

#[cfg(test)]
mod tests;
