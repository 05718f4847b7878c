//! Fuzz target bodies, compiled only with `--cfg fuzzing`. The `fuzz/` workspace holds thin
//! shims that call these.

use crate::agreement::{Announcement, KeyDelivery, KeyMessage};

/// Any bytes as a key message: decoding never panics, and whatever decodes re-encodes to the
/// same bytes (every message has exactly one encoding).
pub fn key_message(data: &[u8]) {
    match KeyMessage::decode(data) {
        Ok(KeyMessage::Announcement(a)) => {
            assert_eq!(&a.encode()[..], data);
            assert_eq!(Announcement::decode(data).as_ref(), Ok(&a));
        }
        Ok(KeyMessage::KeyDelivery(d)) => {
            assert_eq!(&d.encode()[..], data);
            assert_eq!(KeyDelivery::decode(data).as_ref(), Ok(&d));
        }
        Err(_) => {}
    }
}
