//! The local stack behaves as AWS does where it matters: IAM, API Gateway's
//! routing and authorizer, Lambda's runtime and Invoke API, Cognito's trigger
//! machinery, and a template read strictly. These run against a second stack
//! whose template is the project's with a probe function added (a small Python
//! Lambda that shows what it was given), its triggers pointed at the probe, and
//! one permission taken away.

use crate::support::*;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

struct Fidelity {
    stack: Stack,
    probe_dir: PathBuf,
}

static FIDELITY: OnceLock<Fidelity> = OnceLock::new();

const PROBE: &str = r#"
  ProbeFunction:
    Type: AWS::Serverless::Function
    Metadata:
      BuildMethod: rust-cargolambda
      BuildProperties:
        Binary: probe
    Properties:
      CodeUri: .
      Timeout: 1
      LoggingConfig:
        LogFormat: JSON
        ApplicationLogLevel: DEBUG
      Environment:
        Variables:
          PROBE_DIR: "@PROBE_DIR@"
          USER_POOL_ID: !Ref UserPool
          USER_POOL_CLIENT_ID: !Ref UserPoolClient
      Events:
        Greedy: {Type: HttpApi, Properties: {ApiId: !Ref HttpApi, Path: "/probe/{proxy+}", Method: ANY, Auth: {Authorizer: NONE}}}
        Variable: {Type: HttpApi, Properties: {ApiId: !Ref HttpApi, Path: "/probe/{id}", Method: GET, Auth: {Authorizer: NONE}}}
        Exact: {Type: HttpApi, Properties: {ApiId: !Ref HttpApi, Path: /probe/me, Method: GET, Auth: {Authorizer: NONE}}}
        Upload: {Type: HttpApi, Properties: {ApiId: !Ref HttpApi, Path: /probe-upload, Method: POST, Auth: {Authorizer: NONE}}}
        Scoped: {Type: HttpApi, Properties: {ApiId: !Ref HttpApi, Path: /probe-scoped, Method: GET, Auth: {AuthorizationScopes: [gatehouse/admin]}}}

  TriggerProbeFunction:
    Type: AWS::Serverless::Function
    Metadata:
      BuildMethod: rust-cargolambda
      BuildProperties:
        Binary: probe
    Properties:
      CodeUri: .
      Timeout: 15
      Environment:
        Variables:
          PROBE_DIR: "@PROBE_DIR@"

  ReservedProbeFunction:
    Type: AWS::Serverless::Function
    Metadata:
      BuildMethod: rust-cargolambda
      BuildProperties:
        Binary: probe
    Properties:
      CodeUri: .
      Timeout: 15
      ReservedConcurrentExecutions: 1
      Environment:
        Variables:
          PROBE_DIR: "@PROBE_DIR@"
      Events:
        Reserved: {Type: HttpApi, Properties: {ApiId: !Ref HttpApi, Path: /reserved, Method: GET, Auth: {Authorizer: NONE}}}

"#;

/// The project's template with the probe, its triggers on the probe, the login
/// function's `dynamodb:PutItem` taken away, and register logging at TRACE.
fn fidelity_template(probe_dir: &Path) -> String {
    let mut text =
        std::fs::read_to_string(workspace_root().join("template.yaml")).expect("template");
    let login = text.find("  LoginFunction:").expect("LoginFunction");
    let put = login
        + text[login..]
            .find("                - dynamodb:PutItem\n")
            .expect("PutItem");
    text.replace_range(put..put + "                - dynamodb:PutItem\n".len(), "");
    let marker =
        "  # ---------------------------------------------------------------- Cognito triggers";
    let probe = PROBE.replace("@PROBE_DIR@", &probe_dir.display().to_string());
    text = text.replacen(marker, &format!("{probe}{marker}"), 1);
    // Register logs at TRACE: the most a deployment can ask for.
    let register_logs = "      LoggingConfig:\n        LogGroup: !Ref RegisterLogs\n";
    assert!(
        text.contains(register_logs),
        "RegisterFunction's LoggingConfig"
    );
    text = text.replacen(
        register_logs,
        &format!("{register_logs}        LogFormat: JSON\n        ApplicationLogLevel: TRACE\n"),
        1,
    );
    text.replace(
        "PreSignUp: !GetAtt CognitoPreSignupFunction.Arn",
        "PreSignUp: !GetAtt TriggerProbeFunction.Arn",
    )
    .replace(
        "CustomMessage: !GetAtt CognitoCustomMessageFunction.Arn",
        "CustomMessage: !GetAtt TriggerProbeFunction.Arn",
    )
}

/// A folder of the function binaries, with `probe` the Python probe.
fn bin_dir_with_probe(dir: &Path) -> PathBuf {
    let bins = dir.join("bin");
    std::fs::create_dir_all(&bins).expect("bin dir");
    let debug = target_dir().join("debug");
    for entry in std::fs::read_dir(&debug).expect("target/debug").flatten() {
        let path = entry.path();
        if path.is_file() && path.extension().is_none() {
            let _ = std::os::unix::fs::symlink(&path, bins.join(entry.file_name()));
        }
    }
    let probe = workspace_root().join("tests/support/probe_function.py");
    std::os::unix::fs::symlink(probe, bins.join("probe")).expect("link the probe");
    bins
}

fn fidelity() -> &'static Fidelity {
    FIDELITY.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("gatehouse-fidelity-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let probe_dir = dir.join("probe");
        std::fs::create_dir_all(&probe_dir).expect("probe dir");
        let template = dir.join("template.yaml");
        std::fs::write(&template, fidelity_template(&probe_dir)).expect("write the template");
        let bins = bin_dir_with_probe(&dir);
        match launch(&template, &bins, "", "fidelity") {
            Ok(stack) => Fidelity { stack, probe_dir },
            Err(why) => panic!("{why}"),
        }
    })
}

fn at(path: &str) -> String {
    format!("{}{path}", fidelity().stack.url)
}

async fn invoke(function: &str, payload: &Value) -> reqwest::Response {
    http()
        .post(at(&format!("/2015-03-31/functions/{function}/invocations")))
        .json(payload)
        .send()
        .await
        .expect("invoke")
}

/// The event the probe saw for a request through API Gateway.
async fn event_for(request: reqwest::RequestBuilder) -> Value {
    let response = send(request).await;
    assert_eq!(response.status, 200, "{:?}", response.body);
    response.body["event"].clone()
}

async fn register_at(email: &str) -> Response {
    send(
        http()
            .post(at("/auth/register"))
            .json(&json!({"email": email, "password": PASSWORD})),
    )
    .await
}

/// What the probe reports of its environment and invocation.
async fn probe_env() -> Value {
    invoke("ProbeFunction", &json!({"probe": "env"}))
        .await
        .json()
        .await
        .expect("env")
}

fn probe_file(name: &str) -> Vec<Value> {
    std::fs::read_to_string(fidelity().probe_dir.join(name))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

fn stack_log() -> String {
    std::fs::read_to_string(&fidelity().stack.log).unwrap_or_default()
}

#[tokio::test]
async fn a_function_whose_policy_lacks_an_action_gets_access_denied() {
    let email = unique_email("denied");
    let response = send(
        http()
            .post(at("/auth/login"))
            .header(EXPECT_ERROR_HEADER, "the login's role lacks an action")
            .json(&json!({"email": email, "password": PASSWORD})),
    )
    .await;
    assert_eq!(response.status, 500, "{:?}", response.body);
    let log = stack_log();
    assert!(log.contains("IAM denied the call"), "no IAM refusal logged");
    assert!(
        log.contains("dynamodb:PutItem") && log.contains("AccessDeniedException"),
        "the function saw AWS's AccessDeniedException for dynamodb:PutItem"
    );
}

#[tokio::test]
async fn the_most_specific_route_wins_and_path_parameters_arrive_decoded() {
    let exact = event_for(http().get(at("/probe/me"))).await;
    assert_eq!(exact["routeKey"], "GET /probe/me");
    let variable = event_for(http().get(at("/probe/a%40b.com"))).await;
    assert_eq!(variable["routeKey"], "GET /probe/{id}");
    assert_eq!(variable["pathParameters"]["id"], "a@b.com");
    let greedy = event_for(http().get(at("/probe/a/b"))).await;
    assert_eq!(greedy["routeKey"], "ANY /probe/{proxy+}");
    let other_method = event_for(http().delete(at("/probe/me"))).await;
    assert_eq!(other_method["routeKey"], "ANY /probe/{proxy+}");
}

#[tokio::test]
async fn non_text_bodies_arrive_base64_encoded() {
    use base64::Engine;
    let binary = event_for(
        http()
            .post(at("/probe-upload"))
            .header("content-type", "application/octet-stream")
            .body(vec![0u8, 1, 2, 255]),
    )
    .await;
    assert_eq!(binary["isBase64Encoded"], true);
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(binary["body"].as_str().expect("body"))
        .expect("base64");
    assert_eq!(decoded, vec![0u8, 1, 2, 255]);
    let text = event_for(http().post(at("/probe-upload")).json(&json!({"a": 1}))).await;
    assert_eq!(text["isBase64Encoded"], false);
    assert_eq!(text["body"], r#"{"a":1}"#);
}

/// A validly signed access token for the fidelity stack's pool and client.
async fn access_token(scope: &str) -> String {
    let env = probe_env().await;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default();
    sign_token(&json!({
        "sub": "8f452769-9947-4d75-8113-c328cafb5d5f",
        "iss": format!("https://cognito-idp.us-east-1.amazonaws.com/{}", env["env"]["USER_POOL_ID"].as_str().expect("pool")),
        "client_id": env["env"]["USER_POOL_CLIENT_ID"],
        "token_use": "access",
        "scope": scope,
        "iat": now,
        "exp": now + 600,
    }))
}

#[tokio::test]
async fn authorization_scopes_are_enforced_and_the_token_scopes_reach_the_function() {
    let user = send(
        http()
            .get(at("/probe-scoped"))
            .bearer_auth(access_token("aws.cognito.signin.user.admin").await),
    )
    .await;
    assert_eq!(user.status, 403);
    assert_eq!(user.body["message"], "Forbidden");
    let challenge = user.headers["www-authenticate"]
        .to_str()
        .unwrap_or_default();
    assert!(challenge.contains("insufficient_scope"), "{challenge}");
    let admin = event_for(
        http()
            .get(at("/probe-scoped"))
            .bearer_auth(access_token("openid gatehouse/admin").await),
    )
    .await;
    assert_eq!(
        admin["requestContext"]["authorizer"]["jwt"]["scopes"],
        json!(["openid", "gatehouse/admin"])
    );
}

#[tokio::test]
async fn a_function_past_its_own_timeout_is_a_500_and_invoke_says_sandbox_timedout() {
    let response = send(
        http()
            .get(at("/probe/sleep"))
            .header(EXPECT_ERROR_HEADER, "the probe sleeps past its timeout"),
    )
    .await;
    assert_eq!(response.status, 500);
    assert_eq!(response.body, json!({"message": "Internal Server Error"}));
    let invoked = invoke("ProbeFunction", &json!({"probe": "sleep", "seconds": 3})).await;
    assert_eq!(invoked.headers()["x-amz-function-error"], "Unhandled");
    let error: Value = invoked.json().await.expect("error body");
    assert_eq!(error["errorType"], "Sandbox.Timedout");
}

#[tokio::test]
async fn an_invocation_beyond_the_reserved_concurrency_is_throttled_as_lambda_and_api_gateway_answer()
 {
    // The only unit of concurrency is held by a run until the test lets go.
    let marker = unique_email("reserved");
    let hold = json!({"probe": "hold", "seconds": 14, "marker": marker});
    let busy = tokio::spawn(async move { invoke("ReservedProbeFunction", &hold).await });
    let running = eventually(|| async {
        probe_file("holds")
            .iter()
            .any(|s| s["marker"] == marker.as_str())
    })
    .await;
    assert!(running, "the holding run started");
    let throttled = invoke("ReservedProbeFunction", &json!({"probe": "env"})).await;
    assert_eq!(throttled.status(), 429);
    assert_eq!(
        throttled.headers()["x-amzn-errortype"],
        "TooManyRequestsException"
    );
    let body: Value = throttled.json().await.expect("JSON");
    assert_eq!(
        body["Reason"],
        "ReservedFunctionConcurrentInvocationLimitExceeded"
    );
    let through_api = send(
        http()
            .get(at("/reserved"))
            .header(EXPECT_ERROR_HEADER, "Lambda throttles the function"),
    )
    .await;
    assert_eq!(
        through_api.status, 500,
        "API Gateway's answer to a throttle"
    );
    assert_eq!(
        through_api.body,
        json!({"message": "Internal Server Error"})
    );
    std::fs::write(fidelity().probe_dir.join(format!("release-{marker}")), "").expect("let go");
    assert_eq!(busy.await.expect("the run").status(), 200);
    assert_eq!(
        invoke("ReservedProbeFunction", &json!({"probe": "env"}))
            .await
            .status(),
        200,
        "the unit is free again"
    );
}

#[tokio::test]
async fn event_invocations_are_accepted_at_once_and_run_later() {
    let marker = unique_email("event");
    let response = http()
        .post(at("/2015-03-31/functions/ProbeFunction/invocations"))
        .header("x-amz-invocation-type", "Event")
        .json(&json!({"probe": "record", "marker": marker}))
        .send()
        .await
        .expect("invoke");
    assert_eq!(response.status(), 202);
    // Other tests keep the probe busy (some sleep past its timeout), so the
    // event may wait its turn.
    let ran = eventually(|| async {
        let records = probe_file("records");
        (records.iter().any(|r| r["marker"] == marker), records.len())
    })
    .await;
    assert!(ran, "the event invocation never ran");
}

#[tokio::test]
async fn payloads_over_lambdas_limit_are_refused() {
    let huge = json!({"probe": "record", "padding": "x".repeat(6 * 1024 * 1024 + 1)});
    let response = invoke("ProbeFunction", &huge).await;
    assert_eq!(response.status(), 413);
    assert_eq!(
        response.headers()["x-amzn-errortype"],
        "RequestTooLargeException"
    );
}

#[tokio::test]
async fn functions_get_lambdas_environment_and_a_trace_id_per_invocation() {
    let first: Value = probe_env().await;
    let env = &first["env"];
    assert_eq!(env["TZ"], ":UTC");
    assert_eq!(env["AWS_LAMBDA_INITIALIZATION_TYPE"], "on-demand");
    assert_eq!(
        env["AWS_LAMBDA_FUNCTION_NAME"],
        "gatehouse-local-ProbeFunction"
    );
    assert_eq!(
        env["AWS_LAMBDA_LOG_GROUP_NAME"],
        "/aws/lambda/gatehouse-local-ProbeFunction"
    );
    assert_eq!(env["AWS_LAMBDA_LOG_FORMAT"], "JSON");
    assert_eq!(
        env["AWS_LAMBDA_LOG_LEVEL"], "DEBUG",
        "the template's LoggingConfig"
    );
    assert!(Path::new(env["LAMBDA_TASK_ROOT"].as_str().unwrap_or("/nonexistent")).is_dir());
    let trace = first["trace_id"].as_str().unwrap_or_default().to_owned();
    assert!(
        trace.starts_with("Root=1-") && trace.contains(";Parent="),
        "{trace}"
    );
    let second: Value = probe_env().await;
    assert_ne!(
        second["trace_id"], first["trace_id"],
        "a new trace per invocation"
    );
}

#[tokio::test]
async fn cognito_tries_a_timed_out_trigger_again() {
    let email = unique_email("slow-once");
    let response = register_at(&email).await;
    assert_eq!(response.status, 201, "{:?}", response.body);
    assert_eq!(
        probe_file(&format!("attempts-{email}")).len(),
        2,
        "the first attempt timed out after 5 s, the second ran"
    );
}

#[tokio::test]
async fn a_trigger_that_never_answers_in_time_is_a_503_the_caller_may_retry() {
    let email = unique_email("slow-always");
    let response = send(
        http()
            .post(at("/auth/register"))
            .header(
                EXPECT_ERROR_HEADER,
                "the pre sign-up trigger never answers in time",
            )
            .json(&json!({"email": email, "password": PASSWORD})),
    )
    .await;
    assert_eq!(response.status, 503, "{:?}", response.body);
    assert_eq!(response.body["code"], "unavailable");
    assert!(response.headers.contains_key("retry-after"));
    assert!(
        !probe_file(&format!("attempts-{email}")).is_empty(),
        "the trigger was tried"
    );
}

#[tokio::test]
async fn a_custom_message_without_the_code_placeholder_is_refused() {
    let email = unique_email("noplaceholder");
    let response = send(
        http()
            .post(at("/auth/register"))
            .header(
                EXPECT_ERROR_HEADER,
                "the custom message breaks Cognito's rules",
            )
            .json(&json!({"email": email, "password": PASSWORD})),
    )
    .await;
    assert!(response.status >= 500, "{:?}", response.body);
    let outbox = send(http().get(at("/_local/outbox"))).await;
    assert!(
        !outbox
            .body
            .as_array()
            .into_iter()
            .flatten()
            .any(|m| m["to"] == email),
        "no mail without a code"
    );
}

#[tokio::test]
async fn triggers_see_the_username_and_attributes_cognito_sends() {
    let email = unique_email("fields");
    let registered = register_at(&email).await;
    assert_eq!(registered.status, 201, "{:?}", registered.body);
    let sub = user_id_in(&fidelity().stack.moto, &email).await;
    let message = probe_file("triggers")
        .into_iter()
        .find(|e| {
            e["triggerSource"] == "CustomMessage_SignUp"
                && e["request"]["userAttributes"]["email"] == email
        })
        .expect("the custom message trigger ran");
    assert_eq!(
        message["userName"], sub,
        "an email-as-username pool names users by sub"
    );
    let attributes = &message["request"]["userAttributes"];
    assert_eq!(attributes["cognito:user_status"], "UNCONFIRMED");
    assert_eq!(attributes["email_verified"], "false");
    assert_eq!(message["request"]["codeParameter"], "{####}");
    let pre = probe_file("triggers")
        .into_iter()
        .find(|e| {
            e["triggerSource"] == "PreSignUp_SignUp"
                && e["request"]["userAttributes"]["email"] == email
        })
        .expect("the pre sign-up trigger ran");
    assert!(
        uuid_like(pre["userName"].as_str().unwrap_or_default()),
        "{}",
        pre["userName"]
    );
}

fn uuid_like(text: &str) -> bool {
    text.len() == 36 && text.chars().filter(|c| *c == '-').count() == 4
}

#[tokio::test]
async fn pre_sign_up_auto_verify_email_marks_the_email_verified() {
    let email = unique_email("autoverify");
    let registered = register_at(&email).await;
    assert_eq!(registered.status, 201, "{:?}", registered.body);
    assert_eq!(registered.body["confirmed"], true);
    let env: Value = probe_env().await;
    let user: Value = http()
        .post(&fidelity().stack.moto)
        .header("content-type", "application/x-amz-json-1.1")
        .header("x-amz-target", "AWSCognitoIdentityProviderService.AdminGetUser")
        .header(
            "authorization",
            "AWS4-HMAC-SHA256 Credential=test/20260101/us-east-1/cognito-idp/aws4_request, SignedHeaders=host, Signature=0",
        )
        .body(json!({"UserPoolId": env["env"]["USER_POOL_ID"], "Username": email}).to_string())
        .send()
        .await
        .expect("AdminGetUser")
        .json()
        .await
        .expect("user");
    let verified = user["UserAttributes"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|a| a["Name"] == "email_verified" && a["Value"] == "true");
    assert!(verified, "{user}");
}

/// Starts the stack with this template and overrides; it must refuse, saying why.
fn refused_start(template: &str, overrides: &str) -> String {
    let dir = std::env::temp_dir().join(format!("gatehouse-refused-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let path = dir.join(format!("{}.yaml", unique_email("template")));
    std::fs::write(&path, template).expect("write");
    match launch(&path, &target_dir().join("debug"), overrides, "refused") {
        Ok(_) => panic!("the stack started"),
        Err(why) => why,
    }
}

fn project_template() -> String {
    std::fs::read_to_string(workspace_root().join("template.yaml")).expect("template")
}

#[test]
fn a_parameter_override_outside_its_allowed_values_stops_the_stack() {
    let why = refused_start(&project_template(), "Stage=qa");
    assert!(
        why.contains("parameter Stage") && why.contains("AllowedValues"),
        "{why}"
    );
    let why = refused_start(&project_template(), "PasswordMinimumLength=4");
    assert!(why.contains("MinValue"), "{why}");
}

#[test]
fn a_route_without_api_id_or_an_unsupported_intrinsic_stops_the_stack() {
    let without_api = project_template().replacen("            ApiId: !Ref HttpApi\n", "", 1);
    let why = refused_start(&without_api, "");
    assert!(
        why.contains("has no ApiId") && why.contains("RegisterFunction"),
        "{why}"
    );
    let with_select = project_template().replacen(
        "    Timeout: 10\n",
        "    Timeout: !Select [0, [10, 5]]\n",
        1,
    );
    let why = refused_start(&with_select, "");
    assert!(why.contains("Timeout must be a plain number"), "{why}");
    assert!(why.contains("!Select"), "{why}");
    // A condition is decided, but one that names nothing stops the stack.
    let with_if = project_template().replacen(
        "    Timeout: 10\n",
        "    Timeout: !If [NoSuchCondition, 10, 5]\n",
        1,
    );
    let why = refused_start(&with_if, "");
    assert!(why.contains("no condition NoSuchCondition"), "{why}");
}

#[tokio::test]
async fn no_password_reaches_the_logs_even_at_trace_level() {
    let email = unique_email("trace");
    let password = format!("Trace-Secret-{}", email.len() * 7919);
    let response = send(
        http()
            .post(at("/auth/register"))
            .json(&json!({"email": email, "password": password})),
    )
    .await;
    assert_eq!(response.status, 201, "{:?}", response.body);
    let log = stack_log();
    assert!(
        log.contains("\"AWS_LAMBDA_LOG_LEVEL\"") || log.contains("[register]"),
        "the register function's logs are in the stack log"
    );
    assert!(!log.contains(&password), "the password was logged at TRACE");
}
