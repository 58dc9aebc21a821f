//! Where this resolver's events come from while it holds the wallet lease: offers and secrets
//! from the relayer's stream, locks and spends from the chains (module [`crate::follow`]), and
//! the clock.
//!
//! Owns the translation of each source into the core's events and the order they are recorded
//! in: an offer the policy allows is accepted, and the match the relayer returns is recorded
//! (`Created`, then `Matched`, with terms rebuilt from our own keys) before any chain event of
//! that swap; chain events reach a swap after a `Tick` that brings its clock up to date, so no
//! timelock is ever checked against a stale clock. It trusts the relayer only for what cannot
//! cost us funds: offers, and a secret (which the core checks against the hashlock). It must
//! never act on an event that did not commit (that is [`crate::Resolver::ingest`]'s order).

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use alloy::providers::Provider;
use crosslock_core::chain::{BtcPubkey, EthAddress, Network};
use crosslock_core::order::{LockTerms, Terms};
use crosslock_core::secret::{Secret, SwapId};
use crosslock_core::swap::Event;
use crosslock_core::time::Clock;
use crosslock_proto::public::v1 as ppb;
use crosslock_proto::resolver::v1 as rpb;
use tokio::sync::mpsc;
use tracing::{debug, info, warn};

use crate::db;
use crate::executor::{ExecError, TxReport};
use crate::follow::Chains;
use crate::orders::answer_offer;
use crate::policy::{Book, OrderPolicy, asset_key};
use crate::relayer::{GrpcRelayer, Inbound, order_from_offer, terms_from_view};
use crate::service::Resolver;

/// The leader's event sources for one resolver.
pub struct Intake<P> {
    network: Network,
    me: (BtcPubkey, EthAddress),
    escrow: EthAddress,
    policy: OrderPolicy,
    paused: bool,
    /// The chains.
    pub chains: Chains<P>,
    relayer: Option<GrpcRelayer>,
    reports: mpsc::UnboundedReceiver<TxReport>,
    ticked: HashMap<SwapId, Clock>,
    /// Swaps whose secret our log holds (the relayer's later copies are ignored).
    secret_known: HashSet<SwapId>,
    terms: HashMap<SwapId, Terms>,
    /// The chain errors of the last poll, so a lasting outage is logged once.
    last_errors: String,
    /// Chain events seen before both chains gave a clock; recorded once they have.
    backlog: Vec<(SwapId, Event)>,
    last_sweep: Option<Instant>,
    tick_every: Duration,
}

/// Who this resolver is on each chain, from its executors.
pub fn identity_pair<P: Provider + Clone>(r: &Resolver<P>) -> Option<(BtcPubkey, EthAddress)> {
    let btc = r.exec.btc.as_ref()?;
    let eth = r.exec.eth.as_ref()?;
    let pk = BtcPubkey::from_bytes(&btc.htlc_pubkey().serialize()).ok()?;
    Some((
        pk,
        crosslock_eth::convert::core_address(eth.sender.address()),
    ))
}

impl<P: Provider + Clone> Intake<P> {
    /// Follows every open swap already in our log.
    #[allow(clippy::too_many_arguments)]
    pub async fn start(
        r: &Resolver<P>,
        network: Network,
        me: (BtcPubkey, EthAddress),
        policy: OrderPolicy,
        paused: bool,
        mut chains: Chains<P>,
        reports: mpsc::UnboundedReceiver<TxReport>,
        tick_every: Duration,
    ) -> Result<Intake<P>, ExecError> {
        let escrow = r
            .exec
            .eth
            .as_ref()
            .map(|e| crosslock_eth::convert::core_address(e.escrow))
            .ok_or(ExecError::NoChain("ethereum"))?;
        let mut terms = HashMap::new();
        for id in db::open_swaps(&r.exec.pool).await? {
            if let Some(l) = db::load_swap(&r.exec.pool, id).await?
                && let Some(t) = l.swap.terms
            {
                track(&mut chains, id, &t);
                terms.insert(id, t);
            }
        }
        info!(
            swaps = terms.len(),
            "following the chains for the open swaps"
        );
        Ok(Intake {
            network,
            me,
            escrow,
            policy,
            paused,
            chains,
            relayer: None,
            reports,
            ticked: HashMap::new(),
            secret_known: HashSet::new(),
            terms,
            backlog: Vec::new(),
            last_errors: String::new(),
            last_sweep: None,
            tick_every,
        })
    }

    /// Records a swap the relayer matched to us, from its record: `Created`, then `Matched` with
    /// the terms we rebuild. Already recorded: nothing happens.
    async fn record_match(&mut self, r: &mut Resolver<P>, view: &ppb::Swap) {
        let (id, order, terms) = match terms_from_view(self.network, view, self.me, self.escrow) {
            Ok(x) => x,
            Err(e) => {
                warn!(swap_id = %view.swap_id, error = %e, "matched record disagrees with our terms; not recorded");
                return;
            }
        };
        if self.terms.contains_key(&id) {
            return;
        }
        if let Ok(Some(l)) = db::load_swap(&r.exec.pool, id).await
            && l.swap.terms.is_some()
        {
            // Known already (finished or followed): nothing to add.
            return;
        }
        let Some(clock) = self.chains.clock() else {
            warn!(swap_id = %id, "chains not read yet; the match is recorded on the relayer's replay");
            return;
        };
        let created = Event::Created {
            id,
            order,
            at: clock,
        };
        let matched = Event::Matched { terms, at: clock };
        // Both in one transaction: a crash leaves the swap unrecorded or matched, never
        // created without its terms.
        let recorded = match r.ingest_many(&[(id, vec![created, matched])]).await {
            Ok(mut done) => done.pop().map(|(_, s, _)| s),
            Err(e) => {
                warn!(swap_id = %id, error = %e, "could not record the match; recorded on the relayer's replay");
                return;
            }
        };
        match recorded {
            Some(s) if s.terms.is_some() => {
                track(&mut self.chains, id, &terms);
                self.terms.insert(id, terms);
                self.ticked.insert(id, clock);
                info!(swap_id = %id, state = ?s.state, "swap recorded; following its locks");
            }
            _ => warn!(swap_id = %id, "the match was refused by our timelock rules"),
        }
    }

    async fn book(&self, r: &Resolver<P>) -> Book {
        let mut book = Book {
            paused: self.paused,
            open_swaps: u32::try_from(self.terms.len()).unwrap_or(u32::MAX),
            ..Book::default()
        };
        if let Some(eth) = &r.exec.eth
            && let Ok(w) = eth.provider.get_balance(eth.sender.address()).await
        {
            book.inventory
                .insert("eth".into(), u128::try_from(w).unwrap_or(u128::MAX));
        }
        if let Some(btc) = &r.exec.btc {
            book.inventory
                .insert("btc".into(), u128::from(btc.wallet.balance().confirmed.0));
        }
        // Tokens we quote as a destination: our balance of each (the standard `balanceOf`).
        if let Some(eth) = &r.exec.eth {
            for pair in &self.policy.pairs {
                let Ok(token) = pair.dst.parse::<alloy::primitives::Address>() else {
                    continue;
                };
                if book.inventory.contains_key(&pair.dst) {
                    continue;
                }
                match crosslock_eth::lock::token_balance(&eth.provider, token, eth.sender.address())
                    .await
                {
                    Ok(b) => {
                        book.inventory
                            .insert(pair.dst.clone(), u128::try_from(b).unwrap_or(u128::MAX));
                    }
                    Err(e) => warn!(token = %pair.dst, error = %e, "token balance unknown"),
                }
            }
        }
        for t in self.terms.values() {
            let amount = match &t.dst {
                LockTerms::Btc(h) => crosslock_core::amount::Amount::Btc(h.amount),
                LockTerms::Eth(e) => e.amount,
            };
            *book.exposure.entry(asset_key(&amount.asset())).or_default() += amount.base_units();
        }
        book
    }

    /// Handles one message of the relayer link.
    pub async fn on_inbound(&mut self, r: &mut Resolver<P>, msg: Inbound) {
        use rpb::resolver_event::Event as Ev;
        match msg {
            Inbound::Connected(c) => self.relayer = Some(c),
            Inbound::Disconnected(_) => self.relayer = None,
            Inbound::Event(Ev::Offer(o)) => {
                let Some(view) = o.swap else { return };
                let (id, order) = match order_from_offer(self.network, &view) {
                    Ok(x) => x,
                    Err(e) => {
                        warn!(swap_id = %view.swap_id, error = %e, "offer does not parse; ignored");
                        return;
                    }
                };
                if self.chains.clock().is_none() {
                    // Read both chains now; an order is never taken without our own clock.
                    self.round(r).await;
                }
                if self.chains.clock().is_none() {
                    warn!(swap_id = %id, "chains not readable; declining the offer");
                    if let Some(relayer) = self.relayer.as_mut() {
                        let decline = crate::orders::AcceptOrder {
                            swap_id: id,
                            accept: false,
                            decline_reason: "chains_unavailable".to_owned(),
                            resolver_btc_pubkey: None,
                            resolver_eth_address: None,
                        };
                        if let Err(e) =
                            crate::orders::RelayerApi::accept_order(relayer, decline).await
                        {
                            warn!(swap_id = %id, error = %e, "could not decline the offer");
                        }
                    }
                    return;
                }
                let book = self.book(r).await;
                let Some(relayer) = self.relayer.as_mut() else {
                    return;
                };
                relayer.matched = None;
                // A relayer that just started may not know the chain heads yet and answers
                // UNAVAILABLE: ask again for a few seconds rather than lose the offer.
                let mut answer =
                    answer_offer(relayer, &self.policy, &book, id, &order, self.me).await;
                for _ in 0..20 {
                    match &answer {
                        Err(e) if e.0.starts_with("Unavailable") => {
                            tokio::time::sleep(std::time::Duration::from_millis(500)).await;
                            answer =
                                answer_offer(relayer, &self.policy, &book, id, &order, self.me)
                                    .await;
                        }
                        _ => break,
                    }
                }
                match answer {
                    Ok(None) => {
                        if let Some(m) = relayer.matched.take() {
                            self.record_match(r, &m).await;
                        }
                    }
                    Ok(Some(d)) => info!(swap_id = %id, reason = d.reason(), "offer declined"),
                    Err(e) => warn!(swap_id = %id, error = %e, "could not answer the offer"),
                }
            }
            Inbound::Event(Ev::Swap(view)) => {
                // The relayer's word on chain facts is not taken; a swap of ours we have not
                // recorded (a crash between accepting and recording) is recorded from it.
                if view.bitcoin.is_some() && view.ethereum.is_some() {
                    self.record_match(r, &view).await;
                }
            }
            Inbound::Event(Ev::Secret(s)) => self.on_secret(r, &s).await,
            Inbound::Event(Ev::Action(a)) => {
                debug!(swap_id = %a.swap_id, kind = a.kind, "relayer says an action is due; our own log decides");
            }
        }
    }

    async fn on_secret(&mut self, r: &mut Resolver<P>, s: &rpb::SecretReleased) {
        let Ok(id) = hex::decode(&s.swap_id)
            .ok()
            .and_then(|b| <[u8; 16]>::try_from(b).ok())
            .map(SwapId)
            .ok_or(())
        else {
            return;
        };
        let Some(terms) = self.terms.get(&id).copied() else {
            return;
        };
        // ETH -> BTC: the maker's pre-signed claim of our BTC lock carries the secret on chain,
        // where our watcher reads it; the relayer's copy is not needed.
        if !matches!(terms.src, LockTerms::Btc(_)) {
            return;
        }
        let Ok(secret) = Secret::from_slice(&s.secret) else {
            warn!(swap_id = %id, "relayer sent a secret of the wrong length");
            return;
        };
        if self.secret_known.contains(&id) {
            // The relayer sends the secret again with later updates; it is recorded once.
            return;
        }
        let mut evs = Vec::with_capacity(2);
        let clock = self.chains.clock();
        if let Some(c) = clock
            && self.ticked.get(&id) != Some(&c)
        {
            evs.push(Event::Tick { clock: c });
        }
        evs.push(Event::SecretRevealed {
            secret,
            maker_claim: None,
        });
        // The clock and the secret in one transaction, then the claims it makes due.
        let sent = evs.len();
        match r.ingest_many(&[(id, evs)]).await {
            Ok(done) => {
                for (id, swap, n) in done {
                    if let Some(c) = clock
                        && swap.clock == c
                    {
                        self.ticked.insert(id, c);
                    }
                    if swap.secret.is_some() {
                        self.secret_known.insert(id);
                        if n == sent {
                            info!(swap_id = %id, "secret recorded; claims follow");
                        }
                    }
                }
            }
            Err(e) => {
                warn!(swap_id = %id, error = %e, "could not record the secret; it comes again")
            }
        }
    }

    /// One look at the chains: records what they show, then the clock for every swap when a
    /// Bitcoin block came or `tick_every` passed; sends reports of our transactions.
    pub async fn round(&mut self, r: &mut Resolver<P>) {
        let (found, errors) = self.chains.poll().await;
        let summary = errors
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("; ");
        if summary != self.last_errors {
            if summary.is_empty() {
                info!("both chains readable again");
            } else {
                warn!(errors = %summary, "cannot read a chain; retrying every poll");
            }
            self.last_errors = summary;
        }
        let mut found = found;
        let mut events = std::mem::take(&mut self.backlog);
        events.append(&mut found.events);
        if let Some(clock) = self.chains.clock() {
            // Per swap, in chain order; each swap's events of this look are judged together.
            let mut order: Vec<SwapId> = Vec::new();
            let mut per: HashMap<SwapId, Vec<Event>> = HashMap::new();
            for (id, ev) in events {
                if !per.contains_key(&id) {
                    order.push(id);
                }
                per.entry(id).or_default().push(ev);
            }
            // One transaction for the whole look: each swap with chain events gets the clock
            // first, then its events judged together; when a Bitcoin block came or
            // `tick_every` passed, every other open swap gets the clock too.
            let mut batch: Vec<(SwapId, Vec<Event>)> = Vec::with_capacity(order.len());
            for id in order {
                let mut evs = Vec::new();
                if self.ticked.get(&id) != Some(&clock) {
                    evs.push(Event::Tick { clock });
                }
                evs.extend(seen_together(per.remove(&id).unwrap_or_default()));
                batch.push((id, evs));
            }
            let chain_swaps = batch.len();
            let due = self
                .last_sweep
                .is_none_or(|t| t.elapsed() >= self.tick_every);
            if found.new_btc_tip || due {
                self.last_sweep = Some(Instant::now());
                let mut rest: Vec<SwapId> = self
                    .terms
                    .keys()
                    .filter(|id| self.ticked.get(id) != Some(&clock))
                    .filter(|id| !batch[..chain_swaps].iter().any(|(b, _)| b == *id))
                    .copied()
                    .collect();
                rest.sort();
                batch.extend(rest.into_iter().map(|id| (id, vec![Event::Tick { clock }])));
            }
            let mut kept = Vec::new();
            if !batch.is_empty() {
                match r.ingest_many(&batch).await {
                    Ok(done) => {
                        for (id, swap, _) in done {
                            if swap.clock == clock {
                                self.ticked.insert(id, clock);
                            }
                            if swap.state.is_terminal()
                                && let Some(t) = self.terms.remove(&id)
                            {
                                self.chains.untrack(id, &t);
                                self.ticked.remove(&id);
                                self.secret_known.remove(&id);
                                info!(swap_id = %id, state = ?swap.state, "swap finished");
                            }
                        }
                    }
                    Err(e) => {
                        warn!(error = %e, "could not record the chain's events; kept for the next look");
                        for (id, evs) in batch.into_iter().take(chain_swaps) {
                            kept.extend(
                                evs.into_iter()
                                    .filter(|e| !matches!(e, Event::Tick { .. }))
                                    .map(|e| (id, e)),
                            );
                        }
                    }
                }
            }
            if kept.is_empty() {
                if let Err(e) = self.chains.commit(found).await {
                    warn!(error = %e, "escrow cursor not saved; the events come again");
                }
            } else {
                // The escrow's events come again from the uncommitted cursor; Bitcoin's do not.
                self.backlog = kept;
            }
        } else {
            // Not both chains read yet: keep what came, record it once they are.
            self.backlog = events;
        }
        while let Ok(rep) = self.reports.try_recv() {
            if let Some(c) = self.relayer.as_mut()
                && let Err(e) = c.report(&rep).await
            {
                debug!(swap_id = %rep.swap, error = %e, "ReportTx failed; the relayer's watchers see it on chain");
            }
        }
    }
}

/// Locks of one leg that one look at a chain found together (two payments to the HTLC in one
/// block) are all recorded as seen, not final, before any of them is recorded final: the core
/// then sees a double funding before it could make the dst lock due against the first one.
fn seen_together(events: Vec<Event>) -> Vec<Event> {
    use crosslock_core::finality::{Depth, EthDepth};
    use crosslock_core::swap::Side;
    let locks = |side: Side| {
        let mut ids: Vec<_> = events
            .iter()
            .filter_map(|e| match e {
                Event::LockSeen { side: s, lock, .. } if *s == side => Some(*lock),
                _ => None,
            })
            .collect();
        ids.sort();
        ids.dedup();
        ids.len()
    };
    if locks(Side::Src) < 2 && locks(Side::Dst) < 2 {
        return events;
    }
    let mut out: Vec<Event> = events
        .iter()
        .filter_map(|e| match e {
            Event::LockSeen {
                side,
                lock,
                amount,
                depth,
                seen_at,
            } => Some(Event::LockSeen {
                side: *side,
                lock: *lock,
                amount: *amount,
                depth: match depth {
                    Depth::Btc(_) => Depth::Btc(0),
                    Depth::Eth(_) => Depth::Eth(EthDepth::Included),
                },
                seen_at: *seen_at,
            }),
            _ => None,
        })
        .collect();
    out.extend(events);
    out
}

fn track<P: Provider + Clone>(chains: &mut Chains<P>, id: SwapId, t: &Terms) {
    if let Err(e) = chains.track(id, t) {
        warn!(swap_id = %id, error = %e, "cannot follow this swap's locks");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crosslock_core::amount::{Amount, Sats};
    use crosslock_core::chain::LockId;
    use crosslock_core::finality::Depth;
    use crosslock_core::swap::Side;
    use crosslock_core::time::UnixTime;

    fn seen(vout: u32, depth: u32) -> Event {
        Event::LockSeen {
            side: Side::Src,
            lock: LockId::BtcOutpoint {
                txid: crosslock_core::chain::TxId([7; 32]),
                vout,
            },
            amount: Amount::Btc(Sats(1_000)),
            depth: Depth::Btc(depth),
            seen_at: UnixTime(1),
        }
    }

    #[test]
    fn two_locks_found_together_are_both_recorded_as_seen_before_either_is_final() {
        let one = vec![seen(0, 1)];
        assert_eq!(seen_together(one.clone()), one);
        let two = seen_together(vec![seen(0, 1), seen(1, 1)]);
        assert_eq!(two, vec![seen(0, 0), seen(1, 0), seen(0, 1), seen(1, 1)]);
    }
}
