//! Prints what the server sends a publishing client for each built-in profile: the
//! `RTCRtpSendParameters`-shaped JSON (degradation preference and one encoding per simulcast
//! layer), with the visit types that select it.
//!
//! `cargo run -p telesfu-policy --example profiles`

use telesfu_policy::profiles::ProfileRegistry;

fn main() -> Result<(), serde_json::Error> {
    let registry = ProfileRegistry::builtin();
    for profile in registry.profiles() {
        println!(
            "# {} (visit types: {})",
            profile.name(),
            profile.visit_types().join(", ")
        );
        println!(
            "{}",
            serde_json::to_string_pretty(&profile.publisher_params())?
        );
    }
    Ok(())
}
