//! The browser's impaired-link cases (tests/browser/links.mjs) run again in the simulator, and
//! printed beside what the browser measured (docs/bandwidth-results-browser.json), as
//! Markdown (issue 10, item 7):
//!
//! ```text
//! cargo run --release -p telesfu-policy --example links_side_by_side > docs/bandwidth-results-links.md
//! ```
//!
//! Same traces: per case the visit's clinical profile as the room's hook; the viewer's (or the
//! sender's) link shaped as the browser test's relay shapes it (a token bucket with a
//! 5,000-byte burst and a 25,000-byte tail-drop queue, or 5 % loss and 50 ms each way); the
//! sender's ladder at the sizes the browser sent (a 1280x720 camera scaled by the profile) and
//! at the bitrates Chromium actually sent in that browser run (read from the JSON; the
//! profile's maxBitrate when it has none); a 5 s warm-up, a 10 s window, then every limit
//! lifted and the top layer's return timed (10 s at most). A telestroke case steps down after
//! the warm-up. One seed: the browser run is one run too.
#![allow(clippy::print_stdout)]

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::{Duration, Instant};

use telesfu_core::alloc::{PublisherRole, TrackSource};
use telesfu_core::engine::{EngineConfig, LayerPreference};
use telesfu_core::sim::{LayerConfig, LinkConfig, Loss, PublisherConfig, Sim, SimConfig};
use telesfu_core::{Event, SubscriptionId};
use telesfu_policy::profiles::{ClinicalProfile, ProfileRegistry};

const BURST: usize = 5_000;
const QUEUE: usize = 25_000;
const WARMUP: Duration = Duration::from_secs(5);
const WINDOW: Duration = Duration::from_secs(10);
const WATCH: Duration = Duration::from_secs(10);
const JSON: &str = "docs/bandwidth-results-browser.json";

/// Tolerances for "agree": the picture's main size the same, fps within 5, both or neither
/// with a freeze over 1 s, both or neither with the top layer back within 5 s.
const FPS_TOLERANCE: f64 = 5.0;

#[derive(Clone, Copy)]
enum Shape {
    Rate(u64),
    LossDelay,
}

struct Case {
    id: &'static str,
    trace: &'static str,
    visit: &'static str,
    viewer_down: Option<Shape>,
    sender_up: Option<Shape>,
    step: bool,
}

const CASES: &[Case] = &[
    Case {
        id: "down500-general",
        trace: "500 kbps downlink, general consult",
        visit: "general-consult",
        viewer_down: Some(Shape::Rate(500_000)),
        sender_up: None,
        step: false,
    },
    Case {
        id: "down500-dermatology",
        trace: "500 kbps downlink, dermatology",
        visit: "dermatology",
        viewer_down: Some(Shape::Rate(500_000)),
        sender_up: None,
        step: false,
    },
    Case {
        id: "down500-behavioural",
        trace: "500 kbps downlink, behavioural health",
        visit: "behavioural-health",
        viewer_down: Some(Shape::Rate(500_000)),
        sender_up: None,
        step: false,
    },
    Case {
        id: "down500-telestroke",
        trace: "500 kbps downlink, telestroke (step after the warm-up)",
        visit: "telestroke",
        viewer_down: Some(Shape::Rate(500_000)),
        sender_up: None,
        step: true,
    },
    Case {
        id: "down300",
        trace: "300 kbps downlink",
        visit: "general-consult",
        viewer_down: Some(Shape::Rate(300_000)),
        sender_up: None,
        step: false,
    },
    Case {
        id: "up500",
        trace: "500 kbps uplink (publisher)",
        visit: "general-consult",
        viewer_down: None,
        sender_up: Some(Shape::Rate(500_000)),
        step: false,
    },
    Case {
        id: "down1000",
        trace: "1 Mbps downlink",
        visit: "general-consult",
        viewer_down: Some(Shape::Rate(1_000_000)),
        sender_up: None,
        step: false,
    },
    Case {
        id: "loss5-delay50",
        trace: "5 % loss + 50 ms delay",
        visit: "general-consult",
        viewer_down: Some(Shape::LossDelay),
        sender_up: None,
        step: false,
    },
];

fn t0() -> Instant {
    #[allow(clippy::disallowed_methods)]
    Instant::now()
}

/// Loopback plus the page's own stack: 1 ms, a little jitter.
fn clear() -> LinkConfig {
    LinkConfig::new(Duration::from_millis(1)).with_jitter(Duration::from_micros(500))
}

fn shaped(s: Shape) -> LinkConfig {
    match s {
        Shape::Rate(bps) => clear().with_token_bucket(bps, BURST, QUEUE),
        Shape::LossDelay => LinkConfig::new(Duration::from_millis(51))
            .with_jitter(Duration::from_micros(500))
            .with_loss(Loss::Random(0.05)),
    }
}

/// What one side measured, in the columns both worlds share.
#[derive(Default)]
struct Figures {
    /// Decoded size with its share of the window's samples, largest share first.
    sizes: Vec<(String, f64)>,
    fps: f64,
    longest_freeze_s: f64,
    alert_s: Option<f64>,
    top_back_s: Option<f64>,
}

impl Figures {
    fn main_size(&self) -> &str {
        self.sizes.first().map_or("none", |(s, _)| s.as_str())
    }

    fn picture(&self) -> String {
        if self.sizes.is_empty() {
            return "none".into();
        }
        self.sizes
            .iter()
            .take(2)
            .map(|(s, p)| format!("{s} {:.0} %", p * 100.0))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// The browser's figures and the bitrates Chromium sent per layer width, from the JSON.
fn browser(json: &serde_json::Value, id: &str) -> Option<(Figures, BTreeMap<u64, u64>)> {
    let c = json["cases"].as_array()?.iter().find(|c| c["id"] == id)?;
    let v = &c["video"];
    let mut sizes: Vec<(String, f64)> = v["sizes"]
        .as_object()?
        .iter()
        .map(|(k, s)| (k.clone(), s.as_f64().unwrap_or(0.0)))
        .collect();
    sizes.sort_by(|a, b| b.1.total_cmp(&a.1));
    let alert_s = c["alert"]["viewer"]["afterMs"]
        .as_f64()
        .map(|ms| ms / 1000.0);
    let top_back_s = c["recovery"]["ms"].as_f64().map(|ms| ms / 1000.0);
    let mut sent = BTreeMap::new();
    if let Some(o) = c["sent"].as_object() {
        for s in o.values() {
            if let (Some(w), Some(k)) = (s["width"].as_u64(), s["kbps"].as_f64())
                && w > 0
                && k > 0.0
            {
                sent.insert(w, (k * 1000.0) as u64);
            }
        }
    }
    Some((
        Figures {
            sizes,
            fps: v["fps"].as_f64().unwrap_or(0.0),
            longest_freeze_s: v["longestFreeze"]
                .as_f64()
                .unwrap_or(0.0)
                .max(v["openStall"].as_f64().unwrap_or(0.0)),
            alert_s,
            top_back_s,
        },
        sent,
    ))
}

/// The ladder a 1280x720 camera sends under `profile` (the browser scales the camera by the
/// profile's scaleResolutionDownBy), at the rates the browser sent where known.
fn ladder(profile: &ClinicalProfile, sent: &BTreeMap<u64, u64>) -> Vec<LayerConfig> {
    let top = profile.top_layer();
    profile
        .layers()
        .iter()
        .map(|l| {
            let scale = f64::from(top.width) / f64::from(l.width);
            let w = (1280.0 / scale).round() as u16;
            let h = (720.0 / scale).round() as u16;
            let bps = sent
                .get(&u64::from(w))
                .copied()
                .unwrap_or(u64::from(l.max_bitrate))
                .max(30_000);
            LayerConfig::new(w, h, bps)
        })
        .collect()
}

fn run(case: &Case, profile: ClinicalProfile, layers: Vec<LayerConfig>) -> Figures {
    let mut engine = EngineConfig::default();
    engine.bandwidth.enabled = true;
    let top = layers.last().map(|l| (l.width, l.height));
    let mut sim = Sim::new(SimConfig::new(1).with_engine(engine), t0());
    let room = sim.room();
    sim.engine_mut()
        .set_room_hook(room, Box::new(profile))
        .expect("the room exists");
    let before_step = |s: Option<Shape>| match s {
        Some(s) if !case.step => shaped(s),
        _ => clear(),
    };
    let patient = sim.add_client(before_step(case.sender_up), clear());
    let viewer_up = match case.viewer_down {
        Some(Shape::LossDelay) => shaped(Shape::LossDelay),
        _ => clear(),
    };
    let viewer = sim.add_client(viewer_up, before_step(case.viewer_down));
    let video = PublisherConfig::vp8()
        .with_layers(layers)
        .with_fps(30)
        .with_adaptive(case.sender_up.is_some())
        .with_meta(TrackSource::Camera, PublisherRole::Patient);
    let mic = sim
        .publish(patient, PublisherConfig::opus())
        .expect("audio");
    let cam = sim.publish(patient, video).expect("video");
    sim.subscribe(viewer, mic, LayerPreference::ALL)
        .expect("audio sub");
    let sub: SubscriptionId = sim
        .subscribe(viewer, cam, LayerPreference::ALL)
        .expect("video sub");

    sim.run_for(WARMUP);
    let onset = sim.now();
    if case.step {
        if let Some(s) = case.viewer_down {
            sim.client_mut(viewer).downlink_mut().set_config(shaped(s));
        }
        sim.run_for(WARMUP);
    }
    let f0 = sim.decoder(sub).expect("decoder").stats().frames_displayed;
    let mut sizes: BTreeMap<String, u32> = BTreeMap::new();
    let mut longest = Duration::ZERO;
    let samples = (WINDOW.as_millis() / 100) as u32;
    for _ in 0..samples {
        sim.run_for(Duration::from_millis(100));
        let d = sim.decoder(sub).expect("decoder");
        let freeze = d.current_freeze(sim.now());
        longest = longest.max(freeze.unwrap_or(Duration::ZERO));
        if freeze.is_some_and(|f| f <= Duration::from_secs(1))
            && let Some((w, h)) = d.stats().resolution
        {
            *sizes.entry(format!("{w}x{h}")).or_default() += 1;
        }
    }
    let stats = sim.decoder(sub).expect("decoder").stats();
    let fps = (stats.frames_displayed - f0) as f64 / WINDOW.as_secs_f64();
    let alert_s = sim
        .events()
        .iter()
        .find(|(t, e)| {
            *t >= onset
                && matches!(e, Event::QualityAlert { subscription, .. } if *subscription == sub)
        })
        .map(|(t, _)| (*t - onset).as_secs_f64());
    // Lift every limit; time the top layer's return.
    let lift = sim.now();
    sim.client_mut(viewer).downlink_mut().set_config(clear());
    sim.client_mut(viewer).uplink_mut().set_config(clear());
    sim.client_mut(patient).uplink_mut().set_config(clear());
    let mut top_back_s = None;
    while sim.now() - lift < WATCH {
        sim.run_for(Duration::from_millis(100));
        if sim.decoder(sub).expect("decoder").stats().resolution == top {
            top_back_s = Some((sim.now() - lift).as_secs_f64());
            break;
        }
    }
    let mut sizes: Vec<(String, f64)> = sizes
        .into_iter()
        .map(|(k, n)| (k, f64::from(n) / f64::from(samples)))
        .collect();
    sizes.sort_by(|a, b| b.1.total_cmp(&a.1));
    Figures {
        sizes,
        fps,
        longest_freeze_s: longest.as_secs_f64(),
        alert_s,
        top_back_s,
    }
}

fn secs(v: Option<f64>) -> String {
    v.map_or("—".into(), |s| format!("{s:.1} s"))
}

/// Where the two disagree beyond the tolerances: which columns.
fn disagreements(s: &Figures, b: &Figures) -> Vec<&'static str> {
    let mut out = Vec::new();
    if s.main_size() != b.main_size() {
        out.push("picture");
    }
    if (s.fps - b.fps).abs() > FPS_TOLERANCE {
        out.push("fps");
    }
    if (s.longest_freeze_s > 1.0) != (b.longest_freeze_s > 1.0) {
        out.push("freeze");
    }
    if s.top_back_s.is_some_and(|t| t <= 5.0) != b.top_back_s.is_some_and(|t| t <= 5.0) {
        out.push("top back");
    }
    out
}

/// The known differences between the worlds that bear on a column. Not a diagnosis of each
/// case: where a case has a known cause of its own, [`case_note`] says it.
fn why(column: &str) -> &'static str {
    match column {
        "picture" => {
            "the simulated encoder sends each layer at a fixed rate with three temporal layers; Chromium under E2EE offers two frame rates per layer (the N bit; no TID), and its encoder's rate moves with content and CPU, so the allocator's cheapest fitting step can differ"
        }
        "fps" => {
            "the simulated publisher always sends 30 fps and the simulator's base temporal layer is 7.5 fps; Chromium's lowest step is half rate (15 fps), and its fake camera on 2 shared cores drops frames when both browsers encode and decode at once (the browser table's load column)"
        }
        "freeze" => {
            "the simulator's freeze is 500 ms without a new frame, sampled every 100 ms; Chromium's freezeCount has its own rule (max(3 x mean frame duration, 150 ms + mean)), and the browser test also counts stalls over 1 s"
        }
        "top back" => {
            "after the lift the simulated link is clear at once; in the browser the relay first drains its queue, Chromium's jitter buffer and keyframe request add their own delays, and the first probes' results differ (docs/bandwidth.md, known limits)"
        }
        _ => "",
    }
}

/// A case's own known cause of disagreement, if any.
fn case_note(id: &str) -> Option<&'static str> {
    match id {
        "up500" => Some(
            "the simulator's adaptive publisher (our GCC on the SFU's feedback standing in for Chromium's) collapses behind a 500 kbps uplink bucket (sim_constrained prints an estimate mean of 30 kbps for three of four runs), while Chromium holds about 480 kbps and keeps its lowest layer: the publisher model is wrong here, not the SFU",
        ),
        "down500-dermatology" => Some(
            "the floor (640x360, any frame rate) is held from its cheapest step: in the simulator the base temporal layer at 7.5 fps, in the browser the half rate, 15 fps",
        ),
        _ => None,
    }
}

fn main() {
    let json: Option<serde_json::Value> = std::fs::read_to_string(JSON)
        .ok()
        .and_then(|s| serde_json::from_str(&s).ok());
    let registry = ProfileRegistry::builtin();
    let mut out = String::new();
    let generated = json
        .as_ref()
        .and_then(|j| j["generated"].as_str())
        .unwrap_or("no browser run found");
    let _ = writeln!(out, "# Impaired links: the simulator beside the browser\n");
    let _ = writeln!(
        out,
        "Generated by `policy/examples/links_side_by_side.rs`; regenerate the browser half with \
         `bash tests/browser/bandwidth-results.sh` (writes {JSON}) and then this file with one \
         command:\n\n```\ncargo run --release -p telesfu-policy --example links_side_by_side > \
         docs/bandwidth-results-links.md\n```\n"
    );
    let _ = writeln!(
        out,
        "The same eight cases as `tests/browser/links.mjs` (issue 10, item 6): per case the \
         visit's profile, the same shaping (token bucket, {BURST}-byte burst, {QUEUE}-byte \
         queue; or 5 % loss and 50 ms each way on the viewer's path), the sender's ladder at \
         the sizes and bitrates Chromium sent in the browser run ({generated}), a 5 s warm-up, \
         a 10 s window, then every limit lifted. One seed, as the browser run is one run. \
         Columns: the decoded picture (sizes as shares of 100 ms samples with a frame in the \
         last second), frames per second, the longest freeze (or stall) in the window, the \
         first quality alert to the viewer (seconds after the media connected through the \
         limit, or after the step), and the top layer's return after the lift.\n"
    );
    let _ = writeln!(
        out,
        "Agreement: the same main picture size, fps within {FPS_TOLERANCE}, a freeze over 1 s \
         in both or neither, the top layer back within 5 s in both or neither.\n"
    );
    let _ = writeln!(
        out,
        "| case | sim picture | browser picture | sim fps | browser fps | sim longest freeze | browser | sim alert | browser | sim top back | browser | agree |"
    );
    let _ = writeln!(
        out,
        "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|"
    );
    let mut notes: BTreeMap<&'static str, Vec<&'static str>> = BTreeMap::new();
    let mut differing: Vec<&'static str> = Vec::new();
    for case in CASES {
        let profile = registry.for_visit_type(case.visit).clone();
        let (b, sent) = json
            .as_ref()
            .and_then(|j| browser(j, case.id))
            .unwrap_or_default();
        let s = run(case, profile.clone(), ladder(&profile, &sent));
        let differ = if json.is_some() {
            disagreements(&s, &b)
        } else {
            Vec::new()
        };
        for d in &differ {
            notes.entry(d).or_default().push(case.id);
        }
        if !differ.is_empty() {
            differing.push(case.id);
        }
        let _ = writeln!(
            out,
            "| {} | {} | {} | {:.1} | {:.1} | {:.2} s | {:.2} s | {} | {} | {} | {} | {} |",
            case.trace,
            s.picture(),
            b.picture(),
            s.fps,
            b.fps,
            s.longest_freeze_s,
            b.longest_freeze_s,
            secs(s.alert_s),
            secs(b.alert_s),
            secs(s.top_back_s),
            secs(b.top_back_s),
            if differ.is_empty() {
                "yes".to_string()
            } else {
                format!("no: {}", differ.join(", "))
            },
        );
    }
    if !notes.is_empty() {
        let _ = writeln!(out, "\n## Where they disagree, and why\n");
        for (column, cases) in notes {
            let _ = writeln!(
                out,
                "- **{column}** ({}): {}.",
                cases.join(", "),
                why(column)
            );
        }
        for case in CASES {
            if differing.contains(&case.id)
                && let Some(n) = case_note(case.id)
            {
                let _ = writeln!(out, "- **{}**: {n}.", case.id);
            }
        }
    }
    print!("{out}");
}
