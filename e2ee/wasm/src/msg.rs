//! The `mls` signaling messages of `docs/signaling.md` §6 and the session's events, to and
//! from plain JavaScript objects.
//!
//! A message is `{"type": "mls", "op": ..., <fields>}` with binary fields in unpadded
//! base64url of at most [`MAX_MESSAGE_LEN`] bytes each. Parsing reads the fields it needs and
//! ignores others (the server adds `from` to `app`); `type`, when present, must be `"mls"`.

use telesfu_e2ee::mls::ds::{Delivery, FromDs, MAX_MESSAGE_LEN, ToDs};
use telesfu_e2ee::session::{
    ChatOrder, EpochChange, Event, RefusedKind, RosterEntry, SessionStats,
};

use crate::b64;
use crate::error::GlueError;
use crate::value::{Fields, Input, Value};

fn check_type(get: Fields<'_>) -> Result<(), GlueError> {
    match get("type") {
        Input::Missing => Ok(()),
        Input::Str(t) if t == "mls" => Ok(()),
        other => Err(GlueError::bad_message(format!(
            "type must be \"mls\", got {}",
            describe(&other)
        ))),
    }
}

fn describe(i: &Input) -> String {
    match i {
        Input::Str(s) if s.len() <= 40 => format!("{s:?}"),
        Input::Str(s) => format!("a string of {} bytes", s.len()),
        other => other.kind().to_string(),
    }
}

fn op(get: Fields<'_>) -> Result<String, GlueError> {
    match get("op") {
        Input::Str(s) => Ok(s),
        other => Err(GlueError::bad_message(format!(
            "op must be a string, got {}",
            other.kind()
        ))),
    }
}

fn bytes(get: Fields<'_>, key: &str) -> Result<Vec<u8>, GlueError> {
    match get(key) {
        Input::Str(s) => b64::decode(&s, MAX_MESSAGE_LEN)
            .map_err(|e| GlueError::bad_message(format!("{key}: {e}"))),
        other => Err(GlueError::bad_message(format!(
            "{key} must be a base64url string, got {}",
            other.kind()
        ))),
    }
}

/// A field that is base64url or `null` (and must be there: the document writes `B64|null`).
fn nullable_bytes(get: Fields<'_>, key: &str) -> Result<Option<Vec<u8>>, GlueError> {
    match get(key) {
        Input::Null => Ok(None),
        Input::Missing => Err(GlueError::bad_message(format!(
            "{key} is missing (it is base64url or null)"
        ))),
        _ => bytes(get, key).map(Some),
    }
}

/// A message from the server (the DS) to this member.
pub(crate) fn from_ds(get: Fields<'_>) -> Result<FromDs, GlueError> {
    check_type(get)?;
    let op = op(get)?;
    Ok(match op.as_str() {
        "state" => FromDs::GroupState {
            group_info: nullable_bytes(get, "groupInfo")?,
        },
        "commit" => FromDs::Commit {
            commit: bytes(get, "commit")?,
        },
        "rejected" => FromDs::Rejected {
            reason: match get("reason") {
                Input::Str(s) => s,
                Input::Missing | Input::Null => String::new(),
                other => {
                    return Err(GlueError::bad_message(format!(
                        "reason must be a string, got {}",
                        other.kind()
                    )));
                }
            },
            group_info: nullable_bytes(get, "groupInfo")?,
        },
        "app" => FromDs::Application {
            message: bytes(get, "message")?,
        },
        other => {
            return Err(GlueError::bad_message(format!(
                "op {other:?} is not one the server sends (state, commit, rejected, app)"
            )));
        }
    })
}

/// A message from a member to the DS.
pub(crate) fn to_ds(get: Fields<'_>) -> Result<ToDs, GlueError> {
    check_type(get)?;
    let op = op(get)?;
    Ok(match op.as_str() {
        "create" => ToDs::Create {
            group_info: bytes(get, "groupInfo")?,
        },
        "commit" => ToDs::Commit {
            commit: bytes(get, "commit")?,
            group_info: bytes(get, "groupInfo")?,
        },
        "app" => ToDs::Application {
            message: bytes(get, "message")?,
        },
        "sync" => ToDs::Sync,
        other => {
            return Err(GlueError::bad_message(format!(
                "op {other:?} is not one a member sends (create, commit, app, sync)"
            )));
        }
    })
}

fn mls(op: &'static str, mut fields: Vec<(&'static str, Value)>) -> Value {
    let mut all = vec![("type", Value::str("mls")), ("op", Value::str(op))];
    all.append(&mut fields);
    Value::Obj(all)
}

fn b64v(bytes: &[u8]) -> Value {
    Value::Str(b64::encode(bytes))
}

fn nullable_b64(bytes: Option<&[u8]>) -> Value {
    bytes.map_or(Value::Null, b64v)
}

/// A member's message for the DS, ready for `JSON.stringify`.
pub(crate) fn to_ds_value(msg: &ToDs) -> Result<Value, GlueError> {
    Ok(match msg {
        ToDs::Create { group_info } => mls("create", vec![("groupInfo", b64v(group_info))]),
        ToDs::Commit { commit, group_info } => mls(
            "commit",
            vec![("commit", b64v(commit)), ("groupInfo", b64v(group_info))],
        ),
        ToDs::Application { message } => mls("app", vec![("message", b64v(message))]),
        ToDs::Sync => mls("sync", Vec::new()),
        other => {
            return Err(GlueError::new(
                "internal",
                format!("telesfu-e2ee made a DS message this glue does not know: {other:?}"),
            ));
        }
    })
}

/// The DS's message for a member; `from` goes on `app` messages (the server's claim of who
/// sent it).
pub(crate) fn from_ds_value(msg: &FromDs, from: Option<&str>) -> Result<Value, GlueError> {
    Ok(match msg {
        FromDs::GroupState { group_info } => mls(
            "state",
            vec![("groupInfo", nullable_b64(group_info.as_deref()))],
        ),
        FromDs::Commit { commit } => mls("commit", vec![("commit", b64v(commit))]),
        FromDs::Rejected { reason, group_info } => mls(
            "rejected",
            vec![
                ("reason", Value::str(reason.as_str())),
                ("groupInfo", nullable_b64(group_info.as_deref())),
            ],
        ),
        FromDs::Application { message } => {
            let mut f = vec![("message", b64v(message))];
            if let Some(from) = from {
                f.push(("from", Value::str(from)));
            }
            mls("app", f)
        }
        other => {
            return Err(GlueError::new(
                "internal",
                format!("telesfu-e2ee made a DS message this glue does not know: {other:?}"),
            ));
        }
    })
}

/// `{to: "sender" | "all" | "others", msg}`.
pub(crate) fn delivery_value(d: &Delivery, from: Option<&str>) -> Result<Value, GlueError> {
    let (to, msg) = match d {
        Delivery::Sender(m) => ("sender", m),
        Delivery::All(m) => ("all", m),
        Delivery::Others(m) => ("others", m),
        other => {
            return Err(GlueError::new(
                "internal",
                format!("telesfu-e2ee made a delivery this glue does not know: {other:?}"),
            ));
        }
    };
    Ok(Value::Obj(vec![
        ("to", Value::str(to)),
        ("msg", from_ds_value(msg, from)?),
    ]))
}

/// One roster entry: `{leaf, participant, subject, name, role, tenant, fingerprint, isSelf}`.
pub(crate) fn roster_entry(r: &RosterEntry) -> Value {
    Value::Obj(vec![
        ("leaf", Value::num(u64::from(r.leaf))),
        ("participant", Value::opt_str(r.participant.as_deref())),
        ("subject", Value::str(r.subject.as_str())),
        ("name", Value::str(r.name.as_str())),
        ("role", Value::str(r.role.as_str())),
        ("tenant", Value::str(r.tenant.as_str())),
        ("fingerprint", Value::str(r.fingerprint.as_str())),
        ("isSelf", Value::Bool(r.is_self)),
    ])
}

pub(crate) fn roster(entries: &[RosterEntry]) -> Value {
    Value::List(entries.iter().map(roster_entry).collect())
}

fn epoch_change(c: &EpochChange) -> Value {
    Value::Obj(vec![
        ("type", Value::str("epoch")),
        ("epoch", Value::num(c.epoch)),
        ("added", roster(&c.added)),
        ("removed", roster(&c.removed)),
        (
            "committer",
            c.committer
                .map_or(Value::Null, |l| Value::num(u64::from(l))),
        ),
        ("code", Value::str(c.code.as_str())),
    ])
}

/// An event as a plain object with a `type`: `joined`, `epoch`, `sendKeyChanged`,
/// `refused`, `chat`, `removed`, `duplicateParticipant` (and `other` for an event a newer
/// telesfu-e2ee adds, with its debug text).
pub(crate) fn event_value(ev: &Event) -> Value {
    let t = |t: &'static str| ("type", Value::str(t));
    match ev {
        Event::Joined { epoch, created } => Value::Obj(vec![
            t("joined"),
            ("epoch", Value::num(*epoch)),
            ("created", Value::Bool(*created)),
        ]),
        Event::EpochChanged(c) => epoch_change(c),
        Event::SendKeyChanged { kid, epoch } => Value::Obj(vec![
            t("sendKeyChanged"),
            ("kid", Value::num(kid.0)),
            ("epoch", Value::num(*epoch)),
        ]),
        Event::Refused { kind, reason } => Value::Obj(vec![
            t("refused"),
            (
                "kind",
                Value::str(match kind {
                    RefusedKind::Commit => "commit",
                    RefusedKind::GroupInfo => "groupInfo",
                    RefusedKind::Application => "application",
                    _ => "other",
                }),
            ),
            ("reason", Value::str(reason.as_str())),
        ]),
        Event::Chat(c) => {
            let (order, missing) = match c.order {
                ChatOrder::InOrder => ("inOrder", 0),
                ChatOrder::AfterGap { missing } => ("afterGap", missing),
                ChatOrder::Late => ("late", 0),
                _ => ("other", 0),
            };
            Value::Obj(vec![
                t("chat"),
                ("from", roster_entry(&c.from)),
                ("seq", Value::num(c.seq)),
                ("text", Value::str(c.text.as_str())),
                ("sentAtMs", Value::num(c.sent_at_ms)),
                ("order", Value::str(order)),
                ("missing", Value::num(missing)),
            ])
        }
        Event::Removed { epoch } => Value::Obj(vec![t("removed"), ("epoch", Value::num(*epoch))]),
        Event::DuplicateParticipant { participant } => Value::Obj(vec![
            t("duplicateParticipant"),
            ("participant", Value::str(participant.as_str())),
        ]),
        other => Value::Obj(vec![
            t("other"),
            ("detail", Value::str(format!("{other:?}"))),
        ]),
    }
}

/// The session's counters.
pub(crate) fn session_stats(s: &SessionStats) -> Vec<(&'static str, Value)> {
    vec![
        ("refused", Value::num(s.refused)),
        ("commitsAccepted", Value::num(s.commits_accepted)),
        ("commitsRejected", Value::num(s.commits_rejected)),
        ("queueDrops", Value::num(s.queue_drops)),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_from(v: &Value) -> Result<FromDs, GlueError> {
        from_ds(&|k| v.input(k))
    }

    fn parse_to(v: &Value) -> Result<ToDs, GlueError> {
        to_ds(&|k| v.input(k))
    }

    #[test]
    fn member_messages_round_trip_in_the_documented_shape() {
        let msgs = [
            ToDs::Create {
                group_info: vec![1, 2, 3],
            },
            ToDs::Commit {
                commit: vec![0xfb; 5],
                group_info: vec![0xff; 7],
            },
            ToDs::Application {
                message: vec![9; 300],
            },
            ToDs::Sync,
        ];
        for m in &msgs {
            let v = to_ds_value(m).unwrap();
            assert_eq!(v.get("type"), Some(&Value::str("mls")));
            assert_eq!(&parse_to(&v).unwrap(), m);
        }
        let v = to_ds_value(&msgs[1]).unwrap();
        assert_eq!(v.get("op"), Some(&Value::str("commit")));
        assert_eq!(v.get("commit"), Some(&Value::str("-_v7-_s")));
        assert_eq!(v.get("groupInfo"), Some(&Value::str("_________w")));
    }

    #[test]
    fn server_messages_round_trip_in_the_documented_shape() {
        let msgs = [
            FromDs::GroupState { group_info: None },
            FromDs::GroupState {
                group_info: Some(vec![4; 10]),
            },
            FromDs::Commit { commit: vec![5; 3] },
            FromDs::Rejected {
                reason: "another commit came first".into(),
                group_info: Some(vec![6]),
            },
            FromDs::Rejected {
                reason: String::new(),
                group_info: None,
            },
            FromDs::Application {
                message: vec![7; 2],
            },
        ];
        for m in &msgs {
            let v = from_ds_value(m, Some("p3")).unwrap();
            assert_eq!(&parse_from(&v).unwrap(), m);
        }
        let state = from_ds_value(&msgs[0], None).unwrap();
        assert_eq!(state.get("groupInfo"), Some(&Value::Null));
        let app = from_ds_value(&msgs[5], Some("p3")).unwrap();
        assert_eq!(app.get("from"), Some(&Value::str("p3")));
        let d = delivery_value(&Delivery::Others(msgs[5].clone()), Some("p3")).unwrap();
        assert_eq!(d.get("to"), Some(&Value::str("others")));
        assert_eq!(d.get("msg"), Some(&app));
    }

    #[test]
    fn bad_messages_are_refused_with_the_field_named() {
        let obj = |fields: Vec<(&'static str, Value)>| Value::Obj(fields);
        let cases: Vec<(Value, &str)> = vec![
            (
                obj(vec![("op", Value::str("state"))]),
                "groupInfo is missing",
            ),
            (
                obj(vec![
                    ("type", Value::str("ice")),
                    ("op", Value::str("state")),
                ]),
                "type must be \"mls\"",
            ),
            (
                obj(vec![("type", Value::str("mls"))]),
                "op must be a string",
            ),
            (
                obj(vec![
                    ("op", Value::str("create")),
                    ("groupInfo", Value::str("AA")),
                ]),
                "op \"create\" is not one the server sends",
            ),
            (
                obj(vec![
                    ("op", Value::str("commit")),
                    ("commit", Value::str("AA==")),
                ]),
                "commit: padding",
            ),
            (
                obj(vec![
                    ("op", Value::str("commit")),
                    ("commit", Value::Num(3.0)),
                ]),
                "commit must be a base64url string, got a number",
            ),
            (
                obj(vec![("op", Value::str("app"))]),
                "message must be a base64url string, got undefined",
            ),
            (
                obj(vec![
                    ("op", Value::str("rejected")),
                    ("reason", Value::Bool(true)),
                    ("groupInfo", Value::Null),
                ]),
                "reason must be a string",
            ),
        ];
        for (v, want) in cases {
            let e = parse_from(&v).unwrap_err();
            assert_eq!(e.code, "bad_message");
            assert!(e.message.contains(want), "{:?} vs {want:?}", e.message);
        }
        let too_big = b64::encode(&vec![0u8; MAX_MESSAGE_LEN + 1]);
        let e = parse_to(&obj(vec![
            ("op", Value::str("app")),
            ("message", Value::Str(too_big)),
        ]))
        .unwrap_err();
        assert!(e.message.contains("exceed"), "{}", e.message);
        let e = parse_to(&obj(vec![("op", Value::str("state"))])).unwrap_err();
        assert!(
            e.message.contains("not one a member sends"),
            "{}",
            e.message
        );
    }

    #[test]
    fn events_are_plain_objects() {
        let ev = Event::SendKeyChanged {
            kid: telesfu_e2ee::KeyId(0x21),
            epoch: 1,
        };
        assert_eq!(
            event_value(&ev),
            Value::Obj(vec![
                ("type", Value::str("sendKeyChanged")),
                ("kid", Value::Num(33.0)),
                ("epoch", Value::Num(1.0)),
            ])
        );
        let ev = Event::Refused {
            kind: RefusedKind::Commit,
            reason: "replayed".into(),
        };
        let v = event_value(&ev);
        assert_eq!(v.get("kind"), Some(&Value::str("commit")));
        assert_eq!(v.get("reason"), Some(&Value::str("replayed")));
    }
}
