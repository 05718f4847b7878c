//! Pure-Rust backend (RustCrypto). Placeholder: the backend lands with issue 2.

use super::{CryptoProvider, SuiteProvider};
use crate::CipherSuite;

/// The RustCrypto backend.
#[derive(Debug)]
pub struct RustCrypto;

/// The RustCrypto backend instance.
pub static RUST_CRYPTO: RustCrypto = RustCrypto;

impl CryptoProvider for RustCrypto {
    fn name(&self) -> &'static str {
        "rust-crypto"
    }

    fn suite(&self, _suite: CipherSuite) -> Option<&'static dyn SuiteProvider> {
        None
    }
}
