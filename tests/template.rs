//! The deployed system as `template.yaml` declares it: linters, routes against the
//! OpenAPI document, build settings, and least-privilege IAM.

mod deployed;

use crate::support::*;
use serde_yaml_ng::Value;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::process::Command;

fn load(name: &str) -> Value {
    let text = std::fs::read_to_string(workspace_root().join(name)).expect(name);
    serde_yaml_ng::from_str(&text).expect(name)
}

fn resources() -> serde_yaml_ng::Mapping {
    load("template.yaml")["Resources"]
        .as_mapping()
        .expect("Resources")
        .clone()
}

fn functions() -> Vec<(String, Value)> {
    resources()
        .into_iter()
        .filter(|(_, r)| r["Type"] == "AWS::Serverless::Function")
        .map(|(id, r)| (id.as_str().unwrap_or_default().to_owned(), r))
        .collect()
}

/// `(METHOD, path)` of every HttpApi event, with whether it is public.
fn template_routes() -> BTreeMap<(String, String), bool> {
    let mut routes = BTreeMap::new();
    for (_, function) in functions() {
        for event in function["Properties"]["Events"]
            .as_mapping()
            .into_iter()
            .flat_map(|m| m.values())
        {
            if event["Type"] != "HttpApi" {
                continue;
            }
            let props = &event["Properties"];
            // No Path or Method: the API's `$default` route (SAM's rule).
            let method = props["Method"].as_str().unwrap_or("ANY").to_uppercase();
            let path = props["Path"].as_str().unwrap_or("$default").to_owned();
            let public = props["Auth"]["Authorizer"] == "NONE";
            routes.insert((method, path), public);
        }
    }
    routes
}

fn run_ok(command: &mut Command, what: &str) {
    let out = command
        .output()
        .unwrap_or_else(|e| panic!("cannot run {what}: {e}"));
    assert!(
        out.status.success(),
        "{what} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn cfn_lint_reports_nothing() {
    run_ok(
        Command::new(tool("venv", "cfn-lint"))
            .current_dir(workspace_root())
            .arg("template.yaml"),
        "cfn-lint",
    );
}

#[test]
fn sam_validate_lint_reports_nothing() {
    run_ok(
        Command::new(tool("sam", "sam"))
            .current_dir(workspace_root())
            .env("SAM_CLI_TELEMETRY", "0")
            .args(["validate", "--lint", "--template", "template.yaml"]),
        "sam validate --lint",
    );
}

#[test]
fn checkov_fails_no_check_but_those_skipped_with_a_reason() {
    run_ok(
        Command::new(tool("checkov", "checkov"))
            .current_dir(workspace_root())
            .args(["-f", "template.yaml", "--config-file", ".checkov.yaml"]),
        "checkov",
    );
    // Each skipped check has its reason in a comment right above it.
    let config = std::fs::read_to_string(workspace_root().join(".checkov.yaml")).expect("config");
    let lines: Vec<&str> = config.lines().collect();
    for (i, line) in lines.iter().enumerate() {
        if line.trim_start().starts_with("- CKV") {
            assert!(
                i > 0 && lines[i - 1].trim_start().starts_with('#'),
                "{line}: say why it is skipped"
            );
        }
    }
}

#[test]
fn openapi_documents_exactly_the_template_routes() {
    let openapi = load("openapi.yaml");
    assert!(
        openapi["openapi"]
            .as_str()
            .is_some_and(|v| v.starts_with("3.1"))
    );
    let mut documented = BTreeMap::new();
    for (path, item) in openapi["paths"].as_mapping().expect("paths") {
        for (method, operation) in item.as_mapping().expect("path item") {
            // A path item also holds what its operations share (`parameters`).
            if method == "parameters" {
                continue;
            }
            let method = method.as_str().expect("method").to_uppercase();
            let public = operation["security"]
                .as_sequence()
                .is_some_and(|s| s.is_empty());
            documented.insert((method, path.as_str().expect("path").to_owned()), public);
        }
    }
    // `$default` answers what no operation does (404, or 405 naming the
    // methods a path takes): not an operation of its own.
    let mut routes = template_routes();
    assert_eq!(
        routes.remove(&("ANY".to_owned(), "$default".to_owned())),
        Some(true),
        "a public $default route"
    );
    assert_eq!(
        documented, routes,
        "openapi.yaml and template.yaml disagree (route -> public)"
    );
}

#[tokio::test]
async fn the_local_stack_serves_exactly_the_template_routes() {
    let served = send(http().get(url("/_local/routes"))).await;
    assert_eq!(served.status, 200);
    let served: BTreeMap<(String, String), bool> = served
        .body
        .as_array()
        .expect("routes")
        .iter()
        .map(|r| {
            (
                (
                    r["method"].as_str().expect("method").to_owned(),
                    r["path"].as_str().expect("path").to_owned(),
                ),
                r["public"].as_bool().expect("public"),
            )
        })
        .collect();
    assert_eq!(
        served,
        template_routes(),
        "the local stack and template.yaml disagree (route -> public)"
    );
}

#[test]
fn every_route_outside_auth_and_docs_requires_the_jwt_authorizer() {
    let api = resources()
        .into_iter()
        .find(|(_, r)| r["Type"] == "AWS::Serverless::HttpApi")
        .expect("an HttpApi")
        .1;
    let default = api["Properties"]["Auth"]["DefaultAuthorizer"]
        .as_str()
        .expect("a default authorizer");
    assert!(api["Properties"]["Auth"]["Authorizers"][default]["JwtConfiguration"].is_mapping());
    for ((method, path), public) in template_routes() {
        // The reference page is public: it shows only what openapi.yaml says.
        // An unsubscribe link works without login: its signed token is the
        // authority (RFC 8058). A health check says only ok or unavailable.
        if !path.starts_with("/auth/")
            && path != "/health"
            && path != "/docs"
            && !path.starts_with("/docs/")
            && path != "/notifications/unsubscribe"
            && path != "$default"
        {
            assert!(!public, "{method} {path} must require a token");
        }
    }
}

#[test]
fn every_function_builds_from_its_own_crate_with_cargo_lambda_and_has_a_sample_event() {
    let globals = &load("template.yaml")["Globals"]["Function"];
    assert_eq!(globals["Runtime"], "provided.al2023");
    let mut binaries = BTreeSet::new();
    for (id, function) in functions() {
        assert_eq!(
            function["Metadata"]["BuildMethod"], "rust-cargolambda",
            "{id}"
        );
        assert_eq!(function["Properties"]["CodeUri"], ".", "{id}");
        assert!(
            function["Properties"]["Runtime"].is_null(),
            "{id} must use the global runtime"
        );
        let binary = function["Metadata"]["BuildProperties"]["Binary"]
            .as_str()
            .expect("Binary")
            .to_owned();
        let manifest = workspace_root()
            .join("functions")
            .join(&binary)
            .join("Cargo.toml");
        let manifest = std::fs::read_to_string(&manifest)
            .unwrap_or_else(|_| panic!("{id}: no crate functions/{binary}"));
        assert!(
            manifest.contains(&format!("name = \"{binary}\"")),
            "{id}: crate name differs from Binary"
        );
        assert!(
            workspace_root()
                .join("events")
                .join(format!("{binary}.json"))
                .exists(),
            "{id}: no events/{binary}.json"
        );
        binaries.insert(binary);
    }
    let crates: BTreeSet<String> = std::fs::read_dir(workspace_root().join("functions"))
        .expect("functions/")
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .collect();
    assert_eq!(
        binaries, crates,
        "every function crate is deployed, and nothing else"
    );
}

/// The IAM actions each function may use: nothing more.
fn expected_actions(binary: &str) -> BTreeSet<&'static str> {
    let actions: &[&str] = match binary {
        // The app client's secret, read at cold start.
        "refresh" => &["cognito-idp:DescribeUserPoolClient", "dynamodb:UpdateItem"],
        // ... and the count of codes tried.
        "confirm" => &[
            "cognito-idp:DescribeUserPoolClient",
            "dynamodb:GetItem",
            "dynamodb:PutItem",
        ],
        // ... and the send limits; a sign-up replaces an unconfirmed account.
        "register" => &[
            "cognito-idp:DescribeUserPoolClient",
            "cognito-idp:AdminGetUser",
            "cognito-idp:AdminDeleteUser",
            "dynamodb:GetItem",
            "dynamodb:PutItem",
        ],
        "forgot-password" | "resend-confirmation" => &[
            "cognito-idp:DescribeUserPoolClient",
            "dynamodb:GetItem",
            "dynamodb:PutItem",
        ],
        "cognito-pre-signup" | "docs" | "no-route" => &[],
        // Spends an SMS pass.
        "cognito-custom-message" => &["dynamodb:DeleteItem"],
        // One read of each dependency.
        "health" => &[
            "dynamodb:GetItem",
            "cognito-idp:DescribeUserPool",
            "sqs:GetQueueAttributes",
        ],
        "login" => &[
            "cognito-idp:DescribeUserPoolClient",
            "dynamodb:GetItem",
            "dynamodb:PutItem",
            "dynamodb:DeleteItem",
            "dynamodb:Query",
            "kms:Encrypt",
            "sqs:SendMessage",
        ],
        // An enrolment: the password check behind the login windows, the
        // caller's cut-off, the sealed secret in their partition.
        "start-totp" => &[
            "cognito-idp:DescribeUserPoolClient",
            "dynamodb:GetItem",
            "dynamodb:PutItem",
            "dynamodb:DeleteItem",
            "dynamodb:UpdateItem",
            "kms:Encrypt",
        ],
        "verify-totp" => &[
            "cognito-idp:DescribeUserPoolClient",
            "dynamodb:GetItem",
            "dynamodb:PutItem",
            "dynamodb:DeleteItem",
            "dynamodb:UpdateItem",
            "kms:Decrypt",
            "sqs:SendMessage",
        ],
        // Turning the app off forgets the user's MFA record.
        "disable-totp" => &[
            "cognito-idp:DescribeUserPoolClient",
            "dynamodb:Query",
            "dynamodb:GetItem",
            "dynamodb:PutItem",
            "dynamodb:DeleteItem",
            "dynamodb:UpdateItem",
            "kms:Decrypt",
            "sqs:SendMessage",
        ],
        "new-recovery-codes" => &[
            "cognito-idp:DescribeUserPoolClient",
            "dynamodb:Query",
            "dynamodb:GetItem",
            "dynamodb:PutItem",
            "dynamodb:DeleteItem",
            "dynamodb:UpdateItem",
            "kms:Decrypt",
            "sqs:SendMessage",
        ],
        // The second step of a sign-in: its challenge record, the recovery
        // codes, the sealed secret opened only for a recovery code.
        "login-mfa" => &[
            "cognito-idp:DescribeUserPoolClient",
            "dynamodb:GetItem",
            "dynamodb:PutItem",
            "dynamodb:DeleteItem",
            "dynamodb:UpdateItem",
            "kms:Decrypt",
            "sqs:SendMessage",
            "kms:Encrypt",
        ],
        // The sessions list: a decision (an admin's read), the caller's
        // partition, the user's sign-ins.
        "list-sessions" => &[
            "dynamodb:BatchGetItem",
            "dynamodb:Query",
            "dynamodb:GetItem",
        ],
        // Ending sessions: the refresh token opened and revoked, the sign-in
        // added to the cut-off and forgotten, the trail.
        "end-session" => &[
            "cognito-idp:DescribeUserPoolClient",
            "dynamodb:BatchGetItem",
            "dynamodb:Query",
            "dynamodb:GetItem",
            "dynamodb:UpdateItem",
            "dynamodb:DeleteItem",
            "dynamodb:PutItem",
            "kms:Decrypt",
        ],
        "end-other-sessions" => &[
            "cognito-idp:DescribeUserPoolClient",
            "dynamodb:Query",
            "dynamodb:GetItem",
            "dynamodb:UpdateItem",
            "dynamodb:DeleteItem",
            "dynamodb:PutItem",
            "kms:Decrypt",
        ],
        "logout" => &[
            "cognito-idp:AdminUserGlobalSignOut",
            "dynamodb:GetItem",
            "dynamodb:PutItem",
            "dynamodb:Query",
            "dynamodb:DeleteItem",
            "dynamodb:UpdateItem",
        ],
        // ... and the notice to the owner.
        // ... and the step-up when an authenticator app is on.
        "change-password" => &[
            "cognito-idp:AdminUserGlobalSignOut",
            "cognito-idp:DescribeUserPoolClient",
            "dynamodb:Query",
            "dynamodb:GetItem",
            "dynamodb:PutItem",
            "dynamodb:DeleteItem",
            "dynamodb:UpdateItem",
            "kms:Decrypt",
            "sqs:SendMessage",
        ],
        "reset-password" => &[
            "sqs:SendMessage",
            "cognito-idp:AdminGetUser",
            "cognito-idp:AdminUserGlobalSignOut",
            "cognito-idp:DescribeUserPoolClient",
            "dynamodb:GetItem",
            "dynamodb:PutItem",
            "dynamodb:Query",
            "dynamodb:DeleteItem",
            "dynamodb:UpdateItem",
        ],
        "get-profile" => &["dynamodb:Query", "dynamodb:PutItem"],
        // Every decision: one BatchGetItem (the policy set's version and the
        // users), the stored policies when their version changed.
        "get-user" => &[
            "dynamodb:BatchGetItem",
            "dynamodb:Query",
            "dynamodb:PutItem",
        ],
        "get-user-roles" | "list-policies" => &["dynamodb:BatchGetItem", "dynamodb:Query"],
        // ... and who sent a notification a check names.
        "check-permission" | "batch-check-permissions" => &[
            "dynamodb:BatchGetItem",
            "dynamodb:Query",
            "dynamodb:GetItem",
        ],
        "put-policy" | "delete-policy" => &[
            "dynamodb:BatchGetItem",
            "dynamodb:Query",
            "dynamodb:PutItem",
            "dynamodb:UpdateItem",
            "dynamodb:DeleteItem",
        ],
        "patch-profile" => &["dynamodb:Query", "dynamodb:PutItem", "dynamodb:UpdateItem"],
        "disable-user" => &[
            "dynamodb:BatchGetItem",
            "cognito-idp:AdminDisableUser",
            "cognito-idp:AdminUserGlobalSignOut",
            "dynamodb:Query",
            "dynamodb:PutItem",
            "dynamodb:UpdateItem",
            "dynamodb:DeleteItem",
        ],
        // The helpdesk's reset: the decision, Cognito's MFA preference, the
        // record forgotten, the trail and the user's notice.
        "reset-user-mfa" => &[
            "dynamodb:BatchGetItem",
            "dynamodb:Query",
            "cognito-idp:AdminSetUserMFAPreference",
            "dynamodb:DeleteItem",
            "dynamodb:PutItem",
            "sqs:SendMessage",
        ],
        "delete-account" => &[
            "cognito-idp:DescribeUserPoolClient",
            "cognito-idp:AdminUserGlobalSignOut",
            "cognito-idp:AdminDeleteUser",
            "dynamodb:GetItem",
            "dynamodb:PutItem",
            "dynamodb:DeleteItem",
            "dynamodb:Query",
            "dynamodb:UpdateItem",
            "kms:Decrypt",
            "sqs:SendMessage",
        ],
        "list-users" | "user-events" => &[
            "dynamodb:BatchGetItem",
            "dynamodb:Query",
            "dynamodb:GetItem",
            "dynamodb:PutItem",
        ],
        "enable-user" => &[
            "dynamodb:BatchGetItem",
            "cognito-idp:AdminEnableUser",
            "dynamodb:Query",
            "dynamodb:UpdateItem",
            "dynamodb:PutItem",
            "dynamodb:DeleteItem",
        ],
        "request-email-change" => &[
            "cognito-idp:DescribeUserPoolClient",
            "cognito-idp:AdminUpdateUserAttributes",
            "dynamodb:Query",
            "dynamodb:UpdateItem",
            "dynamodb:GetItem",
            "dynamodb:PutItem",
            "dynamodb:DeleteItem",
            "kms:Decrypt",
            "sqs:SendMessage",
        ],
        "set-user-roles" => &[
            "dynamodb:BatchGetItem",
            "dynamodb:Query",
            "dynamodb:UpdateItem",
            "dynamodb:PutItem",
            "dynamodb:DeleteItem",
        ],
        "request-phone-change" => &[
            "cognito-idp:DescribeUserPoolClient",
            "cognito-idp:AdminUpdateUserAttributes",
            "dynamodb:Query",
            "dynamodb:UpdateItem",
            "dynamodb:GetItem",
            "dynamodb:PutItem",
        ],
        "verify-phone-change" => &[
            "cognito-idp:DescribeUserPoolClient",
            "dynamodb:GetItem",
            "dynamodb:Query",
            "dynamodb:UpdateItem",
            "dynamodb:PutItem",
        ],
        "verify-email-change" => &[
            "sqs:SendMessage",
            "cognito-idp:AdminUserGlobalSignOut",
            "cognito-idp:DescribeUserPoolClient",
            "dynamodb:GetItem",
            "dynamodb:Query",
            "dynamodb:UpdateItem",
            "dynamodb:PutItem",
            "dynamodb:DeleteItem",
        ],
        "cognito-post-confirmation" => &["dynamodb:PutItem", "sqs:SendMessage"],
        "send-notification" => &[
            "dynamodb:BatchGetItem",
            "dynamodb:Query",
            "dynamodb:PutItem",
            "dynamodb:GetItem",
            "dynamodb:UpdateItem",
            "dynamodb:DeleteItem",
            "sqs:SendMessage",
        ],
        "unsubscribe" => &[
            "dynamodb:Query",
            "dynamodb:UpdateItem",
            "dynamodb:GetItem",
            "dynamodb:PutItem",
        ],
        "get-notification" => &[
            "dynamodb:BatchGetItem",
            "dynamodb:Query",
            "dynamodb:GetItem",
        ],
        "ses-feedback" => &[
            "dynamodb:PutItem",
            "sqs:ReceiveMessage",
            "sqs:DeleteMessage",
            "sqs:GetQueueAttributes",
            "sqs:ChangeMessageVisibility",
        ],
        "notification-delivery" => &[
            "dynamodb:Query",
            "dynamodb:PutItem",
            "dynamodb:GetItem",
            "dynamodb:UpdateItem",
            "dynamodb:DeleteItem",
            "sqs:ReceiveMessage",
            "sqs:DeleteMessage",
            "sqs:GetQueueAttributes",
            "sqs:ChangeMessageVisibility",
            "sqs:SendMessage",
            "ses:SendEmail",
            "sns:Publish",
        ],
        other => panic!("no IAM expectation for {other}: add one to this test"),
    };
    actions.iter().copied().collect()
}

#[test]
fn every_function_gets_only_the_iam_actions_it_uses() {
    for (id, function) in functions() {
        let binary = function["Metadata"]["BuildProperties"]["Binary"]
            .as_str()
            .expect("Binary");
        let mut actions = BTreeSet::new();
        for policy in function["Properties"]["Policies"]
            .as_sequence()
            .into_iter()
            .flatten()
        {
            let statements = policy["Statement"]
                .as_sequence()
                .unwrap_or_else(|| panic!("{id}: inline statements only"));
            for statement in statements {
                // SMS to phone numbers: SNS authorises a direct publish only on "*".
                let sms = statement["Action"] == "sns:Publish";
                if !sms {
                    assert_ne!(statement["Resource"], "*", "{id}: no wildcard resources");
                }
                let on_table = matches!(&statement["Resource"], Value::Tagged(t) if t.value.as_str() == Some("Table.Arn"));
                if on_table {
                    let keys =
                        &statement["Condition"]["ForAllValues:StringLike"]["dynamodb:LeadingKeys"];
                    assert!(
                        keys.as_sequence().is_some_and(|k| !k.is_empty()),
                        "{id}: table access must be limited to its partitions with dynamodb:LeadingKeys"
                    );
                }
                let listed: Vec<&Value> = match &statement["Action"] {
                    Value::Sequence(items) => items.iter().collect(),
                    single => vec![single],
                };
                for action in listed {
                    let action = action.as_str().expect("action");
                    assert!(!action.contains('*'), "{id}: no wildcard actions");
                    actions.insert(action.to_owned());
                }
            }
        }
        let expected: BTreeSet<String> = expected_actions(binary)
            .into_iter()
            .map(str::to_owned)
            .collect();
        assert_eq!(actions, expected, "{id}");
    }
}

/// The environment Lambda gives a function: the globals and its own variables,
/// `!Ref` of a parameter resolved to its default, any other reference to a
/// placeholder.
fn function_environment(function: &Value) -> HashMap<&'static str, &'static str> {
    let template = load("template.yaml");
    let mut env = HashMap::new();
    for variables in [
        &template["Globals"]["Function"]["Environment"]["Variables"],
        &function["Properties"]["Environment"]["Variables"],
    ] {
        for (name, value) in variables.as_mapping().into_iter().flatten() {
            let value = match value {
                // With the defaults, the template's conditions are false.
                Value::Tagged(tagged) if tagged.tag == "If" => {
                    let otherwise = tagged.value.as_sequence().and_then(|s| s.get(2));
                    match otherwise {
                        Some(Value::Tagged(sub)) if sub.tag == "Sub" => {
                            with_placeholders(sub.value.as_str().unwrap_or_default())
                        }
                        other => other.and_then(Value::as_str).unwrap_or_default().to_owned(),
                    }
                }
                // A `!Sub` keeps its text, each `${...}` a placeholder.
                Value::Tagged(tagged) if tagged.tag == "Sub" => {
                    with_placeholders(tagged.value.as_str().unwrap_or_default())
                }
                Value::Tagged(tagged) => {
                    let target = tagged.value.as_str().unwrap_or_default();
                    match &template["Parameters"][target]["Default"] {
                        Value::Number(n) => n.to_string(),
                        Value::String(s) => s.clone(),
                        _ => format!("placeholder-for-{target}"),
                    }
                }
                other => other.as_str().unwrap_or_default().to_owned(),
            };
            let name: &'static str = name.as_str().unwrap_or_default().to_owned().leak();
            env.insert(name, &*value.leak());
        }
    }
    env
}

/// A `!Sub` text with each `${...}` a placeholder.
fn with_placeholders(text: &str) -> String {
    static REFERENCE: std::sync::LazyLock<regex::Regex> =
        std::sync::LazyLock::new(|| regex::Regex::new(r"\$\{[^}]*\}").expect("regex"));
    REFERENCE.replace_all(text, "placeholder").into_owned()
}

/// The one wiring a function's `main.rs` calls on its `AppContext`, if any.
fn wiring_of(binary: &str) -> Option<String> {
    let main =
        std::fs::read_to_string(workspace_root().join(format!("functions/{binary}/src/main.rs")))
            .expect("main.rs");
    let after = main.split_once("AppContext::from_env().await.")?.1;
    Some(after.split('(').next().unwrap_or_default().to_owned())
}

/// Builds the wiring as the function's cold start does, with the environment
/// the template gives it; the AWS services whose clients it built.
fn clients_built(binary: &str, env: HashMap<&'static str, &'static str>) -> Vec<&'static str> {
    use gatehouse::adapters::AwsClients;
    use gatehouse::context::AppContext;
    let Some(wiring) = wiring_of(binary) else {
        return Vec::new();
    };
    let ctx = AppContext::new(AwsClients::unconfigured(), env);
    let wired = match wiring.as_str() {
        "sign_up" => ctx.sign_up().map(drop),
        "login" => ctx.login().map(drop),
        "refresh" => ctx.refresh().map(drop),
        "logout" => ctx.logout().map(drop),
        "session_list" => ctx.session_list().map(drop),
        "sessions" => ctx.sessions().map(drop),
        "forgot_password" => ctx.forgot_password().map(drop),
        "passwords" => ctx.passwords().map(drop),
        "password_reset" => ctx.password_reset().map(drop),
        "confirm_sign_up" => ctx.confirm_sign_up().map(drop),
        "user_admin" => ctx.user_admin().map(drop),
        "own_account" => ctx.own_account().map(drop),
        "user_list" => ctx.user_list().map(drop),
        "audit_trail" => ctx.audit_trail().map(drop),
        "phone" => ctx.phone().map(drop),
        "sms_passes" => ctx.sms_passes().map(drop),
        "roles" => ctx.roles().map(drop),
        "permission_checks" => ctx.permission_checks().map(drop),
        "policy_admin" => ctx.policy_admin().map(drop),
        "delivery_worker" => ctx.delivery_worker().map(drop),
        "notifications" => ctx.notifications().map(drop),
        "notification_status" => ctx.notification_status().map(drop),
        "unsubscribe" => ctx.unsubscribe().map(drop),
        "ses_feedback" => ctx.ses_feedback().map(drop),
        "email_change_verification" => ctx.email_change_verification().map(drop),
        "onboarding" => ctx.onboarding().map(drop),
        "profiles" => ctx.profiles().map(drop),
        "health" => ctx.health().map(drop),
        "totp_start" => ctx.totp_start().map(drop),
        "totp_verify" => ctx.totp_verify().map(drop),
        "mfa_login" => ctx.mfa_login().map(drop),
        "totp_disable" => ctx.totp_disable().map(drop),
        "mfa_reset" => ctx.mfa_reset().map(drop),
        "password_change" => ctx.password_change().map(drop),
        "own_account_stepped_up" => ctx.own_account_stepped_up().map(drop),
        "recovery_codes" => ctx.recovery_codes().map(drop),
        other => panic!("{binary}: unknown wiring {other}: add it to this test"),
    };
    if let Err(err) = wired {
        panic!("{binary}: the template's environment does not start it: {err}");
    }
    ctx.clients()
        .built()
        .into_iter()
        .map(|s| s.iam_prefix())
        .collect()
}

#[test]
fn every_function_builds_only_the_aws_clients_its_iam_policy_allows() {
    for (id, function) in functions() {
        let binary = function["Metadata"]["BuildProperties"]["Binary"]
            .as_str()
            .expect("Binary");
        let allowed: BTreeSet<&str> = expected_actions(binary)
            .into_iter()
            .filter_map(|action| action.split_once(':').map(|(prefix, _)| prefix))
            .collect();
        let built: BTreeSet<&str> = clients_built(binary, function_environment(&function))
            .into_iter()
            .collect();
        for service in &built {
            // Cognito's public APIs (sign-up, login, the user's own token) need
            // no IAM permission; every other client needs its service's actions.
            assert!(
                *service == "cognito-idp" || allowed.contains(service),
                "{id} builds a {service} client its policy does not allow"
            );
        }
        // The SQS event source mapping polls with the function's role: those
        // actions are the mapping's, not calls of the function's own.
        const POLLING: [&str; 4] = [
            "sqs:ReceiveMessage",
            "sqs:DeleteMessage",
            "sqs:GetQueueAttributes",
            "sqs:ChangeMessageVisibility",
        ];
        let polls_only = expected_actions(binary)
            .into_iter()
            .filter(|a| a.starts_with("sqs:"))
            .all(|a| POLLING.contains(&a));
        for service in &allowed {
            if *service == "sqs" && polls_only {
                continue;
            }
            assert!(
                built.contains(service),
                "{id} may call {service} but builds no client for it: drop the permission"
            );
        }
    }
}

#[test]
fn every_route_belongs_to_the_http_api_with_the_authorizer() {
    // Without ApiId, SAM puts a route on an implicit API that has no authorizer.
    for (id, function) in functions() {
        for (name, event) in function["Properties"]["Events"]
            .as_mapping()
            .into_iter()
            .flatten()
        {
            if event["Type"] != "HttpApi" {
                continue;
            }
            let api = &event["Properties"]["ApiId"];
            let named = matches!(api, Value::Tagged(t) if t.tag == "Ref" && t.value == "HttpApi");
            assert!(named, "{id}: event {name:?} must say `ApiId: !Ref HttpApi`");
        }
    }
}

#[test]
fn the_user_pool_uses_email_case_insensitively_and_hides_which_users_exist() {
    let resources = resources();
    let pool = resources
        .values()
        .find(|r| r["Type"] == "AWS::Cognito::UserPool")
        .expect("a user pool");
    assert_eq!(pool["Properties"]["UsernameAttributes"][0], "email");
    assert_eq!(
        pool["Properties"]["UsernameConfiguration"]["CaseSensitive"],
        false
    );
    let client = resources
        .values()
        .find(|r| r["Type"] == "AWS::Cognito::UserPoolClient")
        .expect("a client");
    assert_eq!(
        client["Properties"]["PreventUserExistenceErrors"],
        "ENABLED"
    );
    let flows = client["Properties"]["ExplicitAuthFlows"]
        .as_sequence()
        .expect("flows");
    assert!(flows.contains(&"ALLOW_USER_PASSWORD_AUTH".into()));
    assert!(flows.contains(&"ALLOW_REFRESH_TOKEN_AUTH".into()));
}

#[test]
fn every_wired_trigger_may_be_invoked_by_cognito() {
    let resources = resources();
    let pool = resources
        .values()
        .find(|r| r["Type"] == "AWS::Cognito::UserPool")
        .expect("a user pool");
    let triggers = pool["Properties"]["LambdaConfig"]
        .as_mapping()
        .expect("LambdaConfig");
    assert!(!triggers.is_empty());
    for (trigger, target) in triggers {
        let Value::Tagged(tagged) = target else {
            panic!("{trigger:?} must be !GetAtt <Function>.Arn")
        };
        let function = tagged
            .value
            .as_str()
            .and_then(|s| s.strip_suffix(".Arn"))
            .expect("!GetAtt X.Arn");
        assert_eq!(resources[function]["Type"], "AWS::Serverless::Function");
        let permitted = resources.values().any(|r| {
            r["Type"] == "AWS::Lambda::Permission"
                && r["Properties"]["Principal"] == "cognito-idp.amazonaws.com"
                && matches!(&r["Properties"]["FunctionName"], Value::Tagged(t) if t.value.as_str() == Some(&format!("{function}.Arn")))
        });
        assert!(
            permitted,
            "{function} has no lambda:InvokeFunction permission for Cognito"
        );
    }
}

#[test]
fn cognito_sends_mail_through_the_identity_the_deployer_verified() {
    let resources = resources();
    assert!(
        !resources
            .values()
            .any(|r| r["Type"] == "AWS::SES::EmailIdentity"),
        "an identity made by the stack is unverified, and Cognito refuses it: the first deploy would fail"
    );
    let pool = &resources["UserPool"];
    let email = &pool["Properties"]["EmailConfiguration"];
    assert_eq!(email["EmailSendingAccount"], "DEVELOPER");
    let source = format!("{:?}", email["SourceArn"]);
    for needed in [
        "SenderIdentityNamed",
        "identity/${SenderIdentity}",
        "identity/${SenderEmail}",
    ] {
        assert!(source.contains(needed), "{needed} in {source}");
    }
    let template = load("template.yaml");
    assert_eq!(template["Parameters"]["SenderIdentity"]["Default"], "");
}

#[test]
fn the_pool_and_the_table_refuse_deletion_unless_a_throwaway_stack_says_otherwise() {
    let template = load("template.yaml");
    assert_eq!(
        template["Parameters"]["DeletionProtection"]["Default"],
        "ACTIVE"
    );
    let resources = resources();
    assert_eq!(
        format!(
            "{:?}",
            resources["UserPool"]["Properties"]["DeletionProtection"]
        ),
        format!(
            "{:?}",
            serde_yaml_ng::from_str::<Value>("!Ref DeletionProtection").unwrap()
        )
    );
    let table = format!(
        "{:?}",
        resources["Table"]["Properties"]["DeletionProtectionEnabled"]
    );
    assert!(table.contains("DeletionProtected"), "{table}");
    // The stack policy the README tells deployers to set: no replacement of
    // either, whatever a template change would otherwise do.
    let policy: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(workspace_root().join("deploy/stack-policy.json"))
            .expect("deploy/stack-policy.json"),
    )
    .expect("JSON");
    let deny = policy["Statement"]
        .as_array()
        .expect("statements")
        .iter()
        .find(|s| s["Effect"] == "Deny")
        .expect("a deny");
    assert_eq!(deny["Action"], "Update:Replace");
    let denied = deny["Resource"].to_string();
    for id in ["LogicalResourceId/UserPool", "LogicalResourceId/Table"] {
        assert!(denied.contains(id), "{id} in {denied}");
    }
}

#[test]
fn the_pool_wires_all_three_triggers() {
    let resources = resources();
    let pool = resources
        .values()
        .find(|r| r["Type"] == "AWS::Cognito::UserPool")
        .expect("a user pool");
    let triggers = &pool["Properties"]["LambdaConfig"];
    for trigger in ["PreSignUp", "CustomMessage", "PostConfirmation"] {
        assert!(!triggers[trigger].is_null(), "{trigger} is not wired");
    }
}

#[test]
fn the_table_has_on_demand_billing_recovery_and_ttl() {
    let resources = resources();
    let table = resources
        .values()
        .find(|r| r["Type"] == "AWS::DynamoDB::Table")
        .expect("a table");
    let props = &table["Properties"];
    assert_eq!(props["BillingMode"], "PAY_PER_REQUEST");
    assert_eq!(
        props["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"],
        true
    );
    assert_eq!(props["TimeToLiveSpecification"]["Enabled"], true);
    assert_eq!(
        props["TimeToLiveSpecification"]["AttributeName"],
        "expires_at"
    );
}

#[test]
fn every_problem_code_the_api_can_answer_is_in_openapi() {
    let source = std::fs::read_to_string(workspace_root().join("shared/src/http/problem.rs"))
        .expect("http/problem.rs");
    let pattern = regex::Regex::new(r#"StatusCode::[A-Z_]+,\s*"([a-z_]+)""#).expect("regex");
    let produced: BTreeSet<String> = pattern
        .captures_iter(&source)
        .map(|c| c[1].to_owned())
        .collect();
    assert!(produced.len() > 10, "{produced:?}");
    let spec = load("openapi.yaml");
    let documented: BTreeSet<String> =
        spec["components"]["schemas"]["Problem"]["properties"]["code"]["enum"]
            .as_sequence()
            .expect("code enum")
            .iter()
            .map(|v| v.as_str().expect("code").to_owned())
            .collect();
    let missing: Vec<_> = produced.difference(&documented).collect();
    assert!(
        missing.is_empty(),
        "codes missing from openapi.yaml: {missing:?}"
    );
}

/// The logical id a `!GetAtt X.Arn` or `!Ref X` names.
fn target_of(value: &Value) -> Option<String> {
    match value {
        Value::Tagged(tagged) => tagged
            .value
            .as_str()
            .map(|t| t.split('.').next().unwrap_or(t).to_owned()),
        _ => None,
    }
}

#[test]
fn every_queue_a_function_polls_is_declared_as_lambda_and_sqs_advise() {
    let resources = resources();
    let mut polled = 0;
    for (id, function) in functions() {
        let timeout = function["Properties"]["Timeout"]
            .as_u64()
            .or(load("template.yaml")["Globals"]["Function"]["Timeout"].as_u64())
            .expect("a timeout");
        for (_, event) in function["Properties"]["Events"]
            .as_mapping()
            .into_iter()
            .flatten()
        {
            if event["Type"] != "SQS" {
                continue;
            }
            polled += 1;
            let props = &event["Properties"];
            let queue_id = target_of(&props["Queue"]).expect("Queue: !GetAtt <queue>.Arn");
            let queue = &resources[Value::String(queue_id.clone())]["Properties"];
            let visibility = queue["VisibilityTimeout"].as_u64().unwrap_or(30);
            assert!(
                visibility >= 6 * timeout,
                "{queue_id}: visibility timeout {visibility} s is under six times {id}'s {timeout} s"
            );
            assert_eq!(queue["RedrivePolicy"]["maxReceiveCount"], 5, "{queue_id}");
            let dead_letters =
                target_of(&queue["RedrivePolicy"]["deadLetterTargetArn"]).expect("a DLQ");
            assert_eq!(
                resources[Value::String(dead_letters.clone())]["Type"],
                "AWS::SQS::Queue",
                "{queue_id}'s dead-letter queue"
            );
            assert_eq!(
                props["FunctionResponseTypes"][0], "ReportBatchItemFailures",
                "{id}: partial batch failures"
            );
            assert!(props["BatchSize"].as_u64().is_some(), "{id}: BatchSize");
        }
    }
    assert_eq!(polled, 2, "the delivery worker and the SES feedback");
    let worker =
        &resources["NotificationDeliveryFunction"]["Properties"]["Events"]["Queue"]["Properties"];
    assert!(worker["MaximumBatchingWindowInSeconds"].as_u64().is_some());
    assert!(
        !worker["ScalingConfig"]["MaximumConcurrency"].is_null(),
        "peak shaving that protects the SES sending rate"
    );
    assert_eq!(
        resources["NotificationConfigurationSet"]["Type"],
        "AWS::SES::ConfigurationSet"
    );
    // The producer may send to the delivery queue and nothing else.
    let producer = &resources["SendNotificationFunction"]["Properties"]["Policies"][0]["Statement"];
    let sqs: Vec<&Value> = producer
        .as_sequence()
        .into_iter()
        .flatten()
        .filter(|s| s["Action"].as_str().is_some_and(|a| a.starts_with("sqs:")))
        .collect();
    assert_eq!(sqs.len(), 1);
    assert_eq!(sqs[0]["Action"], "sqs:SendMessage");
    assert_eq!(
        target_of(&sqs[0]["Resource"]).as_deref(),
        Some("NotificationQueue")
    );
}

/// `!Ref X` / `!GetAtt X.Y` as `X` / `X.Y`.
fn reference(value: &Value) -> Option<String> {
    match value {
        Value::Tagged(tagged) => tagged.value.as_str().map(str::to_owned),
        _ => None,
    }
}

/// Every function applies `MfaRequiredRoles` (admins need a second factor by
/// default) and no function sets it otherwise.
#[test]
fn every_function_gets_the_roles_that_need_a_second_factor() {
    let template = load("template.yaml");
    assert_eq!(
        reference(
            &template["Globals"]["Function"]["Environment"]["Variables"]["MFA_REQUIRED_ROLES"]
        )
        .as_deref(),
        Some("MfaRequiredRoles")
    );
    assert_eq!(
        template["Parameters"]["MfaRequiredRoles"]["Default"],
        "admin"
    );
    for (id, function) in functions() {
        assert!(
            function["Properties"]["Environment"]["Variables"]["MFA_REQUIRED_ROLES"].is_null(),
            "{id} sets MFA_REQUIRED_ROLES itself"
        );
    }
}

#[test]
fn every_function_is_traced_and_logs_to_its_own_group_with_retention() {
    let template = load("template.yaml");
    let resources = resources();
    assert_eq!(template["Globals"]["Function"]["Tracing"], "Active");
    assert_eq!(
        reference(&template["Globals"]["Function"]["LoggingConfig"]["ApplicationLogLevel"])
            .as_deref(),
        Some("LogLevel")
    );
    let mut groups = BTreeSet::new();
    for (id, function) in functions() {
        let own = &function["Properties"]["Tracing"];
        assert!(own.is_null() || *own == "Active", "{id} turns tracing off");
        let group = reference(&function["Properties"]["LoggingConfig"]["LogGroup"])
            .unwrap_or_else(|| panic!("{id} names no log group of its own"));
        let declared = &resources[group.as_str()];
        assert_eq!(declared["Type"], "AWS::Logs::LogGroup", "{id}: {group}");
        assert_eq!(
            reference(&declared["Properties"]["RetentionInDays"]).as_deref(),
            Some("LogRetentionDays"),
            "{group} keeps lines for the deployment's retention"
        );
        assert!(groups.insert(group.clone()), "{group} is shared");
    }
    // The API's access log too.
    for (id, resource) in &resources {
        if resource["Type"] == "AWS::Logs::LogGroup" {
            assert!(
                !resource["Properties"]["RetentionInDays"].is_null(),
                "{id:?} keeps lines forever"
            );
        }
    }
}

/// Every alarm: `(logical id, properties)`.
fn alarms() -> Vec<(String, Value)> {
    resources()
        .into_iter()
        .filter(|(_, r)| r["Type"] == "AWS::CloudWatch::Alarm")
        .map(|(id, r)| {
            (
                id.as_str().unwrap_or_default().to_owned(),
                r["Properties"].clone(),
            )
        })
        .collect()
}

/// `Name -> Value` of an alarm's dimensions (references as their target).
fn dimensions(alarm: &Value) -> BTreeMap<String, String> {
    alarm["Dimensions"]
        .as_sequence()
        .into_iter()
        .flatten()
        .map(|d| {
            let value = &d["Value"];
            (
                d["Name"].as_str().unwrap_or_default().to_owned(),
                reference(value).unwrap_or_else(|| value.as_str().unwrap_or_default().to_owned()),
            )
        })
        .collect()
}

#[test]
fn every_alarm_notifies_the_alarm_topic_and_its_email_subscriber() {
    let resources = resources();
    assert_eq!(resources["AlarmTopic"]["Type"], "AWS::SNS::Topic");
    let subscription = &resources["AlarmEmailSubscription"]["Properties"];
    assert_eq!(subscription["Protocol"], "email");
    assert_eq!(
        reference(&subscription["TopicArn"]).as_deref(),
        Some("AlarmTopic")
    );
    assert_eq!(
        reference(&subscription["Endpoint"]).as_deref(),
        Some("AlarmEmail")
    );
    let alarms = alarms();
    assert!(!alarms.is_empty());
    for (id, alarm) in &alarms {
        for key in ["AlarmActions", "OKActions"] {
            let actions: Vec<Option<String>> = alarm[key]
                .as_sequence()
                .into_iter()
                .flatten()
                .map(reference)
                .collect();
            assert_eq!(actions, vec![Some("AlarmTopic".to_owned())], "{id} {key}");
        }
        assert!(
            alarm["AlarmDescription"]
                .as_str()
                .is_some_and(|d| d.contains("docs/operations.md")),
            "{id} says where to read what to do"
        );
        assert_eq!(
            alarm["TreatMissingData"], "notBreaching",
            "{id}: quiet is fine"
        );
    }
}

#[test]
fn every_function_has_an_errors_and_a_throttles_alarm() {
    let alarms = alarms();
    for (id, _) in functions() {
        for metric in ["Errors", "Throttles"] {
            // The pre sign-up trigger refuses denied domains with an error.
            let threshold = if id == "CognitoPreSignupFunction" && metric == "Errors" {
                25
            } else {
                1
            };
            let found = alarms.iter().any(|(_, a)| {
                a["Namespace"] == "AWS/Lambda"
                    && a["MetricName"] == metric
                    && dimensions(a).get("FunctionName") == Some(&id)
                    && a["Threshold"].as_u64() == Some(threshold)
            });
            assert!(found, "{id} has no {metric} alarm at {threshold}");
        }
    }
}

#[test]
fn the_service_alarms_watch_what_they_say() {
    let alarms: BTreeMap<String, Value> = alarms().into_iter().collect();
    let alarm = |id: &str| alarms.get(id).unwrap_or_else(|| panic!("no alarm {id}"));
    // Every message in a dead-letter queue.
    for (id, queue) in [
        (
            "NotificationDeadLettersAlarm",
            "NotificationDeadLetterQueue.QueueName",
        ),
        (
            "SesFeedbackDeadLettersAlarm",
            "SesFeedbackDeadLetterQueue.QueueName",
        ),
    ] {
        let a = alarm(id);
        assert_eq!(a["MetricName"], "ApproximateNumberOfMessagesVisible");
        assert_eq!(dimensions(a)["QueueName"], queue);
        assert_eq!(a["Threshold"].as_u64(), Some(1));
        assert_eq!(a["ComparisonOperator"], "GreaterThanOrEqualToThreshold");
    }
    // The API's 5xx rate and latency, on this stack's API.
    let rate = alarm("ApiServerErrorsAlarm");
    let ids: Vec<String> = rate["Metrics"]
        .as_sequence()
        .expect("metric math")
        .iter()
        .filter_map(|m| {
            m["MetricStat"]["Metric"]["MetricName"]
                .as_str()
                .map(str::to_owned)
        })
        .collect();
    assert_eq!(ids, ["5xx", "Count"]);
    assert_eq!(
        dimensions(&alarm("ApiLatencyAlarm").clone())["ApiId"],
        "HttpApi"
    );
    assert_eq!(alarm("ApiLatencyAlarm")["ExtendedStatistic"], "p99");
    // SES's account reputation.
    assert_eq!(
        alarm("SesBounceRateAlarm")["MetricName"],
        "Reputation.BounceRate"
    );
    assert_eq!(
        alarm("SesComplaintRateAlarm")["MetricName"],
        "Reputation.ComplaintRate"
    );
    // Gatehouse's own metrics: exactly the names and dimensions the functions
    // write (gatehouse::metrics), or the alarm would watch nothing.
    use gatehouse::metrics::{LoginOutcome, Metric, NotificationOutcome, line};
    for (id, metric) in [
        ("LoginLockoutsAlarm", Metric::Login(LoginOutcome::Locked)),
        (
            "NotificationWorkerErrorsAlarm",
            Metric::Notification(NotificationOutcome::Failed),
        ),
    ] {
        let emitted: serde_json::Value =
            serde_json::from_str(&line(metric, 1, "prod", "f", None, 0)).expect("EMF");
        let directive = &emitted["_aws"]["CloudWatchMetrics"][0];
        let a = alarm(id);
        assert_eq!(
            a["Namespace"],
            directive["Namespace"].as_str().unwrap(),
            "{id}"
        );
        assert_eq!(
            a["MetricName"],
            directive["Metrics"][0]["Name"].as_str().unwrap(),
            "{id}"
        );
        let dims = dimensions(a);
        let names: Vec<&str> = directive["Dimensions"][0]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|d| d.as_str())
            .collect();
        assert_eq!(dims.keys().map(String::as_str).collect::<Vec<_>>(), {
            let mut n = names.clone();
            n.sort();
            n
        });
        assert_eq!(dims["Stage"], "Stage", "{id}: this stage's metric");
        assert_eq!(
            dims["Outcome"],
            emitted["Outcome"].as_str().unwrap(),
            "{id}"
        );
    }
}

#[test]
fn the_dashboard_is_json_and_shows_every_metric_and_alarm() {
    let resources = resources();
    let dashboard = &resources["Dashboard"];
    assert_eq!(dashboard["Type"], "AWS::CloudWatch::Dashboard");
    let body = match &dashboard["Properties"]["DashboardBody"] {
        Value::Tagged(sub) => sub.value.as_str().expect("!Sub text").to_owned(),
        other => panic!("DashboardBody: {other:?}"),
    };
    let parsed: serde_json::Value = serde_json::from_str(&body).expect("the body is JSON");
    assert!(parsed["widgets"].as_array().is_some_and(|w| w.len() >= 8));
    for needle in [
        "\"Registrations\"",
        "\"Confirmations\"",
        "\"Logins\"",
        "\"locked\"",
        "\"throttled\"",
        "\"PermissionDecisions\"",
        "\"Notifications\"",
        "\"dead_lettered\"",
        "\"5xx\"",
        "\"Latency\"",
    ] {
        assert!(body.contains(needle), "the dashboard shows no {needle}");
    }
    for (id, _) in alarms() {
        if !id.ends_with("FunctionErrorsAlarm") && !id.ends_with("FunctionThrottlesAlarm") {
            assert!(
                body.contains(&format!("${{{id}.Arn}}")),
                "the dashboard lacks {id}"
            );
        }
    }
}

#[test]
fn the_worker_counts_dead_letters_at_the_queues_own_receive_count() {
    let resources = resources();
    let max = resources["NotificationQueue"]["Properties"]["RedrivePolicy"]["maxReceiveCount"]
        .as_u64()
        .expect("maxReceiveCount");
    let worker =
        &resources["NotificationDeliveryFunction"]["Properties"]["Environment"]["Variables"];
    assert_eq!(
        worker["NOTIFICATION_MAX_RECEIVE_COUNT"].as_str(),
        Some(max.to_string().as_str())
    );
}

#[test]
fn the_operations_guide_explains_every_alarm() {
    let section = std::fs::read_to_string(workspace_root().join("docs/operations.md"))
        .expect("docs/operations.md");
    for (id, _) in alarms() {
        if id.ends_with("FunctionErrorsAlarm") || id.ends_with("FunctionThrottlesAlarm") {
            continue;
        }
        assert!(
            section.contains(&format!("`{id}`")),
            "docs/operations.md does not explain {id}"
        );
    }
    for general in [
        "FunctionErrorsAlarm",
        "FunctionThrottlesAlarm",
        "sam deploy --config-env prod",
        "--base-url",
    ] {
        assert!(
            section.contains(general),
            "docs/operations.md lacks {general}"
        );
    }
}

#[test]
fn openapi_offers_senders_exactly_the_sendable_templates() {
    let spec = load("openapi.yaml");
    let offered: BTreeSet<String> = spec["paths"]["/notifications"]["post"]["requestBody"]
        ["content"]["application/json"]["schema"]["properties"]["template"]["enum"]
        .as_sequence()
        .expect("the template enum")
        .iter()
        .filter_map(|v| v.as_str().map(str::to_owned))
        .collect();
    let folder = workspace_root().join("shared/templates/notifications");
    let mut sendable = BTreeSet::new();
    for entry in std::fs::read_dir(&folder).expect("templates") {
        let dir = entry.expect("entry").path();
        let info: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(dir.join("template.json")).expect("template.json"),
        )
        .expect("JSON");
        let flag = info["sendable"]
            .as_bool()
            .unwrap_or_else(|| panic!("{} says whether it is sendable", dir.display()));
        if flag {
            sendable.insert(
                dir.file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default(),
            );
        }
    }
    assert_eq!(offered, sendable);
}

#[test]
fn a_first_deploy_that_rolls_back_leaves_no_table_or_pool_behind_and_later_ones_keep_them() {
    let resources = resources();
    for id in ["Table", "UserPool"] {
        let resource = &resources[id];
        assert_eq!(
            resource["DeletionPolicy"], "RetainExceptOnCreate",
            "{id}: a rolled-back first create must not leave a fixed name behind"
        );
        assert_eq!(
            resource["UpdateReplacePolicy"], "Retain",
            "{id}: a replacement keeps the old data"
        );
    }
}

#[test]
fn ses_may_publish_bounces_to_the_feedback_topic_and_no_one_else_may() {
    let resources = resources();
    let topic = &resources["SesFeedbackTopic"]["Properties"];
    // SES cannot use the AWS-managed SNS key (checkov's skip says why).
    assert!(topic["KmsMasterKeyId"].is_null(), "{topic:?}");
    let (_, policy) = resources
        .iter()
        .find(|(_, r)| r["Type"] == "AWS::SNS::TopicPolicy")
        .expect("a topic policy");
    let statements = policy["Properties"]["PolicyDocument"]["Statement"]
        .as_sequence()
        .expect("statements");
    assert_eq!(statements.len(), 1);
    let statement = &statements[0];
    assert_eq!(statement["Principal"]["Service"], "ses.amazonaws.com");
    assert_eq!(statement["Action"], "sns:Publish");
    let condition = &statement["Condition"];
    assert!(
        !condition["StringEquals"]["aws:SourceAccount"].is_null(),
        "scoped to the account: {condition:?}"
    );
    assert!(
        !condition["ArnLike"]["aws:SourceArn"].is_null(),
        "scoped to the configuration set: {condition:?}"
    );
    let topics = format!("{:?}", policy["Properties"]["Topics"]);
    assert!(topics.contains("SesFeedbackTopic"), "{topics}");
}

#[test]
fn unsubscribe_links_default_to_the_apis_own_url() {
    let template = load("template.yaml");
    assert_eq!(template["Parameters"]["PublicBaseUrl"]["Default"], "");
    let worker =
        &resources()["NotificationDeliveryFunction"]["Properties"]["Environment"]["Variables"];
    let api_url = format!("{:?}", worker["API_URL"]);
    for needed in [
        "HasCustomDomain",
        "https://${CustomDomainName}",
        "${HttpApi}.execute-api.${AWS::Region}.${AWS::URLSuffix}",
    ] {
        assert!(api_url.contains(needed), "{needed} in {api_url}");
    }
    // The custom domain is served only when named, and mapped to the API.
    let resources = resources();
    for id in ["ApiDomain", "ApiDomainMapping"] {
        assert_eq!(resources[id]["Condition"], "HasCustomDomain", "{id}");
    }
    assert_eq!(template["Parameters"]["CustomDomainName"]["Default"], "");
    // Every environment of samconfig.toml leaves it to that default or names
    // a real https URL: never the example domain.
    let samconfig =
        std::fs::read_to_string(workspace_root().join("samconfig.toml")).expect("samconfig.toml");
    assert!(!samconfig.contains("PublicBaseUrl=https://api.example.com"));
}
