//! Who may call the edge: per-device and operator credentials, stored hashed, revocable
//! without a restart.
//!
//! A credentials file (TOML) lists `[[credential]]` entries, each bound to one id and role:
//! a **device** may only send requests as its own `device_id`; an **operator** may also set
//! shares. An entry holds the SHA-256 of a bearer token (tokens are 256 random bits, so a
//! plain hash is as strong as a slow one here and costs a microsecond per request) and/or the
//! SHA-256 fingerprint of a client certificate (mutual TLS). The edge re-reads the file when
//! it changes (checked at most every [`RELOAD_EVERY`]), so removing an entry or setting
//! `revoked = true` locks that caller out within a second; a file that no longer parses is
//! logged and the last good one kept.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant, SystemTime};

use crate::error::{Result, RuntimeError};

/// How often, at most, the edge looks whether the credentials file changed.
pub const RELOAD_EVERY: Duration = Duration::from_millis(500);

/// What a credential may do.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Sends requests as its own device id, lists and downloads models.
    #[default]
    Device,
    /// Everything a device may, as any device id, and sets shares.
    Operator,
}

/// One caller's credential.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Credential {
    /// The device id (role device) or the operator's name.
    pub id: String,
    /// What it may do.
    #[serde(default)]
    pub role: Role,
    /// SHA-256 of its bearer token (hex), if it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_sha256: Option<String>,
    /// SHA-256 fingerprint of its client certificate's DER (hex), if it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cert_sha256: Option<String>,
    /// Revoked: refused with a message saying so.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub revoked: bool,
}

/// The credentials file's content.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CredentialFile {
    /// Every credential.
    #[serde(default, rename = "credential")]
    pub credentials: Vec<Credential>,
}

impl CredentialFile {
    /// Reads and checks a credentials file.
    pub fn load(path: &Path) -> Result<CredentialFile> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| RuntimeError::io(format!("credentials {}", path.display()), e))?;
        let file: CredentialFile = toml::from_str(&text)
            .map_err(|e| RuntimeError::Invalid(format!("credentials {}: {e}", path.display())))?;
        file.check()
            .map_err(|e| RuntimeError::Invalid(format!("credentials {}: {e}", path.display())))?;
        Ok(file)
    }

    /// A missing file reads as empty (for `credentials add` on a new file).
    pub fn load_or_empty(path: &Path) -> Result<CredentialFile> {
        if path.exists() {
            Self::load(path)
        } else {
            Ok(CredentialFile::default())
        }
    }

    /// Writes the file whole (mode 0600: hashes are not secrets, but the ids are the
    /// fleet's map).
    pub fn save(&self, path: &Path) -> Result<()> {
        self.check().map_err(RuntimeError::Invalid)?;
        let text = toml::to_string_pretty(self)
            .map_err(|e| RuntimeError::Invalid(format!("credentials: {e}")))?;
        let header = "# coinfer edge credentials: `coinfer edge credentials add|revoke|list`.\n\
                      # Hashes only; the edge re-reads this file when it changes.\n\n";
        crate::tls::write(path, format!("{header}{text}").as_bytes(), true)
    }

    /// Ids are 1–128 characters and unique, hashes 64 hex digits, every entry has a token
    /// or a certificate, and no token or certificate belongs to two entries.
    fn check(&self) -> std::result::Result<(), String> {
        let mut ids = std::collections::HashSet::new();
        let mut keys = std::collections::HashSet::new();
        for c in &self.credentials {
            if c.id.is_empty() || c.id.len() > 128 {
                return Err(format!("id `{}`: 1–128 characters", c.id));
            }
            if !ids.insert(c.id.as_str()) {
                return Err(format!("id `{}` appears twice", c.id));
            }
            if c.token_sha256.is_none() && c.cert_sha256.is_none() {
                return Err(format!("`{}` has neither token_sha256 nor cert_sha256", c.id));
            }
            for h in [&c.token_sha256, &c.cert_sha256].into_iter().flatten() {
                if h.len() != 64 || !h.bytes().all(|b| b.is_ascii_hexdigit()) {
                    return Err(format!("`{}`: a SHA-256 is 64 hex digits, not `{h}`", c.id));
                }
                if !keys.insert(h.to_ascii_lowercase()) {
                    return Err(format!("`{}`: its hash is another entry's too", c.id));
                }
            }
        }
        Ok(())
    }

    /// Adds a credential for `id` and returns the new bearer token (shown once, stored
    /// hashed), or binds a client certificate (by fingerprint) when `cert_sha256` is given.
    pub fn add(&mut self, id: &str, role: Role, cert_sha256: Option<String>) -> Result<String> {
        if self.credentials.iter().any(|c| c.id == id) {
            return Err(RuntimeError::Invalid(format!(
                "`{id}` already has a credential: revoke it first, or pick another id"
            )));
        }
        let token = new_token();
        let (token_sha256, cert_sha256) = match cert_sha256 {
            Some(fp) => (None, Some(fp.to_ascii_lowercase())),
            None => (Some(hash_token(&token)), None),
        };
        let c = Credential { id: id.into(), role, token_sha256, cert_sha256, revoked: false };
        self.credentials.push(c);
        self.check().map_err(RuntimeError::Invalid)?;
        Ok(token)
    }

    /// Marks `id`'s credential revoked; false when there is none.
    pub fn revoke(&mut self, id: &str) -> bool {
        self.credentials.iter_mut().find(|c| c.id == id).map(|c| c.revoked = true).is_some()
    }
}

/// A fresh bearer token: 256 random bits, hex.
pub fn new_token() -> String {
    use rand::RngCore;
    // `rand::rng()` is a CSPRNG (ChaCha12) seeded and reseeded from the OS.
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// SHA-256 of a token, hex: what the credentials file stores.
pub fn hash_token(token: &str) -> String {
    crate::distribution::sha256_hex(token.as_bytes())
}

/// Who a request comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Caller {
    /// No authentication configured: anyone.
    Anyone,
    /// The one shared token of `EdgeConfig::token` (loopback experiments): may act as any
    /// device and set shares.
    Shared,
    /// A device credential: may act only as this device id.
    Device(String),
    /// An operator credential (its name).
    Operator(String),
}

impl std::fmt::Display for Caller {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Caller::Anyone => f.write_str("an unauthenticated caller"),
            Caller::Shared => f.write_str("the shared token"),
            Caller::Device(id) => write!(f, "the credential of device `{id}`"),
            Caller::Operator(id) => write!(f, "operator `{id}`"),
        }
    }
}

impl Caller {
    /// May this caller send requests as `device_id`?
    pub fn may_act_as(&self, device_id: &str) -> bool {
        match self {
            Caller::Device(id) => id == device_id,
            _ => true,
        }
    }

    /// May this caller change shares?
    pub fn may_set_shares(&self) -> bool {
        !matches!(self, Caller::Device(_))
    }
}

/// Why a caller was not identified.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// No token and no client certificate.
    #[error("missing credential: send `authorization: Bearer <token>` or a client certificate")]
    Missing,
    /// Neither the token nor the certificate is in the credentials file.
    #[error("unknown credential")]
    Unknown,
    /// The credential was revoked.
    #[error("the credential of `{0}` is revoked")]
    Revoked(String),
}

#[derive(Default)]
struct Table {
    by_token: HashMap<String, Credential>,
    by_cert: HashMap<String, Credential>,
}

impl Table {
    fn new(file: CredentialFile) -> Table {
        let mut t = Table::default();
        for c in file.credentials {
            if let Some(h) = &c.token_sha256 {
                t.by_token.insert(h.to_ascii_lowercase(), c.clone());
            }
            if let Some(h) = &c.cert_sha256 {
                t.by_cert.insert(h.to_ascii_lowercase(), c.clone());
            }
        }
        t
    }
}

/// The credentials file as the edge holds it: looked up per request, re-read when changed.
pub struct CredentialStore {
    path: PathBuf,
    table: RwLock<Arc<Table>>,
    /// When the file was last looked at, and its (modified time, length) then.
    seen: Mutex<(Instant, Option<(SystemTime, u64)>)>,
}

fn stamp(path: &Path) -> Option<(SystemTime, u64)> {
    let m = std::fs::metadata(path).ok()?;
    Some((m.modified().ok()?, m.len()))
}

impl CredentialStore {
    /// Loads `path` (it must exist and parse).
    pub fn open(path: &Path) -> Result<CredentialStore> {
        let file = CredentialFile::load(path)?;
        let n = file.credentials.len();
        tracing::info!(path = %path.display(), credentials = n, "credentials loaded");
        Ok(CredentialStore {
            path: path.to_path_buf(),
            table: RwLock::new(Arc::new(Table::new(file))),
            seen: Mutex::new((Instant::now(), stamp(path))),
        })
    }

    /// Re-reads the file if it changed since the last look (at most every
    /// [`RELOAD_EVERY`]).
    fn refresh(&self) {
        let Ok(mut seen) = self.seen.lock() else { return };
        if seen.0.elapsed() < RELOAD_EVERY {
            return;
        }
        seen.0 = Instant::now();
        let now = stamp(&self.path);
        if now == seen.1 {
            return;
        }
        seen.1 = now;
        match CredentialFile::load(&self.path) {
            Ok(file) => {
                let n = file.credentials.len();
                if let Ok(mut t) = self.table.write() {
                    *t = Arc::new(Table::new(file));
                }
                tracing::info!(credentials = n, "credentials file changed: reloaded");
            }
            Err(e) => tracing::error!("{e}; keeping the credentials loaded before"),
        }
    }

    /// Identifies a caller by its client certificate (DER) or bearer token.
    pub fn identify(&self, token: Option<&str>, cert: Option<&[u8]>) -> Result<Caller, AuthError> {
        self.refresh();
        let table = self.table.read().map(|t| t.clone()).unwrap_or_default();
        let found = cert
            .and_then(|der| table.by_cert.get(&crate::tls::fingerprint(der)))
            .or_else(|| token.and_then(|t| table.by_token.get(&hash_token(t))));
        match found {
            None if token.is_none() && cert.is_none() => Err(AuthError::Missing),
            None => Err(AuthError::Unknown),
            Some(c) if c.revoked => Err(AuthError::Revoked(c.id.clone())),
            Some(c) => Ok(match c.role {
                Role::Device => Caller::Device(c.id.clone()),
                Role::Operator => Caller::Operator(c.id.clone()),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_stored_hashed_bound_to_their_id_and_revocable_without_restart() {
        let dir = tempfile::tempdir().expect("tmp");
        let path = dir.path().join("credentials.toml");
        let mut f = CredentialFile::default();
        let cam = f.add("cam-1", Role::Device, None).expect("cam");
        let ops = f.add("ops", Role::Operator, None).expect("ops");
        assert!(f.add("cam-1", Role::Device, None).is_err(), "one credential per id");
        assert_eq!(cam.len(), 64);
        assert_ne!(cam, ops);
        f.save(&path).expect("save");
        let text = std::fs::read_to_string(&path).expect("read");
        assert!(!text.contains(&cam) && text.contains(&hash_token(&cam)), "only hashes stored");

        let store = CredentialStore::open(&path).expect("open");
        assert_eq!(store.identify(Some(&cam), None), Ok(Caller::Device("cam-1".into())));
        assert_eq!(store.identify(Some(&ops), None), Ok(Caller::Operator("ops".into())));
        assert_eq!(store.identify(Some("guess"), None), Err(AuthError::Unknown));
        assert_eq!(store.identify(None, None), Err(AuthError::Missing));
        let me = store.identify(Some(&cam), None).expect("cam");
        assert!(me.may_act_as("cam-1") && !me.may_act_as("cam-2") && !me.may_set_shares());

        // Revoked in the file: refused after the next look, no restart.
        let mut f = CredentialFile::load(&path).expect("load");
        assert!(f.revoke("cam-1") && !f.revoke("nobody"));
        f.save(&path).expect("save");
        std::thread::sleep(RELOAD_EVERY + Duration::from_millis(50));
        assert_eq!(store.identify(Some(&cam), None), Err(AuthError::Revoked("cam-1".into())));
        // A broken file keeps the last good table.
        std::fs::write(&path, "credential = 3").expect("write");
        std::thread::sleep(RELOAD_EVERY + Duration::from_millis(50));
        assert_eq!(store.identify(Some(&ops), None), Ok(Caller::Operator("ops".into())));
    }

    #[test]
    fn malformed_files_are_refused_with_the_reason() {
        let bad = [
            ("[[credential]]\nid = \"a\"\n", "neither"),
            ("[[credential]]\nid = \"a\"\ntoken_sha256 = \"12\"\n", "64 hex"),
            ("[[credential]]\nid = \"a\"\ntoken_sha256 = \"12\"\nextra = 1\n", "unknown field"),
            ("[[credential]]\nid = \"a\"\nrole = \"root\"\ntoken_sha256 = \"12\"\n", "root"),
        ];
        let dir = tempfile::tempdir().expect("tmp");
        for (text, why) in bad {
            let p = dir.path().join("c.toml");
            std::fs::write(&p, text).expect("write");
            let e = CredentialFile::load(&p).expect_err(text).to_string();
            assert!(e.contains(why), "{e}");
        }
        let h = "ab".repeat(32);
        let twice = format!(
            "[[credential]]\nid = \"a\"\ntoken_sha256 = \"{h}\"\n\
             [[credential]]\nid = \"b\"\ncert_sha256 = \"{h}\"\n"
        );
        let p = dir.path().join("c.toml");
        std::fs::write(&p, twice).expect("write");
        assert!(CredentialFile::load(&p).expect_err("shared hash").to_string().contains("another"));
    }
}
