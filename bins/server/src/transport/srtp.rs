//! srtp (in progress).
