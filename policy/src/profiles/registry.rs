//! Choosing a profile by visit type, and custom profiles from TOML.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{ClinicalProfile, ProfileSpec, builtin};
use crate::Error;

/// The profiles a deployment knows, and which visit type selects which.
///
/// Built from [`ProfileRegistry::builtin`] (the four built-ins), then extended with
/// [`ProfileRegistry::add`] or [`ProfileRegistry::load_toml`]. Profile names and visit types
/// are unique across the registry, built-ins included; a custom profile cannot take over a
/// built-in's name or visit types.
///
/// The server calls [`ProfileRegistry::for_visit_type`] when it creates a room, with the visit
/// type from the scheduling system; nobody picks a profile by hand. A visit type that no
/// profile claims gets [`builtin::general_consult`]: balanced settings that suit any visit, so an
/// unknown or misspelt visit type degrades to a sensible call rather than failing to start one.
/// Use [`ProfileRegistry::lookup_visit_type`] to notice (and log) that case.
#[derive(Debug, Clone)]
pub struct ProfileRegistry {
    catalogue: Catalogue,
    /// Index of general consult, which is always present.
    fallback: usize,
}

impl ProfileRegistry {
    /// The four built-in profiles.
    pub fn builtin() -> Self {
        let mut catalogue = Catalogue::default();
        for profile in builtin::all() {
            // The built-ins have distinct names and visit types (tested by `builtins_validate`).
            catalogue
                .insert(profile)
                .expect("built-in profiles do not collide (tested)");
        }
        let fallback = catalogue
            .position(builtin::GENERAL_CONSULT)
            .expect("general consult is a built-in");
        Self {
            catalogue,
            fallback,
        }
    }

    /// The profile for a visit type, compared after trimming whitespace and ASCII
    /// lower-casing. A visit type no profile claims falls back to general consult.
    pub fn for_visit_type(&self, visit_type: &str) -> &ClinicalProfile {
        self.lookup_visit_type(visit_type)
            .unwrap_or(&self.catalogue.profiles[self.fallback])
    }

    /// The profile that claims a visit type, or `None` (where [`Self::for_visit_type`] would
    /// fall back to general consult).
    pub fn lookup_visit_type(&self, visit_type: &str) -> Option<&ClinicalProfile> {
        let key = visit_type.trim().to_ascii_lowercase();
        self.catalogue
            .visit_types
            .get(&key)
            .map(|&i| &self.catalogue.profiles[i])
    }

    /// The profile with this name.
    pub fn get(&self, name: &str) -> Option<&ClinicalProfile> {
        self.catalogue
            .position(name)
            .map(|i| &self.catalogue.profiles[i])
    }

    /// Every profile, built-ins first, then in the order added.
    pub fn profiles(&self) -> impl ExactSizeIterator<Item = &ClinicalProfile> {
        self.catalogue.profiles.iter()
    }

    /// Adds a profile. Fails, changing nothing, if its name or one of its visit types is
    /// taken.
    pub fn add(&mut self, profile: ClinicalProfile) -> Result<(), Error> {
        self.catalogue.check(&profile)?;
        self.catalogue.insert_unchecked(profile);
        Ok(())
    }

    /// Adds every profile of a TOML profile file (see [`parse_profiles`] for the format) and
    /// returns how many. All or nothing: on any error the registry is unchanged.
    pub fn load_toml(&mut self, text: &str) -> Result<usize, Error> {
        let profiles = parse_profiles(text)?;
        let mut staged = self.catalogue.clone();
        for profile in &profiles {
            staged.check(profile)?;
            staged.insert_unchecked(profile.clone());
        }
        self.catalogue = staged;
        Ok(profiles.len())
    }
}

impl Default for ProfileRegistry {
    fn default() -> Self {
        Self::builtin()
    }
}

/// Profiles by name, and visit types to profiles.
#[derive(Debug, Clone, Default)]
struct Catalogue {
    profiles: Vec<ClinicalProfile>,
    /// Normalised visit type → index into `profiles`.
    visit_types: BTreeMap<String, usize>,
}

impl Catalogue {
    fn position(&self, name: &str) -> Option<usize> {
        self.profiles.iter().position(|p| p.name() == name)
    }

    fn check(&self, profile: &ClinicalProfile) -> Result<(), Error> {
        if self.position(profile.name()).is_some() {
            return Err(Error::DuplicateProfile(profile.name().to_owned()));
        }
        for visit_type in profile.visit_types() {
            let key = visit_type.to_ascii_lowercase();
            if let Some(&i) = self.visit_types.get(&key) {
                return Err(Error::DuplicateVisitType {
                    visit_type: key,
                    first: self.profiles[i].name().to_owned(),
                    second: profile.name().to_owned(),
                });
            }
        }
        Ok(())
    }

    fn insert(&mut self, profile: ClinicalProfile) -> Result<(), Error> {
        self.check(&profile)?;
        self.insert_unchecked(profile);
        Ok(())
    }

    fn insert_unchecked(&mut self, profile: ClinicalProfile) {
        let index = self.profiles.len();
        for visit_type in profile.visit_types() {
            self.visit_types
                .insert(visit_type.to_ascii_lowercase(), index);
        }
        self.profiles.push(profile);
    }
}

/// The shape of a profile file: `[[profile]]` tables.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ProfileFile {
    #[serde(default)]
    profile: Vec<ProfileSpec>,
}

#[derive(Serialize)]
struct ProfileFileRef<'a> {
    profile: Vec<&'a ProfileSpec>,
}

/// Parses and validates a TOML profile file: an array of `[[profile]]` tables, each a
/// [`ProfileSpec`]. Unknown keys are errors, names and visit types must be unique in the file,
/// and every profile must pass [`ClinicalProfile::new`].
///
/// ```toml
/// [[profile]]
/// name = "wound-care"
/// visit_types = ["wound-care", "wound-check"]
/// degradation_preference = "maintain-resolution"   # or "maintain-framerate", "balanced"
/// color_space = "bt709"                            # optional
/// content_hint = "detail"                          # optional: "detail" or "motion"
/// # focus_region = "face"                          # optional
///
/// [[profile.layers]]                               # lowest first, 1-3 layers
/// rid = "q"
/// width = 320
/// height = 180
/// max_framerate = 15                               # 1..=120
/// max_bitrate = 150000                             # bits/s, 10000..=50000000
/// scalability_mode = "L1T2"                        # "L1T1", "L1T2" or "L1T3"
///
/// [[profile.layers]]
/// rid = "h"
/// width = 640
/// height = 360
/// max_framerate = 30
/// max_bitrate = 700000
/// scalability_mode = "L1T3"
///
/// [profile.allocation]
/// ranking = ["exam-camera", "patient-camera"]      # video sources; audio is always first
/// layer_order = "spatial-first"                    # or "temporal-first", "balanced"
/// latency = "standard"                             # or "lowest"
///
/// [[profile.allocation.floors]]
/// source = "exam-camera"
/// min_width = 640                                  # 0 or omitted: no minimum
/// min_height = 360
/// min_framerate = 0
/// alert = true
/// ```
pub fn parse_profiles(text: &str) -> Result<Vec<ClinicalProfile>, Error> {
    let file: ProfileFile = toml::from_str(text).map_err(|e| Error::Toml(e.to_string()))?;
    let mut catalogue = Catalogue::default();
    for spec in file.profile {
        catalogue.insert(ClinicalProfile::new(spec)?)?;
    }
    Ok(catalogue.profiles)
}

/// Writes profiles as a TOML profile file that [`parse_profiles`] reads back to equal
/// profiles.
pub fn profiles_to_toml<'a>(
    profiles: impl IntoIterator<Item = &'a ClinicalProfile>,
) -> Result<String, Error> {
    let file = ProfileFileRef {
        profile: profiles.into_iter().map(ClinicalProfile::spec).collect(),
    };
    toml::to_string(&file).map_err(|e| Error::Toml(e.to_string()))
}
