//! TLS on the edge's ports (rustls, through tonic for gRPC and tokio-rustls for HTTP), the
//! device's side of it, and a small certificate authority for testbeds (rcgen).
//!
//! Files are PEM. With a client CA the edge asks for client certificates (mutual TLS) and
//! verifies them against it — signature, validity period, key usage — during the handshake;
//! who a verified certificate *is* comes from the credentials file ([`crate::credentials`],
//! by the certificate's SHA-256 fingerprint), so a certificate can be revoked there without
//! a restart.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tokio_rustls::rustls;

use crate::error::{Result, RuntimeError};

/// Longest a TLS handshake may take before the connection is dropped (a client that opens
/// a socket and says nothing holds a descriptor no longer than this).
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// The edge's TLS settings (`[tls]` in the edge config, or `edge serve --tls-cert …`).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerTls {
    /// PEM certificate chain the edge presents (leaf first).
    pub cert: PathBuf,
    /// PEM private key of that certificate.
    pub key: PathBuf,
    /// PEM CA certificates whose client certificates are accepted: mutual TLS. None =
    /// server-authenticated TLS only (devices identify with bearer tokens).
    #[serde(default)]
    pub client_ca: Option<PathBuf>,
    /// With `client_ca`: refuse a handshake without a client certificate (default). When
    /// false, such clients may still identify with a bearer token.
    #[serde(default = "yes")]
    pub require_client_cert: bool,
}

fn yes() -> bool {
    true
}

fn read(what: &str, path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|e| RuntimeError::io(format!("{what} {}", path.display()), e))
}

impl ServerTls {
    /// The gRPC port's TLS settings.
    pub fn grpc(&self) -> Result<tonic::transport::ServerTlsConfig> {
        let (cert, key) = (read("TLS certificate", &self.cert)?, read("TLS key", &self.key)?);
        // Parse here so a bad file is an error at start, not a silent handshake failure.
        self.rustls_config(&cert, &key, false)?;
        let identity = tonic::transport::Identity::from_pem(cert, key);
        let mut config =
            tonic::transport::ServerTlsConfig::new().identity(identity).timeout(HANDSHAKE_TIMEOUT);
        if let Some(ca) = &self.client_ca {
            config = config
                .client_ca_root(tonic::transport::Certificate::from_pem(read("client CA", ca)?))
                .client_auth_optional(!self.require_client_cert);
        }
        Ok(config)
    }

    /// The HTTP (`/health`, `/metrics`) port's TLS acceptor: server-authenticated, HTTP/1.1.
    pub fn https(&self) -> Result<tokio_rustls::TlsAcceptor> {
        let (cert, key) = (read("TLS certificate", &self.cert)?, read("TLS key", &self.key)?);
        Ok(tokio_rustls::TlsAcceptor::from(Arc::new(self.rustls_config(&cert, &key, true)?)))
    }

    /// The rustls configuration of the PEM certificate chain and key read from `self.cert`
    /// and `self.key`.
    fn rustls_config(&self, cert: &[u8], key: &[u8], http1: bool) -> Result<rustls::ServerConfig> {
        let certs = parse_certs("TLS certificate", &self.cert, cert)?;
        let key = parse_key(&self.key, key)?;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| RuntimeError::Invalid(format!("TLS: {e}")))?
            .with_no_client_auth()
            .with_single_cert(certs, key)
            .map_err(|e| {
                RuntimeError::Invalid(format!(
                    "TLS certificate {} and key {} do not go together: {e}",
                    self.cert.display(),
                    self.key.display()
                ))
            })?;
        if http1 {
            config.alpn_protocols = vec![b"http/1.1".to_vec()];
        }
        Ok(config)
    }
}

/// Certificates of a PEM file (at least one).
fn pem_certs(what: &str, path: &Path) -> Result<Vec<rustls_pki_types::CertificateDer<'static>>> {
    parse_certs(what, path, &read(what, path)?)
}

/// Certificates of the PEM `bytes` read from `path` (at least one).
fn parse_certs(
    what: &str,
    path: &Path,
    bytes: &[u8],
) -> Result<Vec<rustls_pki_types::CertificateDer<'static>>> {
    use rustls_pki_types::pem::PemObject;
    let certs = rustls_pki_types::CertificateDer::pem_slice_iter(bytes)
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| RuntimeError::Invalid(format!("{what} {}: {e}", path.display())))?;
    if certs.is_empty() {
        return Err(RuntimeError::Invalid(format!(
            "{what} {}: no PEM certificate in it",
            path.display()
        )));
    }
    Ok(certs)
}

/// The private key in the PEM `bytes` read from `path`.
fn parse_key(path: &Path, bytes: &[u8]) -> Result<rustls_pki_types::PrivateKeyDer<'static>> {
    use rustls_pki_types::pem::PemObject;
    rustls_pki_types::PrivateKeyDer::from_pem_slice(bytes)
        .map_err(|e| RuntimeError::Invalid(format!("TLS key {}: {e}", path.display())))
}

/// A device's TLS settings (`device run --tls-ca … [--tls-cert … --tls-key …]`).
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientTls {
    /// PEM CA that signed the edge's certificate (a private CA); none = the system's roots.
    pub ca: Option<PathBuf>,
    /// PEM client certificate (mutual TLS), with `key`.
    pub cert: Option<PathBuf>,
    /// PEM private key of `cert`.
    pub key: Option<PathBuf>,
    /// Name to verify the edge's certificate against, when the URL's host differs (a link
    /// emulator or a tunnel in between).
    pub domain: Option<String>,
}

impl ClientTls {
    /// tonic's client TLS settings.
    pub fn grpc(&self) -> Result<tonic::transport::ClientTlsConfig> {
        let mut config = tonic::transport::ClientTlsConfig::new();
        config = match &self.ca {
            Some(ca) => {
                let pem = read("edge CA", ca)?;
                parse_certs("edge CA", ca, &pem)?;
                config.ca_certificate(tonic::transport::Certificate::from_pem(pem))
            }
            None => config.with_native_roots(),
        };
        match (&self.cert, &self.key) {
            (Some(c), Some(k)) => {
                config = config.identity(tonic::transport::Identity::from_pem(
                    read("client certificate", c)?,
                    read("client key", k)?,
                ))
            }
            (None, None) => {}
            _ => {
                return Err(RuntimeError::Invalid(
                    "a client certificate needs both --tls-cert and --tls-key".into(),
                ))
            }
        }
        if let Some(d) = &self.domain {
            config = config.domain_name(d.clone());
        }
        Ok(config)
    }
}

/// SHA-256 of a certificate's DER bytes, lowercase hex: how the credentials file names it.
pub fn fingerprint(der: &[u8]) -> String {
    crate::distribution::sha256_hex(der)
}

/// The SHA-256 fingerprint of the first certificate in a PEM file.
pub fn pem_fingerprint(path: &Path) -> Result<String> {
    Ok(fingerprint(pem_certs("certificate", path)?[0].as_ref()))
}

/// A certificate authority kept in a directory (`ca.pem`, `ca-key.pem`) that issues the
/// edge's and the devices' certificates: for testbeds and small fleets. Keys are ECDSA
/// P-256, written with mode 0600.
pub struct Authority {
    dir: PathBuf,
    issuer: rcgen::Issuer<'static, rcgen::KeyPair>,
}

/// A certificate the authority wrote.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Issued {
    /// Certificate (PEM).
    pub cert: PathBuf,
    /// Private key (PEM).
    pub key: PathBuf,
    /// SHA-256 fingerprint of the certificate (hex), for the credentials file.
    pub sha256: String,
}

fn gen_err(e: rcgen::Error) -> RuntimeError {
    RuntimeError::Invalid(format!("certificate generation: {e}"))
}

impl Authority {
    /// Creates a new CA in `dir` (refuses to overwrite one there).
    pub fn create(dir: &Path, name: &str) -> Result<Authority> {
        std::fs::create_dir_all(dir)
            .map_err(|e| RuntimeError::io(format!("creating {}", dir.display()), e))?;
        if dir.join("ca.pem").exists() {
            return Err(RuntimeError::Invalid(format!(
                "{} already holds a CA (ca.pem); use it or pick another directory",
                dir.display()
            )));
        }
        let key = rcgen::KeyPair::generate().map_err(gen_err)?;
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).map_err(gen_err)?;
        params.distinguished_name = rcgen::DistinguishedName::new();
        params.distinguished_name.push(rcgen::DnType::CommonName, name);
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params.key_usages =
            vec![rcgen::KeyUsagePurpose::KeyCertSign, rcgen::KeyUsagePurpose::CrlSign];
        let (now, years) = (SystemTime::now(), Duration::from_secs(10 * 365 * 86_400));
        params.not_before = (now - Duration::from_secs(3600)).into();
        params.not_after = (now + years).into();
        let cert = params.self_signed(&key).map_err(gen_err)?;
        write(&dir.join("ca.pem"), cert.pem().as_bytes(), false)?;
        write(&dir.join("ca-key.pem"), key.serialize_pem().as_bytes(), true)?;
        Ok(Authority { dir: dir.to_path_buf(), issuer: rcgen::Issuer::new(params, key) })
    }

    /// Opens the CA in `dir`.
    pub fn open(dir: &Path) -> Result<Authority> {
        let cert =
            String::from_utf8_lossy(&read("CA certificate", &dir.join("ca.pem"))?).into_owned();
        let key = String::from_utf8_lossy(&read("CA key", &dir.join("ca-key.pem"))?).into_owned();
        let key = rcgen::KeyPair::from_pem(&key).map_err(gen_err)?;
        let issuer = rcgen::Issuer::from_ca_cert_pem(&cert, key).map_err(gen_err)?;
        Ok(Authority { dir: dir.to_path_buf(), issuer })
    }

    /// The CA certificate devices and edges trust.
    pub fn ca_cert(&self) -> PathBuf {
        self.dir.join("ca.pem")
    }

    /// Issues the edge's server certificate for `hosts` (DNS names or IP addresses), valid
    /// for `days`, as `<dir>/<name>.pem` and `<dir>/<name>-key.pem`.
    pub fn issue_server(&self, name: &str, hosts: &[String], days: u32) -> Result<Issued> {
        if hosts.is_empty() {
            return Err(RuntimeError::Invalid("a server certificate needs a host name".into()));
        }
        let now = SystemTime::now();
        self.issue(name, hosts, now, now + Duration::from_secs(u64::from(days) * 86_400), true)
    }

    /// Issues a device's client certificate (common name = `device`), valid over
    /// `[not_before, not_after]`, as `<dir>/<device>.pem` and `<dir>/<device>-key.pem`.
    pub fn issue_device(
        &self,
        device: &str,
        not_before: SystemTime,
        not_after: SystemTime,
    ) -> Result<Issued> {
        self.issue(device, &[], not_before, not_after, false)
    }

    fn issue(
        &self,
        name: &str,
        hosts: &[String],
        not_before: SystemTime,
        not_after: SystemTime,
        server: bool,
    ) -> Result<Issued> {
        if name.is_empty()
            || !name.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
            || name.starts_with('.')
        {
            return Err(RuntimeError::Invalid(format!(
                "certificate name `{name}`: use letters, digits, `-`, `_` and `.`"
            )));
        }
        let key = rcgen::KeyPair::generate().map_err(gen_err)?;
        let mut params = rcgen::CertificateParams::new(hosts.to_vec()).map_err(gen_err)?;
        params.distinguished_name = rcgen::DistinguishedName::new();
        params.distinguished_name.push(rcgen::DnType::CommonName, name);
        params.not_before = (not_before - Duration::from_secs(60)).into();
        params.not_after = not_after.into();
        params.key_usages = vec![rcgen::KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![if server {
            rcgen::ExtendedKeyUsagePurpose::ServerAuth
        } else {
            rcgen::ExtendedKeyUsagePurpose::ClientAuth
        }];
        let cert = params.signed_by(&key, &self.issuer).map_err(gen_err)?;
        let issued = Issued {
            cert: self.dir.join(format!("{name}.pem")),
            key: self.dir.join(format!("{name}-key.pem")),
            sha256: fingerprint(cert.der()),
        };
        write(&issued.cert, cert.pem().as_bytes(), false)?;
        write(&issued.key, key.serialize_pem().as_bytes(), true)?;
        Ok(issued)
    }
}

/// Writes a file whole (through a temporary file and a rename); `secret` = mode 0600.
pub(crate) fn write(path: &Path, bytes: &[u8], secret: bool) -> Result<()> {
    use std::io::Write;
    let tmp = path.with_extension("tmp");
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(if secret { 0o600 } else { 0o644 });
    }
    #[cfg(not(unix))]
    let _ = secret;
    let io = |e| RuntimeError::io(format!("writing {}", path.display()), e);
    let mut f = options.open(&tmp).map_err(io)?;
    f.write_all(bytes).map_err(io)?;
    f.sync_all().map_err(io)?;
    std::fs::rename(&tmp, path).map_err(io)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_authority_issues_certificates_that_parse_and_refuses_to_overwrite() {
        let dir = tempfile::tempdir().expect("tmp");
        let ca = Authority::create(dir.path(), "test CA").expect("CA");
        assert!(Authority::create(dir.path(), "again").is_err(), "never overwrites a CA");
        let edge =
            ca.issue_server("edge", &["localhost".into(), "127.0.0.1".into()], 1).expect("edge");
        let now = SystemTime::now();
        let cam = ca.issue_device("cam-1", now, now + Duration::from_secs(3600)).expect("cam");
        assert_eq!(pem_fingerprint(&cam.cert).expect("fp"), cam.sha256);
        assert_ne!(cam.sha256, edge.sha256);
        let tls = ServerTls {
            cert: edge.cert.clone(),
            key: edge.key.clone(),
            client_ca: Some(ca.ca_cert()),
            require_client_cert: true,
        };
        tls.grpc().expect("gRPC TLS config");
        tls.https().expect("HTTPS config");
        // The reopened CA issues too; a key that is not the certificate's is refused.
        let again = Authority::open(dir.path()).expect("open");
        again.issue_device("cam-2", now, now + Duration::from_secs(60)).expect("cam-2");
        let wrong = ServerTls { key: cam.key, ..tls };
        let e = wrong.grpc().expect_err("mismatched key").to_string();
        assert!(e.contains("do not go together"), "{e}");
        assert!(ca.issue_device("../x", now, now).is_err(), "names are checked");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join("ca-key.pem")).expect("key").permissions();
            assert_eq!(mode.mode() & 0o777, 0o600, "keys are private");
        }
    }
}
