//! `btc-regtest`: a Bitcoin regtest chain whose blocks are validated and connected by Bitcoin
//! Core's libbitcoinkernel, with a policy mempool, an Electrum (1.4) server and a JSON-RPC server
//! with Core's method names.
//!
//! Start one in-process ([`start`] in async code, [`InProcess::start`] from sync tests), spawn the
//! binary ([`ChildNode`]), or let [`testing::TestChain`] pick between this and a real
//! bitcoind + Electrum server named by `BTC_RPC_URL` / `BTC_RPC_AUTH` / `ELECTRUM_URL`.
//!
//! The library never prints; the binary prints the one JSON line with the bound addresses.

mod chain;
pub mod client;
mod electrum;
mod kernel;
pub mod mempool;
mod miner;
pub mod node;
mod rpc;
pub mod testing;
mod views;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use bitcoin::ScriptBuf;
use tokio::sync::watch;

pub use chain::{ScriptHash, script_hash};
pub use client::{RpcClient, RpcError};
pub use kernel::{ScriptError, verify_scripts};
pub use node::{Event, Node};

/// Errors starting or running the servers.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The node could not open (kernel setup, block store).
    #[error(transparent)]
    Node(#[from] node::Error),
    /// A listener could not bind, or a runtime could not start.
    #[error("I/O: {0}")]
    Io(#[from] std::io::Error),
    /// The spawned binary did not report its addresses.
    #[error("btc-regtest did not start: {0}")]
    Spawn(String),
}

/// How to run a node.
#[derive(Clone)]
pub struct Config {
    /// Where the block store lives; `None` keeps everything in memory (and a scratch kernel dir).
    pub datadir: Option<PathBuf>,
    /// Electrum listen address (port 0 picks one).
    pub electrum: SocketAddr,
    /// JSON-RPC listen address (port 0 picks one).
    pub rpc: SocketAddr,
    /// `user:password` required by the RPC server; `None` means no auth (loopback only).
    pub rpc_auth: Option<String>,
    /// Mine a block every interval (devnet), paying an anyone-can-spend P2WSH(OP_TRUE).
    pub automine: Option<Duration>,
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("datadir", &self.datadir)
            .field("electrum", &self.electrum)
            .field("rpc", &self.rpc)
            .field("rpc_auth", &self.rpc_auth.as_ref().map(|_| "***"))
            .field("automine", &self.automine)
            .finish()
    }
}

impl Default for Config {
    fn default() -> Self {
        let lo = SocketAddr::from(([127, 0, 0, 1], 0));
        Self {
            datadir: None,
            electrum: lo,
            rpc: lo,
            rpc_auth: None,
            automine: None,
        }
    }
}

/// A node with its servers running on the current tokio runtime.
pub struct Running {
    /// Where the Electrum server listens.
    pub electrum_addr: SocketAddr,
    /// Where the JSON-RPC server listens.
    pub rpc_addr: SocketAddr,
    /// The node itself, for direct calls.
    pub node: Arc<Node>,
    stop: watch::Sender<bool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Running {
    /// `http://ADDR` of the RPC server.
    pub fn rpc_url(&self) -> String {
        format!("http://{}", self.rpc_addr)
    }

    /// `tcp://ADDR` of the Electrum server, as electrum-client takes it.
    pub fn electrum_url(&self) -> String {
        format!("tcp://{}", self.electrum_addr)
    }

    /// Stops the servers and waits for them.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        for t in self.tasks {
            let _ = t.await;
        }
    }
}

/// The script automining pays: P2WSH of `OP_TRUE`, spendable by anyone (regtest only).
pub fn anyone_can_spend() -> ScriptBuf {
    let redeem = ScriptBuf::from_bytes(vec![0x51]);
    ScriptBuf::new_p2wsh(&redeem.wscript_hash())
}

/// Opens the node and starts the Electrum and RPC servers.
pub async fn start(config: Config) -> Result<Running, Error> {
    let datadir = config.datadir.clone();
    let node = tokio::task::spawn_blocking(move || Node::open(datadir.as_deref()))
        .await
        .map_err(|e| Error::Spawn(e.to_string()))??;
    let node = Arc::new(node);
    let electrum_listener = tokio::net::TcpListener::bind(config.electrum).await?;
    let rpc_listener = tokio::net::TcpListener::bind(config.rpc).await?;
    let electrum_addr = electrum_listener.local_addr()?;
    let rpc_addr = rpc_listener.local_addr()?;
    let (stop, stop_rx) = watch::channel(false);
    let mut tasks = vec![];
    tasks.push(tokio::spawn(electrum::serve(
        electrum_listener,
        node.clone(),
        stop_rx.clone(),
    )));
    let ctx = rpc::Ctx {
        node: node.clone(),
        auth: config.rpc_auth.clone(),
    };
    let mut rpc_stop = stop_rx.clone();
    tasks.push(tokio::spawn(async move {
        let done = async move {
            let _ = rpc_stop.changed().await;
        };
        if let Err(e) = rpc::serve(rpc_listener, ctx, done).await {
            tracing::error!(error = %e, "rpc server failed");
        }
    }));
    if let Some(every) = config.automine {
        let node = node.clone();
        let mut stop = stop_rx.clone();
        tasks.push(tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.tick().await;
            loop {
                tokio::select! {
                    _ = stop.changed() => return,
                    _ = tick.tick() => {
                        let n = node.clone();
                        let r = tokio::task::spawn_blocking(move || n.generate(1, &anyone_can_spend())).await;
                        if let Ok(Err(e)) = r {
                            tracing::error!(error = %e, "automine failed");
                        }
                    }
                }
            }
        }));
    }
    tracing::info!(electrum = %electrum_addr, rpc = %rpc::describe(rpc_addr), "btc-regtest ready");
    Ok(Running {
        electrum_addr,
        rpc_addr,
        node,
        stop,
        tasks,
    })
}

/// A node running on its own runtime thread, for synchronous tests. Stops on drop.
pub struct InProcess {
    /// Where the Electrum server listens.
    pub electrum_addr: SocketAddr,
    /// Where the JSON-RPC server listens.
    pub rpc_addr: SocketAddr,
    /// The node itself.
    pub node: Arc<Node>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl InProcess {
    /// Starts a node and its servers on a background runtime.
    pub fn start(config: Config) -> Result<Self, Error> {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()?;
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let (stop, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            rt.block_on(async move {
                match start(config).await {
                    Ok(running) => {
                        let _ = ready_tx.send(Ok((
                            running.electrum_addr,
                            running.rpc_addr,
                            running.node.clone(),
                        )));
                        let _ = stop_rx.await;
                        running.shutdown().await;
                    }
                    Err(e) => {
                        let _ = ready_tx.send(Err(e));
                    }
                }
            });
        });
        let (electrum_addr, rpc_addr, node) =
            ready_rx.recv().map_err(|e| Error::Spawn(e.to_string()))??;
        Ok(Self {
            electrum_addr,
            rpc_addr,
            node,
            stop: Some(stop),
            thread: Some(thread),
        })
    }

    /// `http://ADDR` of the RPC server.
    pub fn rpc_url(&self) -> String {
        format!("http://{}", self.rpc_addr)
    }

    /// `tcp://ADDR` of the Electrum server.
    pub fn electrum_url(&self) -> String {
        format!("tcp://{}", self.electrum_addr)
    }
}

impl Drop for InProcess {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The `btc-regtest` binary running as a child process. Killed on drop.
pub struct ChildNode {
    /// Where the Electrum server listens.
    pub electrum_addr: SocketAddr,
    /// Where the JSON-RPC server listens.
    pub rpc_addr: SocketAddr,
    child: std::process::Child,
}

impl ChildNode {
    /// Spawns `binary` with `args` (add `--in-memory` or `--datadir DIR`; ports default to 0)
    /// and reads the addresses it prints.
    pub fn spawn(binary: &std::path::Path, args: &[&str]) -> Result<Self, Error> {
        use std::io::BufRead as _;
        let mut child = std::process::Command::new(binary)
            .args(args)
            .stdout(std::process::Stdio::piped())
            .spawn()?;
        let stdout = child
            .stdout
            .take()
            .ok_or_else(|| Error::Spawn("no stdout".into()))?;
        let mut line = String::new();
        std::io::BufReader::new(stdout).read_line(&mut line)?;
        let v: serde_json::Value =
            serde_json::from_str(&line).map_err(|e| Error::Spawn(format!("{e}: {line:?}")))?;
        let addr = |k: &str| {
            v[k].as_str()
                .and_then(|s| s.parse().ok())
                .ok_or_else(|| Error::Spawn(format!("no {k} address in {line:?}")))
        };
        Ok(Self {
            electrum_addr: addr("electrum")?,
            rpc_addr: addr("rpc")?,
            child,
        })
    }

    /// Asks the process to stop (SIGTERM) and waits for it.
    pub fn terminate(mut self) -> Result<std::process::ExitStatus, Error> {
        std::process::Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status()?;
        Ok(self.child.wait()?)
    }
}

impl Drop for ChildNode {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
