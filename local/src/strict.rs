//! The template, read strictly: everything the local stack does not evaluate or
//! run stops `make dev` with the resource and the feature named, and parameter
//! values are checked as CloudFormation checks them. Nothing is silently
//! defaulted.

use serde_yaml_ng::{Mapping, Value};

/// Resource types the local stack creates or runs. `AWS::Lambda::Permission` is
/// accepted without effect: locally every wired trigger may run (the template
/// test checks that each trigger has its permission). A log group's lines go to
/// the stack's own log (the HTTP API's access log among them). A role for an AWS
/// service (Cognito's SMS role) is named only: locally SMS go to the outbox. A
/// user pool domain's token endpoint is served by the gateway (`/oauth2/token`).
/// Queue and topic policies are named, not evaluated (moto delivers regardless).
/// A KMS key is made in moto (symmetric only; `provision::keys`), its key policy
/// read for its shape: the functions' own IAM policies decide locally.
/// Alarms and dashboards are resolved and checked, not run (see
/// `provision::monitoring`); an email subscription is made in moto and never
/// mailed.
const SUPPORTED_RESOURCES: &[&str] = &[
    "AWS::Serverless::Function",
    "AWS::Serverless::HttpApi",
    "AWS::DynamoDB::Table",
    "AWS::Cognito::UserPool",
    "AWS::Cognito::UserPoolClient",
    "AWS::Cognito::UserPoolResourceServer",
    "AWS::Cognito::UserPoolDomain",
    "AWS::SES::EmailIdentity",
    "AWS::SES::ConfigurationSet",
    "AWS::SQS::Queue",
    "AWS::SQS::QueuePolicy",
    "AWS::SNS::Topic",
    "AWS::SNS::Subscription",
    "AWS::SNS::TopicPolicy",
    "AWS::SES::ConfigurationSetEventDestination",
    "AWS::Lambda::Permission",
    "AWS::Logs::LogGroup",
    "AWS::IAM::Role",
    "AWS::CloudWatch::Alarm",
    "AWS::CloudWatch::Dashboard",
    "AWS::KMS::Key",
];

/// Function event types the local stack delivers.
const SUPPORTED_EVENTS: &[&str] = &["HttpApi", "SQS"];

/// The SQS event source properties the local stack's poller honours.
const SQS_EVENT_PROPERTIES: &[&str] = &[
    "Queue",
    "BatchSize",
    "MaximumBatchingWindowInSeconds",
    "FunctionResponseTypes",
    "ScalingConfig",
    "Enabled",
];

/// Intrinsics the local stack resolves (`!Sub` in its string form only).
const SUPPORTED_INTRINSICS: &[&str] = &["Ref", "GetAtt", "Sub", "Join"];

/// Function properties that must be plain numbers locally.
const LITERAL_NUMBERS: &[&str] = &["Timeout", "MemorySize", "ReservedConcurrentExecutions"];

fn intrinsic_name(key: &str) -> Option<&str> {
    key.strip_prefix("Fn::").or((key == "Ref").then_some("Ref"))
}

/// Every intrinsic in `value` the stack cannot evaluate, described.
fn unsupported_intrinsics(value: &Value, found: &mut Vec<String>) {
    match value {
        Value::Tagged(tagged) => {
            let name = tagged.tag.to_string();
            let name = name.trim_start_matches('!');
            if !SUPPORTED_INTRINSICS.contains(&name) {
                found.push(format!("!{name}"));
            } else if name == "Sub" && !matches!(tagged.value, Value::String(_)) {
                found.push("the list form of !Sub".into());
            }
            unsupported_intrinsics(&tagged.value, found);
        }
        Value::Mapping(map) => {
            if map.len() == 1
                && let Some((Some(key), inner)) = map.iter().next().map(|(k, v)| (k.as_str(), v))
                && let Some(name) = intrinsic_name(key)
            {
                if !SUPPORTED_INTRINSICS.contains(&name) {
                    found.push(format!("Fn::{name}"));
                } else if name == "Sub" && !matches!(inner, Value::String(_)) {
                    found.push("the list form of Fn::Sub".into());
                }
            }
            for v in map.values() {
                unsupported_intrinsics(v, found);
            }
        }
        Value::Sequence(items) => items.iter().for_each(|v| unsupported_intrinsics(v, found)),
        _ => {}
    }
}

/// The parameter a `!Ref` (or `{Ref: name}`) names, if `value` is one.
pub fn parameter_ref(value: &Value) -> Option<&str> {
    match value {
        Value::Tagged(tagged) if tagged.tag == "Ref" => tagged.value.as_str(),
        Value::Mapping(map) if map.len() == 1 => map.get("Ref").and_then(Value::as_str),
        _ => None,
    }
}

/// A number setting the stack can read: a plain number, or a `!Ref` to a
/// parameter of type Number (its value is checked against the parameter's
/// own constraints when the template loads).
fn readable_number(doc: &Value, value: &Value) -> bool {
    match value {
        Value::Null | Value::Number(_) => true,
        _ => parameter_ref(value)
            .is_some_and(|name| doc["Parameters"][name]["Type"].as_str() == Some("Number")),
    }
}

/// `Tracing` decides whether trace headers are sampled: a plain value only.
fn tracing_is_literal(value: &Value) -> bool {
    matches!(value, Value::Null) || matches!(value.as_str(), Some("Active" | "PassThrough"))
}

/// Every reason the stack cannot run this template faithfully, each naming the
/// resource (or section) and the feature. Conditions are decided before this
/// (`template::conditions`), so a `Fn::If` still here is one outside them.
pub fn problems(doc: &Value) -> Vec<String> {
    let mut out = Vec::new();
    for section in ["Mappings", "Rules"] {
        if doc.get(section).is_some() {
            out.push(format!("{section}: not evaluated by the local stack"));
        }
    }
    let mut found = Vec::new();
    unsupported_intrinsics(&doc["Globals"], &mut found);
    for feature in found {
        out.push(format!(
            "Globals: {feature} is not evaluated by the local stack"
        ));
    }
    if !tracing_is_literal(&doc["Globals"]["Function"]["Tracing"]) {
        out.push("Globals: Function Tracing must be Active or PassThrough locally".into());
    }
    for key in LITERAL_NUMBERS {
        let value = &doc["Globals"]["Function"][*key];
        if !readable_number(doc, value) {
            out.push(format!(
                "Globals: Function {key} must be a plain number or a Number parameter locally"
            ));
        }
    }
    let empty = Mapping::new();
    let resources = doc
        .get("Resources")
        .and_then(Value::as_mapping)
        .unwrap_or(&empty);
    for (id, resource) in resources {
        let id = id.as_str().unwrap_or("?");
        let kind = resource
            .get("Type")
            .and_then(Value::as_str)
            .unwrap_or("(no Type)");
        if !SUPPORTED_RESOURCES.contains(&kind) {
            out.push(format!(
                "{id}: resource type {kind} is not run by the local stack"
            ));
            continue;
        }
        let mut found = Vec::new();
        unsupported_intrinsics(resource, &mut found);
        found.dedup();
        for feature in found {
            out.push(format!(
                "{id}: {feature} is not evaluated by the local stack"
            ));
        }
        if kind == "AWS::Cognito::UserPool" && resource["Properties"]["MfaConfiguration"] == "ON" {
            out.push(format!(
                "{id}: MfaConfiguration ON (every user set up at sign-in, MFA_SETUP) is not emulated by the local stack; OPTIONAL is"
            ));
        }
        if kind != "AWS::Serverless::Function" {
            continue;
        }
        let props = &resource["Properties"];
        for key in LITERAL_NUMBERS {
            if !readable_number(doc, &props[*key]) {
                out.push(format!(
                    "{id}: {key} must be a plain number or a Number parameter locally"
                ));
            }
        }
        if !tracing_is_literal(&props["Tracing"]) {
            out.push(format!(
                "{id}: Tracing must be Active or PassThrough locally"
            ));
        }
        for (name, event) in props["Events"].as_mapping().into_iter().flatten() {
            let event_type = event
                .get("Type")
                .and_then(Value::as_str)
                .unwrap_or("(no Type)");
            if !SUPPORTED_EVENTS.contains(&event_type) {
                out.push(format!(
                    "{id}: event {} of type {event_type} is not delivered by the local stack",
                    name.as_str().unwrap_or("?")
                ));
            }
            if event_type == "SQS" {
                for (property, _) in event["Properties"].as_mapping().into_iter().flatten() {
                    let property = property.as_str().unwrap_or("?");
                    if !SQS_EVENT_PROPERTIES.contains(&property) {
                        out.push(format!(
                            "{id}: SQS event {} property {property} is not honoured by the local stack",
                            name.as_str().unwrap_or("?")
                        ));
                    }
                }
            }
        }
    }
    out
}

/// A parameter value checked as CloudFormation checks it.
pub fn check_parameter(name: &str, definition: &Value, value: &str) -> Result<(), String> {
    let kind = definition
        .get("Type")
        .and_then(Value::as_str)
        .unwrap_or("String");
    let scalar = |v: &Value| match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    };
    if let Some(allowed) = definition.get("AllowedValues").and_then(Value::as_sequence) {
        let allowed: Vec<String> = allowed.iter().filter_map(scalar).collect();
        if !allowed.iter().any(|a| a == value) {
            return Err(format!(
                "parameter {name}: {value:?} is not one of the AllowedValues {allowed:?}"
            ));
        }
    }
    if let Some(pattern) = definition.get("AllowedPattern").and_then(Value::as_str) {
        let anchored = format!("^(?:{pattern})$");
        let regex = regex::Regex::new(&anchored).map_err(|e| {
            format!("parameter {name}: AllowedPattern cannot be evaluated locally: {e}")
        })?;
        if !regex.is_match(value) {
            return Err(format!(
                "parameter {name}: {value:?} does not match the AllowedPattern {pattern}"
            ));
        }
    }
    let bound = |key: &str| {
        definition
            .get(key)
            .and_then(scalar)
            .and_then(|s| s.parse::<f64>().ok())
    };
    match kind {
        "Number" => {
            let number: f64 = value
                .parse()
                .map_err(|_| format!("parameter {name}: {value:?} is not a Number"))?;
            if bound("MinValue").is_some_and(|min| number < min) {
                return Err(format!("parameter {name}: {value} is below its MinValue"));
            }
            if bound("MaxValue").is_some_and(|max| number > max) {
                return Err(format!("parameter {name}: {value} is above its MaxValue"));
            }
        }
        "String" => {
            let length = value.chars().count() as f64;
            if bound("MinLength").is_some_and(|min| length < min) {
                return Err(format!(
                    "parameter {name}: {value:?} is shorter than its MinLength"
                ));
            }
            if bound("MaxLength").is_some_and(|max| length > max) {
                return Err(format!(
                    "parameter {name}: {value:?} is longer than its MaxLength"
                ));
            }
        }
        other => {
            return Err(format!(
                "parameter {name}: type {other} is not evaluated by the local stack"
            ));
        }
    }
    Ok(())
}

/// `Key=Value` pairs as `sam deploy --parameter-overrides` takes them: separated
/// by spaces, a value may be quoted to hold spaces.
pub fn parse_overrides(text: &str) -> Result<Vec<(String, String)>, String> {
    let mut pairs = Vec::new();
    let mut chars = text.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        if chars.peek().is_none() {
            return Ok(pairs);
        }
        let mut token = String::new();
        let mut quote = None;
        while let Some(&c) = chars.peek() {
            match quote {
                Some(q) if c == q => quote = None,
                Some(_) => token.push(c),
                None if c == '"' || c == '\'' => quote = Some(c),
                None if c.is_whitespace() => break,
                None => token.push(c),
            }
            chars.next();
        }
        if quote.is_some() {
            return Err(format!("an unclosed quote in the overrides {text:?}"));
        }
        let (key, value) = token
            .split_once('=')
            .ok_or_else(|| format!("parameter overrides take Key=Value pairs, not {token:?}"))?;
        pairs.push((key.to_owned(), value.to_owned()));
    }
}

/// `parameter_overrides` of `[<env>.deploy.parameters]` in a samconfig.toml.
pub fn samconfig_overrides(text: &str, env: &str) -> Result<Vec<(String, String)>, String> {
    let config: toml::Table =
        toml::from_str(text).map_err(|e| format!("samconfig.toml is not valid TOML: {e}"))?;
    let environment = config
        .get(env)
        .ok_or_else(|| format!("samconfig.toml has no environment [{env}]"))?;
    let overrides = environment
        .get("deploy")
        .and_then(|d| d.get("parameters"))
        .and_then(|p| p.get("parameter_overrides"));
    match overrides {
        None => Ok(Vec::new()),
        Some(toml::Value::String(text)) => parse_overrides(text),
        Some(toml::Value::Array(items)) => {
            let joined: Vec<String> = items
                .iter()
                .filter_map(|i| i.as_str().map(str::to_owned))
                .collect();
            parse_overrides(&joined.join(" "))
        }
        Some(_) => Err(format!(
            "samconfig.toml: [{env}.deploy.parameters] parameter_overrides must be a string or a list"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(yaml: &str) -> Value {
        serde_yaml_ng::from_str(yaml).unwrap()
    }

    #[test]
    fn every_unsupported_feature_is_named_with_its_resource() {
        let problems = problems(&doc(r#"
Conditions:
  IsProd: !Equals [!Ref Stage, prod]
Globals:
  Function:
    Timeout: !Ref FunctionTimeout
Resources:
  Stream:
    Type: AWS::Kinesis::Stream
  Pool:
    Type: AWS::Cognito::UserPool
    Properties: {MfaConfiguration: "ON"}
  Fn:
    Type: AWS::Serverless::Function
    Condition: IsProd
    Properties:
      MemorySize: !If [IsProd, 512, 256]
      Environment:
        Variables:
          A: !Select [0, !Split [",", !Ref List]]
          B: !Sub ["${X}", {X: y}]
      Events:
        Nightly: {Type: Schedule, Properties: {Schedule: rate(1 day)}}
"#));
        let all = problems.join("\n");
        for expected in [
            "Globals: Function Timeout must be a plain number or a Number parameter",
            "Stream: resource type AWS::Kinesis::Stream",
            "Pool: MfaConfiguration ON",
            "Fn: !If is not evaluated",
            "Fn: !Select is not evaluated",
            "Fn: !Split is not evaluated",
            "Fn: the list form of !Sub",
            "Fn: MemorySize must be a plain number or a Number parameter",
            "Fn: event Nightly of type Schedule",
        ] {
            assert!(all.contains(expected), "missing {expected:?} in\n{all}");
        }
    }

    #[test]
    fn the_projects_own_template_has_no_problem_as_deployed_by_default() {
        let text =
            std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../template.yaml"))
                .unwrap();
        // Its conditions decided from the defaults, as the stack reads it.
        let mut template = crate::template::Template::parse(&text).unwrap();
        template
            .override_parameters(&[("AlarmEmail".into(), "alarms@example.com".into())])
            .unwrap();
        // A custom domain is API Gateway's, which the stack does not run: named.
        let refused = template
            .override_parameters(&[
                ("CustomDomainName".into(), "api.example.org".into()),
                (
                    "CertificateArn".into(),
                    "arn:aws:acm:us-east-1:123456789012:certificate/0f1e2d3c".into(),
                ),
            ])
            .unwrap_err()
            .to_string();
        assert!(
            refused.contains("ApiDomain: resource type AWS::ApiGatewayV2::DomainName"),
            "{refused}"
        );
    }

    #[test]
    fn parameters_are_checked_as_cloudformation_checks_them() {
        let stage = doc("{Type: String, AllowedValues: [dev, staging, prod]}");
        assert!(check_parameter("Stage", &stage, "prod").is_ok());
        assert!(
            check_parameter("Stage", &stage, "qa")
                .unwrap_err()
                .contains("AllowedValues")
        );
        let role = doc(r#"{Type: String, AllowedPattern: "^[a-z0-9_-]{1,64}$"}"#);
        assert!(check_parameter("DefaultRole", &role, "user").is_ok());
        assert!(check_parameter("DefaultRole", &role, "Admin!").is_err());
        let length = doc("{Type: Number, MinValue: 8, MaxValue: 99}");
        assert!(check_parameter("PasswordMinimumLength", &length, "12").is_ok());
        assert!(
            check_parameter("PasswordMinimumLength", &length, "6")
                .unwrap_err()
                .contains("MinValue")
        );
        assert!(
            check_parameter("PasswordMinimumLength", &length, "ten")
                .unwrap_err()
                .contains("Number")
        );
    }

    #[test]
    fn overrides_parse_like_sam_and_samconfig_environments_are_read() {
        assert_eq!(
            parse_overrides(r#"Stage=prod AppName="My App""#).unwrap(),
            vec![
                ("Stage".into(), "prod".into()),
                ("AppName".into(), "My App".into())
            ]
        );
        assert!(parse_overrides("Stage").is_err());
        let config = r#"
[prod.deploy.parameters]
parameter_overrides = "Stage=prod PasswordMinimumLength=12"
"#;
        assert_eq!(samconfig_overrides(config, "prod").unwrap().len(), 2);
        assert!(
            samconfig_overrides(config, "qa")
                .unwrap_err()
                .contains("[qa]")
        );
    }
}
