//! Who may call what: the permission table and the tower layer that enforces it on every
//! listener, deny by default.
//!
//! Owns [`PERMISSIONS`] (every fully-qualified gRPC method and the roles allowed to call it) and
//! the mapping from a connection's credentials (a pinned client certificate or a bearer token)
//! to a [`Principal`]. A method missing from the table is refused for everyone; a test checks
//! that every method in the descriptor set has an entry. This module must never let a request
//! through that it could not attribute to a role the table allows, and never log a token.

use std::collections::HashMap;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use sha2::{Digest, Sha256};
use tonic::Status;
use tonic::transport::server::{TcpConnectInfo, TlsConnectInfo};
use tower::{Layer, Service};

use crate::metrics as m;

/// A caller's role.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Anyone, authenticated or not: makers and browsers.
    Public,
    /// A resolver, identified by its pinned client certificate or token.
    Resolver,
    /// An operator, on the admin listener.
    Admin,
}

/// Who is calling, as established from the connection and its metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    /// No credentials.
    Anonymous,
    /// A configured resolver, by name.
    Resolver(String),
    /// A configured operator, by name.
    Admin(String),
}

impl Principal {
    fn has(&self, role: Role) -> bool {
        match role {
            Role::Public => true,
            Role::Resolver => matches!(self, Principal::Resolver(_)),
            Role::Admin => matches!(self, Principal::Admin(_)),
        }
    }

    /// The name for logs and timelines (`resolver:<name>`, `operator:<name>`).
    pub fn actor(&self) -> String {
        match self {
            Principal::Anonymous => "anonymous".to_owned(),
            Principal::Resolver(n) => format!("resolver:{n}"),
            Principal::Admin(n) => format!("operator:{n}"),
        }
    }
}

use Role::{Admin, Public, Resolver};

/// Every method any listener serves, and who may call it. Deny by default: a method not listed
/// here is refused.
pub const PERMISSIONS: &[(&str, &[Role])] = &[
    ("/crosslock.public.v1.SwapService/GetQuote", &[Public]),
    ("/crosslock.public.v1.SwapService/SubmitOrder", &[Public]),
    ("/crosslock.public.v1.SwapService/GetSwap", &[Public]),
    ("/crosslock.public.v1.SwapService/WatchSwap", &[Public]),
    ("/crosslock.public.v1.SwapService/ListSwaps", &[Public]),
    ("/crosslock.public.v1.SwapService/RevealSecret", &[Public]),
    (
        "/crosslock.resolver.v1.ResolverService/SubscribeOrders",
        &[Resolver],
    ),
    (
        "/crosslock.resolver.v1.ResolverService/AcceptOrder",
        &[Resolver],
    ),
    (
        "/crosslock.resolver.v1.ResolverService/ReportTx",
        &[Resolver],
    ),
    ("/crosslock.admin.v1.AdminService/ListStuck", &[Admin]),
    ("/crosslock.admin.v1.AdminService/GetTimeline", &[Admin]),
    ("/crosslock.admin.v1.AdminService/Retry", &[Admin]),
    ("/crosslock.admin.v1.AdminService/ForceRefund", &[Admin]),
    ("/crosslock.admin.v1.AdminService/Annotate", &[Admin]),
    ("/crosslock.admin.v1.AdminService/Resolve", &[Admin]),
    ("/crosslock.admin.v1.AdminService/Pause", &[Admin]),
    ("/crosslock.admin.v1.AdminService/Resume", &[Admin]),
    // Liveness probes and tooling: open, they reveal nothing but service names.
    ("/grpc.health.v1.Health/Check", &[Public]),
    ("/grpc.health.v1.Health/Watch", &[Public]),
    (
        "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
        &[Public],
    ),
    (
        "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
        &[Public],
    ),
];

/// The roles allowed to call `path`, and the path as a static string for metric labels.
pub fn permission(path: &str) -> Option<(&'static str, &'static [Role])> {
    PERMISSIONS
        .iter()
        .find(|(p, _)| *p == path)
        .map(|(p, r)| (*p, *r))
}

/// Credentials a listener accepts.
#[derive(Debug, Clone, Default)]
pub struct Credentials {
    /// SHA-256 of a bearer token -> resolver name.
    pub resolver_tokens: HashMap<[u8; 32], String>,
    /// SHA-256 of a client certificate (DER) -> resolver name.
    pub resolver_certs: HashMap<[u8; 32], String>,
    /// SHA-256 of a bearer token -> operator name.
    pub admin_tokens: HashMap<[u8; 32], String>,
}

/// SHA-256, used to compare tokens without keeping or comparing them in the clear.
pub fn digest(b: &[u8]) -> [u8; 32] {
    Sha256::digest(b).into()
}

impl Credentials {
    fn principal<B>(&self, req: &http::Request<B>) -> Principal {
        if let Some(info) = req.extensions().get::<TlsConnectInfo<TcpConnectInfo>>()
            && let Some(certs) = info.peer_certs()
            && let Some(leaf) = certs.first()
            && let Some(name) = self.resolver_certs.get(&digest(leaf.as_ref()))
        {
            return Principal::Resolver(name.clone());
        }
        let token = req
            .headers()
            .get(http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "));
        if let Some(t) = token {
            let d = digest(t.as_bytes());
            if let Some(name) = self.admin_tokens.get(&d) {
                return Principal::Admin(name.clone());
            }
            if let Some(name) = self.resolver_tokens.get(&d) {
                return Principal::Resolver(name.clone());
            }
        }
        Principal::Anonymous
    }

    /// Decide a request: the principal and the method label, or the status to answer with.
    pub fn check<B>(&self, req: &http::Request<B>) -> Result<(Principal, &'static str), Status> {
        let Some((method, roles)) = permission(req.uri().path()) else {
            return Err(Status::permission_denied("method not permitted"));
        };
        let who = self.principal(req);
        if roles.iter().any(|r| who.has(*r)) {
            return Ok((who, method));
        }
        if who == Principal::Anonymous {
            Err(Status::unauthenticated("credentials required"))
        } else {
            Err(Status::permission_denied("not allowed for this caller"))
        }
    }
}

/// The layer that enforces [`PERMISSIONS`] and records API latency.
#[derive(Debug, Clone)]
pub struct AuthLayer {
    creds: Arc<Credentials>,
}

impl AuthLayer {
    /// A layer accepting `creds`.
    pub fn new(creds: Arc<Credentials>) -> AuthLayer {
        AuthLayer { creds }
    }
}

impl<S> Layer<S> for AuthLayer {
    type Service = AuthService<S>;

    fn layer(&self, inner: S) -> AuthService<S> {
        AuthService {
            inner,
            creds: self.creds.clone(),
        }
    }
}

/// The service [`AuthLayer`] wraps around the router.
#[derive(Debug, Clone)]
pub struct AuthService<S> {
    inner: S,
    creds: Arc<Credentials>,
}

type BoxFut<T, E> = Pin<Box<dyn Future<Output = Result<T, E>> + Send>>;

impl<S, B> Service<http::Request<B>> for AuthService<S>
where
    S: Service<http::Request<B>, Response = http::Response<tonic::body::Body>>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
    B: Send + 'static,
{
    type Response = http::Response<tonic::body::Body>;
    type Error = S::Error;
    type Future = BoxFut<Self::Response, Self::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: http::Request<B>) -> Self::Future {
        // Take the service that was polled ready; leave a fresh clone in its place.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        match self.creds.check(&req) {
            Ok((who, method)) => {
                req.extensions_mut().insert(who);
                Box::pin(async move {
                    let t = Instant::now();
                    let r = inner.call(req).await;
                    m::api_latency(method, t.elapsed());
                    r
                })
            }
            Err(status) => Box::pin(async move { Ok(status.into_http()) }),
        }
    }
}

/// The caller of a request, as the layer established it.
pub fn principal<T>(req: &tonic::Request<T>) -> Principal {
    req.extensions()
        .get::<Principal>()
        .cloned()
        .unwrap_or(Principal::Anonymous)
}
