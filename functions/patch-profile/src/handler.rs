use gatehouse::domain::preferences::ProfilePatch;
use gatehouse::http::{if_match, json_body, profile_endpoint};
use gatehouse::services::ProfileService;
use lambda_http::{Body, Error, Request, Response};

/// `PATCH /users/me` `{display_name?, preferences?}` → 200 with the profile and
/// its new `ETag`; 412 when `If-Match` names a version that has gone.
pub async fn handle(profiles: &ProfileService, req: Request) -> Result<Response<Body>, Error> {
    let expected = if_match(&req);
    let body = json_body::<serde_json::Map<String, serde_json::Value>>(&req)
        .and_then(|body| ProfilePatch::parse(&body));
    Ok(profile_endpoint(&req, |caller| async move {
        profiles.patch_own(&caller, &body?, expected).await
    })
    .await)
}

#[cfg(test)]
mod tests {
    use super::*;
    use gatehouse::adapters::memory::InMemoryProfileStore;
    use gatehouse::domain::ConfirmedUser;
    use gatehouse::testing::{json_of, profile_creator, profile_service, request_as};
    use serde_json::{Value, json};
    use std::sync::Arc;

    const EVENT: &str = include_str!("../../../events/patch-profile.json");
    const ADA: &str = "8f452769-9947-4d75-8113-c328cafb5d5f";

    async fn service() -> ProfileService {
        let store = Arc::new(InMemoryProfileStore::default());
        profile_creator(store.clone())
            .create(
                ConfirmedUser::from_attributes(Some(ADA), Some("ada@example.com"), None).unwrap(),
            )
            .await
            .unwrap();
        profile_service(store, None)
    }

    fn patch(body: Value, etag: Option<&str>) -> Request {
        let mut req = request_as(EVENT, ADA, 1, "token", Some(body));
        if let Some(etag) = etag {
            req.headers_mut().insert("if-match", etag.parse().unwrap());
        }
        req
    }

    #[tokio::test]
    async fn a_change_answers_the_new_profile_with_a_new_etag() {
        let svc = service().await;
        let first = handle(&svc, patch(json!({"display_name": "Ada L."}), None))
            .await
            .unwrap();
        assert_eq!(first.status(), 200);
        assert_eq!(json_of(&first)["display_name"], "Ada L.");
        let etag = first.headers()["etag"].to_str().unwrap().to_owned();
        let second = handle(
            &svc,
            patch(
                json!({"preferences": {"timezone": "Europe/London"}}),
                Some(&etag),
            ),
        )
        .await
        .unwrap();
        assert_eq!(second.status(), 200);
        assert_ne!(second.headers()["etag"].to_str().unwrap(), etag);
        assert_eq!(json_of(&second)["preferences"]["timezone"], "Europe/London");
        assert_eq!(json_of(&second)["display_name"], "Ada L.", "kept");
        let stale = handle(&svc, patch(json!({"display_name": "Stale"}), Some(&etag)))
            .await
            .unwrap();
        assert_eq!(stale.status(), 412);
    }

    #[tokio::test]
    async fn a_field_that_may_not_be_set_is_a_400_naming_it() {
        let svc = service().await;
        let refused = handle(&svc, patch(json!({"roles": ["admin"]}), None))
            .await
            .unwrap();
        assert_eq!(refused.status(), 400);
        assert_eq!(json_of(&refused)["field"], "roles");
    }
}
