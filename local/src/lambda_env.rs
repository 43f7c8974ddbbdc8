//! The process environment Lambda gives a function (provided.al2023), with the
//! local stand-ins for its credentials and AWS endpoints.

use crate::template::{ACCOUNT_ID, Function, REGION};
use std::path::Path;

/// Where a function's SDK calls go locally, and who it is to them.
pub struct Wiring<'a> {
    /// `AWS_ENDPOINT_URL`: the IAM-checking front door to the emulators.
    pub aws_endpoint: &'a str,
    /// The function's own access key: the front door knows its role by it.
    pub access_key_id: &'a str,
    /// The deployed function name (`AWS_LAMBDA_FUNCTION_NAME`).
    pub function_name: &'a str,
    /// The resolved `LoggingConfig.LogGroup`, if the template names one.
    pub log_group: Option<String>,
    /// The resolved `LoggingConfig.ApplicationLogLevel`, if the template sets one.
    pub log_level: Option<String>,
}

/// Lambda's reserved variables for one function. The template's own variables
/// are added after these.
pub fn environment(
    function: &Function,
    binary: &Path,
    wiring: &Wiring<'_>,
) -> Vec<(String, String)> {
    let task_root = binary
        .parent()
        .map(|p| p.display().to_string())
        .unwrap_or_else(|| ".".into());
    let log_group = wiring
        .log_group
        .clone()
        .unwrap_or_else(|| format!("/aws/lambda/{}", wiring.function_name));
    let mut env: Vec<(&str, String)> = vec![
        ("AWS_REGION", REGION.into()),
        ("AWS_DEFAULT_REGION", REGION.into()),
        ("AWS_ACCESS_KEY_ID", wiring.access_key_id.into()),
        ("AWS_SECRET_ACCESS_KEY", "local".into()),
        ("AWS_SESSION_TOKEN", "local".into()),
        ("AWS_EC2_METADATA_DISABLED", "true".into()),
        ("AWS_ENDPOINT_URL", wiring.aws_endpoint.into()),
        ("AWS_LAMBDA_FUNCTION_NAME", wiring.function_name.into()),
        (
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
            function.memory_mb.to_string(),
        ),
        ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST".into()),
        ("AWS_LAMBDA_INITIALIZATION_TYPE", "on-demand".into()),
        ("AWS_LAMBDA_LOG_GROUP_NAME", log_group),
        (
            "AWS_LAMBDA_LOG_STREAM_NAME",
            format!("local/[$LATEST]{}", ACCOUNT_ID),
        ),
        ("LAMBDA_TASK_ROOT", task_root),
        ("LAMBDA_RUNTIME_DIR", "/var/runtime".into()),
        ("TZ", ":UTC".into()),
        ("LANG", "en_US.UTF-8".into()),
        ("_HANDLER", "bootstrap".into()),
    ];
    // Lambda sets the level only with the JSON format (advanced logging controls).
    env.push(("AWS_LAMBDA_LOG_FORMAT", function.logging.format.clone()));
    if function.logging.format.eq_ignore_ascii_case("JSON") {
        let level = wiring.log_level.clone().unwrap_or_else(|| "INFO".into());
        env.push(("AWS_LAMBDA_LOG_LEVEL", level));
    }
    env.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::template::Logging;
    use std::collections::BTreeMap;

    fn function(logging: Logging) -> Function {
        Function {
            logical_id: "ProbeFunction".into(),
            binary: "probe".into(),
            timeout_secs: 3,
            memory_mb: 256,
            environment: BTreeMap::new(),
            logging,
            policies: None,
            traced: false,
            reserved_concurrency: None,
        }
    }

    fn lookup(env: &[(String, String)], name: &str) -> Option<String> {
        env.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone())
    }

    #[test]
    fn the_log_group_is_named_after_the_function_and_the_level_follows_logging_config() {
        let wiring = Wiring {
            aws_endpoint: "http://127.0.0.1:1",
            access_key_id: "KEY",
            function_name: "gatehouse-local-ProbeFunction",
            log_group: None,
            log_level: Some("DEBUG".into()),
        };
        let json = function(Logging {
            format: "JSON".into(),
            application_level: None,
            log_group: None,
        });
        let env = environment(&json, Path::new("/work/target/debug/probe"), &wiring);
        assert_eq!(
            lookup(&env, "AWS_LAMBDA_LOG_GROUP_NAME").as_deref(),
            Some("/aws/lambda/gatehouse-local-ProbeFunction")
        );
        assert_eq!(
            lookup(&env, "AWS_LAMBDA_LOG_LEVEL").as_deref(),
            Some("DEBUG")
        );
        assert_eq!(
            lookup(&env, "LAMBDA_TASK_ROOT").as_deref(),
            Some("/work/target/debug")
        );
        assert_eq!(lookup(&env, "TZ").as_deref(), Some(":UTC"));
        let text = function(Logging {
            format: "Text".into(),
            ..Logging::default()
        });
        let env = environment(&text, Path::new("probe"), &wiring);
        assert_eq!(
            lookup(&env, "AWS_LAMBDA_LOG_FORMAT").as_deref(),
            Some("Text")
        );
        assert_eq!(lookup(&env, "AWS_LAMBDA_LOG_LEVEL"), None);
    }
}
