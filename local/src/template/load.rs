//! Reading a template: its functions, routes, authorizers, queues and
//! triggers, as SAM would deploy them.

use super::conditions;
use super::*;

impl Template {
    pub fn load(path: &Path) -> Result<Self, TemplateError> {
        let text = std::fs::read_to_string(path)?;
        Self::parse(&text)
    }

    /// Parses and checks the template, with its parameters' defaults: anything
    /// the local stack would not evaluate or run is refused here, every problem
    /// named.
    pub fn parse(text: &str) -> Result<Self, TemplateError> {
        let written: Value = serde_yaml_ng::from_str(text)?;
        let parameters = written
            .get("Parameters")
            .and_then(Value::as_mapping)
            .cloned()
            .unwrap_or_default();
        let mut template = Self {
            written,
            resources: Mapping::new(),
            parameters,
            globals: Mapping::new(),
        };
        template.decide()?;
        Ok(template)
    }

    /// Decides the conditions with today's parameter values (a parameter with
    /// no value yet counts as empty: overrides decide again), then checks and
    /// keeps the resources and globals that result.
    fn decide(&mut self) -> Result<(), TemplateError> {
        let values: HashMap<String, String> = self
            .parameters
            .iter()
            .filter_map(|(name, p)| {
                let value = p.get("Default").and_then(scalar).unwrap_or_default();
                Some((name.as_str()?.to_owned(), value))
            })
            .collect();
        let doc = conditions::evaluate(&self.written, &values)?;
        let problems = crate::strict::problems(&doc);
        if !problems.is_empty() {
            return Err(invalid(format!(
                "the local stack cannot run this template faithfully:\n  - {}",
                problems.join("\n  - ")
            )));
        }
        let resources = doc
            .get("Resources")
            .and_then(Value::as_mapping)
            .cloned()
            .unwrap_or_default();
        if resources.is_empty() {
            return Err(invalid("no Resources"));
        }
        self.resources = resources;
        self.globals = doc
            .get("Globals")
            .and_then(|g| g.get("Function"))
            .and_then(Value::as_mapping)
            .cloned()
            .unwrap_or_default();
        Ok(())
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
        self.decide()
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
        let parameters = self.parameter_defaults();
        // A plain number or a Number parameter's value (strict mode allows no other).
        let number = |value: Option<&Value>| -> Option<u64> {
            let value = value?;
            value.as_u64().or_else(|| {
                parameters
                    .get(crate::strict::parameter_ref(value)?)?
                    .parse()
                    .ok()
            })
        };
        let global_num =
            |key: &str, fallback: u64| number(self.globals.get(key)).unwrap_or(fallback);
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
                timeout_secs: number(props.get("Timeout")).unwrap_or(global_num("Timeout", 3)),
                memory_mb: number(props.get("MemorySize")).unwrap_or(global_num("MemorySize", 128)),
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
                reserved_concurrency: number(
                    props
                        .get("ReservedConcurrentExecutions")
                        .or_else(|| self.globals.get("ReservedConcurrentExecutions")),
                ),
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
