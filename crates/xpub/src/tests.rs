use super::*;

// BIP-32 test vector 1, seed 000102030405060708090a0b0c0d0e0f.
const V1_M_0H: &str =
    "xpub68Gmy5EdvgibQVfPdqkBBCHxA5htiqg55crXYuXoQRKfDBFA1WEjWgP6LHhwBZeNK1VTsfTFUHCdrfp1bgwQ9xv5ski8PX9rL2dZXvgGDnw";
const V1_M_0H_1: &str =
    "xpub6ASuArnXKPbfEwhqN6e3mwBcDTgzisQN1wXN9BJcM47sSikHjJf3UFHKkNAWbWMiGj7Wf5uMash7SyYq527Hqck2AxYysAA7xmALppuCkwQ";
const V1_M_0H_1_2H: &str =
    "xpub6D4BDPcP2GT577Vvch3R8wDkScZWzQzMMUm3PWbmWvVJrZwQY4VUNgqFJPMM3No2dFDFGTsxxpG5uJh7n7epu4trkrX7x7DogT5Uv6fcLW5";
const V1_M_0H_1_2H_2: &str =
    "xpub6FHa3pjLCk84BayeJxFW2SP4XRrFd1JYnxeLeU8EqN3vDfZmbqBqaGJAyiLjTAwm6ZLRQUMv1ZACTj37sR62cfN7fe5JnJ7dh8zL4fiyLHV";
const V1_M_0H_1_2H_2_1E9: &str =
    "xpub6H1LXWLaKsWFhvm6RVpEL9P4KfRZSW7abD2ttkWP3SSQvnyA8FSVqNTEcYFgJS2UaFcxupHiYkro49S8yGasTvXEYBVPamhGW6cFJodrTHy";
const V1_MASTER_XPRV: &str =
    "xprv9s21ZrQH143K3QTDL4LXw2F7HEK3wJUD2nW2nRk4stbPy6cq3jPPqjiChkVvvNKmPGJxWUtg6LnF5kejMRNNU3TGtRBeJgk33yuGBxrMPHi";

fn parse(s: &str) -> ExtendedPublicKey {
    s.parse().unwrap()
}

/// The parent fingerprint is not kept, so compare what derivation produces.
fn assert_same_node(derived: &ExtendedPublicKey, expected: &ExtendedPublicKey) {
    assert_eq!(derived.key, expected.key, "public key");
    assert_eq!(derived.chain_code, expected.chain_code, "chain code");
    assert_eq!(derived.depth, expected.depth, "depth");
    assert_eq!(derived.child_number, expected.child_number, "child number");
}

#[test]
fn public_derivation_matches_bip32_test_vector_1() {
    assert_same_node(&parse(V1_M_0H).derive_child(1).unwrap(), &parse(V1_M_0H_1));
    assert_same_node(&parse(V1_M_0H_1_2H).derive_child(2).unwrap(), &parse(V1_M_0H_1_2H_2));
    assert_same_node(&parse(V1_M_0H_1_2H_2).derive_child(1_000_000_000).unwrap(), &parse(V1_M_0H_1_2H_2_1E9));
}

#[test]
fn refuses_private_keys_and_says_why() {
    assert_eq!(V1_MASTER_XPRV.parse::<ExtendedPublicKey>(), Err(XpubError::PrivateKeyGiven));
    assert_eq!(DepositDeriver::from_xpub(V1_MASTER_XPRV).err(), Some(XpubError::PrivateKeyGiven));
    assert!(XpubError::PrivateKeyGiven.to_string().contains("PRIVATE"));
}

#[test]
fn refuses_garbage_and_wrong_depths() {
    assert_eq!("".parse::<ExtendedPublicKey>().err(), Some(XpubError::NotBase58Check));
    assert_eq!("xpub123".parse::<ExtendedPublicKey>().err(), Some(XpubError::NotBase58Check));
    let mut typo = V1_M_0H.to_owned();
    typo.replace_range(20..21, if &typo[20..21] == "a" { "b" } else { "a" });
    assert_eq!(typo.parse::<ExtendedPublicKey>().err(), Some(XpubError::NotBase58Check));
    // Depth 1 and depth 2 keys are valid xpubs but not where deposit addresses hang.
    assert_eq!(DepositDeriver::from_xpub(V1_M_0H).err(), Some(XpubError::UnexpectedDepth(1)));
    assert_eq!(DepositDeriver::from_xpub(V1_M_0H_1).err(), Some(XpubError::UnexpectedDepth(2)));
    assert_eq!(parse(V1_M_0H).derive_child(1 << 31).err(), Some(XpubError::Hardened(1 << 31)));
}

#[test]
fn account_and_external_chain_xpubs_give_the_same_addresses() {
    // V1_M_0H_1_2H has depth 3: treat it as an account, so /0/i hangs below it.
    let account = DepositDeriver::from_xpub(V1_M_0H_1_2H).unwrap();
    let index = DerivationIndex::try_from(7).unwrap();
    let expected = parse(V1_M_0H_1_2H).derive_child(0).unwrap().derive_child(7).unwrap().address();
    assert_eq!(account.derive(index).unwrap().address, expected);
    let other = DerivationIndex::try_from(8).unwrap();
    assert_ne!(account.derive(index).unwrap().address, account.derive(other).unwrap().address);
}

#[test]
fn debug_does_not_print_the_key() {
    let text = format!("{:?}", parse(V1_M_0H));
    assert!(!text.contains("xpub") && !text.contains("key:"), "{text}");
}
