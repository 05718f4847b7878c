//! The published SFrame test vectors, all of them, against every crypto backend compiled in.
//!
//! Data: `tests/data/` (provenance in `tests/data/README.md`), embedded at compile time so the
//! tests never read outside the crate. Every section's vector count is asserted, so a section
//! that silently parsed as empty, or a loop that skipped a backend, fails.

use hmac::{KeyInit, Mac};
use serde::Deserialize;
use sha2::{Digest, Sha256, Sha512};
use telesfu_e2ee::crypto::{self, CryptoProvider, suite_provider};
use telesfu_e2ee::key::derive_key_material;
use telesfu_e2ee::{ALL_SUITES, CipherSuite, Counter, Hash, Header, KeyId, NONCE_LEN};

const RFC: &str = include_str!("data/test-vectors.json");
const POST_RFC: &str = include_str!("data/post-rfc-2025/test-vectors.json");
const POST_RFC_AES256: &str = include_str!("data/post-rfc-2025/test-vectors-aes256.json");
const README: &str = include_str!("data/README.md");

#[derive(Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
struct HeaderVector {
    kid: u64,
    ctr: u64,
    encoded: String,
}

#[derive(Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
struct AeadVector {
    cipher_suite: u16,
    key: String,
    enc_key: String,
    auth_key: String,
    nonce: String,
    aad: String,
    pt: String,
    ct: String,
}

#[derive(Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
struct SframeVector {
    cipher_suite: u16,
    kid: u64,
    ctr: u64,
    base_key: String,
    sframe_key_label: String,
    sframe_salt_label: String,
    sframe_secret: String,
    sframe_key: String,
    sframe_salt: String,
    metadata: String,
    nonce: String,
    aad: String,
    pt: String,
    ct: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RfcVectors {
    header: Vec<HeaderVector>,
    aes_ctr_hmac: Vec<AeadVector>,
    sframe: Vec<SframeVector>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PostRfcVectors {
    header: Vec<HeaderVector>,
    aes_ctr_hmac: Vec<AeadVector>,
    aes_256_ctr_hmac: Vec<AeadVector>,
    sframe: Vec<SframeVector>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PostRfcAes256Vectors {
    sframe_aes_256_ctr_hmac: Vec<SframeVector>,
}

fn rfc() -> RfcVectors {
    serde_json::from_str(RFC).expect("tests/data/test-vectors.json parses")
}

fn post_rfc() -> PostRfcVectors {
    serde_json::from_str(POST_RFC).expect("tests/data/post-rfc-2025/test-vectors.json parses")
}

fn post_rfc_aes256() -> PostRfcAes256Vectors {
    serde_json::from_str(POST_RFC_AES256)
        .expect("tests/data/post-rfc-2025/test-vectors-aes256.json parses")
}

/// Lowercase or uppercase hex to bytes; panics on anything else (test data is trusted).
fn hex(s: &str) -> Vec<u8> {
    assert!(s.len().is_multiple_of(2), "odd-length hex {s:?}");
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap_or_else(|e| panic!("{s:?}: {e}")))
        .collect()
}

fn to_hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn providers() -> Vec<&'static dyn CryptoProvider> {
    let p = crypto::all_providers();
    assert_eq!(
        p.len(),
        if cfg!(feature = "ring") { 2 } else { 1 },
        "backends compiled in"
    );
    p
}

/// `HMAC(key, data)` with the suite's hash, from the `hmac` crate (an oracle for the vectors'
/// intermediate values, independent of the backend under test where that backend is ring).
fn hmac_oracle(hash: Hash, key: &[u8], data: &[u8]) -> Vec<u8> {
    match hash {
        Hash::Sha256 => {
            let mut m = <hmac::Hmac<Sha256> as KeyInit>::new_from_slice(key).unwrap();
            m.update(data);
            m.finalize().into_bytes().to_vec()
        }
        Hash::Sha512 => {
            let mut m = <hmac::Hmac<Sha512> as KeyInit>::new_from_slice(key).unwrap();
            m.update(data);
            m.finalize().into_bytes().to_vec()
        }
        other => panic!("no oracle for {other:?}"),
    }
}

/// Seals `pt` and opens `ct` (ciphertext || tag) with the raw AEAD of one suite.
fn check_aead_vector(provider: &dyn CryptoProvider, v: &AeadVector) {
    let who = format!("{} suite {}", provider.name(), v.cipher_suite);
    let suite = CipherSuite::from_id(v.cipher_suite).unwrap_or_else(|e| panic!("{who}: {e}"));
    assert!(suite.is_ctr_hmac(), "{who}: not a CTR suite");
    let sp = suite_provider(provider, suite).unwrap_or_else(|e| panic!("{who}: {e}"));
    let (key, nonce, aad, pt, ct) = (
        hex(&v.key),
        hex(&v.nonce),
        hex(&v.aad),
        hex(&v.pt),
        hex(&v.ct),
    );
    let nonce: [u8; NONCE_LEN] = nonce.try_into().expect("12-byte nonce");
    let nka = suite.enc_key_len().expect("CTR suite has Nka");
    assert_eq!(key.len(), suite.key_len(), "{who}: Nk");
    assert_eq!(
        key[..nka],
        hex(&v.enc_key)[..],
        "{who}: enc_key = key[..Nka]"
    );
    assert_eq!(
        key[nka..],
        hex(&v.auth_key)[..],
        "{who}: auth_key = key[Nka..]"
    );
    let nt = suite.tag_len();
    assert_eq!(
        ct.len(),
        pt.len() + nt,
        "{who}: ct = ciphertext || Nt-byte tag"
    );

    let aead = sp.aead_key(&key).unwrap_or_else(|e| panic!("{who}: {e}"));
    let mut body = pt.clone();
    let mut tag = vec![0u8; nt];
    aead.seal_in_place(&nonce, &aad, &mut body, &mut tag)
        .unwrap_or_else(|e| panic!("{who}: seal: {e}"));
    assert_eq!(to_hex(&[body, tag].concat()), v.ct, "{who}: seal");

    let (body, tag) = ct.split_at(pt.len());
    let mut body = body.to_vec();
    aead.open_in_place(&nonce, &aad, &mut body, tag)
        .unwrap_or_else(|e| panic!("{who}: open: {e}"));
    assert_eq!(body, pt, "{who}: open");
}

/// Checks every intermediate value of one §C.3 vector, then seals and opens the full frame.
fn check_sframe_vector(provider: &dyn CryptoProvider, v: &SframeVector) {
    let who = format!("{} suite {}", provider.name(), v.cipher_suite);
    let suite = CipherSuite::from_id(v.cipher_suite).unwrap_or_else(|e| panic!("{who}: {e}"));
    let sp = suite_provider(provider, suite).unwrap_or_else(|e| panic!("{who}: {e}"));
    let base_key = hex(&v.base_key);
    let (kid, ctr) = (KeyId(v.kid), Counter(v.ctr));

    // Labels, built from the RFC text.
    let label = |prefix: &[u8]| [prefix, &v.kid.to_be_bytes(), &suite.id().to_be_bytes()].concat();
    let key_label = label(b"SFrame 1.0 Secret key ");
    let salt_label = label(b"SFrame 1.0 Secret salt ");
    assert_eq!(
        to_hex(&key_label),
        v.sframe_key_label,
        "{who}: sframe_key_label"
    );
    assert_eq!(
        to_hex(&salt_label),
        v.sframe_salt_label,
        "{who}: sframe_salt_label"
    );

    // sframe_secret = HKDF-Extract("", base_key) = HMAC(Nh zero bytes, base_key).
    let secret = hex(&v.sframe_secret);
    let nh = suite.hash_len();
    assert_eq!(secret.len(), nh, "{who}: sframe_secret is Nh bytes");
    assert_eq!(
        to_hex(&hmac_oracle(suite.hash(), &vec![0; nh], &base_key)),
        v.sframe_secret,
        "{who}: sframe_secret (oracle)"
    );
    // The backend's own Extract, seen through a one-block Expand with empty info:
    // HKDF(base_key, info = "", Nh) = HMAC(sframe_secret, 0x01).
    let mut t1 = vec![0u8; nh];
    sp.hkdf(&[], &base_key, &[], &mut t1)
        .unwrap_or_else(|e| panic!("{who}: {e}"));
    assert_eq!(
        t1,
        hmac_oracle(suite.hash(), &secret, &[1]),
        "{who}: backend HKDF-Extract"
    );

    // sframe_key and sframe_salt: the backend's HKDF with the whole label as one info piece,
    // then the crate's derivation (which passes the label in pieces).
    let mut key = vec![0u8; suite.key_len()];
    sp.hkdf(&[], &base_key, &[&key_label], &mut key)
        .unwrap_or_else(|e| panic!("{who}: {e}"));
    assert_eq!(to_hex(&key), v.sframe_key, "{who}: HKDF(key label)");
    let mut salt = [0u8; NONCE_LEN];
    sp.hkdf(&[], &base_key, &[&salt_label], &mut salt)
        .unwrap_or_else(|e| panic!("{who}: {e}"));
    assert_eq!(to_hex(&salt), v.sframe_salt, "{who}: HKDF(salt label)");
    let m = derive_key_material(sp, kid, &base_key).unwrap_or_else(|e| panic!("{who}: {e}"));
    assert_eq!(to_hex(m.key()), v.sframe_key, "{who}: sframe_key");
    assert_eq!(to_hex(m.salt()), v.sframe_salt, "{who}: sframe_salt");

    // nonce = sframe_salt XOR be96(ctr); aad = header || metadata.
    let nonce_for = |ctr: Counter| {
        let mut n = *m.salt();
        for (b, c) in n[NONCE_LEN - 8..].iter_mut().zip(ctr.0.to_be_bytes()) {
            *b ^= c;
        }
        n
    };
    let nonce = nonce_for(ctr);
    assert_eq!(to_hex(&nonce), v.nonce, "{who}: nonce");
    let metadata = hex(&v.metadata);
    let (hbuf, hlen) = Header::new(kid, ctr).to_bytes();
    let header = &hbuf[..hlen];
    let aad = [header, &metadata].concat();
    assert_eq!(to_hex(&aad), v.aad, "{who}: aad");

    // ct = header || AEAD.Encrypt(sframe_key, nonce, aad, pt).
    let pt = hex(&v.pt);
    let nt = suite.tag_len();
    let aead = sp
        .aead_key(m.key())
        .unwrap_or_else(|e| panic!("{who}: {e}"));
    let mut body = pt.clone();
    let mut tag = vec![0u8; nt];
    aead.seal_in_place(&nonce, &aad, &mut body, &mut tag)
        .unwrap_or_else(|e| panic!("{who}: seal: {e}"));
    assert_eq!(to_hex(&[header, &body, &tag].concat()), v.ct, "{who}: ct");

    // And back, from the wire bytes alone (plus key material and metadata).
    let ct = hex(&v.ct);
    let (parsed, used) = Header::decode(&ct).unwrap_or_else(|e| panic!("{who}: {e}"));
    assert_eq!(parsed, Header::new(kid, ctr), "{who}: header of ct");
    let aad = [&ct[..used], &metadata[..]].concat();
    let (body, tag) = ct[used..].split_at(ct.len() - used - nt);
    let mut body = body.to_vec();
    aead.open_in_place(&nonce_for(parsed.ctr), &aad, &mut body, tag)
        .unwrap_or_else(|e| panic!("{who}: open: {e}"));
    assert_eq!(body, pt, "{who}: decrypt(ct)");
}

#[test]
fn data_files_are_the_documented_copies() {
    // The README's SHA-256 list names each file; the embedded bytes must match it.
    for (name, data) in [
        ("test-vectors.json", RFC),
        ("post-rfc-2025/test-vectors.json", POST_RFC),
        ("post-rfc-2025/test-vectors-aes256.json", POST_RFC_AES256),
    ] {
        let line = README
            .lines()
            .find(|l| l.split_whitespace().nth(1) == Some(name))
            .unwrap_or_else(|| panic!("README lists no SHA-256 for {name}"));
        let want = line.split_whitespace().next().unwrap();
        assert_eq!(
            to_hex(&Sha256::digest(data.as_bytes())),
            want,
            "{name} was edited"
        );
    }
}

#[test]
fn rfc_header_vectors() {
    // The header codec does not touch a crypto backend, so these run once.
    let vectors = rfc().header;
    assert_eq!(vectors.len(), 289, "RFC 9605 C.1 has 289 header vectors");
    for v in &vectors {
        let h = Header::new(KeyId(v.kid), Counter(v.ctr));
        let (buf, n) = h.to_bytes();
        assert_eq!(
            to_hex(&buf[..n]),
            v.encoded,
            "encode kid {:#x} ctr {:#x}",
            v.kid,
            v.ctr
        );
        assert_eq!(
            h.encoded_len(),
            n,
            "encoded_len kid {:#x} ctr {:#x}",
            v.kid,
            v.ctr
        );
        let wire = hex(&v.encoded);
        assert_eq!(
            Header::decode(&wire),
            Ok((h, wire.len())),
            "decode {} consumes every byte",
            v.encoded
        );
    }
}

#[test]
fn rfc_aes_ctr_hmac_vectors_every_backend() {
    let vectors = rfc().aes_ctr_hmac;
    assert_eq!(vectors.len(), 3, "RFC 9605 C.2 has 3 AES-CTR-HMAC vectors");
    let mut checked = 0;
    for p in providers() {
        for v in &vectors {
            check_aead_vector(p, v);
            checked += 1;
        }
    }
    assert_eq!(checked, 3 * providers().len());
}

#[test]
fn rfc_sframe_vectors_every_backend() {
    let vectors = rfc().sframe;
    assert_eq!(vectors.len(), 5, "RFC 9605 C.3 has 5 SFrame vectors");
    let suites: Vec<u16> = vectors.iter().map(|v| v.cipher_suite).collect();
    assert_eq!(suites, [1, 2, 3, 4, 5]);
    let mut checked = 0;
    for p in providers() {
        for v in &vectors {
            check_sframe_vector(p, v);
            checked += 1;
        }
    }
    assert_eq!(checked, 5 * providers().len());
}

#[test]
fn post_rfc_file_repeats_the_rfc_sections() {
    let (rfc, post) = (rfc(), post_rfc());
    assert_eq!(post.header, rfc.header);
    assert_eq!(post.aes_ctr_hmac, rfc.aes_ctr_hmac);
    assert_eq!(post.sframe, rfc.sframe);
    assert_eq!(post.aes_256_ctr_hmac.len(), 3);
    assert_eq!(post_rfc_aes256().sframe_aes_256_ctr_hmac.len(), 3);
}

#[test]
fn every_backend_implements_every_suite() {
    for p in providers() {
        for &s in ALL_SUITES {
            let sp = suite_provider(p, s).unwrap_or_else(|e| panic!("{}: {e}", p.name()));
            assert_eq!(sp.suite(), s, "{}", p.name());
        }
    }
}

#[cfg(feature = "draft-aes256-ctr-hmac")]
#[test]
fn post_rfc_aes_256_ctr_hmac_vectors_every_backend() {
    let vectors = post_rfc().aes_256_ctr_hmac;
    assert_eq!(vectors.len(), 3, "post-RFC aes_256_ctr_hmac has 3 vectors");
    let suites: Vec<u16> = vectors.iter().map(|v| v.cipher_suite).collect();
    assert_eq!(suites, [6, 7, 8]);
    let mut checked = 0;
    for p in providers() {
        for v in &vectors {
            check_aead_vector(p, v);
            checked += 1;
        }
    }
    assert_eq!(checked, 3 * providers().len());
}

#[cfg(feature = "draft-aes256-ctr-hmac")]
#[test]
fn post_rfc_sframe_aes_256_ctr_hmac_vectors_every_backend() {
    let vectors = post_rfc_aes256().sframe_aes_256_ctr_hmac;
    assert_eq!(
        vectors.len(),
        3,
        "post-RFC sframe_aes_256_ctr_hmac has 3 vectors"
    );
    let suites: Vec<u16> = vectors.iter().map(|v| v.cipher_suite).collect();
    assert_eq!(suites, [6, 7, 8]);
    let mut checked = 0;
    for p in providers() {
        for v in &vectors {
            check_sframe_vector(p, v);
            checked += 1;
        }
    }
    assert_eq!(checked, 3 * providers().len());
}

#[cfg(not(feature = "draft-aes256-ctr-hmac"))]
#[test]
fn post_rfc_suites_need_the_draft_feature() {
    let aead = post_rfc()
        .aes_256_ctr_hmac
        .iter()
        .map(|v| v.cipher_suite)
        .collect::<Vec<_>>();
    let sframe = post_rfc_aes256().sframe_aes_256_ctr_hmac;
    let sframe = sframe.iter().map(|v| v.cipher_suite).collect::<Vec<_>>();
    assert_eq!((&aead[..], &sframe[..]), (&[6, 7, 8][..], &[6, 7, 8][..]));
    for id in aead.into_iter().chain(sframe) {
        assert_eq!(
            CipherSuite::from_id(id),
            Err(telesfu_e2ee::Error::UnknownSuite(id))
        );
    }
}
