//! RFC 9605 §5.1 sender-key ratchet and KID layout, driven through real contexts.

use telesfu_e2ee::crypto::{default_provider, suite_provider};
use telesfu_e2ee::key::ratchet_base_key;
use telesfu_e2ee::kid::{RatchetKidLayout, SenderKeyRatchet};
use telesfu_e2ee::{CipherSuite, Context, Error, KeyId};

const SUITE: CipherSuite = CipherSuite::Aes128GcmSha256;

fn ratchet(generation: u64) -> SenderKeyRatchet {
    let sp = suite_provider(default_provider(), SUITE).unwrap();
    SenderKeyRatchet::new(
        sp,
        RatchetKidLayout::new(4).unwrap(),
        generation,
        &[9u8; 32],
    )
    .unwrap()
}

#[test]
fn the_ratchet_step_is_the_rfc_hkdf_and_kids_carry_generation_and_step() {
    let sp = suite_provider(default_provider(), SUITE).unwrap();
    let mut tx = ratchet(3);
    assert_eq!(tx.kid(), KeyId(3 << 4));
    let expected = ratchet_base_key(sp, &[9u8; 32]).unwrap();
    assert_eq!(tx.advance().unwrap(), KeyId((3 << 4) | 1));
    assert_eq!(tx.base_key(), &expected[..]);
    assert_eq!(tx.base_key().len(), SUITE.hash_len());
    // The step wraps modulo 2^R in the KID but keeps counting.
    for _ in 0..16 {
        tx.advance().unwrap();
    }
    assert_eq!((tx.step(), tx.kid()), (17, KeyId((3 << 4) | 1)));
}

#[test]
fn a_receiver_catches_up_only_after_a_frame_authenticates() {
    let mut tx = ratchet(1);
    let mut rx = ratchet(1);
    // The sender ratchets twice (two joins) and seals under the new KID.
    tx.advance().unwrap();
    let kid = tx.advance().unwrap();
    let mut sender = Context::new(SUITE).unwrap();
    sender.add_send_key(kid, tx.base_key()).unwrap();
    let mut wire = [0u8; 128];
    let n = sender
        .seal(kid, b"", b"frame after two joins", &mut wire)
        .unwrap();

    // A forged frame naming a far-ahead KID: peek computes a key, the open fails, and the
    // receiver's ratchet has not moved.
    let forged_kid = KeyId((1 << 4) | 9);
    let (ahead, key) = rx.peek(forged_kid).unwrap().unwrap();
    assert_eq!(ahead, 9);
    let mut attacker = Context::new(SUITE).unwrap();
    attacker.add_send_key(forged_kid, &[0x66; 32]).unwrap();
    let mut forged = [0u8; 128];
    let fn_ = attacker
        .seal(forged_kid, b"", b"forged", &mut forged)
        .unwrap();
    let mut ctx = Context::new(SUITE).unwrap();
    ctx.add_recv_key(forged_kid, &key).unwrap();
    assert_eq!(
        ctx.open(b"", &forged[..fn_], &mut [0u8; 128]),
        Err(Error::AuthenticationFailed)
    );
    assert_eq!(rx.step(), 0);

    // The genuine frame: peek, open, then commit.
    let (ahead, key) = rx.peek(kid).unwrap().unwrap();
    assert_eq!(ahead, 2);
    let mut ctx = Context::new(SUITE).unwrap();
    ctx.add_recv_key(kid, &key).unwrap();
    let mut out = [0u8; 128];
    let o = ctx.open(b"", &wire[..n], &mut out).unwrap();
    assert_eq!(&out[o.payload], b"frame after two joins");
    rx.commit(kid).unwrap();
    assert_eq!(
        (rx.step(), rx.kid(), rx.base_key()),
        (2, kid, tx.base_key())
    );

    // A KID of another generation is not this ratchet's.
    assert!(rx.peek(KeyId(2 << 4)).unwrap().is_none());
    assert!(matches!(
        rx.commit(KeyId(2 << 4)),
        Err(Error::InvalidConfig(_))
    ));
}
