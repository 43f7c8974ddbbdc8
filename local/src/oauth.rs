//! The token endpoint a Cognito user pool domain serves (`POST /oauth2/token`),
//! for the OAuth2 client-credentials grant, which moto does not have. Tokens are
//! signed with moto's own key, so the pool's JWKS (and so the JWT authorizer)
//! verifies them exactly as it verifies user tokens; their claims are Cognito's
//! (`sub` and `client_id` are the client, `scope` the granted scopes, no
//! `username`).

use crate::provision::ServiceClient;
use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};
use serde_json::json;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Client-credentials access tokens live as long as the client's
/// `AccessTokenValidity` (the template's service client: 60 minutes).
const TOKEN_LIFETIME_SECS: i64 = 3600;

pub struct TokenEndpoint {
    clients: BTreeMap<String, ServiceClient>,
    key: EncodingKey,
    kid: String,
    region: String,
}

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("cannot find the Python beside {0}: {1}")]
    Python(PathBuf, String),
    #[error("cannot read moto's signing key: {0}")]
    Read(String),
}

/// The interpreter `moto_server` runs on.
fn moto_python(moto_server: &Path) -> Result<PathBuf, KeyError> {
    crate::moto::python_of(moto_server).map_err(|why| KeyError::Python(moto_server.into(), why))
}

/// moto's private signing key (PKCS#1 DER). moto ships only the JWK's `n`, `e`
/// and `d`; the full key (with the primes signing needs) comes from its own
/// `joserfc` and `cryptography`.
async fn moto_signing_key(moto_server: &Path) -> Result<(EncodingKey, String), KeyError> {
    const EXPORT: &str = r#"
import gzip, json, os
import moto.cognitoidp
from joserfc import jwk
path = os.path.join(os.path.dirname(moto.cognitoidp.__file__), "resources", "jwks-private.json.gz")
key = jwk.RSAKey.import_key(json.load(gzip.open(path)))
from cryptography.hazmat.primitives import serialization as s
private = s.load_der_private_key(key.as_der(private=True), None)
pkcs1 = private.private_bytes(s.Encoding.DER, s.PrivateFormat.TraditionalOpenSSL, s.NoEncryption())
import base64
print(json.dumps({"kid": key.kid, "der": base64.b64encode(pkcs1).decode()}))
"#;
    let python = moto_python(moto_server)?;
    let output = tokio::process::Command::new(&python)
        .args(["-c", EXPORT])
        .output()
        .await
        .map_err(|e| KeyError::Read(format!("{}: {e}", python.display())))?;
    if !output.status.success() {
        return Err(KeyError::Read(
            String::from_utf8_lossy(&output.stderr).into_owned(),
        ));
    }
    let exported: serde_json::Value =
        serde_json::from_slice(&output.stdout).map_err(|e| KeyError::Read(e.to_string()))?;
    let der = {
        use base64::Engine;
        base64::engine::general_purpose::STANDARD
            .decode(exported["der"].as_str().unwrap_or_default())
            .map_err(|e| KeyError::Read(e.to_string()))?
    };
    let kid = exported["kid"].as_str().unwrap_or("dummy").to_owned();
    Ok((EncodingKey::from_rsa_der(&der), kid))
}

impl TokenEndpoint {
    /// The clients it issues tokens to, by client id.
    pub fn clients(&self) -> &BTreeMap<String, ServiceClient> {
        &self.clients
    }

    pub async fn new(
        clients: BTreeMap<String, ServiceClient>,
        moto_server: &Path,
        region: &str,
    ) -> Result<Self, KeyError> {
        let (key, kid) = moto_signing_key(moto_server).await?;
        Ok(Self {
            clients,
            key,
            kid,
            region: region.to_owned(),
        })
    }

    /// `POST /oauth2/token`: client authentication by HTTP Basic (or the
    /// form's `client_id`/`client_secret`), `grant_type=client_credentials`,
    /// optional `scope` (space-separated; default: every allowed scope).
    /// Errors are Cognito's: 400 with `{"error": ...}`.
    pub fn issue(&self, headers: &HeaderMap, body: &Bytes) -> Response {
        let form: BTreeMap<String, String> = crate::form::parse(body);
        let basic = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Basic "))
            .and_then(|b| {
                use base64::Engine;
                base64::engine::general_purpose::STANDARD
                    .decode(b.trim())
                    .ok()
            })
            .and_then(|raw| String::from_utf8(raw).ok())
            .and_then(|pair| {
                pair.split_once(':')
                    .map(|(id, secret)| (id.to_owned(), secret.to_owned()))
            });
        let (client_id, secret) = match basic {
            Some(pair) => pair,
            None => match (form.get("client_id"), form.get("client_secret")) {
                (Some(id), Some(secret)) => (id.clone(), secret.clone()),
                _ => return error("invalid_client"),
            },
        };
        let Some(client) = self.clients.get(&client_id) else {
            return error("invalid_client");
        };
        if !constant_time_eq(client.secret.as_bytes(), secret.as_bytes()) {
            return error("invalid_client");
        }
        match form.get("grant_type").map(String::as_str) {
            Some("client_credentials") => {}
            Some(_) => return error("unsupported_grant_type"),
            None => return error("invalid_request"),
        }
        let scopes: Vec<String> = match form.get("scope") {
            Some(asked) => asked.split_whitespace().map(str::to_owned).collect(),
            None => client.scopes.clone(),
        };
        if scopes.is_empty() || scopes.iter().any(|s| !client.scopes.contains(s)) {
            return error("invalid_scope");
        }
        let now = chrono::Utc::now().timestamp();
        let claims = json!({
            "sub": client_id,
            "token_use": "access",
            "scope": scopes.join(" "),
            "auth_time": now,
            "iss": format!("https://cognito-idp.{}.amazonaws.com/{}", self.region, client.pool_id),
            "exp": now + TOKEN_LIFETIME_SECS,
            "iat": now,
            "version": 2,
            "jti": uuid::Uuid::new_v4().to_string(),
            "client_id": client_id,
        });
        let mut header = Header::new(Algorithm::RS256);
        header.kid = Some(self.kid.clone());
        match encode(&header, &claims, &self.key) {
            Ok(token) => (
                StatusCode::OK,
                [(header::CONTENT_TYPE, "application/json")],
                json!({
                    "access_token": token,
                    "expires_in": TOKEN_LIFETIME_SECS,
                    "token_type": "Bearer",
                })
                .to_string(),
            )
                .into_response(),
            Err(err) => {
                tracing::error!(%err, "cannot sign a client-credentials token");
                (StatusCode::INTERNAL_SERVER_ERROR, "signing failed").into_response()
            }
        }
    }
}

fn error(code: &str) -> Response {
    (
        StatusCode::BAD_REQUEST,
        [(header::CONTENT_TYPE, "application/json")],
        json!({ "error": code }).to_string(),
    )
        .into_response()
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
