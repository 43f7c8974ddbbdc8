use gatehouse::http::bodies::PolicyBody;
use gatehouse::http::{caller, json_body, origin, respond};
use gatehouse::services::PolicyAdmin;
use lambda_http::http::StatusCode;
use lambda_http::{Body, Error, Request, RequestExt, Response};

/// `PUT /policies/{id}` `{policy, description?}` → 201 when new, 200 when
/// replaced; a policy that does not parse or validate → 400 with Cedar's message.
pub async fn handle(policies: &PolicyAdmin, req: Request) -> Result<Response<Body>, Error> {
    let id = req
        .path_parameters()
        .first("id")
        .unwrap_or_default()
        .to_owned();
    let from = origin(&req);
    let result = match caller(&req).and_then(|c| Ok((c, json_body::<PolicyBody>(&req)?))) {
        Ok((caller, body)) => {
            policies
                .put(&caller, &id, &body.description, &body.policy, &from)
                .await
        }
        Err(err) => Err(err),
    };
    Ok(match result {
        Ok((policy, true)) => respond(StatusCode::CREATED, Ok(policy)),
        other => respond(StatusCode::OK, other.map(|(policy, _)| policy)),
    })
}
