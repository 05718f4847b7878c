//! Custom profiles from TOML: round trips, loading into the registry, and the exact message
//! for each kind of bad value.

use telesfu_policy::Error;
use telesfu_policy::profiles::{
    ClinicalProfile, LayerOrder, ProfileRegistry, TrackSource, builtin, parse_profiles,
    profiles_to_toml,
};

/// A valid custom profile; the error tests change one line of it.
const WOUND_CARE: &str = r#"
[[profile]]
name = "wound-care"
visit_types = ["wound-care", "Wound-Check"]
degradation_preference = "maintain-resolution"
color_space = "bt709"
content_hint = "detail"

[[profile.layers]]
rid = "q"
width = 320
height = 180
max_framerate = 15
max_bitrate = 150000
scalability_mode = "L1T2"

[[profile.layers]]
rid = "h"
width = 640
height = 360
max_framerate = 30
max_bitrate = 700000
scalability_mode = "L1T3"

[profile.allocation]
ranking = ["exam-camera", "patient-camera"]
layer_order = "spatial-first"
latency = "standard"

[[profile.allocation.floors]]
source = "exam-camera"
min_width = 640
min_height = 360
alert = true
"#;

/// `WOUND_CARE` with `from` replaced by `to` (which must occur exactly once).
fn with(from: &str, to: &str) -> String {
    assert_eq!(
        WOUND_CARE.matches(from).count(),
        1,
        "{from:?} must occur once"
    );
    WOUND_CARE.replacen(from, to, 1)
}

fn error(text: &str) -> String {
    match parse_profiles(text) {
        Ok(p) => panic!("accepted: {p:?}"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn builtins_round_trip_through_toml() {
    let builtins = builtin::all();
    let text = profiles_to_toml(&builtins).expect("serialise");
    let back = parse_profiles(&text).expect("parse back");
    assert_eq!(back, builtins);
    // And once more, byte for byte.
    assert_eq!(profiles_to_toml(&back).expect("serialise"), text);
}

#[test]
fn custom_profile_loads_and_is_chosen_by_visit_type() {
    let parsed = parse_profiles(WOUND_CARE).expect("valid");
    assert_eq!(parsed.len(), 1);
    let p = &parsed[0];
    assert_eq!(p.name(), "wound-care");
    assert_eq!(p.rank(TrackSource::ExamCamera), 1);
    assert_eq!(p.rank(TrackSource::PatientCamera), 2);
    assert_eq!(p.rank(TrackSource::ClinicianCamera), 3);
    assert_eq!(p.allocation().layer_order, LayerOrder::SpatialFirst);
    let floor = p.floor(TrackSource::ExamCamera).expect("floor");
    assert_eq!(floor.min_framerate, 0, "omitted means no minimum");
    assert!(floor.alert);

    let mut registry = ProfileRegistry::builtin();
    assert_eq!(registry.load_toml(WOUND_CARE), Ok(1));
    assert_eq!(registry.profiles().len(), 5);
    assert_eq!(registry.for_visit_type("wound-check").name(), "wound-care");
    assert_eq!(
        registry.for_visit_type("  WOUND-CARE ").name(),
        "wound-care"
    );
    assert_eq!(registry.get("wound-care"), Some(p));
    // Round trip of a custom profile too.
    let text = profiles_to_toml([p]).expect("serialise");
    assert_eq!(parse_profiles(&text).as_deref(), Ok(&parsed[..]));
}

#[test]
fn unknown_visit_types_fall_back_to_general_consult() {
    let registry = ProfileRegistry::builtin();
    assert_eq!(
        registry.for_visit_type("Teledermatology").name(),
        "dermatology"
    );
    assert_eq!(registry.for_visit_type("stroke").name(), "telestroke");
    assert_eq!(
        registry.for_visit_type("psychiatry").name(),
        "behavioural-health"
    );
    for unknown in ["orthopaedics", "", "dermatolgy"] {
        assert_eq!(registry.for_visit_type(unknown).name(), "general-consult");
        assert!(registry.lookup_visit_type(unknown).is_none());
    }
}

#[test]
fn an_empty_file_has_no_profiles() {
    assert_eq!(parse_profiles(""), Ok(Vec::new()));
}

#[test]
fn out_of_range_values_name_the_field_and_the_range() {
    let cases = [
        (
            with("max_framerate = 30", "max_framerate = 0"),
            "profile 'wound-care': layers[1].max_framerate = 0, must be 1..=120",
        ),
        (
            with("max_framerate = 15", "max_framerate = 240"),
            "profile 'wound-care': layers[0].max_framerate = 240, must be 1..=120",
        ),
        (
            with("max_bitrate = 150000", "max_bitrate = 5000"),
            "profile 'wound-care': layers[0].max_bitrate = 5000, must be 10000..=50000000",
        ),
        (
            with("width = 320\nheight = 180", "width = 8\nheight = 4"),
            "profile 'wound-care': layers[0].width = 8, must be 16..=7680",
        ),
        (
            with(
                "height = 360\nmax_framerate",
                "height = 5000\nmax_framerate",
            ),
            "profile 'wound-care': layers[1].height = 5000, must be 16..=4320",
        ),
        (
            with("rid = \"h\"", "rid = \"half res\""),
            "profile 'wound-care': layers[1].rid = \"half res\", must be 1-16 characters of \
             A-Z, a-z, 0-9, '-' and '_' (RFC 8851)",
        ),
        (
            with("name = \"wound-care\"", "name = \"Wound Care\""),
            "profile 'Wound Care': name = \"Wound Care\", must be 1-64 characters of a-z, 0-9 \
             and '-'",
        ),
        (
            with("\"Wound-Check\"", "\"wound check\""),
            "profile 'wound-care': visit_types[1] = \"wound check\", must be 1-64 characters of \
             A-Z, a-z, 0-9, '-' and '_'",
        ),
        (
            with("min_width = 640", "min_width = 1920"),
            "profile 'wound-care': allocation.floors[0].min_width = 1920, must be at most the \
             top layer's width (640, layers[1]); a floor above the top layer can never be held",
        ),
        (
            with("min_height = 360", "min_height = 360\nmin_framerate = 60"),
            "profile 'wound-care': allocation.floors[0].min_framerate = 60, must be at most the \
             top layer's max_framerate (30, layers[1]); a floor above the top layer can never \
             be held",
        ),
    ];
    for (text, message) in cases {
        assert_eq!(error(&text), message);
    }
}

#[test]
fn values_that_do_not_fit_together_say_why() {
    let cases = [
        (
            with("width = 640\nheight = 360", "width = 320\nheight = 180"),
            "profile 'wound-care': layers[1]: 320x180 is not larger than layers[0] (320x180); \
             layers are listed lowest first and must grow strictly in width and height",
        ),
        (
            with("max_bitrate = 700000", "max_bitrate = 150000"),
            "profile 'wound-care': layers[1].max_bitrate: 150000 is not above \
             layers[0].max_bitrate (150000); a larger layer needs more bits",
        ),
        (
            with("max_framerate = 15", "max_framerate = 60"),
            "profile 'wound-care': layers[1].max_framerate: 30 is below layers[0].max_framerate \
             (60); moving up a layer must not cost frame rate",
        ),
        (
            with("width = 320\nheight = 180", "width = 320\nheight = 240"),
            "profile 'wound-care': layers[0]: 320x240 does not have the top layer's aspect \
             ratio (640x360); a lower layer is the top one scaled down by one factor in both \
             dimensions",
        ),
        (
            with("rid = \"h\"", "rid = \"q\""),
            "profile 'wound-care': layers[1].rid: 'q' is already the rid of layers[0]; rids \
             must be unique",
        ),
        (
            with(
                "ranking = [\"exam-camera\", \"patient-camera\"]",
                "ranking = [\"exam-camera\", \"exam-camera\"]",
            ),
            "profile 'wound-care': allocation.ranking[1]: 'exam-camera' is already ranked at [0]",
        ),
        (
            with(
                "ranking = [\"exam-camera\", \"patient-camera\"]",
                "ranking = [\"audio\", \"patient-camera\"]",
            ),
            "profile 'wound-care': allocation.ranking[0]: audio is always funded first and is \
             not ranked; list video sources only",
        ),
        (
            with("source = \"exam-camera\"", "source = \"audio\""),
            "profile 'wound-care': allocation.floors[0].source: audio has no picture to hold a \
             floor on; floors are for video sources",
        ),
        (
            with("min_width = 640\nmin_height = 360\n", ""),
            "profile 'wound-care': allocation.floors[0]: sets no minimum; give min_width, \
             min_height or min_framerate, or remove it",
        ),
        (
            format!(
                "{WOUND_CARE}\n[[profile.allocation.floors]]\nsource = \"exam-camera\"\n\
                 min_framerate = 10\n"
            ),
            "profile 'wound-care': allocation.floors[1].source: 'exam-camera' already has a \
             floor at allocation.floors[0]; one floor per source",
        ),
        (
            with("\"Wound-Check\"", "\"WOUND-care\""),
            "profile 'wound-care': visit_types[1]: 'WOUND-care' repeats visit_types[0] (visit \
             types are compared case-insensitively)",
        ),
    ];
    for (text, message) in cases {
        assert_eq!(error(&text), message);
    }
}

#[test]
fn layer_count_is_bounded() {
    // No layers at all: drop both [[profile.layers]] tables.
    let start = WOUND_CARE.find("[[profile.layers]]").expect("layers");
    let end = WOUND_CARE.find("[profile.allocation]").expect("allocation");
    let none = format!(
        "{}layers = []\n{}",
        &WOUND_CARE[..start],
        &WOUND_CARE[end..]
    );
    assert_eq!(
        error(&none),
        "profile 'wound-care': layers = 0 layers, must be 1..=3 layers"
    );
    let layers = &WOUND_CARE[start..end];
    let extra = |rid: &str, w: u32, h: u32, bps: u32| {
        format!(
            "[[profile.layers]]\nrid = \"{rid}\"\nwidth = {w}\nheight = {h}\nmax_framerate = 30\n\
             max_bitrate = {bps}\nscalability_mode = \"L1T3\"\n"
        )
    };
    let four = format!(
        "{}{layers}{}{}{}",
        &WOUND_CARE[..start],
        extra("f", 1280, 720, 2_000_000),
        extra("x", 1920, 1080, 4_000_000),
        &WOUND_CARE[end..]
    );
    assert_eq!(
        error(&four),
        "profile 'wound-care': layers = 4 layers, must be 1..=3 layers"
    );
}

#[test]
fn malformed_files_get_the_parsers_message_naming_the_key() {
    let unknown_source = error(&with(
        "source = \"exam-camera\"",
        "source = \"nurse-camera\"",
    ));
    assert!(
        unknown_source.starts_with("profile file: "),
        "{unknown_source}"
    );
    assert!(
        unknown_source.contains("unknown variant `nurse-camera`"),
        "{unknown_source}"
    );
    assert!(
        unknown_source.contains("source = \"nurse-camera\""),
        "{unknown_source}"
    );
    assert!(
        unknown_source.contains("`patient-camera`"),
        "{unknown_source}"
    );

    let unknown_key = error(&with("max_framerate = 15", "max_fps = 15"));
    assert!(
        unknown_key.contains("unknown field `max_fps`"),
        "{unknown_key}"
    );
    assert!(unknown_key.contains("max_framerate"), "{unknown_key}");

    let top_level = error(&format!("profiles_dir = \"x\"\n{WOUND_CARE}"));
    assert!(
        top_level.contains("unknown field `profiles_dir`"),
        "{top_level}"
    );

    let mode = error(&with("\"L1T2\"", "\"L2T3\""));
    assert!(mode.contains("unknown variant `L2T3`"), "{mode}");

    let missing = error(&with("latency = \"standard\"\n", ""));
    assert!(missing.contains("missing field `latency`"), "{missing}");

    let negative = error(&with("max_bitrate = 150000", "max_bitrate = -1"));
    assert!(negative.contains("max_bitrate = -1"), "{negative}");

    let syntax = error("[[profile]\nname = ");
    assert!(syntax.starts_with("profile file: "), "{syntax}");
}

#[test]
fn names_and_visit_types_are_unique() {
    let twice = format!(
        "{WOUND_CARE}\n{}",
        WOUND_CARE.replace("\"wound-care\", \"Wound-Check\"", "\"leg-ulcer\"")
    );
    assert_eq!(
        parse_profiles(&twice),
        Err(Error::DuplicateProfile("wound-care".into()))
    );
    assert_eq!(
        error(&twice),
        "profile 'wound-care' is defined twice; profile names must be unique"
    );

    let shared = format!(
        "{WOUND_CARE}\n{}",
        WOUND_CARE.replace("name = \"wound-care\"", "name = \"ulcer\"")
    );
    assert_eq!(
        error(&shared),
        "visit type 'wound-care' is claimed by profile 'wound-care' and by profile 'ulcer'"
    );

    let mut registry = ProfileRegistry::builtin();
    let takeover = with("name = \"wound-care\"", "name = \"dermatology\"");
    assert_eq!(
        registry.load_toml(&takeover),
        Err(Error::DuplicateProfile("dermatology".into()))
    );
    let steal = with("\"Wound-Check\"", "\"Stroke\"");
    assert_eq!(
        registry.load_toml(&steal),
        Err(Error::DuplicateVisitType {
            visit_type: "stroke".into(),
            first: "telestroke".into(),
            second: "wound-care".into(),
        })
    );
}

#[test]
fn a_failed_load_changes_nothing() {
    let mut registry = ProfileRegistry::builtin();
    // A good profile followed by a bad one.
    let good = WOUND_CARE.replace("\"wound-care\", \"Wound-Check\"", "\"leg-ulcer\"");
    let good = good.replacen("name = \"wound-care\"", "name = \"leg-ulcer\"", 1);
    let bad = with("max_framerate = 30", "max_framerate = 0");
    let file = format!("{good}\n{bad}");
    assert!(registry.load_toml(&file).is_err());
    assert!(registry.get("leg-ulcer").is_none());
    assert_eq!(
        registry.for_visit_type("leg-ulcer").name(),
        "general-consult"
    );
    assert_eq!(registry.profiles().len(), 4);

    // A profile that collides with the registry (not the file) after a good one.
    let collide = with("\"Wound-Check\"", "\"psychiatry\"");
    let file = format!("{good}\n{collide}");
    assert!(matches!(
        registry.load_toml(&file),
        Err(Error::DuplicateVisitType { .. })
    ));
    assert!(registry.get("leg-ulcer").is_none());

    // The same good profile alone loads.
    assert_eq!(registry.load_toml(&good), Ok(1));
    assert_eq!(registry.for_visit_type("leg-ulcer").name(), "leg-ulcer");
}

#[test]
fn add_checks_like_load() {
    let mut registry = ProfileRegistry::builtin();
    let again = builtin::telestroke();
    assert_eq!(
        registry.add(again),
        Err(Error::DuplicateProfile("telestroke".into()))
    );
    let mut spec = builtin::telestroke().into_spec();
    spec.name = "telestroke-research".into();
    spec.visit_types = vec!["stroke-research".into()];
    let profile = ClinicalProfile::new(spec).expect("valid");
    assert_eq!(registry.add(profile), Ok(()));
    assert_eq!(
        registry.for_visit_type("stroke-research").name(),
        "telestroke-research"
    );
}
