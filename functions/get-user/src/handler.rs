use gatehouse::http::{path_user_id, profile_endpoint};
use gatehouse::services::ProfileService;
use lambda_http::{Body, Error, Request, Response};

/// `GET /users/{user_id}` → 200 with the profile, for the user themself or a
/// caller allowed to read users; 403 otherwise (for unknown ids too); 404 for
/// an unknown id a reader asks about.
pub async fn handle(profiles: &ProfileService, req: Request) -> Result<Response<Body>, Error> {
    let target = path_user_id(&req);
    Ok(profile_endpoint(&req, |caller| async move {
        profiles.get_for(&caller, target.as_ref()).await
    })
    .await)
}

#[cfg(test)]
mod tests {
    use super::*;
    use gatehouse::adapters::memory::InMemoryProfileStore;
    use gatehouse::domain::ConfirmedUser;
    use gatehouse::testing::{json_of, profile_creator, profile_service, request_as};
    use std::collections::HashMap;
    use std::sync::Arc;

    const EVENT: &str = include_str!("../../../events/get-user.json");
    const ADA: &str = "8f452769-9947-4d75-8113-c328cafb5d5f";
    const ROOT: &str = "11111111-2222-4333-8444-555555555555";
    const NOBODY: &str = "99999999-2222-4333-8444-555555555555";

    async fn service() -> ProfileService {
        let store = Arc::new(InMemoryProfileStore::default());
        let creator = profile_creator(store.clone());
        for (id, email) in [(ADA, "ada@example.com"), (ROOT, "root@example.com")] {
            creator
                .create(ConfirmedUser::from_attributes(Some(id), Some(email), None).unwrap())
                .await
                .unwrap();
        }
        profile_service(store, None)
    }

    fn asking(caller: &str, about: &str) -> Request {
        use lambda_http::RequestExt;
        request_as(EVENT, caller, 1, "token", None)
            .with_path_parameters(HashMap::from([("user_id".to_owned(), about.to_owned())]))
    }

    #[tokio::test]
    async fn a_user_reads_themself_and_an_admin_reads_anyone() {
        let svc = service().await;
        let own = handle(&svc, asking(ADA, ADA)).await.unwrap();
        assert_eq!(own.status(), 200);
        assert_eq!(json_of(&own)["email"], "ada@example.com");
        let by_admin = handle(&svc, asking(ROOT, ADA)).await.unwrap();
        assert_eq!(by_admin.status(), 200);
        assert_eq!(
            handle(&svc, asking(ROOT, NOBODY)).await.unwrap().status(),
            404
        );
        assert_eq!(
            handle(&svc, asking(ROOT, "not-an-id"))
                .await
                .unwrap()
                .status(),
            404
        );
    }

    #[tokio::test]
    async fn others_get_the_same_403_for_known_and_unknown_ids() {
        let svc = service().await;
        let known = handle(&svc, asking(ADA, ROOT)).await.unwrap();
        let unknown = handle(&svc, asking(ADA, NOBODY)).await.unwrap();
        let malformed = handle(&svc, asking(ADA, "x")).await.unwrap();
        assert_eq!(known.status(), 403);
        assert_eq!(json_of(&known), json_of(&unknown));
        assert_eq!(json_of(&known), json_of(&malformed));
    }
}
