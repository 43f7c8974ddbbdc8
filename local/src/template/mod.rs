//! Reads `template.yaml`: the functions with their routes and environment, the HTTP
//! API's authorizers, and the resources the local stack must create. CloudFormation
//! intrinsics (`!Ref`, `!GetAtt`, `!Sub`, `!Join`) are resolved against the values
//! provisioning produced, so the template stays the single source of truth.

use serde_yaml_ng::{Mapping, Value};
use std::collections::{BTreeMap, HashMap};
use std::path::Path;

#[derive(Debug, thiserror::Error)]
pub enum TemplateError {
    #[error("cannot read the template: {0}")]
    Io(#[from] std::io::Error),
    #[error("the template is not valid YAML: {0}")]
    Yaml(#[from] serde_yaml_ng::Error),
    #[error("template: {0}")]
    Invalid(String),
}

fn invalid(msg: impl Into<String>) -> TemplateError {
    TemplateError::Invalid(msg.into())
}

pub const REGION: &str = "us-east-1";
pub const ACCOUNT_ID: &str = "123456789012";
pub const STACK_NAME: &str = "gatehouse-local";

/// How a route is authorised.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RouteAuth {
    None,
    Jwt(String),
}

#[derive(Debug, Clone)]
pub struct Route {
    /// Upper case, or `ANY`.
    pub method: String,
    pub path: String,
    pub function: String,
    pub auth: RouteAuth,
    /// `AuthorizationScopes`: the token must carry at least one of these.
    pub scopes: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct Function {
    pub logical_id: String,
    pub binary: String,
    pub timeout_secs: u64,
    pub memory_mb: u64,
    /// Unresolved environment values: globals overlaid by the function's own.
    pub environment: BTreeMap<String, Value>,
    pub logging: Logging,
    /// `Policies`, unresolved (see `iam::policy`).
    pub policies: Option<Value>,
    /// `Tracing: Active`: each invocation's trace header is sampled.
    pub traced: bool,
    /// `ReservedConcurrentExecutions`: invocations beyond it are throttled.
    pub reserved_concurrency: Option<u64>,
}

/// An SQS event source of a function, as Lambda's event source mapping runs it.
#[derive(Debug, Clone)]
pub struct QueueEvent {
    pub function: String,
    pub name: String,
    /// `Queue`: the queue's ARN, unresolved.
    pub queue: Value,
    pub batch_size: Value,
    pub window_secs: Value,
    /// `FunctionResponseTypes: [ReportBatchItemFailures]`.
    pub reports_item_failures: bool,
    /// `ScalingConfig.MaximumConcurrency`, unresolved (`None`: Lambda's own scaling).
    pub max_concurrency: Option<Value>,
    pub enabled: bool,
}

/// A function's `LoggingConfig`, globals overlaid by its own.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Logging {
    /// `JSON` or `Text` (Lambda's default).
    pub format: String,
    /// `ApplicationLogLevel`, unresolved (JSON format only; Lambda's default is INFO).
    pub application_level: Option<Value>,
    /// `LogGroup`, when the template names one.
    pub log_group: Option<Value>,
}

impl Logging {
    fn from(global: Option<&Value>, own: Option<&Value>) -> Self {
        let field = |name: &str| {
            own.and_then(|c| c.get(name))
                .or_else(|| global.and_then(|c| c.get(name)))
        };
        Self {
            format: field("LogFormat")
                .and_then(Value::as_str)
                .unwrap_or("Text")
                .to_owned(),
            application_level: field("ApplicationLogLevel").cloned(),
            log_group: field("LogGroup").cloned(),
        }
    }
}

#[derive(Debug, Clone)]
pub struct JwtAuthorizer {
    pub identity_source: String,
    pub issuer: Value,
    pub audience: Vec<Value>,
}

/// Cognito trigger name (as in `LambdaConfig`) to function logical id.
pub type Triggers = BTreeMap<String, String>;

pub struct Template {
    /// The template as written, conditions undecided.
    written: Value,
    resources: Mapping,
    parameters: Mapping,
    globals: Mapping,
}

mod conditions;
mod load;
mod refs;

pub use refs::Refs;
use refs::*;

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = r#"
Parameters:
  Stage: {Type: String, Default: dev}
Globals:
  Function:
    Timeout: 7
    Environment:
      Variables:
        TABLE_NAME: !Ref Table
Resources:
  Table:
    Type: AWS::DynamoDB::Table
    Properties:
      TableName: !Sub gatehouse-${Stage}
  Pool:
    Type: AWS::Cognito::UserPool
    Properties:
      LambdaConfig:
        PostConfirmation: !GetAtt Hook.Arn
  Api:
    Type: AWS::Serverless::HttpApi
    Properties:
      Auth:
        DefaultAuthorizer: Jwt
        Authorizers:
          Jwt:
            JwtConfiguration:
              issuer: !Sub https://issuer/${Pool}
              audience: [!Ref Client]
  Open:
    Type: AWS::Serverless::Function
    Metadata: {BuildProperties: {Binary: open}}
    Properties:
      Environment: {Variables: {EXTRA: x}}
      Events:
        A: {Type: HttpApi, Properties: {ApiId: !Ref Api, Path: /open, Method: post, Auth: {Authorizer: NONE}}}
  Closed:
    Type: AWS::Serverless::Function
    Metadata: {BuildProperties: {Binary: closed}}
    Properties:
      Timeout: 2
      ReservedConcurrentExecutions: 3
      Events:
        A: {Type: HttpApi, Properties: {ApiId: !Ref Api, Path: "/closed/{id}", Method: GET, Auth: {AuthorizationScopes: [gatehouse/admin]}}}
  Hook:
    Type: AWS::Serverless::Function
    Metadata: {BuildProperties: {Binary: hook}}
"#;

    #[test]
    fn routes_take_the_default_authorizer_unless_none() {
        let t = Template::parse(SAMPLE).unwrap();
        let routes = t.routes().unwrap();
        let open = routes.iter().find(|r| r.path == "/open").unwrap();
        assert_eq!(open.method, "POST");
        assert_eq!(open.auth, RouteAuth::None);
        let closed = routes.iter().find(|r| r.path == "/closed/{id}").unwrap();
        assert_eq!(closed.auth, RouteAuth::Jwt("Jwt".into()));
        assert_eq!(closed.function, "Closed");
        assert_eq!(closed.scopes, vec!["gatehouse/admin"]);
        assert!(open.scopes.is_empty());
    }

    #[test]
    fn a_route_without_api_id_is_refused_naming_the_function() {
        let t = Template::parse(&SAMPLE.replace("ApiId: !Ref Api, Path: /open", "Path: /open"))
            .unwrap();
        let err = t.routes().unwrap_err().to_string();
        assert!(err.contains("Open: HttpApi event A has no ApiId"), "{err}");
        assert!(err.contains("implicit HTTP API"), "{err}");
    }

    #[test]
    fn functions_merge_global_environment_and_settings() {
        let t = Template::parse(SAMPLE).unwrap();
        let functions = t.functions().unwrap();
        let open = functions.iter().find(|f| f.binary == "open").unwrap();
        assert!(open.environment.contains_key("TABLE_NAME"));
        assert!(open.environment.contains_key("EXTRA"));
        assert_eq!(open.timeout_secs, 7);
        let closed = functions.iter().find(|f| f.binary == "closed").unwrap();
        assert_eq!(closed.timeout_secs, 2);
        assert_eq!(closed.reserved_concurrency, Some(3));
        assert_eq!(open.reserved_concurrency, None);
    }

    #[test]
    fn intrinsics_resolve_against_provisioned_values() {
        let t = Template::parse(SAMPLE).unwrap();
        let mut refs = Refs::with_pseudo_parameters(t.parameter_defaults());
        refs.set_ref("Pool", "us-east-1_abc");
        let (_, table) = &t.resources_of_type("AWS::DynamoDB::Table")[0];
        assert_eq!(refs.resolve(&table["TableName"]).unwrap(), "gatehouse-dev");
        let auth = &t.jwt_authorizers()["Jwt"];
        assert_eq!(
            refs.resolve(&auth.issuer).unwrap(),
            "https://issuer/us-east-1_abc"
        );
        assert!(
            refs.resolve(&auth.audience[0]).is_err(),
            "Client was never provisioned"
        );
    }

    #[test]
    fn a_number_setting_may_name_a_number_parameter_and_follows_its_override() {
        let yaml = SAMPLE
            .replace(
                "  Stage: {Type: String, Default: dev}",
                "  Stage: {Type: String, Default: dev}\n  Memory: {Type: Number, Default: 256, AllowedValues: [256, 512]}",
            )
            .replace("    Timeout: 7", "    Timeout: 7\n    MemorySize: !Ref Memory");
        let mut t = Template::parse(&yaml).unwrap();
        let memory = |t: &Template| t.functions().unwrap()[0].memory_mb;
        assert_eq!(memory(&t), 256);
        t.override_parameters(&[("Memory".into(), "512".into())])
            .unwrap();
        assert_eq!(memory(&t), 512);
        assert!(
            t.override_parameters(&[("Memory".into(), "300".into())])
                .is_err(),
            "a value outside AllowedValues is refused"
        );
        let text = yaml.replace("{Type: Number, Default: 256", "{Type: String, Default: 256");
        let err = Template::parse(&text)
            .err()
            .expect("a String parameter is refused");
        assert!(
            err.to_string()
                .contains("MemorySize must be a plain number"),
            "{err}"
        );
    }

    #[test]
    fn overrides_replace_defaults_and_unknown_names_are_refused() {
        let mut t = Template::parse(SAMPLE).unwrap();
        t.override_parameters(&[("Stage".into(), "test".into())])
            .unwrap();
        assert_eq!(t.parameter_defaults()["Stage"], "test");
        assert!(
            t.override_parameters(&[("Nope".into(), "x".into())])
                .is_err()
        );
    }

    #[test]
    fn every_samconfig_environment_gives_every_parameter_a_valid_value() {
        let root = concat!(env!("CARGO_MANIFEST_DIR"), "/..");
        let config = std::fs::read_to_string(format!("{root}/samconfig.toml")).unwrap();
        for env in ["dev", "prod"] {
            let mut t =
                Template::load(std::path::Path::new(&format!("{root}/template.yaml"))).unwrap();
            let overrides = crate::strict::samconfig_overrides(&config, env).unwrap();
            let set: Vec<&str> = overrides.iter().map(|(k, _)| k.as_str()).collect();
            for needed in [
                "Stage",
                "SenderEmail",
                "AlarmEmail",
                "LogRetentionDays",
                "LogLevel",
                "SignUpDeniedDomains",
                "AdminEmails",
            ] {
                assert!(set.contains(&needed), "[{env}] sets no {needed}");
            }
            t.override_parameters(&overrides)
                .unwrap_or_else(|e| panic!("[{env}]: {e}"));
            assert_eq!(t.parameter_defaults()["Stage"], env);
        }
        // A bad value is refused as CloudFormation refuses it.
        let mut t = Template::load(std::path::Path::new(&format!("{root}/template.yaml"))).unwrap();
        for (name, value) in [
            ("LogRetentionDays", "10"),
            ("LogLevel", "LOUD"),
            ("AlarmEmail", "nobody"),
        ] {
            let mut overrides = crate::strict::samconfig_overrides(&config, "dev").unwrap();
            overrides.push((name.into(), value.into()));
            assert!(
                t.override_parameters(&overrides).is_err(),
                "{name}={value} accepted"
            );
        }
    }

    #[test]
    fn triggers_name_their_function() {
        let t = Template::parse(SAMPLE).unwrap();
        let (_, pool) = &t.resources_of_type("AWS::Cognito::UserPool")[0];
        assert_eq!(Template::triggers(pool)["PostConfirmation"], "Hook");
    }
}
