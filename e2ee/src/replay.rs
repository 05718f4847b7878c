//! Placeholder.
/// Placeholder.
#[derive(Debug)]
pub struct ReplayWindow;
