//! Template conditions, evaluated as CloudFormation does at deploy time: each
//! named condition from the parameter values (`Fn::Equals`, `Fn::Not`,
//! `Fn::And`, `Fn::Or`, `Condition`), then a resource whose `Condition` is false
//! is left out, `Fn::If` takes its branch and `AWS::NoValue` removes the
//! property. What comes out has no condition left, so everything downstream
//! (the strict check, provisioning, the functions) reads a plain template.

use super::*;

/// The intrinsic an expression is (`!Equals [..]` or `{"Fn::Equals": [..]}`),
/// with its argument.
fn intrinsic(value: &Value) -> Option<(String, &Value)> {
    match value {
        Value::Tagged(tagged) => Some((
            tagged.tag.to_string().trim_start_matches('!').to_owned(),
            &tagged.value,
        )),
        Value::Mapping(m) if m.len() == 1 => {
            let (key, argument) = m.iter().next()?;
            let key = key.as_str()?;
            let name = key
                .strip_prefix("Fn::")
                .or((key == "Ref" || key == "Condition").then_some(key))?;
            Some((name.to_owned(), argument))
        }
        _ => None,
    }
}

struct Evaluator<'a> {
    conditions: &'a Mapping,
    parameters: &'a HashMap<String, String>,
    known: HashMap<String, bool>,
    /// Conditions being evaluated, to refuse a cycle.
    open: Vec<String>,
}

impl Evaluator<'_> {
    fn condition(&mut self, name: &str) -> Result<bool, TemplateError> {
        if let Some(&value) = self.known.get(name) {
            return Ok(value);
        }
        if self.open.iter().any(|open| open == name) {
            return Err(invalid(format!("condition {name} refers to itself")));
        }
        let expression = self
            .conditions
            .get(name)
            .ok_or_else(|| invalid(format!("no condition {name}")))?
            .clone();
        self.open.push(name.to_owned());
        let value = self.truth(&expression)?;
        self.open.pop();
        self.known.insert(name.to_owned(), value);
        Ok(value)
    }

    fn arguments<'v>(
        &self,
        name: &str,
        argument: &'v Value,
    ) -> Result<&'v Vec<Value>, TemplateError> {
        argument
            .as_sequence()
            .ok_or_else(|| invalid(format!("Fn::{name} takes a list")))
    }

    fn truth(&mut self, expression: &Value) -> Result<bool, TemplateError> {
        let Some((name, argument)) = intrinsic(expression) else {
            return Err(invalid(format!(
                "a condition must be Fn::Equals, Fn::Not, Fn::And, Fn::Or or Condition, not {expression:?}"
            )));
        };
        match name.as_str() {
            "Equals" => {
                let pair = self.arguments("Equals", argument)?;
                if pair.len() != 2 {
                    return Err(invalid("Fn::Equals takes two values"));
                }
                Ok(self.scalar(&pair[0])? == self.scalar(&pair[1])?)
            }
            "Not" => {
                let one = self.arguments("Not", argument)?;
                match one.as_slice() {
                    [inner] => Ok(!self.truth(inner)?),
                    _ => Err(invalid("Fn::Not takes one condition")),
                }
            }
            "And" | "Or" => {
                let all = self.arguments(&name, argument)?.clone();
                if !(2..=10).contains(&all.len()) {
                    return Err(invalid(format!("Fn::{name} takes 2 to 10 conditions")));
                }
                let mut values = Vec::with_capacity(all.len());
                for inner in &all {
                    values.push(self.truth(inner)?);
                }
                Ok(if name == "And" {
                    values.iter().all(|v| *v)
                } else {
                    values.iter().any(|v| *v)
                })
            }
            "Condition" => {
                let name = argument
                    .as_str()
                    .ok_or_else(|| invalid("Condition names a condition"))?;
                self.condition(name)
            }
            other => Err(invalid(format!(
                "Fn::{other} is not evaluated in a condition locally"
            ))),
        }
    }

    /// A value compared by `Fn::Equals`: a literal or a parameter's value.
    fn scalar(&self, value: &Value) -> Result<String, TemplateError> {
        if let Some(s) = scalar(value) {
            return Ok(s);
        }
        match intrinsic(value) {
            Some((name, Value::String(parameter))) if name == "Ref" => {
                let pseudo = match parameter.as_str() {
                    "AWS::Region" => Some(REGION),
                    "AWS::AccountId" => Some(ACCOUNT_ID),
                    "AWS::StackName" => Some(STACK_NAME),
                    "AWS::Partition" => Some("aws"),
                    _ => None,
                };
                pseudo
                    .map(str::to_owned)
                    .or_else(|| self.parameters.get(parameter).cloned())
                    .ok_or_else(|| {
                        invalid(format!(
                            "a condition refers to {parameter}, which is no parameter"
                        ))
                    })
            }
            _ => Err(invalid(format!(
                "Fn::Equals compares literals and parameters, not {value:?}"
            ))),
        }
    }

    /// `value` with every `Fn::If` decided; `None` where it is `AWS::NoValue`.
    fn decide(&mut self, value: &Value) -> Result<Option<Value>, TemplateError> {
        if let Some((name, argument)) = intrinsic(value) {
            if name == "If" {
                let parts = self.arguments("If", argument)?;
                let [condition, when_true, when_false] = parts.as_slice() else {
                    return Err(invalid("Fn::If takes a condition and two values"));
                };
                let condition = condition
                    .as_str()
                    .ok_or_else(|| invalid("Fn::If names its condition"))?;
                let chosen = if self.condition(condition)? {
                    when_true
                } else {
                    when_false
                };
                return self.decide(chosen);
            }
            if name == "Ref" && argument.as_str() == Some("AWS::NoValue") {
                return Ok(None);
            }
        }
        Ok(Some(match value {
            Value::Mapping(map) => {
                let mut out = Mapping::new();
                for (key, inner) in map {
                    if let Some(inner) = self.decide(inner)? {
                        out.insert(key.clone(), inner);
                    }
                }
                Value::Mapping(out)
            }
            Value::Sequence(items) => {
                let mut out = Vec::with_capacity(items.len());
                for inner in items {
                    if let Some(inner) = self.decide(inner)? {
                        out.push(inner);
                    }
                }
                Value::Sequence(out)
            }
            Value::Tagged(tagged) => {
                let inner = self.decide(&tagged.value)?.unwrap_or(Value::Null);
                Value::Tagged(Box::new(serde_yaml_ng::value::TaggedValue {
                    tag: tagged.tag.clone(),
                    value: inner,
                }))
            }
            other => other.clone(),
        }))
    }
}

/// The template as deployed with `parameters`: conditions decided, resources
/// whose condition is false left out, no `Condition` or `Fn::If` left.
pub fn evaluate(doc: &Value, parameters: &HashMap<String, String>) -> Result<Value, TemplateError> {
    let empty = Mapping::new();
    let conditions = doc
        .get("Conditions")
        .and_then(Value::as_mapping)
        .unwrap_or(&empty);
    let mut evaluator = Evaluator {
        conditions,
        parameters,
        known: HashMap::new(),
        open: Vec::new(),
    };
    // Every condition is decided, so a broken one is refused even if unused.
    for name in conditions.keys() {
        let name = name
            .as_str()
            .ok_or_else(|| invalid("a condition's name must be text"))?;
        evaluator.condition(name)?;
    }
    let mut out = Mapping::new();
    for (section, value) in doc.as_mapping().into_iter().flatten() {
        match section.as_str() {
            Some("Conditions") => {}
            // An output can be conditional too.
            Some("Resources" | "Outputs") => {
                let mut resources = Mapping::new();
                for (id, resource) in value.as_mapping().into_iter().flatten() {
                    let mut resource = resource.clone();
                    if let Some(map) = resource.as_mapping_mut()
                        && let Some(condition) = map.remove("Condition")
                    {
                        let condition = condition.as_str().ok_or_else(|| {
                            invalid(format!("{id:?}: Condition names a condition"))
                        })?;
                        if !evaluator.condition(condition)? {
                            continue;
                        }
                    }
                    if let Some(resource) = evaluator.decide(&resource)? {
                        resources.insert(id.clone(), resource);
                    }
                }
                out.insert(section.clone(), Value::Mapping(resources));
            }
            Some("Globals") => {
                if let Some(decided) = evaluator.decide(value)? {
                    out.insert(section.clone(), decided);
                }
            }
            _ => {
                out.insert(section.clone(), value.clone());
            }
        }
    }
    Ok(Value::Mapping(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decided(yaml: &str, parameters: &[(&str, &str)]) -> Result<Value, TemplateError> {
        let doc: Value = serde_yaml_ng::from_str(yaml).unwrap();
        let parameters = parameters
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        evaluate(&doc, &parameters)
    }

    const TEMPLATE: &str = r#"
Conditions:
  IsProd: !Equals [!Ref Stage, prod]
  NotProd: !Not [!Condition IsProd]
  Named: !Not [!Equals [!Ref Identity, ""]]
  Both: !And [!Condition IsProd, !Condition Named]
  Either: {"Fn::Or": [{"Condition": "IsProd"}, {"Condition": "Named"}]}
Resources:
  Always:
    Type: AWS::SQS::Queue
    Properties:
      Name: !If [IsProd, prod-queue, test-queue]
      Tags: !If [Named, [{Key: id, Value: !Ref Identity}], !Ref AWS::NoValue]
  OnlyInProd:
    Type: AWS::SQS::Queue
    Condition: IsProd
Outputs:
  Id:
    Condition: Named
    Value: !Ref Identity
"#;

    #[test]
    fn a_false_condition_leaves_its_resource_and_output_out_and_if_takes_its_branch() {
        let doc = decided(TEMPLATE, &[("Stage", "test"), ("Identity", "")]).unwrap();
        let resources = doc["Resources"].as_mapping().unwrap();
        assert!(resources.get("OnlyInProd").is_none());
        assert_eq!(
            doc["Resources"]["Always"]["Properties"]["Name"],
            "test-queue"
        );
        assert!(
            doc["Resources"]["Always"]["Properties"]
                .get("Tags")
                .is_none(),
            "AWS::NoValue removes the property"
        );
        assert!(doc["Outputs"].as_mapping().unwrap().is_empty());
        assert!(doc.get("Conditions").is_none());
    }

    #[test]
    fn a_true_condition_keeps_its_resource_without_the_condition_key() {
        let doc = decided(TEMPLATE, &[("Stage", "prod"), ("Identity", "example.com")]).unwrap();
        let only = &doc["Resources"]["OnlyInProd"];
        assert_eq!(only["Type"], "AWS::SQS::Queue");
        assert!(only.get("Condition").is_none());
        assert_eq!(
            doc["Resources"]["Always"]["Properties"]["Name"],
            "prod-queue"
        );
        assert_eq!(
            doc["Resources"]["Always"]["Properties"]["Tags"][0]["Key"],
            "id"
        );
        assert!(doc["Outputs"].get("Id").is_some());
    }

    #[test]
    fn and_or_and_not_combine_as_cloudformation_does() {
        let evaluator_for = |stage: &str, identity: &str, name: &str| -> bool {
            let doc: Value = serde_yaml_ng::from_str(TEMPLATE).unwrap();
            let parameters: HashMap<String, String> = [("Stage", stage), ("Identity", identity)]
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect();
            let conditions = doc["Conditions"].as_mapping().unwrap().clone();
            let mut evaluator = Evaluator {
                conditions: &conditions,
                parameters: &parameters,
                known: HashMap::new(),
                open: Vec::new(),
            };
            evaluator.condition(name).unwrap()
        };
        assert!(evaluator_for("test", "", "NotProd"));
        assert!(!evaluator_for("prod", "", "Both"));
        assert!(evaluator_for("prod", "x.example", "Both"));
        assert!(evaluator_for("test", "x.example", "Either"));
        assert!(!evaluator_for("test", "", "Either"));
    }

    #[test]
    fn a_condition_that_names_itself_or_a_missing_one_is_refused() {
        let cycle = "Conditions:\n  A: !Condition B\n  B: !Condition A\nResources: {}\n";
        assert!(decided(cycle, &[]).is_err());
        let missing = "Conditions:\n  A: !Condition Nope\nResources: {}\n";
        assert!(decided(missing, &[]).is_err());
        let unknown = "Conditions:\n  A: !Equals [!Ref Nope, x]\nResources: {}\n";
        assert!(decided(unknown, &[]).is_err());
        let lonely = "Conditions:\n  A: !And [!Equals [a, a]]\nResources: {}\n";
        assert!(decided(lonely, &[]).is_err(), "And takes 2 to 10");
    }
}
