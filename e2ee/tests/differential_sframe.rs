//! Differential test against the `sframe` 2.x crate, an independent RFC 9605 implementation:
//! for random KIDs, counters, metadata and payloads, both produce the same bytes, and each
//! opens what the other sealed. (The crate's default ring backend has only the GCM suites.)

use std::convert::Infallible;

use proptest::prelude::*;
use sframe::frame::{EncryptedFrameView, FrameCounter, MediaFrameView};
use sframe::key::{DecryptionKey, EncryptionKey};
use telesfu_e2ee::crypto::all_providers;
use telesfu_e2ee::{CipherSuite, Context, ContextConfig, Counter, KeyId};

struct Fixed(u64);

impl FrameCounter for Fixed {
    type Error = Infallible;
    fn try_next(&mut self) -> Result<u64, Infallible> {
        Ok(self.0)
    }
}

fn peer_suite(s: CipherSuite) -> sframe::CipherSuite {
    match s {
        CipherSuite::Aes128GcmSha256 => sframe::CipherSuite::AesGcm128Sha256,
        _ => sframe::CipherSuite::AesGcm256Sha512,
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(150))]

    #[test]
    fn same_bytes_both_directions(
        gcm256: bool,
        pidx in 0usize..2,
        kid: u64,
        ctr: u64,
        base_key in proptest::collection::vec(any::<u8>(), 1..64),
        meta in proptest::collection::vec(any::<u8>(), 0..32),
        pt in proptest::collection::vec(any::<u8>(), 0..1500),
    ) {
        let suite = if gcm256 { CipherSuite::Aes256GcmSha512 } else { CipherSuite::Aes128GcmSha256 };
        let providers = all_providers();
        let mut cfg = ContextConfig::new(suite);
        cfg.provider = providers[pidx % providers.len()];

        // Ours.
        let mut tx = Context::with_config(cfg.clone()).unwrap();
        tx.add_send_key_at(KeyId(kid), &base_key, Counter(ctr)).unwrap();
        let mut ours = vec![0; pt.len() + tx.max_overhead()];
        let n = tx.seal(KeyId(kid), &meta, &pt, &mut ours).unwrap();
        ours.truncate(n);

        // Theirs.
        let key = EncryptionKey::derive_from(peer_suite(suite), kid, &base_key).unwrap();
        let mut buf = Vec::new();
        let theirs = MediaFrameView::with_meta_data(&mut Fixed(ctr), &pt, &meta)
            .encrypt_into(&key, &mut buf)
            .unwrap()
            .sframe_cipher_text()
            .to_vec();
        prop_assert_eq!(&ours, &theirs);

        // They open ours.
        let dkey = DecryptionKey::derive_from(peer_suite(suite), kid, &base_key).unwrap();
        let view = EncryptedFrameView::try_with_meta_data(&ours, &meta).unwrap();
        let mut out = Vec::new();
        let opened = view.decrypt_into(&dkey, &mut out).unwrap();
        prop_assert_eq!(opened.payload(), &pt[..]);

        // We open theirs.
        let mut rx = Context::with_config(cfg).unwrap();
        rx.add_recv_key(KeyId(kid), &base_key).unwrap();
        let mut out = vec![0; theirs.len()];
        let o = rx.open(&meta, &theirs, &mut out).unwrap();
        prop_assert_eq!(&out[o.payload], &pt[..]);
    }
}
