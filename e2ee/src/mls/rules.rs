//! The proposal policy every member of a telesfu group applies (mls-rs `MlsRules`).
//!
//! telesfu changes membership only by external commits (joins, rejoins), removes and empty
//! commits (updates). Every member refuses a commit that brings anything else (re-init,
//! group-context changes; pre-shared-key and custom proposals are compiled out of mls-rs
//! here, so they do not even parse) or grows the group past its
//! configured size, so an insider cannot smuggle in a policy change or exhaust the KID space.
//! Every commit this member makes has an update path (fresh keys along its direct path:
//! post-compromise security for its leaf) and a GroupInfo for the next joiner, and handshake
//! messages travel encrypted (PrivateMessage), so the DS does not learn who committed what.

use mls_rs::MlsRules;
use mls_rs::group::{GroupContext, Roster};
use mls_rs::mls_rules::{
    CommitDirection, CommitOptions, CommitSource, EncryptionOptions, ProposalBundle,
};
use mls_rs_core::error::IntoAnyError;

/// Why a commit was refused by the rules.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum RulesError {
    #[error("the commit would make the group {members} members; the limit is {max}")]
    TooManyMembers { members: usize, max: usize },
    #[error("the commit carries a proposal telesfu groups do not use ({0})")]
    Forbidden(&'static str),
}

impl IntoAnyError for RulesError {
    fn into_dyn_error(self) -> Result<Box<dyn std::error::Error + Send + Sync>, Self> {
        Ok(self.into())
    }
}

#[derive(Debug, Clone, Copy)]
pub(crate) struct Rules {
    pub(crate) max_members: usize,
}

impl MlsRules for Rules {
    type Error = RulesError;

    fn filter_proposals(
        &self,
        _direction: CommitDirection,
        source: CommitSource,
        current_roster: &Roster<'_>,
        _context: &GroupContext,
        proposals: ProposalBundle,
    ) -> Result<ProposalBundle, RulesError> {
        if !proposals.reinit_proposals().is_empty() {
            return Err(RulesError::Forbidden("re-init"));
        }
        if !proposals.group_context_ext_proposals().is_empty() {
            return Err(RulesError::Forbidden("group context extensions"));
        }
        let joining = usize::from(matches!(source, CommitSource::NewMember(_)));
        let members =
            current_roster.members_iter().count() + proposals.add_proposals().len() + joining;
        let members = members.saturating_sub(proposals.remove_proposals().len());
        if members > self.max_members {
            return Err(RulesError::TooManyMembers {
                members,
                max: self.max_members,
            });
        }
        Ok(proposals)
    }

    fn commit_options(
        &self,
        _new_roster: &Roster<'_>,
        _new_context: &GroupContext,
        _proposals: &ProposalBundle,
    ) -> Result<CommitOptions, RulesError> {
        Ok(CommitOptions::new()
            .with_path_required(true)
            .with_ratchet_tree_extension(true)
            .with_allow_external_commit(true))
    }

    fn encryption_options(
        &self,
        _current_roster: &Roster<'_>,
        _current_context: &GroupContext,
    ) -> Result<EncryptionOptions, RulesError> {
        Ok(EncryptionOptions::new(
            true,
            mls_rs::client_builder::PaddingMode::StepFunction,
        ))
    }
}
