//! The crate's one error type.

/// Everything that can go wrong building profiles or a registry.
///
/// All variants are configuration faults: a profile or a profile file that a person wrote is
/// wrong, and the message says which profile, which field, and what would be accepted. Nothing
/// here comes from the network.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The text is not TOML, or does not have the shape of a profile file: a syntax error, a
    /// wrong type, an unknown key or an unknown enum value (such as a track source). The message
    /// is the parser's, which quotes the offending line and names the key.
    #[error("profile file: {0}")]
    Toml(String),
    /// A number or a name outside what the field accepts.
    #[error("profile '{profile}': {field} = {value}, must be {allowed}")]
    OutOfRange {
        /// The profile's name (as written, possibly empty or invalid).
        profile: String,
        /// The field, as a path into the profile (`layers[1].max_framerate`).
        field: String,
        /// The value found.
        value: String,
        /// What the field accepts (`1..=120`).
        allowed: String,
    },
    /// The fields are each fine but do not fit together (layers not growing, a floor above the
    /// top layer, a source ranked twice).
    #[error("profile '{profile}': {field}: {reason}")]
    InvalidProfile {
        /// The profile's name.
        profile: String,
        /// The field, as a path into the profile.
        field: String,
        /// What is wrong and how to fix it.
        reason: String,
    },
    /// Two profiles share a name (names are compared exactly).
    #[error("profile '{0}' is defined twice; profile names must be unique")]
    DuplicateProfile(String),
    /// Two profiles claim one visit type (compared after trimming and ASCII lower-casing).
    #[error("visit type '{visit_type}' is claimed by profile '{first}' and by profile '{second}'")]
    DuplicateVisitType {
        /// The visit type, normalised.
        visit_type: String,
        /// The profile that claimed it first.
        first: String,
        /// The profile that claimed it again.
        second: String,
    },
}
