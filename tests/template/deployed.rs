//! The template as CloudFormation receives it: after `sam package` and the SAM
//! transform (`scripts/sam-translate.py`, SAM's own translator, offline). What SAM
//! generates (roles, the API's stage, permissions) exists only here, so the checks
//! that a first deploy would otherwise make on AWS are made on this.

use crate::support::*;
use serde_json::Value;
use std::collections::BTreeSet;
use std::process::Command;
use std::sync::OnceLock;

fn deployed() -> &'static Value {
    static DEPLOYED: OnceLock<Value> = OnceLock::new();
    DEPLOYED.get_or_init(|| {
        let out = Command::new(tool("sam", "python"))
            .current_dir(workspace_root())
            .args(["scripts/sam-translate.py", "template.yaml"])
            .output()
            .expect("run the SAM translator");
        assert!(
            out.status.success(),
            "the SAM transform failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).expect("JSON")
    })
}

fn resource(id: &str) -> &'static Value {
    let resource = &deployed()["Resources"][id];
    assert!(!resource.is_null(), "{id} is not in the deployed template");
    resource
}

/// Every name `value` refers to: `Ref`, `Fn::GetAtt`, `${...}` in `Fn::Sub`
/// (less the Sub's own variables), and the conditions of `Fn::If`.
fn names_used(value: &Value, refs: &mut BTreeSet<String>, conditions: &mut BTreeSet<String>) {
    match value {
        Value::Array(items) => items
            .iter()
            .for_each(|item| names_used(item, refs, conditions)),
        Value::Object(map) => {
            for (key, inner) in map {
                match (key.as_str(), inner) {
                    ("Ref", Value::String(name)) => {
                        refs.insert(name.clone());
                    }
                    ("Fn::GetAtt", Value::Array(parts)) => {
                        refs.extend(parts.first().and_then(Value::as_str).map(str::to_owned));
                    }
                    ("Fn::GetAtt", Value::String(dotted)) => {
                        refs.insert(dotted.split('.').next().unwrap_or_default().to_owned());
                    }
                    ("Fn::Sub", Value::String(text)) => sub_names(text, &BTreeSet::new(), refs),
                    ("Fn::Sub", Value::Array(parts)) => {
                        let own: BTreeSet<String> = parts
                            .get(1)
                            .and_then(Value::as_object)
                            .map(|vars| vars.keys().cloned().collect())
                            .unwrap_or_default();
                        if let Some(text) = parts.first().and_then(Value::as_str) {
                            sub_names(text, &own, refs);
                        }
                        parts
                            .iter()
                            .skip(1)
                            .for_each(|p| names_used(p, refs, conditions));
                    }
                    ("Fn::If", Value::Array(parts)) => {
                        conditions.extend(parts.first().and_then(Value::as_str).map(str::to_owned));
                        parts
                            .iter()
                            .skip(1)
                            .for_each(|p| names_used(p, refs, conditions));
                    }
                    ("Condition", Value::String(name)) => {
                        conditions.insert(name.clone());
                    }
                    _ => names_used(inner, refs, conditions),
                }
            }
        }
        _ => {}
    }
}

fn sub_names(text: &str, own: &BTreeSet<String>, refs: &mut BTreeSet<String>) {
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        let after = &rest[start + 2..];
        let Some(end) = after.find('}') else { break };
        let name = &after[..end];
        // `${!x}` is a literal `${x}`.
        if !name.starts_with('!') {
            let base = name.split('.').next().unwrap_or_default();
            if !own.contains(base) {
                refs.insert(base.to_owned());
            }
        }
        rest = &after[end + 1..];
    }
}

#[test]
fn every_name_the_deployed_template_uses_exists_in_it() {
    let template = deployed();
    let declared = |section: &str| -> BTreeSet<String> {
        template[section]
            .as_object()
            .map(|m| m.keys().cloned().collect())
            .unwrap_or_default()
    };
    let resources = declared("Resources");
    let parameters = declared("Parameters");
    let conditions = declared("Conditions");
    let (mut refs, mut used_conditions) = (BTreeSet::new(), BTreeSet::new());
    for section in ["Resources", "Outputs", "Conditions"] {
        names_used(&template[section], &mut refs, &mut used_conditions);
    }
    let mut depends_on = BTreeSet::new();
    for resource in template["Resources"]
        .as_object()
        .expect("Resources")
        .values()
    {
        match &resource["DependsOn"] {
            Value::String(one) => {
                depends_on.insert(one.clone());
            }
            Value::Array(many) => {
                depends_on.extend(many.iter().filter_map(Value::as_str).map(str::to_owned))
            }
            _ => {}
        }
    }
    let unknown_refs: Vec<_> = refs
        .iter()
        .filter(|name| {
            !name.starts_with("AWS::") && !resources.contains(*name) && !parameters.contains(*name)
        })
        .collect();
    assert!(
        unknown_refs.is_empty(),
        "referred to, never declared: {unknown_refs:?}"
    );
    let unknown_dependencies: Vec<_> = depends_on.difference(&resources).collect();
    assert!(
        unknown_dependencies.is_empty(),
        "DependsOn a resource that SAM does not generate: {unknown_dependencies:?}"
    );
    let unknown_conditions: Vec<_> = used_conditions.difference(&conditions).collect();
    assert!(
        unknown_conditions.is_empty(),
        "conditions never declared: {unknown_conditions:?}"
    );
}

#[test]
fn the_custom_domain_maps_the_stage_sam_generates() {
    let mapping = resource("ApiDomainMapping");
    let stage_id = mapping["DependsOn"].as_str().expect("DependsOn the stage");
    let stage = resource(stage_id);
    assert_eq!(stage["Type"], "AWS::ApiGatewayV2::Stage");
    assert_eq!(stage["Properties"]["ApiId"]["Ref"], "HttpApi");
    assert_eq!(
        stage["Properties"]["StageName"],
        mapping["Properties"]["Stage"]
    );
    assert_eq!(resource("HttpApi")["Type"], "AWS::ApiGatewayV2::Api");
}

#[test]
fn the_deployed_pool_and_table_survive_replacement_and_a_failed_first_create() {
    for (id, kind) in [
        ("UserPool", "AWS::Cognito::UserPool"),
        ("Table", "AWS::DynamoDB::Table"),
    ] {
        let deployed = resource(id);
        assert_eq!(deployed["Type"], kind);
        assert_eq!(deployed["DeletionPolicy"], "RetainExceptOnCreate", "{id}");
        assert_eq!(deployed["UpdateReplacePolicy"], "Retain", "{id}");
    }
    assert_eq!(
        resource("UserPool")["Properties"]["DeletionProtection"]["Ref"],
        "DeletionProtection"
    );
    assert!(
        !resource("Table")["Properties"]["DeletionProtectionEnabled"].is_null(),
        "the table's deletion protection"
    );
}

#[test]
fn the_deployed_stack_sends_mail_only_through_a_verified_identity_and_hears_its_feedback() {
    let template = deployed();
    let kinds: BTreeSet<&str> = template["Resources"]
        .as_object()
        .expect("Resources")
        .values()
        .filter_map(|r| r["Type"].as_str())
        .collect();
    assert!(!kinds.contains("AWS::SES::EmailIdentity"), "{kinds:?}");
    // The identity the deployer named, else the sender address's own identity.
    let source = &resource("UserPool")["Properties"]["EmailConfiguration"]["SourceArn"]["Fn::If"];
    assert_eq!(source[0], "SenderIdentityNamed", "{source}");
    let named = source[1]["Fn::Sub"].as_str().unwrap_or_default();
    let address = source[2]["Fn::Sub"].as_str().unwrap_or_default();
    assert!(named.ends_with(":identity/${SenderIdentity}"), "{named}");
    assert!(address.ends_with(":identity/${SenderEmail}"), "{address}");
    assert!(
        resource("SesFeedbackTopic")["Properties"]["KmsMasterKeyId"].is_null(),
        "SES cannot publish to a topic under the AWS-managed key"
    );
    let (_, policy) = template["Resources"]
        .as_object()
        .expect("Resources")
        .iter()
        .find(|(_, r)| r["Type"] == "AWS::SNS::TopicPolicy")
        .expect("the feedback topic's policy");
    assert_eq!(
        policy["Properties"]["Topics"][0]["Ref"], "SesFeedbackTopic",
        "{policy}"
    );
}

#[test]
fn every_deployed_function_links_back_to_the_apis_own_url_unless_a_domain_is_named() {
    let template = deployed();
    let functions: Vec<(&String, &Value)> = template["Resources"]
        .as_object()
        .expect("Resources")
        .iter()
        .filter(|(_, r)| r["Type"] == "AWS::Lambda::Function")
        .collect();
    assert_eq!(
        functions.len(),
        std::fs::read_dir(workspace_root().join("functions"))
            .expect("functions/")
            .filter(|entry| {
                entry
                    .as_ref()
                    .is_ok_and(|e| e.path().join("Cargo.toml").exists())
            })
            .count(),
        "one Lambda function per crate in functions/"
    );
    let mut with_url = 0;
    for (id, function) in functions {
        let url = &function["Properties"]["Environment"]["Variables"]["API_URL"];
        if url.is_null() {
            continue;
        }
        with_url += 1;
        let text = url.to_string();
        assert!(
            text.contains("HasCustomDomain") && text.contains("${HttpApi}.execute-api."),
            "{id}: {text}"
        );
    }
    assert!(
        with_url > 0,
        "the notification worker builds links from API_URL"
    );
}

#[test]
fn every_deployed_function_runs_on_the_architecture_make_sam_build_builds_by_default() {
    let template = deployed();
    let parameter = &template["Parameters"]["FunctionArchitecture"];
    assert_eq!(parameter["Default"], "arm64", "Graviton by default");
    assert_eq!(
        parameter["AllowedValues"],
        serde_json::json!(["arm64", "x86_64"])
    );
    let makefile =
        std::fs::read_to_string(workspace_root().join("Makefile")).expect("read the Makefile");
    assert!(
        makefile.contains("\nARCHITECTURE ?= arm64\n"),
        "make sam-build builds for the template's default architecture"
    );
    let mut functions = 0;
    for (id, resource) in template["Resources"].as_object().expect("Resources") {
        if resource["Type"] != "AWS::Lambda::Function" {
            continue;
        }
        functions += 1;
        assert_eq!(
            resource["Properties"]["Architectures"],
            serde_json::json!([{"Ref": "FunctionArchitecture"}]),
            "{id}"
        );
    }
    assert!(functions > 0);
}
