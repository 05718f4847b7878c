//! The MLS session end to end: joins, leaves, keys, media and chat among honest members.

mod mls_common;

use std::time::Duration;

use mls_common::Call;
use telesfu_e2ee::session::Event;

#[test]
fn two_members_agree_and_exchange_media() {
    let mut call = Call::new();
    let a = call.join("Dr Ada", "clinician");
    assert!(call.members[a].session.is_member(), "{:?}", call.events(a));
    assert!(
        call.events(a)
            .iter()
            .any(|e| matches!(e, Event::Joined { created: true, .. }))
    );
    let b = call.join("Pat", "patient");
    assert!(call.members[b].session.is_member());
    let (epoch, code) = call.assert_agree();
    assert_eq!(epoch, 1);
    assert_eq!(code.len(), 35, "6 groups of 5 digits: {code}");
    let roster = call.members[a].session.roster().to_vec();
    assert_eq!(
        roster
            .iter()
            .map(|r| (r.name.as_str(), r.role.as_str()))
            .collect::<Vec<_>>(),
        [("Dr Ada", "clinician"), ("Pat", "patient")]
    );
    call.advance(Duration::from_secs(2));
    call.assert_media_flows();
}

#[test]
fn four_members_join_and_leave_and_every_change_is_a_new_epoch() {
    let mut call = Call::new();
    let a = call.join("Dr Ada", "clinician");
    let b = call.join("Pat", "patient");
    let c = call.join("Ivy", "interpreter");
    let (e3, code3) = call.assert_agree();
    let d = call.join("Dr Bo", "clinician");
    let (e4, code4) = call.assert_agree();
    assert_eq!(e4, e3 + 1, "a join is one commit");
    assert_ne!(code3, code4);
    call.advance(Duration::from_secs(2));
    call.assert_media_flows();

    // Pat leaves: the others remove the leaf, one commit.
    call.leave(b);
    call.advance(Duration::from_secs(5));
    let (e5, code5) = call.assert_agree();
    assert_eq!(e5, e4 + 1, "a leave is one commit");
    assert_ne!(code4, code5);
    for i in [a, c, d] {
        let names: Vec<_> = call.members[i]
            .session
            .roster()
            .iter()
            .map(|r| r.name.clone())
            .collect();
        assert_eq!(names, ["Dr Ada", "Ivy", "Dr Bo"]);
    }
    call.advance(Duration::from_secs(2));
    call.assert_media_flows();
    // Exactly one member committed the removal.
    let (accepted, rejected) = call.ds.counts();
    assert_eq!(accepted, 5, "create + 3 joins + 1 removal");
    assert_eq!(rejected, 0, "the stagger let one member commit");
}

#[test]
fn chat_reaches_everyone_in_order_with_verified_sender() {
    let mut call = Call::new();
    let a = call.join("Dr Ada", "clinician");
    let b = call.join("Pat", "patient");
    let c = call.join("Ivy", "interpreter");
    for text in ["Take 2 tablets", "twice a day"] {
        let now = call.now;
        call.members[a].session.send_chat(now, 1_000, text).unwrap();
    }
    call.pump();
    for i in [b, c] {
        let chats: Vec<_> = call
            .events(i)
            .iter()
            .filter_map(|e| match e {
                Event::Chat(m) => Some((
                    m.from.name.clone(),
                    m.from.role.clone(),
                    m.seq,
                    m.text.clone(),
                    m.order,
                )),
                _ => None,
            })
            .collect();
        assert_eq!(
            chats,
            [
                (
                    "Dr Ada".into(),
                    "clinician".into(),
                    1,
                    "Take 2 tablets".into(),
                    telesfu_e2ee::session::ChatOrder::InOrder
                ),
                (
                    "Dr Ada".into(),
                    "clinician".into(),
                    2,
                    "twice a day".into(),
                    telesfu_e2ee::session::ChatOrder::InOrder
                ),
            ]
        );
    }
}

#[test]
fn long_calls_refresh_every_leaf_every_thirty_minutes() {
    let mut call = Call::new();
    call.join("Dr Ada", "clinician");
    call.join("Pat", "patient");
    let (e0, code0) = call.assert_agree();
    call.advance(Duration::from_secs(29 * 60));
    assert_eq!(call.assert_agree().0, e0, "no update before 30 minutes");
    call.advance(Duration::from_secs(2 * 60));
    let (e1, code1) = call.assert_agree();
    assert_eq!(
        e1,
        e0 + 2,
        "each of the two members refreshed its leaf once"
    );
    assert_ne!(code0, code1);
    call.advance(Duration::from_secs(2));
    call.assert_media_flows();
}

#[test]
fn concurrent_joins_are_serialised_by_the_ds() {
    let mut call = Call::new();
    call.join("Dr Ada", "clinician");
    // Three sessions connect before any of them runs: they all build on the same GroupInfo.
    let mut pending = Vec::new();
    for (n, r) in [
        ("Pat", "patient"),
        ("Ivy", "interpreter"),
        ("Dr Bo", "clinician"),
    ] {
        let (s, p) = call.session(n, r);
        pending.push((n, s, p));
    }
    let state = call.ds.state();
    for (n, s, p) in pending {
        call.members.push(mls_common::Member {
            name: n.into(),
            participant: p,
            session: s,
            inbox: [state.clone()].into(),
            events: Vec::new(),
            connected: true,
        });
    }
    call.pump();
    call.advance(Duration::from_secs(1));
    let (epoch, _) = call.assert_agree();
    assert_eq!(epoch, 3);
    assert!(
        call.ds.counts().1 >= 2,
        "two of the three joins lost a race and were redone"
    );
    call.advance(Duration::from_secs(2));
    call.assert_media_flows();
}

#[test]
fn simultaneous_creates_end_in_one_group() {
    let mut call = Call::new();
    // Two sessions find the room empty at the same moment: both create.
    let mut pending = Vec::new();
    for (n, r) in [("Dr Ada", "clinician"), ("Pat", "patient")] {
        let (s, p) = call.session(n, r);
        pending.push((n, s, p));
    }
    let state = call.ds.state();
    for (n, s, p) in pending {
        call.members.push(mls_common::Member {
            name: n.into(),
            participant: p,
            session: s,
            inbox: [state.clone()].into(),
            events: Vec::new(),
            connected: true,
        });
    }
    call.pump();
    let (epoch, _) = call.assert_agree();
    assert_eq!(epoch, 1, "one create, one join");
    assert_eq!(
        call.ds.counts(),
        (2, 1),
        "the second create was rejected, its join accepted"
    );
    call.advance(Duration::from_secs(2));
    call.assert_media_flows();
}
