use alloy::primitives::{Address, B256, U256};
use alloy::providers::Provider;
use alloy::providers::ext::AnvilApi;
use alloy::sol_types::SolCall;
use crosslock_eth::contract::Escrow;
use crosslock_eth::{
    CodeHashError, EscrowEvent, Finality, MemoryCursorStore, MemoryTxStore, SendError, SwapParams,
    TestToken, WatchEvent, Watcher, WatcherConfig, check_code_hash, claim, lock, refund,
};

use crate::harness::{Anvil, deploy, now, send_ok, sha256};

async fn token_balance(
    provider: &alloy::providers::RootProvider,
    token: Address,
    who: Address,
) -> U256 {
    let call = TestToken::balanceOfCall { account: who };
    let out = provider
        .call(
            alloy::rpc::types::TransactionRequest::default()
                .to(token)
                .input(call.abi_encode().into()),
        )
        .await
        .unwrap();
    TestToken::balanceOfCall::abi_decode_returns(&out).unwrap()
}

async fn status(provider: &alloy::providers::RootProvider, escrow: Address, id: B256) -> u8 {
    let out = provider
        .call(
            alloy::rpc::types::TransactionRequest::default()
                .to(escrow)
                .input(Escrow::statusCall { id }.abi_encode().into()),
        )
        .await
        .unwrap();
    Escrow::statusCall::abi_decode_returns(&out).unwrap()
}

#[tokio::test]
async fn lock_claim_refund_for_eth_and_erc20_and_the_code_hash_check() {
    let anvil = Anvil::start();
    let provider = anvil.provider();
    let d = deploy(&anvil).await;

    check_code_hash(&provider, d.escrow)
        .await
        .expect("deployed escrow is the committed build");
    assert!(matches!(
        check_code_hash(&provider, d.token).await,
        Err(CodeHashError::Mismatch { .. })
    ));
    assert!(matches!(
        check_code_hash(&provider, anvil.signer(4).address()).await,
        Err(CodeHashError::NoCode { .. })
    ));

    let maker = anvil.signer(1).address();
    let taker = anvil.signer(2).address();
    let mut maker_tx = anvil.sender(1, MemoryTxStore::default()).await;
    let mut anyone_tx = anvil.sender(3, MemoryTxStore::default()).await;
    let amount = U256::from(10u64.pow(18));
    let secret = B256::repeat_byte(0x5e);
    let t0 = now(&provider).await;

    let eth_claim = SwapParams {
        hashlock: sha256(&secret),
        sender: maker,
        receiver: taker,
        token: None,
        amount,
        timeout: t0 + 3600,
    };
    let token_claim = SwapParams {
        token: Some(d.token),
        ..eth_claim.clone()
    };
    let eth_refund = SwapParams {
        timeout: t0 + 600,
        ..eth_claim.clone()
    };
    let token_refund = SwapParams {
        token: Some(d.token),
        ..eth_refund.clone()
    };

    send_ok(
        &provider,
        &mut maker_tx,
        "approve",
        lock::approve(d.token, d.escrow, U256::MAX),
    )
    .await;
    for (i, p) in [&eth_claim, &token_claim, &eth_refund, &token_refund]
        .into_iter()
        .enumerate()
    {
        send_ok(
            &provider,
            &mut maker_tx,
            &format!("lock:{i}"),
            lock::lock(d.escrow, p),
        )
        .await;
        assert_eq!(status(&provider, d.escrow, p.id()).await, 1, "Locked");
    }

    // A wrong secret is refused before anything is signed.
    assert!(claim::claim(d.escrow, &eth_claim, B256::repeat_byte(1)).is_err());
    // An early refund is refused by gas estimation, with the escrow's own error decoded.
    let early = anyone_tx
        .submit("early-refund", refund::refund(d.escrow, &eth_refund))
        .await;
    assert!(
        matches!(
            early,
            Err(SendError::WouldRevert {
                escrow_error: Some(Escrow::EscrowErrors::RefundNotYetAllowed(_)),
                ..
            })
        ),
        "{early:?}"
    );

    let taker_eth = provider.get_balance(taker).await.unwrap();
    send_ok(
        &provider,
        &mut anyone_tx,
        "claim:eth",
        claim::claim(d.escrow, &eth_claim, secret).unwrap(),
    )
    .await;
    assert_eq!(
        provider.get_balance(taker).await.unwrap() - taker_eth,
        amount
    );
    let taker_tokens = token_balance(&provider, d.token, taker).await;
    send_ok(
        &provider,
        &mut anyone_tx,
        "claim:erc20",
        claim::claim(d.escrow, &token_claim, secret).unwrap(),
    )
    .await;
    assert_eq!(
        token_balance(&provider, d.token, taker).await - taker_tokens,
        amount
    );
    assert_eq!(
        status(&provider, d.escrow, eth_claim.id()).await,
        2,
        "Claimed"
    );

    provider
        .anvil_set_next_block_timestamp(t0 + 600)
        .await
        .unwrap();
    provider.anvil_mine(Some(1), None).await.unwrap();
    let maker_eth = provider.get_balance(maker).await.unwrap();
    send_ok(
        &provider,
        &mut anyone_tx,
        "refund:eth",
        refund::refund(d.escrow, &eth_refund),
    )
    .await;
    assert_eq!(
        provider.get_balance(maker).await.unwrap() - maker_eth,
        amount
    );
    let maker_tokens = token_balance(&provider, d.token, maker).await;
    send_ok(
        &provider,
        &mut anyone_tx,
        "refund:erc20",
        refund::refund(d.escrow, &token_refund),
    )
    .await;
    assert_eq!(
        token_balance(&provider, d.token, maker).await - maker_tokens,
        amount
    );
    assert_eq!(
        status(&provider, d.escrow, token_refund.id()).await,
        3,
        "Refunded"
    );

    // The claim window is closed for what is left, and a finished swap cannot be refunded again.
    let again = anyone_tx
        .submit("refund-again", refund::refund(d.escrow, &token_refund))
        .await;
    assert!(matches!(
        again,
        Err(SendError::WouldRevert {
            escrow_error: Some(Escrow::EscrowErrors::AlreadyRefunded(_)),
            ..
        })
    ));
    assert_eq!(provider.get_balance(d.escrow).await.unwrap(), U256::ZERO);
    assert_eq!(
        token_balance(&provider, d.token, d.escrow).await,
        U256::ZERO
    );

    // The logs alone tell the whole story: every swap's parameters, the secret, the refunds.
    let mut cfg = WatcherConfig::new(d.escrow, 0);
    cfg.finality = Finality::Latest { confirmations: 0 };
    let w = Watcher::open(provider.clone(), MemoryCursorStore::default(), cfg)
        .await
        .unwrap();
    let events: Vec<EscrowEvent> = w
        .poll()
        .await
        .unwrap()
        .events
        .into_iter()
        .filter_map(|e| {
            if let WatchEvent::Seen(l) = e {
                Some(l.event)
            } else {
                None
            }
        })
        .collect();
    let mut expected: Vec<EscrowEvent> = [&eth_claim, &token_claim, &eth_refund, &token_refund]
        .into_iter()
        .map(|p| EscrowEvent::Locked {
            id: p.id(),
            params: p.clone(),
        })
        .collect();
    expected.push(EscrowEvent::Claimed {
        id: eth_claim.id(),
        preimage: secret,
    });
    expected.push(EscrowEvent::Claimed {
        id: token_claim.id(),
        preimage: secret,
    });
    expected.push(EscrowEvent::Refunded {
        id: eth_refund.id(),
    });
    expected.push(EscrowEvent::Refunded {
        id: token_refund.id(),
    });
    assert_eq!(events, expected);
}
