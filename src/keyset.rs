//! Keysets: every key of a deployment, with its ID, status and creation time,
//! in one versioned text (specified in `docs/FORMAT.md`, section "Keysets")
//! that fits a secret manager entry or a single environment variable.
//!
//! ```text
//! sesame-keyset/1
//! key id=1 status=retired created=1700000000 retired=1702000000
//! key id=2 status=decrypt-only created=1701000000 raw=<base64url, 32 bytes>
//! key id=3 status=primary created=1702000000 master=<base64url> purpose=<base64url>
//! ```
//!
//! ```
//! use sesame::{KeyRing, Keyset};
//!
//! // Usually from a secret manager or one environment variable.
//! let text = "sesame-keyset/1;key id=7 status=primary created=1700000000 \
//!             raw=AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyA";
//! let keyset = Keyset::parse(text)?;
//! let ring: KeyRing = keyset.build_ring()?;
//! assert_eq!(ring.primary_id(), Some(7));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Retired keys stay listed without their material so that their IDs are
//! never handed out again: a reused ID would make old tokens fail as
//! "authentication failed" instead of "unknown key", and would let a token
//! sealed under the old key be tried against the new one.

use core::fmt;
use std::format;
use std::string::String;
use std::vec::Vec;

use rand_core::CryptoRngCore;
use zeroize::Zeroizing;

use crate::base64url;
use crate::crypto::KEY_BYTES;
use crate::keyring::{derive_key, DEFAULT_RING_CAPACITY};
use crate::{Error, KeyRing};

/// The first record of every keyset text of this version.
pub const KEYSET_HEADER: &str = "sesame-keyset/1";

/// Longest keyset text accepted, in bytes. Larger input is refused before
/// any parsing, so a misdirected file cannot cost more than this.
pub const KEYSET_TEXT_MAX: usize = 64 * 1024;

/// What a key may do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum KeyStatus {
    /// Seals new tokens and opens old ones. At most one per keyset.
    Primary,
    /// Opens tokens but never seals: how a new key is rolled out before it
    /// is promoted, and how an old one lingers until its tokens age out.
    DecryptOnly,
    /// Listed only so its ID is never reused; no key material.
    Retired,
}

impl KeyStatus {
    /// The word the text format uses.
    pub const fn as_str(self) -> &'static str {
        match self {
            KeyStatus::Primary => "primary",
            KeyStatus::DecryptOnly => "decrypt-only",
            KeyStatus::Retired => "retired",
        }
    }

    fn parse(word: &str) -> Option<KeyStatus> {
        match word {
            "primary" => Some(KeyStatus::Primary),
            "decrypt-only" => Some(KeyStatus::DecryptOnly),
            "retired" => Some(KeyStatus::Retired),
            _ => None,
        }
    }
}

impl fmt::Display for KeyStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where an entry's key comes from, without the secret itself.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MaterialKind<'a> {
    /// 32 raw bytes.
    Raw,
    /// HKDF from a master secret (as [`derive_key`]) with this purpose.
    Derived { purpose: &'a [u8] },
    /// A retired entry: the material is gone.
    None,
}

/// One entry as the public sees it: everything but the secret, so it may be
/// logged and printed with `Debug`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EntryInfo<'a> {
    pub id: u32,
    pub status: KeyStatus,
    /// Unix seconds.
    pub created: u64,
    /// Unix seconds; `Some` exactly when `status` is `Retired`.
    pub retired: Option<u64>,
    pub material: MaterialKind<'a>,
}

// Secrets live on the heap, each in its own zeroizing buffer: the entries
// vector moves its elements when it grows and frees the old storage without
// wiping it, so a key held inline in an entry would leave copies behind.
#[derive(Clone)]
enum Material {
    /// Exactly KEY_BYTES long.
    Raw(Zeroizing<Vec<u8>>),
    Derived {
        master: Zeroizing<Vec<u8>>,
        purpose: Vec<u8>,
    },
    None,
}

#[derive(Clone)]
struct Entry {
    id: u32,
    status: KeyStatus,
    created: u64,
    retired: Option<u64>,
    material: Material,
}

impl Entry {
    fn info(&self) -> EntryInfo<'_> {
        EntryInfo {
            id: self.id,
            status: self.status,
            created: self.created,
            retired: self.retired,
            material: match &self.material {
                Material::Raw(_) => MaterialKind::Raw,
                Material::Derived { purpose, .. } => MaterialKind::Derived { purpose },
                Material::None => MaterialKind::None,
            },
        }
    }

    fn key(&self) -> Result<Option<Zeroizing<[u8; KEY_BYTES]>>, Error> {
        match &self.material {
            Material::Raw(bytes) => {
                let mut key = Zeroizing::new([0u8; KEY_BYTES]);
                key.copy_from_slice(bytes);
                Ok(Some(key))
            }
            Material::Derived { master, purpose } => derive_key(master, purpose).map(Some),
            Material::None => Ok(None),
        }
    }
}

/// What is wrong with a keyset; the stable part of a [`KeysetError`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum KeysetErrorKind {
    /// The text is longer than [`KEYSET_TEXT_MAX`].
    TooLarge,
    /// The first record is not a keyset header.
    MissingHeader,
    /// The header names a keyset version other than 1.
    UnsupportedVersion,
    /// A record does not start with `key`.
    UnknownRecord,
    /// A field is not `name=value`.
    MalformedField,
    /// A field name this version does not define.
    UnknownField,
    /// The same field twice in one entry.
    DuplicateField,
    /// A required field is absent.
    MissingField,
    /// A known field that this entry's status or material forbids.
    FieldNotAllowed,
    /// An ID or time that is not a canonical decimal number in range.
    BadNumber,
    /// A status other than `primary`, `decrypt-only`, `retired`.
    BadStatus,
    /// Bytes that are not canonical unpadded base64url.
    BadBase64,
    /// A raw key that is not 32 bytes.
    WrongKeyLength,
    /// A raw key of all zeros (uninitialised memory, not a key).
    ZeroKey,
    /// An empty master secret.
    EmptyMaster,
    /// A primary entry carrying a retirement time.
    RetiredPrimary,
    /// A retirement time before the creation time.
    TimeOrder,
    /// Two entries with one key ID (retired ones included).
    DuplicateId,
    /// More than one primary.
    TwoPrimaries,
    /// Keys that can open but none that seals.
    NoPrimary,
    /// More usable keys than the ring the keyset is meant for can hold.
    TooManyKeys,
    /// No entry has this ID (promote, retire).
    UnknownId,
    /// The entry is retired already (promote, retire).
    AlreadyRetired,
    /// Every key ID up to `u32::MAX` is taken.
    NoFreeId,
    /// The random number generator failed.
    RandomFailed,
}

impl KeysetErrorKind {
    /// Every kind, in declaration order.
    pub const ALL: [KeysetErrorKind; 25] = [
        KeysetErrorKind::TooLarge,
        KeysetErrorKind::MissingHeader,
        KeysetErrorKind::UnsupportedVersion,
        KeysetErrorKind::UnknownRecord,
        KeysetErrorKind::MalformedField,
        KeysetErrorKind::UnknownField,
        KeysetErrorKind::DuplicateField,
        KeysetErrorKind::MissingField,
        KeysetErrorKind::FieldNotAllowed,
        KeysetErrorKind::BadNumber,
        KeysetErrorKind::BadStatus,
        KeysetErrorKind::BadBase64,
        KeysetErrorKind::WrongKeyLength,
        KeysetErrorKind::ZeroKey,
        KeysetErrorKind::EmptyMaster,
        KeysetErrorKind::RetiredPrimary,
        KeysetErrorKind::TimeOrder,
        KeysetErrorKind::DuplicateId,
        KeysetErrorKind::TwoPrimaries,
        KeysetErrorKind::NoPrimary,
        KeysetErrorKind::TooManyKeys,
        KeysetErrorKind::UnknownId,
        KeysetErrorKind::AlreadyRetired,
        KeysetErrorKind::NoFreeId,
        KeysetErrorKind::RandomFailed,
    ];

    /// A stable snake_case name (used by the test vectors and tools).
    pub const fn name(self) -> &'static str {
        match self {
            KeysetErrorKind::TooLarge => "too_large",
            KeysetErrorKind::MissingHeader => "missing_header",
            KeysetErrorKind::UnsupportedVersion => "unsupported_version",
            KeysetErrorKind::UnknownRecord => "unknown_record",
            KeysetErrorKind::MalformedField => "malformed_field",
            KeysetErrorKind::UnknownField => "unknown_field",
            KeysetErrorKind::DuplicateField => "duplicate_field",
            KeysetErrorKind::MissingField => "missing_field",
            KeysetErrorKind::FieldNotAllowed => "field_not_allowed",
            KeysetErrorKind::BadNumber => "bad_number",
            KeysetErrorKind::BadStatus => "bad_status",
            KeysetErrorKind::BadBase64 => "bad_base64",
            KeysetErrorKind::WrongKeyLength => "wrong_key_length",
            KeysetErrorKind::ZeroKey => "zero_key",
            KeysetErrorKind::EmptyMaster => "empty_master",
            KeysetErrorKind::RetiredPrimary => "retired_primary",
            KeysetErrorKind::TimeOrder => "time_order",
            KeysetErrorKind::DuplicateId => "duplicate_id",
            KeysetErrorKind::TwoPrimaries => "two_primaries",
            KeysetErrorKind::NoPrimary => "no_primary",
            KeysetErrorKind::TooManyKeys => "too_many_keys",
            KeysetErrorKind::UnknownId => "unknown_id",
            KeysetErrorKind::AlreadyRetired => "already_retired",
            KeysetErrorKind::NoFreeId => "no_free_id",
            KeysetErrorKind::RandomFailed => "random_failed",
        }
    }

    /// A short description. Never contains anything from the input.
    pub const fn message(self) -> &'static str {
        match self {
            KeysetErrorKind::TooLarge => "keyset text larger than 64 KiB",
            KeysetErrorKind::MissingHeader => "first record is not \"sesame-keyset/1\"",
            KeysetErrorKind::UnsupportedVersion => "unsupported keyset version",
            KeysetErrorKind::UnknownRecord => "record does not start with \"key\"",
            KeysetErrorKind::MalformedField => "field is not name=value",
            KeysetErrorKind::UnknownField => "unknown field name",
            KeysetErrorKind::DuplicateField => "field given twice",
            KeysetErrorKind::MissingField => "required field missing",
            KeysetErrorKind::FieldNotAllowed => "field not allowed for this entry",
            KeysetErrorKind::BadNumber => "not a canonical decimal number in range",
            KeysetErrorKind::BadStatus => "status is not primary, decrypt-only or retired",
            KeysetErrorKind::BadBase64 => "not canonical unpadded base64url",
            KeysetErrorKind::WrongKeyLength => "raw key is not 32 bytes",
            KeysetErrorKind::ZeroKey => "raw key is all zeros",
            KeysetErrorKind::EmptyMaster => "master secret is empty",
            KeysetErrorKind::RetiredPrimary => "primary key cannot be retired",
            KeysetErrorKind::TimeOrder => "retired before it was created",
            KeysetErrorKind::DuplicateId => "key ID already used",
            KeysetErrorKind::TwoPrimaries => "more than one primary key",
            KeysetErrorKind::NoPrimary => "usable keys but no primary key",
            KeysetErrorKind::TooManyKeys => "more usable keys than the ring holds",
            KeysetErrorKind::UnknownId => "no key with this ID",
            KeysetErrorKind::AlreadyRetired => "key is retired",
            KeysetErrorKind::NoFreeId => "no free key ID",
            KeysetErrorKind::RandomFailed => "random number generator failed",
        }
    }
}

/// Why a keyset was refused: a stable kind and where. `Display` names the
/// line, the entry and the field, never their contents (which may be secret).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct KeysetError {
    kind: KeysetErrorKind,
    line: usize,
    record: usize,
    field: usize,
}

impl KeysetError {
    fn new(kind: KeysetErrorKind) -> Self {
        KeysetError {
            kind,
            line: 0,
            record: 0,
            field: 0,
        }
    }

    fn at(kind: KeysetErrorKind, place: Place, field: usize) -> Self {
        KeysetError {
            kind,
            line: place.line,
            record: place.record,
            field,
        }
    }

    pub fn kind(&self) -> KeysetErrorKind {
        self.kind
    }

    /// 1-based line of the text; 0 when the error is about the whole keyset
    /// or came from an edit rather than a parse.
    pub fn line(&self) -> usize {
        self.line
    }

    /// 1-based number of the record in the text, the header being record 1,
    /// counting `;`-separated records on one line separately; 0 as for `line`.
    pub fn record(&self) -> usize {
        self.record
    }

    /// 1-based position of the field in its record (`key` is field 0); 0
    /// when the error is about the record as a whole.
    pub fn field(&self) -> usize {
        self.field
    }
}

impl fmt::Display for KeysetError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("invalid keyset")?;
        if self.line > 0 {
            write!(f, ": line {}, record {}", self.line, self.record)?;
            if self.field > 0 {
                write!(f, ", field {}", self.field)?;
            }
        }
        write!(f, ": {}", self.kind.message())
    }
}

impl std::error::Error for KeysetError {}

impl From<KeysetError> for Error {
    fn from(_: KeysetError) -> Self {
        Error::InvalidKeyset
    }
}

#[derive(Clone, Copy)]
struct Place {
    line: usize,
    record: usize,
}

/// Every key of a deployment; see the module documentation. Secrets are
/// zeroized on drop; `Debug` and `Display` show no key material.
#[derive(Clone)]
pub struct Keyset {
    entries: Vec<Entry>,
    capacity: usize,
}

impl Default for Keyset {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for Keyset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Keyset")
            .field("entries", &self.entries().collect::<Vec<_>>())
            .field("capacity", &self.capacity)
            .finish()
    }
}

impl fmt::Display for Keyset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.describe())
    }
}

impl Keyset {
    /// An empty keyset for a ring of [`DEFAULT_RING_CAPACITY`].
    pub fn new() -> Self {
        Self::with_capacity(DEFAULT_RING_CAPACITY)
    }

    /// An empty keyset whose usable keys must fit a ring of `capacity`.
    pub fn with_capacity(capacity: usize) -> Self {
        Keyset {
            entries: Vec::new(),
            capacity,
        }
    }

    /// Parses keyset text for a ring of [`DEFAULT_RING_CAPACITY`].
    pub fn parse(text: &str) -> Result<Keyset, KeysetError> {
        Self::parse_with_capacity(text, DEFAULT_RING_CAPACITY)
    }

    /// Parses keyset text whose usable keys must fit a ring of `capacity`.
    pub fn parse_with_capacity(text: &str, capacity: usize) -> Result<Keyset, KeysetError> {
        if text.len() > KEYSET_TEXT_MAX {
            return Err(KeysetError::new(KeysetErrorKind::TooLarge));
        }
        let mut keyset = Keyset::with_capacity(capacity);
        let mut primary_seen = false;
        let mut usable = 0usize;
        let mut record_number = 0usize;
        for (line_index, line) in text.split('\n').enumerate() {
            for record in line.split(';') {
                record_number += 1;
                let place = Place {
                    line: line_index + 1,
                    record: record_number,
                };
                let record = record.trim_matches([' ', '\t', '\r']);
                if record_number == 1 {
                    check_header(record, place)?;
                    continue;
                }
                if record.is_empty() {
                    continue;
                }
                let entry = parse_entry(record, place)?;
                if keyset.entries.iter().any(|e| e.id == entry.id) {
                    return Err(KeysetError::at(KeysetErrorKind::DuplicateId, place, 0));
                }
                if entry.status == KeyStatus::Primary {
                    if primary_seen {
                        return Err(KeysetError::at(KeysetErrorKind::TwoPrimaries, place, 0));
                    }
                    primary_seen = true;
                }
                if entry.status != KeyStatus::Retired {
                    usable += 1;
                    if usable > capacity {
                        return Err(KeysetError::at(KeysetErrorKind::TooManyKeys, place, 0));
                    }
                }
                keyset.entries.push(entry);
            }
        }
        if usable > 0 && !primary_seen {
            return Err(KeysetError::new(KeysetErrorKind::NoPrimary));
        }
        Ok(keyset)
    }

    /// The canonical text: the header, then one entry per line in keyset
    /// order, fields in the order id, status, created, retired, raw |
    /// master purpose, and a final newline. `parse` then `to_text` gives
    /// back canonical text byte for byte. Contains the secrets.
    pub fn to_text(&self) -> Zeroizing<String> {
        self.write_text('\n', true)
    }

    /// The same records separated by `;` on one line with no final
    /// separator: for an environment variable.
    pub fn to_line(&self) -> Zeroizing<String> {
        self.write_text(';', false)
    }

    fn write_text(&self, separator: char, final_separator: bool) -> Zeroizing<String> {
        // Reserved up front: a reallocation would leave a copy of the
        // secrets behind in freed memory that Zeroizing never sees.
        let capacity = self.entries.iter().fold(KEYSET_HEADER.len() + 1, |sum, e| {
            let material = match &e.material {
                Material::Raw(_) => base64url::encoded_len(KEY_BYTES),
                Material::Derived { master, purpose } => {
                    base64url::encoded_len(master.len()) + base64url::encoded_len(purpose.len())
                }
                Material::None => 0,
            };
            sum + ENTRY_TEXT_MAX + material
        });
        let mut text = Zeroizing::new(String::with_capacity(capacity));
        text.push_str(KEYSET_HEADER);
        for entry in &self.entries {
            text.push(separator);
            text.push_str(&format!(
                "key id={} status={} created={}",
                entry.id, entry.status, entry.created
            ));
            if let Some(retired) = entry.retired {
                text.push_str(&format!(" retired={retired}"));
            }
            match &entry.material {
                Material::Raw(key) => {
                    text.push_str(" raw=");
                    push_base64(&mut text, key);
                }
                Material::Derived { master, purpose } => {
                    text.push_str(" master=");
                    push_base64(&mut text, master);
                    text.push_str(" purpose=");
                    push_base64(&mut text, purpose);
                }
                Material::None => {}
            }
        }
        if final_separator {
            text.push(separator);
        }
        text
    }

    /// Builds a ring holding every key that is not retired, with the
    /// primary promoted. Fails with [`Error::RingFull`] if `N` is too small.
    pub fn build_ring<const N: usize>(&self) -> Result<KeyRing<N>, Error> {
        let mut ring = KeyRing::new();
        for entry in &self.entries {
            if let Some(key) = entry.key()? {
                ring.add_key(entry.id, &key)?;
            }
        }
        match self.primary_id() {
            Some(id) => ring.promote(id)?,
            // add_key made the first key primary; a keyset without a primary
            // has no usable keys, so there is nothing to undo.
            None => debug_assert!(ring.is_empty()),
        }
        Ok(ring)
    }

    /// The entries in keyset order, without secrets.
    pub fn entries(&self) -> impl Iterator<Item = EntryInfo<'_>> + '_ {
        self.entries.iter().map(Entry::info)
    }

    /// The entry with this ID, without secrets.
    pub fn entry(&self, id: u32) -> Option<EntryInfo<'_>> {
        self.find(id).map(Entry::info)
    }

    /// The ID of the key that seals, if any.
    pub fn primary_id(&self) -> Option<u32> {
        self.entries
            .iter()
            .find(|e| e.status == KeyStatus::Primary)
            .map(|e| e.id)
    }

    /// How many entries there are, retired ones included.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether there are no entries at all.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The ID an added key gets when none is asked for: one more than the
    /// largest ever used, so retired IDs are never reused.
    pub fn next_id(&self) -> Option<u32> {
        match self.entries.iter().map(|e| e.id).max() {
            None => Some(1),
            Some(max) => max.checked_add(1),
        }
    }

    /// Adds 32 random bytes as a new key with ID `id` (or [`next_id`]),
    /// created at `created`. It becomes primary if the keyset has none, and
    /// is decrypt-only otherwise. Returns the ID.
    ///
    /// [`next_id`]: Self::next_id
    pub fn add_generated_key<R: CryptoRngCore + ?Sized>(
        &mut self,
        id: Option<u32>,
        created: u64,
        rng: &mut R,
    ) -> Result<u32, KeysetError> {
        let mut key = Zeroizing::new([0u8; KEY_BYTES]);
        rng.try_fill_bytes(&mut key[..])
            .map_err(|_| KeysetError::new(KeysetErrorKind::RandomFailed))?;
        self.add_raw_key(id, &key, created)
    }

    /// Adds a raw key; see [`add_generated_key`](Self::add_generated_key).
    pub fn add_raw_key(
        &mut self,
        id: Option<u32>,
        key: &[u8; KEY_BYTES],
        created: u64,
    ) -> Result<u32, KeysetError> {
        if key.iter().all(|&b| b == 0) {
            return Err(KeysetError::new(KeysetErrorKind::ZeroKey));
        }
        self.push(id, created, Material::Raw(Zeroizing::new(key.to_vec())))
    }

    /// Adds a key derived from `master` and `purpose` (as
    /// [`KeyRing::add_derived_key`]); see [`add_generated_key`](Self::add_generated_key).
    pub fn add_derived(
        &mut self,
        id: Option<u32>,
        master: &[u8],
        purpose: &[u8],
        created: u64,
    ) -> Result<u32, KeysetError> {
        if master.is_empty() {
            return Err(KeysetError::new(KeysetErrorKind::EmptyMaster));
        }
        let material = Material::Derived {
            master: Zeroizing::new(master.to_vec()),
            purpose: purpose.to_vec(),
        };
        self.push(id, created, material)
    }

    fn push(
        &mut self,
        id: Option<u32>,
        created: u64,
        material: Material,
    ) -> Result<u32, KeysetError> {
        let id = match id {
            Some(id) => id,
            None => self
                .next_id()
                .ok_or(KeysetError::new(KeysetErrorKind::NoFreeId))?,
        };
        if self.find(id).is_some() {
            return Err(KeysetError::new(KeysetErrorKind::DuplicateId));
        }
        let usable = self
            .entries
            .iter()
            .filter(|e| e.status != KeyStatus::Retired)
            .count();
        if usable >= self.capacity {
            return Err(KeysetError::new(KeysetErrorKind::TooManyKeys));
        }
        let status = if self.primary_id().is_none() {
            KeyStatus::Primary
        } else {
            KeyStatus::DecryptOnly
        };
        self.entries.push(Entry {
            id,
            status,
            created,
            retired: None,
            material,
        });
        Ok(id)
    }

    /// Makes `id` the primary; the old primary becomes decrypt-only.
    pub fn promote(&mut self, id: u32) -> Result<(), KeysetError> {
        match self.find(id) {
            None => return Err(KeysetError::new(KeysetErrorKind::UnknownId)),
            Some(e) if e.status == KeyStatus::Retired => {
                return Err(KeysetError::new(KeysetErrorKind::AlreadyRetired))
            }
            Some(_) => {}
        }
        for entry in &mut self.entries {
            if entry.status == KeyStatus::Primary {
                entry.status = KeyStatus::DecryptOnly;
            }
            if entry.id == id {
                entry.status = KeyStatus::Primary;
            }
        }
        Ok(())
    }

    /// Retires `id` at time `at`: its material is dropped (and zeroized)
    /// and its ID stays taken. The primary can be retired only when it is
    /// the last usable key, since otherwise nothing would seal while keys
    /// still open; promote another key first.
    pub fn retire(&mut self, id: u32, at: u64) -> Result<(), KeysetError> {
        let usable = self
            .entries
            .iter()
            .filter(|e| e.status != KeyStatus::Retired)
            .count();
        let entry = self
            .entries
            .iter_mut()
            .find(|e| e.id == id)
            .ok_or(KeysetError::new(KeysetErrorKind::UnknownId))?;
        match entry.status {
            KeyStatus::Retired => return Err(KeysetError::new(KeysetErrorKind::AlreadyRetired)),
            KeyStatus::Primary if usable > 1 => {
                return Err(KeysetError::new(KeysetErrorKind::NoPrimary))
            }
            _ => {}
        }
        if at < entry.created {
            return Err(KeysetError::new(KeysetErrorKind::TimeOrder));
        }
        entry.status = KeyStatus::Retired;
        entry.retired = Some(at);
        entry.material = Material::None;
        Ok(())
    }

    /// A multi-line summary without secrets: one line per entry with its
    /// ID, status, times and where its key comes from.
    pub fn describe(&self) -> String {
        let usable = self
            .entries
            .iter()
            .filter(|e| e.status != KeyStatus::Retired)
            .count();
        let mut text = format!(
            "{KEYSET_HEADER}: {} entries, {} usable, primary {}\n",
            self.entries.len(),
            usable,
            match self.primary_id() {
                Some(id) => format!("{id}"),
                None => String::from("none"),
            }
        );
        for info in self.entries() {
            text.push_str(&format!(
                "key {} {} created={}",
                info.id, info.status, info.created
            ));
            if let Some(retired) = info.retired {
                text.push_str(&format!(" retired={retired}"));
            }
            match info.material {
                MaterialKind::Raw => text.push_str(" material=raw"),
                MaterialKind::Derived { purpose } => {
                    text.push_str(" material=derived purpose=");
                    push_purpose(&mut text, purpose);
                }
                MaterialKind::None => text.push_str(" material=none"),
            }
            text.push('\n');
        }
        text
    }

    fn find(&self, id: u32) -> Option<&Entry> {
        self.entries.iter().find(|e| e.id == id)
    }
}

/// The text of a raw key as a keyset writes it after `raw=` (unpadded
/// base64url, encoded in constant time), for tools that print a new key.
pub fn encode_key(key: &[u8; KEY_BYTES]) -> Zeroizing<String> {
    let mut text = Zeroizing::new(String::with_capacity(base64url::encoded_len(KEY_BYTES)));
    push_base64(&mut text, key);
    text
}

/// A purpose is a label, not a secret: shown as text when it is printable
/// ASCII, as base64url otherwise.
fn push_purpose(text: &mut String, purpose: &[u8]) {
    if purpose.iter().all(|b| b.is_ascii_graphic() || *b == b' ') {
        text.push('"');
        text.extend(purpose.iter().map(|&b| char::from(b)));
        text.push('"');
    } else {
        push_base64(text, purpose);
    }
}

fn push_base64(text: &mut String, bytes: &[u8]) {
    // Secrets go only into strings reserved for them (see write_text).
    let mut out = Zeroizing::new(std::vec![0u8; base64url::encoded_len(bytes.len())]);
    if let Ok(len) = base64url::encode(bytes, &mut out) {
        // The alphabet is ASCII, so every byte is one char.
        text.extend(out[..len].iter().map(|&b| char::from(b)));
    }
}

fn check_header(record: &str, place: Place) -> Result<(), KeysetError> {
    if record == KEYSET_HEADER {
        Ok(())
    } else if record.starts_with("sesame-keyset/") {
        Err(KeysetError::at(
            KeysetErrorKind::UnsupportedVersion,
            place,
            0,
        ))
    } else {
        Err(KeysetError::at(KeysetErrorKind::MissingHeader, place, 0))
    }
}

/// Longest entry text apart from its key material: the words, the four
/// numbers at their widest, the separators.
const ENTRY_TEXT_MAX: usize = 128;

const FIELDS: [&str; 7] = [
    "id", "status", "created", "retired", "raw", "master", "purpose",
];

fn parse_entry(record: &str, place: Place) -> Result<Entry, KeysetError> {
    let mut words = record
        .split([' ', '\t', '\r'])
        .filter(|word| !word.is_empty());
    if words.next() != Some("key") {
        return Err(KeysetError::at(KeysetErrorKind::UnknownRecord, place, 0));
    }
    // (value, field position) per known field name, in FIELDS order.
    let mut values: [Option<(&str, usize)>; FIELDS.len()] = [None; FIELDS.len()];
    for (index, word) in words.enumerate() {
        let position = index + 1;
        let error = |kind| KeysetError::at(kind, place, position);
        let (name, value) = word
            .split_once('=')
            .ok_or(error(KeysetErrorKind::MalformedField))?;
        let slot = FIELDS
            .iter()
            .position(|&known| known == name)
            .ok_or(error(KeysetErrorKind::UnknownField))?;
        if values[slot].is_some() {
            return Err(error(KeysetErrorKind::DuplicateField));
        }
        values[slot] = Some((value, position));
    }
    let [id, status, created, retired, raw, master, purpose] = values;
    let missing = KeysetError::at(KeysetErrorKind::MissingField, place, 0);
    let not_allowed = |(_, position): (&str, usize)| {
        KeysetError::at(KeysetErrorKind::FieldNotAllowed, place, position)
    };

    let id = parse_number(id.ok_or(missing)?, place, u64::from(u32::MAX))? as u32;
    let (status_word, status_position) = status.ok_or(missing)?;
    let status = KeyStatus::parse(status_word).ok_or(KeysetError::at(
        KeysetErrorKind::BadStatus,
        place,
        status_position,
    ))?;
    let created = parse_number(created.ok_or(missing)?, place, u64::MAX)?;
    let retired_at = match (status, retired) {
        (KeyStatus::Retired, None) => return Err(missing),
        (KeyStatus::Retired, Some(field)) => {
            let at = parse_number(field, place, u64::MAX)?;
            if at < created {
                return Err(KeysetError::at(KeysetErrorKind::TimeOrder, place, field.1));
            }
            Some(at)
        }
        (KeyStatus::Primary, Some(field)) => {
            return Err(KeysetError::at(
                KeysetErrorKind::RetiredPrimary,
                place,
                field.1,
            ))
        }
        (KeyStatus::DecryptOnly, Some(field)) => return Err(not_allowed(field)),
        (_, None) => None,
    };
    let material = if status == KeyStatus::Retired {
        if let Some(field) = raw.or(master).or(purpose) {
            return Err(not_allowed(field));
        }
        Material::None
    } else {
        match (raw, master, purpose) {
            (Some(raw), None, None) => {
                let bytes = parse_base64(raw, place)?;
                if bytes.len() != KEY_BYTES {
                    return Err(KeysetError::at(
                        KeysetErrorKind::WrongKeyLength,
                        place,
                        raw.1,
                    ));
                }
                if bytes.iter().all(|&b| b == 0) {
                    return Err(KeysetError::at(KeysetErrorKind::ZeroKey, place, raw.1));
                }
                Material::Raw(bytes)
            }
            (Some(_), Some(field), _) | (Some(_), None, Some(field)) => {
                return Err(not_allowed(field))
            }
            (None, Some(master), Some(purpose)) => {
                let master_bytes = parse_base64(master, place)?;
                if master_bytes.is_empty() {
                    return Err(KeysetError::at(
                        KeysetErrorKind::EmptyMaster,
                        place,
                        master.1,
                    ));
                }
                let purpose = parse_base64(purpose, place)?;
                Material::Derived {
                    master: master_bytes,
                    purpose: purpose.to_vec(),
                }
            }
            (None, Some(_), None) | (None, None, _) => return Err(missing),
        }
    };
    Ok(Entry {
        id,
        status,
        created,
        retired: retired_at,
        material,
    })
}

/// Canonical decimal only (no sign, no leading zero, no spaces), so a keyset
/// has one text and `to_text` gives it back.
fn parse_number(
    (text, position): (&str, usize),
    place: Place,
    max: u64,
) -> Result<u64, KeysetError> {
    let bad = KeysetError::at(KeysetErrorKind::BadNumber, place, position);
    let canonical = !text.is_empty()
        && text.bytes().all(|b| b.is_ascii_digit())
        && (text == "0" || !text.starts_with('0'));
    if !canonical {
        return Err(bad);
    }
    match text.parse::<u64>() {
        Ok(value) if value <= max => Ok(value),
        _ => Err(bad),
    }
}

fn parse_base64(
    (text, position): (&str, usize),
    place: Place,
) -> Result<Zeroizing<Vec<u8>>, KeysetError> {
    let bad = KeysetError::at(KeysetErrorKind::BadBase64, place, position);
    let len = base64url::decoded_len(text.len()).ok_or(bad)?;
    let mut out = Zeroizing::new(std::vec![0u8; len]);
    base64url::decode(text.as_bytes(), &mut out).map_err(|_| bad)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const RAW: &str = "AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyA";

    #[test]
    fn canonical_text_round_trips() {
        let text = std::format!(
            "{KEYSET_HEADER}\nkey id=1 status=retired created=5 retired=9\nkey id=2 status=decrypt-only created=6 raw={RAW}\nkey id=7 status=primary created=8 master=c2VjcmV0 purpose=\n"
        );
        let keyset = Keyset::parse(&text).unwrap();
        assert_eq!(keyset.to_text().as_str(), text);
        assert_eq!(keyset.primary_id(), Some(7));
        let line = keyset.to_line();
        assert!(!line.contains('\n'));
        assert_eq!(Keyset::parse(&line).unwrap().to_text().as_str(), text);
    }

    #[test]
    fn errors_name_the_place_and_not_the_secret() {
        let text = std::format!("{KEYSET_HEADER};key id=1 status=primary created=1 raw={RAW}!");
        let error = Keyset::parse(&text).unwrap_err();
        assert_eq!(error.kind(), KeysetErrorKind::BadBase64);
        assert_eq!((error.line(), error.record(), error.field()), (1, 2, 4));
        let shown = std::format!("{error}");
        assert!(!shown.contains(&RAW[..8]), "{shown}");
        assert_eq!(
            shown,
            "invalid keyset: line 1, record 2, field 4: not canonical unpadded base64url"
        );
    }

    #[test]
    fn debug_and_describe_hide_key_material() {
        let mut keyset = Keyset::new();
        keyset
            .add_derived(None, b"master secret", b"cookie", 1)
            .unwrap();
        keyset.add_raw_key(None, &[7u8; 32], 2).unwrap();
        let text = keyset.to_text();
        let secret_master = "bWFzdGVyIHNlY3JldA";
        assert!(text.contains(secret_master));
        for shown in [std::format!("{keyset:?}"), keyset.describe()] {
            assert!(!shown.contains(secret_master), "{shown}");
            assert!(!shown.contains("BwcHBwcH"), "{shown}");
        }
    }
}
