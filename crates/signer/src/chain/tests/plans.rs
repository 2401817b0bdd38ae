//! Plans, their costs and their signatures, without a node.

use alloy_consensus::{Transaction, TxEnvelope};
use alloy_eips::eip2718::Decodable2718;
use alloy_primitives::{TxKind, hex, keccak256};

use super::*;

const FEES: FeeSuggestion = FeeSuggestion { max_fee_per_gas: 3_000_000_000, max_priority_fee_per_gas: 1_000_000_000 };

#[test]
fn a_native_transfer_is_21000_gas_and_carries_no_data() {
    let plan = native_transfer(1, 7, payee(0x11), U256::from(5u64), FEES);
    assert_eq!(
        plan,
        TxPlan {
            chain_id: 1,
            nonce: 7,
            to: payee(0x11),
            value: U256::from(5u64),
            input: Default::default(),
            gas_limit: 21_000,
            fees: FEES,
        }
    );
}

#[test]
fn a_token_transfer_calls_transfer_address_uint256_with_no_value() {
    let contract = payee(0xcc);
    let plan = erc20_transfer(137, 0, contract, payee(0x11), U256::from(0x1234u64), 60_000, FEES);
    assert_eq!((plan.chain_id, plan.to, plan.value, plan.gas_limit), (137, contract, U256::ZERO, 60_000));
    let expected = concat!(
        "a9059cbb", // keccak("transfer(address,uint256)")[..4]
        "0000000000000000000000001111111111111111111111111111111111111111",
        "0000000000000000000000000000000000000000000000000000000000001234",
    );
    assert_eq!(hex::encode(&plan.input), expected);
}

#[test]
fn the_gas_limit_is_the_estimate_and_a_half_under_a_ceiling() {
    assert_eq!(gas_limit_from_estimate(40_000).unwrap(), 60_000);
    assert_eq!(gas_limit_from_estimate(40_001).unwrap(), 60_002);
    assert_eq!(gas_limit_from_estimate(TOKEN_TRANSFER_GAS_CEILING).unwrap(), 375_000);
    let refused = gas_limit_from_estimate(TOKEN_TRANSFER_GAS_CEILING + 1).unwrap_err();
    assert!(matches!(refused, BuildError::GasAboveCeiling { estimate: 250_001, ceiling: 250_000 }), "{refused:?}");
    assert_eq!(refused.code(), "build.gas_above_ceiling");
    // Below the intrinsic 21,000 no transaction is valid: the estimate is wrong.
    let wrong = gas_limit_from_estimate(20_999).unwrap_err();
    assert_eq!(wrong.code(), "rpc.malformed", "{wrong:?}");
}

#[test]
fn max_fee_is_the_gas_part_and_max_cost_adds_the_value() {
    let plan = native_transfer(1, 0, payee(0x11), U256::from(5u64), FEES);
    assert_eq!(max_fee(&plan), U256::from(21_000u64 * 3_000_000_000));
    assert_eq!(max_cost(&plan), U256::from(21_000u64 * 3_000_000_000 + 5));
    let huge = native_transfer(1, 0, payee(0x11), U256::MAX, FEES);
    assert_eq!(max_cost(&huge), U256::MAX, "saturates rather than wraps");
}

#[test]
fn a_replacement_keeps_everything_but_the_fees() {
    let plan = native_transfer(1, 4, payee(0x11), U256::from(5u64), FEES);
    let cheap_market = FeeSuggestion { max_fee_per_gas: 1, max_priority_fee_per_gas: 1 };
    let replacement = plan.replacement(cheap_market);
    assert_eq!(replacement, TxPlan { fees: bumped(FEES), ..plan.clone() });
    let dear_market = FeeSuggestion { max_fee_per_gas: 9_000_000_000, max_priority_fee_per_gas: 2 };
    assert_eq!(
        plan.replacement(dear_market).fees,
        FeeSuggestion { max_fee_per_gas: 9_000_000_000, max_priority_fee_per_gas: 1_125_000_000 }
    );
}

#[test]
fn a_signed_plan_decodes_to_itself_and_recovers_to_the_key() {
    let key = dev_key(0);
    let plan = erc20_transfer(31337, 3, payee(0xcc), payee(0x11), U256::from(9u64), 60_000, FEES);
    let signed = sign(&plan, &key).unwrap();
    assert_eq!(signed.raw[0], 2, "an EIP-1559 envelope");
    assert_eq!(signed.hash, keccak256(&signed.raw));
    assert_eq!((signed.nonce, signed.from), (3, key.address()));

    let TxEnvelope::Eip1559(decoded) = TxEnvelope::decode_2718(&mut signed.raw.as_ref()).unwrap() else {
        panic!("not EIP-1559");
    };
    let tx = decoded.tx();
    assert_eq!(tx.chain_id, 31337);
    assert_eq!(tx.nonce, 3);
    assert_eq!(tx.to, TxKind::Call(payee(0xcc)));
    assert_eq!(tx.value, U256::ZERO);
    assert_eq!(tx.input, plan.input);
    assert_eq!(tx.gas_limit, 60_000);
    assert_eq!(tx.max_fee_per_gas(), FEES.max_fee_per_gas);
    assert_eq!(tx.max_priority_fee_per_gas(), Some(FEES.max_priority_fee_per_gas));
    assert!(tx.access_list.is_empty());
    let recovered = decoded.signature().recover_address_from_prehash(&decoded.signature_hash()).unwrap();
    assert_eq!(recovered, key.address());
}
