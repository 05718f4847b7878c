//! The checks behind [`super::ClinicalProfile::new`]. Each failure names the profile, the
//! field as a path, and what would be accepted.

use core::ops::RangeInclusive;

use super::{LayerSpec, ProfileSpec, TrackSource};
use crate::Error;

/// Simulcast layers per track. Browsers send at most three simulcast encodings of a camera, and
/// the allocator's layer path grows with the count.
pub(crate) const LAYERS: RangeInclusive<usize> = 1..=3;
/// Layer width in pixels: from a tiny thumbnail to 8K.
pub(crate) const WIDTH: RangeInclusive<u32> = 16..=7680;
/// Layer height in pixels.
pub(crate) const HEIGHT: RangeInclusive<u32> = 16..=4320;
/// Frame rate: browsers capture at most 120 fps.
pub(crate) const FRAMERATE: RangeInclusive<u32> = 1..=120;
/// Bitrate in bits per second: 10 kbps (below which no video encoder makes a picture) to
/// 50 Mbps (above any camera a telehealth client sends).
pub(crate) const BITRATE: RangeInclusive<u32> = 10_000..=50_000_000;
/// Length of names, rids and visit types.
const NAME_LEN: RangeInclusive<usize> = 1..=64;
const RID_LEN: RangeInclusive<usize> = 1..=16;

pub(super) fn check(spec: &ProfileSpec) -> Result<(), Error> {
    let c = Checker {
        profile: &spec.name,
    };
    c.check_name(spec)?;
    c.check_visit_types(spec)?;
    c.check_layers(&spec.layers)?;
    c.check_allocation(spec)?;
    Ok(())
}

struct Checker<'a> {
    profile: &'a str,
}

impl Checker<'_> {
    fn out_of_range(&self, field: String, value: impl ToString, allowed: impl ToString) -> Error {
        Error::OutOfRange {
            profile: self.profile.to_owned(),
            field,
            value: value.to_string(),
            allowed: allowed.to_string(),
        }
    }

    fn invalid(&self, field: String, reason: String) -> Error {
        Error::InvalidProfile {
            profile: self.profile.to_owned(),
            field,
            reason,
        }
    }

    fn range<T: PartialOrd + core::fmt::Display>(
        &self,
        field: impl FnOnce() -> String,
        value: T,
        allowed: &RangeInclusive<T>,
    ) -> Result<(), Error> {
        if allowed.contains(&value) {
            Ok(())
        } else {
            Err(self.out_of_range(
                field(),
                value,
                format_args!("{}..={}", allowed.start(), allowed.end()),
            ))
        }
    }

    fn check_name(&self, spec: &ProfileSpec) -> Result<(), Error> {
        let name = &spec.name;
        let ok = NAME_LEN.contains(&name.len())
            && name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if ok {
            Ok(())
        } else {
            Err(self.out_of_range(
                "name".into(),
                format_args!("{name:?}"),
                "1-64 characters of a-z, 0-9 and '-'",
            ))
        }
    }

    fn check_visit_types(&self, spec: &ProfileSpec) -> Result<(), Error> {
        let mut seen: Vec<String> = Vec::with_capacity(spec.visit_types.len());
        for (i, visit_type) in spec.visit_types.iter().enumerate() {
            let ok = NAME_LEN.contains(&visit_type.len())
                && visit_type
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
            if !ok {
                return Err(self.out_of_range(
                    format!("visit_types[{i}]"),
                    format_args!("{visit_type:?}"),
                    "1-64 characters of A-Z, a-z, 0-9, '-' and '_'",
                ));
            }
            let normal = visit_type.to_ascii_lowercase();
            if let Some(first) = seen.iter().position(|v| *v == normal) {
                return Err(self.invalid(
                    format!("visit_types[{i}]"),
                    format!(
                        "'{visit_type}' repeats visit_types[{first}] (visit types are compared \
                         case-insensitively)"
                    ),
                ));
            }
            seen.push(normal);
        }
        Ok(())
    }

    fn check_layers(&self, layers: &[LayerSpec]) -> Result<(), Error> {
        if !LAYERS.contains(&layers.len()) {
            return Err(self.out_of_range(
                "layers".into(),
                format_args!("{} layers", layers.len()),
                format_args!("{}..={} layers", LAYERS.start(), LAYERS.end()),
            ));
        }
        for (i, layer) in layers.iter().enumerate() {
            let rid_ok = RID_LEN.contains(&layer.rid.len())
                && layer
                    .rid
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
            if !rid_ok {
                return Err(self.out_of_range(
                    format!("layers[{i}].rid"),
                    format_args!("{:?}", layer.rid),
                    "1-16 characters of A-Z, a-z, 0-9, '-' and '_' (RFC 8851)",
                ));
            }
            if let Some(j) = layers[..i].iter().position(|l| l.rid == layer.rid) {
                return Err(self.invalid(
                    format!("layers[{i}].rid"),
                    format!(
                        "'{}' is already the rid of layers[{j}]; rids must be unique",
                        layer.rid
                    ),
                ));
            }
            self.range(|| format!("layers[{i}].width"), layer.width, &WIDTH)?;
            self.range(|| format!("layers[{i}].height"), layer.height, &HEIGHT)?;
            self.range(
                || format!("layers[{i}].max_framerate"),
                layer.max_framerate,
                &FRAMERATE,
            )?;
            self.range(
                || format!("layers[{i}].max_bitrate"),
                layer.max_bitrate,
                &BITRATE,
            )?;
        }
        for (i, pair) in layers.windows(2).enumerate() {
            let (lower, upper) = (&pair[0], &pair[1]);
            let j = i + 1;
            if upper.width <= lower.width || upper.height <= lower.height {
                return Err(self.invalid(
                    format!("layers[{j}]"),
                    format!(
                        "{}x{} is not larger than layers[{i}] ({}x{}); layers are listed lowest \
                         first and must grow strictly in width and height",
                        upper.width, upper.height, lower.width, lower.height
                    ),
                ));
            }
            if upper.max_bitrate <= lower.max_bitrate {
                return Err(self.invalid(
                    format!("layers[{j}].max_bitrate"),
                    format!(
                        "{} is not above layers[{i}].max_bitrate ({}); a larger layer needs more bits",
                        upper.max_bitrate, lower.max_bitrate
                    ),
                ));
            }
            if upper.max_framerate < lower.max_framerate {
                return Err(self.invalid(
                    format!("layers[{j}].max_framerate"),
                    format!(
                        "{} is below layers[{i}].max_framerate ({}); moving up a layer must not \
                         cost frame rate",
                        upper.max_framerate, lower.max_framerate
                    ),
                ));
            }
        }
        let top = &layers[layers.len() - 1];
        for (i, layer) in layers.iter().enumerate() {
            // Same aspect ratio: w/h == W/H, compared exactly in integers.
            if u64::from(layer.width) * u64::from(top.height)
                != u64::from(layer.height) * u64::from(top.width)
            {
                return Err(self.invalid(
                    format!("layers[{i}]"),
                    format!(
                        "{}x{} does not have the top layer's aspect ratio ({}x{}); a lower layer \
                         is the top one scaled down by one factor in both dimensions",
                        layer.width, layer.height, top.width, top.height
                    ),
                ));
            }
        }
        Ok(())
    }

    fn check_allocation(&self, spec: &ProfileSpec) -> Result<(), Error> {
        let allocation = &spec.allocation;
        for (i, source) in allocation.ranking.iter().enumerate() {
            if !source.is_video() {
                return Err(self.invalid(
                    format!("allocation.ranking[{i}]"),
                    "audio is always funded first and is not ranked; list video sources only"
                        .into(),
                ));
            }
            if let Some(j) = allocation.ranking[..i].iter().position(|s| s == source) {
                return Err(self.invalid(
                    format!("allocation.ranking[{i}]"),
                    format!("'{}' is already ranked at [{j}]", source.as_str()),
                ));
            }
        }
        // Layers were checked first, so there is a top layer.
        let top = &spec.layers[spec.layers.len() - 1];
        for (i, floor) in allocation.floors.iter().enumerate() {
            let field = |name: &str| format!("allocation.floors[{i}].{name}");
            if floor.source == TrackSource::Audio {
                return Err(self.invalid(
                    field("source"),
                    "audio has no picture to hold a floor on; floors are for video sources".into(),
                ));
            }
            if let Some(j) = allocation.floors[..i]
                .iter()
                .position(|f| f.source == floor.source)
            {
                return Err(self.invalid(
                    field("source"),
                    format!(
                        "'{}' already has a floor at allocation.floors[{j}]; one floor per source",
                        floor.source.as_str()
                    ),
                ));
            }
            if floor.min_width == 0 && floor.min_height == 0 && floor.min_framerate == 0 {
                return Err(self.invalid(
                    format!("allocation.floors[{i}]"),
                    "sets no minimum; give min_width, min_height or min_framerate, or remove it"
                        .into(),
                ));
            }
            let checks = [
                ("min_width", floor.min_width, top.width, "width"),
                ("min_height", floor.min_height, top.height, "height"),
                (
                    "min_framerate",
                    floor.min_framerate,
                    top.max_framerate,
                    "max_framerate",
                ),
            ];
            for (name, value, limit, top_field) in checks {
                if value > limit {
                    return Err(self.out_of_range(
                        field(name),
                        value,
                        format_args!(
                            "at most the top layer's {top_field} ({limit}, layers[{}]); a floor \
                             above the top layer can never be held",
                            spec.layers.len() - 1
                        ),
                    ));
                }
            }
        }
        Ok(())
    }
}
