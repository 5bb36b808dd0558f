use super::*;

const TOKEN: &str = "sidecar-token-for-tests";

fn secret() -> [u8; 32] {
    mac_key(TOKEN)
}

fn fixture(name: &str) -> String {
    let path = format!("{}/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(path).unwrap().trim().to_owned()
}

fn key(kid: &str, n: &str, state: KeyState) -> PublicKey {
    PublicKey {
        kid: kid.into(),
        alg: "RS256".into(),
        n: n.into(),
        e: "AQAB".into(),
        state,
    }
}

fn golden_snapshot() -> PushMessage {
    PushMessage::Snapshot(Snapshot {
        protocol: 1,
        version: 42,
        epoch: "e-1".into(),
        issued_at: 1_790_000_000,
        keys: vec![
            key("k1", "sXch", KeyState::Active),
            key("k0", "u1Zq", KeyState::Retired),
        ],
        policy: Policy {
            issuer: "http://127.0.0.1:8080".into(),
            audience: "client-1".into(),
            access_token_ttl: 86400,
        },
        revocations: vec![
            Revocation {
                kind: RevocationKind::Session,
                id: "s-1".into(),
                tenant_id: None,
                not_before: 1_789_999_990,
                expires_at: 1_790_086_460,
            },
            Revocation {
                kind: RevocationKind::UserInTenant,
                id: "u-1".into(),
                tenant_id: Some("t-1".into()),
                not_before: 1_789_999_991,
                expires_at: 1_790_086_461,
            },
        ],
        restrictions: vec![],
        access_tokens: Default::default(),
    })
}

fn golden_delta() -> PushMessage {
    PushMessage::Delta(Delta {
        protocol: 1,
        base: 42,
        version: 44,
        issued_at: 1_790_000_005,
        keys: Some(vec![key("k2", "zz9q", KeyState::Next)]),
        policy: None,
        revocations: vec![Revocation {
            kind: RevocationKind::User,
            id: "u-2".into(),
            tenant_id: None,
            not_before: 1_790_000_004,
            expires_at: 1_790_086_464,
        }],
        restrictions: vec![],
        access_tokens: Default::default(),
    })
}

#[test]
fn golden_fixtures_decode_and_encode_byte_for_byte() {
    for (name, msg) in [
        ("snapshot-v1.json", golden_snapshot()),
        ("delta-v1.json", golden_delta()),
    ] {
        let text = fixture(name);
        let parsed: PushMessage = serde_json::from_str(&text).unwrap();
        assert_eq!(parsed, msg, "{name}");
        assert_eq!(serde_json::to_string(&msg).unwrap(), text, "{name}");
    }
}

#[test]
fn frames_round_trip() {
    for msg in [
        golden_snapshot(),
        golden_delta(),
        PushMessage::Heartbeat {
            protocol: PROTOCOL,
            version: 7,
            now: 1,
        },
    ] {
        let frame = encode(&secret(), &msg);
        assert_eq!(frame.last(), Some(&b'\n'));
        assert_eq!(decode(&secret(), &frame[..frame.len() - 1]).unwrap(), msg);
    }
}

#[test]
fn damaged_forged_and_foreign_frames_are_refused_whole() {
    let frame = encode(&secret(), &golden_snapshot());
    let body = &frame[..frame.len() - 1];
    // Every single-bit flip anywhere in the frame is caught.
    for i in 0..body.len() {
        for bit in 0..8 {
            let mut bad = body.to_vec();
            bad[i] ^= 1 << bit;
            assert!(
                decode(&secret(), &bad).is_err(),
                "flip at {i}/{bit} accepted"
            );
        }
    }
    // Truncated anywhere.
    for cut in [0, 10, 64, 65, 66, body.len() / 2, body.len() - 1] {
        assert!(decode(&secret(), &body[..cut]).is_err(), "cut at {cut}");
    }
    assert_eq!(
        decode(&mac_key("another-token"), body),
        Err(WireError::BadMac)
    );
    // A correctly authenticated frame with an unknown field, a wrong type or another
    // protocol version is still refused.
    let forge = |json: &str| {
        let tag = hmac::sign(&super::key(&secret()), json.as_bytes());
        format!("{} {json}", hex(tag.as_ref())).into_bytes()
    };
    // Heartbeats tolerate extra fields: nothing in them is acted on.
    let hb = r#"{"type":"heartbeat","protocol":1,"version":1,"now":1,"x":1}"#;
    assert!(decode(&secret(), &forge(hb)).is_ok());
    assert!(matches!(
        decode(
            &secret(),
            &forge(&fixture("delta-v1.json").replace("\"base\"", "\"bass\""))
        ),
        Err(WireError::Invalid(_))
    ));
    assert!(matches!(
        decode(
            &secret(),
            &forge(r#"{"type":"delta","protocol":1,"base":"x","version":2,"issuedAt":1}"#)
        ),
        Err(WireError::Invalid(_))
    ));
    assert_eq!(
        decode(
            &secret(),
            &forge(r#"{"type":"heartbeat","protocol":2,"version":1,"now":1}"#)
        ),
        Err(WireError::Protocol(2))
    );
    let huge = vec![b'a'; MAX_FRAME_BYTES + 1];
    assert!(matches!(
        decode(&secret(), &huge),
        Err(WireError::TooLarge(_))
    ));
}
