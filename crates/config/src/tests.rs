use super::*;

const XPUB: &str =
    "xpub6D4BDPcP2GT577Vvch3R8wDkScZWzQzMMUm3PWbmWvVJrZwQY4VUNgqFJPMM3No2dFDFGTsxxpG5uJh7n7epu4trkrX7x7DogT5Uv6fcLW5";

fn full(extra: &str) -> String {
    format!(
        r#"
data_dir = "/tmp/coffer"
listen_addr = "127.0.0.1:9000"
xpub = "{XPUB}"
{extra}

[[chains]]
chain_id = 31337
name = "anvil"
rpc_url = "http://127.0.0.1:8545"
confirmations = 2

[[assets]]
symbol = "ETH"
chain_id = 31337
decimals = 18

[[assets]]
symbol = "USDT"
chain_id = 31337
contract = "0xdAC17F958D2ee523a2206206994597C13D831ec7"
decimals = 6
"#
    )
}

fn error_of(toml: &str) -> String {
    Config::from_toml(toml).unwrap_err().to_string()
}

#[test]
fn a_full_file_loads() {
    let config = Config::from_toml(&full("")).unwrap();
    assert_eq!(config.listen_addr.port(), 9000);
    assert_eq!(config.database(), DatabaseTarget::Sqlite(PathBuf::from("/tmp/coffer/coffer.db")));
    assert_eq!(config.asset_book().iter().count(), 2);
    assert_eq!(config.require_xpub().unwrap(), XPUB);
}

#[test]
fn defaults_need_no_file() {
    let config = Config::from_toml("").unwrap();
    assert_eq!(config.listen_addr.to_string(), "127.0.0.1:8080");
    assert!(config.require_xpub().unwrap_err().to_string().starts_with("xpub: missing"));
}

#[test]
fn errors_name_the_field() {
    let cases = [
        (full("").replace("confirmations = 2", "confirmations = 0"), "chains[0].confirmations"),
        (full("").replace("http://127.0.0.1:8545", "not a url"), "chains[0].rpc_url"),
        (full("").replace("http://127.0.0.1:8545", "ftp://x"), "chains[0].rpc_url"),
        (full("").replace("decimals = 6", "decimals = 90"), "assets[1].decimals"),
        (full("").replace("0xdAC17F958D2ee523a2206206994597C13D831ec7", "0xdac17F958D2ee523a2206206994597C13D831ec7"), "assets[1].contract"),
        (full("").replace("symbol = \"USDT\"\nchain_id = 31337", "symbol = \"USDT\"\nchain_id = 5"), "assets[1].chain_id"),
        (full("").replace("symbol = \"USDT\"", "symbol = \"ETH\""), "assets[1].symbol"),
        (full("").replace("symbol = \"USDT\"", "symbol = \"US DT\""), "assets[1].symbol"),
        (full("").replace(XPUB, "xprv9s21ZrQH143K3QTDL4LXw2F7HEK3wJUD2nW2nRk4stbPy6cq3jPPqjiChkVvvNKmPGJxWUtg6LnF5kejMRNNU3TGtRBeJgk33yuGBxrMPHi"), "xpub"),
        (full("database_url = \"mysql://x\""), "database_url"),
        (full("default_invoice_expiry_secs = 5"), "default_invoice_expiry_secs"),
    ];
    for (toml, field) in cases {
        let error = error_of(&toml);
        assert!(error.starts_with(&format!("{field}: ")), "expected an error naming {field}, got: {error}");
    }
    assert!(error_of(&full("").replace(XPUB, "xprv9s21ZrQH143K3QTDL4LXw2F7HEK3wJUD2nW2nRk4stbPy6cq3jPPqjiChkVvvNKmPGJxWUtg6LnF5kejMRNNU3TGtRBeJgk33yuGBxrMPHi")).contains("PRIVATE"));
}

#[test]
fn typos_and_wrong_types_are_refused_with_the_key() {
    let typo = error_of(&full("").replace("confirmations = 2", "confirmation = 2"));
    assert!(typo.contains("confirmation"), "{typo}");
    let wrong_type = error_of(&full("").replace("127.0.0.1:9000", "nine thousand"));
    assert!(wrong_type.contains("listen_addr"), "{wrong_type}");
}

#[test]
fn debug_redacts_secrets() {
    let config = Config::from_toml(&full("database_url = \"postgres://coffer:hunter2@db/coffer\"")).unwrap();
    let debug = format!("{config:?}");
    for secret in ["hunter2", XPUB, "127.0.0.1:8545"] {
        assert!(!debug.contains(secret), "{secret} leaked into {debug}");
    }
    assert!(matches!(config.database(), DatabaseTarget::Postgres(_)));
}

#[test]
fn the_environment_overrides_the_file_and_missing_files_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("coffer.toml");
    std::fs::write(&path, full("")).unwrap();
    #[allow(clippy::result_large_err)] // figment::Error is large; this is its own test helper
    figment::Jail::expect_with(|jail| {
        jail.set_env("COFFER_LISTEN_ADDR", "127.0.0.1:9999");
        jail.set_env("COFFER_UNRELATED_SETTING", "ignored");
        let config = Config::load(Some(&path)).map_err(|e| e.to_string())?;
        assert_eq!(config.listen_addr.port(), 9999);
        Ok(())
    });
    let missing = Config::load(Some(&dir.path().join("nope.toml"))).unwrap_err().to_string();
    assert!(missing.contains("nope.toml"), "{missing}");
}

#[test]
fn an_invoice_lifetime_beyond_a_year_is_refused() {
    let err = Config::from_toml("max_invoice_expiry_secs = 999999999999").unwrap_err().to_string();
    assert!(err.starts_with("max_invoice_expiry_secs:"), "{err}");
}

#[test]
fn chain_following_and_webhook_settings_have_defaults_and_limits() {
    let config = Config::from_toml(&full("")).unwrap();
    let chain = &config.chains[0];
    assert_eq!(
        (chain.reorg_window(), chain.poll_interval_ms, chain.log_range, chain.start_block),
        (64, 1000, 1000, None)
    );
    assert_eq!(config.late_payment_window_secs, 86_400);
    assert!(!config.webhooks.allow_private_urls, "private webhook URLs are refused unless allowed");
    let with = |section: &str| full(section);
    let config = Config::from_toml(&with("[webhooks]\nallow_private_urls = true\nmax_attempts = 3")).unwrap();
    assert!(config.webhooks.allow_private_urls);
    assert_eq!((config.webhooks.max_attempts, config.webhooks.timeout_secs), (3, 10));
    assert!(error_of(&with("[webhooks]\ntimeout_secs = 0")).contains("webhooks.timeout_secs"));
    assert!(error_of(&with("[webhooks]\nretries = 3")).contains("retries"), "unknown keys are refused");
    let hooks = &config.webhooks;
    assert_eq!(
        (hooks.max_in_flight, hooks.max_in_flight_per_merchant, hooks.max_in_flight_per_endpoint),
        (64, 16, 4),
        "one merchant's attempts take a quarter of the slots at most"
    );
    assert_eq!(hooks.redeliveries_per_minute, 60);
    let over = with("[webhooks]\nmax_in_flight = 8\nmax_in_flight_per_merchant = 16");
    assert!(error_of(&over).contains("webhooks.max_in_flight_per_merchant"), "a share larger than the whole");
    let over = with("[webhooks]\nmax_in_flight_per_endpoint = 32");
    assert!(error_of(&over).contains("webhooks.max_in_flight_per_endpoint"));
    assert!(error_of(&with("[webhooks]\nmax_in_flight = 0")).contains("webhooks.max_in_flight"));
    assert!(error_of(&with("[webhooks]\nredeliveries_per_minute = 0")).contains("webhooks.redeliveries_per_minute"));
    let narrow = full("").replace("confirmations = 2", "confirmations = 2\nreorg_window = 1");
    assert!(error_of(&narrow).contains("chains[0].reorg_window"));
    let slow = full("").replace("confirmations = 2", "confirmations = 2\npoll_interval_ms = 5");
    assert!(error_of(&slow).contains("chains[0].poll_interval_ms"));
}

#[test]
fn two_assets_at_one_contract_are_refused() {
    let twice = full("").replace(
        "decimals = 6\n",
        "decimals = 6\n\n[[assets]]\nsymbol = \"USDX\"\nchain_id = 31337\ncontract = \"0xdac17f958d2ee523a2206206994597c13d831ec7\"\ndecimals = 6\n",
    );
    let error = error_of(&twice);
    assert!(error.starts_with("assets[2].contract: "), "{error}");
    assert!(error.contains("already asset USDT"), "{error}");
}

#[test]
fn internal_transfers_and_the_unwatched_check_have_defaults_and_limits() {
    let config = Config::from_toml(&full("")).unwrap();
    assert_eq!((config.chains[0].internal_transfers.as_str(), config.chains[0].unwatched_check_secs), ("off", 10));
    let traced = full("").replace("confirmations = 2", "confirmations = 2\ninternal_transfers = \"debug_trace\"");
    assert_eq!(Config::from_toml(&traced).unwrap().chains[0].internal_transfers, "debug_trace");
    let unknown = full("").replace("confirmations = 2", "confirmations = 2\ninternal_transfers = \"traces\"");
    assert!(error_of(&unknown).starts_with("chains[0].internal_transfers: "));
    let never = full("").replace("confirmations = 2", "confirmations = 2\nunwatched_check_secs = 0");
    assert!(error_of(&never).starts_with("chains[0].unwatched_check_secs: "));
}

#[test]
fn http_limits_have_defaults_and_errors_name_the_field() {
    let config = Config::from_toml(&full("")).unwrap();
    let http = &config.http;
    assert_eq!(
        (http.header_timeout_secs, http.body_timeout_secs, http.idle_timeout_secs, http.write_timeout_secs),
        (10, 30, 75, 30)
    );
    assert_eq!((http.max_connections, http.max_operator_connections), (512, 32));
    assert_eq!(config.operator_listen_addr, None, "/metrics and /healthz stay on listen_addr by default");

    let custom = Config::from_toml(&full(
        "operator_listen_addr = \"127.0.0.1:9100\"\n[http]\nheader_timeout_secs = 2\nmax_connections = 8",
    ))
    .unwrap();
    assert_eq!(custom.operator_listen_addr, Some("127.0.0.1:9100".parse().unwrap()));
    assert_eq!(
        (custom.http.header_timeout_secs, custom.http.max_connections, custom.http.idle_timeout_secs),
        (2, 8, 75)
    );

    for (setting, field) in [
        ("[http]\nheader_timeout_secs = 0", "http.header_timeout_secs"),
        ("[http]\nbody_timeout_secs = 0", "http.body_timeout_secs"),
        ("[http]\nidle_timeout_secs = 99999", "http.idle_timeout_secs"),
        ("[http]\nwrite_timeout_secs = 0", "http.write_timeout_secs"),
        ("[http]\nmax_connections = 0", "http.max_connections"),
        ("[http]\nmax_operator_connections = 0", "http.max_operator_connections"),
        ("operator_listen_addr = \"127.0.0.1:9000\"", "operator_listen_addr"),
    ] {
        let error = error_of(&full(setting));
        assert!(error.starts_with(&format!("{field}: ")), "expected an error naming {field}, got: {error}");
    }
    assert!(error_of(&full("[http]\nread_timeout_secs = 3")).contains("read_timeout_secs"), "unknown keys are refused");
}

#[test]
fn the_operator_address_can_come_from_the_environment() {
    #[allow(clippy::result_large_err)] // figment::Error is large; this is its own test helper
    figment::Jail::expect_with(|jail| {
        jail.set_env("COFFER_OPERATOR_LISTEN_ADDR", "127.0.0.1:9101");
        let config = Config::load(None).map_err(|e| e.to_string())?;
        assert_eq!(config.operator_listen_addr, Some("127.0.0.1:9101".parse().unwrap()));
        Ok(())
    });
}

const IDENTITY: &str = "ed25519:d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a";

fn with_signer(signer: &str, rest: &str) -> String {
    format!(
        "{}\n[signer]\nurl = \"http://10.0.0.2:7070\"\nrequest_key_file = \"/etc/coffer/request.key\"\n\
         identity_key = \"{IDENTITY}\"\n{signer}\n{rest}",
        full("")
    )
}

#[test]
fn the_signer_and_sweeps_load() {
    let config = Config::from_toml(&with_signer(
        "hot_wallet = \"0x00000000000000000000000000000000000000aa\"",
        "[sweeps]\ninterval_secs = 60\n[[sweeps.minimums]]\nasset = \"usdt\"\nchain_id = 31337\namount = \"10.5\"",
    ))
    .unwrap();
    let signer = config.signer.as_ref().unwrap();
    assert_eq!((signer.timeout_secs, signer.control_poll_ms), (10, 2000));
    assert!(!format!("{config:?}").contains("10.0.0.2"), "the signer's URL is redacted");
    let minimums = config.sweep_minimums();
    assert_eq!(minimums.len(), 1);
    assert_eq!(minimums[0].units(), coffer_domain::U256::from(10_500_000u64));
    assert_eq!(config.hot_wallet(), Some(coffer_domain::Address::left_padding_from(&[0xaa])));
    assert!(Config::from_toml(&full("")).unwrap().signer.is_none(), "optional");
}

#[test]
fn signer_and_sweep_errors_name_the_field() {
    let minimum = |asset: &str, amount: &str| {
        format!("[[sweeps.minimums]]\nasset = \"{asset}\"\nchain_id = 31337\namount = \"{amount}\"")
    };
    let cases = [
        (with_signer("", "").replace("http://10.0.0.2:7070", "ftp://x"), "signer.url"),
        (with_signer("", "").replace(IDENTITY, "ed25519:00"), "signer.identity_key"),
        (with_signer("hot_wallet = \"0x12\"", ""), "signer.hot_wallet"),
        (with_signer("timeout_secs = 0", ""), "signer.timeout_secs"),
        (with_signer("control_poll_ms = 5", ""), "signer.control_poll_ms"),
        (with_signer("", &minimum("DOGE", "1")), "sweeps.minimums[0].asset"),
        (with_signer("", &minimum("USDT", "1.0000001")), "sweeps.minimums[0].amount"),
        (with_signer("", &format!("{}\n{}", minimum("USDT", "1"), minimum("usdt", "2"))), "sweeps.minimums[1].asset"),
        (full("operator_token_sha256 = \"abc\""), "operator_token_sha256"),
        (full("").replace("confirmations = 2", "confirmations = 2\ncold_address = \"nope\""), "chains[0].cold_address"),
    ];
    for (toml, field) in cases {
        let err = error_of(&toml);
        assert!(err.starts_with(&format!("{field}:")), "{field}: {err}");
    }
}

/// `full()` with a chain's extra settings and providers appended to it.
fn with_providers(chain_extra: &str, providers: &str) -> String {
    full("").replace("confirmations = 2\n", &format!("confirmations = 2\n{chain_extra}\n{providers}\n"))
}

#[test]
fn providers_load_in_their_roles_and_hide_their_urls() {
    let toml = with_providers(
        "requests_per_second = 10\nrequests_per_day = 100000\nprovider_lag_blocks = 4",
        r#"
[[chains.providers]]
name = "alchemy"
rpc_url = "https://eth.example/v2/secret-key-1"
role = "primary"
requests_per_second = 25

[[chains.providers]]
name = "own-node"
rpc_url = "http://10.0.0.5:8545"
ws_url = "ws://10.0.0.5:8546"
"#,
    );
    let config = Config::from_toml(&toml).unwrap();
    let chain = &config.chains[0];
    assert_eq!(
        (chain.requests_per_second, chain.requests_per_day, chain.provider_lag_blocks),
        (Some(10), Some(100000), 4)
    );
    let roles: Vec<_> = chain.providers.iter().map(|p| (p.name.as_str(), p.role.as_str())).collect();
    assert_eq!(roles, [("alchemy", "primary"), ("own-node", "fallback")]);
    assert_eq!(chain.providers[0].requests_per_second, Some(25));
    let debug = format!("{config:?}");
    assert!(!debug.contains("secret-key-1") && !debug.contains("10.0.0.5"), "{debug}");
    assert_eq!(Config::from_toml(&full("")).unwrap().chains[0].provider_lag_blocks, 8);
}

#[test]
fn provider_errors_name_the_field() {
    let one = |body: &str| format!("[[chains.providers]]\n{body}\n");
    let ok = "rpc_url = \"http://127.0.0.1:8546\"";
    let cases = [
        (with_providers("", &one(&format!("name = \"main\"\n{ok}"))), "chains[0].providers[0].name"),
        (with_providers("", &one(&format!("name = \"a b\"\n{ok}"))), "chains[0].providers[0].name"),
        (
            with_providers(
                "",
                &format!("{}{}", one(&format!("name = \"x\"\n{ok}")), one(&format!("name = \"x\"\n{ok}"))),
            ),
            "chains[0].providers[1].name",
        ),
        (with_providers("", &one("name = \"x\"\nrpc_url = \"ftp://x\"")), "chains[0].providers[0].rpc_url"),
        (
            with_providers("", &one(&format!("name = \"x\"\n{ok}\nws_url = \"http://x\""))),
            "chains[0].providers[0].ws_url",
        ),
        (with_providers("", &one(&format!("name = \"x\"\n{ok}\nrole = \"backup\""))), "chains[0].providers[0].role"),
        (
            with_providers("", &one(&format!("name = \"x\"\n{ok}\nrequests_per_day = 0"))),
            "chains[0].providers[0].requests_per_day",
        ),
        (with_providers("requests_per_second = 0", ""), "chains[0].requests_per_second"),
        (with_providers("provider_lag_blocks = 0", ""), "chains[0].provider_lag_blocks"),
    ];
    for (toml, field) in cases {
        let error = error_of(&toml);
        assert!(error.starts_with(&format!("{field}: ")), "expected an error naming {field}, got: {error}");
    }
}
