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
