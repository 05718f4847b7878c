//! The Delivery Service: what the SFU runs per room so MLS works, and all it may know.
//!
//! RFC 9750 §5 gives the Delivery Service (DS) two jobs: deliver handshake messages, and put
//! commits in one order every member agrees on. telesfu's DS does exactly that and nothing
//! more. It holds no key, cannot add a member (members check every certificate themselves,
//! see [`super::identity`]), and reads only what MLS leaves in clear for it: the group id,
//! the epoch and the content type of each message, and the public GroupInfo a joiner needs.
//!
//! # Protocol
//!
//! Members send [`ToDs`] and receive [`FromDs`]; the application carries both over its own
//! signaling (telesfu's server: `mls` messages on the WebSocket, `docs/signaling.md` §6).
//!
//! - A joining member first gets [`FromDs::GroupState`]: the current GroupInfo, or none when
//!   the room has no group yet. With none it creates the group ([`ToDs::Create`]); with one it
//!   joins by external commit ([`ToDs::Commit`]).
//! - The DS accepts the first commit for its current epoch and sends it to every member, the
//!   committer included (that copy is the committer's confirmation), in one order. Every other
//!   commit for that epoch is [`FromDs::Rejected`] to its sender with the new GroupInfo, and
//!   the sender redoes its change on top of the winner. So two leaves at the same moment give
//!   two commits in sequence, never two views of the keys.
//! - Each commit carries the GroupInfo of the epoch it creates, which the DS keeps for the next
//!   joiner (it cannot check it against the commit; a member that sends a bad one only stops
//!   later joiners, who retry).
//! - Application messages (chat) go to the other members unchanged.
//!
//! A DS that misbehaves (drops, reorders, replays, forges) can deny service but learns no key
//! and cannot make members accept a member without a certificate: the tests in
//! `tests/mls_attacks.rs` are that adversary.

use mls_rs::group::ContentType;
use mls_rs::{MlsMessage, MlsMessageDescription};

use super::identity::{Certificate, TrustAnchors};

/// The largest MLS message the DS accepts (bytes). A GroupInfo with the ratchet tree of a
/// 64-member call is about 20 KB.
pub const MAX_MESSAGE_LEN: usize = 64 * 1024;

/// A member's message to the Delivery Service.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ToDs {
    /// Start the room's group: the creator's GroupInfo for epoch 0 (allowing external commits).
    Create {
        /// An MLS GroupInfo message.
        group_info: Vec<u8>,
    },
    /// A commit for the DS's current epoch, with the GroupInfo of the epoch it creates.
    Commit {
        /// An MLS commit (PrivateMessage from a member, PublicMessage for an external commit).
        commit: Vec<u8>,
        /// An MLS GroupInfo message for the next epoch.
        group_info: Vec<u8>,
    },
    /// An MLS application message (chat) for the other members.
    Application {
        /// An MLS PrivateMessage.
        message: Vec<u8>,
    },
    /// Ask for [`FromDs::GroupState`] (after being removed, or when a commit went unanswered).
    Sync,
}

/// The Delivery Service's message to a member.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum FromDs {
    /// The room's group as the DS holds it: the current GroupInfo, or none (no group yet).
    GroupState {
        /// An MLS GroupInfo message.
        group_info: Option<Vec<u8>>,
    },
    /// A commit the DS accepted, in the one order of the room.
    Commit {
        /// The MLS message as the committer sent it.
        commit: Vec<u8>,
    },
    /// The member's last `Create` or `Commit` was not accepted.
    Rejected {
        /// Why, for logs.
        reason: String,
        /// The GroupInfo to build on now.
        group_info: Option<Vec<u8>>,
    },
    /// An application message from another member.
    Application {
        /// The MLS message as its sender sent it.
        message: Vec<u8>,
    },
}

/// Where the DS's answer goes.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Delivery {
    /// To the member that sent the message only.
    Sender(FromDs),
    /// To every member of the room, the sender included.
    All(FromDs),
    /// To every member but the sender.
    Others(FromDs),
}

/// How a [`DeliveryService`] behaves.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct DsConfig {
    /// When set, an external commit is accepted only if the joiner's certificate verifies
    /// against these anchors for the room. Optional: members check every certificate
    /// themselves and refuse such a commit anyway; checking here too keeps an uncertified
    /// joiner from moving the DS to an epoch no member follows (which would stall the room).
    pub trust: Option<TrustAnchors>,
    /// The room name certificates must carry (with `trust`).
    pub room: String,
}

impl DsConfig {
    /// A DS that also checks joiners' certificates against `trust` for `room`.
    pub fn with_trust(trust: TrustAnchors, room: &str) -> Self {
        Self {
            trust: Some(trust),
            room: room.into(),
        }
    }
}

/// One room's Delivery Service. Sans-IO: messages in, deliveries out.
#[derive(Debug, Default)]
pub struct DeliveryService {
    config: DsConfig,
    group_id: Option<Vec<u8>>,
    epoch: u64,
    group_info: Option<Vec<u8>>,
    accepted: u64,
    rejected: u64,
}

fn parse(bytes: &[u8]) -> Result<MlsMessage, String> {
    if bytes.len() > MAX_MESSAGE_LEN {
        return Err(format!(
            "message of {} bytes exceeds the {MAX_MESSAGE_LEN}-byte limit",
            bytes.len()
        ));
    }
    MlsMessage::from_bytes(bytes).map_err(|e| format!("not an MLS message: {e}"))
}

/// (group id, epoch) of a GroupInfo message.
fn group_info_of(bytes: &[u8]) -> Result<(Vec<u8>, u64), String> {
    let msg = parse(bytes)?;
    let info = msg
        .as_group_info()
        .ok_or_else(|| "expected a GroupInfo".to_string())?;
    let ctx = info.group_context();
    Ok((ctx.group_id.clone(), ctx.epoch))
}

impl DeliveryService {
    /// A DS for one room.
    pub fn new(config: DsConfig) -> Self {
        Self {
            config,
            ..Self::default()
        }
    }

    /// The group id, once a group exists.
    pub fn group_id(&self) -> Option<&[u8]> {
        self.group_id.as_deref()
    }

    /// The epoch the next commit must be for.
    pub fn epoch(&self) -> u64 {
        self.epoch
    }

    /// Commits accepted and rejected so far.
    pub fn counts(&self) -> (u64, u64) {
        (self.accepted, self.rejected)
    }

    /// What a member joining now gets.
    pub fn state(&self) -> FromDs {
        FromDs::GroupState {
            group_info: self.group_info.clone(),
        }
    }

    /// Forgets the group (the room emptied): the next member creates a new one.
    pub fn reset(&mut self) {
        self.group_id = None;
        self.epoch = 0;
        self.group_info = None;
    }

    fn reject(&mut self, reason: String) -> Delivery {
        self.rejected += 1;
        Delivery::Sender(FromDs::Rejected {
            reason,
            group_info: self.group_info.clone(),
        })
    }

    /// Handles one message from a member.
    pub fn handle(&mut self, msg: ToDs, unix_now: u64) -> Delivery {
        match msg {
            ToDs::Sync => Delivery::Sender(self.state()),
            ToDs::Create { group_info } => {
                if self.group_id.is_some() {
                    return self.reject("the room already has a group: join it".into());
                }
                match group_info_of(&group_info) {
                    Ok((gid, epoch)) if epoch == 0 && !gid.is_empty() => {
                        self.group_id = Some(gid);
                        self.epoch = 0;
                        self.group_info = Some(group_info);
                        self.accepted += 1;
                        Delivery::All(self.state())
                    }
                    Ok((_, epoch)) => {
                        self.reject(format!("a new group starts at epoch 0, not {epoch}"))
                    }
                    Err(e) => self.reject(e),
                }
            }
            ToDs::Commit { commit, group_info } => {
                match self.check_commit(&commit, &group_info, unix_now) {
                    Ok(()) => {
                        self.epoch += 1;
                        self.group_info = Some(group_info);
                        self.accepted += 1;
                        Delivery::All(FromDs::Commit { commit })
                    }
                    Err(e) => self.reject(e),
                }
            }
            ToDs::Application { message } => {
                let ok = parse(&message).map(|m| match m.description() {
                    MlsMessageDescription::PrivateProtocolMessage {
                        group_id,
                        content_type,
                        ..
                    } => {
                        Some(group_id) == self.group_id.as_deref()
                            && content_type == ContentType::Application
                    }
                    _ => false,
                });
                match ok {
                    Ok(true) => Delivery::Others(FromDs::Application { message }),
                    Ok(false) => self.reject("not an application message of this group".into()),
                    Err(e) => self.reject(e),
                }
            }
        }
    }

    fn check_commit(&self, commit: &[u8], group_info: &[u8], unix_now: u64) -> Result<(), String> {
        let Some(gid) = self.group_id.as_deref() else {
            return Err("the room has no group yet: create it".into());
        };
        let msg = parse(commit)?;
        let (mgid, epoch, content, external) = match msg.description() {
            MlsMessageDescription::PrivateProtocolMessage {
                group_id,
                epoch_id,
                content_type,
            } => (group_id.to_vec(), epoch_id, content_type, false),
            MlsMessageDescription::PublicProtocolMessage {
                group_id,
                epoch_id,
                content_type,
                sender,
                ..
            } => (
                group_id.to_vec(),
                epoch_id,
                content_type,
                matches!(sender, mls_rs::group::Sender::NewMemberCommit),
            ),
            _ => return Err("expected a commit".into()),
        };
        if content != ContentType::Commit {
            return Err("expected a commit".into());
        }
        if mgid != gid {
            return Err("commit for another group".into());
        }
        if epoch != self.epoch {
            return Err(format!(
                "commit for epoch {epoch}, the group is at epoch {}: another commit came first",
                self.epoch
            ));
        }
        let (igid, iepoch) = group_info_of(group_info)?;
        if igid != gid || iepoch != self.epoch + 1 {
            return Err(format!(
                "the GroupInfo must be for this group at epoch {}",
                self.epoch + 1
            ));
        }
        if external && let Some(trust) = &self.config.trust {
            let leaf = msg
                .commit_path_leaf_node()
                .ok_or("external commit without a path")?;
            let cert = Certificate::from_credential(&leaf.signing_identity.credential)
                .map_err(|e| e.to_string())?;
            cert.verify(
                trust,
                leaf.signing_identity.signature_key.as_bytes(),
                &self.config.room,
                Some(unix_now),
                300,
            )
            .map_err(|e| format!("joiner's certificate refused: {e}"))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_what_is_not_for_it() {
        let mut ds = DeliveryService::new(DsConfig::default());
        // No group yet: a commit has nothing to build on.
        let out = ds.handle(
            ToDs::Commit {
                commit: vec![0, 1],
                group_info: vec![0, 1],
            },
            0,
        );
        assert!(matches!(
            out,
            Delivery::Sender(FromDs::Rejected {
                group_info: None,
                ..
            })
        ));
        // Garbage as a GroupInfo.
        let out = ds.handle(
            ToDs::Create {
                group_info: vec![9; 40],
            },
            0,
        );
        assert!(
            matches!(&out, Delivery::Sender(FromDs::Rejected { reason, .. }) if reason.contains("MLS")),
            "{out:?}"
        );
        // Oversize.
        let out = ds.handle(
            ToDs::Create {
                group_info: vec![0; MAX_MESSAGE_LEN + 1],
            },
            0,
        );
        assert!(
            matches!(&out, Delivery::Sender(FromDs::Rejected { reason, .. }) if reason.contains("limit")),
            "{out:?}"
        );
        // Application data for a group that does not exist.
        let out = ds.handle(
            ToDs::Application {
                message: vec![0, 1, 0, 2],
            },
            0,
        );
        assert!(matches!(out, Delivery::Sender(FromDs::Rejected { .. })));
        assert_eq!(ds.counts(), (0, 4));
        assert_eq!(ds.state(), FromDs::GroupState { group_info: None });
        assert_eq!(
            ds.handle(ToDs::Sync, 0),
            Delivery::Sender(FromDs::GroupState { group_info: None })
        );
    }
}
