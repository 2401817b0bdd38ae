//! The drill's world: anvil, the test USDT, a signer and a gateway as their
//! own processes, merchants with balances from paid invoices, a baseline of
//! normal payouts, and the approvers' keys (which the attacker never holds).

use std::path::PathBuf;
use std::time::Duration;

use alloy_primitives::{Address, U256};
use anyhow::Context as _;
use coffer_devnet::{Anvil, AnvilOptions, TestToken, deploy_test_usdt};
use coffer_signer_api::{Approval, ChangeProposal, Decision, PolicyChange, PublicKey, RequestKey, RequestParts};
use ed25519_dalek::{Signer as _, SigningKey};
use serde_json::{Value, json};

use super::config::DrillConfig;
use super::{Drill, fresh_address, now, until, usdt};
use crate::setup::{BenchDatabase, Environment, RunningGateway, anvil_chain};
use crate::signer_process::Signer;

/// Cold: an address whose key nobody in the drill holds (a hardware wallet).
pub(crate) const COLD: Address = Address::repeat_byte(0xc0);

/// USDT in hot and cold.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Balances {
    pub(crate) hot: U256,
    pub(crate) cold: U256,
}

pub(crate) struct Merchant {
    pub(crate) id: coffer_domain::MerchantId,
    pub(crate) key: String,
}

pub(crate) struct World {
    pub(crate) coffer_bin: PathBuf,
    pub(crate) anvil: Anvil,
    pub(crate) token: TestToken,
    env: Environment,
    signer: Option<Signer>,
    gateway: Option<RunningGateway>,
    pub(crate) signer_url: String,
    pub(crate) gateway_url: String,
    pub(crate) signer_config: PathBuf,
    pub(crate) gateway_config: PathBuf,
    /// The gateway's signer-request key: the attacker has it.
    pub(crate) request_key: RequestKey,
    /// The gateway's operator credential: the attacker has it too.
    pub(crate) operator_token: String,
    /// The approvers' keys: the attacker does not.
    pub(crate) approvers: Vec<SigningKey>,
    pub(crate) merchants: Vec<Merchant>,
    pub(crate) hot: Address,
    /// The payees of normal payouts, known to the signer before the attack.
    pub(crate) payees: Vec<Address>,
    /// A payout approved by the real approvers before the attack, and one
    /// of their approvals (an attacker on the gateway sees it relayed).
    pub(crate) honest_approval: Option<(String, Approval)>,
    pub(crate) http: reqwest::Client,
    policy: coffer_policy::Policy,
}

fn random_key() -> anyhow::Result<SigningKey> {
    let mut secret = [0u8; 32];
    getrandom::fill(&mut secret).map_err(|e| anyhow::anyhow!("randomness: {e}"))?;
    Ok(SigningKey::from_bytes(&secret))
}

pub(crate) fn public(key: &SigningKey) -> PublicKey {
    PublicKey::from_bytes(&key.verifying_key().to_bytes()).unwrap_or_else(|| unreachable!("a dalek key is a point"))
}

pub(crate) fn sign(key: &SigningKey, decision: Decision, digest: coffer_signer_api::Digest) -> Approval {
    let signature = hex::encode(key.sign(decision.signed_text(&digest).as_bytes()).to_bytes());
    Approval { approver: public(key), decision, digest, signature }
}

impl World {
    pub(crate) async fn build(drill: &Drill) -> anyhow::Result<Self> {
        let config = &drill.config;
        let anvil = Anvil::spawn(AnvilOptions::default()).await?;
        let rpc = anvil.rpc();
        let token = deploy_test_usdt(rpc).await?;
        let env = Environment::prepare(&BenchDatabase::Sqlite).await?;
        let dir = env.dir().to_owned();

        let passphrase = dir.join("passphrase");
        std::fs::write(&passphrase, "drill passphrase, dev only")?;
        let crate::signer_process::SignerInit { hot, identity, xpub } =
            crate::signer_process::init(&drill.coffer_bin, &dir.join("signer"), &passphrase).await?;
        let request_key = RequestKey::generate()?;
        let key_file = dir.join("request.key");
        request_key.create_file(&key_file)?;
        let approvers = (0..config.policy.approvers).map(|_| random_key()).collect::<anyhow::Result<Vec<_>>>()?;
        let keys: Vec<String> = approvers.iter().map(|k| public(k).to_string()).collect();
        let policy_text = config.signer_policy(&keys);
        let signer_config = dir.join("signer.toml");
        std::fs::write(
            &signer_config,
            signer_toml(&dir, &passphrase, &request_key, &anvil, token.address, &policy_text),
        )?;
        let policy = parse_policy(&policy_text, token.address)?;

        // Other merchants, before the gateway starts (one came with the environment).
        let mut merchants = vec![Merchant { id: env.merchant, key: env.api_key.clone() }];
        {
            let store = env.store().await?;
            for n in 1..config.merchants {
                let merchant = coffer_gateway::admin::create_merchant(&*store, &format!("Drill shop {n}")).await?;
                let scopes = coffer_domain::Scopes::from_iter(coffer_domain::Scope::ALL);
                let (token, _) = coffer_gateway::admin::create_api_key(&*store, merchant.id, scopes, "drill").await?;
                merchants.push(Merchant { id: merchant.id, key: token.reveal() });
            }
        }

        let signer = Signer::start(&drill.coffer_bin, &signer_config).await?;
        // The treasury: hot at its cap, cold holding most; gas for hot.
        rpc.call("anvil_setBalance", json!([hot, "0x56BC75E2D63100000"])).await?; // 100 ETH
        token.mint(rpc, hot, usdt(config.hot_cap)).await?;
        token.mint(rpc, COLD, usdt(config.cold)).await?;

        let (operator_token, operator_digest) = coffer_gateway::admin::operator_token()?;
        let extra = format!(
            "operator_token_sha256 = \"{operator_digest}\"\n[signer]\nurl = \"{}\"\nrequest_key_file = \"{}\"\nidentity_key = \"{identity}\"\npoll_interval_ms = 100\nretry_base_ms = 100\n",
            signer.url,
            key_file.display()
        );
        let chains = anvil_chain(&anvil, token.address, 1, &extra, "")
            + "[[assets]]\nsymbol = \"ETH\"\nchain_id = 31337\ndecimals = 18\n";
        let gateway = env.start_gateway_on(&drill.coffer_bin, &chains, &xpub).await?;
        let gateway_url = format!("http://{}", gateway.addr);
        let mut world = Self {
            coffer_bin: drill.coffer_bin.clone(),
            signer_url: signer.url.clone(),
            gateway_url,
            signer_config,
            gateway_config: dir.join("coffer.toml"),
            anvil,
            token,
            env,
            signer: Some(signer),
            gateway: Some(gateway),
            request_key,
            operator_token,
            approvers,
            merchants,
            hot,
            payees: (0..2).map(|n| fresh_address(0xfa, n)).collect(),
            honest_approval: None,
            http: reqwest::Client::builder().timeout(Duration::from_secs(30)).build()?,
            policy,
        };
        world.fund_merchants(config).await?;
        world.baseline(config).await?;
        Ok(world)
    }

    /// Each merchant's balance comes from a paid invoice, as in production.
    async fn fund_merchants(&self, config: &DrillConfig) -> anyhow::Result<()> {
        let rpc = self.anvil.rpc();
        let payer = rpc.accounts().await?[1];
        self.token.mint(rpc, payer, usdt(config.merchant_balance) * U256::from(config.merchants)).await?;
        for merchant in &self.merchants {
            let body = json!({ "amount": config.merchant_balance.to_string(), "asset": "USDT" });
            let invoice = self.api(merchant, "POST", "/v1/invoices", Some(body), None).await?;
            let address: Address = invoice.1["address"].as_str().context("invoice address")?.parse()?;
            self.token.send_transfer(rpc, payer, address, usdt(config.merchant_balance)).await?;
        }
        rpc.mine(3).await?;
        for merchant in &self.merchants {
            until("a merchant's invoice settling", Duration::from_secs(60), || async {
                let (_, balances) = self.api(merchant, "GET", "/v1/balances", None, None).await?;
                Ok(balances["data"].as_array().is_some_and(|a| !a.is_empty()))
            })
            .await?;
        }
        Ok(())
    }

    /// Normal payouts to two payees, and one above the approval threshold
    /// that the real approvers approve: the signer's history before the attack.
    async fn baseline(&mut self, config: &DrillConfig) -> anyhow::Result<()> {
        let mut ids = Vec::new();
        let small = config.baseline_amount();
        for n in 0..config.baseline_payouts {
            let merchant = &self.merchants[usize::try_from(n).unwrap_or(0) % self.merchants.len()];
            // One payee: the history holds one new destination, whatever the tripwire allows.
            let payee = self.payees[0];
            let (status, body) = self.payout(merchant, small, payee, &format!("baseline-{n}")).await?;
            anyhow::ensure!(status == 201, "a baseline payout was not accepted: {status} {body}");
            ids.push((merchant, body["id"].as_str().context("payout id")?.to_owned()));
        }
        for (merchant, id) in &ids {
            self.until_gateway_status(merchant, id, &["confirmed"]).await?;
        }
        // One large honest payout, approved by the quorum directly at the signer.
        let large = config.approved_amount();
        if large > 0 {
            let merchant = &self.merchants[0];
            let (status, body) = self.payout(merchant, large, self.payees[0], "baseline-large").await?;
            anyhow::ensure!(status == 201, "the large baseline payout was not accepted: {status} {body}");
            let id = body["id"].as_str().context("payout id")?.to_owned();
            let deadline = std::time::Instant::now() + Duration::from_secs(30);
            let round = loop {
                let (_, state) = self.signer_signed("GET", &format!("/v1/requests/{id}"), &Value::Null, now()).await?;
                if state["state"] == "pending_approval" {
                    break state;
                }
                anyhow::ensure!(std::time::Instant::now() < deadline, "the large baseline payout stayed {state}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            };
            let digest: coffer_signer_api::Digest =
                round["digest"].as_str().context("digest")?.parse().map_err(|e: String| anyhow::anyhow!(e))?;
            let mut last = None;
            for key in self.approvers.iter().take(usize::from(config.policy.quorum)) {
                let approval = sign(key, Decision::Approve, digest);
                let path = format!("/v1/payouts/{id}/approvals");
                self.signer_unsigned("POST", &path, &serde_json::to_value(&approval)?).await?;
                last = Some(approval);
            }
            self.honest_approval = last.map(|a| (id.clone(), a));
            self.until_gateway_status(merchant, &id, &["confirmed"]).await?;
        }
        Ok(())
    }

    /// A merchant API call: status and JSON body.
    pub(crate) async fn api(
        &self,
        merchant: &Merchant,
        method: &str,
        path: &str,
        body: Option<Value>,
        idempotency: Option<&str>,
    ) -> anyhow::Result<(u16, Value)> {
        let url = format!("{}{path}", self.gateway_url);
        let mut request = if method == "GET" { self.http.get(url) } else { self.http.post(url) };
        request = request.bearer_auth(&merchant.key);
        if let Some(key) = idempotency {
            request = request.header("Idempotency-Key", key);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await?;
        let status = response.status().as_u16();
        let body = response.json().await.unwrap_or(Value::Null);
        Ok((status, body))
    }

    /// A call with the operator's credential (the attacker holds it).
    pub(crate) async fn operator(&self, path: &str, body: &Value) -> anyhow::Result<(u16, Value)> {
        let url = format!("{}{path}", self.gateway_url);
        let response = self.http.post(url).bearer_auth(&self.operator_token).json(body).send().await?;
        let status = response.status().as_u16();
        Ok((status, response.json().await.unwrap_or(Value::Null)))
    }

    /// `POST /v1/payouts` as a merchant: `whole` USDT to `to`.
    pub(crate) async fn payout(
        &self,
        merchant: &Merchant,
        whole: u64,
        to: Address,
        key: &str,
    ) -> anyhow::Result<(u16, Value)> {
        let body = json!({ "amount": whole.to_string(), "asset": "USDT", "destination": to });
        self.api(merchant, "POST", "/v1/payouts", Some(body), Some(key)).await
    }

    async fn until_gateway_status(&self, merchant: &Merchant, id: &str, states: &[&str]) -> anyhow::Result<()> {
        until("a payout reaching its state", Duration::from_secs(60), || async {
            let (_, payout) = self.api(merchant, "GET", &format!("/v1/payouts/{id}"), None, None).await?;
            Ok(states.iter().any(|s| payout["status"] == *s))
        })
        .await
    }

    /// A request to the signer signed with the gateway's key at `timestamp`.
    pub(crate) async fn signer_signed(
        &self,
        method: &str,
        path: &str,
        body: &Value,
        timestamp: i64,
    ) -> anyhow::Result<(u16, Value)> {
        let bytes = if method == "GET" { Vec::new() } else { serde_json::to_vec(body)? };
        let signed = self.request_key.sign(&RequestParts { method, path, body: &bytes }, timestamp, [0; 32])?;
        self.signer_raw(method, path, bytes, &signed.to_pairs()).await
    }

    /// A request to the signer with exactly these headers.
    pub(crate) async fn signer_raw(
        &self,
        method: &str,
        path: &str,
        body: Vec<u8>,
        headers: &[(&'static str, String)],
    ) -> anyhow::Result<(u16, Value)> {
        let url = format!("{}{path}", self.signer_url);
        let mut request = if method == "GET" { self.http.get(url) } else { self.http.post(url).body(body) };
        request = request.header("content-type", "application/json");
        for (name, value) in headers {
            request = request.header(*name, value);
        }
        let response = request.send().await?;
        let status = response.status().as_u16();
        Ok((status, response.json().await.unwrap_or(Value::Null)))
    }

    /// A request to the signer with no gateway signature (approvers' calls).
    pub(crate) async fn signer_unsigned(&self, method: &str, path: &str, body: &Value) -> anyhow::Result<(u16, Value)> {
        let bytes = if method == "GET" { Vec::new() } else { serde_json::to_vec(body)? };
        self.signer_raw(method, path, bytes, &[]).await
    }

    /// The signer's controls.
    pub(crate) async fn control_state(&self) -> anyhow::Result<Value> {
        Ok(self.signer_unsigned("GET", "/v1/control", &Value::Null).await?.1)
    }

    /// Approvers `signers` (indexes) sign `change` against the version in force.
    pub(crate) async fn change(&self, change: PolicyChange, signers: &[usize]) -> anyhow::Result<Value> {
        let version = self.control_state().await?["policy_version"].as_u64().context("policy version")?;
        let proposal = ChangeProposal { change, base_version: version, expires_at: now() + 600 };
        let digest = proposal.digest();
        let approvals: Vec<_> = signers.iter().map(|&i| sign(&self.approvers[i], Decision::Approve, digest)).collect();
        let (status, body) = self
            .signer_unsigned("POST", "/v1/control", &json!({ "proposal": proposal, "approvals": approvals }))
            .await?;
        anyhow::ensure!(status == 200, "the approvers' change was refused: {status} {body}");
        Ok(body)
    }

    pub(crate) async fn balances(&self) -> anyhow::Result<Balances> {
        let rpc = self.anvil.rpc();
        Ok(Balances { hot: self.token.balance_of(rpc, self.hot).await?, cold: self.token.balance_of(rpc, COLD).await? })
    }

    /// ETH the `addresses` hold (fresh addresses start with none).
    pub(crate) async fn eth_held_by(&self, addresses: &[Address]) -> anyhow::Result<U256> {
        let mut total = U256::ZERO;
        for address in addresses {
            total += self.anvil.rpc().balance(*address).await?;
        }
        Ok(total)
    }

    pub(crate) async fn held_by(&self, addresses: &[Address]) -> anyhow::Result<U256> {
        let mut total = U256::ZERO;
        for address in addresses {
            total += self.token.balance_of(self.anvil.rpc(), *address).await?;
        }
        Ok(total)
    }

    pub(crate) async fn head(&self) -> u64 {
        self.anvil.rpc().block_number().await.unwrap_or_default()
    }

    /// A block every `secs`, not one per transaction: as on a real chain.
    pub(crate) async fn interval_mining(&self, secs: u64) -> anyhow::Result<()> {
        self.anvil.rpc().set_automine(false).await?;
        self.anvil.rpc().call("evm_setIntervalMining", json!([secs])).await?;
        Ok(())
    }

    pub(crate) async fn automine(&self) -> anyhow::Result<()> {
        self.anvil.rpc().call("evm_setIntervalMining", json!([0])).await?;
        self.anvil.rpc().set_automine(true).await?;
        Ok(())
    }

    /// Waits until what the attacker's addresses hold stops changing (every
    /// transaction the signer sent is mined).
    pub(crate) async fn settle(&self, addresses: &[Address]) -> anyhow::Result<()> {
        let mut last = self.held_by(addresses).await?;
        let mut stable = 0;
        while stable < 10 {
            self.anvil.rpc().mine(1).await?;
            tokio::time::sleep(Duration::from_millis(300)).await;
            let now = self.held_by(addresses).await?;
            stable = if now == last { stable + 1 } else { 0 };
            last = now;
        }
        Ok(())
    }

    /// The most the signer's global limits let out of `symbol` in `secs`.
    pub(crate) fn bound(&self, symbol: &str, secs: u64) -> anyhow::Result<U256> {
        let asset = coffer_domain::AssetId { chain_id: coffer_domain::ChainId(31337), symbol: symbol.parse()? };
        Ok(self.policy.bound(asset, secs))
    }

    /// Runs `coffer ARGS…` and gives its output.
    pub(crate) async fn coffer(&self, args: &[&str]) -> anyhow::Result<std::process::Output> {
        Ok(tokio::process::Command::new(&self.coffer_bin).args(args).output().await?)
    }

    pub(crate) fn dir(&self) -> &std::path::Path {
        self.env.dir()
    }

    pub(crate) async fn stop(mut self) {
        if let Some(gateway) = self.gateway.take() {
            gateway.stop().await;
        }
        if let Some(signer) = self.signer.take() {
            signer.stop().await;
        }
        self.env.cleanup().await;
    }
}

/// The `[policy]` of the drill's signer as the signer itself will load it:
/// the bound is computed from the very rules the signer enforces.
fn parse_policy(text: &str, usdt_contract: Address) -> anyhow::Result<coffer_policy::Policy> {
    #[derive(serde::Deserialize)]
    struct Doc {
        policy: coffer_policy::PolicyFile,
    }
    use figment::providers::{Format as _, Toml};
    let doc: Doc = figment::Figment::from(Toml::string(text)).extract().context("the drill's signer policy")?;
    let chain = coffer_domain::ChainId(31337);
    let assets = [
        coffer_domain::Asset {
            id: coffer_domain::AssetId { chain_id: chain, symbol: "ETH".parse()? },
            kind: coffer_domain::AssetKind::Native,
            decimals: 18,
        },
        coffer_domain::Asset {
            id: coffer_domain::AssetId { chain_id: chain, symbol: "USDT".parse()? },
            kind: coffer_domain::AssetKind::Erc20 { contract: usdt_contract },
            decimals: 6,
        },
    ];
    coffer_policy::Policy::new(&doc.policy, &assets).map_err(|e| anyhow::anyhow!("the drill's signer policy: {e}"))
}

fn signer_toml(
    dir: &std::path::Path,
    passphrase: &std::path::Path,
    key: &RequestKey,
    anvil: &Anvil,
    usdt: Address,
    policy: &str,
) -> String {
    format!(
        r#"listen_addr = "127.0.0.1:0"
data_dir = "{dir}/signer"
passphrase_file = "{passphrase}"
gateway_public_key = "{public}"
poll_ms = 100
[[chains]]
chain_id = 31337
rpc_url = "{rpc}"
confirmations = 1
cold_address = "{COLD}"
[[assets]]
symbol = "ETH"
chain_id = 31337
decimals = 18
[[assets]]
symbol = "USDT"
chain_id = 31337
contract = "{usdt}"
decimals = 6
{policy}"#,
        dir = dir.display(),
        passphrase = passphrase.display(),
        public = key.public(),
        rpc = anvil.http_url(),
    )
}
