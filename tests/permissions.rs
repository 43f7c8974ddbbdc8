//! Permission checks and Cedar policies through the local stack: the check
//! endpoints for users and services (client-credentials tokens from the local
//! token endpoint), stored policies, and the endpoints that decide through
//! the same engine. Stored policies here name only this test's own principals
//! or roles, so tests sharing the stack do not see each other's.

use crate::support::*;
use serde_json::{Value, json};

async fn login_as(email: &str) -> Value {
    let login = post("/auth/login", json!({"email": email, "password": PASSWORD})).await;
    assert_eq!(login.status, 200, "{:?}", login.body);
    login.body
}

fn access(tokens: &Value) -> String {
    tokens["access_token"]
        .as_str()
        .expect("access token")
        .to_owned()
}

fn sub(token: &str) -> String {
    claims_of(token)["sub"].as_str().expect("sub").to_owned()
}

async fn check(token: &str, body: Value) -> Response {
    send(
        http()
            .post(url("/permissions/check"))
            .bearer_auth(token)
            .json(&body),
    )
    .await
}

fn read_user(id: &str) -> Value {
    json!({"action": "users:read", "resource": {"type": "User", "id": id}})
}

async fn put_policy(token: &str, id: &str, policy: &str) -> Response {
    send(
        http()
            .put(url(&format!("/policies/{id}")))
            .bearer_auth(token)
            .json(&json!({"policy": policy, "description": "a test's policy"})),
    )
    .await
}

async fn delete_policy(token: &str, id: &str) -> Response {
    send(
        http()
            .delete(url(&format!("/policies/{id}")))
            .bearer_auth(token),
    )
    .await
}

fn unique(tag: &str) -> String {
    unique_email(tag)
        .split('@')
        .next()
        .unwrap_or_default()
        .to_ascii_lowercase()
}

#[tokio::test]
async fn owners_admins_others_and_disabled_users_get_the_builtin_answers() {
    let alice = access(&signed_up_user("perm-alice").await.1);
    let (bob_email, bob) = signed_up_user("perm-bob").await;
    let bob = access(&bob);
    let admin = access(&confirmed_login(ADMIN_EMAILS[9]).await);
    let (alice_id, bob_id) = (sub(&alice), sub(&bob));

    let own = check(&alice, read_user(&alice_id)).await;
    assert_eq!(own.status, 200, "{:?}", own.body);
    assert_eq!(own.body["allowed"], true);
    assert_eq!(own.body["decision"], "allow");
    assert_eq!(
        own.body["determining_policies"],
        json!(["builtin-own-account"])
    );
    assert_eq!(own.body["errors"], json!([]));

    let other = check(&alice, read_user(&bob_id)).await;
    assert_eq!(other.status, 200);
    assert_eq!(other.body["allowed"], false);
    assert_eq!(other.body["decision"], "deny");
    assert_eq!(other.body["determining_policies"], json!([]));

    let by_admin = check(&admin, read_user(&bob_id)).await;
    assert_eq!(by_admin.body["allowed"], true);
    assert_eq!(
        by_admin.body["determining_policies"],
        json!(["builtin-admin"])
    );

    // Asking about someone else needs permissions:check, which admins have.
    let mut about_alice = read_user(&bob_id);
    about_alice["principal"] = json!({"type": "User", "id": alice_id});
    let asked = check(&admin, about_alice.clone()).await;
    assert_eq!(asked.status, 200);
    assert_eq!(asked.body["allowed"], false, "alice may not read bob");
    let refused = check(&bob, about_alice).await;
    assert_eq!(refused.status, 403, "{:?}", refused.body);
    assert_eq!(refused.body["code"], "forbidden");

    // A disabled user is denied, whatever else permits it.
    let disabled = send(
        http()
            .post(url(&format!("/users/{bob_id}/disable")))
            .bearer_auth(&admin),
    )
    .await;
    assert_eq!(disabled.status, 204, "{:?}", disabled.body);
    let mut about_bob = read_user(&bob_id);
    about_bob["principal"] = json!({"type": "User", "id": bob_id});
    let denied = check(&admin, about_bob).await;
    assert_eq!(denied.body["allowed"], false, "{:?}", denied.body);
    assert_eq!(
        denied.body["determining_policies"],
        json!(["builtin-disabled"])
    );
    assert_eq!(
        check(&bob, read_user(&bob_id)).await.status,
        401,
        "and their own token is refused"
    );
    assert!(!bob_email.is_empty());
}

#[tokio::test]
async fn a_stored_role_policy_grants_at_once_and_a_revoked_role_denies_at_once() {
    let admin = access(&confirmed_login(ADMIN_EMAILS[10]).await);
    let (support_email, support) = signed_up_user("perm-support").await;
    let support_id = sub(&access(&support));
    let target = sub(&access(&signed_up_user("perm-target").await.1));
    let role = unique("support");
    let policy_id = unique("support-reads");
    let policy = format!(
        r#"permit (principal in Role::"{role}", action == Action::"users:read", resource);"#
    );

    let stored = put_policy(&admin, &policy_id, &policy).await;
    assert_eq!(stored.status, 201, "{:?}", stored.body);
    assert_eq!(stored.body["id"], policy_id.as_str());
    assert_eq!(stored.body["builtin"], false);
    let again = put_policy(&admin, &policy_id, &policy).await;
    assert_eq!(again.status, 200, "a replace, not a create");

    let set_roles = |roles: Value| {
        let admin = admin.clone();
        let support_id = support_id.clone();
        async move {
            send(
                http()
                    .put(url(&format!("/users/{support_id}/roles")))
                    .bearer_auth(&admin)
                    .json(&json!({ "roles": roles })),
            )
            .await
        }
    };
    assert_eq!(set_roles(json!(["user", role])).await.status, 200);
    let support = access(&login_as(&support_email).await);
    let read = get_with_token(&format!("/users/{target}"), &support).await;
    assert_eq!(
        read.status, 200,
        "the endpoint decides by the policy: {:?}",
        read.body
    );
    let allowed = check(&support, read_user(&target)).await;
    assert_eq!(allowed.body["allowed"], true);
    assert_eq!(allowed.body["determining_policies"], json!([policy_id]));

    // Revoked: the very next request is denied (roles are never cached).
    assert_eq!(set_roles(json!(["user"])).await.status, 200);
    assert_eq!(
        get_with_token(&format!("/users/{target}"), &support)
            .await
            .status,
        403
    );
    assert_eq!(
        check(&support, read_user(&target)).await.body["allowed"],
        false
    );

    // Granted again, then the policy deleted: denied at once too.
    assert_eq!(set_roles(json!(["user", role])).await.status, 200);
    assert_eq!(
        check(&support, read_user(&target)).await.body["allowed"],
        true
    );
    assert_eq!(delete_policy(&admin, &policy_id).await.status, 204);
    assert_eq!(
        check(&support, read_user(&target)).await.body["allowed"],
        false
    );
    assert_eq!(delete_policy(&admin, &policy_id).await.status, 404);

    // Each change is in the administrator's own trail.
    let admin_id = sub(&admin);
    let trail = get_with_token(&format!("/users/{admin_id}/events"), &admin).await;
    let actions: Vec<(&str, &str)> = trail.body["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|e| Some((e["action"].as_str()?, e["policy_id"].as_str()?)))
        .collect();
    assert!(
        actions.contains(&("policy_stored", policy_id.as_str())),
        "{actions:?}"
    );
    assert!(
        actions.contains(&("policy_deleted", policy_id.as_str())),
        "{actions:?}"
    );
}

#[tokio::test]
async fn a_forbid_policy_overrides_the_admin_permit_everywhere() {
    let admin = access(&confirmed_login(ADMIN_EMAILS[11]).await);
    let admin_id = sub(&admin);
    let target = sub(&access(&signed_up_user("perm-forbid").await.1));
    let policy_id = unique("no-reads");
    let forbid = format!(
        r#"forbid (principal == User::"{admin_id}", action == Action::"users:read", resource is User) unless {{ resource == principal }};"#
    );
    assert_eq!(put_policy(&admin, &policy_id, &forbid).await.status, 201);
    let denied = check(&admin, read_user(&target)).await;
    assert_eq!(denied.body["allowed"], false);
    assert_eq!(denied.body["determining_policies"], json!([policy_id]));
    assert_eq!(
        get_with_token(&format!("/users/{target}"), &admin)
            .await
            .status,
        403,
        "the endpoint decides by the same engine"
    );
    assert_eq!(
        get_with_token(&format!("/users/{admin_id}"), &admin)
            .await
            .status,
        200,
        "the forbid does not cover the admin's own profile"
    );
    assert_eq!(delete_policy(&admin, &policy_id).await.status, 204);
    assert_eq!(
        get_with_token(&format!("/users/{target}"), &admin)
            .await
            .status,
        200
    );
}

#[tokio::test]
async fn policies_that_do_not_parse_or_validate_are_refused_with_cedars_message() {
    let admin = access(&confirmed_login(ADMIN_EMAILS[12]).await);
    let user = access(&signed_up_user("perm-nonadmin").await.1);

    let unparsable = put_policy(
        &admin,
        &unique("bad"),
        "permit (principal, action, resource",
    )
    .await;
    assert_eq!(unparsable.status, 400, "{:?}", unparsable.body);
    assert_eq!(unparsable.body["field"], "policy");
    assert!(
        unparsable.body["detail"]
            .as_str()
            .unwrap_or_default()
            .contains("does not parse"),
        "{:?}",
        unparsable.body
    );
    let invalid = put_policy(
        &admin,
        &unique("bad"),
        r#"permit (principal, action == Action::"users:read", resource) when { principal.shoe_size > 40 };"#,
    )
    .await;
    assert_eq!(invalid.status, 400);
    let detail = invalid.body["detail"].as_str().unwrap_or_default();
    assert!(
        detail.contains("does not validate") && detail.contains("shoe_size"),
        "{detail}"
    );
    let unknown_action = put_policy(
        &admin,
        &unique("bad"),
        r#"permit (principal, action == Action::"users:teleport", resource);"#,
    )
    .await;
    assert_eq!(unknown_action.status, 400);

    assert_eq!(
        put_policy(
            &admin,
            "builtin-admin",
            "forbid (principal, action, resource);"
        )
        .await
        .status,
        400,
        "built-in policies cannot be replaced"
    );
    assert_eq!(delete_policy(&admin, "builtin-admin").await.status, 400);
    assert_eq!(
        put_policy(
            &user,
            &unique("mine"),
            "permit (principal, action, resource);"
        )
        .await
        .status,
        403,
        "only callers allowed policies:manage"
    );
    assert_eq!(get_with_token("/policies", &user).await.status, 403);

    let listed = get_with_token("/policies", &admin).await;
    assert_eq!(listed.status, 200);
    let builtin_admin = listed.body["items"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|p| p["id"] == "builtin-admin")
        .expect("the built-in admin policy is listed");
    assert_eq!(builtin_admin["builtin"], true);
    assert!(
        builtin_admin["policy"]
            .as_str()
            .unwrap_or_default()
            .contains("Role::\"admin\"")
    );
}

#[tokio::test]
async fn a_batch_answers_in_order_and_service_defined_types_follow_the_schema() {
    let alice = access(&signed_up_user("perm-batch").await.1);
    let alice_id = sub(&alice);
    let other = sub(&access(&signed_up_user("perm-batch-other").await.1));
    let document = |owner: &str| {
        json!({
            "action": "Docs::Action::\"read\"",
            "resource": {
                "type": "Docs::Document",
                "id": "d-1",
                "attributes": {
                    "owner": {"__entity": {"type": "User", "id": owner}},
                    "classification": "internal"
                }
            },
            "context": {"mfa": true}
        })
    };
    let checks = json!({"checks": [
        read_user(&alice_id),
        read_user(&other),
        document(&alice_id),
        read_user(&alice_id),
    ]});
    let batch = send(
        http()
            .post(url("/permissions/batch-check"))
            .bearer_auth(&alice)
            .json(&checks),
    )
    .await;
    assert_eq!(batch.status, 200, "{:?}", batch.body);
    let allowed: Vec<&Value> = batch.body["results"]
        .as_array()
        .expect("results")
        .iter()
        .map(|r| &r["allowed"])
        .collect();
    assert_eq!(
        allowed,
        [&json!(true), &json!(false), &json!(false), &json!(true)]
    );

    let wrong_context = {
        let mut d = document(&alice_id);
        d["context"] = json!({"mfa": "yes"});
        json!({"checks": [read_user(&alice_id), d]})
    };
    let refused = send(
        http()
            .post(url("/permissions/batch-check"))
            .bearer_auth(&alice)
            .json(&wrong_context),
    )
    .await;
    assert_eq!(refused.status, 400, "{:?}", refused.body);
    assert!(
        refused.body["detail"]
            .as_str()
            .unwrap_or_default()
            .contains("item 1"),
        "{:?}",
        refused.body
    );
    let too_many = json!({"checks": vec![read_user(&alice_id); 101]});
    let refused = send(
        http()
            .post(url("/permissions/batch-check"))
            .bearer_auth(&alice)
            .json(&too_many),
    )
    .await;
    assert_eq!(refused.status, 400);

    let unknown_action = check(
        &alice,
        json!({"action": "users:teleport", "resource": {"type": "User", "id": alice_id}}),
    )
    .await;
    assert_eq!(unknown_action.status, 400, "{:?}", unknown_action.body);
    assert_eq!(unknown_action.body["field"], "action");
    let forged_attributes = check(
        &alice,
        json!({"action": "users:read", "resource": {"type": "User", "id": other, "attributes": {"status": "active"}}}),
    )
    .await;
    assert_eq!(
        forged_attributes.status, 400,
        "a User's attributes come from Gatehouse"
    );
}

#[tokio::test]
async fn services_check_with_client_credentials_tokens_and_need_the_scope() {
    let admin = access(&confirmed_login(ADMIN_EMAILS[13]).await);
    let alice_id = sub(&access(&signed_up_user("perm-svc").await.1));
    let (client_id, _) = service_client().await;

    let issued = service_token(Some("gatehouse/permissions.check")).await;
    assert_eq!(issued.status, 200, "{:?}", issued.body);
    assert_eq!(issued.body["token_type"], "Bearer");
    let token = issued.body["access_token"]
        .as_str()
        .expect("token")
        .to_owned();
    let claims = claims_of(&token);
    assert_eq!(claims["sub"], client_id.as_str());
    assert_eq!(claims["scope"], "gatehouse/permissions.check");
    assert!(claims.get("username").is_none());

    // The service asks about a user (built-in: the scope grants permissions:check).
    let mut about_alice = read_user(&alice_id);
    about_alice["principal"] = json!({"type": "User", "id": alice_id});
    let answer = check(&token, about_alice.clone()).await;
    assert_eq!(answer.status, 200, "{:?}", answer.body);
    assert_eq!(answer.body["allowed"], true);

    // A policy can name the service as a principal.
    let policy_id = unique("svc-reads-docs");
    let policy = format!(
        r#"permit (principal == Service::"{client_id}", action == Docs::Action::"read", resource);"#
    );
    assert_eq!(put_policy(&admin, &policy_id, &policy).await.status, 201);
    let own = check(
        &token,
        json!({
            "action": "Docs::Action::\"read\"",
            "resource": {"type": "Docs::Document", "id": "d-9", "attributes": {
                "owner": {"__entity": {"type": "User", "id": alice_id}}, "classification": "public"}},
            "context": {"mfa": false}
        }),
    )
    .await;
    assert_eq!(own.body["allowed"], true, "{:?}", own.body);
    assert_eq!(own.body["determining_policies"], json!([policy_id]));
    assert_eq!(delete_policy(&admin, &policy_id).await.status, 204);

    // Without the route's scope: API Gateway's 403, before any function.
    let other_scope = service_token(Some("gatehouse/notifications.send")).await;
    let unscoped = other_scope.body["access_token"].as_str().expect("token");
    let refused = check(unscoped, about_alice).await;
    assert_eq!(refused.status, 403, "{:?}", refused.body);
    assert_eq!(refused.body["message"], "Forbidden");
    // A service token is no user's: user routes refuse it.
    assert_eq!(get_with_token("/users/me", &token).await.status, 401);

    // The token endpoint's own refusals.
    assert_eq!(
        service_token(Some("gatehouse/admin")).await.body["error"],
        "invalid_scope"
    );
    let wrong_secret = send(
        http()
            .post(url("/oauth2/token"))
            .basic_auth(&client_id, Some("not-the-secret"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form_body(&[("grant_type", "client_credentials")])),
    )
    .await;
    assert_eq!(wrong_secret.status, 400);
    assert_eq!(wrong_secret.body["error"], "invalid_client");
}
