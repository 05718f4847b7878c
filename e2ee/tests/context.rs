//! The `Context` contract: round trips for every suite and backend, strict errors, replay
//! handling, counter exhaustion, and that failures change no state.

use proptest::prelude::*;
use telesfu_e2ee::crypto::{CryptoProvider, all_providers};
use telesfu_e2ee::{
    ALL_SUITES, CipherSuite, Context, ContextConfig, Counter, Error, KeyId, MAX_HEADER_LEN,
};

const KEY: &[u8] = b"0123456789abcdef";

fn pair(
    provider: &'static dyn CryptoProvider,
    suite: CipherSuite,
    kid: KeyId,
    ctr: u64,
) -> (Context, Context) {
    let mut cfg = ContextConfig::new(suite);
    cfg.provider = provider;
    let mut tx = Context::with_config(cfg.clone()).unwrap();
    let mut rx = Context::with_config(cfg).unwrap();
    tx.add_send_key_at(kid, KEY, Counter(ctr)).unwrap();
    rx.add_recv_key(kid, KEY).unwrap();
    (tx, rx)
}

fn seal_vec(tx: &mut Context, kid: KeyId, meta: &[u8], pt: &[u8]) -> Vec<u8> {
    let mut out = vec![0; pt.len() + tx.max_overhead()];
    let n = tx.seal(kid, meta, pt, &mut out).unwrap();
    out.truncate(n);
    out
}

#[test]
fn every_suite_and_backend_round_trips_through_all_three_apis() {
    for p in all_providers() {
        for &suite in ALL_SUITES {
            let kid = KeyId(0x1234);
            let (mut tx, mut rx) = pair(p, suite, kid, 0);
            let pt = b"a frame of encoded video";
            // Copying API.
            let ct = seal_vec(&mut tx, kid, b"meta", pt);
            assert_eq!(
                ct.len(),
                3 + pt.len() + suite.tag_len(),
                "{suite} {}",
                p.name()
            );
            let mut out = vec![0; ct.len()];
            let o = rx.open(b"meta", &ct, &mut out).unwrap();
            assert_eq!(&out[o.payload.clone()], pt);
            assert_eq!((o.kid, o.ctr), (kid, Counter(0)));
            // Headroom API: the payload does not move.
            let mut buf = vec![0u8; MAX_HEADER_LEN + pt.len() + 16];
            buf[MAX_HEADER_LEN..MAX_HEADER_LEN + pt.len()].copy_from_slice(pt);
            let r = tx
                .seal_in_place(
                    kid,
                    b"",
                    &mut buf,
                    MAX_HEADER_LEN..MAX_HEADER_LEN + pt.len(),
                )
                .unwrap();
            let o = rx.open_in_place(b"", &mut buf[r.clone()]).unwrap();
            assert_eq!(&buf[r.start..][o.payload], pt);
        }
    }
}

#[test]
fn backends_agree_byte_for_byte() {
    let providers = all_providers();
    for &suite in ALL_SUITES {
        let outs: Vec<Vec<u8>> = providers
            .iter()
            .map(|&p| {
                let (mut tx, _) = pair(p, suite, KeyId(9), 77);
                seal_vec(&mut tx, KeyId(9), b"m", &[0xab; 300])
            })
            .collect();
        assert!(outs.windows(2).all(|w| w[0] == w[1]), "{suite}");
    }
}

#[test]
fn replay_out_of_order_and_too_old() {
    let kid = KeyId(1);
    let (mut tx, mut rx) = pair(all_providers()[0], CipherSuite::Aes128GcmSha256, kid, 0);
    let frames: Vec<Vec<u8>> = (0..2000)
        .map(|i| seal_vec(&mut tx, kid, b"", &[i as u8; 10]))
        .collect();
    let mut out = [0u8; 64];
    // Out of order inside the window: 5 before 3.
    rx.open(b"", &frames[5], &mut out).unwrap();
    rx.open(b"", &frames[3], &mut out).unwrap();
    assert_eq!(
        rx.open(b"", &frames[3], &mut out),
        Err(Error::Replayed {
            kid,
            ctr: Counter(3)
        })
    );
    rx.open(b"", &frames[1999], &mut out).unwrap();
    // Default window is 1024 counters: 1999 - 975 = 1024 is just outside.
    assert_eq!(
        rx.open(b"", &frames[975], &mut out),
        Err(Error::TooOld {
            kid,
            ctr: Counter(975),
            newest: Counter(1999)
        })
    );
    rx.open(b"", &frames[976], &mut out).unwrap();
}

#[test]
fn counter_exhaustion_is_an_error_not_a_wrap() {
    let kid = KeyId(3);
    let (mut tx, mut rx) = pair(
        all_providers()[0],
        CipherSuite::Aes256GcmSha512,
        kid,
        u64::MAX - 1,
    );
    let a = seal_vec(&mut tx, kid, b"", b"x");
    let b = seal_vec(&mut tx, kid, b"", b"y");
    let mut out = [0u8; 64];
    assert_eq!(
        rx.open(b"", &a, &mut out).unwrap().ctr,
        Counter(u64::MAX - 1)
    );
    assert_eq!(rx.open(b"", &b, &mut out).unwrap().ctr, Counter(u64::MAX));
    assert_eq!(tx.next_counter(kid), None);
    assert_eq!(
        tx.seal(kid, b"", b"z", &mut out),
        Err(Error::CounterExhausted(kid))
    );
    assert_eq!(tx.header_len(kid), Err(Error::CounterExhausted(kid)));
}

#[test]
fn api_misuse_errors_are_precise_and_consume_nothing() {
    let kid = KeyId(5);
    let (mut tx, mut rx) = pair(all_providers()[0], CipherSuite::Aes128GcmSha256, kid, 0);
    let mut small = [0u8; 10];
    assert_eq!(
        tx.seal(kid, b"", &[0; 8], &mut small),
        Err(Error::BufferTooSmall {
            needed: 1 + 8 + 16,
            have: 10
        })
    );
    assert_eq!(
        tx.next_counter(kid),
        Some(Counter(0)),
        "a failed seal used a counter"
    );
    assert!(matches!(
        tx.seal(KeyId(6), b"", b"", &mut [0; 64]),
        Err(Error::NoSendKey(KeyId(6)))
    ));
    assert!(matches!(
        rx.seal(kid, b"", b"", &mut [0; 64]),
        Err(Error::WrongKeyDirection { .. })
    ));
    assert_eq!(tx.add_recv_key(kid, KEY), Err(Error::DuplicateKeyId(kid)));
    let ct = seal_vec(&mut tx, kid, b"", b"hello");
    assert!(matches!(
        tx.open(b"", &ct, &mut [0; 64]),
        Err(Error::WrongKeyDirection { .. })
    ));
    assert_eq!(
        rx.open(b"", &ct, &mut [0; 4]),
        Err(Error::BufferTooSmall {
            needed: ct.len(),
            have: 4
        })
    );
    assert_eq!(
        rx.open(b"", &ct[..10], &mut [0; 64]),
        Err(Error::TruncatedCiphertext { len: 10, min: 17 })
    );
    assert!(matches!(
        rx.open(b"", &[], &mut [0; 64]),
        Err(Error::InvalidHeader(_))
    ));
    let long = vec![0u8; telesfu_e2ee::MAX_METADATA_LEN + 1];
    assert!(matches!(
        rx.open(&long, &ct, &mut [0; 64]),
        Err(Error::MetadataTooLong { .. })
    ));
    assert!(rx.remove_key(kid));
    assert_eq!(
        rx.open(b"", &ct, &mut [0; 64]),
        Err(Error::UnknownKeyId(kid))
    );
    let mut cfg = ContextConfig::new(CipherSuite::Aes128GcmSha256);
    cfg.max_keys = 1;
    let mut c = Context::with_config(cfg.clone()).unwrap();
    c.add_recv_key(KeyId(1), KEY).unwrap();
    assert_eq!(
        c.add_recv_key(KeyId(2), KEY),
        Err(Error::TooManyKeys { max: 1 })
    );
    cfg.replay_window = 0;
    assert!(matches!(
        Context::with_config(cfg),
        Err(Error::InvalidConfig(_))
    ));
    let mut fresh = Context::new(CipherSuite::Aes128GcmSha256).unwrap();
    assert!(matches!(
        fresh.add_send_key(KeyId(9), &[]),
        Err(Error::InvalidKeyLength { .. })
    ));
}

fn suite_strategy() -> impl Strategy<Value = CipherSuite> {
    proptest::sample::select(ALL_SUITES.to_vec())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    /// Seal/open round-trips for every suite, any KID and CTR, any metadata.
    #[test]
    fn round_trip(
        suite in suite_strategy(),
        pidx in 0usize..4,
        kid: u64,
        ctr in prop_oneof![0u64..300, any::<u64>()],
        meta in proptest::collection::vec(any::<u8>(), 0..40),
        pt in proptest::collection::vec(any::<u8>(), 0..1500),
    ) {
        let providers = all_providers();
        let p = providers[pidx % providers.len()];
        let (mut tx, mut rx) = pair(p, suite, KeyId(kid), ctr);
        let ct = seal_vec(&mut tx, KeyId(kid), &meta, &pt);
        let mut out = vec![0; ct.len()];
        let o = rx.open(&meta, &ct, &mut out).unwrap();
        prop_assert_eq!(&out[o.payload], &pt[..]);
        prop_assert_eq!(o.ctr, Counter(ctr));
    }

    /// Any single bit flip in header, ciphertext, tag or metadata is rejected, and the failed
    /// open changes nothing: the genuine frame still opens afterwards, exactly once.
    #[test]
    fn bit_flips_rejected_without_state_change(
        suite in suite_strategy(),
        kid in 0u64..100_000,
        ctr in 0u64..100_000,
        meta in proptest::collection::vec(any::<u8>(), 1..20),
        pt in proptest::collection::vec(any::<u8>(), 0..200),
        flip in any::<prop::sample::Index>(),
        bit in 0u8..8,
    ) {
        let (mut tx, mut rx) = pair(all_providers()[0], suite, KeyId(kid), ctr);
        let ct = seal_vec(&mut tx, KeyId(kid), &meta, &pt);
        let total = ct.len() + meta.len();
        let i = flip.index(total);
        let (mut ct2, mut meta2) = (ct.clone(), meta.clone());
        if i < ct.len() { ct2[i] ^= 1 << bit } else { meta2[i - ct.len()] ^= 1 << bit }
        let mut out = vec![0; ct.len()];
        prop_assert!(rx.open(&meta2, &ct2, &mut out).is_err());
        let o = rx.open(&meta, &ct, &mut out).unwrap();
        prop_assert_eq!(&out[o.payload], &pt[..]);
        let replayed = matches!(rx.open(&meta, &ct, &mut out), Err(Error::Replayed { .. }));
        prop_assert!(replayed);
    }
}
