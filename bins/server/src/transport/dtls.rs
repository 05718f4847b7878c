//! dtls (in progress).
