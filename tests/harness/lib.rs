//! The end-to-end harness: a whole crosslock stack per scenario, made of the real binaries
//! (`relayer`, `resolver`, `swapctl`, `btc-regtest`) and real anvil, Postgres and Redis, each
//! on its own ports, database and Redis prefix, so scenarios can run side by side.
//!
//! Owns process lifetimes (every child is killed when its handle drops), the stack's key
//! material (a private CA and the resolver's pinned client certificate, made here with rcgen),
//! and the chain helpers scenarios need: mine Bitcoin blocks, move anvil's clock, read swap
//! states through `swapctl --json`. The Bitcoin backend is the project's regtest chain unless
//! `E2E_BTC_RPC_URL` and `E2E_ELECTRUM_URL` name a real bitcoind and Electrum server.
//!
//! The binaries are the ones `cargo build --bins` put next to this test's own executable
//! (`scripts/test` builds them first); a missing one fails with that instruction. Another
//! directory can be named with [`Options::bin_dir`] or `CROSSLOCK_BIN_DIR` (the end-to-end
//! benchmark runs release builds), and `btc-regtest` alone with [`Options::btc_regtest`].
//!
//! Besides the scenarios' one maker (`maker`, anvil's account 1), a stack can have any number of
//! makers of its own ([`Options::makers`]), each with its own state file, Bitcoin wallet (given a
//! mature coinbase before the daemons start) and random Ethereum key, so that many swaps can run
//! at once without sharing a nonce or a coin.

#![allow(clippy::print_stderr)]

use std::io::Write as _;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

/// anvil's development key 0 ("test test ... junk"): deploys the contracts.
pub const ANVIL_KEY0: &str = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80";
/// anvil's development key 1: the ETH maker of the scenarios.
pub const ANVIL_KEY1: &str = "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d";

fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default()
}

/// Where the binaries are: `CROSSLOCK_BIN_DIR` when set, else where `cargo build --bins` put
/// them, the directory above this test's `deps/`.
pub fn bin_dir() -> Result<PathBuf> {
    if let Some(d) = std::env::var_os("CROSSLOCK_BIN_DIR").filter(|d| !d.is_empty()) {
        return Ok(PathBuf::from(d));
    }
    let exe = std::env::current_exe()?;
    let deps = exe.parent().context("test executable has no directory")?;
    let dir = deps.parent().context("no target profile directory")?;
    Ok(dir.to_path_buf())
}

/// The binaries a stack runs.
#[derive(Debug, Clone)]
struct Bins {
    dir: PathBuf,
    btc_regtest: Option<PathBuf>,
}

impl Bins {
    fn new(opts: &Options) -> Result<Bins> {
        Ok(Bins {
            dir: match &opts.bin_dir {
                Some(d) => d.clone(),
                None => bin_dir()?,
            },
            btc_regtest: opts.btc_regtest.clone(),
        })
    }

    fn get(&self, name: &str) -> Result<PathBuf> {
        let p = match (&self.btc_regtest, name) {
            (Some(p), "btc-regtest") => p.clone(),
            _ => self.dir.join(name),
        };
        if !p.exists() {
            bail!(
                "{} is missing: build the binaries first with `cargo build --bins` (scripts/test does)",
                p.display()
            );
        }
        Ok(p)
    }
}

/// A port nobody listens on right now.
pub fn free_port() -> Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

fn unique() -> String {
    let mut b = [0u8; 8];
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    b.copy_from_slice(&Sha256::digest(format!("{t}:{}", std::process::id()))[..8]);
    hex::encode(b)
}

/// Polls `f` every 200 ms until it returns `Some` or `timeout` passes.
pub fn wait_for<T>(what: &str, timeout: Duration, mut f: impl FnMut() -> Option<T>) -> Result<T> {
    let start = Instant::now();
    loop {
        if let Some(v) = f() {
            return Ok(v);
        }
        if start.elapsed() > timeout {
            bail!("timed out after {timeout:?} waiting for {what}");
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// A child process with its log file; killed (SIGKILL) when dropped.
#[derive(Debug)]
pub struct Proc {
    /// What it is, for messages.
    pub name: String,
    child: Option<Child>,
    /// Its combined output.
    pub log: PathBuf,
}

impl Proc {
    fn spawn(name: &str, mut cmd: Command, log: PathBuf) -> Result<Proc> {
        let out = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)?;
        let err = out.try_clone()?;
        let child = cmd
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .with_context(|| format!("cannot start {name}"))?;
        Ok(Proc {
            name: name.to_owned(),
            child: Some(child),
            log,
        })
    }

    /// SIGKILL: no clean-up, as a crash.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Whether the log contains `needle`.
    pub fn logged(&self, needle: &str) -> bool {
        std::fs::read_to_string(&self.log).is_ok_and(|s| s.contains(needle))
    }

    /// Its process id, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Still running.
    pub fn alive(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|c| matches!(c.try_wait(), Ok(None)))
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.kill();
    }
}

/// What a stack is started with.
#[derive(Debug, Clone)]
pub struct Options {
    /// Seconds between regtest blocks mined by the chain itself (0: only when asked).
    pub btc_block_secs: u64,
    /// How long the relayer's quotes bind: the maker must fund before then.
    pub quote_ttl_secs: u64,
    /// Makers of the stack's own besides `maker`: named `maker-0`, `maker-1`, ... (see
    /// [`Stack::makers`]).
    pub makers: u32,
    /// Coinbases mined to the resolver's hot wallet before the daemons start, all mature by
    /// then. It funds one HTLC per ETH -> BTC swap, so many concurrent swaps want many coins
    /// rather than chains of unconfirmed change.
    pub resolver_coinbases: u32,
    /// Both daemons log JSON lines (with timestamps to the microsecond) instead of text.
    pub json_logs: bool,
    /// The relayer's limit of public API calls per minute per client address (`None`: its
    /// default). Every maker of a stack calls from 127.0.0.1.
    pub rate_limit_per_minute: Option<u64>,
    /// Where `relayer`, `resolver`, `swapctl` (and `btc-regtest`) are; `None`: [`bin_dir`].
    pub bin_dir: Option<PathBuf>,
    /// The `btc-regtest` binary, when it is not in the binary directory.
    pub btc_regtest: Option<PathBuf>,
}

impl Default for Options {
    /// Three-second blocks: Bitcoin timelocks count blocks, so a faster chain would eat a swap's
    /// windows (tens of blocks of slack at match) before its steps are done.
    fn default() -> Self {
        Options {
            btc_block_secs: 3,
            quote_ttl_secs: 600,
            makers: 0,
            resolver_coinbases: 110,
            json_logs: false,
            rate_limit_per_minute: None,
            bin_dir: None,
            btc_regtest: None,
        }
    }
}

/// One of a stack's own makers ([`Options::makers`]): its `swapctl` state is `<name>.json`, its
/// Bitcoin wallet `<name>-btc-wallet.json`, its Ethereum key `<name>-eth-key`, all in the stack's
/// directory.
#[derive(Debug, Clone)]
pub struct Maker {
    /// What [`Stack::swapctl`] takes.
    pub name: String,
    /// Its Ethereum address (EIP-55), given 1,000 ETH.
    pub eth_address: String,
    /// The wallet address its coinbase was mined to.
    pub btc_address: String,
}

/// One whole stack.
#[derive(Debug)]
pub struct Stack {
    /// Scratch space: configs, keys, logs, the maker's state files.
    pub dir: tempfile::TempDir,
    db_name: String,
    /// Postgres URL of this stack's own database.
    pub db_url: String,
    /// anvil.
    pub anvil: Proc,
    /// anvil's URL.
    pub eth_url: String,
    btc_proc: Option<Proc>,
    /// Bitcoin RPC.
    pub btc: BtcRpc,
    /// Electrum, `tcp://host:port`.
    pub electrum_url: String,
    /// The escrow contract.
    pub escrow: String,
    /// The test ERC-20.
    pub token: String,
    /// The relayer process.
    pub relayer: Proc,
    /// The resolver process.
    pub resolver: Proc,
    /// The stack's own makers ([`Options::makers`]).
    pub makers: Vec<Maker>,
    ports: Ports,
    admin_token: PathBuf,
    automine: bool,
    bins: Bins,
    json_logs: bool,
}

#[derive(Debug, Clone, Copy)]
struct Ports {
    public: u16,
    resolver_api: u16,
    admin: u16,
    relayer_metrics: u16,
    resolver_metrics: u16,
    resolver_health: u16,
}

fn database_url() -> String {
    std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://crosslock:crosslock@127.0.0.1:5432/crosslock".to_owned())
}

fn redis_url() -> String {
    std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned())
}

async fn create_db(name: &str) -> Result<String> {
    use sqlx::Connection as _;
    let mut c = sqlx::PgConnection::connect(&database_url()).await?;
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut c)
        .await?;
    let (base, _) = database_url()
        .rsplit_once('/')
        .map(|(a, b)| (a.to_owned(), b.to_owned()))
        .context("DATABASE_URL has no database")?;
    Ok(format!("{base}/{name}"))
}

struct Pki {
    ca: String,
    relayer: (String, String),
    resolver: (String, String),
    resolver_sha256: String,
}

fn pki() -> Result<Pki> {
    use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
    let mut ca_params = CertificateParams::new(Vec::<String>::new())?;
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate()?)?;
    let leaf = |name: &str| -> Result<(String, String, String)> {
        let key = KeyPair::generate()?;
        let cert = CertificateParams::new(vec![name.to_owned()])?.signed_by(&key, &ca)?;
        Ok((
            cert.pem(),
            key.serialize_pem(),
            hex::encode(Sha256::digest(cert.der())),
        ))
    };
    let r = leaf("localhost")?;
    let c = leaf("e2e-resolver")?;
    Ok(Pki {
        ca: ca.pem(),
        relayer: (r.0, r.1),
        resolver: (c.0, c.1),
        resolver_sha256: c.2,
    })
}

fn write(dir: &Path, name: &str, text: &str) -> Result<PathBuf> {
    let p = dir.join(name);
    let mut f = std::fs::File::create(&p)?;
    f.write_all(text.as_bytes())?;
    Ok(p)
}

/// Writes a file only its owner may read (keys).
fn secret_file(dir: &Path, name: &str, text: &str) -> Result<PathBuf> {
    let p = write(dir, name, text)?;
    std::fs::set_permissions(&p, std::os::unix::fs::PermissionsExt::from_mode(0o600))?;
    Ok(p)
}

/// The stack's own makers: an Ethereum key each (random, written 0600) and a Bitcoin wallet each
/// (made by `swapctl wallet address`, a few at a time), nothing funded yet.
fn make_makers(bins: &Bins, d: &Path, n: u32) -> Result<Vec<Maker>> {
    if n == 0 {
        return Ok(Vec::new());
    }
    let swapctl = bins.get("swapctl")?;
    let seed = unique();
    let names: Vec<String> = (0..n).map(|i| format!("maker-{i}")).collect();
    let mut makers = Vec::with_capacity(names.len());
    for chunk in names.chunks(8) {
        let mut running = Vec::new();
        for name in chunk {
            let key = format!(
                "0x{}",
                hex::encode(Sha256::digest(format!("{seed}:{name}:eth-key")))
            );
            let signer: alloy::signers::local::PrivateKeySigner =
                key.parse().context("a maker's Ethereum key")?;
            secret_file(d, &format!("{name}-eth-key"), &key)?;
            let child = Command::new(&swapctl)
                .args(["--json", "wallet", "address"])
                .env("SWAPCTL_STATE_FILE", d.join(format!("{name}.json")))
                .env(
                    "SWAPCTL_BTC_WALLET",
                    d.join(format!("{name}-btc-wallet.json")),
                )
                .env("SWAPCTL_NETWORK", "regtest")
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .context("cannot run swapctl")?;
            running.push((name, signer.address().to_checksum(None), child));
        }
        for (name, eth_address, child) in running {
            let out = child.wait_with_output()?;
            let v: Value = serde_json::from_slice(&out.stdout).with_context(|| {
                format!(
                    "swapctl wallet address for {name}: {}",
                    String::from_utf8_lossy(&out.stderr)
                )
            })?;
            makers.push(Maker {
                name: name.clone(),
                eth_address,
                btc_address: v["address"]
                    .as_str()
                    .context("no maker address")?
                    .to_owned(),
            });
        }
    }
    Ok(makers)
}

/// A blocking JSON-RPC client for the Bitcoin node (btc-regtest, or bitcoind with
/// `user:password`): HTTP/1.0, one connection per call. Kept here rather than taken from
/// crosslock-regtest, whose library would link libbitcoinkernel into everything that uses the
/// harness (the release-built benchmark included).
#[derive(Clone)]
pub struct BtcRpc {
    host_port: String,
    path: String,
    auth: Option<String>,
}

impl std::fmt::Debug for BtcRpc {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BtcRpc")
            .field("host_port", &self.host_port)
            .field("auth", &self.auth.as_ref().map(|_| "***"))
            .finish()
    }
}

impl BtcRpc {
    /// `url` like `http://127.0.0.1:18443`; `auth` as `user:password`.
    pub fn new(url: &str, auth: Option<&str>) -> BtcRpc {
        let rest = url.strip_prefix("http://").unwrap_or(url);
        let (host_port, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
        BtcRpc {
            host_port: host_port.to_owned(),
            path: if path.is_empty() { "/" } else { path }.to_owned(),
            auth: auth.map(str::to_owned),
        }
    }

    /// Calls `method` with positional `params`; a JSON-RPC error is an error.
    pub fn call(&self, method: &str, params: &[Value]) -> Result<Value> {
        use base64::Engine as _;
        use std::io::Read as _;
        let body =
            json!({"jsonrpc": "1.0", "id": 1, "method": method, "params": params}).to_string();
        let mut c = std::net::TcpStream::connect(&self.host_port)
            .with_context(|| format!("cannot reach the Bitcoin node at {}", self.host_port))?;
        c.set_read_timeout(Some(Duration::from_secs(600)))?;
        let auth = self
            .auth
            .as_ref()
            .map(|a| {
                format!(
                    "Authorization: Basic {}\r\n",
                    base64::engine::general_purpose::STANDARD.encode(a)
                )
            })
            .unwrap_or_default();
        write!(
            c,
            "POST {} HTTP/1.0\r\nHost: {}\r\n{auth}Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            self.path,
            self.host_port,
            body.len()
        )?;
        let mut raw = Vec::new();
        c.read_to_end(&mut raw)?;
        let split = raw
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .context("no HTTP header in the node's answer")?;
        let head = String::from_utf8_lossy(&raw[..split]);
        if head.split_whitespace().nth(1) == Some("401") {
            bail!("{method}: 401 unauthorized");
        }
        let v: Value = serde_json::from_slice(&raw[split + 4..])
            .with_context(|| format!("{method}: the answer is not JSON ({head})"))?;
        if let Some(e) = v.get("error").filter(|e| !e.is_null()) {
            bail!("RPC error {}: {}", e["code"], e["message"]);
        }
        Ok(v.get("result").cloned().unwrap_or(Value::Null))
    }
}

fn tcp_up(port: u16) -> bool {
    std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
}

impl Stack {
    /// Starts everything and waits until the resolver is subscribed to the relayer.
    pub async fn start(opts: Options) -> Result<Stack> {
        let dir = tempfile::Builder::new()
            .prefix("crosslock-e2e-")
            .tempdir()?;
        let d = dir.path().to_path_buf();
        let bins = Bins::new(&opts)?;
        let db_name = format!("crosslock_e2e_{}", unique());
        let db_url = create_db(&db_name).await?;

        // anvil: a block a second; `safe` and `finalized` one and two blocks behind.
        let eth_port = free_port()?;
        let mut cmd = Command::new(repo_root().join("node_modules/.bin/anvil"));
        cmd.args([
            "--host",
            "127.0.0.1",
            "--port",
            &eth_port.to_string(),
            "--block-time",
            "1",
            "--slots-in-an-epoch",
            "1",
            "--chain-id",
            "31337",
        ]);
        let anvil = Proc::spawn("anvil", cmd, d.join("anvil.log"))?;
        let eth_url = format!("http://127.0.0.1:{eth_port}");
        wait_for("anvil", Duration::from_secs(20), || {
            tcp_up(eth_port).then_some(())
        })?;

        let btc_external = std::env::var("E2E_BTC_RPC_URL").ok();
        let (btc_proc, btc, electrum_url) = match (
            std::env::var("E2E_BTC_RPC_URL"),
            std::env::var("E2E_ELECTRUM_URL"),
        ) {
            (Ok(rpc), Ok(el)) => (
                None,
                BtcRpc::new(&rpc, std::env::var("E2E_BTC_RPC_AUTH").ok().as_deref()),
                el,
            ),
            _ => {
                let rpc_port = free_port()?;
                let el_port = free_port()?;
                let mut cmd = Command::new(bins.get("btc-regtest")?);
                cmd.args([
                    "--datadir",
                    &d.join("btc").display().to_string(),
                    "--rpc",
                    &format!("127.0.0.1:{rpc_port}"),
                    "--electrum",
                    &format!("127.0.0.1:{el_port}"),
                ]);
                if opts.btc_block_secs > 0 {
                    cmd.args(["--automine", &opts.btc_block_secs.to_string()]);
                }
                let p = Proc::spawn("btc-regtest", cmd, d.join("btc-regtest.log"))?;
                let rpc = BtcRpc::new(&format!("http://127.0.0.1:{rpc_port}"), None);
                (Some(p), rpc, format!("tcp://127.0.0.1:{el_port}"))
            }
        };
        wait_for("the bitcoin node", Duration::from_secs(60), || {
            btc.call("getblockcount", &[]).ok()
        })?;

        let deployed = Command::new(repo_root().join("scripts/contracts"))
            .args(["deploy", &eth_url])
            .output()?;
        if !deployed.status.success() {
            bail!(
                "contract deployment failed: {}",
                String::from_utf8_lossy(&deployed.stderr)
            );
        }
        let deployed: Value = serde_json::from_slice(&deployed.stdout)?;
        let escrow = deployed["escrow"]
            .as_str()
            .context("no escrow address")?
            .to_owned();
        let token = deployed["token"]
            .as_str()
            .context("no token address")?
            .to_owned();

        // The resolver's hot wallet, funded on both chains.
        let keys = d.join("resolver-keys");
        let out = Command::new(bins.get("resolver")?)
            .args(["--network", "regtest", "keygen"])
            .arg(&keys)
            .output()?;
        if !out.status.success() {
            bail!("resolver keygen: {}", String::from_utf8_lossy(&out.stderr));
        }
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let field = |p: &str| {
            text.lines()
                .find_map(|l| l.strip_prefix(p))
                .map(str::to_owned)
                .context("keygen output")
        };
        let resolver_btc = field("bitcoin receive address: ")?;
        let resolver_eth = field("ethereum address: ")?;
        // The stack's own makers first: each one's coinbase is mined before the resolver's and
        // the scenario maker's blocks, so all of them are mature when the daemons start.
        let makers = make_makers(&bins, &d, opts.makers)?;
        for m in &makers {
            btc.call("generatetoaddress", &[json!(1), json!(m.btc_address)])
                .map_err(|e| anyhow!("mining to {}: {e}", m.name))?;
            eth_rpc(
                &eth_url,
                "anvil_setBalance",
                json!([m.eth_address, "0x3635c9adc5dea00000"]),
            )
            .await?;
        }
        btc.call(
            "generatetoaddress",
            &[json!(opts.resolver_coinbases), json!(resolver_btc)],
        )
        .map_err(|e| anyhow!("mining to the resolver: {e}"))?;
        eth_rpc(
            &eth_url,
            "anvil_setBalance",
            json!([resolver_eth, "0x3635c9adc5dea00000"]),
        )
        .await?;
        // And a million test tokens, for BTC -> ERC-20 swaps.
        mint(&eth_url, &token, &resolver_eth, 1_000_000 * 10u128.pow(18)).await?;

        // The maker's wallet ("maker" in the scenarios) gets one mature coinbase now, before the
        // daemons start, so no scenario mines a burst of blocks under a running relayer.
        let maker_addr = {
            let out = Command::new(bins.get("swapctl")?)
                .args(["--json", "wallet", "address"])
                .env("SWAPCTL_STATE_FILE", d.join("maker.json"))
                .env("SWAPCTL_NETWORK", "regtest")
                .output()?;
            let v: Value = serde_json::from_slice(&out.stdout).with_context(|| {
                format!(
                    "swapctl wallet address: {}",
                    String::from_utf8_lossy(&out.stderr)
                )
            })?;
            v["address"]
                .as_str()
                .context("no maker address")?
                .to_owned()
        };
        btc.call("generatetoaddress", &[json!(101), json!(maker_addr)])
            .map_err(|e| anyhow!("mining to the maker: {e}"))?;

        let pki = pki()?;
        let ports = Ports {
            public: free_port()?,
            resolver_api: free_port()?,
            admin: free_port()?,
            relayer_metrics: free_port()?,
            resolver_metrics: free_port()?,
            resolver_health: free_port()?,
        };
        let admin_token = write(&d, "admin-token", &format!("e2e-{}\n", unique()))?;
        let ca = write(&d, "ca.pem", &pki.ca)?;
        let rel_cert = write(&d, "relayer.pem", &pki.relayer.0)?;
        let rel_key = write(&d, "relayer.key", &pki.relayer.1)?;
        let res_cert = write(&d, "resolver.pem", &pki.resolver.0)?;
        let res_key = write(&d, "resolver.key", &pki.resolver.1)?;
        let token_text = std::fs::read_to_string(&admin_token)?;
        write(
            &d,
            "relayer.toml",
            &format!(
                r#"network = "regtest"
database_url = "{db_url}"
redis_url = "{redis}"
redis_prefix = "e2e-{uniq}"
replica = "e2e-relayer"
escrow_contract = "{escrow}"
sweep_interval_secs = 1

[listen]
public = "127.0.0.1:{public}"
resolver = "127.0.0.1:{resolver_api}"
admin = "127.0.0.1:{admin}"
metrics = "127.0.0.1:{metrics}"

[tls]
cert = "{rel_cert}"
key = "{rel_key}"
client_ca = "{ca}"

[[resolvers]]
name = "e2e-resolver"
cert_sha256 = "{fp}"

[[admins]]
name = "e2e-operator"
token = "{token}"
{limits}
[quote]
ttl_secs = {ttl}
token_units_per_btc = {{ "{token_addr}" = "50000000000000000000000" }}

[chains]
eth_rpc_url = "{eth_url}"
eth_chain_id = 31337
eth_start_block = 0
eth_poll_ms = 300
electrum_url = "{electrum_url}"
btc_poll_ms = 300
"#,
                redis = redis_url(),
                uniq = unique(),
                public = ports.public,
                resolver_api = ports.resolver_api,
                admin = ports.admin,
                metrics = ports.relayer_metrics,
                rel_cert = rel_cert.display(),
                rel_key = rel_key.display(),
                ca = ca.display(),
                fp = pki.resolver_sha256,
                token = token_text.trim(),
                token_addr = token.to_lowercase(),
                ttl = opts.quote_ttl_secs,
                limits = opts
                    .rate_limit_per_minute
                    .map(|n| format!("\n[limits]\nrate_limit_per_minute = {n}\n"))
                    .unwrap_or_default(),
            ),
        )?;
        write(
            &d,
            "resolver.toml",
            &format!(
                r#"network = "regtest"
instance = "e2e-resolver"
wallet_name = "e2e"
relayer_url = "https://127.0.0.1:{resolver_api}"

[server]
metrics_addr = "127.0.0.1:{metrics}"
grpc_addr = "127.0.0.1:{health}"

[leader]
lease_ttl_secs = 6
lease_renew_secs = 1

[bitcoin]
electrum_url = "{electrum_url}"
wallet_dir = "{keys}"
fee_rate_sat_vb = 2

[ethereum]
rpc_url = "{eth_url}"
chain_id = 31337
escrow_contract = "{escrow}"

[tls]
cert_file = "{res_cert}"
key_file = "{res_key}"
relayer_ca_file = "{ca}"
relayer_name = "localhost"

[follow]
poll_interval_ms = 300
tick_secs = 2

[[policy.pairs]]
src = "btc"
dst = "eth"
min_src = "10000"
max_src = "100000000"
price_e18 = "200000000000000000000000000000"
spread_bps = 40

[[policy.pairs]]
src = "eth"
dst = "btc"
min_src = "1000000000000000"
max_src = "20000000000000000000"
price_e18 = "5000000"
spread_bps = 40

[[policy.pairs]]
src = "btc"
dst = "{token_addr}"
min_src = "10000"
max_src = "100000000"
price_e18 = "500000000000000000000000000000000"
spread_bps = 40

[[policy.pairs]]
src = "{token_addr}"
dst = "btc"
min_src = "1000000000000000"
max_src = "50000000000000000000000"
price_e18 = "2000"
spread_bps = 40
"#,
                resolver_api = ports.resolver_api,
                metrics = ports.resolver_metrics,
                health = ports.resolver_health,
                keys = keys.display(),
                res_cert = res_cert.display(),
                res_key = res_key.display(),
                ca = ca.display(),
                token_addr = token.to_lowercase(),
            ),
        )?;
        let relayer = start_relayer(&bins, &d, opts.json_logs)?;
        wait_for("the relayer", Duration::from_secs(60), || {
            tcp_up(ports.public).then_some(())
        })?;
        let resolver = start_resolver(&bins, &d, &db_url, opts.json_logs)?;
        let stack = Stack {
            dir,
            db_name,
            db_url,
            anvil,
            eth_url,
            btc_proc,
            btc,
            electrum_url,
            escrow,
            token,
            relayer,
            resolver,
            makers,
            ports,
            admin_token,
            automine: opts.btc_block_secs > 0 && btc_external.is_none(),
            bins,
            json_logs: opts.json_logs,
        };
        stack.wait_subscribed()?;
        Ok(stack)
    }

    fn wait_subscribed(&self) -> Result<()> {
        wait_for(
            "the resolver to subscribe to the relayer",
            Duration::from_secs(90),
            || {
                self.resolver
                    .logged("subscribed to the relayer")
                    .then_some(())
            },
        )
    }

    /// Kills the resolver (SIGKILL) and starts it again.
    pub fn restart_resolver(&mut self) -> Result<()> {
        self.resolver.kill();
        let log = self.resolver.log.clone();
        let marker = std::fs::read_to_string(&log).map_or(0, |s| s.len());
        self.resolver = start_resolver(&self.bins, self.dir.path(), &self.db_url, self.json_logs)?;
        wait_for(
            "the restarted resolver to subscribe",
            Duration::from_secs(90),
            || {
                std::fs::read_to_string(&log)
                    .ok()
                    .filter(|s| s[marker.min(s.len())..].contains("subscribed to the relayer"))
                    .map(|_| ())
            },
        )
    }

    /// Kills the relayer (SIGKILL) and starts it again.
    pub fn restart_relayer(&mut self) -> Result<()> {
        self.relayer.kill();
        self.relayer = start_relayer(&self.bins, self.dir.path(), self.json_logs)?;
        let port = self.ports.public;
        wait_for("the restarted relayer", Duration::from_secs(60), || {
            tcp_up(port).then_some(())
        })
    }

    /// Runs `swapctl` as the maker whose state lives in `<maker>.json` of the stack's directory.
    pub fn swapctl(&self, maker: &str, args: &[&str]) -> Result<Output> {
        Ok(self.swapctl_command(maker, args)?.output()?)
    }

    /// The `swapctl` command [`Stack::swapctl`] runs, to be run some other way (many at once,
    /// following its output). One of the stack's own [`Stack::makers`] uses its own wallet and
    /// Ethereum key; any other name shares `btc-wallet.json` and is given anvil's account 1.
    pub fn swapctl_command(&self, maker: &str, args: &[&str]) -> Result<Command> {
        let d = self.dir.path();
        let own = self.makers.iter().any(|m| m.name == maker);
        let eth_key = if own {
            d.join(format!("{maker}-eth-key"))
        } else {
            secret_file(d, &format!("{maker}-eth-key"), ANVIL_KEY1)?
        };
        let mut cmd = Command::new(self.bins.get("swapctl")?);
        if own {
            cmd.env(
                "SWAPCTL_BTC_WALLET",
                d.join(format!("{maker}-btc-wallet.json")),
            );
        }
        cmd.args(args)
            .env(
                "SWAPCTL_RELAYER_URL",
                format!("http://127.0.0.1:{}", self.ports.public),
            )
            .env(
                "SWAPCTL_ADMIN_URL",
                format!("http://127.0.0.1:{}", self.ports.admin),
            )
            .env("SWAPCTL_ADMIN_TOKEN_FILE", &self.admin_token)
            .env("SWAPCTL_STATE_FILE", d.join(format!("{maker}.json")))
            .env("SWAPCTL_NETWORK", "regtest")
            .env("SWAPCTL_ELECTRUM_URL", &self.electrum_url)
            .env("SWAPCTL_ETH_RPC_URL", &self.eth_url)
            .env("SWAPCTL_ETH_KEY_FILE", eth_key)
            .env("SWAPCTL_ESCROW_ADDRESS", &self.escrow);
        Ok(cmd)
    }

    /// `swapctl` that must succeed; returns its standard output.
    pub fn swapctl_ok(&self, maker: &str, args: &[&str]) -> Result<String> {
        let out = self.swapctl(maker, args)?;
        if !out.status.success() {
            bail!(
                "swapctl {} failed ({}): {}{}",
                args.join(" "),
                out.status,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// The swap's record as `swapctl status --json` prints it.
    pub fn status(&self, maker: &str, swap: &str) -> Result<Value> {
        let out = self.swapctl_ok(maker, &["--json", "status", swap])?;
        Ok(serde_json::from_str(out.trim())?)
    }

    /// Waits until the swap's state (as the relayer reports it) is `state`.
    pub fn wait_state(
        &self,
        maker: &str,
        swap: &str,
        state: &str,
        timeout: Duration,
    ) -> Result<Value> {
        let mut last = Value::Null;
        wait_for(&format!("swap {swap} to reach {state}"), timeout, || {
            let v = self.status(maker, swap).ok()?;
            let v = if v["state"].is_string() {
                v
            } else {
                v["swap"].clone()
            };
            last = v.clone();
            (v["state"] == state).then_some(v)
        })
        .with_context(|| format!("last record {last}"))
    }

    /// Mines `n` regtest blocks paying `address`.
    pub fn mine_to(&self, address: &str, n: u32) -> Result<()> {
        self.btc
            .call("generatetoaddress", &[json!(n), json!(address)])
            .map_err(|e| anyhow!("mining: {e}"))?;
        Ok(())
    }

    /// The Bitcoin tip height.
    pub fn btc_height(&self) -> Result<u64> {
        self.btc
            .call("getblockcount", &[])
            .map_err(|e| anyhow!("getblockcount: {e}"))?
            .as_u64()
            .context("getblockcount is not a number")
    }

    /// Wei held by `address`.
    pub async fn eth_balance(&self, address: &str) -> Result<u128> {
        let v = eth_rpc(&self.eth_url, "eth_getBalance", json!([address, "latest"])).await?;
        let h = v.as_str().context("balance is not a string")?;
        Ok(u128::from_str_radix(h.trim_start_matches("0x"), 16)?)
    }

    /// Units of the test ERC-20 held by `who`.
    pub async fn token_balance(&self, who: &str) -> Result<u128> {
        let who = who.trim_start_matches("0x").to_lowercase();
        let v = eth_rpc(
            &self.eth_url,
            "eth_call",
            json!([{"to": self.token, "data": format!("0x70a08231{who:0>64}")}, "latest"]),
        )
        .await?;
        let h = v.as_str().context("balanceOf is not a string")?;
        Ok(u128::from_str_radix(
            h.trim_start_matches("0x").trim_start_matches('0').max("0"),
            16,
        )
        .unwrap_or(0))
    }

    /// Mints `amount` units of the test ERC-20 to `to` (its `mint` is open to anyone).
    pub async fn mint_tokens(&self, to: &str, amount: u128) -> Result<()> {
        mint(&self.eth_url, &self.token, to, amount).await
    }

    /// Whether the Bitcoin chain mines blocks by itself; when not, waiting on Bitcoin progress
    /// means mining.
    pub fn automines(&self) -> bool {
        self.automine
    }

    /// Every process the stack started and still runs (anvil, btc-regtest, relayer, resolver).
    pub fn processes(&self) -> Vec<&Proc> {
        let mut v = vec![&self.anvil];
        v.extend(self.btc_proc.as_ref());
        v.push(&self.relayer);
        v.push(&self.resolver);
        v.retain(|p| p.pid().is_some());
        v
    }

    /// The relayer's Prometheus page.
    pub fn relayer_metrics(&self) -> Result<String> {
        use std::io::Read as _;
        let mut c = std::net::TcpStream::connect(("127.0.0.1", self.ports.relayer_metrics))?;
        c.write_all(b"GET /metrics HTTP/1.0\r\nHost: localhost\r\n\r\n")?;
        let mut out = String::new();
        c.read_to_string(&mut out)?;
        Ok(out)
    }

    /// Stops the resolver for good (SIGKILL).
    pub fn kill_resolver(&mut self) {
        self.resolver.kill();
    }

    /// Mines `n` regtest blocks to an address nobody here owns.
    pub fn mine(&self, n: u32) -> Result<()> {
        let op_true = bitcoin::ScriptBuf::from(vec![0x51]);
        let to = bitcoin::Address::p2wsh(&op_true, bitcoin::Network::Regtest);
        self.btc
            .call("generatetoaddress", &[json!(n), json!(to.to_string())])
            .map_err(|e| anyhow!("mining: {e}"))?;
        Ok(())
    }

    /// Moves anvil's clock forward by `secs` and mines a block at the new time.
    pub async fn advance_eth(&self, secs: u64) -> Result<()> {
        eth_rpc(&self.eth_url, "evm_increaseTime", json!([secs])).await?;
        eth_rpc(&self.eth_url, "evm_mine", json!([])).await?;
        Ok(())
    }

    /// Drops the stack's database after stopping every process.
    pub async fn stop(mut self) -> Result<()> {
        self.resolver.kill();
        self.relayer.kill();
        if let Some(p) = self.btc_proc.as_mut() {
            p.kill();
        }
        self.anvil.kill();
        use sqlx::Connection as _;
        let mut c = sqlx::PgConnection::connect(&database_url()).await?;
        sqlx::query(&format!(
            "DROP DATABASE IF EXISTS {} WITH (FORCE)",
            self.db_name
        ))
        .execute(&mut c)
        .await?;
        Ok(())
    }

    /// Prints the tail of every log (for a failing scenario).
    pub fn dump_logs(&self) {
        for p in [&self.relayer, &self.resolver] {
            if let Ok(s) = std::fs::read_to_string(&p.log) {
                let tail: Vec<&str> = s.lines().rev().take(60).collect();
                eprintln!("---- {} ({})", p.name, p.log.display());
                for l in tail.iter().rev() {
                    eprintln!("{l}");
                }
            }
        }
    }
}

fn start_relayer(bins: &Bins, d: &Path, json_logs: bool) -> Result<Proc> {
    let mut cmd = Command::new(bins.get("relayer")?);
    cmd.arg("--config").arg(d.join("relayer.toml"));
    if json_logs {
        cmd.env("RELAYER_LOG_JSON", "true");
    }
    Proc::spawn("relayer", cmd, d.join("relayer.log"))
}

fn start_resolver(bins: &Bins, d: &Path, db_url: &str, json_logs: bool) -> Result<Proc> {
    let keys = d.join("resolver-keys");
    let mut cmd = Command::new(bins.get("resolver")?);
    if json_logs {
        cmd.env("RESOLVER_LOG_JSON", "true");
    }
    cmd.arg("run")
        .env("RESOLVER_CONFIG", d.join("resolver.toml"))
        .env("RESOLVER_DATABASE_URL", db_url)
        .env("RESOLVER_BTC_DESCRIPTOR_FILE", keys.join("btc-descriptor"))
        .env("RESOLVER_BTC_HTLC_KEY_FILE", keys.join("btc-htlc-key"))
        .env("RESOLVER_ETH_KEY_FILE", keys.join("eth-key"));
    Proc::spawn("resolver", cmd, d.join("resolver.log"))
}

/// Mints test tokens (anyone may) from `to`'s own unlocked anvil account, and waits for it.
async fn mint(eth_url: &str, token: &str, to: &str, amount: u128) -> Result<()> {
    let who = to.trim_start_matches("0x").to_lowercase();
    let data = format!("0x40c10f19{who:0>64}{amount:064x}");
    let from = if anvil_account(to) {
        to.to_owned()
    } else {
        ANVIL_ADDR0.to_owned()
    };
    let hash = eth_rpc(
        eth_url,
        "eth_sendTransaction",
        json!([{"from": from, "to": token, "data": data}]),
    )
    .await?;
    let start = Instant::now();
    loop {
        let r = eth_rpc(eth_url, "eth_getTransactionReceipt", json!([hash.clone()])).await?;
        if !r.is_null() {
            return Ok(());
        }
        if start.elapsed() > Duration::from_secs(30) {
            bail!("the mint was not mined");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// anvil's account 0, unlocked: sends the mints for addresses anvil does not hold keys for.
const ANVIL_ADDR0: &str = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266";

fn anvil_account(a: &str) -> bool {
    a.eq_ignore_ascii_case("0x70997970C51812dc3A010C7d01b50e0d17dc79C8")
        || a.eq_ignore_ascii_case(ANVIL_ADDR0)
}

/// One JSON-RPC call to anvil.
pub async fn eth_rpc(url: &str, method: &str, params: Value) -> Result<Value> {
    use alloy::providers::{Provider as _, RootProvider};
    let p = RootProvider::<alloy::network::Ethereum>::new_http(url.parse()?);
    let v: Value = p
        .raw_request(method.to_owned().into(), params)
        .await
        .map_err(|e| anyhow!("{method}: {e}"))?;
    Ok(v)
}
