//! Starts one local stack for the whole test binary and offers small helpers.

use serde_json::{Value, json};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Mutex, OnceLock};

pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default()
}

pub fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .map(|p| {
            if p.is_absolute() {
                p
            } else {
                workspace_root().join(p)
            }
        })
        .unwrap_or_else(|| workspace_root().join("target"))
}

/// A tool `make test` installs into `.tools/`.
pub fn tool(venv: &str, name: &str) -> PathBuf {
    let path = workspace_root()
        .join(".tools")
        .join(venv)
        .join("bin")
        .join(name);
    assert!(
        path.exists(),
        "{} is missing: run `make test`, which installs it",
        path.display()
    );
    path
}

pub struct Stack {
    pub url: String,
    pub moto: String,
    pub log: PathBuf,
    // Kept open for the life of the test binary: the stack exits when it closes.
    _stdin: Mutex<ChildStdin>,
    _child: Mutex<Child>,
}

static STACK: OnceLock<Stack> = OnceLock::new();

pub fn stack() -> &'static Stack {
    STACK.get_or_init(start_stack)
}

fn start_stack() -> Stack {
    let bin_dir = target_dir().join("debug");
    // Every test calls from 127.0.0.1, so the per-source-IP limits are raised
    // here (tests of those limits call from other loopback addresses), and so is
    // the API's route throttling (a test of its own has a stack of its own).
    let overrides = format!(
        "SignUpAutoConfirmDomains={AUTO_CONFIRM_DOMAIN} SendsPerSourceIp=100000 LoginFailuresPerSourceIp=100000 \
         ApiThrottlingRateLimit=100000 ApiThrottlingBurstLimit=100000 AdminEmails={}",
        ADMIN_EMAILS.join(",")
    );
    match launch(
        &workspace_root().join("template.yaml"),
        &bin_dir,
        &overrides,
        "main",
    ) {
        Ok(stack) => stack,
        Err(why) => panic!("{why}"),
    }
}

/// Alarms never fire locally, but a template that declares `AlarmEmail`
/// requires an address (it has no default).
fn with_alarm_email(template: &Path, overrides: &str) -> String {
    let text = std::fs::read_to_string(template).unwrap_or_default();
    if text.contains("\n  AlarmEmail:") && !overrides.contains("AlarmEmail=") {
        format!("AlarmEmail=alarms@example.com {overrides}")
    } else {
        overrides.to_owned()
    }
}

/// Starts `gatehouse-local` on free ports with this template, binaries and
/// parameter overrides; `Err` with its log when it does not come up.
pub fn launch(
    template: &Path,
    bin_dir: &Path,
    overrides: &str,
    label: &str,
) -> Result<Stack, String> {
    let binary = target_dir().join("debug").join("gatehouse-local");
    assert!(
        binary.exists(),
        "{} is missing: run `make test`, which builds every binary first",
        binary.display()
    );
    let log = target_dir().join(format!(
        "local-stack-test-{}-{label}.log",
        std::process::id()
    ));
    let log_file = std::fs::File::create(&log).expect("create the stack log");
    let mut child = Command::new(&binary)
        .current_dir(workspace_root())
        .args(["--port", "0", "--exit-with-stdin", "--template"])
        .arg(template)
        .arg("--parameter-overrides")
        .arg(with_alarm_email(template, overrides))
        .arg("--bin-dir")
        .arg(bin_dir)
        .arg("--moto-server")
        .arg(tool("venv", "moto_server"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(log_file)
        .spawn()
        .expect("start the local stack");
    let stdout = child.stdout.take().expect("stack stdout");
    let mut line = String::new();
    BufReader::new(stdout)
        .read_line(&mut line)
        .expect("read the ready line");
    let Some(rest) = line
        .trim()
        .strip_prefix("Gatehouse local stack ready on ")
        .map(str::to_owned)
    else {
        let _ = child.wait();
        let log_text = std::fs::read_to_string(&log).unwrap_or_default();
        return Err(format!(
            "the local stack did not start: {line:?}\n{log_text}"
        ));
    };
    let (url, moto) = rest
        .split_once(" (moto on ")
        .expect("ready line names moto");
    Ok(Stack {
        url: url.to_owned(),
        moto: moto.trim_end_matches(')').to_owned(),
        log,
        _stdin: Mutex::new(child.stdin.take().expect("stack stdin")),
        _child: Mutex::new(child),
    })
}

/// The header by which a test says it asks for a 5xx (the suite's final scan
/// of the stacks' logs passes over those; `local/src/gateway.rs`).
pub const EXPECT_ERROR_HEADER: &str = "x-gatehouse-local-expect-error";

/// An HTTP client whose requests come from another loopback address, as
/// another source IP reaches API Gateway.
pub fn from_address(last: u8) -> reqwest::Client {
    reqwest::Client::builder()
        .local_address(std::net::IpAddr::V4(std::net::Ipv4Addr::new(
            127, 0, 0, last,
        )))
        .build()
        .expect("client")
}

pub fn http() -> reqwest::Client {
    reqwest::Client::new()
}

pub fn url(path: &str) -> String {
    format!("{}{path}", stack().url)
}

/// An address no other test uses.
pub fn unique_email(tag: &str) -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or_default();
    format!("{tag}-{}-{n}-{nanos}@example.com", std::process::id())
}

pub const PASSWORD: &str = "Correct-Horse-9";

/// The main stack's `AdminEmails`: one address per test that needs an admin.
pub const ADMIN_EMAILS: [&str; 31] = [
    "root-one@example.com",
    "root-two@example.com",
    "root-three@example.com",
    "root-four@example.com",
    "root-five@example.com",
    "root-six@example.com",
    "root-seven@example.com",
    "root-eight@example.com",
    "root-nine@example.com",
    "root-ten@example.com",
    "root-eleven@example.com",
    "root-twelve@example.com",
    "root-thirteen@example.com",
    "root-fourteen@example.com",
    "root-fifteen@example.com",
    "root-sixteen@example.com",
    "root-seventeen@example.com",
    "root-eighteen@example.com",
    "root-nineteen@example.com",
    "root-twenty@example.com",
    "root-twenty-one@example.com",
    "root-twenty-two@example.com",
    "root-twenty-three@example.com",
    "root-twenty-four@example.com",
    "root-twenty-five@example.com",
    "root-twenty-six@example.com",
    "root-twenty-seven@example.com",
    "root-twenty-eight@example.com",
    "root-twenty-nine@example.com",
    "root-thirty@example.com",
    "root-thirty-one@example.com",
];

/// Sign-ups at this domain are auto-confirmed by the pre sign-up trigger (the test
/// stack runs with Stage=dev and this domain in `SignUpAutoConfirmDomains`).
pub const AUTO_CONFIRM_DOMAIN: &str = "autoconfirm.example";

pub struct Response {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
}

pub async fn send(request: reqwest::RequestBuilder) -> Response {
    let response = request.send().await.expect("request reaches the stack");
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let text = response.text().await.expect("response body");
    let body = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or(Value::String(text))
    };
    Response {
        status,
        headers,
        body,
    }
}

pub async fn post(path: &str, body: Value) -> Response {
    send(http().post(url(path)).json(&body)).await
}

pub async fn get_with_token(path: &str, token: &str) -> Response {
    send(http().get(url(path)).bearer_auth(token)).await
}

pub async fn register(email: &str) -> Response {
    post(
        "/auth/register",
        json!({"email": email, "password": PASSWORD, "display_name": "Test User"}),
    )
    .await
}

/// Every message the local outbox holds for `email`, oldest first.
pub async fn mail_to(email: &str) -> Vec<Value> {
    let outbox = send(http().get(url("/_local/outbox"))).await;
    outbox
        .body
        .as_array()
        .map(|all| all.iter().filter(|m| m["to"] == email).cloned().collect())
        .unwrap_or_default()
}

/// Ages `email`'s pending Cognito codes past their lifetime (a local control).
pub async fn expire_codes(email: &str) {
    let expired = post("/_local/codes/expire", json!({"email": email})).await;
    assert_eq!(expired.status, 200, "{:?}", expired.body);
    assert!(
        expired.body["expired"].as_u64().unwrap_or_default() > 0,
        "no pending code for {email}"
    );
}

/// A six-digit code in `text`, if it has one.
pub fn code_in(text: &str) -> Option<&str> {
    text.split(|c: char| !c.is_ascii_digit())
        .find(|run| run.len() == 6)
}

/// Every code mailed to `email`, oldest first.
pub async fn codes_from_outbox(email: &str) -> Vec<String> {
    mail_to(email)
        .await
        .iter()
        .filter_map(|m| code_in(m["text"].as_str().unwrap_or_default()).map(str::to_owned))
        .collect()
}

/// The newest code mailed to `email`, read from the local outbox (notices
/// such as the welcome email carry none and are passed over).
pub async fn code_from_outbox(email: &str) -> String {
    let outbox = send(http().get(url("/_local/outbox"))).await;
    let mine: Vec<&Value> = outbox
        .body
        .as_array()
        .into_iter()
        .flatten()
        .filter(|m| m["to"] == email)
        .collect();
    assert!(!mine.is_empty(), "no mail to {email} in the outbox");
    mine.iter()
        .rev()
        .find_map(|m| code_in(m["text"].as_str().unwrap_or_default()))
        .unwrap_or_else(|| panic!("no code in the mail to {email}: {mine:?}"))
        .to_owned()
}

/// Waits for the welcome email a confirmation queues (delivered through the
/// notification queue), so later counts of `email`'s mail are not raced by it.
pub async fn welcomed(email: &str) {
    let arrived = eventually(|| async {
        let subjects: Vec<Value> = mail_to(email)
            .await
            .iter()
            .map(|m| m["subject"].clone())
            .collect();
        (
            subjects.iter().any(|s| s == "Welcome to Gatehouse"),
            subjects,
        )
    })
    .await;
    assert!(arrived, "{email} is welcomed after confirming");
}

/// The access token of a login's answer.
pub fn access_token_of(tokens: &Value) -> String {
    tokens["access_token"]
        .as_str()
        .expect("access token")
        .to_owned()
}

/// The user id (`sub`) an access token names.
pub fn sub_of(token: &str) -> String {
    claims_of(token)["sub"].as_str().expect("sub").to_owned()
}

/// A lower-case name no other test uses (roles, policy ids).
pub fn unique_name(tag: &str) -> String {
    unique_email(tag)
        .split('@')
        .next()
        .unwrap_or_default()
        .to_ascii_lowercase()
}

/// Signs `email` up, confirms it with the mailed code and logs in: the
/// login's answer. An address of the stack's `AdminEmails` holds `admin`, a
/// role that needs a second factor (`MfaRequiredRoles`' default): it turns an
/// authenticator app on and signs in again through the challenge, as an
/// administrator does before anything else.
pub async fn confirmed_login(email: &str) -> Value {
    if ADMIN_EMAILS.contains(&email) {
        enrolled_login(email).await.0
    } else {
        password_login(email).await
    }
}

/// Signs `email` up, confirms it, turns an authenticator app on and signs in
/// again through the challenge with a recovery code: the tokens, and the
/// recovery codes left.
pub async fn enrolled_login(email: &str) -> (Value, Vec<String>) {
    let first = password_login(email).await;
    let mut codes = turn_on_app(&access_token_of(&first)).await;
    let recovery = codes.remove(0);
    let login = post("/auth/login", json!({"email": email, "password": PASSWORD})).await;
    assert_eq!(login.body["challenge"], "totp", "{:?}", login.body);
    let answered = post(
        "/auth/login/mfa",
        json!({"session": login.body["session"], "recovery_code": recovery}),
    )
    .await;
    assert_eq!(answered.status, 200, "{:?}", answered.body);
    (answered.body, codes)
}

/// The authenticator app: RFC 6238 with SHA-1, 6 digits, 30 s.
pub fn app(secret: &str) -> totp_rs::Totp {
    totp_rs::Builder::new()
        .with_algorithm(totp_rs::Algorithm::SHA1)
        .with_digits(6)
        .with_step_duration(30)
        .with_secret(totp_rs::Secret::try_from_base32(secret).expect("the secret is base32"))
        .build()
        .expect("a 160-bit key")
}

/// The current 30-second step.
pub fn step_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs()
        / 30
}

pub fn code_at(secret: &str, step: u64) -> String {
    app(secret).generate(step * 30).to_string()
}

/// Turns an authenticator app on for the holder of `access`: its recovery codes.
pub async fn turn_on_app(access: &str) -> Vec<String> {
    let started = send(
        http()
            .post(url("/users/me/mfa/totp"))
            .bearer_auth(access)
            .json(&json!({"current_password": PASSWORD})),
    )
    .await;
    assert_eq!(started.status, 200, "{:?}", started.body);
    let secret = started.body["secret"].as_str().expect("secret");
    // A step that turns over before the code arrives is the one before: still
    // accepted (one step of drift).
    let verified = send(
        http()
            .post(url("/users/me/mfa/totp/verify"))
            .bearer_auth(access)
            .json(&json!({"code": code_at(secret, step_now())})),
    )
    .await;
    assert_eq!(verified.status, 200, "{:?}", verified.body);
    verified.body["recovery_codes"]
        .as_array()
        .expect("recovery codes")
        .iter()
        .map(|c| c.as_str().expect("a code").to_owned())
        .collect()
}

/// Signs `email` up, confirms it with the mailed code and logs in with the
/// password alone: the login's answer.
pub async fn password_login(email: &str) -> Value {
    assert_eq!(register(email).await.status, 201);
    let code = code_from_outbox(email).await;
    let confirmed = post(
        "/auth/confirm",
        json!({"email": email, "code": code, "password": PASSWORD}),
    )
    .await;
    assert_eq!(confirmed.status, 200, "{:?}", confirmed.body);
    let login = post("/auth/login", json!({"email": email, "password": PASSWORD})).await;
    assert_eq!(login.status, 200, "{:?}", login.body);
    login.body
}

/// [`confirmed_login`]'s access token.
pub async fn confirmed_account(email: &str) -> String {
    access_token_of(&confirmed_login(email).await)
}

/// Registers, confirms with the mailed code and logs in; returns the tokens.
pub async fn signed_up_user(tag: &str) -> (String, Value) {
    let email = unique_email(tag);
    assert_eq!(register(&email).await.status, 201);
    let code = code_from_outbox(&email).await;
    assert_eq!(
        post(
            "/auth/confirm",
            json!({"email": email, "code": code, "password": PASSWORD})
        )
        .await
        .status,
        200
    );
    let login = post("/auth/login", json!({"email": email, "password": PASSWORD})).await;
    assert_eq!(login.status, 200, "{:?}", login.body);
    welcomed(&email).await;
    (email, login.body)
}

/// Cognito's endpoint as the functions reach it, and the API's app client id
/// (it is in every access token, so anyone has it).
pub async fn cognito_endpoint_and_client(access_token: &str) -> (String, String) {
    let env = send(http().get(url("/_local/functions/LoginFunction/environment"))).await;
    assert_eq!(env.status, 200, "{:?}", env.body);
    let endpoint = env.body["AWS_ENDPOINT_URL"]
        .as_str()
        .expect("endpoint")
        .to_owned();
    let client_id = claims_of(access_token)["client_id"]
        .as_str()
        .expect("client_id claim")
        .to_owned();
    (endpoint, client_id)
}

/// One unsigned call to Cognito's public API, as any caller can make it.
pub async fn call_cognito(endpoint: &str, operation: &str, body: Value) -> Response {
    send(
        http()
            .post(endpoint)
            .header(
                "x-amz-target",
                format!("AWSCognitoIdentityProviderService.{operation}"),
            )
            .header("content-type", "application/x-amz-json-1.1")
            .body(body.to_string()),
    )
    .await
}

/// One call to the emulator's Cognito, as an operator would make it.
async fn cognito_admin(moto: &str, operation: &str, body: Value) -> Value {
    let response = http()
        .post(moto)
        .header(
            "x-amz-target",
            format!("AWSCognitoIdentityProviderService.{operation}"),
        )
        .header("content-type", "application/x-amz-json-1.1")
        .body(body.to_string())
        .send()
        .await
        .expect("the emulator answers");
    response.json().await.expect("JSON")
}

/// The id of the (only) user pool in the stack whose emulator is at `moto`.
async fn pool_in(moto: &str) -> String {
    let pools = cognito_admin(moto, "ListUserPools", json!({"MaxResults": 10})).await;
    pools["UserPools"][0]["Id"]
        .as_str()
        .expect("a pool")
        .to_owned()
}

/// The user id (Cognito's `sub`) of `email`'s account in the stack whose
/// emulator is at `moto` (the sign-up answer does not carry it).
pub async fn user_id_in(moto: &str, email: &str) -> String {
    let pool = pool_in(moto).await;
    let users = cognito_admin(
        moto,
        "ListUsers",
        json!({"UserPoolId": pool, "Filter": format!("email = \"{email}\"")}),
    )
    .await;
    users["Users"][0]["Attributes"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|a| a["Name"] == "sub")
        .and_then(|a| a["Value"].as_str())
        .unwrap_or_else(|| panic!("no account for {email}: {users}"))
        .to_owned()
}

/// How many Cognito accounts of the main stack have this email.
pub async fn accounts_for(email: &str) -> usize {
    let moto = &stack().moto;
    let pool = pool_in(moto).await;
    let users = cognito_admin(
        moto,
        "ListUsers",
        json!({"UserPoolId": pool, "Filter": format!("email = \"{email}\"")}),
    )
    .await;
    users["Users"].as_array().map_or(0, Vec::len)
}

/// Deletes `email`'s user in the main stack's Cognito directly, as an operator
/// could, going around Gatehouse.
pub async fn delete_in_cognito(email: &str) {
    let moto = &stack().moto;
    let pool = pool_in(moto).await;
    let user = user_id_of(email).await;
    cognito_admin(
        moto,
        "AdminDeleteUser",
        json!({"UserPoolId": pool, "Username": user}),
    )
    .await;
    assert_eq!(accounts_for(email).await, 0, "deleted in Cognito");
}

/// The API app client's secret in the main stack, as an operator reads it.
pub async fn client_secret_of(client_id: &str) -> String {
    let moto = &stack().moto;
    let pool = pool_in(moto).await;
    let client = cognito_admin(
        moto,
        "DescribeUserPoolClient",
        json!({"UserPoolId": pool, "ClientId": client_id}),
    )
    .await;
    client["UserPoolClient"]["ClientSecret"]
        .as_str()
        .expect("the client has a secret")
        .to_owned()
}

/// The main stack's client-credentials client (the template's `ServiceClient`):
/// its id and secret, as an operator reads them.
pub async fn service_client() -> (String, String) {
    let moto = &stack().moto;
    let pool = pool_in(moto).await;
    let clients = cognito_admin(
        moto,
        "ListUserPoolClients",
        json!({"UserPoolId": pool, "MaxResults": 60}),
    )
    .await;
    let id = clients["UserPoolClients"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|c| c["ClientName"] == "gatehouse-dev-services")
        .and_then(|c| c["ClientId"].as_str())
        .expect("the services client")
        .to_owned();
    let secret = client_secret_of(&id).await;
    (id, secret)
}

/// [`user_id_in`] the main stack.
pub async fn user_id_of(email: &str) -> String {
    user_id_in(&stack().moto, email).await
}

/// The claims of a JWT, without verifying it.
pub fn claims_of(token: &str) -> Value {
    use base64::Engine;
    let payload = token.split('.').nth(1).expect("a JWT has a payload");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .expect("base64url payload");
    serde_json::from_slice(&bytes).expect("JWT payload is JSON")
}

/// Signs `claims` with moto's Cognito key (a validly signed token we control).
pub fn sign_token(claims: &Value) -> String {
    use std::io::Write;
    let script = workspace_root().join("tests/support/sign_token.py");
    let mut child = Command::new(tool("venv", "python"))
        .arg(script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("run the token signer");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(claims.to_string().as_bytes())
        .expect("write claims");
    let out = child.wait_with_output().expect("token signer output");
    assert!(out.status.success(), "token signer failed");
    String::from_utf8(out.stdout)
        .expect("utf-8 token")
        .trim()
        .to_owned()
}

/// The table the local stack provisions (`gatehouse-<Stage>`, Stage dev).
pub const TABLE: &str = "gatehouse-dev";

/// SDK configuration for the stack's emulator.
pub async fn moto_config() -> aws_config::SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new("us-east-1"))
        .endpoint_url(&stack().moto)
        .credentials_provider(aws_sdk_dynamodb::config::Credentials::new(
            "local", "local", None, None, "tests",
        ))
        .load()
        .await
}

pub async fn dynamodb() -> aws_sdk_dynamodb::Client {
    aws_sdk_dynamodb::Client::new(&moto_config().await)
}

/// Fails if any of `secrets` appears in a log line of the stack or its functions.
/// A six-digit code is looked for as a word of its own, outside timestamps: a
/// timestamp's microseconds or a run of digits in a hex id would otherwise
/// match about one code in a hundred.
pub fn assert_not_logged(secrets: &[&str]) {
    let log = std::fs::read_to_string(&stack().log).expect("stack log");
    let timestamps = regex::Regex::new(r"\d{2}:\d{2}:\d{2}\.\d+").expect("regex");
    let without_times = timestamps.replace_all(&log, "");
    for secret in secrets.iter().filter(|s| !s.is_empty()) {
        let found = if secret.chars().all(|c| c.is_ascii_digit()) {
            regex::Regex::new(&format!(r"(^|[^0-9A-Za-z]){secret}([^0-9A-Za-z]|$)"))
                .expect("regex")
                .is_match(&without_times)
        } else {
            log.contains(secret)
        };
        assert!(!found, "a secret appeared in the logs");
    }
}

/// The main stack's queues, as `GET /_local/queues` lists them.
pub async fn queues() -> Vec<Value> {
    send(http().get(url("/_local/queues")))
        .await
        .body
        .as_array()
        .cloned()
        .unwrap_or_default()
}

/// The URL of the main stack's queue with this logical id.
pub async fn queue_url(logical_id: &str) -> String {
    queues()
        .await
        .into_iter()
        .find(|q| q["logical_id"] == logical_id)
        .and_then(|q| q["url"].as_str().map(str::to_owned))
        .unwrap_or_else(|| panic!("no queue {logical_id}"))
}

/// An SQS client on the main stack's emulator, as an operator (or a test
/// standing in for a producer) would use it.
pub async fn sqs() -> aws_sdk_sqs::Client {
    aws_sdk_sqs::Client::new(&moto_config().await)
}

/// How long a wait for the stack lasts at most. Generous on purpose: a wait
/// that is met ends at once, and a busy 2-core machine (moto is one Python
/// process) can take many times longer than an idle one.
pub const PATIENCE: std::time::Duration = std::time::Duration::from_secs(90);

/// What a polled check saw: whether it holds, and what to report if it never does.
pub trait Seen {
    fn holds(&self) -> bool;
    fn describe(&self) -> String;
}

impl Seen for bool {
    fn holds(&self) -> bool {
        *self
    }
    fn describe(&self) -> String {
        "the check did not hold".into()
    }
}

/// `(holds, what was seen)`: the second part is reported if the wait gives up.
impl<T: std::fmt::Debug> Seen for (bool, T) {
    fn holds(&self) -> bool {
        self.0
    }
    fn describe(&self) -> String {
        format!("{:?}", self.1)
    }
}

/// Polls `check` until it holds, for at most [`PATIENCE`]; whether it did. When
/// it gives up it says what the check last saw (in the test's output).
pub async fn eventually<F, Fut, S>(mut check: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = S>,
    S: Seen,
{
    let started = std::time::Instant::now();
    loop {
        let seen = check().await;
        if seen.holds() {
            return true;
        }
        if started.elapsed() > PATIENCE {
            eprintln!(
                "eventually: gave up after {:?}; last seen: {}",
                started.elapsed(),
                seen.describe()
            );
            return false;
        }
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    }
}

/// `application/x-www-form-urlencoded`, as an OAuth2 client or the query
/// protocol sends it.
pub fn form_body(pairs: &[(&str, &str)]) -> String {
    let encode = |s: &str| {
        s.bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                    (b as char).to_string()
                }
                other => format!("%{other:02X}"),
            })
            .collect::<String>()
    };
    pairs
        .iter()
        .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
        .collect::<Vec<_>>()
        .join("&")
}

/// The token endpoint's answer for the main stack's service client, with
/// `scope` (`None`: every scope the client may have).
pub async fn service_token(scope: Option<&str>) -> Response {
    let (id, secret) = service_client().await;
    let mut form = vec![("grant_type", "client_credentials")];
    if let Some(scope) = scope {
        form.push(("scope", scope));
    }
    send(
        http()
            .post(url("/oauth2/token"))
            .basic_auth(id, Some(secret))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form_body(&form)),
    )
    .await
}

/// Cognito's `SECRET_HASH` of a confidential client's call naming `username`
/// (our own, not Gatehouse's: a mistake there shows up as a refusal).
pub fn secret_hash(secret: &str, username: &str, client_id: &str) -> String {
    use base64::Engine;
    use hmac::{Hmac, KeyInit, Mac};
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).expect("key");
    mac.update(format!("{username}{client_id}").as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}
