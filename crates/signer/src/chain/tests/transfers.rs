//! Transfers we sign, mined by anvil, moving exactly what they say.

use super::*;

#[tokio::test]
async fn an_eth_transfer_we_sign_is_mined_and_moves_exactly_its_value() {
    let chain = Chain::start().await;
    let key = dev_key(0);
    let to = payee(0x11);
    let sender_before = chain.rpc.balance(key.address()).await.unwrap();
    let plan = chain.native_plan(&key, to, 1_234_567).await;
    assert!(max_cost(&plan) <= sender_before);

    let signed = sign(&plan, &key).unwrap();
    assert_eq!(chain.rpc.send_raw(&signed).await.unwrap(), signed.hash);
    let receipt = chain.mined(signed.hash).await;

    assert!(receipt.success);
    assert_eq!(receipt.gas_used, NATIVE_TRANSFER_GAS);
    assert!(receipt.effective_gas_price <= plan.fees.max_fee_per_gas);
    assert_eq!(receipt.block_number, chain.rpc.block_number().await.unwrap());
    assert_eq!(receipt.block_hash, chain.anvil.rpc().block_hash(receipt.block_number).await.unwrap());
    assert_eq!(chain.rpc.balance(to).await.unwrap(), U256::from(1_234_567u64));
    let spent = sender_before - chain.rpc.balance(key.address()).await.unwrap();
    assert_eq!(spent, plan.value + receipt.fee_paid(), "value plus the gas it paid, nothing else");
    assert!(receipt.fee_paid() <= max_fee(&plan));
    assert_eq!(chain.rpc.nonce(key.address(), NonceTag::Latest).await.unwrap(), plan.nonce + 1);
    assert!(chain.rpc.transaction_known(signed.hash).await.unwrap());
}

#[tokio::test]
async fn a_test_usdt_transfer_with_no_return_value_is_mined_and_moves_the_tokens() {
    let chain = Chain::start().await;
    let key = dev_key(0);
    let token = chain.token(key.address(), 5_000_000).await;
    assert_eq!(chain.rpc.token_balance(token.address, key.address()).await.unwrap(), U256::from(5_000_000u64));
    let to = payee(0x22);
    let amount = U256::from(1_250_000u64);

    let gas_limit = erc20_gas_limit(&chain.rpc, key.address(), token.address, to, amount).await.unwrap();
    let nonce = chain.rpc.nonce(key.address(), NonceTag::Pending).await.unwrap();
    let fees = chain.rpc.fees().await.unwrap();
    let plan = erc20_transfer(ANVIL_CHAIN_ID, nonce, token.address, to, amount, gas_limit, fees);
    let signed = sign(&plan, &key).unwrap();
    chain.rpc.send_raw(&signed).await.unwrap();
    let receipt = chain.mined(signed.hash).await;

    assert!(receipt.success, "{receipt:?}");
    assert!(receipt.gas_used < gas_limit, "the margin was not needed: {} of {gas_limit}", receipt.gas_used);
    assert_eq!(chain.rpc.token_balance(token.address, to).await.unwrap(), amount);
    assert_eq!(chain.rpc.token_balance(token.address, key.address()).await.unwrap(), U256::from(3_750_000u64));
    // And the token agrees with anvil's own reading (coffer-devnet's eth_call).
    assert_eq!(token.balance_of(chain.anvil.rpc(), to).await.unwrap(), amount);
}

#[tokio::test]
async fn a_token_transfer_of_more_than_the_holder_has_is_refused_then_reverts_if_sent() {
    let chain = Chain::start().await;
    let key = dev_key(0);
    let token = chain.token(key.address(), 1_000).await;
    let to = payee(0x33);
    let too_much = U256::from(1_001u64);

    // The estimate says it would revert: the signer would not sign it.
    let refused = erc20_gas_limit(&chain.rpc, key.address(), token.address, to, too_much).await.unwrap_err();
    assert!(matches!(refused, BuildError::Rpc(RpcError::Reverted { .. })), "{refused:?}");
    assert!(refused.to_string().contains("balance"), "the revert reason is kept: {refused}");

    // Signed anyway, with a fixed gas limit, it is mined and fails.
    let nonce = chain.rpc.nonce(key.address(), NonceTag::Pending).await.unwrap();
    let fees = chain.rpc.fees().await.unwrap();
    let plan = erc20_transfer(ANVIL_CHAIN_ID, nonce, token.address, to, too_much, 100_000, fees);
    let signed = sign(&plan, &key).unwrap();
    chain.rpc.send_raw(&signed).await.unwrap();
    let receipt = chain.mined(signed.hash).await;
    assert!(!receipt.success, "{receipt:?}");
    assert!(receipt.gas_used > 0);
    assert_eq!(chain.rpc.token_balance(token.address, to).await.unwrap(), U256::ZERO);
    assert_eq!(chain.rpc.token_balance(token.address, key.address()).await.unwrap(), U256::from(1_000u64));
    assert_eq!(chain.rpc.nonce(key.address(), NonceTag::Latest).await.unwrap(), nonce + 1, "the nonce is used");
}
