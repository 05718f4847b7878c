//! The codec-aware clear prefix: SFrame for media that an SFU still has to route.
//!
//! An SFU switching simulcast layers must see keyframes (and, for VP8, the keyframe's
//! dimensions) in media it cannot decrypt. So the first bytes of each encoded frame, the codec
//! header the SFU and the RTP packetizer read, stay in clear. They are not left unprotected:
//! they are the SFrame `metadata`, so they are authenticated with the frame and a change to
//! any of them makes the open fail. The wire frame is
//!
//! ```text
//! clear prefix || SFrame ciphertext          SFrame ciphertext = header || AEAD(payload) || tag
//!                                             AAD               = header || metadata
//! ```
//!
//! | [`Codec`] | clear prefix | metadata |
//! |---|---|---|
//! | [`Codec::Vp8`] | frame tag (3 bytes); on keyframes also start code and dimensions (10 bytes) | the prefix |
//! | [`Codec::Opus`] | the TOC byte | the prefix |
//! | [`Codec::H264`] | Annex B up to and including the NAL header byte of the first slice | canonical form: each NAL unit behind `00 00 00 01` |
//! | [`Codec::Av1`] | none: the SFU reads the dependency descriptor RTP header extension | empty |
//! | [`Codec::Plain`] | none: RFC 9605 as is | empty |
//!
//! For H.264 the bytes after the prefix are emulation-prevention escaped (H.264 §7.4.1) so the
//! packetizer finds no start code inside the ciphertext. `docs/e2ee-wire-format.md` specifies
//! all of it byte by byte, with worked examples, for clients written in other languages.
//!
//! ## Use
//!
//! ```
//! use telesfu_e2ee::media::{self, Codec, FrameInfo};
//! use telesfu_e2ee::{CipherSuite, Context, KeyId};
//!
//! # fn main() -> Result<(), telesfu_e2ee::Error> {
//! let mut alice = Context::new(CipherSuite::Aes128GcmSha256)?;
//! let mut bob = Context::new(CipherSuite::Aes128GcmSha256)?;
//! alice.add_send_key(KeyId(1), &[7; 16])?;
//! bob.add_recv_key(KeyId(1), &[7; 16])?;
//!
//! // A VP8 keyframe, 640x480, as the encoder hands it over.
//! let frame = [0x30, 0x02, 0x00, 0x9d, 0x01, 0x2a, 0x80, 0x02, 0xe0, 0x01, 0xaa, 0xbb, 0xcc];
//! // One buffer, reused for every frame: the frame, then spare room.
//! let mut buf = vec![0u8; media::seal_buffer_len(&alice, Codec::Vp8, frame.len())];
//! buf[..frame.len()].copy_from_slice(&frame);
//! let n = media::seal_frame(&mut alice, Codec::Vp8, KeyId(1), &mut buf, frame.len())?;
//!
//! // The SFU reads the clear prefix of the encrypted frame.
//! let FrameInfo::Vp8(vp8) = media::frame_info(Codec::Vp8, &buf[..n])? else { unreachable!() };
//! assert!(vp8.keyframe);
//! assert_eq!(vp8.dimensions.map(|d| (d.width, d.height)), Some((640, 480)));
//!
//! // The receiver gets the original frame back in the same buffer.
//! let (opened, len) = media::open_frame(&mut bob, Codec::Vp8, &mut buf[..n])?;
//! assert_eq!(&buf[..len], &frame);
//! assert_eq!(opened.kid, KeyId(1));
//! # Ok(()) }
//! ```
//!
//! ## Design
//!
//! - One buffer per frame, no allocation: [`seal_frame`] moves the payload right by the SFrame
//!   header's length (a `memmove`, cheap next to the AEAD) and seals it in place; [`open_frame`]
//!   moves the plaintext back next to the prefix. The H.264 canonical metadata is built in a
//!   stack buffer of [`MAX_CLEAR_PREFIX_LEN`] bytes.
//! - A seal checks everything that can fail (the frame, the key, the room) before the context
//!   consumes a counter, so a refused seal changes nothing.
//! - Sender and receiver compute the prefix length from the bytes in front of them with the
//!   same rule ([`clear_prefix_len`]), so nothing about it travels on the wire.
//! - The parsers ([`frame_info`], [`Vp8Info::parse`], [`OpusToc::parse`], [`H264Info::parse`])
//!   read only the clear prefix, so they work on an encrypted frame as on a plain one, and never
//!   panic on any input. `crate::fuzz::media_frame` is their fuzz body.
//! - H.264 ends the prefix at the slice's NAL header byte. libwebrtc receivers also read the
//!   slice header's `pic_parameter_set_id` on IDR frames; whether that needs more clear bytes is
//!   an open interop question (see the wire-format document, §9).
//!
//! ## Errors
//!
//! A frame that breaks its codec's prefix rule is [`Error::InvalidFrame`] (or
//! [`Error::MetadataTooLong`] for an oversized H.264 prefix), on both sides: a sender never
//! sends such a frame in clear, a receiver drops it. A buffer too small for a seal is
//! [`Error::BufferTooSmall`] with the exact size needed. Everything else comes from the
//! [`Context`].

use core::fmt;

use crate::{Context, Error, KeyId, Opened};

/// The longest clear prefix accepted, counted in its metadata form (for H.264 the canonical
/// form, which is longer than the prefix when it has 3-byte start codes). It equals the
/// context's metadata limit.
pub const MAX_CLEAR_PREFIX_LEN: usize = 1024;

const VP8_TAG_LEN: usize = 3;
const VP8_KEYFRAME_PREFIX_LEN: usize = 10;
const VP8_START_CODE: [u8; 3] = [0x9d, 0x01, 0x2a];
const CANONICAL_START_CODE: [u8; 4] = [0, 0, 0, 1];

/// A media codec, as far as its clear prefix goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Codec {
    /// VP8 (RFC 6386): the 3-byte frame tag stays clear; on keyframes also the start code and
    /// the dimensions (10 bytes).
    Vp8,
    /// Opus (RFC 6716): the TOC byte stays clear.
    Opus,
    /// H.264 in Annex B form: everything up to and including the NAL header byte of the first
    /// slice stays clear (parameter sets, SEI, access unit delimiter); the rest is escaped.
    H264,
    /// AV1: nothing stays clear. The SFU routes on the dependency descriptor RTP header
    /// extension, which the packetizer writes outside the frame.
    Av1,
    /// No prefix, empty metadata: RFC 9605 as is. For other codecs whose packetizer does not read
    /// the payload (VP9's descriptor comes from the encoder's metadata), or for data.
    Plain,
}

impl Codec {
    /// The codec for a WebRTC MIME type (`"video/VP8"`, `"audio/opus"`, `"video/H264"`,
    /// `"video/AV1"`), case-insensitive, parameters after `;` ignored. `None` for any other
    /// codec: choose [`Codec::Plain`] or refuse E2EE for it explicitly.
    pub fn from_mime(mime: &str) -> Option<Self> {
        let essence = mime.split(';').next().unwrap_or_default().trim();
        [Self::Vp8, Self::Opus, Self::H264, Self::Av1]
            .into_iter()
            .find(|c| {
                c.mime_type()
                    .is_some_and(|m| m.eq_ignore_ascii_case(essence))
            })
    }

    /// The MIME type WebRTC uses for the codec; `None` for [`Codec::Plain`].
    pub const fn mime_type(self) -> Option<&'static str> {
        match self {
            Self::Vp8 => Some("video/VP8"),
            Self::Opus => Some("audio/opus"),
            Self::H264 => Some("video/H264"),
            Self::Av1 => Some("video/AV1"),
            Self::Plain => None,
        }
    }

    /// Short name for logs and errors: `"VP8"`, `"Opus"`, `"H.264"`, `"AV1"`, `"plain"`.
    pub const fn name(self) -> &'static str {
        match self {
            Self::Vp8 => "VP8",
            Self::Opus => "Opus",
            Self::H264 => "H.264",
            Self::Av1 => "AV1",
            Self::Plain => "plain",
        }
    }

    /// True when the bytes after the prefix are emulation-prevention escaped on the wire.
    const fn escapes(self) -> bool {
        matches!(self, Self::H264)
    }
}

impl fmt::Display for Codec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

fn invalid(codec: Codec, reason: &'static str) -> Error {
    Error::InvalidFrame {
        codec: codec.name(),
        reason,
    }
}

// ----- Prefix rules -----

/// Length of the clear prefix of `frame` for `codec`.
///
/// The same on the unencrypted frame and on the wire frame it becomes: the receiver calls it on
/// what it received and gets the length the sender used. (For H.264 a receiver's depacketizer
/// may lengthen start codes inside the prefix; the answer is then the prefix's length in the
/// bytes given.)
///
/// Errors: [`Error::InvalidFrame`] when the frame lacks the codec header the rule needs (VP8:
/// under 3 bytes, or a keyframe under 10 bytes or without the start code `9d 01 2a`; Opus:
/// empty; H.264: no leading start code, or no slice NAL unit), and
/// [`Error::MetadataTooLong`] when an H.264 prefix's canonical form exceeds
/// [`MAX_CLEAR_PREFIX_LEN`].
pub fn clear_prefix_len(codec: Codec, frame: &[u8]) -> Result<usize, Error> {
    match codec {
        Codec::Vp8 => vp8_prefix_len(frame),
        Codec::Opus => opus_prefix_len(frame),
        Codec::H264 => h264_scan(frame, None).map(|s| s.prefix_len),
        Codec::Av1 | Codec::Plain => Ok(0),
    }
}

fn vp8_prefix_len(frame: &[u8]) -> Result<usize, Error> {
    let &[tag0, ..] = frame else {
        return Err(invalid(Codec::Vp8, "empty frame"));
    };
    if frame.len() < VP8_TAG_LEN {
        return Err(invalid(Codec::Vp8, "shorter than the 3-byte frame tag"));
    }
    if tag0 & 0x01 != 0 {
        return Ok(VP8_TAG_LEN);
    }
    if frame.len() < VP8_KEYFRAME_PREFIX_LEN {
        return Err(invalid(
            Codec::Vp8,
            "keyframe shorter than 10 bytes (frame tag, start code, dimensions)",
        ));
    }
    if frame[3..6] != VP8_START_CODE {
        return Err(invalid(
            Codec::Vp8,
            "keyframe without the start code 9d 01 2a",
        ));
    }
    Ok(VP8_KEYFRAME_PREFIX_LEN)
}

fn opus_prefix_len(frame: &[u8]) -> Result<usize, Error> {
    if frame.is_empty() {
        return Err(invalid(Codec::Opus, "empty frame (no TOC byte)"));
    }
    Ok(1)
}

/// Where the metadata of a frame comes from, once its prefix is parsed.
#[derive(Clone, Copy)]
enum Metadata {
    /// No metadata.
    Empty,
    /// The clear prefix itself.
    Prefix,
    /// The first `n` bytes of the canonical-form scratch buffer.
    Canonical(usize),
}

impl Metadata {
    fn bytes<'a>(self, prefix: &'a [u8], canonical: &'a [u8; MAX_CLEAR_PREFIX_LEN]) -> &'a [u8] {
        match self {
            Self::Empty => &[],
            Self::Prefix => prefix,
            // `h264_scan` returns a canonical length above the buffer's size only as an error.
            Self::Canonical(n) => &canonical[..n],
        }
    }
}

/// Parses the prefix of `frame`; for H.264 also writes the canonical form to `canonical`.
fn parse_prefix(
    codec: Codec,
    frame: &[u8],
    canonical: &mut [u8; MAX_CLEAR_PREFIX_LEN],
) -> Result<(usize, Metadata), Error> {
    match codec {
        Codec::Vp8 => Ok((vp8_prefix_len(frame)?, Metadata::Prefix)),
        Codec::Opus => Ok((opus_prefix_len(frame)?, Metadata::Prefix)),
        Codec::H264 => {
            let s = h264_scan(frame, Some(canonical))?;
            Ok((s.prefix_len, Metadata::Canonical(s.canonical_len)))
        }
        Codec::Av1 | Codec::Plain => Ok((0, Metadata::Empty)),
    }
}

// ----- H.264 Annex B -----

/// What a walk over an H.264 frame's prefix found.
struct H264Scan {
    prefix_len: usize,
    canonical_len: usize,
    nal_types: u32,
    slice_type: u8,
}

/// Index of the first byte of the first `00 00 01` at or after `from`.
fn find_start_code(data: &[u8], from: usize) -> Option<usize> {
    let mut i = from;
    while let Some(w) = data.get(i..i + 3) {
        if w[2] > 1 {
            // No start code can begin at i, i + 1 or i + 2.
            i += 3;
        } else if w == [0, 0, 1] {
            return Some(i);
        } else {
            i += 1;
        }
    }
    None
}

/// True for the VCL NAL unit types that end the prefix: 1 (non-IDR slice), 2-4 (slice data
/// partitions A-C) and 5 (IDR slice).
const fn is_slice(nal_type: u8) -> bool {
    matches!(nal_type, 1..=5)
}

/// Walks the NAL units of an Annex B frame up to the first slice (type 1-5).
///
/// A start code is `00 00 01`; the zero bytes right before it belong to it (leading zeros, the
/// fourth byte of a 4-byte start code, trailing zeros of the previous NAL unit). Each start code
/// opens a NAL unit, which may be empty. With `canonical`, writes `00 00 00 01 || NAL unit` for
/// each NAL unit before the slice and `00 00 00 01 || slice NAL header byte` for the slice.
fn h264_scan(
    frame: &[u8],
    mut canonical: Option<&mut [u8; MAX_CLEAR_PREFIX_LEN]>,
) -> Result<H264Scan, Error> {
    let zeros = frame.iter().take_while(|&&b| b == 0).count();
    if zeros < 2 || frame.get(zeros) != Some(&1) {
        return Err(invalid(
            Codec::H264,
            "does not start with an Annex B start code (00 00 01 or 00 00 00 01)",
        ));
    }
    let mut start = zeros + 1;
    let mut canonical_len = 0usize;
    let mut nal_types = 0u32;
    loop {
        let next = find_start_code(frame, start);
        let mut end = next.unwrap_or(frame.len());
        while end > start && frame[end - 1] == 0 {
            end -= 1;
        }
        // The NAL unit, or for the slice just its header byte. An empty one (a start code right
        // after another) has no type.
        let nal_type = (end > start).then(|| frame[start] & 0x1f);
        let slice = nal_type.is_some_and(is_slice);
        let nal = &frame[start..if slice { start + 1 } else { end }];
        let at = canonical_len;
        canonical_len += CANONICAL_START_CODE.len() + nal.len();
        if let Some(out) = canonical.as_deref_mut()
            && let Some(dst) = out.get_mut(at..canonical_len)
        {
            dst[..4].copy_from_slice(&CANONICAL_START_CODE);
            dst[4..].copy_from_slice(nal);
        }
        if let Some(t) = nal_type {
            nal_types |= 1 << t;
            if slice {
                if canonical_len > MAX_CLEAR_PREFIX_LEN {
                    return Err(Error::MetadataTooLong {
                        len: canonical_len,
                        max: MAX_CLEAR_PREFIX_LEN,
                    });
                }
                return Ok(H264Scan {
                    prefix_len: start + 1,
                    canonical_len,
                    nal_types,
                    slice_type: t,
                });
            }
        }
        match next {
            Some(sc) => start = sc + 3,
            None => {
                return Err(invalid(Codec::H264, "no slice NAL unit (type 1-5)"));
            }
        }
    }
}

/// Index of the first zero byte in `data` at or after `from` (`data.len()` if none).
fn next_zero(data: &[u8], from: usize) -> usize {
    const LOW: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let mut i = from;
    // Eight bytes at a time: `(v - LOW) & !v & HIGH` is non-zero iff a byte of `v` is zero.
    while let Some(chunk) = data.get(i..i + 8) {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        let v = u64::from_ne_bytes(word);
        if v.wrapping_sub(LOW) & !v & HIGH != 0 {
            break;
        }
        i += 8;
    }
    while data.get(i).is_some_and(|&b| b != 0) {
        i += 1;
    }
    i.min(data.len())
}

/// Bytes that escaping `data` adds.
fn escape_growth(data: &[u8]) -> usize {
    let mut growth = 0;
    let mut i = 0;
    loop {
        i = next_zero(data, i);
        if i >= data.len() {
            return growth;
        }
        // A run of zeros, entered with no zeros before it, and the byte that ends it.
        let mut zeros = 0usize;
        loop {
            let Some(&b) = data.get(i) else {
                if zeros >= 2 {
                    growth += 1;
                }
                return growth;
            };
            if zeros >= 2 && b <= 3 {
                growth += 1;
                zeros = 0;
            }
            i += 1;
            if b != 0 {
                break;
            }
            zeros += 1;
        }
    }
}

/// Writes the escaped form of `buf[src..src + len]` to `buf[dst..]` and returns where it ends.
///
/// Needs `dst + escape_growth(&buf[src..src + len]) <= src`: the write position then never
/// passes the read position (each insertion moves it one closer), so unread bytes are never
/// overwritten and every index stays below `src + len`.
fn escape_within(buf: &mut [u8], src: usize, len: usize, dst: usize) -> usize {
    let end = src + len;
    let (mut r, mut w) = (src, dst);
    loop {
        let z = next_zero(&buf[..end], r);
        if w != r {
            buf.copy_within(r..z, w);
        }
        w += z - r;
        r = z;
        if r >= end {
            return w;
        }
        let mut zeros = 0usize;
        loop {
            if r == end {
                if zeros >= 2 {
                    buf[w] = 3;
                    w += 1;
                }
                return w;
            }
            let b = buf[r];
            if zeros >= 2 && b <= 3 {
                buf[w] = 3;
                w += 1;
                zeros = 0;
            }
            buf[w] = b;
            w += 1;
            r += 1;
            if b != 0 {
                break;
            }
            zeros += 1;
        }
    }
}

/// The length of `data` after H.264 emulation prevention ([`h264_escape`]).
pub fn h264_escaped_len(data: &[u8]) -> usize {
    data.len() + escape_growth(data)
}

/// The most `len` bytes can grow to under H.264 emulation prevention: `len + len / 2` (every
/// inserted `03` follows two input zero bytes).
pub const fn h264_max_escaped_len(len: usize) -> usize {
    len.saturating_add(len / 2)
}

/// H.264 emulation prevention (§7.4.1), applied to arbitrary bytes: copies `src` to `dst`,
/// inserting `03` wherever two zero bytes are followed by a byte `<= 03`, and appending a final
/// `03` when the output would end in two zero bytes. Returns the output length. Escaping starts
/// with no zero bytes before `src` (on the wire, the byte before it is a NAL header byte,
/// never zero).
///
/// The output never contains `00 00 00`, `00 00 01`, `00 00 02` or an `00 00 03` that was not
/// inserted, and never ends in `00 00`, so no Annex B parser sees a start code in it.
///
/// Errors: [`Error::BufferTooSmall`] with the exact length needed.
pub fn h264_escape(src: &[u8], dst: &mut [u8]) -> Result<usize, Error> {
    let growth = escape_growth(src);
    let n = src.len() + growth;
    let have = dst.len();
    let out = dst
        .get_mut(..n)
        .ok_or(Error::BufferTooSmall { needed: n, have })?;
    // Place the input at the back of the output region; escaping then runs front to back
    // with exactly `growth` bytes of headroom.
    out[growth..].copy_from_slice(src);
    Ok(escape_within(out, growth, src.len(), 0))
}

/// [`h264_escape`] inside one buffer: escapes `buf[data_start..]` and writes the result to the
/// front, `buf[..n]`, returning `n`. The data needs as much headroom before it as escaping adds
/// (at most half its length; [`h264_escaped_len`] says exactly).
///
/// Errors: [`Error::BufferTooSmall`] with `needed` the escaped length (which must fit in
/// `buf`), before any byte is written.
pub fn h264_escape_in_place(buf: &mut [u8], data_start: usize) -> Result<usize, Error> {
    let have = buf.len();
    let data = buf.get(data_start..).ok_or(Error::BufferTooSmall {
        needed: data_start,
        have,
    })?;
    let (len, n) = (data.len(), h264_escaped_len(data));
    if n > have {
        return Err(Error::BufferTooSmall { needed: n, have });
    }
    Ok(escape_within(buf, data_start, len, 0))
}

/// Removes H.264 emulation prevention in place: drops every `03` that follows two zero bytes
/// (counting from the start of `buf`, and restarting the count after each dropped byte).
/// Returns the new length; the bytes after it are unspecified. The exact inverse of
/// [`h264_escape`].
pub fn h264_unescape_in_place(buf: &mut [u8]) -> usize {
    let n = buf.len();
    let (mut r, mut w) = (0, 0);
    loop {
        let z = next_zero(buf, r);
        if w != r {
            buf.copy_within(r..z, w);
        }
        w += z - r;
        r = z;
        if r >= n {
            return w;
        }
        let mut zeros = 0usize;
        // `w <= r` throughout: bytes are only dropped, never added.
        while let Some(&b) = buf.get(r) {
            r += 1;
            if zeros >= 2 && b == 3 {
                zeros = 0;
                continue;
            }
            buf[w] = b;
            w += 1;
            if b != 0 {
                break;
            }
            zeros += 1;
        }
    }
}

// ----- Seal and open -----

/// The SFrame operations the media layer needs; [`Context`] implements it. A trait only so
/// that tests can also run the layout code over an independent RFC 9605 implementation.
pub(crate) trait FrameCipher {
    fn tag_len(&self) -> usize;
    fn header_len(&mut self, kid: KeyId) -> Result<usize, Error>;
    fn seal_detached(
        &mut self,
        kid: KeyId,
        metadata: &[u8],
        header: &mut [u8],
        payload: &mut [u8],
        tag: &mut [u8],
    ) -> Result<usize, Error>;
    fn open_in_place(&mut self, metadata: &[u8], frame: &mut [u8]) -> Result<Opened, Error>;
}

impl FrameCipher for Context {
    fn tag_len(&self) -> usize {
        self.suite().tag_len()
    }
    fn header_len(&mut self, kid: KeyId) -> Result<usize, Error> {
        Context::header_len(self, kid)
    }
    fn seal_detached(
        &mut self,
        kid: KeyId,
        metadata: &[u8],
        header: &mut [u8],
        payload: &mut [u8],
        tag: &mut [u8],
    ) -> Result<usize, Error> {
        Context::seal_detached(self, kid, metadata, header, payload, tag)
    }
    fn open_in_place(&mut self, metadata: &[u8], frame: &mut [u8]) -> Result<Opened, Error> {
        Context::open_in_place(self, metadata, frame)
    }
}

/// A buffer length that always suffices for [`seal_frame`] of a `frame_len`-byte frame under
/// `ctx`: `frame_len + max_overhead`, and for H.264 half as much again for the worst-case
/// escaping. Size a reusable buffer with it.
pub fn seal_buffer_len(ctx: &Context, codec: Codec, frame_len: usize) -> usize {
    let sealed = frame_len.saturating_add(ctx.max_overhead());
    if codec.escapes() {
        h264_max_escaped_len(sealed)
    } else {
        sealed
    }
}

/// Seals one encoded frame in place, keeping its clear prefix.
///
/// The unencrypted frame is `buf[..frame_len]`; the rest of `buf` is spare room. On success
/// `buf[..n]` is the wire frame and `n` is returned:
/// `prefix || header || ciphertext || tag`, and for H.264 `prefix || escape(header ||
/// ciphertext || tag)`. The metadata is the prefix (VP8, Opus), its canonical form (H.264) or
/// empty (AV1, plain).
///
/// `buf` needs `frame_len + header + tag` bytes; for H.264 `prefix + m + m / 2` bytes, where
/// `m = frame_len - prefix + header + tag`, since escaping may grow `m` by half before its
/// actual growth is known. [`seal_buffer_len`] bounds both.
///
/// Errors, all before the context consumes a counter, so a refused seal changes nothing:
/// [`Error::InvalidFrame`] / [`Error::MetadataTooLong`] from the prefix rule
/// ([`clear_prefix_len`]); the context's key errors ([`Error::NoSendKey`],
/// [`Error::WrongKeyDirection`], [`Error::CounterExhausted`]); [`Error::BufferTooSmall`] with
/// the exact length needed (also when `frame_len > buf.len()`).
pub fn seal_frame(
    ctx: &mut Context,
    codec: Codec,
    kid: KeyId,
    buf: &mut [u8],
    frame_len: usize,
) -> Result<usize, Error> {
    seal_with(ctx, codec, kid, buf, frame_len)
}

pub(crate) fn seal_with<C: FrameCipher + ?Sized>(
    cipher: &mut C,
    codec: Codec,
    kid: KeyId,
    buf: &mut [u8],
    frame_len: usize,
) -> Result<usize, Error> {
    let have = buf.len();
    let frame = buf.get(..frame_len).ok_or(Error::BufferTooSmall {
        needed: frame_len,
        have,
    })?;
    let mut canonical = [0u8; MAX_CLEAR_PREFIX_LEN];
    let (p, metadata) = parse_prefix(codec, frame, &mut canonical)?;
    let hlen = cipher.header_len(kid)?;
    let nt = cipher.tag_len();
    let body = frame_len - p;
    let sealed = hlen + body + nt;
    let needed = p + if codec.escapes() {
        h264_max_escaped_len(sealed)
    } else {
        sealed
    };
    if have < needed {
        return Err(Error::BufferTooSmall { needed, have });
    }

    buf.copy_within(p..frame_len, p + hlen);
    let (prefix, rest) = buf.split_at_mut(p);
    let (header, rest) = rest.split_at_mut(hlen);
    let (payload, rest) = rest.split_at_mut(body);
    let metadata = metadata.bytes(prefix, &canonical);
    let written = cipher.seal_detached(kid, metadata, header, payload, &mut rest[..nt])?;
    // The header is right-aligned in the `hlen` bytes given; should it come out shorter than
    // `header_len` said, close the gap so the ciphertext still follows the prefix directly.
    let gap = hlen.saturating_sub(written);
    if gap > 0 {
        buf.copy_within(p + gap..p + sealed, p);
    }
    let sealed = sealed - gap;

    if !codec.escapes() {
        return Ok(p + sealed);
    }
    let growth = escape_growth(&buf[p..p + sealed]);
    if growth > 0 {
        // growth <= sealed / 2, so the shifted data and its escaped form stay within `needed`.
        buf.copy_within(p..p + sealed, p + growth);
        escape_within(buf, p + growth, sealed, p);
    }
    Ok(p + sealed + growth)
}

/// Opens one wire frame in place.
///
/// `buf` holds the frame as received. On success `buf[..n]` is the original unencrypted frame
/// (the clear prefix followed by the decrypted payload) and `(opened, n)` is returned, with
/// `opened.payload` the payload's range in `buf` (it starts at the prefix length).
///
/// For H.264 the prefix's start codes may have been rewritten between 3 and 4 bytes on the way
/// (as depacketizers do); the frame still opens, and the returned frame keeps the rewritten
/// prefix.
///
/// On error the context is unchanged. When the open fails before decryption ([`Error::InvalidFrame`],
/// [`Error::MetadataTooLong`], [`Error::InvalidHeader`], [`Error::TruncatedCiphertext`],
/// [`Error::UnknownKeyId`], [`Error::Replayed`], [`Error::TooOld`], ...) `buf` is left as it
/// came (for H.264 the escaping is restored, byte for byte for any frame a conforming sender
/// wrote), so a frame held back until its key arrives can be opened again. After
/// [`Error::AuthenticationFailed`] the bytes after the prefix are unspecified.
pub fn open_frame(
    ctx: &mut Context,
    codec: Codec,
    buf: &mut [u8],
) -> Result<(Opened, usize), Error> {
    open_with(ctx, codec, buf)
}

pub(crate) fn open_with<C: FrameCipher + ?Sized>(
    cipher: &mut C,
    codec: Codec,
    buf: &mut [u8],
) -> Result<(Opened, usize), Error> {
    let mut canonical = [0u8; MAX_CLEAR_PREFIX_LEN];
    let (p, metadata) = parse_prefix(codec, buf, &mut canonical)?;
    let (prefix, rest) = buf.split_at_mut(p);
    let metadata = metadata.bytes(prefix, &canonical);
    let received = rest.len();
    let len = if codec.escapes() {
        h264_unescape_in_place(rest)
    } else {
        received
    };
    match cipher.open_in_place(metadata, &mut rest[..len]) {
        Ok(mut opened) => {
            let payload = opened.payload.clone();
            rest.copy_within(payload.clone(), 0);
            let n = p + payload.len();
            opened.payload = p..n;
            Ok((opened, n))
        }
        Err(e) => {
            if len != received && !matches!(e, Error::AuthenticationFailed) {
                // Nothing was decrypted: escape again. For a conforming sender's frame this
                // gives back exactly the bytes received.
                let growth = escape_growth(&rest[..len]);
                if len + growth == received {
                    rest.copy_within(..len, growth);
                    escape_within(rest, growth, len, 0);
                }
            }
            Err(e)
        }
    }
}

// ----- What an SFU can read -----

/// What the clear prefix of a frame says, per codec.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum FrameInfo {
    /// A VP8 frame tag (and keyframe header).
    Vp8(Vp8Info),
    /// An Opus TOC byte.
    Opus(OpusToc),
    /// The NAL units before and at the first H.264 slice.
    H264(H264Info),
    /// Nothing is in clear (AV1, plain): route on RTP header extensions.
    Opaque,
}

/// Parses the clear prefix of `frame`, unencrypted or as it travels encrypted. Errors as
/// [`clear_prefix_len`]; never panics.
pub fn frame_info(codec: Codec, frame: &[u8]) -> Result<FrameInfo, Error> {
    Ok(match codec {
        Codec::Vp8 => FrameInfo::Vp8(Vp8Info::parse(frame)?),
        Codec::Opus => FrameInfo::Opus(OpusToc::parse(frame)?),
        Codec::H264 => FrameInfo::H264(H264Info::parse(frame)?),
        Codec::Av1 | Codec::Plain => FrameInfo::Opaque,
    })
}

/// A VP8 frame tag (RFC 6386 §9.1), with the keyframe header's dimensions on keyframes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Vp8Info {
    /// The P bit is clear: an intra frame the decoder can start from.
    pub keyframe: bool,
    /// The 3-bit version (profile).
    pub version: u8,
    /// The frame is meant to be displayed.
    pub show_frame: bool,
    /// Size of the first partition in bytes (19 bits).
    pub first_partition_len: u32,
    /// Width, height and scaling; present on keyframes.
    pub dimensions: Option<Vp8Dimensions>,
}

/// The dimensions a VP8 keyframe announces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Vp8Dimensions {
    /// Width in pixels (14 bits).
    pub width: u16,
    /// Height in pixels (14 bits).
    pub height: u16,
    /// Horizontal upscaling code (2 bits).
    pub horizontal_scale: u8,
    /// Vertical upscaling code (2 bits).
    pub vertical_scale: u8,
}

impl Vp8Info {
    /// Parses the frame tag (and keyframe header) at the front of `frame`.
    pub fn parse(frame: &[u8]) -> Result<Self, Error> {
        vp8_prefix_len(frame)?;
        let tag = u32::from(frame[0]) | u32::from(frame[1]) << 8 | u32::from(frame[2]) << 16;
        let keyframe = tag & 1 == 0;
        let dimensions = keyframe.then(|| {
            let w = u16::from_le_bytes([frame[6], frame[7]]);
            let h = u16::from_le_bytes([frame[8], frame[9]]);
            Vp8Dimensions {
                width: w & 0x3fff,
                height: h & 0x3fff,
                horizontal_scale: (w >> 14) as u8,
                vertical_scale: (h >> 14) as u8,
            }
        });
        Ok(Self {
            keyframe,
            version: ((tag >> 1) & 0x7) as u8,
            show_frame: tag & 0x10 != 0,
            first_partition_len: tag >> 5,
            dimensions,
        })
    }
}

/// An Opus TOC byte (RFC 6716 §3.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct OpusToc {
    /// Configuration number 0-31: mode, bandwidth and frame duration.
    pub config: u8,
    /// Stereo.
    pub stereo: bool,
    /// Frame count code `c` (0-3): one frame, two equal, two different, or arbitrary.
    pub frame_count_code: u8,
}

impl OpusToc {
    /// Reads the TOC byte at the front of `frame`.
    pub fn parse(frame: &[u8]) -> Result<Self, Error> {
        opus_prefix_len(frame)?;
        Ok(Self::from_byte(frame[0]))
    }

    /// Splits a TOC byte.
    pub const fn from_byte(toc: u8) -> Self {
        Self {
            config: toc >> 3,
            stereo: toc & 0x04 != 0,
            frame_count_code: toc & 0x03,
        }
    }

    /// Duration of each Opus frame in the packet, in microseconds (RFC 6716 Table 2).
    pub const fn frame_duration_us(&self) -> u32 {
        match self.config {
            // SILK-only: 10, 20, 40, 60 ms.
            0..=11 => [10_000, 20_000, 40_000, 60_000][(self.config % 4) as usize],
            // Hybrid: 10, 20 ms.
            12..=15 => [10_000, 20_000][(self.config % 2) as usize],
            // CELT-only: 2.5, 5, 10, 20 ms.
            _ => [2_500, 5_000, 10_000, 20_000][(self.config % 4) as usize],
        }
    }
}

/// The H.264 NAL units in a frame's clear prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct H264Info {
    /// Bit `t` set when a NAL unit of type `t` is in the prefix (the first slice included).
    pub nal_types: u32,
    /// Type of the first slice NAL unit (1-5), the one that ends the prefix.
    pub first_slice_type: u8,
    /// Length of the clear prefix in the bytes parsed.
    pub prefix_len: usize,
}

impl H264Info {
    /// NAL unit type of a sequence parameter set.
    pub const SPS: u8 = 7;
    /// NAL unit type of a picture parameter set.
    pub const PPS: u8 = 8;
    /// NAL unit type of an IDR slice.
    pub const IDR: u8 = 5;

    /// Walks the Annex B NAL units at the front of `frame` up to the first slice.
    pub fn parse(frame: &[u8]) -> Result<Self, Error> {
        let s = h264_scan(frame, None)?;
        Ok(Self {
            nal_types: s.nal_types,
            first_slice_type: s.slice_type,
            prefix_len: s.prefix_len,
        })
    }

    /// A NAL unit of type `nal_type` (0-31) is in the prefix.
    pub const fn contains(&self, nal_type: u8) -> bool {
        nal_type < 32 && self.nal_types & (1 << nal_type) != 0
    }

    /// The first slice is an IDR slice: the frame starts a new coded video sequence.
    pub const fn is_idr(&self) -> bool {
        self.first_slice_type == Self::IDR
    }

    /// A sequence parameter set is in the prefix.
    pub const fn has_sps(&self) -> bool {
        self.contains(Self::SPS)
    }

    /// A picture parameter set is in the prefix.
    pub const fn has_pps(&self) -> bool {
        self.contains(Self::PPS)
    }
}

#[cfg(test)]
mod tests;
