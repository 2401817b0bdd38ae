//! What anvil's pool answers: replacements, repeats, and refusals, each typed.

use super::*;

#[tokio::test]
async fn a_replacement_with_bumped_fees_replaces_and_only_one_of_the_two_is_mined() {
    let chain = Chain::start().await;
    chain.anvil.rpc().set_automine(false).await.unwrap();
    let key = dev_key(0);
    let to = payee(0x44);
    let sender_before = chain.rpc.balance(key.address()).await.unwrap();

    let first = chain.native_plan(&key, to, 1_000).await;
    let first_signed = sign(&first, &key).unwrap();
    assert_eq!(chain.rpc.send_raw(&first_signed).await.unwrap(), first_signed.hash);
    assert!(chain.rpc.transaction_known(first_signed.hash).await.unwrap());
    assert_eq!(chain.rpc.nonce(key.address(), NonceTag::Pending).await.unwrap(), first.nonce + 1);
    assert_eq!(chain.rpc.nonce(key.address(), NonceTag::Latest).await.unwrap(), first.nonce);

    let second = first.replacement(chain.rpc.fees().await.unwrap());
    assert_eq!(second.fees, bumped(first.fees), "the market did not move: the bump decides");
    let second_signed = sign(&second, &key).unwrap();
    assert_ne!(second_signed.hash, first_signed.hash);
    assert_eq!(chain.rpc.send_raw(&second_signed).await.unwrap(), second_signed.hash);
    assert!(chain.rpc.transaction_known(second_signed.hash).await.unwrap());

    chain.anvil.rpc().mine(1).await.unwrap();
    let receipts =
        [chain.rpc.receipt(first_signed.hash).await.unwrap(), chain.rpc.receipt(second_signed.hash).await.unwrap()];
    let mined: Vec<_> = receipts.iter().flatten().collect();
    assert_eq!(mined.len(), 1, "exactly one of the two is mined: {receipts:?}");
    assert!(mined[0].success);
    assert_eq!(chain.rpc.balance(to).await.unwrap(), U256::from(1_000u64), "the value moved once");
    let spent = sender_before - chain.rpc.balance(key.address()).await.unwrap();
    assert_eq!(spent, U256::from(1_000u64) + mined[0].fee_paid());
    assert_eq!(chain.rpc.nonce(key.address(), NonceTag::Latest).await.unwrap(), first.nonce + 1);
}

#[tokio::test]
async fn a_replacement_that_does_not_outbid_is_underpriced() {
    let chain = Chain::start().await;
    chain.anvil.rpc().set_automine(false).await.unwrap();
    let key = dev_key(0);
    let pooled = chain.native_plan(&key, payee(0x44), 1_000).await;
    chain.rpc.send_raw(&sign(&pooled, &key).unwrap()).await.unwrap();

    // Another payload at the same nonce and the same fees: a bump of nothing.
    // (anvil takes any higher cap; geth and reth want +10% on both fields,
    // which `bumped` gives.)
    let unbumped = TxPlan { value: U256::from(999u64), ..pooled.clone() };
    let answer = chain.rpc.send_raw(&sign(&unbumped, &key).unwrap()).await.unwrap_err();
    assert!(matches!(answer, SendError::Underpriced(_)), "{answer:?}");
    assert_eq!(answer.code(), "send.underpriced");

    let lower = FeeSuggestion {
        max_fee_per_gas: pooled.fees.max_fee_per_gas - 1,
        max_priority_fee_per_gas: pooled.fees.max_priority_fee_per_gas,
    };
    let cheaper = TxPlan { fees: lower, ..unbumped };
    let answer = chain.rpc.send_raw(&sign(&cheaper, &key).unwrap()).await.unwrap_err();
    assert!(matches!(answer, SendError::Underpriced(_)), "{answer:?}");
}

#[tokio::test]
async fn the_same_transaction_sent_twice_while_pooled_is_already_known() {
    let chain = Chain::start().await;
    chain.anvil.rpc().set_automine(false).await.unwrap();
    let key = dev_key(0);
    let signed = sign(&chain.native_plan(&key, payee(0x55), 1).await, &key).unwrap();
    chain.rpc.send_raw(&signed).await.unwrap();
    let again = chain.rpc.send_raw(&signed).await.unwrap_err();
    assert!(matches!(again, SendError::AlreadyKnown(_)), "{again:?}");
}

#[tokio::test]
async fn resending_a_mined_transaction_or_reusing_its_nonce_is_nonce_too_low() {
    let chain = Chain::start().await;
    let key = dev_key(0);
    let plan = chain.native_plan(&key, payee(0x55), 1).await;
    let signed = sign(&plan, &key).unwrap();
    chain.rpc.send_raw(&signed).await.unwrap();
    chain.mined(signed.hash).await;

    let again = chain.rpc.send_raw(&signed).await.unwrap_err();
    assert!(matches!(again, SendError::NonceTooLow(_)), "{again:?}");
    let other = sign(&plan.replacement(plan.fees), &key).unwrap();
    let reused = chain.rpc.send_raw(&other).await.unwrap_err();
    assert!(matches!(reused, SendError::NonceTooLow(_)), "{reused:?}");
}

#[tokio::test]
async fn a_sender_without_coin_gets_insufficient_funds() {
    let chain = Chain::start().await;
    let broke = dev_key(100); // anvil funds indices 0..=9 only
    assert_eq!(chain.rpc.balance(broke.address()).await.unwrap(), U256::ZERO);
    let plan = chain.native_plan(&broke, payee(0x66), 1).await;
    let answer = chain.rpc.send_raw(&sign(&plan, &broke).unwrap()).await.unwrap_err();
    assert!(matches!(answer, SendError::InsufficientFunds(_)), "{answer:?}");
}

#[tokio::test]
async fn a_cap_under_the_base_fee_is_fee_too_low() {
    let chain = Chain::start().await;
    let key = dev_key(0);
    let plan = chain.native_plan(&key, payee(0x66), 1).await;
    let cheap = TxPlan { fees: FeeSuggestion { max_fee_per_gas: 1, max_priority_fee_per_gas: 1 }, ..plan };
    let answer = chain.rpc.send_raw(&sign(&cheap, &key).unwrap()).await.unwrap_err();
    assert!(matches!(answer, SendError::FeeTooLow(_)), "{answer:?}");
}
