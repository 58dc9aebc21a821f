//! How the adapter reaches an Electrum server: the URL forms it accepts, and the socket under
//! the protocol, plain TCP or TLS.
//!
//! Owns connecting: name resolution, the connect timeout, `TCP_NODELAY`, and for `ssl://` the
//! TLS handshake (rustls with the ring provider, whatever provider the process installed) with
//! the server's certificate checked against [`TlsRoots`]. A certificate that does not check out is
//! refused during the handshake, before a byte of the protocol is sent.

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{ClientConfig, ClientConnection, RootCertStore, StreamOwned};

/// Which certificates an `ssl://` server may present.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum TlsRoots {
    /// The platform's trust store, for a server whose certificate a public CA issued. The
    /// `SSL_CERT_FILE` and `SSL_CERT_DIR` environment variables replace the store when set.
    #[default]
    System,
    /// Only the certificates in this PEM text: a private CA, or the server's own self-signed
    /// certificate (one that is not marked as a CA). The server's name is still checked.
    Pem(String),
}

/// An Electrum server address: `tcp://host:port`, `ssl://host:port`, or `host:port` (TCP).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ElectrumUrl {
    /// `ssl://`: TLS over TCP.
    pub tls: bool,
    /// Host name or IP address (an IPv6 address without its brackets).
    pub host: String,
    /// TCP port.
    pub port: u16,
}

impl std::str::FromStr for ElectrumUrl {
    type Err = String;

    fn from_str(url: &str) -> Result<Self, String> {
        let bad = |why: &str| {
            format!(
                "electrum URL {url:?}: {why} (expected tcp://HOST:PORT, ssl://HOST:PORT or HOST:PORT)"
            )
        };
        let (tls, rest) = if let Some(r) = url.strip_prefix("ssl://") {
            (true, r)
        } else if let Some(r) = url.strip_prefix("tcp://") {
            (false, r)
        } else if let Some((scheme, _)) = url.split_once("://") {
            return Err(bad(&format!("unsupported scheme {scheme:?}")));
        } else {
            (false, url)
        };
        let rest = rest.strip_suffix('/').unwrap_or(rest);
        let (host, port) = if let Some(v6) = rest.strip_prefix('[') {
            let (host, port) = v6.split_once("]:").ok_or_else(|| bad("no port"))?;
            (host, port)
        } else {
            let (host, port) = rest.rsplit_once(':').ok_or_else(|| bad("no port"))?;
            if host.contains(':') {
                return Err(bad("an IPv6 address must be in brackets"));
            }
            (host, port)
        };
        if host.is_empty() {
            return Err(bad("no host"));
        }
        let port: u16 = port
            .parse()
            .ok()
            .filter(|p| *p != 0)
            .ok_or_else(|| bad("invalid port"))?;
        Ok(ElectrumUrl {
            tls,
            host: host.to_owned(),
            port,
        })
    }
}

impl std::fmt::Display for ElectrumUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let scheme = if self.tls { "ssl" } else { "tcp" };
        if self.host.contains(':') {
            write!(f, "{scheme}://[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{scheme}://{}:{}", self.host, self.port)
        }
    }
}

/// A connected socket to an Electrum server: what the protocol reads and writes, and what
/// electrum-client's `RawClient` can run on.
#[derive(Debug)]
pub enum ElectrumStream {
    /// `tcp://`.
    Tcp(TcpStream),
    /// `ssl://`, handshake done.
    Tls(Box<StreamOwned<ClientConnection, TcpStream>>),
}

impl Read for ElectrumStream {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self {
            ElectrumStream::Tcp(s) => s.read(buf),
            ElectrumStream::Tls(s) => s.read(buf),
        }
    }
}

impl Write for ElectrumStream {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self {
            ElectrumStream::Tcp(s) => s.write(buf),
            ElectrumStream::Tls(s) => s.write(buf),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        match self {
            ElectrumStream::Tcp(s) => s.flush(),
            ElectrumStream::Tls(s) => s.flush(),
        }
    }
}

/// The TLS client settings for `roots`, with the ring provider named explicitly: the process
/// may link more than one provider (the resolver does), and this must not depend on which one
/// was installed as the default.
pub fn tls_config(roots: &TlsRoots) -> Result<Arc<ClientConfig>, String> {
    let mut store = RootCertStore::empty();
    match roots {
        TlsRoots::System => {
            let found = rustls_native_certs::load_native_certs();
            let (added, _ignored) = store.add_parsable_certificates(found.certs);
            if added == 0 {
                let errors: Vec<String> = found.errors.iter().map(ToString::to_string).collect();
                return Err(format!(
                    "no trusted root certificates in the system store ({}); set SSL_CERT_FILE or \
                     give the server's CA in ElectrumConfig::tls_roots",
                    if errors.is_empty() {
                        "it is empty".to_owned()
                    } else {
                        errors.join("; ")
                    }
                ));
            }
        }
        TlsRoots::Pem(pem) => {
            for cert in CertificateDer::pem_slice_iter(pem.as_bytes()) {
                let cert = cert.map_err(|e| format!("TLS roots: bad PEM: {e}"))?;
                store
                    .add(cert)
                    .map_err(|e| format!("TLS roots: unusable certificate: {e}"))?;
            }
            if store.is_empty() {
                return Err("TLS roots: the PEM text holds no certificate".to_owned());
            }
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS setup: {e}"))?
        .with_root_certificates(store)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// Connects to `url` (each resolved address in turn, `timeout` each), sets `TCP_NODELAY` and
/// the read/write `timeout`, and for `ssl://` completes the TLS handshake with `tls`.
pub fn connect(
    url: &ElectrumUrl,
    timeout: Duration,
    tls: Option<&Arc<ClientConfig>>,
) -> Result<ElectrumStream, String> {
    let addrs: Vec<_> = (url.host.as_str(), url.port)
        .to_socket_addrs()
        .map_err(|e| format!("{url}: cannot resolve {}: {e}", url.host))?
        .collect();
    let mut last = format!("{url}: {} resolves to no address", url.host);
    let mut sock = None;
    for addr in addrs {
        match TcpStream::connect_timeout(&addr, timeout) {
            Ok(s) => {
                sock = Some(s);
                break;
            }
            Err(e) => last = format!("{url}: connect to {addr}: {e}"),
        }
    }
    let sock = sock.ok_or(last)?;
    let setup = |e: std::io::Error| format!("{url}: socket setup: {e}");
    // Requests are small and each waits for its answer: never hold one back for an ACK.
    sock.set_nodelay(true).map_err(setup)?;
    sock.set_read_timeout(Some(timeout)).map_err(setup)?;
    sock.set_write_timeout(Some(timeout)).map_err(setup)?;
    if !url.tls {
        return Ok(ElectrumStream::Tcp(sock));
    }
    let config = tls.ok_or_else(|| format!("{url}: no TLS settings"))?;
    let name = ServerName::try_from(url.host.clone())
        .map_err(|e| format!("{url}: {:?} is not a valid TLS server name: {e}", url.host))?;
    let conn = ClientConnection::new(config.clone(), name)
        .map_err(|e| format!("{url}: TLS setup: {e}"))?;
    let mut tls = StreamOwned::new(conn, sock);
    while tls.conn.is_handshaking() {
        if let Err(e) = tls.conn.complete_io(&mut tls.sock) {
            return Err(handshake_error(url, &e));
        }
    }
    Ok(ElectrumStream::Tls(Box::new(tls)))
}

/// Says why a TLS handshake failed, naming a refused certificate as such.
fn handshake_error(url: &ElectrumUrl, e: &std::io::Error) -> String {
    match e.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>()) {
        Some(rustls::Error::InvalidCertificate(why)) => format!(
            "{url}: TLS handshake failed: the server's certificate was refused ({why:?}); \
             check ElectrumConfig::tls_roots and the host name"
        ),
        Some(other) => format!("{url}: TLS handshake failed: {other}"),
        None => format!("{url}: TLS handshake failed: {e}"),
    }
}

#[cfg(test)]
mod tests {
    use super::ElectrumUrl;

    fn url(s: &str) -> Result<ElectrumUrl, String> {
        s.parse()
    }

    #[test]
    fn the_three_url_forms_and_ipv6_parse() {
        let plain = ElectrumUrl {
            tls: false,
            host: "electrs".into(),
            port: 50001,
        };
        assert_eq!(url("tcp://electrs:50001"), Ok(plain.clone()));
        assert_eq!(url("electrs:50001"), Ok(plain.clone()));
        assert_eq!(url("tcp://electrs:50001/"), Ok(plain));
        let tls = url("ssl://electrum.example.com:50002").unwrap();
        assert!(tls.tls);
        assert_eq!(tls.host, "electrum.example.com");
        assert_eq!(tls.port, 50002);
        assert_eq!(tls.to_string(), "ssl://electrum.example.com:50002");
        let v6 = url("ssl://[::1]:50002").unwrap();
        assert_eq!(v6.host, "::1");
        assert_eq!(v6.to_string(), "ssl://[::1]:50002");
    }

    #[test]
    fn malformed_urls_are_refused_with_the_reason() {
        for (u, why) in [
            ("http://electrs:50001", "unsupported scheme \"http\""),
            ("tls://electrs:50002", "unsupported scheme \"tls\""),
            ("ssl://electrs", "no port"),
            ("electrs", "no port"),
            ("tcp://:50001", "no host"),
            ("tcp://electrs:0", "invalid port"),
            ("tcp://electrs:65536", "invalid port"),
            ("tcp://electrs:x", "invalid port"),
            ("tcp://::1:50001", "brackets"),
        ] {
            let e = url(u).unwrap_err();
            assert!(e.contains(why), "{u}: {e}");
        }
    }
}
