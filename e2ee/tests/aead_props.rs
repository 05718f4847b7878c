//! Properties of every suite in every backend: seal/open round-trips, any single bit flip is
//! caught, and (with ring compiled in) both backends produce the same bytes.

use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::{Index, select};
use telesfu_e2ee::crypto::{self, AeadKey, CryptoProvider, suite_provider};
use telesfu_e2ee::{ALL_SUITES, CipherSuite, Error, MAX_KEY_LEN, NONCE_LEN};

fn suites() -> impl Strategy<Value = CipherSuite> {
    select(ALL_SUITES.to_vec())
}

fn aead(p: &dyn CryptoProvider, suite: CipherSuite, key: &[u8]) -> Box<dyn AeadKey> {
    suite_provider(p, suite)
        .and_then(|sp| sp.aead_key(&key[..suite.key_len()]))
        .unwrap_or_else(|e| panic!("{} {suite}: {e}", p.name()))
}

fn seal(
    k: &dyn AeadKey,
    suite: CipherSuite,
    nonce: &[u8; NONCE_LEN],
    aad: &[u8],
    pt: &[u8],
) -> (Vec<u8>, Vec<u8>) {
    let mut body = pt.to_vec();
    let mut tag = vec![0u8; suite.tag_len()];
    k.seal_in_place(nonce, aad, &mut body, &mut tag).unwrap();
    (body, tag)
}

proptest! {
    #[test]
    fn seal_then_open_round_trips(
        suite in suites(),
        key in vec(any::<u8>(), MAX_KEY_LEN),
        nonce in any::<[u8; NONCE_LEN]>(),
        aad in vec(any::<u8>(), 0..64),
        pt in vec(any::<u8>(), 0..2000),
    ) {
        for p in crypto::all_providers() {
            let k = aead(p, suite, &key);
            let (mut body, tag) = seal(&*k, suite, &nonce, &aad, &pt);
            prop_assert_eq!(body.len(), pt.len());
            if pt.len() >= 16 {
                prop_assert_ne!(&body, &pt, "{} {}: sealed bytes equal the plaintext", p.name(), suite);
            }
            prop_assert_eq!(k.open_in_place(&nonce, &aad, &mut body, &tag), Ok(()), "{} {}", p.name(), suite);
            prop_assert_eq!(&body, &pt, "{} {}", p.name(), suite);
        }
    }

    #[test]
    fn any_single_bit_flip_fails_authentication(
        suite in suites(),
        key in vec(any::<u8>(), MAX_KEY_LEN),
        nonce in any::<[u8; NONCE_LEN]>(),
        aad in vec(any::<u8>(), 0..32),
        pt in vec(any::<u8>(), 0..300),
        flip in any::<Index>(),
    ) {
        for p in crypto::all_providers() {
            let k = aead(p, suite, &key);
            let (mut body, mut tag) = seal(&*k, suite, &nonce, &aad, &pt);
            let (mut aad, mut nonce) = (aad.clone(), nonce);
            // One bit somewhere in ciphertext || tag || aad || nonce.
            let bits = 8 * (body.len() + tag.len() + aad.len() + NONCE_LEN);
            let bit = flip.index(bits);
            let (byte, mask) = (bit / 8, 1u8 << (bit % 8));
            let (nb, nt, na) = (body.len(), tag.len(), aad.len());
            let field = match byte {
                b if b < nb => {
                    body[b] ^= mask;
                    "ciphertext"
                }
                b if b < nb + nt => {
                    tag[b - nb] ^= mask;
                    "tag"
                }
                b if b < nb + nt + na => {
                    aad[b - nb - nt] ^= mask;
                    "aad"
                }
                b => {
                    nonce[b - nb - nt - na] ^= mask;
                    "nonce"
                }
            };
            prop_assert_eq!(
                k.open_in_place(&nonce, &aad, &mut body, &tag),
                Err(Error::AuthenticationFailed),
                "{} {}: flipped bit in {}", p.name(), suite, field
            );
        }
    }

    #[cfg(feature = "ring")]
    #[test]
    fn ring_and_rust_crypto_seal_the_same_bytes(
        suite in suites(),
        key in vec(any::<u8>(), MAX_KEY_LEN),
        nonce in any::<[u8; NONCE_LEN]>(),
        aad in vec(any::<u8>(), 0..64),
        pt in vec(any::<u8>(), 0..2000),
    ) {
        let ring = aead(&crypto::ring::RING, suite, &key);
        let rc = aead(&crypto::rust_crypto::RUST_CRYPTO, suite, &key);
        let a = seal(&*ring, suite, &nonce, &aad, &pt);
        let b = seal(&*rc, suite, &nonce, &aad, &pt);
        prop_assert_eq!(&a, &b, "{}", suite);
        // Each opens the other's output.
        let (mut body, tag) = a;
        prop_assert_eq!(rc.open_in_place(&nonce, &aad, &mut body, &tag), Ok(()), "{}", suite);
        prop_assert_eq!(&body, &pt, "{}", suite);
    }

    #[cfg(feature = "ring")]
    #[test]
    fn ring_and_rust_crypto_hkdf_agree(
        suite in suites(),
        salt in vec(any::<u8>(), 0..80),
        ikm in vec(any::<u8>(), 1..80),
        info in vec(vec(any::<u8>(), 0..24), 0..4),
        len in 0usize..600,
    ) {
        let info: Vec<&[u8]> = info.iter().map(Vec::as_slice).collect();
        let mut a = vec![0u8; len];
        let mut b = vec![0u8; len];
        suite_provider(&crypto::ring::RING, suite).unwrap().hkdf(&salt, &ikm, &info, &mut a).unwrap();
        suite_provider(&crypto::rust_crypto::RUST_CRYPTO, suite)
            .unwrap()
            .hkdf(&salt, &ikm, &info, &mut b)
            .unwrap();
        prop_assert_eq!(a, b, "{}", suite);
    }
}

#[test]
fn key_and_hkdf_lengths_are_checked_in_every_backend() {
    for p in crypto::all_providers() {
        for &suite in ALL_SUITES {
            let sp = suite_provider(p, suite).unwrap();
            let nk = suite.key_len();
            let err = sp.aead_key(&vec![0; nk + 1]).unwrap_err();
            assert_eq!(
                err,
                Error::InvalidKeyLength {
                    what: "AEAD key (the suite's Nk)",
                    expected: nk,
                    got: nk + 1
                },
                "{} {suite}",
                p.name()
            );
            let max = 255 * suite.hash_len();
            let mut out = vec![0u8; max + 1];
            assert!(
                matches!(sp.hkdf(&[], b"ikm", &[], &mut out), Err(Error::InvalidKeyLength { got, .. }) if got == max + 1),
                "{} {suite}",
                p.name()
            );
            sp.hkdf(&[], b"ikm", &[], &mut out[..max]).unwrap();
        }
    }
}

#[test]
fn wrong_tag_length_is_a_caller_error_in_every_backend() {
    for p in crypto::all_providers() {
        for &suite in ALL_SUITES {
            let k = aead(p, suite, &[7; MAX_KEY_LEN]);
            let mut body = [0u8; 8];
            let mut tag = [0u8; 17];
            let nt = suite.tag_len() as u64;
            assert_eq!(
                k.seal_in_place(&[0; NONCE_LEN], &[], &mut body, &mut tag),
                Err(Error::LengthOutOfRange {
                    what: "tag buffer to seal into",
                    suite: suite.name(),
                    len: 17,
                    min: nt,
                    max: nt,
                }),
                "{} {suite}",
                p.name()
            );
            assert_eq!(
                body,
                [0; 8],
                "{} {suite}: a refused seal touched the buffer",
                p.name()
            );
        }
    }
}
