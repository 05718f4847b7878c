//! `DeliveryService` and `Authority`: the server-side pieces, for browser tests and for a
//! vendor's JavaScript backend.

use telesfu_e2ee::mls::ds::{self, DsConfig};
use telesfu_e2ee::mls::identity::{self, Certificate, Claims};
use wasm_bindgen::prelude::*;

use crate::error::GlueError;
use crate::js;
use crate::member;
use crate::msg;
use crate::value::{Fields, Input, Value};

/// One room's MLS Delivery Service (`telesfu_e2ee::mls::ds::DeliveryService`): orders
/// commits, keeps the GroupInfo for joiners, relays chat. It holds no key.
#[wasm_bindgen]
pub struct DeliveryService {
    inner: ds::DeliveryService,
}

impl core::fmt::Debug for DeliveryService {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        self.inner.fmt(f)
    }
}

fn unix_secs(unix_ms: f64) -> Result<u64, GlueError> {
    Ok(crate::clock::unix("unixMs", unix_ms)?.as_secs())
}

#[wasm_bindgen]
impl DeliveryService {
    /// A DS for `room`. With `authority_keys` (an array of 32-byte keys) it also refuses an
    /// external commit whose joiner's certificate does not verify for `room` (members refuse
    /// it anyway; this keeps an uncertified joiner from stalling the room).
    #[wasm_bindgen(constructor)]
    pub fn new(
        room: &str,
        #[wasm_bindgen(unchecked_param_type = "Uint8Array[] | undefined")] authority_keys: &JsValue,
    ) -> Result<DeliveryService, JsValue> {
        js::throw((|| {
            let mut config = DsConfig::default();
            config.room = room.to_owned();
            if !authority_keys.is_undefined() && !authority_keys.is_null() {
                let keys = js::byte_list(authority_keys, "authorityKeys")?;
                config.trust = Some(member::anchors(&keys)?);
            }
            Ok(DeliveryService {
                inner: ds::DeliveryService::new(config),
            })
        })())
    }

    /// Handles one member's `mls` message (object or JSON text): returns `{to: "sender" |
    /// "all" | "others", msg}` where `msg` is the server's `mls` message to deliver; `from`
    /// (the sender's participant id) is put on relayed `app` messages. Throws `bad_message`
    /// for a message that breaks `docs/signaling.md` §6 (the server answers `error`
    /// `bad_message`); MLS content the DS refuses comes back as a `rejected` to the sender.
    #[wasm_bindgen(unchecked_return_type = "Delivery")]
    pub fn handle(
        &mut self,
        #[wasm_bindgen(unchecked_param_type = "MlsMessage | string")] message: &JsValue,
        unix_ms: f64,
        from: Option<String>,
    ) -> Result<JsValue, JsValue> {
        js::throw((|| {
            let get = js::fields(message)?;
            let m = msg::to_ds(&get)?;
            let d = self.inner.handle(m, unix_secs(unix_ms)?);
            msg::delivery_value(&d, from.as_deref())
        })())
        .map(|v| js::to_js(&v))
    }

    /// The `state` message a joining member gets.
    #[wasm_bindgen(unchecked_return_type = "MlsMessage")]
    pub fn state(&self) -> Result<JsValue, JsValue> {
        js::throw(msg::from_ds_value(&self.inner.state(), None)).map(|v| js::to_js(&v))
    }

    /// Forgets the group (the room emptied): the next member creates a new one.
    pub fn reset(&mut self) {
        self.inner.reset();
    }

    /// The epoch the next commit must be for.
    #[wasm_bindgen(getter)]
    pub fn epoch(&self) -> f64 {
        self.inner.epoch() as f64
    }

    /// Commits accepted so far.
    #[wasm_bindgen(getter)]
    pub fn accepted(&self) -> f64 {
        self.inner.counts().0 as f64
    }

    /// Commits rejected so far.
    #[wasm_bindgen(getter)]
    pub fn rejected(&self) -> f64 {
        self.inner.counts().1 as f64
    }
}

/// A certificate authority (`telesfu_e2ee::mls::identity::Authority`): what a vendor's
/// backend runs to certify members, and what tests use. Its seed is a secret of the
/// backend: a browser page that holds one can certify anybody.
#[wasm_bindgen]
pub struct Authority {
    inner: identity::Authority,
}

impl core::fmt::Debug for Authority {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        self.inner.fmt(f)
    }
}

fn text(get: Fields<'_>, key: &str, required: bool) -> Result<String, GlueError> {
    match get(key) {
        Input::Str(s) => Ok(s),
        Input::Missing if !required => Ok(String::new()),
        other => Err(GlueError::invalid(format!(
            "claims.{key} must be a string, got {}",
            other.kind()
        ))),
    }
}

fn secs(get: Fields<'_>, key: &str) -> Result<u64, GlueError> {
    match get(key) {
        Input::Num(n) if n.fract() == 0.0 && (0.0..=9_007_199_254_740_992.0).contains(&n) => {
            Ok(n as u64)
        }
        other => Err(GlueError::invalid(format!(
            "claims.{key} must be whole unix seconds, got {}",
            match other {
                Input::Num(n) => n.to_string(),
                o => o.kind().to_string(),
            }
        ))),
    }
}

/// Claims from `{subject, room, notBefore, notAfter, name?, role?, tenant?}`.
pub(crate) fn claims(get: Fields<'_>) -> Result<Claims, GlueError> {
    let mut c = Claims::new(
        &text(get, "subject", true)?,
        &text(get, "room", true)?,
        secs(get, "notBefore")?,
        secs(get, "notAfter")?,
    );
    c.name = text(get, "name", false)?;
    c.role = text(get, "role", false)?;
    c.tenant = text(get, "tenant", false)?;
    if c.not_after < c.not_before {
        return Err(GlueError::invalid(
            "claims.notAfter is before claims.notBefore",
        ));
    }
    Ok(c)
}

/// A decoded certificate's public facts.
pub(crate) fn certificate_value(c: &Certificate) -> Value {
    Value::Obj(vec![
        ("authorityId", Value::Bytes(c.authority.0.to_vec())),
        ("signatureKey", Value::Bytes(c.signature_key.to_vec())),
        ("subject", Value::str(c.claims.subject.as_str())),
        ("name", Value::str(c.claims.name.as_str())),
        ("role", Value::str(c.claims.role.as_str())),
        ("tenant", Value::str(c.claims.tenant.as_str())),
        ("room", Value::str(c.claims.room.as_str())),
        ("notBefore", Value::num(c.claims.not_before)),
        ("notAfter", Value::num(c.claims.not_after)),
    ])
}

#[wasm_bindgen]
impl Authority {
    /// The authority whose Ed25519 key is made from `seed` (32 bytes).
    #[wasm_bindgen(constructor)]
    pub fn new(seed: &[u8]) -> Result<Authority, JsValue> {
        let seed = js::throw(member::seed32("seed", seed))?;
        Ok(Self {
            inner: identity::Authority::from_seed(&seed),
        })
    }

    /// The 32-byte public key members trust.
    #[wasm_bindgen(js_name = publicKey)]
    pub fn public_key(&self) -> Vec<u8> {
        self.inner.public_key().to_bytes().to_vec()
    }

    /// A certificate for the member key `signature_key` (32 bytes) with `claims`:
    /// `{subject, room, notBefore, notAfter, name?, role?, tenant?}` (times in unix
    /// seconds, texts at most 255 bytes of UTF-8).
    pub fn issue(
        &self,
        #[wasm_bindgen(unchecked_param_type = "Claims")] claims: &JsValue,
        signature_key: &[u8],
    ) -> Result<Vec<u8>, JsValue> {
        js::throw((|| {
            let c = self::claims(&*js::options(claims, "claims")?)?;
            self.inner
                .issue(&c, signature_key)
                .map_err(|e| GlueError::invalid(e.to_string()))
        })())
    }
}

/// Decodes a certificate (format only, no signature check): `{authorityId, signatureKey,
/// subject, name, role, tenant, room, notBefore, notAfter}`.
#[wasm_bindgen(js_name = decodeCertificate, unchecked_return_type = "CertificateInfo")]
pub fn decode_certificate(bytes: &[u8]) -> Result<JsValue, JsValue> {
    js::throw(
        Certificate::decode(bytes)
            .map(|c| certificate_value(&c))
            .map_err(|e| GlueError::invalid(e.to_string())),
    )
    .map(|v| js::to_js(&v))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn claims_are_read_and_checked() {
        let v = Value::Obj(vec![
            ("subject", Value::str("sub-1")),
            ("room", Value::str("visit-1")),
            ("notBefore", Value::Num(100.0)),
            ("notAfter", Value::Num(200.0)),
            ("name", Value::str("Dr. A")),
        ]);
        let c = claims(&|k| v.input(k)).unwrap();
        assert_eq!((c.subject.as_str(), c.room.as_str()), ("sub-1", "visit-1"));
        assert_eq!((c.not_before, c.not_after), (100, 200));
        assert_eq!((c.name.as_str(), c.role.as_str()), ("Dr. A", ""));

        let bad = Value::Obj(vec![
            ("subject", Value::str("s")),
            ("room", Value::str("r")),
            ("notBefore", Value::Num(1.5)),
            ("notAfter", Value::Num(2.0)),
        ]);
        let e = claims(&|k| bad.input(k)).unwrap_err();
        assert!(e.message.contains("notBefore"), "{}", e.message);
        let backwards = Value::Obj(vec![
            ("subject", Value::str("s")),
            ("room", Value::str("r")),
            ("notBefore", Value::Num(5.0)),
            ("notAfter", Value::Num(2.0)),
        ]);
        assert!(claims(&|k| backwards.input(k)).is_err());
        let no_room = Value::Obj(vec![("subject", Value::str("s"))]);
        let e = claims(&|k| no_room.input(k)).unwrap_err();
        assert!(e.message.contains("claims.room"), "{}", e.message);
    }
}
