//! Bodies of the fuzz targets in `fuzz/`. They live here, compiled in every build, so they
//! cannot rot; the targets are one-line shims, and the tests replay the committed seed corpus
//! through the same functions in `cargo test`.
//!
//! Each body asserts invariants, so the fuzzer finds wrong answers, not only panics.

use crate::media::{
    Codec, clear_prefix_len, frame_info, h264_escape, h264_escaped_len, h264_max_escaped_len,
    h264_unescape_in_place, open_frame, seal_buffer_len, seal_frame,
};
use crate::{CipherSuite, Context, KeyId};

/// `media_frame`: the first byte picks the codec, the rest is a frame. The prefix parsers never
/// panic and agree with each other; escaping round-trips; raw bytes never open; a frame that
/// seals opens back to itself; a seal is refused only for a frame the prefix rule rejects.
pub fn media_frame(data: &[u8]) {
    let Some((&selector, frame)) = data.split_first() else {
        return;
    };
    let codecs = [
        Codec::Vp8,
        Codec::Opus,
        Codec::H264,
        Codec::Av1,
        Codec::Plain,
    ];
    let codec = codecs[usize::from(selector) % codecs.len()];

    let prefix = clear_prefix_len(codec, frame);
    let info = frame_info(codec, frame);
    assert_eq!(prefix.is_ok(), info.is_ok(), "parsers disagree on {codec}");
    if let Ok(p) = prefix {
        assert!(p <= frame.len(), "prefix longer than the frame");
    }

    let mut escaped = vec![0u8; h264_max_escaped_len(frame.len())];
    let n = h264_escape(frame, &mut escaped).expect("worst-case room");
    assert_eq!(n, h264_escaped_len(frame));
    let m = h264_unescape_in_place(&mut escaped[..n]);
    assert_eq!(&escaped[..m], frame, "unescape(escape(x)) != x");

    // KID 0x1000000: its header holds `00 00 00`, so H.264 frames always exercise escaping.
    let kid = KeyId(0x0100_0000);
    let suite = CipherSuite::Aes128GcmSha256;
    let mut tx = Context::new(suite).expect("AES-128-GCM is in every build");
    let mut rx = Context::new(suite).expect("AES-128-GCM is in every build");
    tx.add_send_key(kid, b"fuzz base key...")
        .expect("fresh context, valid key");
    rx.add_recv_key(kid, b"fuzz base key...")
        .expect("fresh context, valid key");
    let mut raw = frame.to_vec();
    assert!(
        open_frame(&mut rx, codec, &mut raw).is_err(),
        "unsealed bytes opened"
    );

    let mut buf = vec![0u8; seal_buffer_len(&tx, codec, frame.len())];
    buf[..frame.len()].copy_from_slice(frame);
    match seal_frame(&mut tx, codec, kid, &mut buf, frame.len()) {
        Ok(w) => {
            let (_, n) = open_frame(&mut rx, codec, &mut buf[..w]).expect("own frame opens");
            assert_eq!(&buf[..n], frame, "round trip changed the frame");
        }
        Err(e) => assert!(prefix.is_err(), "seal refused a valid frame: {e}"),
    }
}
