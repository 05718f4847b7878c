//! demux (in progress).
