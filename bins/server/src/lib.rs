//! telesfu-server: the thin, I/O-owning shell around the sans-IO telesfu crates.
