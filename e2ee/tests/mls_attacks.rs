//! Issue 9's findings, each replayed against the MLS session as the SFU would attack it: the
//! SFU runs the Delivery Service, so it can inject, replay, drop, reorder and misattribute
//! anything it carries. Every test here is an attack that used to work and must now fail.

mod mls_common;

use std::time::Duration;

use mls_common::{Call, ROOM, UNIX_START};
use telesfu_e2ee::Error;
use telesfu_e2ee::mls::ds::{DeliveryService, DsConfig, FromDs, ToDs};
use telesfu_e2ee::mls::identity::{Authority, Claims, TrustAnchors};
use telesfu_e2ee::session::{
    ChatOrder, Event, MemberKey, RefusedKind, Session, SessionConfig, SessionParams,
};
use telesfu_e2ee::{Context, KeyId};

/// A session the SFU made up: its certificate is signed by `signer`, it trusts the real
/// authority too (so it can read the group it attacks).
fn rogue(call: &Call, signer: &Authority, name: &str, claims_room: &str) -> (Session, String) {
    let key = MemberKey::from_seed([0xee; 32]);
    let mut claims = Claims::new(
        "sub-mallory",
        claims_room,
        UNIX_START - 60,
        UNIX_START + 3600,
    );
    claims.name = name.into();
    claims.role = "clinician".into();
    let cert = signer.issue(&claims, &key.public_key()).unwrap();
    let anchors = TrustAnchors::new([call.authority.public_key(), signer.public_key()]);
    let params = SessionParams::new(claims_room, "p-ghost", anchors, key, cert, [0xef; 32]);
    (
        Session::new(SessionConfig::default(), params, call.now, call.unix()).unwrap(),
        "p-ghost".into(),
    )
}

/// The rogue's external commit, built from the DS's current GroupInfo.
fn rogue_commit(call: &Call, s: &mut Session) -> (Vec<u8>, Vec<u8>) {
    s.handle_ds(call.now, call.ds.state());
    match s.poll_transmit() {
        Some(ToDs::Commit { commit, group_info }) => (commit, group_info),
        other => panic!(
            "rogue could not build a join: {other:?} {:?}",
            s.poll_event()
        ),
    }
}

fn state(call: &Call, i: usize) -> (Option<u64>, Option<String>, Vec<String>) {
    let s = &call.members[i].session;
    (
        s.epoch(),
        s.verification_code().map(String::from),
        s.roster().iter().map(|r| r.fingerprint.clone()).collect(),
    )
}

// ----- 1. A hidden member gets every key -----

#[test]
fn finding_1_server_injected_member_without_certificate_gets_nothing() {
    let mut call = Call::new();
    let a = call.join("Dr Ada", "clinician");
    let b = call.join("Pat", "patient");
    call.advance(Duration::from_secs(2));
    let before: Vec<_> = [a, b].iter().map(|i| state(&call, *i)).collect();

    // The SFU's own authority certifies a ghost, which joins by external commit; the SFU
    // delivers the commit to every member as if it were the room's next commit.
    let sfu_authority = Authority::from_seed(&[0x66; 32]);
    let (mut ghost, ghost_p) = rogue(&call, &sfu_authority, "Ghost", ROOM);
    let (commit, _) = rogue_commit(&call, &mut ghost);
    for i in [a, b] {
        call.inject(
            i,
            FromDs::Commit {
                commit: commit.clone(),
            },
        );
    }
    for (k, i) in [a, b].into_iter().enumerate() {
        assert_eq!(
            state(&call, i),
            before[k],
            "{} accepted the ghost",
            call.members[i].name
        );
        assert!(
            call.events(i).iter().any(|e| matches!(e, Event::Refused { kind: RefusedKind::Commit, reason } if reason.contains("authority"))),
            "{} did not report the refused certificate: {:?}",
            call.members[i].name,
            call.events(i)
        );
    }
    // Keys never reach it: the ghost's view of "the next epoch" opens nothing the members send.
    let wire = call.seal(a, b"vitals");
    let pa = call.members[a].participant.clone();
    let mut buf = wire.clone();
    assert!(
        ghost
            .open_frame(&pa, telesfu_e2ee::media::Codec::Vp8, &mut buf)
            .is_err()
    );
    assert_eq!(call.open(b, &pa, &wire).unwrap(), b"vitals");
    let _ = ghost_p;
}

#[test]
fn finding_1_an_honest_ds_that_knows_the_authority_refuses_the_ghost_too() {
    let mut call = Call::new();
    call.ds = DeliveryService::new(DsConfig::with_trust(call.anchors(), ROOM));
    let a = call.join("Dr Ada", "clinician");
    call.join("Pat", "patient");
    let before = state(&call, a);
    let sfu_authority = Authority::from_seed(&[0x66; 32]);
    let (ghost, gp) = rogue(&call, &sfu_authority, "Ghost", ROOM);
    let g = call.connect("Ghost", ghost, gp);
    call.advance(Duration::from_secs(120));
    assert!(!call.members[g].session.is_member());
    assert_eq!(call.ds.epoch(), 1, "the DS stayed at the members' epoch");
    assert!(call.ds.counts().1 >= 1);
    let rejected = call.log.iter().find_map(|(_, m)| match m {
        FromDs::Rejected { reason, .. } => Some(reason.clone()),
        _ => None,
    });
    assert!(rejected.unwrap().contains("certificate"));
    // It backs off instead of hammering the DS: a handful of tries in two minutes.
    assert!(
        call.ds.counts().1 <= 12,
        "{} rejected joins in 2 minutes",
        call.ds.counts().1
    );
    call.members[g].connected = false;
    assert_eq!(state(&call, a), before);
}

#[test]
fn finding_1_certificates_for_another_room_or_another_key_are_refused() {
    let mut call = Call::new();
    let a = call.join("Dr Ada", "clinician");
    let b = call.join("Pat", "patient");
    let before = state(&call, a);
    // A real certificate, but for another visit.
    let (mut other_room, _) = {
        let key = MemberKey::from_seed([0x31; 32]);
        let mut claims = Claims::new("sub-x", "visit-2", UNIX_START - 60, UNIX_START + 3600);
        claims.name = "Dr Elsewhere".into();
        let cert = call.authority.issue(&claims, &key.public_key()).unwrap();
        // It believes it is in visit-1 (so it builds the join), with a visit-2 certificate.
        let params = SessionParams::new("visit-2", "p-x", call.anchors(), key, cert, [3; 32]);
        (
            Session::new(SessionConfig::default(), params, call.now, call.unix()).unwrap(),
            (),
        )
    };
    other_room.handle_ds(call.now, call.ds.state());
    // Its own client already refuses: the group's members are certified for visit-1 only.
    assert!(other_room.poll_transmit().is_none());
    assert!(matches!(
        other_room.poll_event(),
        Some(Event::Refused {
            kind: RefusedKind::GroupInfo,
            ..
        })
    ));

    // A real certificate (Pat's: issued for Pat's key) presented with another key.
    let pat_key = MemberKey::from_seed([2; 32]);
    let stolen = call.certify(&call.authority, &pat_key, "Pat", "patient");
    let thief_key = MemberKey::from_seed([0x99; 32]);
    assert!(
        matches!(
            Session::new(
                SessionConfig::default(),
                SessionParams::new(ROOM, "p-thief", call.anchors(), thief_key, stolen, [4; 32]),
                call.now,
                call.unix()
            ),
            Err(Error::Certificate(_))
        ),
        "a certificate for another key is refused at once"
    );
    assert_eq!(state(&call, a), before);
    let _ = b;
}

#[test]
fn finding_1_every_certified_member_is_in_every_roster() {
    let mut call = Call::new();
    let a = call.join("Dr Ada", "clinician");
    let b = call.join("Pat", "patient");
    let c = call.join("Ivy", "interpreter");
    call.assert_agree();
    // The SFU cannot show a member to some and hide it from others: the roster is the MLS
    // tree, and every member's tree hash is in the key schedule.
    for i in [a, b, c] {
        let r: Vec<_> = call.members[i]
            .session
            .roster()
            .iter()
            .map(|r| (r.name.as_str(), r.role.as_str(), r.tenant.as_str()))
            .collect();
        assert_eq!(
            r,
            [
                ("Dr Ada", "clinician", "clinic-a"),
                ("Pat", "patient", "clinic-a"),
                ("Ivy", "interpreter", "clinic-a")
            ]
        );
    }
}

// ----- 2. No forward secrecy inside a call -----

#[test]
fn finding_2_a_late_joiner_cannot_open_what_was_sent_before_it_joined() {
    let mut call = Call::new();
    let a = call.join("Dr Ada", "clinician");
    let b = call.join("Pat", "patient");
    call.advance(Duration::from_secs(2));
    let pa = call.members[a].participant.clone();
    let recorded: Vec<_> = (0..5)
        .map(|i| call.seal(a, format!("before {i}").as_bytes()))
        .collect();
    assert_eq!(call.open(b, &pa, &recorded[0]).unwrap(), b"before 0");
    let c = call.join("Ivy", "interpreter");
    call.advance(Duration::from_secs(30));
    for (i, w) in recorded.iter().enumerate() {
        assert!(
            call.open(c, &pa, w).is_err(),
            "the joiner opened frame {i} sent before it joined"
        );
    }
    call.assert_media_flows();
}

#[test]
fn finding_2_a_leaver_cannot_open_what_is_sent_after_it_left() {
    let mut call = Call::new();
    let a = call.join("Dr Ada", "clinician");
    let b = call.join("Pat", "patient");
    let c = call.join("Ivy", "interpreter");
    call.advance(Duration::from_secs(2));
    call.leave(c);
    call.advance(Duration::from_secs(15));
    let pa = call.members[a].participant.clone();
    let after = call.seal(a, b"after the interpreter left");
    assert_eq!(
        call.open(b, &pa, &after).unwrap(),
        b"after the interpreter left"
    );
    // Ivy kept her state (a server can keep sending her frames).
    assert!(call.open(c, &pa, &after).is_err());
    // Even if the server also hands her the removal commit, she only learns she was removed.
    let removal = call.log.iter().rev().find_map(|(_, m)| match m {
        FromDs::Commit { commit } => Some(commit.clone()),
        _ => None,
    });
    call.members[c].connected = true;
    call.inject(
        c,
        FromDs::Commit {
            commit: removal.unwrap(),
        },
    );
    assert!(
        call.events(c)
            .iter()
            .any(|e| matches!(e, Event::Removed { .. }))
    );
    assert!(call.open(c, &pa, &after).is_err());
}

// ----- 3. Replay of old key material -----

#[test]
fn finding_3_replayed_commits_and_group_states_change_nothing() {
    let mut call = Call::new();
    let a = call.join("Dr Ada", "clinician");
    let b = call.join("Pat", "patient");
    let c = call.join("Ivy", "interpreter");
    call.leave(c);
    call.advance(Duration::from_secs(5));
    call.advance(Duration::from_secs(2));
    let before: Vec<_> = [a, b].iter().map(|i| state(&call, *i)).collect();
    let old: Vec<FromDs> = call.log.iter().map(|(_, m)| m.clone()).collect();
    for i in [a, b] {
        for m in &old {
            call.inject(i, m.clone());
        }
    }
    for (k, i) in [a, b].into_iter().enumerate() {
        assert_eq!(
            state(&call, i),
            before[k],
            "replay moved {}",
            call.members[i].name
        );
    }
    call.assert_media_flows();
}

#[test]
fn finding_3_a_recorded_frame_does_not_open_again_after_a_faked_leave_and_rejoin() {
    let mut call = Call::new();
    let a = call.join("Dr Ada", "clinician");
    let b = call.join("Pat", "patient");
    call.advance(Duration::from_secs(2));
    let pa = call.members[a].participant.clone();
    let recorded = call.seal(a, b"the diagnosis");
    assert_eq!(call.open(b, &pa, &recorded).unwrap(), b"the diagnosis");
    assert!(matches!(
        call.open(b, &pa, &recorded),
        Err(Error::Replayed { .. })
    ));
    // The server tells Ada that Pat left; Ada removes Pat; Pat is told and rejoins.
    let pb = call.members[b].participant.clone();
    let now = call.now;
    call.members[a].session.participant_left(now, &pb);
    call.advance(Duration::from_secs(3));
    assert!(
        call.events(b)
            .iter()
            .any(|e| matches!(e, Event::Removed { .. })),
        "{:?}",
        call.events(b)
    );
    assert!(call.members[b].session.is_member(), "Pat rejoined");
    call.assert_agree();
    // Old keys are gone everywhere once the grace period is over.
    call.advance(Duration::from_secs(15));
    assert!(call.open(b, &pa, &recorded).is_err());
    call.assert_media_flows();
}

// ----- 4. A participant can silence another -----

#[test]
fn finding_4_a_member_cannot_seal_under_another_members_kid() {
    let mut call = Call::new();
    let victim = call.join("Dr Ada", "clinician");
    let mallory = call.join("Mallory", "patient");
    let listener = call.join("Pat", "patient");
    call.advance(Duration::from_secs(2));
    let pv = call.members[victim].participant.clone();
    let pm = call.members[mallory].participant.clone();
    let first = call.seal(victim, b"frame 1");
    assert_eq!(call.open(listener, &pv, &first).unwrap(), b"frame 1");

    // Mallory derives the group's SFrame key (every member can, RFC 9605 §5.2) and seals a
    // frame under the victim's KID with a counter far ahead, on her own track.
    let base = call.members[mallory]
        .session
        .export_secret(b"SFrame 1.0 Base Key", b"", 16)
        .unwrap();
    let victim_kid = call.members[victim].session.send_kid().unwrap();
    let mut forge = Context::new(telesfu_e2ee::CipherSuite::Aes128GcmSha256).unwrap();
    forge
        .add_send_key_at(victim_kid, &base, telesfu_e2ee::Counter(1 << 40))
        .unwrap();
    let mut frame = vec![0x31, 0, 0];
    frame.extend_from_slice(b"forged");
    let mut buf = vec![0u8; frame.len() + 64];
    buf[..frame.len()].copy_from_slice(&frame);
    let n = telesfu_e2ee::media::seal_frame(
        &mut forge,
        telesfu_e2ee::media::Codec::Vp8,
        victim_kid,
        &mut buf,
        frame.len(),
    )
    .unwrap();
    let forged = buf[..n].to_vec();
    match call.open(listener, &pm, &forged) {
        Err(Error::KeyIdNotOfSender { kid, sender }) => {
            assert_eq!(kid, victim_kid);
            assert_eq!(sender, pm);
        }
        other => panic!("forged frame on Mallory's track: {other:?}"),
    }
    // The victim's next real frames still open: its replay window did not move.
    for i in 2..5 {
        let w = call.seal(victim, format!("frame {i}").as_bytes());
        assert_eq!(
            call.open(listener, &pv, &w).unwrap(),
            format!("frame {i}").as_bytes()
        );
    }
    let _ = KeyId(0);
}

// ----- 5. Two leaves at once -----

#[test]
fn finding_5_two_leaves_at_once_leave_one_view_of_the_keys() {
    for gap_ms in [0u64, 300, 1700] {
        let mut call = Call::new();
        let a = call.join("Dr Ada", "clinician");
        let b = call.join("Pat", "patient");
        let c = call.join("Ivy", "interpreter");
        let d = call.join("Dr Bo", "clinician");
        let e = call.join("Sam", "observer");
        call.advance(Duration::from_secs(2));
        call.leave(b);
        call.advance(Duration::from_millis(gap_ms));
        call.leave(d);
        call.advance(Duration::from_secs(10));
        let (_, _) = call.assert_agree();
        for i in [a, c, e] {
            assert_eq!(call.members[i].session.roster().len(), 3, "gap {gap_ms} ms");
        }
        call.assert_media_flows();
    }
}

// ----- 6. The safety number can be ground -----

#[test]
fn finding_6_the_server_cannot_move_the_verification_code() {
    let mut call = Call::new();
    let a = call.join("Dr Ada", "clinician");
    let b = call.join("Pat", "patient");
    let (epoch, code) = call.assert_agree();
    assert_eq!(code.split(' ').count(), 6, "6 groups of 5 digits");
    // The old attack: inject key material until the code collides. Here every injection is
    // refused and the code does not move at all.
    let sfu_authority = Authority::from_seed(&[0x77; 32]);
    let mut attempts = 0;
    for seed in 0..40u8 {
        let key = MemberKey::from_seed([seed.wrapping_add(100); 32]);
        let mut claims = Claims::new("grinder", ROOM, UNIX_START - 60, UNIX_START + 3600);
        claims.name = format!("g{seed}");
        let cert = sfu_authority.issue(&claims, &key.public_key()).unwrap();
        let anchors = TrustAnchors::new([call.authority.public_key(), sfu_authority.public_key()]);
        let params = SessionParams::new(ROOM, "p-g", anchors, key, cert, [seed; 32]);
        let mut g = Session::new(SessionConfig::default(), params, call.now, call.unix()).unwrap();
        let (commit, info) = rogue_commit(&call, &mut g);
        for i in [a, b] {
            call.inject(
                i,
                FromDs::Commit {
                    commit: commit.clone(),
                },
            );
            call.inject(
                i,
                FromDs::GroupState {
                    group_info: Some(info.clone()),
                },
            );
        }
        attempts += 1;
    }
    assert_eq!(attempts, 40);
    assert_eq!(call.assert_agree(), (epoch, code.clone()));
    // Each real epoch gives a fresh code that nobody outside the group can compute.
    call.join("Ivy", "interpreter");
    assert_ne!(call.assert_agree().1, code);
}

#[test]
fn finding_6_a_split_view_shows_different_codes() {
    // The SFU runs two groups for one room (it tells the second pair "no group yet"):
    // comparing codes across the pairs shows it.
    let mut call = Call::new();
    let a = call.join("Dr Ada", "clinician");
    let b = call.join("Pat", "patient");
    let mut other = Call::new();
    other.authority = Authority::from_seed(&[42; 32]); // same vendor authority
    let c = other.join("Ivy", "interpreter");
    let d = other.join("Dr Bo", "clinician");
    let code_ab = call.members[a]
        .session
        .verification_code()
        .unwrap()
        .to_string();
    let code_cd = other.members[c]
        .session
        .verification_code()
        .unwrap()
        .to_string();
    assert_eq!(
        call.members[b].session.verification_code().unwrap(),
        code_ab
    );
    assert_eq!(
        other.members[d].session.verification_code().unwrap(),
        code_cd
    );
    assert_ne!(code_ab, code_cd);
    assert_eq!(
        call.members[a].session.roster().len(),
        2,
        "and each pair sees only two key holders"
    );
}

// ----- 7. Chat, KID space, the API -----

#[test]
fn finding_7_chat_drops_reorders_and_replays_are_seen() {
    let mut call = Call::new();
    let a = call.join("Dr Ada", "clinician");
    let b = call.join("Pat", "patient");
    let mut sent = Vec::new();
    call.tap = Some(Box::new(move |_, m| {
        // Hold every chat message back; the test delivers them itself.
        match m {
            FromDs::Application { .. } => Vec::new(),
            other => vec![other],
        }
    }));
    for t in ["one", "two", "three", "four"] {
        let now = call.now;
        call.members[a].session.send_chat(now, 0, t).unwrap();
        call.pump();
    }
    for (_, m) in &call.log {
        if let FromDs::Application { message } = m {
            sent.push(message.clone());
        }
    }
    assert_eq!(sent.len(), 4);
    // Deliver: three, one, (two dropped), four, then replay one.
    for i in [2usize, 0, 3, 0] {
        call.inject(
            b,
            FromDs::Application {
                message: sent[i].clone(),
            },
        );
    }
    let got: Vec<_> = call
        .events(b)
        .iter()
        .filter_map(|e| match e {
            Event::Chat(m) => Some((m.text.clone(), m.order)),
            _ => None,
        })
        .collect();
    assert_eq!(
        got,
        [
            ("three".to_string(), ChatOrder::AfterGap { missing: 2 }),
            ("one".to_string(), ChatOrder::Late),
            ("four".to_string(), ChatOrder::InOrder),
        ]
    );
    assert!(
        call.events(b).iter().any(|e| matches!(
            e,
            Event::Refused {
                kind: RefusedKind::Application,
                ..
            }
        )),
        "the replayed message was refused"
    );
}

#[test]
fn finding_7_kids_never_collide_however_many_epochs() {
    let mut call = Call::new();
    let a = call.join("Dr Ada", "clinician");
    let b = call.join("Pat", "patient");
    call.advance(Duration::from_secs(2));
    let pa = call.members[a].participant.clone();
    let mut recorded = Vec::new();
    let mut kids = Vec::new();
    // 40 epochs (more than 2^E = 16) through 30-minute updates.
    while call.members[a].session.epoch().unwrap() < 42 {
        recorded.push((call.members[a].session.epoch().unwrap(), call.seal(a, b"x")));
        kids.push(call.members[a].session.send_kid().unwrap());
        call.advance(Duration::from_secs(31 * 60));
        assert!(
            call.members[b].session.installed_keys() <= 6,
            "keys pile up: {}",
            call.members[b].session.installed_keys()
        );
    }
    // Every KID is Ada's leaf with the epoch's low 4 bits: never another member's.
    let leaf = u64::from(call.members[a].session.own_leaf().unwrap());
    for k in &kids {
        assert_eq!(k.0 >> 4, leaf);
    }
    // No old frame opens any more: not even one from 16 epochs back whose KID is reused now.
    for (epoch, w) in &recorded {
        assert!(
            call.open(b, &pa, w).is_err(),
            "frame of epoch {epoch} still opens"
        );
    }
    call.assert_media_flows();
}

#[test]
fn finding_7_the_group_cannot_grow_past_its_limit() {
    let mut config = SessionConfig::default();
    config.max_members = 3;
    let mut call = Call::with_config(config);
    call.join("Dr Ada", "clinician");
    call.join("Pat", "patient");
    call.join("Ivy", "interpreter");
    let (epoch, code) = call.assert_agree();
    let d = call.join("Dr Bo", "clinician");
    assert!(
        !call.members[d].session.is_member(),
        "a fourth member joined a group of three"
    );
    assert!(
        call.events(d)
            .iter()
            .any(|e| matches!(e, Event::Refused { reason, .. } if reason.contains("limit")))
    );
    call.members[d].connected = false;
    assert_eq!(call.assert_agree(), (epoch, code));
}

#[test]
fn finding_7_opening_requires_the_sender() {
    let mut call = Call::new();
    let a = call.join("Dr Ada", "clinician");
    let b = call.join("Pat", "patient");
    call.advance(Duration::from_secs(2));
    let w = call.seal(a, b"x");
    // A frame attributed to nobody in the group opens for nobody.
    assert!(matches!(
        call.open(b, "p-nobody", &w),
        Err(Error::UnknownSender(_))
    ));
}

/// The race the browser test found: the DS sends the winning commit, then `rejected` to the
/// loser; if the loser's next commit (on top of the winner) is already out when that
/// `rejected` arrives, the rejection must not cancel it.
#[test]
fn finding_5_a_late_rejection_does_not_cancel_the_next_commit() {
    // No stagger: every member commits a removal as soon as it hears of the leave.
    let mut config = SessionConfig::default();
    config.removal_stagger = Duration::ZERO;
    let mut call = Call::with_config(config);
    let a = call.join("Dr Ada", "clinician");
    let b = call.join("Pat", "patient");
    let c = call.join("Ivy", "interpreter");
    let d = call.join("Dr Bo", "clinician");
    call.advance(Duration::from_secs(2));
    // Everything the DS sends Pat is held back; the test delivers it in its own order.
    call.hold = Some(b);
    // Ada and Pat both commit Bo's removal at the same epoch: Ada's wins.
    let pd = call.members[d].participant.clone();
    call.members[d].connected = false;
    let now = call.now;
    call.members[a].session.participant_left(now, &pd);
    call.members[a].session.handle_timeout(now);
    call.members[b].session.participant_left(now, &pd);
    call.members[b].session.handle_timeout(now);
    call.pump();
    let mut to_pat = std::mem::take(&mut call.held);
    let kinds: Vec<_> = to_pat
        .iter()
        .map(|m| match m {
            FromDs::Commit { .. } => "commit",
            FromDs::Rejected { .. } => "rejected",
            _ => "other",
        })
        .collect();
    assert_eq!(
        kinds,
        ["commit", "rejected"],
        "Ada's commit won, Pat's lost"
    );
    let rejected = to_pat.pop().unwrap();
    // Pat takes Ada's commit, and (Ivy having left meanwhile) commits Ivy's removal on top.
    call.members[b].inbox.extend(to_pat);
    call.hold = None;
    let pc = call.members[c].participant.clone();
    call.members[c].connected = false;
    call.pump();
    let now = call.now;
    call.members[a].session.participant_left(now, &pc);
    call.members[b].session.participant_left(now, &pc);
    // Pat commits first this time...
    call.members[b].session.handle_timeout(now);
    let t = call.members[b]
        .session
        .poll_transmit()
        .expect("Pat commits Ivy's removal");
    // ... and only then does the old rejection reach it, before the DS has answered.
    call.members[b].session.handle_ds(now, rejected);
    call.members[b].inbox.clear();
    let unix = call.unix().as_secs();
    let out = call.ds.handle(t, unix);
    let telesfu_e2ee::mls::ds::Delivery::All(accepted) = out else {
        panic!("{out:?}")
    };
    for i in [a, b] {
        call.members[i].inbox.push_back(accepted.clone());
    }
    call.advance(Duration::from_secs(5));
    let (epoch, _) = call.assert_agree();
    assert_eq!(call.members[a].session.roster().len(), 2);
    assert_eq!(epoch, 5, "create, three joins, two removals");
    call.assert_media_flows();
}
