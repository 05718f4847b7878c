//! Placeholder.
/// Placeholder.
#[derive(Debug)]
pub struct Context;
/// Placeholder.
#[derive(Debug)]
pub struct ContextConfig;
/// Placeholder.
#[derive(Debug)]
pub struct Opened;
