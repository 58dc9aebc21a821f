//! Answering the relayer's order offers: decide with the order policy, then tell the relayer,
//! accepting with our keys or declining with a machine-readable reason.
//!
//! Owns the offer -> AcceptOrder step and the [`RelayerApi`] seam the gRPC client implements
//! (`crosslock.resolver.v1.ResolverService`). It must never accept an order the policy refuses,
//! and never record a swap before the relayer confirmed the match (the `Matched` terms come back
//! from the relayer and go through the core like any other event).

use std::future::Future;

use crosslock_core::chain::{BtcPubkey, EthAddress};
use crosslock_core::order::Order;
use crosslock_core::secret::SwapId;
use thiserror::Error;
use tracing::info;

use crate::policy::{Book, Decline, OrderPolicy, decide};

/// An answer to an offer, as `AcceptOrderRequest` carries it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AcceptOrder {
    /// The swap.
    pub swap_id: SwapId,
    /// Take it or not.
    pub accept: bool,
    /// Why not (`[a-z0-9_]{1,64}`), empty when accepting.
    pub decline_reason: String,
    /// Our HTLC key, when accepting.
    pub resolver_btc_pubkey: Option<BtcPubkey>,
    /// Our Ethereum address, when accepting.
    pub resolver_eth_address: Option<EthAddress>,
}

/// The relayer could not be told.
#[derive(Debug, Error)]
#[error("relayer: {0}")]
pub struct RelayerError(pub String);

/// The calls the resolver makes to the relayer.
pub trait RelayerApi: Send {
    /// `AcceptOrder`.
    fn accept_order(
        &mut self,
        a: AcceptOrder,
    ) -> impl Future<Output = Result<(), RelayerError>> + Send;
}

/// Decides on an offered order and reports the decision to the relayer. Returns the decline,
/// if any, so the caller can count it.
pub async fn answer_offer<R: RelayerApi>(
    relayer: &mut R,
    policy: &OrderPolicy,
    book: &Book,
    id: SwapId,
    order: &Order,
    me: (BtcPubkey, EthAddress),
) -> Result<Option<Decline>, RelayerError> {
    let decision = decide(policy, order, book);
    let answer = match decision {
        Ok(()) => AcceptOrder {
            swap_id: id,
            accept: true,
            decline_reason: String::new(),
            resolver_btc_pubkey: Some(me.0),
            resolver_eth_address: Some(me.1),
        },
        Err(d) => AcceptOrder {
            swap_id: id,
            accept: false,
            decline_reason: d.reason().to_owned(),
            resolver_btc_pubkey: None,
            resolver_eth_address: None,
        },
    };
    info!(swap_id = %id, accept = answer.accept, reason = %answer.decline_reason, "answering offer");
    relayer.accept_order(answer).await?;
    Ok(decision.err())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{PairConfig, PolicyConfig};
    use crosslock_core::amount::{Amount, Sats, Wei};
    use crosslock_core::chain::Network;
    use crosslock_core::secret::Hashlock;
    use crosslock_core::time::UnixTime;

    #[derive(Default)]
    struct RecordingRelayer(Vec<AcceptOrder>);

    impl RelayerApi for RecordingRelayer {
        async fn accept_order(&mut self, a: AcceptOrder) -> Result<(), RelayerError> {
            self.0.push(a);
            Ok(())
        }
    }

    fn key() -> BtcPubkey {
        let mut k = [3u8; 33];
        k[0] = 2;
        BtcPubkey::from_bytes(&k).expect("prefix")
    }

    #[tokio::test]
    async fn an_order_over_the_limit_is_declined_with_its_reason_and_a_fair_one_accepted() {
        let policy = OrderPolicy::from_config(&PolicyConfig {
            pairs: vec![PairConfig {
                src: "btc".into(),
                dst: "eth".into(),
                min_src: "100000".into(),
                max_src: "5000000".into(),
                price_e18: "10000000000000000000000000000".into(),
                spread_bps: 30,
            }],
            ..PolicyConfig::default()
        })
        .expect("policy");
        let book = Book {
            inventory: [("eth".to_owned(), 1_000_000_000_000_000_000_000)].into(),
            ..Book::default()
        };
        let order = |sats: u64, wei: u128| Order {
            network: Network::Regtest,
            hashlock: Hashlock([1; 32]),
            give: Amount::Btc(Sats(sats)),
            take: Amount::Eth(Wei(wei)),
            maker_btc_pubkey: key(),
            maker_eth_address: EthAddress([1; 20]),
            quote_expires: UnixTime(1),
        };
        let mut relayer = RecordingRelayer::default();
        let me = (key(), EthAddress([2; 20]));
        let over = answer_offer(
            &mut relayer,
            &policy,
            &book,
            SwapId([1; 16]),
            &order(6_000_000, 1),
            me,
        )
        .await
        .expect("reported");
        assert_eq!(over, Some(Decline::OverMaxAmount));
        let fair = answer_offer(
            &mut relayer,
            &policy,
            &book,
            SwapId([2; 16]),
            &order(1_000_000, 9_900_000_000_000_000),
            me,
        )
        .await
        .expect("reported");
        assert_eq!(fair, None);
        assert_eq!(
            relayer.0[0],
            AcceptOrder {
                swap_id: SwapId([1; 16]),
                accept: false,
                decline_reason: "over_max_amount".into(),
                resolver_btc_pubkey: None,
                resolver_eth_address: None,
            }
        );
        assert!(relayer.0[1].accept && relayer.0[1].resolver_btc_pubkey == Some(key()));
    }
}
