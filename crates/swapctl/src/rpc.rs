//! Connections to the relayer: the public swap API (no credentials) and the admin API (a bearer
//! token, optionally over TLS with a client certificate).
//!
//! Owns channel setup and the credential interceptor. It must never log or echo the token.

use std::path::PathBuf;
use std::time::Duration;

use crosslock_proto::admin::v1::admin_service_client::AdminServiceClient;
use crosslock_proto::public::v1::swap_service_client::SwapServiceClient;
use thiserror::Error;
use tonic::metadata::MetadataValue;
use tonic::service::Interceptor;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint, Identity};

/// Per-call deadline: long enough for a loaded relayer, short enough that a script notices.
const CALL_TIMEOUT: Duration = Duration::from_secs(30);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Why a connection could not be made.
#[derive(Debug, Error)]
pub(crate) enum RpcError {
    /// The URL is not a valid endpoint.
    #[error("invalid URL {url:?}: {reason}")]
    Url {
        /// The URL given.
        url: String,
        /// Why.
        reason: String,
    },
    /// A TLS file could not be read.
    #[error("cannot read {path}: {source}")]
    File {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The server could not be reached.
    #[error("cannot connect to {url}: {source}")]
    Connect {
        /// The URL.
        url: String,
        /// The cause.
        source: tonic::transport::Error,
    },
    /// The token is not a valid header value.
    #[error("the admin token has characters a header cannot carry")]
    Token,
}

/// How to reach the admin API.
#[derive(Debug, Clone, Default)]
pub(crate) struct AdminAuth {
    /// The bearer token (its `Debug` shows `***`).
    pub token: Option<crate::state::Hidden>,
    /// CA that signed the server's certificate (https URLs).
    pub ca_file: Option<PathBuf>,
    /// Client certificate and key (PEM) for mutual TLS.
    pub cert_file: Option<PathBuf>,
    /// Key of `cert_file`.
    pub key_file: Option<PathBuf>,
}

fn read(path: &PathBuf) -> Result<Vec<u8>, RpcError> {
    std::fs::read(path).map_err(|source| RpcError::File {
        path: path.clone(),
        source,
    })
}

async fn channel(url: &str, tls: Option<ClientTlsConfig>) -> Result<Channel, RpcError> {
    let bad = |reason: String| RpcError::Url {
        url: url.to_owned(),
        reason,
    };
    if !(url.starts_with("http://") || url.starts_with("https://")) {
        return Err(bad("must start with http:// or https://".to_owned()));
    }
    let mut ep = Endpoint::from_shared(url.to_owned())
        .map_err(|e| bad(e.to_string()))?
        .timeout(CALL_TIMEOUT)
        .connect_timeout(CONNECT_TIMEOUT);
    if let Some(t) = tls {
        ep = ep.tls_config(t).map_err(|e| bad(e.to_string()))?;
    }
    ep.connect().await.map_err(|source| RpcError::Connect {
        url: url.to_owned(),
        source,
    })
}

/// The public swap API.
pub(crate) async fn public(url: &str) -> Result<SwapServiceClient<Channel>, RpcError> {
    let tls = url
        .starts_with("https://")
        .then(|| ClientTlsConfig::new().with_enabled_roots());
    Ok(SwapServiceClient::new(channel(url, tls).await?))
}

/// Adds `authorization: Bearer <token>` to every admin call.
#[derive(Clone)]
pub(crate) struct Bearer(Option<MetadataValue<tonic::metadata::Ascii>>);

impl Interceptor for Bearer {
    fn call(&mut self, mut req: tonic::Request<()>) -> Result<tonic::Request<()>, tonic::Status> {
        if let Some(v) = &self.0 {
            req.metadata_mut().insert("authorization", v.clone());
        }
        Ok(req)
    }
}

/// The admin client type.
pub(crate) type Admin =
    AdminServiceClient<tonic::service::interceptor::InterceptedService<Channel, Bearer>>;

/// The admin API with the operator's credentials.
pub(crate) async fn admin(url: &str, auth: &AdminAuth) -> Result<Admin, RpcError> {
    let tls = if url.starts_with("https://") {
        let mut t = ClientTlsConfig::new();
        t = match &auth.ca_file {
            Some(ca) => t.ca_certificate(Certificate::from_pem(read(ca)?)),
            None => t.with_enabled_roots(),
        };
        if let (Some(c), Some(k)) = (&auth.cert_file, &auth.key_file) {
            t = t.identity(Identity::from_pem(read(c)?, read(k)?));
        }
        Some(t)
    } else {
        None
    };
    let token = match &auth.token {
        Some(t) => Some(
            format!("Bearer {}", t.0)
                .parse()
                .map_err(|_| RpcError::Token)?,
        ),
        None => None,
    };
    Ok(AdminServiceClient::with_interceptor(
        channel(url, tls).await?,
        Bearer(token),
    ))
}
