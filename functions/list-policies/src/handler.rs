use gatehouse::http::caller_endpoint;
use gatehouse::services::PolicyAdmin;
use lambda_http::http::StatusCode;
use lambda_http::{Body, Error, Request, Response};

/// `GET /policies` → 200 `{items}`: the built-in policies, then the stored ones
/// (callers the policies allow `policies:read`).
pub async fn handle(policies: &PolicyAdmin, req: Request) -> Result<Response<Body>, Error> {
    Ok(caller_endpoint(&req, StatusCode::OK, |caller| async move {
        let items = policies.list(&caller).await?;
        Ok(serde_json::json!({ "items": items }))
    })
    .await)
}
