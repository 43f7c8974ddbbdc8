//! Hostile input through the local stack: every JSON endpoint answers oversized,
//! mistyped, malformed and injected bodies with a 4xx problem, never a 5xx, and
//! never echoes what it was sent.

use crate::support::*;
use serde_json::{Value, json};

/// Each public JSON route with a valid body (fresh addresses each call).
fn routes() -> Vec<(&'static str, Value)> {
    let email = unique_email("input");
    vec![
        (
            "/auth/register",
            json!({"email": email, "password": PASSWORD, "display_name": "Ada", "locale": "en"}),
        ),
        (
            "/auth/confirm",
            json!({"email": email, "code": "123456", "password": PASSWORD}),
        ),
        ("/auth/login", json!({"email": email, "password": PASSWORD})),
        ("/auth/refresh", json!({"refresh_token": "not-a-token"})),
        ("/auth/resend-confirmation", json!({"email": email})),
        ("/auth/password/forgot", json!({"email": email})),
        (
            "/auth/password/reset",
            json!({"email": email, "code": "123456", "new_password": "Another-Horse-7"}),
        ),
    ]
}

async fn post_raw(path: &str, content_type: &str, body: Vec<u8>) -> Response {
    send(
        http()
            .post(url(path))
            .header("content-type", content_type)
            .body(body),
    )
    .await
}

fn assert_problem(response: &Response, status: u16, what: &str) {
    assert_eq!(response.status, status, "{what}: {:?}", response.body);
    assert_eq!(
        response.headers["content-type"], "application/problem+json",
        "{what}"
    );
    assert_eq!(response.body["status"], status, "{what}");
}

#[tokio::test]
async fn oversized_mistyped_and_malformed_bodies_are_4xx_problems() {
    let nested = format!("{}{}", "[".repeat(5_000), "]".repeat(5_000));
    let huge_array = format!("{{\"email\": [{}]}}", vec!["1"; 7_000].join(","));
    for (path, _) in routes() {
        let big = json!({"email": "a".repeat(20 * 1024)})
            .to_string()
            .into_bytes();
        assert_problem(
            &post_raw(path, "application/json", big).await,
            413,
            &format!("{path}: oversized"),
        );
        assert_problem(
            &post_raw(path, "text/plain", b"{}".to_vec()).await,
            415,
            &format!("{path}: text/plain"),
        );
        assert_problem(
            &post_raw(
                path,
                "application/x-www-form-urlencoded",
                b"email=a%40b.example".to_vec(),
            )
            .await,
            415,
            &format!("{path}: a form"),
        );
        for (what, body) in [
            ("invalid UTF-8", vec![b'{', b'"', 0xff, 0xfe, b'"', b'}']),
            ("deep nesting", nested.clone().into_bytes()),
            ("a huge array", huge_array.clone().into_bytes()),
            ("not JSON", b"<xml/>".to_vec()),
            ("empty", Vec::new()),
        ] {
            let response = post_raw(path, "application/json", body).await;
            assert_problem(&response, 400, &format!("{path}: {what}"));
        }
    }
}

#[tokio::test]
async fn injection_strings_in_every_field_are_never_a_5xx_nor_echoed() {
    const HOSTILE: &[&str] = &[
        "<script>alert('Zq9x')</script>",
        "' OR '1'='1' --",
        "${jndi:ldap://127.0.0.1/Zq9x}",
        "{{7*7}}Zq9x",
        "../../../etc/passwd",
        "Zq9x\u{0000}\u{0007}\u{001b}[31m",
        "\u{202e}Zq9x\u{200b}",
        "Zq9x\r\nSet-Cookie: injected=1",
    ];
    for (path, valid) in routes() {
        let fields: Vec<String> = valid.as_object().expect("object").keys().cloned().collect();
        for field in fields {
            for hostile in HOSTILE {
                let (_, fresh) = routes()
                    .into_iter()
                    .find(|(p, _)| *p == path)
                    .expect("route");
                let mut body = fresh;
                body[&field] = Value::String((*hostile).to_owned());
                let response = post(path, body).await;
                let what = format!("{path} {field}={hostile:?}");
                assert!(response.status < 500, "{what}: {:?}", response.body);
                if response.status >= 400 {
                    assert_eq!(
                        response.headers["content-type"], "application/problem+json",
                        "{what}"
                    );
                }
                let echoed = response.body.to_string();
                assert!(
                    !echoed.contains(hostile) && !echoed.contains("Zq9x"),
                    "{what} echoed: {echoed}"
                );
                assert!(
                    !response.headers.contains_key("set-cookie"),
                    "{what}: a header was injected"
                );
            }
        }
    }
}

#[tokio::test]
async fn a_wrong_type_in_a_field_is_a_400_naming_no_input() {
    let response = post(
        "/auth/login",
        json!({"email": {"$ne": null}, "password": ["<b>Zq9x</b>"]}),
    )
    .await;
    assert_problem(&response, 400, "login with objects for strings");
    assert!(!response.body.to_string().contains("Zq9x"));
}
