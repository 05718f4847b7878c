//! ICE-lite responder against requests built with the `stun` crate the way Chromium builds
//! them (USERNAME, GOOG-NETWORK-INFO, ICE-CONTROLLING, PRIORITY, USE-CANDIDATE,
//! MESSAGE-INTEGRITY, FINGERPRINT), with responses verified by the same crate.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use proptest::prelude::*;
use stun::agent::TransactionId;
use stun::attributes::{
    ATTR_ICE_CONTROLLING, ATTR_PRIORITY, ATTR_USE_CANDIDATE, ATTR_USERNAME, AttrType,
};
use stun::fingerprint::FINGERPRINT;
use stun::integrity::MessageIntegrity;
use stun::message::{BINDING_REQUEST, BINDING_SUCCESS, Getter, Message, Setter};
use stun::textattrs::Username;
use stun::xoraddr::XorMappedAddress;
use telesfu_server::transport::ice::{
    CONSENT_TIMEOUT, IceCredentials, IceError, IceLite, IceState, local_ufrag_of,
};

const ATTR_GOOG_NETWORK_INFO: AttrType = AttrType(0xC057);

fn local_creds() -> IceCredentials {
    IceCredentials {
        ufrag: "srvUfrag".into(),
        pwd: "serverPasswordOf24Chars+".into(),
    }
}

fn browser_creds() -> IceCredentials {
    IceCredentials {
        ufrag: "brwz".into(),
        pwd: "browserPasswordIs22chr/".into(),
    }
}

struct Req<'a> {
    username: &'a str,
    pwd: &'a str,
    use_candidate: bool,
    txid: u8,
}

impl Default for Req<'_> {
    fn default() -> Self {
        Self {
            username: "srvUfrag:brwz",
            pwd: "serverPasswordOf24Chars+",
            use_candidate: false,
            txid: 7,
        }
    }
}

/// A Binding Request as Chromium 156 sends it.
fn request(r: &Req<'_>) -> Vec<u8> {
    let mut m = Message::new();
    let setters: Vec<Box<dyn Setter>> = vec![
        Box::new(BINDING_REQUEST),
        Box::new(TransactionId([r.txid; 12])),
        Box::new(Username::new(ATTR_USERNAME, r.username.to_string())),
    ];
    m.build(&setters).expect("build header");
    m.add(ATTR_GOOG_NETWORK_INFO, &[0, 1, 0, 50]);
    m.add(
        ATTR_ICE_CONTROLLING,
        &0x1122_3344_5566_7788u64.to_be_bytes(),
    );
    m.add(ATTR_PRIORITY, &1_853_824_767u32.to_be_bytes());
    if r.use_candidate {
        m.add(ATTR_USE_CANDIDATE, &[]);
    }
    MessageIntegrity::new_short_term_integrity(r.pwd.to_string())
        .add_to(&mut m)
        .expect("integrity");
    FINGERPRINT.add_to(&mut m).expect("fingerprint");
    m.raw
}

/// Parses and verifies a response with the `stun` crate; returns its XOR-MAPPED-ADDRESS.
fn verify_response(bytes: &[u8], pwd: &str, txid: u8) -> SocketAddr {
    let mut m = Message::new();
    m.raw = bytes.to_vec();
    m.decode().expect("response decodes");
    assert_eq!(m.typ, BINDING_SUCCESS);
    assert_eq!(m.transaction_id.0, [txid; 12]);
    MessageIntegrity::new_short_term_integrity(pwd.to_string())
        .check(&mut m)
        .expect("response integrity verifies with our pwd");
    FINGERPRINT
        .check(&m)
        .expect("response fingerprint verifies");
    let mut xor = XorMappedAddress::default();
    xor.get_from(&m).expect("XOR-MAPPED-ADDRESS present");
    SocketAddr::new(xor.ip, xor.port)
}

#[allow(clippy::disallowed_methods)]
fn base() -> Instant {
    Instant::now()
}

fn agent() -> IceLite {
    IceLite::new(local_creds(), Some(browser_creds()))
}

const A: &str = "127.0.0.1:50000";
const B: &str = "192.0.2.2:40000";
const V6: &str = "[fd00::2]:40001";

fn addr(s: &str) -> SocketAddr {
    s.parse().expect("test address")
}

#[test]
fn answers_browser_request_with_verifiable_success() {
    let t0 = base();
    let mut ice = agent();
    let mut out = Vec::new();
    let outcome = ice
        .handle_stun(t0, addr(A), &request(&Req::default()), &mut out)
        .expect("valid request");
    assert!(!outcome.nominated);
    assert!(outcome.selected_changed);
    assert_eq!(verify_response(&out, &local_creds().pwd, 7), addr(A));
    assert_eq!(ice.state(), IceState::Connected);
    assert_eq!(ice.selected_remote(), Some(addr(A)));
    assert!(!ice.is_nominated());
}

#[test]
fn xor_mapped_address_for_ipv6_and_v4_mapped() {
    let t0 = base();
    let mut ice = agent();
    let mut out = Vec::new();
    ice.handle_stun(t0, addr(V6), &request(&Req::default()), &mut out)
        .expect("valid");
    assert_eq!(verify_response(&out, &local_creds().pwd, 7), addr(V6));
    // A dual-stack socket reports an IPv4 browser as ::ffff:a.b.c.d; the browser sent from
    // the IPv4 address, so that is what it must read back.
    ice.handle_stun(
        t0,
        addr("[::ffff:127.0.0.1]:50000"),
        &request(&Req::default()),
        &mut out,
    )
    .expect("valid");
    assert_eq!(verify_response(&out, &local_creds().pwd, 7), addr(A));
}

#[test]
fn local_ufrag_routing_helper() {
    let req = request(&Req::default());
    assert_eq!(local_ufrag_of(&req), Some("srvUfrag"));
    assert_eq!(local_ufrag_of(&req[..req.len() - 1]), None);
    assert_eq!(local_ufrag_of(b"not stun at all, clearly"), None);
    assert_eq!(local_ufrag_of(&[]), None);
}

#[test]
fn first_valid_address_selected_then_nomination_latches_and_switches() {
    let t0 = base();
    let mut ice = agent();
    let mut out = Vec::new();
    ice.handle_stun(t0, addr(A), &request(&Req::default()), &mut out)
        .expect("valid");
    // Another address, not nominated: answered, but the selection stays.
    let o = ice
        .handle_stun(t0, addr(B), &request(&Req::default()), &mut out)
        .expect("valid");
    assert!(!o.selected_changed);
    assert_eq!(verify_response(&out, &local_creds().pwd, 7), addr(B));
    assert_eq!(ice.selected_remote(), Some(addr(A)));
    // The browser nominates B.
    let nominate = Req {
        use_candidate: true,
        ..Req::default()
    };
    let o = ice
        .handle_stun(t0, addr(B), &request(&nominate), &mut out)
        .expect("valid");
    assert!(o.nominated && o.selected_changed);
    assert!(ice.is_nominated());
    assert_eq!(ice.selected_remote(), Some(addr(B)));
    // A plain check from A does not undo a nomination.
    ice.handle_stun(t0, addr(A), &request(&Req::default()), &mut out)
        .expect("valid");
    assert_eq!(ice.selected_remote(), Some(addr(B)));
    // A new nomination moves it (pair switch).
    let o = ice
        .handle_stun(t0, addr(A), &request(&nominate), &mut out)
        .expect("valid");
    assert!(o.selected_changed);
    assert_eq!(ice.selected_remote(), Some(addr(A)));
    // Renominating the same address changes nothing.
    let o = ice
        .handle_stun(t0, addr(A), &request(&nominate), &mut out)
        .expect("valid");
    assert!(o.nominated && !o.selected_changed);
}

fn assert_rejected(ice: &mut IceLite, bytes: &[u8], expected: &IceError) {
    let t0 = base();
    let mut out = vec![0xAA; 10];
    let before_state = ice.state();
    let before_sel = ice.selected_remote();
    let err = ice
        .handle_stun(t0, addr(B), bytes, &mut out)
        .expect_err("must be rejected");
    assert_eq!(&err, expected);
    assert!(out.is_empty(), "no response for a rejected request");
    assert_eq!(ice.state(), before_state);
    assert_eq!(ice.selected_remote(), before_sel);
}

#[test]
fn wrong_password_is_rejected_without_answer() {
    let mut ice = agent();
    let bad = request(&Req {
        pwd: "browserPasswordIs22chr/",
        ..Req::default()
    });
    assert_rejected(&mut ice, &bad, &IceError::BadIntegrity);
    assert_eq!(ice.state(), IceState::New);
}

#[test]
fn wrong_usernames_are_rejected() {
    let mut ice = agent();
    for (username, err) in [
        ("otherUfr:brwz", IceError::WrongLocalUfrag),
        ("srvUfragX:brwz", IceError::WrongLocalUfrag),
        ("srvUfrag", IceError::WrongLocalUfrag),
        ("srvUfrag:other", IceError::WrongRemoteUfrag),
    ] {
        let bad = request(&Req {
            username,
            ..Req::default()
        });
        assert_rejected(&mut ice, &bad, &err);
    }
    // Without remote credentials any remote part is accepted.
    let mut open = IceLite::new(local_creds(), None);
    let mut out = Vec::new();
    let req = request(&Req {
        username: "srvUfrag:whoever",
        ..Req::default()
    });
    open.handle_stun(base(), addr(A), &req, &mut out)
        .expect("remote ufrag unknown: accepted");
}

#[test]
fn non_binding_and_garbage_are_rejected() {
    let mut ice = agent();
    // A Binding Success Response (e.g. reflected back at us).
    let mut m = Message::new();
    let setters: Vec<Box<dyn Setter>> =
        vec![Box::new(BINDING_SUCCESS), Box::new(TransactionId([1; 12]))];
    m.build(&setters).expect("build");
    FINGERPRINT.add_to(&mut m).expect("fp");
    assert_rejected(
        &mut ice,
        &m.raw,
        &IceError::NotBindingRequest {
            message_type: 0x0101,
        },
    );
    assert!(matches!(
        ice.handle_stun(base(), addr(A), b"\x16\xfe\xfd garbage", &mut Vec::new()),
        Err(IceError::Malformed(_))
    ));
    // Flipping one bit after the header breaks the fingerprint (or the framing).
    let mut req = request(&Req::default());
    req[30] ^= 0x01;
    let err = ice
        .handle_stun(base(), addr(A), &req, &mut Vec::new())
        .expect_err("corrupted");
    assert!(
        matches!(err, IceError::BadFingerprint | IceError::Malformed(_)),
        "{err:?}"
    );
    // No FINGERPRINT: RFC 8445 requires it on checks.
    let mut m = Message::new();
    let setters: Vec<Box<dyn Setter>> = vec![
        Box::new(BINDING_REQUEST),
        Box::new(TransactionId([2; 12])),
        Box::new(Username::new(ATTR_USERNAME, "srvUfrag:brwz".into())),
        Box::new(MessageIntegrity::new_short_term_integrity(
            local_creds().pwd,
        )),
    ];
    m.build(&setters).expect("build");
    assert_rejected(&mut ice, &m.raw, &IceError::MissingAttribute("FINGERPRINT"));
    assert_eq!(ice.state(), IceState::New);
}

#[test]
fn consent_expires_after_30_s_of_silence() {
    let t0 = base();
    let mut ice = agent();
    let mut out = Vec::new();
    assert!(!ice.consent_expired(t0 + Duration::from_secs(3600)));
    assert_eq!(ice.poll_timeout(), None);
    ice.handle_stun(t0, addr(A), &request(&Req::default()), &mut out)
        .expect("valid");
    assert_eq!(ice.poll_timeout(), Some(t0 + CONSENT_TIMEOUT));
    // Refreshed at 20 s by the selected address.
    let t20 = t0 + Duration::from_secs(20);
    ice.handle_stun(t20, addr(A), &request(&Req::default()), &mut out)
        .expect("valid");
    // Requests from another address do not refresh consent for A.
    let t40 = t0 + Duration::from_secs(40);
    ice.handle_stun(t40, addr(B), &request(&Req::default()), &mut out)
        .expect("valid");
    let just_before = t20 + CONSENT_TIMEOUT - Duration::from_millis(1);
    assert!(!ice.consent_expired(just_before));
    ice.handle_timeout(just_before);
    assert_eq!(ice.state(), IceState::Connected);
    let expiry = t20 + CONSENT_TIMEOUT;
    assert!(ice.consent_expired(expiry));
    ice.handle_timeout(expiry);
    assert_eq!(ice.state(), IceState::Disconnected);
    assert_eq!(ice.poll_timeout(), None);
    // A bad request does not revive it; a good one does.
    let bad = request(&Req {
        pwd: "wrong-password-wrong-pwd",
        ..Req::default()
    });
    let _ = ice.handle_stun(expiry, addr(A), &bad, &mut out);
    assert_eq!(ice.state(), IceState::Disconnected);
    ice.handle_stun(expiry, addr(A), &request(&Req::default()), &mut out)
        .expect("valid");
    assert_eq!(ice.state(), IceState::Connected);
}

proptest! {
    /// Arbitrary bytes never panic and never produce a response or a state change.
    #[test]
    fn garbage_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        let mut ice = agent();
        let mut out = Vec::new();
        let result = ice.handle_stun(base(), addr(A), &bytes, &mut out);
        prop_assert!(result.is_err());
        prop_assert!(out.is_empty());
        prop_assert_eq!(ice.state(), IceState::New);
        let _ = local_ufrag_of(&bytes);
    }

    /// Truncations and single-byte corruptions of a valid request never panic and are never
    /// answered (integrity and fingerprint cover every byte).
    #[test]
    fn mutated_requests_are_rejected(cut in 0usize..120, pos in 0usize..120, xor in 1u8..=255) {
        let req = request(&Req { use_candidate: true, ..Req::default() });
        let mut ice = agent();
        let mut out = Vec::new();
        let truncated = &req[..cut.min(req.len() - 1)];
        prop_assert!(ice.handle_stun(base(), addr(A), truncated, &mut out).is_err());
        prop_assert!(out.is_empty());
        let mut corrupted = req.clone();
        let pos = pos % corrupted.len();
        corrupted[pos] ^= xor;
        prop_assert!(ice.handle_stun(base(), addr(A), &corrupted, &mut out).is_err());
        prop_assert!(out.is_empty());
        prop_assert_eq!(ice.selected_remote(), None);
    }
}
