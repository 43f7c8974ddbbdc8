//! The JWT authorizer on protected routes, and the functions' own access-token check.

use crate::support::*;
use serde_json::Value;

#[tokio::test]
async fn a_missing_token_is_401() {
    let response = send(http().get(url("/users/me"))).await;
    assert_eq!(response.status, 401);
    assert_eq!(response.body["message"], "Unauthorized");
}

/// API Gateway's challenge: `Bearer scope="" error="invalid_token" error_description="..."`.
fn challenge(response: &Response) -> String {
    response
        .headers
        .get("www-authenticate")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}

#[tokio::test]
async fn a_tampered_token_is_401() {
    let (_, tokens) = signed_up_user("tamper").await;
    let access = tokens["access_token"].as_str().expect("access token");
    let mut parts: Vec<String> = access.split('.').map(str::to_owned).collect();
    let mut claims = claims_of(access);
    claims["sub"] = Value::String("00000000-0000-4000-8000-000000000000".into());
    use base64::Engine;
    parts[1] = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(claims.to_string());
    let response = get_with_token("/users/me", &parts.join(".")).await;
    assert_eq!(response.status, 401);
}

#[tokio::test]
async fn an_expired_token_is_401_though_its_signature_is_valid() {
    let (_, tokens) = signed_up_user("expired").await;
    let mut claims = claims_of(tokens["access_token"].as_str().expect("access token"));
    let now = claims["iat"].as_i64().expect("iat");
    claims["iat"] = (now - 7200).into();
    claims["exp"] = (now - 3600).into();
    let expired = get_with_token("/users/me", &sign_token(&claims)).await;
    assert_eq!(expired.status, 401);
    assert_eq!(
        challenge(&expired),
        r#"Bearer scope="" error="invalid_token" error_description="the token has expired""#
    );
    // The same claims with a live expiry pass: only the expiry was wrong.
    claims["exp"] = (now + 600).into();
    assert_eq!(
        get_with_token("/users/me", &sign_token(&claims))
            .await
            .status,
        200
    );
}

#[tokio::test]
async fn a_token_for_another_client_or_issuer_is_401() {
    let (_, tokens) = signed_up_user("audience").await;
    let claims = claims_of(tokens["access_token"].as_str().expect("access token"));
    let mut other_client = claims.clone();
    other_client["client_id"] = "someotherclient".into();
    let refused = get_with_token("/users/me", &sign_token(&other_client)).await;
    assert_eq!(refused.status, 401);
    assert!(
        challenge(&refused).contains("the token does not have a valid audience"),
        "{}",
        challenge(&refused)
    );
    let mut other_pool = claims;
    other_pool["iss"] = "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_other".into();
    assert_eq!(
        get_with_token("/users/me", &sign_token(&other_pool))
            .await
            .status,
        401
    );
}

#[tokio::test]
async fn an_id_token_passes_the_authorizer_but_the_function_refuses_it() {
    let (_, tokens) = signed_up_user("idtoken").await;
    let response =
        get_with_token("/users/me", tokens["id_token"].as_str().expect("id token")).await;
    assert_eq!(response.status, 401);
    assert_eq!(response.body["code"], "invalid_token");
}

fn b64(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// A token with this header and these claims, signed by `sign` over
/// `header.payload`.
fn forged(header: Value, claims: &Value, sign: impl FnOnce(&[u8]) -> Vec<u8>) -> String {
    let signing_input = format!(
        "{}.{}",
        b64(header.to_string().as_bytes()),
        b64(claims.to_string().as_bytes())
    );
    let signature = sign(signing_input.as_bytes());
    format!("{signing_input}.{}", b64(&signature))
}

#[tokio::test]
async fn forged_algorithms_and_keys_are_401() {
    let (_, tokens) = signed_up_user("forged").await;
    let claims = claims_of(tokens["access_token"].as_str().expect("access token"));
    assert_eq!(
        get_with_token("/users/me", &sign_token(&claims))
            .await
            .status,
        200,
        "the claims themselves are good"
    );
    let unsigned = forged(
        serde_json::json!({"alg": "none", "kid": "dummy"}),
        &claims,
        |_| Vec::new(),
    );
    // HS256 keyed with the public key: the classic algorithm-confusion forgery.
    let jwks = send(http().get(format!(
        "{}/{}/.well-known/jwks.json",
        stack().moto,
        claims["iss"]
            .as_str()
            .and_then(|iss| iss.rsplit('/').next())
            .expect("pool id")
    )))
    .await;
    assert_eq!(jwks.status, 200, "{:?}", jwks.body);
    let public_key = jwks.body.to_string();
    let confused = forged(
        serde_json::json!({"alg": "HS256", "kid": "dummy", "typ": "JWT"}),
        &claims,
        |input| {
            use hmac::{Hmac, KeyInit, Mac};
            let mut mac = Hmac::<sha2::Sha256>::new_from_slice(public_key.as_bytes())
                .expect("any key length");
            mac.update(input);
            mac.finalize().into_bytes().to_vec()
        },
    );
    let mut other_kid = claims.clone();
    other_kid["__header"] = serde_json::json!({"kid": "not-in-the-jwks"});
    let wrong_kid = sign_token(&other_kid);
    for (what, token) in [
        ("alg none", unsigned),
        ("HS256 with the public key", confused),
        ("an unknown kid", wrong_kid),
    ] {
        let response = get_with_token("/users/me", &token).await;
        assert_eq!(response.status, 401, "{what}");
        assert_eq!(response.body["message"], "Unauthorized", "{what}");
        assert!(
            !challenge(&response).contains("dummy"),
            "{what}: the refusal names no key"
        );
    }
}

#[tokio::test]
async fn a_token_not_yet_valid_is_401() {
    let (_, tokens) = signed_up_user("early").await;
    let mut claims = claims_of(tokens["access_token"].as_str().expect("access token"));
    let now = claims["iat"].as_i64().expect("iat");
    let mut later = claims.clone();
    later["nbf"] = (now + 600).into();
    assert_eq!(
        get_with_token("/users/me", &sign_token(&later))
            .await
            .status,
        401,
        "nbf in the future"
    );
    claims["iat"] = (now + 600).into();
    assert_eq!(
        get_with_token("/users/me", &sign_token(&claims))
            .await
            .status,
        401,
        "issued in the future"
    );
}
