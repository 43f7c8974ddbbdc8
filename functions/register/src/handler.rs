use gatehouse::http::bodies::RegisterBody;
use gatehouse::http::{json_endpoint, origin};
use gatehouse::services::SignUpService;
use lambda_http::http::StatusCode;
use lambda_http::{Body, Error, Request, Response};

/// `POST /auth/register` `{email, password, display_name?, locale?}` → 201.
pub async fn handle(auth: &SignUpService, req: Request) -> Result<Response<Body>, Error> {
    let from = &origin(&req);
    Ok(
        json_endpoint(&req, StatusCode::CREATED, |body: RegisterBody| async move {
            auth.register(body.parse(auth.password_policy())?, from)
                .await
        })
        .await,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use gatehouse::testing::InMemoryAuth;
    use gatehouse::testing::{json_of, request, request_with_raw_body};
    use serde_json::json;

    const EVENT: &str = include_str!("../../../events/register.json");

    #[tokio::test]
    async fn the_sample_event_registers_an_unconfirmed_user() {
        let fakes = InMemoryAuth::default();
        let auth = fakes.sign_up();
        let response = handle(&auth, request(EVENT, None)).await.unwrap();
        assert_eq!(response.status(), 201);
        let body = json_of(&response);
        assert_eq!(body["email"], "ada@example.com");
        assert_eq!(body["confirmed"], false);
        assert!(
            body.get("user_id").is_none(),
            "nothing a taken address lacks"
        );
    }

    #[tokio::test]
    async fn a_confirmed_email_registered_again_answers_alike_by_default() {
        let fakes = InMemoryAuth::default();
        let auth = fakes.sign_up();
        let first = handle(&auth, request(EVENT, None)).await.unwrap();
        fakes
            .confirmed_with("ada@example.com", "Correct-Horse-9")
            .await;
        let second = handle(&auth, request(EVENT, None)).await.unwrap();
        assert_eq!(second.status(), 201);
        assert_eq!(json_of(&first), json_of(&second));
    }

    #[tokio::test]
    async fn a_confirmed_email_registered_again_is_409_email_taken_when_the_template_says_so() {
        let fakes = InMemoryAuth::default();
        let auth = fakes.sign_up_revealing_taken();
        handle(&auth, request(EVENT, None)).await.unwrap();
        fakes
            .confirmed_with("ada@example.com", "Correct-Horse-9")
            .await;
        let response = handle(&auth, request(EVENT, None)).await.unwrap();
        assert_eq!(response.status(), 409);
        assert_eq!(json_of(&response)["code"], "email_taken");
    }

    #[tokio::test]
    async fn a_weak_password_is_400_naming_the_rule() {
        let fakes = InMemoryAuth::default();
        let auth = fakes.sign_up();
        let body = json!({"email": "a@example.com", "password": "alllowercase1"});
        let response = handle(&auth, request(EVENT, Some(body))).await.unwrap();
        assert_eq!(response.status(), 400);
        let body = json_of(&response);
        assert_eq!(body["field"], "password");
        assert_eq!(body["detail"], "password must contain an upper-case letter");
    }

    #[tokio::test]
    async fn malformed_json_is_400_problem_json() {
        let fakes = InMemoryAuth::default();
        let auth = fakes.sign_up();
        let response = handle(&auth, request_with_raw_body(EVENT, "{not json"))
            .await
            .unwrap();
        assert_eq!(response.status(), 400);
        assert_eq!(
            response.headers()["content-type"],
            "application/problem+json"
        );
        assert_eq!(json_of(&response)["code"], "malformed_body");
    }

    #[tokio::test]
    async fn a_bad_email_or_locale_is_400_on_that_field() {
        let fakes = InMemoryAuth::default();
        let auth = fakes.sign_up();
        for (body, field) in [
            (json!({"email": "nope", "password": "Password123"}), "email"),
            (
                json!({"email": "a@example.com", "password": "Password123", "locale": "??"}),
                "locale",
            ),
        ] {
            let response = handle(&auth, request(EVENT, Some(body))).await.unwrap();
            assert_eq!(response.status(), 400);
            assert_eq!(json_of(&response)["field"], field);
        }
    }
}
