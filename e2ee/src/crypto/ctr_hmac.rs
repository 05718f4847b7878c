//! AES-CTR + HMAC compound AEAD (RFC 9605 §4.5.1). Placeholder.
