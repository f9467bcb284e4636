//! Attenuation steps (one delegation step each) and their strict application by re-issuance.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use crate::capability::{Capability, HolderKey, Subject, ToolRef};
use crate::constraint::Constraint;
use crate::error::AttenuationError;

/// A constraint added to one argument of one tool.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ArgConstraint {
    /// The tool whose grants it constrains.
    pub tool: ToolRef,
    /// The argument name.
    pub arg: String,
    /// The constraint the argument must also satisfy.
    pub constraint: Constraint,
}

/// One delegation step: any mix of narrowing operations and a hand-over to another subject.
///
/// Its meaning is an intersection: a request passes the step when it is for a
/// kept tool, satisfies every added constraint, and falls inside the step's time
/// bounds. A step therefore never widens what its parent authorizes; only
/// [`Attenuation::delegate`] changes *who* may exercise it. Every step consumes
/// one level of `max_depth`, and is valid only while `max_depth > 0`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Attenuation {
    /// Keep only these tools (`None` keeps all).
    pub keep: Option<BTreeSet<ToolRef>>,
    /// Constraints to add or tighten.
    pub constraints: Vec<ArgConstraint>,
    /// A later start of validity.
    pub not_before: Option<u64>,
    /// An earlier end of validity.
    pub expires_at: Option<u64>,
    /// A lower remaining delegation depth.
    pub max_depth: Option<u32>,
    /// Hand the remaining authority to another subject.
    pub delegate: Option<Subject>,
    /// The holder key that signed this step (DESIGN.md §8), as a provider reads
    /// it back. `verify` authenticates it before the rules see it; `inspect`
    /// reports it as the token states it (the macaroon provider checks the
    /// signature there too; Biscuit's `inspect`, which checks no signature,
    /// reports the block's external key). Never set by hand: `attenuate`
    /// refuses a step with it set, and `attenuate_signed` signs the step instead.
    #[serde(default)]
    pub signed_by: Option<HolderKey>,
}

impl Attenuation {
    /// A step that only consumes one level of depth.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Keeps only these tools.
    #[must_use]
    pub fn keep_only(mut self, tools: impl IntoIterator<Item = ToolRef>) -> Self {
        self.keep = Some(tools.into_iter().collect());
        self
    }

    /// Adds a constraint on one argument of one tool.
    #[must_use]
    pub fn constrain(
        mut self,
        tool: ToolRef,
        arg: impl Into<String>,
        constraint: Constraint,
    ) -> Self {
        self.constraints.push(ArgConstraint {
            tool,
            arg: arg.into(),
            constraint,
        });
        self
    }

    /// Moves the start of validity to `t` (when later than the parent's).
    #[must_use]
    pub fn not_before(mut self, t: u64) -> Self {
        self.not_before = Some(t);
        self
    }

    /// Moves the end of validity to `t` (when earlier than the parent's).
    #[must_use]
    pub fn expires_at(mut self, t: u64) -> Self {
        self.expires_at = Some(t);
        self
    }

    /// Lowers the remaining delegation depth.
    #[must_use]
    pub fn max_depth(mut self, depth: u32) -> Self {
        self.max_depth = Some(depth);
        self
    }

    /// Hands the remaining authority to `subject`.
    #[must_use]
    pub fn delegate(mut self, subject: Subject) -> Self {
        self.delegate = Some(subject);
        self
    }
}

impl Capability {
    /// The capability a re-issuing issuer signs for one step, or why it refuses.
    ///
    /// Strict: every part of the step must narrow (keep only granted tools,
    /// tighten constraints, shorten the window, lower the depth); a step that
    /// asks for more than this capability has is refused rather than clamped.
    /// The result keeps this capability's id, issuer and parent: the caller
    /// assigns the child's id and records this capability as its parent.
    ///
    /// # Errors
    /// [`AttenuationError`] naming the first part of the step that would widen,
    /// or [`AttenuationError::DepthExhausted`] when `max_depth` is zero.
    pub fn attenuate(&self, step: &Attenuation) -> Result<Self, AttenuationError> {
        let mut child = self.clone();
        child.max_depth = self
            .max_depth
            .checked_sub(1)
            .ok_or(AttenuationError::DepthExhausted)?;
        if let Some(depth) = step.max_depth {
            if depth > child.max_depth {
                return Err(AttenuationError::DepthIncrease {
                    requested: depth,
                    allowed: child.max_depth,
                });
            }
            child.max_depth = depth;
        }
        if let Some(t) = step.not_before {
            if t < self.not_before {
                return Err(AttenuationError::EarlierNotBefore);
            }
            child.not_before = t;
        }
        if let Some(t) = step.expires_at {
            if t > self.expires_at {
                return Err(AttenuationError::LaterExpiry);
            }
            child.expires_at = t;
        }
        if let Some(keep) = &step.keep {
            if let Some(missing) = keep
                .iter()
                .find(|t| !self.grants.iter().any(|g| g.is_for(&t.server, &t.tool)))
            {
                return Err(AttenuationError::ToolNotGranted(missing.clone()));
            }
            child
                .grants
                .retain(|g| keep.iter().any(|t| g.is_for(&t.server, &t.tool)));
        }
        for added in &step.constraints {
            let tool = &added.tool;
            let (matching, mut rest): (BTreeSet<_>, BTreeSet<_>) =
                std::mem::take(&mut child.grants)
                    .into_iter()
                    .partition(|g| g.is_for(&tool.server, &tool.tool));
            if matching.is_empty() {
                return Err(AttenuationError::ToolNotGranted(tool.clone()));
            }
            for mut grant in matching {
                if let Some(existing) = grant.args.get(&added.arg)
                    && !added.constraint.is_at_least_as_narrow_as(existing)
                {
                    return Err(AttenuationError::LooserConstraint {
                        tool: tool.clone(),
                        arg: added.arg.clone(),
                    });
                }
                grant
                    .args
                    .insert(added.arg.clone(), added.constraint.clone());
                rest.insert(grant);
            }
            child.grants = rest;
        }
        if let Some(subject) = &step.delegate {
            child.subject = subject.clone();
        }
        Ok(child)
    }
}
