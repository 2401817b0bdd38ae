use super::*;

const NOW: i64 = 1_800_000_000;

fn post(body: &[u8]) -> RequestParts<'_> {
    RequestParts { method: "POST", path: crate::paths::PAYOUTS, body }
}

fn setup() -> (RequestKey, RequestVerifier) {
    let key = RequestKey::generate().unwrap();
    let verifier = RequestVerifier::new(key.public(), 30);
    (key, verifier)
}

#[test]
fn a_signed_request_verifies_and_carries_its_nonce_and_head() {
    let (key, verifier) = setup();
    let signed = key.sign(&post(b"{}"), NOW, [7; 32]).unwrap();
    let pairs = signed.to_pairs();
    let parsed = SignedHeaders::parse(|name| pairs.iter().find(|(n, _)| *n == name).map(|(_, v)| v.as_str())).unwrap();
    assert_eq!(parsed, signed);
    let ok = verifier.verify(&post(b"{}"), &parsed, NOW + 5).unwrap();
    assert_eq!(ok.audit_head, [7; 32]);
    assert_eq!(ok.nonce, signed.nonce);
    assert_ne!(key.sign(&post(b"{}"), NOW, [7; 32]).unwrap().nonce, signed.nonce, "nonces are random");
}

#[test]
fn anything_changed_after_signing_fails_the_signature() {
    let (key, verifier) = setup();
    let signed = key.sign(&post(b"{\"amount\":\"1\"}"), NOW, [0; 32]).unwrap();
    let tampered = [
        (RequestParts { body: b"{\"amount\":\"9\"}", ..post(b"") }, signed.clone()),
        (RequestParts { path: crate::paths::SWEEPS, ..post(b"{\"amount\":\"1\"}") }, signed.clone()),
        (RequestParts { method: "GET", ..post(b"{\"amount\":\"1\"}") }, signed.clone()),
        (post(b"{\"amount\":\"1\"}"), SignedHeaders { timestamp: NOW + 1, ..signed.clone() }),
        (post(b"{\"amount\":\"1\"}"), SignedHeaders { nonce: [1; 16], ..signed.clone() }),
        (post(b"{\"amount\":\"1\"}"), SignedHeaders { audit_head: [1; 32], ..signed.clone() }),
    ];
    for (parts, headers) in tampered {
        let err = verifier.verify(&parts, &headers, NOW).unwrap_err();
        assert_eq!(err.rule, RuleTag::AuthSignature, "{parts:?}");
    }
    let stranger = RequestKey::generate().unwrap().sign(&post(b"{}"), NOW, [0; 32]).unwrap();
    assert_eq!(verifier.verify(&post(b"{}"), &stranger, NOW).unwrap_err().rule, RuleTag::AuthSignature);
}

#[test]
fn a_request_outside_the_window_is_stale_either_way() {
    let (key, verifier) = setup();
    let signed = key.sign(&post(b""), NOW, [0; 32]).unwrap();
    assert!(verifier.verify(&post(b""), &signed, NOW + 30).is_ok());
    assert!(verifier.verify(&post(b""), &signed, NOW - 30).is_ok());
    assert_eq!(verifier.verify(&post(b""), &signed, NOW + 31).unwrap_err().rule, RuleTag::AuthStale);
    assert_eq!(verifier.verify(&post(b""), &signed, NOW - 31).unwrap_err().rule, RuleTag::AuthStale);
    let far = SignedHeaders { timestamp: i64::MIN, ..key.sign(&post(b""), i64::MIN, [0; 32]).unwrap() };
    assert_eq!(verifier.verify(&post(b""), &far, NOW).unwrap_err().rule, RuleTag::AuthStale);
}

#[test]
fn missing_or_malformed_headers_are_named() {
    let err = SignedHeaders::parse(|_| None).unwrap_err();
    assert_eq!(err.rule, RuleTag::AuthMalformed);
    assert!(err.message.contains(headers::TIMESTAMP), "{err}");
    let (key, _) = setup();
    let pairs = key.sign(&post(b""), NOW, [0; 32]).unwrap().to_pairs();
    for broken in [headers::TIMESTAMP, headers::NONCE, headers::AUDIT_HEAD, headers::SIGNATURE] {
        let err = SignedHeaders::parse(|name| {
            if name == broken { Some("zz") } else { pairs.iter().find(|(n, _)| *n == name).map(|(_, v)| v.as_str()) }
        })
        .unwrap_err();
        assert_eq!(err.rule, RuleTag::AuthMalformed);
        assert!(err.message.contains(broken), "{err}");
    }
}

#[test]
fn answers_verify_only_for_their_request_and_body() {
    let identity = IdentityKey::from_secret(&[9; 32]);
    let verifier = AnswerVerifier(identity.public());
    let signature = identity.sign_answer(200, b"{\"state\":\"broadcast\"}", &[1; 16]);
    assert!(verifier.verify(200, b"{\"state\":\"broadcast\"}", &[1; 16], &signature).is_ok());
    assert!(verifier.verify(200, b"{\"state\":\"broadcast\"}", &[2; 16], &signature).is_err(), "other request");
    assert!(verifier.verify(200, b"{\"state\":\"refused\"}", &[1; 16], &signature).is_err(), "other body");
    assert!(verifier.verify(409, b"{\"state\":\"broadcast\"}", &[1; 16], &signature).is_err(), "other status");
    assert!(verifier.verify(200, b"", &[1; 16], "not hex").is_err());
}

#[test]
fn keys_print_their_public_half_only_and_files_round_trip() {
    let key = RequestKey::generate().unwrap();
    let secret = hex::encode(key.0.to_bytes());
    let debug = format!("{key:?}");
    assert!(!debug.contains(&secret), "{debug}");
    assert!(debug.contains(&key.public().to_string()));
    let public: PublicKey = key.public().to_string().parse().unwrap();
    assert_eq!(public, key.public());
    assert!("ed25519:00".parse::<PublicKey>().is_err());
    assert!(hex::encode([1u8; 32]).parse::<PublicKey>().is_err(), "the prefix is required");

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("request.key");
    key.create_file(&path).unwrap();
    assert!(key.create_file(&path).is_err(), "never overwritten");
    use std::os::unix::fs::PermissionsExt as _;
    assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
    assert_eq!(RequestKey::load_file(&path).unwrap().public(), key.public());
    std::fs::write(&path, "something else").unwrap();
    assert!(RequestKey::load_file(&path).is_err());
}
