//! The dual-format migration window of DESIGN.md §9: one verifier that reads several formats and writes one, dispatching on each format's marker, counting requests per format and key, and bridging parents of an old format to children of the new.
//!
//! A [`MultiVerifier`] holds one provider per format it reads. It recognises a
//! token's format by its [`Marker`](captoken_core_types::Marker) alone (a text prefix, or the first byte of
//! a base64 binary form) and hands the token to that one provider: it never
//! tries one format and falls back to another, so a token damaged into
//! another format's marker is denied by that format's parser, not accepted as
//! something else. Markers are checked pairwise disjoint at construction.
//!
//! Every verdict is the provider's [`Verified`], which names the format and
//! the key that verified it; [`MultiVerifier::counts`] tells, per format and
//! key, how many requests were allowed, so that an operator sees when the old
//! format (or an old key) is no longer used.
//!
//! [`MultiVerifier::bridge`] re-issues a child in the written format from a
//! parent in a read one ([`captoken_core_types::reissue::bridge`]); the child
//! names its parent in the parent's own format, and the verifier walks such a
//! chain across formats ([`ForeignLineage`]), live or cold, so revoking the
//! old parent revokes the new child.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{PoisonError, RwLock};

use captoken_core_types::{
    Attenuation, Capability, Denied, DenyReason, Error, ForeignLineage, Format, HolderSigningKey,
    KeyId, ParentRef, Request, Token, TokenProvider, Verified, VerifyContext,
};

/// A provider the verifier reads with; shared by threads.
pub type Reader = Box<dyn TokenProvider + Send + Sync>;

/// Why a [`MultiVerifier`] cannot be built.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MigrationError {
    /// No format to read.
    #[error("a multi-format verifier needs at least one format to read")]
    NoReaders,
    /// Two providers of one format.
    #[error("format {0} is read by two providers")]
    DuplicateFormat(Format),
    /// Two formats whose text could carry both markers: dispatch would be ambiguous.
    #[error("formats {0} and {1} have overlapping markers")]
    MarkersOverlap(Format, Format),
    /// The written format is not among those read.
    #[error("the written format {0} is not read")]
    WriterNotRead(Format),
}

/// Requests allowed for one format and key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FormatCount {
    /// The format.
    pub format: Format,
    /// The key that verified them.
    pub key_id: KeyId,
    /// How many requests were allowed.
    pub allowed: u64,
}

/// Reads several formats, writes one (DESIGN.md §9). See the [module documentation](self).
pub struct MultiVerifier {
    writer: Reader,
    others: Vec<Reader>,
    /// Allowed requests per format read (fixed at construction), then per
    /// key: counting takes a read lock and one atomic add (a write lock only
    /// the first time a key is seen), so threads sharing the verifier do not
    /// queue on a mutex.
    allowed: BTreeMap<Format, RwLock<BTreeMap<KeyId, AtomicU64>>>,
    /// Denied requests per format read, and of no format's marker.
    denied: BTreeMap<Format, AtomicU64>,
    unmarked: AtomicU64,
}

impl MultiVerifier {
    /// A verifier reading with `readers` and writing `writes`.
    ///
    /// # Errors
    /// [`MigrationError`] when no format is read, a format is read twice, two
    /// markers overlap, or `writes` is not read.
    pub fn new(readers: Vec<Reader>, writes: Format) -> Result<Self, MigrationError> {
        if readers.is_empty() {
            return Err(MigrationError::NoReaders);
        }
        for (i, reader) in readers.iter().enumerate() {
            for earlier in readers.iter().take(i) {
                if reader.format() == earlier.format() {
                    return Err(MigrationError::DuplicateFormat(reader.format()));
                }
                if reader.marker().overlaps(&earlier.marker()) {
                    return Err(MigrationError::MarkersOverlap(
                        earlier.format(),
                        reader.format(),
                    ));
                }
            }
        }
        let (mut writer, others): (Vec<Reader>, Vec<Reader>) =
            readers.into_iter().partition(|r| r.format() == writes);
        let writer = writer.pop().ok_or(MigrationError::WriterNotRead(writes))?;
        let formats: Vec<Format> = std::iter::once(&writer)
            .chain(&others)
            .map(|r| r.format())
            .collect();
        Ok(Self {
            writer,
            others,
            allowed: formats
                .iter()
                .map(|f| (*f, RwLock::new(BTreeMap::new())))
                .collect(),
            denied: formats.iter().map(|f| (*f, AtomicU64::new(0))).collect(),
            unmarked: AtomicU64::new(0),
        })
    }

    /// Every provider, the writer first.
    fn readers(&self) -> impl Iterator<Item = &dyn TokenProvider> {
        std::iter::once(&self.writer)
            .chain(&self.others)
            .map(|r| &**r as &dyn TokenProvider)
    }

    /// The provider of the format `text` is marked as, if it is read here
    /// (markers are disjoint: at most one is).
    #[must_use]
    pub fn reader_for(&self, text: &str) -> Option<&dyn TokenProvider> {
        self.readers().find(|r| r.marker().matches(text))
    }

    /// The provider of `format`, if it is read here.
    #[must_use]
    pub fn reader(&self, format: Format) -> Option<&dyn TokenProvider> {
        self.readers().find(|r| r.format() == format)
    }

    /// The provider of the written format.
    #[must_use]
    pub fn writer(&self) -> &dyn TokenProvider {
        &*self.writer
    }

    /// Issues `capability` in the written format, as text.
    ///
    /// # Errors
    /// The writer's.
    pub fn issue(&self, capability: &Capability) -> Result<String, Error> {
        let writer = self.writer();
        writer.issue(capability).map(|t| writer.to_text(&t))
    }

    /// Verifies a token given as text for `request`: the format is the one
    /// its marker names, the token is parsed by that format only, and its
    /// ancestors of other formats are verified by their own providers. The
    /// verdict names the format and key; both are counted.
    ///
    /// # Errors
    /// One opaque [`Denied`]: [`DenyReason::Malformed`] for text no format
    /// here is marked as, or that its format does not parse; otherwise the
    /// provider's.
    pub fn verify(
        &self,
        text: &str,
        request: &Request,
        ctx: &VerifyContext<'_>,
    ) -> Result<Verified, Denied> {
        self.verify_marked(text, request, ctx).1
    }

    /// [`MultiVerifier::verify`], also naming the format `text` is marked as
    /// (`None`: no format read here).
    pub(crate) fn verify_marked(
        &self,
        text: &str,
        request: &Request,
        ctx: &VerifyContext<'_>,
    ) -> (Option<Format>, Result<Verified, Denied>) {
        let Some(reader) = self.reader_for(text) else {
            self.count_denied(None);
            return (
                None,
                Err(DenyReason::Malformed("no format read here is marked so").into()),
            );
        };
        let format = reader.format();
        let verdict = reader.verify_text(text, request, &ctx.with_foreign(self));
        match &verdict {
            Ok(v) => self.count_allowed(v.format, &v.key_id),
            Err(_) => self.count_denied(Some(format)),
        }
        (Some(format), verdict)
    }

    fn count_allowed(&self, format: Format, key_id: &KeyId) {
        let Some(keys) = self.allowed.get(&format) else {
            return;
        };
        if let Some(n) = keys
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(key_id)
        {
            n.fetch_add(1, Ordering::Relaxed);
            return;
        }
        keys.write()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(key_id.clone())
            .or_insert_with(|| AtomicU64::new(0))
            .fetch_add(1, Ordering::Relaxed);
    }

    /// Counts one denied request of `format` (`None`: no format's marker).
    pub(crate) fn count_denied(&self, format: Option<Format>) {
        let counter = match format {
            Some(f) => self.denied.get(&f).unwrap_or(&self.unmarked),
            None => &self.unmarked,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// Requests allowed so far, per format and key, in order.
    #[must_use]
    pub fn counts(&self) -> Vec<FormatCount> {
        self.allowed
            .iter()
            .flat_map(|(format, keys)| {
                let keys = keys.read().unwrap_or_else(PoisonError::into_inner);
                keys.iter()
                    .map(|(key_id, n)| FormatCount {
                        format: *format,
                        key_id: key_id.clone(),
                        allowed: n.load(Ordering::Relaxed),
                    })
                    .collect::<Vec<_>>()
            })
            .collect()
    }

    /// Requests denied so far, per format (`None`: no format's marker).
    #[must_use]
    pub fn denied(&self) -> Vec<(Option<Format>, u64)> {
        let unmarked = (None, self.unmarked.load(Ordering::Relaxed));
        std::iter::once(unmarked)
            .chain(
                self.denied
                    .iter()
                    .map(|(f, n)| (Some(*f), n.load(Ordering::Relaxed))),
            )
            .filter(|(_, n)| *n > 0)
            .collect()
    }

    /// The bridge issuer: re-issues the parent given as text (any re-issuing
    /// format read here) narrowed by `step` as a child in the written format,
    /// as text. `holder` signs a step that delegates away from a key-bound
    /// holder. Record the child in the lineage index with [`Self::writer`].
    ///
    /// # Errors
    /// [`Error::Malformed`] for text of no format read here;
    /// [`Error::Unsupported`] when the parent's or the written format
    /// carries its chain in its tokens (macaroons, Biscuit): a bridge writes a
    /// child that names its parent, which only re-issuing formats do; then as
    /// [`captoken_core_types::reissue::bridge`].
    pub fn bridge(
        &self,
        parent: &str,
        step: &Attenuation,
        holder: Option<&HolderSigningKey>,
    ) -> Result<String, Error> {
        let from = self
            .reader_for(parent)
            .ok_or(Error::Malformed("no format read here is marked so"))?;
        let token = from.parse_text(parent)?;
        let writer = self.writer();
        let (Some(old), Some(new)) = (from.as_reissuer(), writer.as_reissuer()) else {
            return Err(Error::Unsupported(
                "a bridge reads and writes re-issuing formats only",
            ));
        };
        let child = captoken_core_types::reissue::bridge(old, new, &token, step, holder)?;
        Ok(writer.to_text(&child))
    }

    /// Parses text of any format read here (by its marker).
    ///
    /// # Errors
    /// [`Error::Malformed`] for text of no format read here, or the format's parse error.
    pub fn parse_text(&self, text: &str) -> Result<Token, Error> {
        self.reader_for(text)
            .ok_or(Error::Malformed("no format read here is marked so"))?
            .parse_text(text)
    }
}

impl ForeignLineage for MultiVerifier {
    fn verify_ancestry(
        &self,
        declared: &ParentRef,
        ctx: &VerifyContext<'_>,
        budget: usize,
    ) -> Result<usize, DenyReason> {
        self.reader(declared.format)
            .ok_or(DenyReason::LineageMismatch)?
            .verify_ancestry(declared, ctx, budget)
    }
}

impl fmt::Debug for MultiVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MultiVerifier")
            .field(
                "reads",
                &self.readers().map(|r| r.format()).collect::<Vec<_>>(),
            )
            .field("writes", &self.writer().format())
            .finish_non_exhaustive()
    }
}
