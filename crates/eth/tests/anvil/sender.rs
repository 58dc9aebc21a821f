use alloy::primitives::{TxKind, U256};
use alloy::providers::Provider;
use alloy::providers::ext::AnvilApi;
use crosslock_eth::{MemoryTxStore, SenderConfig, TxIntent, TxSender, TxState, TxStore};

use crate::harness::{Anvil, wait_receipt};

fn pay(to: alloy::primitives::Address, wei: u64) -> TxIntent {
    TxIntent {
        to: TxKind::Call(to),
        value: U256::from(wei),
        input: Default::default(),
    }
}

#[tokio::test]
async fn sender_killed_after_persisting_and_before_sending_sends_once_with_no_nonce_gap() {
    let anvil = Anvil::start();
    let provider = anvil.provider();
    let from = anvil.signer(1).address();
    let to = anvil.signer(2).address();
    let store = MemoryTxStore::default();
    let start_nonce = provider.get_transaction_count(from).await.unwrap();

    // The first process signs and persists, then dies before broadcasting.
    let persisted = {
        let mut first = anvil.sender(1, store.clone()).await;
        first.prepare("claim:a", pay(to, 1)).await.unwrap()
    };
    assert_eq!(persisted.nonce, start_nonce);
    assert!(
        provider
            .get_transaction_by_hash(persisted.hash)
            .await
            .unwrap()
            .is_none(),
        "never sent"
    );
    assert_eq!(store.load(from).await.unwrap(), vec![persisted.clone()]);

    // The restarted process puts it on the wire and carries on with the next nonce.
    let mut second = anvil.sender(1, store.clone()).await;
    assert_eq!(second.resume().await.unwrap(), vec![persisted.hash]);
    let again = second.submit("claim:a", pay(to, 1)).await.unwrap();
    assert_eq!(
        again, persisted,
        "same key: same transaction, nothing new signed"
    );
    let next = second.submit("claim:b", pay(to, 2)).await.unwrap();
    assert_eq!(next.nonce, start_nonce + 1, "no gap, no reuse");
    // Re-broadcasting after a restart is harmless.
    second.resume().await.unwrap();

    assert!(wait_receipt(&provider, persisted.hash).await.status());
    assert!(wait_receipt(&provider, next.hash).await.status());
    assert_eq!(
        provider.get_transaction_count(from).await.unwrap(),
        start_nonce + 2
    );

    let changed = second.poll().await.unwrap();
    assert_eq!(changed.len(), 2);
    assert!(
        changed
            .iter()
            .all(|e| matches!(e.state, TxState::Mined { success: true, .. }))
    );
    // Exactly the two persisted transactions exist: one per nonce.
    let all = store.all();
    assert_eq!(
        all.iter().map(|e| e.nonce).collect::<Vec<_>>(),
        vec![start_nonce, start_nonce + 1]
    );
}

#[tokio::test]
async fn a_stuck_transaction_is_replaced_with_higher_fees_and_the_replacement_is_tracked() {
    let anvil = Anvil::start();
    let provider = anvil.provider();
    let to = anvil.signer(2).address();
    let store = MemoryTxStore::default();
    let mut config = SenderConfig::new(31337);
    config.stuck_after_blocks = 0;
    let mut sender = TxSender::open(anvil.provider(), store.clone(), anvil.signer(1), config)
        .await
        .unwrap();

    provider.anvil_set_auto_mine(false).await.unwrap();
    let original = sender.submit("refund:x", pay(to, 7)).await.unwrap();
    let changed = sender.poll().await.unwrap();
    assert_eq!(changed.len(), 1, "stuck entry replaced");
    let replacement = &changed[0];
    assert_eq!(replacement.nonce, original.nonce);
    assert_ne!(replacement.hash, original.hash);
    assert_eq!(replacement.replaced, vec![original.hash]);
    let fee = |e: &crosslock_eth::OutboxEntry| {
        use alloy::consensus::Transaction;
        use alloy::eips::Decodable2718;
        alloy::consensus::TxEnvelope::decode_2718(&mut e.raw.as_ref())
            .unwrap()
            .max_fee_per_gas()
    };
    assert!(
        fee(replacement) * 100 >= fee(&original) * 115,
        "bumped by at least 15%"
    );
    assert_eq!(
        store.load(replacement.from).await.unwrap(),
        vec![replacement.clone()],
        "persisted"
    );

    provider.anvil_mine(Some(1), None).await.unwrap();
    let receipt = wait_receipt(&provider, replacement.hash).await;
    assert!(receipt.status());
    assert!(
        provider
            .get_transaction_receipt(original.hash)
            .await
            .unwrap()
            .is_none()
    );
    let changed = sender.poll().await.unwrap();
    assert!(matches!(changed[0].state, TxState::Mined { hash, .. } if hash == replacement.hash));
}

#[tokio::test]
async fn a_nonce_used_by_a_transaction_outside_the_outbox_is_reported_not_bumped_forever() {
    let anvil = Anvil::start();
    let provider = anvil.provider();
    let to = anvil.signer(2).address();
    let mut ours = anvil.sender(1, MemoryTxStore::default()).await;
    let entry = ours.prepare("claim:c", pay(to, 3)).await.unwrap();

    // Another process with the same key but its own outbox uses that nonce first.
    let mut rogue = anvil.sender(1, MemoryTxStore::default()).await;
    let theirs = rogue.submit("other", pay(to, 4)).await.unwrap();
    assert_eq!(theirs.nonce, entry.nonce);
    assert!(wait_receipt(&provider, theirs.hash).await.status());

    let changed = ours.poll().await.unwrap();
    assert_eq!(changed.len(), 1);
    assert_eq!(changed[0].state, TxState::NonceTaken);
    assert_eq!(
        ours.entries().count(),
        0,
        "nothing left to bump or re-broadcast"
    );
}

#[tokio::test]
async fn replacements_stop_at_the_fee_cap_without_failing_the_poll() {
    use alloy::consensus::Transaction;
    use alloy::eips::Decodable2718;
    let fee = |e: &crosslock_eth::OutboxEntry| {
        alloy::consensus::TxEnvelope::decode_2718(&mut e.raw.as_ref())
            .unwrap()
            .max_fee_per_gas()
    };
    let anvil = Anvil::start();
    let provider = anvil.provider();
    let to = anvil.signer(2).address();
    let mut config = SenderConfig::new(31337);
    config.stuck_after_blocks = 0;
    let store = MemoryTxStore::default();
    let mut sender = TxSender::open(
        anvil.provider(),
        store.clone(),
        anvil.signer(1),
        config.clone(),
    )
    .await
    .unwrap();
    provider.anvil_set_auto_mine(false).await.unwrap();
    let original = sender.submit("claim:capped", pay(to, 1)).await.unwrap();
    let first_fee = fee(&original);

    // Restarted with a cap 12% above the fee: one replacement, clamped to the cap.
    config.max_fee_cap = first_fee * 112 / 100;
    let mut sender = TxSender::open(
        anvil.provider(),
        store.clone(),
        anvil.signer(1),
        config.clone(),
    )
    .await
    .unwrap();
    let changed = sender.poll().await.unwrap();
    assert_eq!(changed.len(), 1);
    assert_eq!(fee(&changed[0]), config.max_fee_cap, "clamped to the cap");

    // At the cap no further replacement is possible; the poll still succeeds.
    let again = sender.poll().await.unwrap();
    assert!(again.is_empty(), "{again:?}");
    provider.anvil_mine(Some(1), None).await.unwrap();
    assert!(wait_receipt(&provider, changed[0].hash).await.status());
}
