//! Native backend (ring). Placeholder: the backend lands with issue 2.

use super::{CryptoProvider, SuiteProvider};
use crate::CipherSuite;

/// The ring backend.
#[derive(Debug)]
pub struct Ring;

/// The ring backend instance.
pub static RING: Ring = Ring;

impl CryptoProvider for Ring {
    fn name(&self) -> &'static str {
        "ring"
    }

    fn suite(&self, _suite: CipherSuite) -> Option<&'static dyn SuiteProvider> {
        None
    }
}
