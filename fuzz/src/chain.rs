//! Issuing a root and extending a chain step by step through a provider, asserting at every step what the contract promises.

use captoken_core_types::{
    Attenuation, AttenuationError, AttenuationMode, Capability, Error, LineageIndex,
    MemoryLineageIndex, ModelError, ParentRef, Token, reference,
};

use crate::input::remaining_depth;
use crate::providers::Fuzzable;

/// A chain built through one provider: the tokens, and the steps it accepted.
#[derive(Debug)]
pub struct Chain {
    /// The root capability.
    pub root: Capability,
    /// The tokens, root first.
    pub tokens: Vec<Token>,
    /// The steps the provider accepted, in order (`tokens.len() - 1` of them).
    pub steps: Vec<Attenuation>,
    /// The capability of the last token as strict re-issuance computes it,
    /// for deriving narrowing steps (for offline formats, the last one
    /// strict re-issuance accepted).
    pub current: Capability,
}

impl Chain {
    /// Issues `root`. `None` when the format cannot express it ([`Error::Unsupported`]).
    ///
    /// Asserts that the token reads back as `root` (`inspect`), frames, round-trips
    /// through its text form, and that its index row (re-issuance formats) or its
    /// absence (offline formats) is right.
    pub fn issue(p: &dyn Fuzzable, root: &Capability) -> Option<Self> {
        let name = p.name();
        let token = match p.issue(root) {
            Ok(t) => t,
            Err(Error::Unsupported(_)) => return None,
            // Beyond the size bounds, or bound to a key set (no holder-key
            // directory yet): refused by every format alike.
            Err(Error::Model(e)) if root.check_issuable() == Err(e.clone()) => return None,
            Err(e) => panic!("{name}: issue refused a root capability: {e}"),
        };
        match p.inspect(&token) {
            Ok(i) => {
                assert_eq!(&i.capability, root, "{name}: inspect(issue(c)) != c");
                assert!(
                    i.steps.is_empty() && i.declared_parents.is_empty(),
                    "{name}: a root with steps"
                );
            }
            Err(e) => panic!("{name}: an issued token does not inspect: {e}"),
        }
        assert_eq!(
            p.parse_bytes(token.as_bytes()).ok().as_ref(),
            Some(&token),
            "{name}: issued bytes do not frame"
        );
        assert_eq!(
            p.parse_text(&p.to_text(&token)).ok().as_ref(),
            Some(&token),
            "{name}: issued text does not parse"
        );
        let hash = p.lineage_hash(&token).ok();
        let row = p.index_entry(&token);
        match (p.properties().attenuation, row) {
            (AttenuationMode::Reissue, Ok(Some(row))) => {
                assert_eq!(Some(row.hash), hash, "{name}: index row hash");
                assert_eq!(row.token_id, root.id, "{name}: index row id");
                assert_eq!(row.parent, None, "{name}: a root's index row has a parent");
            }
            (AttenuationMode::Offline, Ok(None)) => {}
            (_, row) => panic!("{name}: wrong index row for an issued root: {row:?}"),
        }
        Some(Self {
            root: root.clone(),
            tokens: vec![token],
            steps: Vec::new(),
            current: root.clone(),
        })
    }

    /// The last token.
    #[must_use]
    pub fn leaf(&self) -> &Token {
        match self.tokens.last() {
            Some(t) => t,
            None => unreachable!("a chain has its root"),
        }
    }

    /// The ancestors of the last token, parent first.
    #[must_use]
    pub fn ancestors(&self) -> Vec<Token> {
        let n = self.tokens.len().saturating_sub(1);
        self.tokens
            .get(..n)
            .unwrap_or_default()
            .iter()
            .rev()
            .cloned()
            .collect()
    }

    /// Attenuates the last token by `step` and asserts the outcome:
    ///
    /// - re-issuance formats refuse exactly when [`Capability::attenuate`]
    ///   refuses, with the same error, and otherwise sign exactly the capability
    ///   it computes, under a fresh id, recording the parent's id and lineage hash;
    /// - offline formats refuse only a step taken when the depth is exhausted (or
    ///   a token past their size limits), and otherwise append the step as given,
    ///   declaring the parent's lineage hash;
    /// - every format refuses an unsigned delegation away from a key-bound holder.
    ///
    /// Returns false when the provider refused the step (the chain is unchanged).
    pub fn attenuate(&mut self, p: &dyn Fuzzable, step: &Attenuation) -> bool {
        let name = p.name();
        let parent = self.leaf().clone();
        let parent_hash = match p.lineage_hash(&parent) {
            Ok(h) => h,
            Err(e) => panic!("{name}: no lineage hash for a chain token: {e}"),
        };
        let strict = self.current.attenuate(step);
        let got = p.attenuate(&parent, step);
        // A step beyond the size bounds or delegating to a bound subject is
        // refused by every format, before anything else.
        if let Err(want) = step.check_appendable() {
            match got {
                Err(Error::Model(e)) if e == want => return false,
                // A re-issuer may refuse a widening step first.
                Err(Error::Attenuation(_))
                    if p.properties().attenuation == AttenuationMode::Reissue =>
                {
                    return false;
                }
                got => panic!("{name}: {want} not refused: {:?}", got.map(|_| "a token")),
            }
        }
        // An unsigned delegation away from a key-bound holder is refused by
        // every format (a re-issuer may refuse a widening step first).
        if let Ok(i) = p.inspect(&parent)
            && step
                .check_unsigned_from(reference::current_holder(&i.capability, &i.steps))
                .is_err()
        {
            match got {
                Err(Error::Model(ModelError::DelegationUnsigned)) => return false,
                Err(Error::Attenuation(_))
                    if p.properties().attenuation == AttenuationMode::Reissue =>
                {
                    return false;
                }
                got => panic!(
                    "{name}: unsigned delegation from a key-bound holder not refused: {:?}",
                    got.map(|_| "a token")
                ),
            }
        }
        match p.properties().attenuation {
            AttenuationMode::Reissue => match (strict, got) {
                (Err(want), Err(Error::Attenuation(err))) => {
                    assert_eq!(err, want, "{name}: refused for another reason");
                    false
                }
                (Ok(mut want), Ok(child)) => {
                    let Ok(i) = p.inspect(&child) else {
                        panic!("{name}: a re-issued token does not inspect");
                    };
                    assert_ne!(
                        i.capability.id, self.current.id,
                        "{name}: child reuses the parent's id"
                    );
                    let declared = Some(ParentRef::new(p.format(), self.current.id, parent_hash));
                    assert_eq!(
                        i.capability.parent, declared,
                        "{name}: child's parent reference"
                    );
                    assert_eq!(
                        i.declared_parents,
                        vec![parent_hash],
                        "{name}: declared parents"
                    );
                    want.id = i.capability.id;
                    want.parent = declared;
                    assert_eq!(
                        i.capability, want,
                        "{name}: re-issued another capability than the strict one"
                    );
                    self.current = want;
                    self.push(child, step);
                    true
                }
                (Ok(_), Err(Error::Unsupported(_) | Error::Model(_))) => false,
                (strict, got) => panic!(
                    "{name}: strict re-issuance says {strict:?}, the provider {:?}",
                    got.map(|_| "a token")
                ),
            },
            AttenuationMode::Offline => match got {
                Ok(child) => {
                    let Ok(i) = p.inspect(&child) else {
                        panic!("{name}: an attenuated token does not inspect");
                    };
                    assert_eq!(
                        i.capability, self.root,
                        "{name}: attenuation changed the root"
                    );
                    let mut steps = self.steps.clone();
                    steps.push(step.clone());
                    assert_eq!(
                        i.steps, steps,
                        "{name}: inspect does not read back the steps"
                    );
                    assert_eq!(
                        i.declared_parents.first(),
                        Some(&parent_hash),
                        "{name}: declared parent"
                    );
                    if let Ok(next) = strict {
                        self.current = next;
                    }
                    self.push(child, step);
                    true
                }
                Err(Error::Attenuation(AttenuationError::DepthExhausted)) => {
                    assert_eq!(
                        remaining_depth(&self.root, &self.steps),
                        Some(0),
                        "{name}: refused a step while depth remains"
                    );
                    false
                }
                Err(Error::Unsupported(_)) => false,
                Err(e) => panic!("{name}: offline attenuation refused: {e}"),
            },
        }
    }

    fn push(&mut self, child: Token, step: &Attenuation) {
        self.tokens.push(child);
        self.steps.push(step.clone());
    }

    /// A lineage index holding the row of every token of the chain.
    pub fn index(&self, p: &dyn Fuzzable) -> MemoryLineageIndex {
        let index = MemoryLineageIndex::new();
        for t in &self.tokens {
            match p.index_entry(t) {
                Ok(Some(row)) => {
                    if let Err(e) = index.record(row) {
                        panic!("{}: conflicting index rows in one chain: {e}", p.name());
                    }
                }
                Ok(None) => {}
                Err(e) => panic!("{}: no index row for a chain token: {e}", p.name()),
            }
        }
        index
    }
}
