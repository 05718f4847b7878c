//! Raw SFrame for the browser: explicit suite, KID, counter, base key and metadata. For the
//! RFC 9605 test vectors and for interoperability checks, not for calls: a [`crate::Client`]
//! derives and rotates its own keys.

use telesfu_e2ee::crypto::{self, suite_provider};
use telesfu_e2ee::key;
use telesfu_e2ee::media;
use telesfu_e2ee::{CipherSuite, Context, Counter, Header, KeyId, MAX_HEADER_LEN, NONCE_LEN};
use wasm_bindgen::prelude::*;

use crate::codec::Codec;
use crate::error::GlueError;
use crate::js;
use crate::value::Value;

/// The suite with IANA id `id` (1-5; 6-8 only in builds with the draft suites).
pub(crate) fn suite(id: f64) -> Result<CipherSuite, GlueError> {
    if id.fract() != 0.0 || !(0.0..=f64::from(u16::MAX)).contains(&id) {
        return Err(GlueError::new(
            "unknown_suite",
            format!("cipher suite {id} is not a 16-bit suite id"),
        ));
    }
    Ok(CipherSuite::from_id(id as u16)?)
}

/// `{kid, ctr, payload}` of an open (kid and ctr as BigInt).
fn opened(kid: KeyId, ctr: Counter, key: &'static str, payload: &[u8]) -> Value {
    Value::Obj(vec![
        ("kid", Value::BigU64(kid.0)),
        ("ctr", Value::BigU64(ctr.0)),
        (key, Value::Bytes(payload.to_vec())),
    ])
}

/// An SFrame context (RFC 9605 §4.4) of one suite: keys by KID, send counters, receive replay
/// windows (`telesfu_e2ee::Context`).
#[wasm_bindgen]
pub struct SframeContext {
    inner: Context,
}

impl core::fmt::Debug for SframeContext {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        self.inner.fmt(f)
    }
}

#[wasm_bindgen]
impl SframeContext {
    /// A context for the suite with IANA id `suite` (4 is `AES_128_GCM_SHA256_128`).
    #[wasm_bindgen(constructor)]
    pub fn new(suite: f64) -> Result<SframeContext, JsValue> {
        js::throw((|| {
            Ok(SframeContext {
                inner: Context::new(self::suite(suite)?)?,
            })
        })())
    }

    /// Installs a send key under `kid` whose next counter is `next_ctr` (0 when omitted).
    #[wasm_bindgen(js_name = addSendKey)]
    pub fn add_send_key(
        &mut self,
        kid: u64,
        base_key: &[u8],
        next_ctr: Option<u64>,
    ) -> Result<(), JsValue> {
        js::throw(
            self.inner
                .add_send_key_at(KeyId(kid), base_key, Counter(next_ctr.unwrap_or(0)))
                .map_err(GlueError::from),
        )
    }

    /// Installs a receive key under `kid` with a fresh replay window.
    #[wasm_bindgen(js_name = addRecvKey)]
    pub fn add_recv_key(&mut self, kid: u64, base_key: &[u8]) -> Result<(), JsValue> {
        js::throw(
            self.inner
                .add_recv_key(KeyId(kid), base_key)
                .map_err(GlueError::from),
        )
    }

    /// Removes (and erases) the key under `kid`; whether there was one.
    #[wasm_bindgen(js_name = removeKey)]
    pub fn remove_key(&mut self, kid: u64) -> bool {
        self.inner.remove_key(KeyId(kid))
    }

    /// The counter the next seal under `kid` uses, or `undefined`.
    #[wasm_bindgen(js_name = nextCounter)]
    pub fn next_counter(&self, kid: u64) -> Option<u64> {
        self.inner.next_counter(KeyId(kid)).map(|c| c.0)
    }

    /// `header || ciphertext || tag` of `plaintext` under `kid`, AAD `header || metadata`.
    pub fn seal(
        &mut self,
        kid: u64,
        metadata: &[u8],
        plaintext: &[u8],
    ) -> Result<Vec<u8>, JsValue> {
        let mut out = vec![0u8; plaintext.len() + self.inner.max_overhead()];
        let n = js::throw(
            self.inner
                .seal(KeyId(kid), metadata, plaintext, &mut out)
                .map_err(GlueError::from),
        )?;
        out.truncate(n);
        Ok(out)
    }

    /// Opens an SFrame ciphertext: `{kid, ctr, payload}`. Throws with the codes of the
    /// crate docs (`no_key`, `auth_failed`, `replayed`, `malformed`, ...).
    #[wasm_bindgen(unchecked_return_type = "OpenedPayload")]
    pub fn open(&mut self, metadata: &[u8], ciphertext: &[u8]) -> Result<JsValue, JsValue> {
        let mut out = vec![0u8; ciphertext.len()];
        let o = js::throw(
            self.inner
                .open(metadata, ciphertext, &mut out)
                .map_err(GlueError::from),
        )?;
        Ok(js::to_js(&opened(o.kid, o.ctr, "payload", &out[o.payload])))
    }

    /// Seals one encoded frame with its codec's clear prefix (`docs/e2ee-wire-format.md`).
    #[wasm_bindgen(js_name = sealFrame)]
    pub fn seal_frame(&mut self, codec: Codec, kid: u64, frame: &[u8]) -> Result<Vec<u8>, JsValue> {
        let c = media::Codec::from(codec);
        let mut buf = vec![0u8; media::seal_buffer_len(&self.inner, c, frame.len())];
        buf[..frame.len()].copy_from_slice(frame);
        let n = js::throw(
            media::seal_frame(&mut self.inner, c, KeyId(kid), &mut buf, frame.len())
                .map_err(GlueError::from),
        )?;
        buf.truncate(n);
        Ok(buf)
    }

    /// Opens one wire frame: `{kid, ctr, frame}` with the frame as encoded.
    #[wasm_bindgen(js_name = openFrame, unchecked_return_type = "OpenedFrame")]
    pub fn open_frame(&mut self, codec: Codec, wire: &[u8]) -> Result<JsValue, JsValue> {
        let mut buf = wire.to_vec();
        let (o, n) = js::throw(
            media::open_frame(&mut self.inner, codec.into(), &mut buf).map_err(GlueError::from),
        )?;
        Ok(js::to_js(&opened(o.kid, o.ctr, "frame", &buf[..n])))
    }
}

/// The SFrame header for `kid` and `ctr` (RFC 9605 §4.3).
#[wasm_bindgen(js_name = encodeHeader)]
pub fn encode_header(kid: u64, ctr: u64) -> Vec<u8> {
    let (bytes, n) = Header::new(KeyId(kid), Counter(ctr)).to_bytes();
    bytes[..n].to_vec()
}

/// Decodes the header at the front of `bytes`: `{kid, ctr, len}`. Strict: a truncated or
/// non-minimal header throws `malformed`.
#[wasm_bindgen(js_name = decodeHeader, unchecked_return_type = "DecodedHeader")]
pub fn decode_header(bytes: &[u8]) -> Result<JsValue, JsValue> {
    let (h, len) = js::throw(
        Header::decode(bytes).map_err(|e| GlueError::from(telesfu_e2ee::Error::from(e))),
    )?;
    Ok(js::to_js(&Value::Obj(vec![
        ("kid", Value::BigU64(h.kid.0)),
        ("ctr", Value::BigU64(h.ctr.0)),
        ("len", Value::num(len as u64)),
    ])))
}

/// `{key, salt}`: `sframe_key` and `sframe_salt` for `kid` from `base_key` (§4.4.2).
#[wasm_bindgen(js_name = deriveKeyMaterial, unchecked_return_type = "KeyMaterial")]
pub fn derive_key_material(suite: f64, kid: u64, base_key: &[u8]) -> Result<JsValue, JsValue> {
    js::throw((|| {
        let s = suite_provider(crypto::default_provider(), self::suite(suite)?)?;
        let m = key::derive_key_material(s, KeyId(kid), base_key)?;
        Ok(Value::Obj(vec![
            ("key", Value::Bytes(m.key().to_vec())),
            ("salt", Value::Bytes(m.salt().to_vec())),
        ]))
    })())
    .map(|v| js::to_js(&v))
}

fn nonce(bytes: &[u8]) -> Result<[u8; NONCE_LEN], GlueError> {
    bytes.try_into().map_err(|_| {
        GlueError::invalid(format!(
            "nonce must be {NONCE_LEN} bytes, got {}",
            bytes.len()
        ))
    })
}

/// The suite's AEAD alone (RFC 9605 §4.5.1 for the CTR suites): `ciphertext || tag` of
/// `plaintext` under the AEAD `key` (`Nk` bytes), `nonce` (12 bytes) and `aad`.
#[wasm_bindgen(js_name = aeadSeal)]
pub fn aead_seal(
    suite: f64,
    key: &[u8],
    nonce: &[u8],
    aad: &[u8],
    plaintext: &[u8],
) -> Result<Vec<u8>, JsValue> {
    js::throw((|| {
        let s = self::suite(suite)?;
        let aead = suite_provider(crypto::default_provider(), s)?.aead_key(key)?;
        let nt = s.tag_len();
        let mut out = vec![0u8; plaintext.len() + nt];
        let (body, tag) = out.split_at_mut(plaintext.len());
        body.copy_from_slice(plaintext);
        aead.seal_in_place(&self::nonce(nonce)?, aad, body, tag)?;
        Ok(out)
    })())
}

/// Opens `ciphertext || tag` with the suite's AEAD alone; throws `auth_failed` when the tag
/// does not verify.
#[wasm_bindgen(js_name = aeadOpen)]
pub fn aead_open(
    suite: f64,
    key: &[u8],
    nonce: &[u8],
    aad: &[u8],
    ciphertext: &[u8],
) -> Result<Vec<u8>, JsValue> {
    js::throw((|| {
        let s = self::suite(suite)?;
        let aead = suite_provider(crypto::default_provider(), s)?.aead_key(key)?;
        let nt = s.tag_len();
        let body_len = ciphertext.len().checked_sub(nt).ok_or_else(|| {
            GlueError::new(
                "malformed",
                format!(
                    "{} bytes is shorter than the {nt}-byte tag",
                    ciphertext.len()
                ),
            )
        })?;
        let mut body = ciphertext[..body_len].to_vec();
        aead.open_in_place(
            &self::nonce(nonce)?,
            aad,
            &mut body,
            &ciphertext[body_len..],
        )?;
        Ok(body)
    })())
}

/// The length of the clear prefix of `frame` for `codec` (on a plain or a wire frame).
#[wasm_bindgen(js_name = clearPrefixLen)]
pub fn clear_prefix_len(codec: Codec, frame: &[u8]) -> Result<u32, JsValue> {
    js::throw(
        media::clear_prefix_len(codec.into(), frame)
            .map(|n| n as u32)
            .map_err(GlueError::from),
    )
}

/// The longest SFrame header (bytes).
#[wasm_bindgen(js_name = maxHeaderLen)]
pub fn max_header_len() -> u32 {
    MAX_HEADER_LEN as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suite_ids_are_checked_before_conversion() {
        assert_eq!(suite(4.0).unwrap(), CipherSuite::Aes128GcmSha256);
        for bad in [4.5, -1.0, 65536.0 + 4.0, f64::NAN] {
            assert_eq!(suite(bad).unwrap_err().code, "unknown_suite", "{bad}");
        }
        assert_eq!(suite(9.0).unwrap_err().code, "unknown_suite");
    }
}
