//! ice (in progress).
