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
    resources: Mapping,
    parameters: Mapping,
    globals: Mapping,
}

impl Template {
    pub fn load(path: &Path) -> Result<Self, TemplateError> {
        let text = std::fs::read_to_string(path)?;
        Self::parse(&text)
    }

    /// Parses and checks the template: anything the local stack would not
    /// evaluate or run is refused here, every problem named.
    pub fn parse(text: &str) -> Result<Self, TemplateError> {
        let doc: Value = serde_yaml_ng::from_str(text)?;
        let problems = crate::strict::problems(&doc);
        if !problems.is_empty() {
            return Err(invalid(format!(
                "the local stack cannot run this template faithfully:\n  - {}",
                problems.join("\n  - ")
            )));
        }
        let section = |name: &str| {
            doc.get(name)
                .and_then(Value::as_mapping)
                .cloned()
                .unwrap_or_default()
        };
        let resources = section("Resources");
        if resources.is_empty() {
            return Err(invalid("no Resources"));
        }
        let globals = doc
            .get("Globals")
            .and_then(|g| g.get("Function"))
            .and_then(Value::as_mapping)
            .cloned()
            .unwrap_or_default();
        Ok(Self {
            resources,
            parameters: section("Parameters"),
            globals,
        })
    }

    /// Every SQS event of every function.
    pub fn queue_events(&self) -> Result<Vec<QueueEvent>, TemplateError> {
        let mut out = Vec::new();
        for (id, resource) in &self.resources {
            if resource.get("Type").and_then(Value::as_str) != Some("AWS::Serverless::Function") {
                continue;
            }
            let id = id.as_str().unwrap_or_default();
            let events = resource
                .get("Properties")
                .and_then(|p| p.get("Events"))
                .and_then(Value::as_mapping);
            for (name, event) in events.into_iter().flatten() {
                if event.get("Type").and_then(Value::as_str) != Some("SQS") {
                    continue;
                }
                let name = name.as_str().unwrap_or_default();
                let props = event.get("Properties").cloned().unwrap_or_default();
                let queue = props
                    .get("Queue")
                    .cloned()
                    .ok_or_else(|| invalid(format!("{id}: SQS event {name} has no Queue")))?;
                out.push(QueueEvent {
                    function: id.to_owned(),
                    name: name.to_owned(),
                    queue,
                    batch_size: props.get("BatchSize").cloned().unwrap_or(Value::from(10)),
                    window_secs: props
                        .get("MaximumBatchingWindowInSeconds")
                        .cloned()
                        .unwrap_or(Value::from(0)),
                    reports_item_failures: props
                        .get("FunctionResponseTypes")
                        .and_then(Value::as_sequence)
                        .is_some_and(|t| {
                            t.iter()
                                .any(|v| v.as_str() == Some("ReportBatchItemFailures"))
                        }),
                    max_concurrency: props
                        .get("ScalingConfig")
                        .and_then(|c| c.get("MaximumConcurrency"))
                        .cloned(),
                    enabled: props
                        .get("Enabled")
                        .and_then(Value::as_bool)
                        .unwrap_or(true),
                });
            }
        }
        Ok(out)
    }

    /// `(logical id, properties)` of every resource of one type, in template order.
    pub fn resources_of_type(&self, kind: &str) -> Vec<(String, Mapping)> {
        self.resources
            .iter()
            .filter(|(_, r)| r.get("Type").and_then(Value::as_str) == Some(kind))
            .filter_map(|(id, r)| {
                let props = r
                    .get("Properties")
                    .and_then(Value::as_mapping)
                    .cloned()
                    .unwrap_or_default();
                Some((id.as_str()?.to_owned(), props))
            })
            .collect()
    }

    /// Replaces parameter defaults, as `sam deploy --parameter-overrides` does,
    /// then checks every value as CloudFormation would (`AllowedValues`,
    /// `AllowedPattern`, `MinValue`/`MaxValue`, `MinLength`/`MaxLength`).
    pub fn override_parameters(
        &mut self,
        overrides: &[(String, String)],
    ) -> Result<(), TemplateError> {
        for (name, value) in overrides {
            let parameter = self
                .parameters
                .get_mut(name.as_str())
                .and_then(Value::as_mapping_mut)
                .ok_or_else(|| invalid(format!("no parameter {name} to override")))?;
            parameter.insert("Default".into(), Value::String(value.clone()));
        }
        for (name, definition) in &self.parameters {
            let name = name.as_str().unwrap_or_default();
            let Some(value) = definition.get("Default").and_then(scalar) else {
                return Err(invalid(format!(
                    "parameter {name} has no value: give it a Default or an override"
                )));
            };
            crate::strict::check_parameter(name, definition, &value).map_err(invalid)?;
        }
        Ok(())
    }

    /// Parameter defaults (after overrides), the local stack's parameter values.
    pub fn parameter_defaults(&self) -> HashMap<String, String> {
        self.parameters
            .iter()
            .filter_map(|(name, p)| Some((name.as_str()?.to_owned(), scalar(p.get("Default")?)?)))
            .collect()
    }

    pub fn functions(&self) -> Result<Vec<Function>, TemplateError> {
        let global_env = env_variables(&Value::Mapping(self.globals.clone()));
        let global_num = |key: &str, fallback: u64| {
            self.globals
                .get(key)
                .and_then(Value::as_u64)
                .unwrap_or(fallback)
        };
        let mut out = Vec::new();
        for (id, resource) in &self.resources {
            if resource.get("Type").and_then(Value::as_str) != Some("AWS::Serverless::Function") {
                continue;
            }
            let id = id.as_str().unwrap_or_default().to_owned();
            let binary = resource
                .get("Metadata")
                .and_then(|m| m.get("BuildProperties"))
                .and_then(|b| b.get("Binary"))
                .and_then(Value::as_str)
                .ok_or_else(|| invalid(format!("{id} has no Metadata.BuildProperties.Binary")))?;
            let props = resource.get("Properties").cloned().unwrap_or_default();
            let mut environment = global_env.clone();
            environment.extend(env_variables(&props));
            out.push(Function {
                logical_id: id,
                binary: binary.to_owned(),
                timeout_secs: props
                    .get("Timeout")
                    .and_then(Value::as_u64)
                    .unwrap_or(global_num("Timeout", 3)),
                memory_mb: props
                    .get("MemorySize")
                    .and_then(Value::as_u64)
                    .unwrap_or(global_num("MemorySize", 128)),
                environment,
                logging: Logging::from(
                    self.globals.get("LoggingConfig"),
                    props.get("LoggingConfig"),
                ),
                policies: props.get("Policies").cloned(),
                traced: props
                    .get("Tracing")
                    .or_else(|| self.globals.get("Tracing"))
                    .and_then(Value::as_str)
                    == Some("Active"),
                reserved_concurrency: props
                    .get("ReservedConcurrentExecutions")
                    .or_else(|| self.globals.get("ReservedConcurrentExecutions"))
                    .and_then(Value::as_u64),
            });
        }
        Ok(out)
    }

    /// Every `HttpApi` event of every function.
    pub fn routes(&self) -> Result<Vec<Route>, TemplateError> {
        let default_authorizer = self.http_api_auth().and_then(|auth| {
            auth.get("DefaultAuthorizer")
                .and_then(Value::as_str)
                .map(str::to_owned)
        });
        let mut routes = Vec::new();
        for (id, resource) in &self.resources {
            let Some(events) = resource
                .get("Properties")
                .and_then(|p| p.get("Events"))
                .and_then(Value::as_mapping)
            else {
                continue;
            };
            let id = id.as_str().unwrap_or_default();
            for (name, event) in events {
                if event.get("Type").and_then(Value::as_str) != Some("HttpApi") {
                    continue;
                }
                let name = name.as_str().unwrap_or_default();
                let props = event.get("Properties").cloned().unwrap_or_default();
                let field = |field: &str| {
                    props
                        .get(field)
                        .and_then(Value::as_str)
                        .map(str::to_owned)
                        .ok_or_else(|| {
                            invalid(format!("{id}: HttpApi event {name} has no {field}"))
                        })
                };
                let Some(api) = props.get("ApiId") else {
                    return Err(invalid(format!(
                        "{id}: HttpApi event {name} has no ApiId; on AWS it would belong to \
                         SAM's implicit HTTP API, which has no authorizer. Name the API: \
                         `ApiId: !Ref HttpApi`"
                    )));
                };
                let api_id = match api {
                    Value::Tagged(t) if t.tag == "Ref" => t.value.as_str().map(str::to_owned),
                    _ => None,
                };
                if api_id.as_deref() != self.http_api_id().as_deref() {
                    return Err(invalid(format!(
                        "{id}: HttpApi event {name} must name the template's \
                         AWS::Serverless::HttpApi with `ApiId: !Ref <its logical id>`"
                    )));
                }
                let route_auth = props.get("Auth");
                let named = route_auth
                    .and_then(|a| a.get("Authorizer"))
                    .and_then(Value::as_str);
                let auth = match named.map(str::to_owned).or(default_authorizer.clone()) {
                    Some(name) if name == "NONE" => RouteAuth::None,
                    Some(name) => RouteAuth::Jwt(name),
                    None => RouteAuth::None,
                };
                let scopes: Vec<String> = route_auth
                    .and_then(|a| a.get("AuthorizationScopes"))
                    .and_then(Value::as_sequence)
                    .map(|s| {
                        s.iter()
                            .filter_map(Value::as_str)
                            .map(str::to_owned)
                            .collect()
                    })
                    .unwrap_or_default();
                if !scopes.is_empty() && auth == RouteAuth::None {
                    return Err(invalid(format!(
                        "{id}: HttpApi event {name} has AuthorizationScopes but no authorizer"
                    )));
                }
                // No Path and no Method: SAM makes it the API's `$default` route,
                // for every request no other route matches.
                let (method, path) = if props.get("Path").is_none() && props.get("Method").is_none()
                {
                    ("ANY".to_owned(), "$default".to_owned())
                } else {
                    (field("Method")?.to_uppercase(), field("Path")?)
                };
                routes.push(Route {
                    method,
                    path,
                    function: id.to_owned(),
                    auth,
                    scopes,
                });
            }
        }
        Ok(routes)
    }

    /// The logical id of the template's one `AWS::Serverless::HttpApi`.
    fn http_api_id(&self) -> Option<String> {
        self.resources
            .iter()
            .find(|(_, r)| {
                r.get("Type").and_then(Value::as_str) == Some("AWS::Serverless::HttpApi")
            })
            .and_then(|(id, _)| id.as_str().map(str::to_owned))
    }

    /// The HTTP API's `DefaultRouteSettings` throttling, unresolved:
    /// `(ThrottlingRateLimit, ThrottlingBurstLimit)`.
    pub fn route_throttling(&self) -> Option<(Value, Value)> {
        let settings = self
            .resources
            .values()
            .find(|r| r.get("Type").and_then(Value::as_str) == Some("AWS::Serverless::HttpApi"))
            .and_then(|api| api.get("Properties"))
            .and_then(|p| p.get("DefaultRouteSettings"))?;
        Some((
            settings.get("ThrottlingRateLimit")?.clone(),
            settings.get("ThrottlingBurstLimit")?.clone(),
        ))
    }

    /// The HTTP API's `AccessLogSettings.Format`, if it logs access.
    pub fn access_log_format(&self) -> Option<String> {
        self.resources
            .values()
            .find(|r| r.get("Type").and_then(Value::as_str) == Some("AWS::Serverless::HttpApi"))
            .and_then(|api| api.get("Properties"))
            .and_then(|p| p.get("AccessLogSettings"))
            .and_then(|s| s.get("Format"))
            .and_then(Value::as_str)
            .map(str::to_owned)
    }

    fn http_api_auth(&self) -> Option<&Value> {
        self.resources
            .values()
            .find(|r| r.get("Type").and_then(Value::as_str) == Some("AWS::Serverless::HttpApi"))
            .and_then(|api| api.get("Properties"))
            .and_then(|p| p.get("Auth"))
    }

    pub fn jwt_authorizers(&self) -> BTreeMap<String, JwtAuthorizer> {
        let Some(authorizers) = self
            .http_api_auth()
            .and_then(|a| a.get("Authorizers"))
            .and_then(Value::as_mapping)
        else {
            return BTreeMap::new();
        };
        authorizers
            .iter()
            .filter_map(|(name, def)| {
                let jwt = def.get("JwtConfiguration")?;
                let audience = jwt
                    .get("audience")
                    .and_then(Value::as_sequence)
                    .cloned()
                    .unwrap_or_default();
                Some((
                    name.as_str()?.to_owned(),
                    JwtAuthorizer {
                        identity_source: def
                            .get("IdentitySource")
                            .and_then(Value::as_str)
                            .unwrap_or("$request.header.Authorization")
                            .to_owned(),
                        issuer: jwt.get("issuer")?.clone(),
                        audience,
                    },
                ))
            })
            .collect()
    }

    /// The triggers a user pool's `LambdaConfig` wires, by function logical id.
    pub fn triggers(pool_properties: &Mapping) -> Triggers {
        let Some(config) = pool_properties
            .get("LambdaConfig")
            .and_then(Value::as_mapping)
        else {
            return Triggers::new();
        };
        config
            .iter()
            .filter_map(|(trigger, target)| {
                Some((trigger.as_str()?.to_owned(), getatt_target(target)?))
            })
            .collect()
    }
}

fn env_variables(props: &Value) -> BTreeMap<String, Value> {
    props
        .get("Environment")
        .and_then(|e| e.get("Variables"))
        .and_then(Value::as_mapping)
        .map(|vars| {
            vars.iter()
                .filter_map(|(k, v)| Some((k.as_str()?.to_owned(), v.clone())))
                .collect()
        })
        .unwrap_or_default()
}

fn scalar(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// The logical id in `!GetAtt Fn.Arn` or `{"Fn::GetAtt": [Fn, Arn]}`.
fn getatt_target(value: &Value) -> Option<String> {
    match value {
        Value::Tagged(tagged) if tagged.tag == "GetAtt" => tagged
            .value
            .as_str()
            .and_then(|s| s.split('.').next())
            .map(str::to_owned),
        Value::Mapping(m) => m
            .get("Fn::GetAtt")
            .and_then(Value::as_sequence)
            .and_then(|s| s.first())
            .and_then(Value::as_str)
            .map(str::to_owned),
        _ => None,
    }
}

/// What `!Ref` and `!GetAtt` resolve to, filled in as resources are created.
#[derive(Debug, Default, Clone)]
pub struct Refs {
    refs: HashMap<String, String>,
    attributes: HashMap<(String, String), String>,
}

impl Refs {
    pub fn with_pseudo_parameters(parameters: HashMap<String, String>) -> Self {
        let mut refs = Self {
            refs: parameters,
            ..Self::default()
        };
        for (name, value) in [
            ("AWS::Region", REGION),
            ("AWS::AccountId", ACCOUNT_ID),
            ("AWS::StackName", STACK_NAME),
            ("AWS::Partition", "aws"),
            ("AWS::URLSuffix", "amazonaws.com"),
        ] {
            refs.set_ref(name, value);
        }
        refs
    }

    pub fn set_ref(&mut self, id: &str, value: impl Into<String>) {
        self.refs.insert(id.to_owned(), value.into());
    }

    pub fn set_attribute(&mut self, id: &str, attribute: &str, value: impl Into<String>) {
        self.attributes
            .insert((id.to_owned(), attribute.to_owned()), value.into());
    }

    pub fn get_ref(&self, id: &str) -> Option<&str> {
        self.refs.get(id).map(String::as_str)
    }

    fn reference(&self, name: &str) -> Result<String, TemplateError> {
        if let Some((id, attribute)) = name.split_once('.') {
            return self
                .attributes
                .get(&(id.to_owned(), attribute.to_owned()))
                .cloned()
                .ok_or_else(|| invalid(format!("cannot resolve !GetAtt {name} locally")));
        }
        self.refs
            .get(name)
            .cloned()
            .ok_or_else(|| invalid(format!("cannot resolve !Ref {name} locally")))
    }

    fn substitute(&self, text: &str) -> Result<String, TemplateError> {
        let mut out = String::new();
        let mut rest = text;
        while let Some(start) = rest.find("${") {
            out.push_str(&rest[..start]);
            let after = &rest[start + 2..];
            let end = after
                .find('}')
                .ok_or_else(|| invalid(format!("unclosed ${{ in !Sub {text:?}")))?;
            out.push_str(&self.reference(&after[..end])?);
            rest = &after[end + 1..];
        }
        out.push_str(rest);
        Ok(out)
    }

    /// Resolves a scalar-valued property to its string value.
    pub fn resolve(&self, value: &Value) -> Result<String, TemplateError> {
        if let Some(s) = scalar(value) {
            return Ok(s);
        }
        match self.resolve_tree(value)? {
            Value::String(s) => Ok(s),
            other => scalar(&other).ok_or_else(|| invalid(format!("{value:?} is not a scalar"))),
        }
    }

    /// Resolves every intrinsic in a tree, leaving plain values as they are.
    pub fn resolve_tree(&self, value: &Value) -> Result<Value, TemplateError> {
        Ok(match value {
            Value::Tagged(tagged) => {
                let inner = &tagged.value;
                match tagged.tag.to_string().trim_start_matches('!') {
                    "Ref" => Value::String(self.reference(inner.as_str().unwrap_or_default())?),
                    "GetAtt" => match inner {
                        Value::Sequence(parts) => {
                            let parts: Vec<&str> = parts.iter().filter_map(Value::as_str).collect();
                            Value::String(self.reference(&parts.join("."))?)
                        }
                        other => Value::String(self.reference(other.as_str().unwrap_or_default())?),
                    },
                    "Sub" => Value::String(self.substitute(inner.as_str().unwrap_or_default())?),
                    "Join" => self.join(inner)?,
                    tag => return Err(invalid(format!("unsupported intrinsic !{tag}"))),
                }
            }
            Value::Mapping(map) if map.len() == 1 => {
                let (key, inner) = map
                    .iter()
                    .next()
                    .map(|(k, v)| (k.as_str(), v))
                    .unwrap_or((None, value));
                match key {
                    Some("Ref") => {
                        Value::String(self.reference(inner.as_str().unwrap_or_default())?)
                    }
                    Some("Fn::GetAtt") => {
                        let parts: Vec<&str> = inner
                            .as_sequence()
                            .map(|s| s.iter().filter_map(Value::as_str).collect())
                            .unwrap_or_default();
                        Value::String(self.reference(&parts.join("."))?)
                    }
                    Some("Fn::Sub") => {
                        Value::String(self.substitute(inner.as_str().unwrap_or_default())?)
                    }
                    Some("Fn::Join") => self.join(inner)?,
                    _ => Value::Mapping(self.resolve_mapping(map)?),
                }
            }
            Value::Mapping(map) => Value::Mapping(self.resolve_mapping(map)?),
            Value::Sequence(items) => Value::Sequence(
                items
                    .iter()
                    .map(|item| self.resolve_tree(item))
                    .collect::<Result<_, _>>()?,
            ),
            plain => plain.clone(),
        })
    }

    fn resolve_mapping(&self, map: &Mapping) -> Result<Mapping, TemplateError> {
        map.iter()
            .map(|(k, v)| Ok((k.clone(), self.resolve_tree(v)?)))
            .collect()
    }

    fn join(&self, args: &Value) -> Result<Value, TemplateError> {
        let parts = args.as_sequence().filter(|s| s.len() == 2);
        let Some(parts) = parts else {
            return Err(invalid("!Join takes [delimiter, [values]]"));
        };
        let delimiter = parts[0].as_str().unwrap_or_default();
        let values = parts[1]
            .as_sequence()
            .ok_or_else(|| invalid("!Join takes a list of values"))?
            .iter()
            .map(|v| self.resolve(v))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Value::String(values.join(delimiter)))
    }
}

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
                "PublicBaseUrl",
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
