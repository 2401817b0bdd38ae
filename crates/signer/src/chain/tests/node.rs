//! The client against nodes that are down, hung, on another chain, or
//! lacking a method; and its readings against anvil's own.

use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use super::*;

/// A loopback URL nothing listens on (the port was just freed).
async fn dead_url(query: &str) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    format!("http://127.0.0.1:{port}/{query}")
}

#[tokio::test]
async fn a_node_that_is_down_is_a_typed_error_and_the_url_stays_out_of_it() {
    let url = dead_url("?key=SECRET").await;
    let rpc = ChainRpc::new(&url, ANVIL_CHAIN_ID, TIMEOUT).unwrap();
    let err = rpc.block_number().await.unwrap_err();
    assert!(matches!(err, RpcError::Unreachable { .. }), "{err:?}");
    assert_eq!(err.code(), "rpc.unreachable");
    assert!(err.to_string().to_lowercase().contains("refused"), "the cause is kept: {err}");
    assert!(!format!("{err} {err:?}").contains("SECRET"), "{err:?}");
    let plan = native_transfer(ANVIL_CHAIN_ID, 0, payee(1), U256::from(1u64), FeeSuggestion::from_base_fee(1, 1));
    let sent = rpc.send_raw(&sign(&plan, &dev_key(0)).unwrap()).await.unwrap_err();
    assert!(matches!(sent, SendError::Rpc(RpcError::Unreachable { .. })), "{sent:?}");
}

#[tokio::test]
async fn a_node_that_goes_down_after_answering_is_unreachable_for_a_send() {
    let chain = Chain::start().await;
    let key = dev_key(0);
    let signed = sign(&chain.native_plan(&key, payee(1), 1).await, &key).unwrap();
    let Chain { anvil, rpc } = chain;
    drop(anvil);
    let sent = rpc.send_raw(&signed).await.unwrap_err();
    assert!(matches!(sent, SendError::Rpc(RpcError::Unreachable { .. })), "{sent:?}");
}

#[tokio::test]
async fn a_node_that_never_answers_times_out_at_the_deadline() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    // Accept connections and hold them open, answering nothing.
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    let deadline = Duration::from_millis(300);
    let rpc = ChainRpc::new(&url, ANVIL_CHAIN_ID, deadline).unwrap();
    let err = rpc.nonce(payee(1), NonceTag::Latest).await.unwrap_err();
    assert!(matches!(err, RpcError::Timeout { after, .. } if after == deadline), "{err:?}");
    assert_eq!(err.code(), "rpc.timeout");
}

#[tokio::test]
async fn a_node_on_another_chain_is_asked_nothing_else() {
    let chain = Chain::start().await;
    let rpc = ChainRpc::new(&chain.anvil.http_url(), 1, TIMEOUT).unwrap();
    assert_eq!(rpc.chain_id().await.unwrap(), ANVIL_CHAIN_ID, "chain_id reports what the node serves");
    let err = rpc.balance(payee(1)).await.unwrap_err();
    assert!(matches!(err, RpcError::WrongChain { expected: 1, served: ANVIL_CHAIN_ID }), "{err:?}");
}

#[tokio::test]
async fn only_http_urls_are_taken() {
    for url in ["ws://127.0.0.1:8545", "127.0.0.1:8545", "not a url"] {
        let err = ChainRpc::new(url, 1, TIMEOUT).unwrap_err();
        assert!(matches!(err, RpcError::Config(_)), "{url}: {err:?}");
    }
}

#[tokio::test]
async fn readings_match_anvils_own() {
    let chain = Chain::start().await;
    let devnet = chain.anvil.rpc();
    let key = dev_key(0);
    assert_eq!(chain.rpc.chain_id().await.unwrap(), ANVIL_CHAIN_ID);
    devnet.mine(3).await.unwrap();
    assert_eq!(chain.rpc.block_number().await.unwrap(), devnet.block_number().await.unwrap());
    assert_eq!(chain.rpc.balance(key.address()).await.unwrap(), devnet.balance(key.address()).await.unwrap());
    assert!(chain.rpc.receipt(B256::repeat_byte(9)).await.unwrap().is_none());
    assert!(!chain.rpc.transaction_known(B256::repeat_byte(9)).await.unwrap());

    let block = devnet.call("eth_getBlockByNumber", json!(["latest", false])).await.unwrap();
    let base = u128::from_str_radix(block["baseFeePerGas"].as_str().unwrap().trim_start_matches("0x"), 16).unwrap();
    let tip = devnet.call("eth_maxPriorityFeePerGas", json!([])).await.unwrap();
    let tip = u128::from_str_radix(tip.as_str().unwrap().trim_start_matches("0x"), 16).unwrap();
    assert_eq!(
        chain.rpc.fees().await.unwrap(),
        FeeSuggestion { max_fee_per_gas: 2 * base + tip, max_priority_fee_per_gas: tip }
    );
}

#[tokio::test]
async fn a_balance_of_that_is_not_one_word_is_refused() {
    let chain = Chain::start().await;
    // An address without code answers an empty `eth_call`.
    let err = chain.rpc.token_balance(payee(0x77), dev_key(0).address()).await.unwrap_err();
    assert!(matches!(err, RpcError::Malformed { .. }), "{err:?}");
}

#[tokio::test]
async fn without_eth_max_priority_fee_per_gas_the_tip_is_the_gas_price_above_the_base_fee() {
    let chain = Chain::start().await;
    const GAS_PRICE: u128 = 3_000_000_000;
    let url = proxy(chain.anvil.http_url(), |method| match method {
        // geth's wording for a method it does not serve.
        "eth_maxPriorityFeePerGas" => Some(
            json!({"error": {"code": -32601, "message": "the method eth_maxPriorityFeePerGas does not exist/is not available"}}),
        ),
        "eth_gasPrice" => Some(json!({"result": format!("{GAS_PRICE:#x}")})),
        _ => None,
    })
    .await;
    let rpc = ChainRpc::new(&url, ANVIL_CHAIN_ID, TIMEOUT).unwrap();
    let block = chain.anvil.rpc().call("eth_getBlockByNumber", json!(["latest", false])).await.unwrap();
    let base = u128::from_str_radix(block["baseFeePerGas"].as_str().unwrap().trim_start_matches("0x"), 16).unwrap();
    assert!(base < GAS_PRICE);
    assert_eq!(
        rpc.fees().await.unwrap(),
        FeeSuggestion { max_fee_per_gas: 2 * base + (GAS_PRICE - base), max_priority_fee_per_gas: GAS_PRICE - base }
    );
}

/// A JSON-RPC endpoint in front of `upstream` that answers the methods
/// `answer` knows itself (its object is merged into the response) and
/// forwards the rest. One request per connection.
async fn proxy(upstream: String, answer: fn(&str) -> Option<Value>) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let http = reqwest::Client::new();
    tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            tokio::spawn(serve(socket, upstream.clone(), http.clone(), answer));
        }
    });
    url
}

async fn serve(mut socket: TcpStream, upstream: String, http: reqwest::Client, answer: fn(&str) -> Option<Value>) {
    let mut request = Vec::new();
    let mut buf = [0u8; 4096];
    let body = loop {
        let n = socket.read(&mut buf).await.unwrap();
        assert!(n > 0, "the client hung up mid-request");
        request.extend_from_slice(&buf[..n]);
        let Some(end) = request.windows(4).position(|w| w == b"\r\n\r\n") else { continue };
        let head = String::from_utf8_lossy(&request[..end]).to_ascii_lowercase();
        let length: usize =
            head.lines().find_map(|l| l.strip_prefix("content-length:")).map_or(0, |v| v.trim().parse().unwrap());
        if request.len() >= end + 4 + length {
            break request[end + 4..end + 4 + length].to_vec();
        }
    };
    let call: Value = serde_json::from_slice(&body).unwrap();
    let reply = match answer(call["method"].as_str().unwrap()) {
        Some(Value::Object(mut fields)) => {
            fields.insert("jsonrpc".into(), json!("2.0"));
            fields.insert("id".into(), call["id"].clone());
            Value::Object(fields).to_string()
        }
        _ => http.post(&upstream).json(&call).send().await.unwrap().text().await.unwrap(),
    };
    let response = format!(
        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{reply}",
        reply.len()
    );
    socket.write_all(response.as_bytes()).await.unwrap();
    socket.shutdown().await.unwrap();
}
