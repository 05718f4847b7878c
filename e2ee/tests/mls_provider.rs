//! Our mls-rs crypto provider against mls-rs's own RustCrypto provider as the oracle: the same
//! bytes for every deterministic operation, and each side opens what the other seals.

use mls_rs_core::crypto::{CipherSuiteProvider, CryptoProvider, HpkePublicKey, HpkeSecretKey};
use mls_rs_crypto_rustcrypto::RustCryptoProvider;
use proptest::prelude::*;
use telesfu_e2ee::mls::provider::{Drbg, MLS_SUITE, MlsCrypto};

fn ours() -> impl CipherSuiteProvider {
    MlsCrypto::new(Drbg::new([9; 32]))
        .cipher_suite_provider(MLS_SUITE)
        .unwrap()
}

fn oracle() -> impl CipherSuiteProvider {
    RustCryptoProvider::new()
        .cipher_suite_provider(MLS_SUITE)
        .unwrap()
}

/// mls-rs's RustCrypto provider refuses empty AEAD plaintexts (its `EmptyPlaintext`), so the
/// differential properties start at one byte; ours seals and opens them like any other.
#[test]
fn empty_plaintexts_round_trip() {
    let a = ours();
    let ct = a.aead_seal(&[1; 16], &[], Some(b"aad"), &[2; 12]).unwrap();
    assert_eq!(ct.len(), 16);
    assert!(
        a.aead_open(&[1; 16], &ct, Some(b"aad"), &[2; 12])
            .unwrap()
            .is_empty()
    );
    assert!(a.aead_open(&[1; 16], &ct, None, &[2; 12]).is_err());
}

#[test]
fn only_suite_one() {
    let p = MlsCrypto::new(Drbg::new([1; 32]));
    assert_eq!(p.supported_cipher_suites(), vec![MLS_SUITE]);
    assert!(
        p.cipher_suite_provider(mls_rs_core::crypto::CipherSuite::P256_AES128)
            .is_none()
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn hash_mac_kdf_match(data in proptest::collection::vec(any::<u8>(), 1..300), key in proptest::collection::vec(any::<u8>(), 1..64), len in 1usize..200) {
        let (a, b) = (ours(), oracle());
        prop_assert_eq!(a.hash(&data).unwrap(), b.hash(&data).unwrap());
        prop_assert_eq!(a.mac(&key, &data).unwrap(), b.mac(&key, &data).unwrap());
        let prk_a = a.kdf_extract(&key, &data).unwrap();
        prop_assert_eq!(&prk_a[..], &b.kdf_extract(&key, &data).unwrap()[..]);
        prop_assert_eq!(&a.kdf_expand(&prk_a, &data, len).unwrap()[..], &b.kdf_expand(&prk_a, &data, len).unwrap()[..]);
    }

    #[test]
    fn aead_matches_and_cross_opens(key in any::<[u8; 16]>(), nonce in any::<[u8; 12]>(), pt in proptest::collection::vec(any::<u8>(), 1..300), aad in proptest::option::of(proptest::collection::vec(any::<u8>(), 0..40))) {
        let (a, b) = (ours(), oracle());
        let ct = a.aead_seal(&key, &pt, aad.as_deref(), &nonce).unwrap();
        prop_assert_eq!(&ct, &b.aead_seal(&key, &pt, aad.as_deref(), &nonce).unwrap());
        prop_assert_eq!(&b.aead_open(&key, &ct, aad.as_deref(), &nonce).unwrap()[..], &pt[..]);
        let mut bad = ct.clone();
        bad[0] ^= 1;
        prop_assert!(a.aead_open(&key, &bad, aad.as_deref(), &nonce).is_err());
        prop_assert!(a.aead_open(&key, &ct[..ct.len().min(15)], aad.as_deref(), &nonce).is_err());
    }

    #[test]
    fn signatures_match_and_cross_verify(seed in any::<[u8; 32]>(), data in proptest::collection::vec(any::<u8>(), 0..200)) {
        let (a, b) = (ours(), oracle());
        let (sk, pk) = telesfu_e2ee::mls::provider::signature_secret_key(&seed);
        prop_assert_eq!(a.signature_key_derive_public(&sk).unwrap(), pk.clone());
        prop_assert_eq!(b.signature_key_derive_public(&sk).unwrap(), pk.clone());
        let sig = a.sign(&sk, &data).unwrap();
        prop_assert_eq!(&sig, &b.sign(&sk, &data).unwrap(), "Ed25519 is deterministic");
        b.verify(&pk, &sig, &data).unwrap();
        a.verify(&pk, &sig, &data).unwrap();
        let mut bad = sig.clone();
        bad[10] ^= 4;
        prop_assert!(a.verify(&pk, &bad, &data).is_err());
    }

    #[test]
    fn hpke_matches_and_cross_opens(ikm in any::<[u8; 32]>(), info in proptest::collection::vec(any::<u8>(), 0..40), pt in proptest::collection::vec(any::<u8>(), 1..200)) {
        let (a, b) = (ours(), oracle());
        let (sk_a, pk_a) = a.kem_derive(&ikm).unwrap();
        let (sk_b, pk_b) = b.kem_derive(&ikm).unwrap();
        prop_assert_eq!(&sk_a, &sk_b);
        prop_assert_eq!(&pk_a, &pk_b);
        let ct = a.hpke_seal(&pk_a, &info, Some(b"aad"), &pt).unwrap();
        prop_assert_eq!(&b.hpke_open(&ct, &sk_b, &pk_b, &info, Some(b"aad")).unwrap()[..], &pt[..]);
        let ct = b.hpke_seal(&pk_b, &info, None, &pt).unwrap();
        prop_assert_eq!(&a.hpke_open(&ct, &sk_a, &pk_a, &info, None).unwrap()[..], &pt[..]);
        prop_assert!(a.hpke_open(&ct, &sk_a, &pk_a, b"other info", None).is_err());
    }
}

#[test]
fn fresh_keys_are_valid_for_the_oracle_and_never_repeat() {
    let a = ours();
    let b = oracle();
    let mut seen = std::collections::BTreeSet::new();
    for _ in 0..50 {
        let (sk, pk) = a.kem_generate().unwrap();
        b.kem_public_key_validate(&pk).unwrap();
        let ct = b.hpke_seal(&pk, b"i", None, b"pt").unwrap();
        assert_eq!(&a.hpke_open(&ct, &sk, &pk, b"i", None).unwrap()[..], b"pt");
        assert!(seen.insert(pk.to_vec()), "a key repeated");
        let (ssk, spk) = a.signature_key_generate().unwrap();
        let sig = a.sign(&ssk, b"m").unwrap();
        b.verify(&spk, &sig, b"m").unwrap();
    }
}

#[test]
fn low_order_x25519_keys_are_refused() {
    let a = ours();
    let (sk, _) = a.kem_derive(&[1; 32]).unwrap();
    let zero = HpkePublicKey::from(vec![0u8; 32]);
    assert!(a.hpke_seal(&zero, b"", None, b"x").is_err());
    let _ = HpkeSecretKey::from(sk.to_vec());
}

#[test]
fn the_generator_is_deterministic_forward_secure_and_takes_entropy() {
    let (x, y) = (Drbg::new([5; 32]), Drbg::new([5; 32]));
    let (mut a, mut b) = ([0u8; 64], [0u8; 64]);
    x.fill(&mut a);
    y.fill(&mut b);
    assert_eq!(a, b, "same seed, same stream: runs replay");
    // Fast key erasure: the second output is not the continuation of the first ChaCha20
    // stream under the seed (the key changed in between).
    let mut plain = [0u8; 128];
    {
        use rand_core::{Rng as _, SeedableRng as _};
        chacha20::ChaCha20Rng::from_seed([5; 32]).fill_bytes(&mut plain);
    }
    assert_eq!(&a[..], &plain[..64]);
    x.fill(&mut a);
    assert_ne!(&a[..], &plain[64..]);
    // Entropy changes the stream.
    x.add_entropy(b"more");
    y.fill(&mut b);
    let mut c = [0u8; 64];
    x.fill(&mut c);
    assert_ne!(b, c);
    // Clones share one stream: never the same bytes twice.
    let z = x.clone();
    x.fill(&mut a);
    z.fill(&mut b);
    assert_ne!(a, b);
}

/// A whole MLS exchange between a `Session` on our provider and a plain mls-rs client on the
/// oracle provider: they derive the same epoch secrets, so the providers agree on everything
/// MLS uses (HPKE path secrets, key schedule, signatures).
#[test]
fn a_session_and_an_oracle_client_share_one_group() {
    use mls_rs::client_builder::PaddingMode;
    use mls_rs::mls_rules::{CommitOptions, DefaultMlsRules, EncryptionOptions};
    use mls_rs::{Client, MlsMessage};
    use mls_rs_core::extension::{Extension, ExtensionList, ExtensionType};
    use mls_rs_core::identity::SigningIdentity;
    use mls_rs_core::time::MlsTime;
    use std::time::{Duration, Instant};
    use telesfu_e2ee::mls::ds::{Delivery, DeliveryService, DsConfig, FromDs, ToDs};
    use telesfu_e2ee::mls::identity::{
        Authority, Certificate, CertificateIdentity, Claims, TrustAnchors,
    };
    use telesfu_e2ee::session::{
        MemberKey, PARTICIPANT_EXTENSION, Session, SessionConfig, SessionParams,
    };

    let unix = 1_800_000_000u64;
    let authority = Authority::from_seed(&[3; 32]);
    let anchors = TrustAnchors::new([authority.public_key()]);
    #[allow(clippy::disallowed_methods)] // the test is the caller
    let now = Instant::now();
    let mut ds = DeliveryService::new(DsConfig::default());

    let key = MemberKey::from_seed([4; 32]);
    let cert = authority
        .issue(
            &Claims::new("ada", "r", unix - 60, unix + 7200),
            &key.public_key(),
        )
        .unwrap();
    let mut ada = Session::new(
        SessionConfig::default(),
        SessionParams::new("r", "p1", anchors.clone(), key, cert, [5; 32]),
        now,
        Duration::from_secs(unix),
    )
    .unwrap();
    ada.handle_ds(now, ds.state());
    let Some(create) = ada.poll_transmit() else {
        panic!()
    };
    let Delivery::All(state) = ds.handle(create, unix) else {
        panic!()
    };
    ada.handle_ds(now, state);
    assert!(ada.is_member());

    // The oracle client: same certificate scheme, mls-rs's own RustCrypto provider.
    let (sk, pk) = telesfu_e2ee::mls::provider::signature_secret_key(&[6; 32]);
    let cert = Certificate::decode(
        &authority
            .issue(
                &Claims::new("bo", "r", unix - 60, unix + 7200),
                pk.as_bytes(),
            )
            .unwrap(),
    )
    .unwrap();
    let bo = Client::builder()
        .crypto_provider(RustCryptoProvider::new())
        .identity_provider(CertificateIdentity::new(anchors, "r", 300))
        .extension_type(ExtensionType::new(PARTICIPANT_EXTENSION))
        .mls_rules(
            DefaultMlsRules::new()
                .with_commit_options(
                    CommitOptions::new()
                        .with_path_required(true)
                        .with_allow_external_commit(true),
                )
                .with_encryption_options(EncryptionOptions::new(true, PaddingMode::StepFunction)),
        )
        .signing_identity(SigningIdentity::new(cert.credential(), pk), sk, MLS_SUITE)
        .build();
    let FromDs::GroupState {
        group_info: Some(gi),
    } = ds.state()
    else {
        panic!()
    };
    let mut exts = ExtensionList::new();
    exts.set(Extension::new(
        ExtensionType::new(PARTICIPANT_EXTENSION),
        b"p2".to_vec(),
    ));
    let (mut bo_group, commit) = bo
        .external_commit_builder()
        .unwrap()
        .with_leaf_node_extensions(exts)
        .commit_time(MlsTime::from(unix))
        .build(MlsMessage::from_bytes(&gi).unwrap())
        .unwrap();
    let next = bo_group
        .group_info_message_allowing_ext_commit(true)
        .unwrap()
        .to_bytes()
        .unwrap();
    let Delivery::All(accepted) = ds.handle(
        ToDs::Commit {
            commit: commit.to_bytes().unwrap(),
            group_info: next,
        },
        unix,
    ) else {
        panic!()
    };
    ada.handle_ds(now, accepted);
    assert_eq!(ada.epoch(), Some(1));
    let code = telesfu_e2ee::session::verification_code(
        bo_group.epoch_authenticator().unwrap().as_bytes(),
    );
    assert_eq!(ada.verification_code(), Some(code.as_str()));
    let base = bo_group
        .export_secret(b"SFrame 1.0 Base Key", b"", 16)
        .unwrap();
    assert_eq!(
        &ada.export_secret(b"SFrame 1.0 Base Key", b"", 16).unwrap()[..],
        base.as_bytes()
    );

    // Ada commits (her 30-minute update); the oracle client processes it.
    let later = now + Duration::from_secs(31 * 60);
    ada.handle_timeout(later);
    let Some(ToDs::Commit { commit, group_info }) = ada.poll_transmit() else {
        panic!()
    };
    let Delivery::All(FromDs::Commit { commit: c }) = ds.handle(
        ToDs::Commit {
            commit: commit.clone(),
            group_info,
        },
        unix,
    ) else {
        panic!()
    };
    bo_group
        .process_incoming_message_with_time(
            MlsMessage::from_bytes(&c).unwrap(),
            MlsTime::from(unix + 1860),
        )
        .unwrap();
    ada.handle_ds(later, FromDs::Commit { commit });
    assert_eq!(ada.epoch(), Some(2));
    assert_eq!(bo_group.current_epoch(), 2);
    let code = telesfu_e2ee::session::verification_code(
        bo_group.epoch_authenticator().unwrap().as_bytes(),
    );
    assert_eq!(ada.verification_code(), Some(code.as_str()));
}
