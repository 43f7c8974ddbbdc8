//! Resolving `!Ref`, `!GetAtt`, `!Sub` and parameters (with their overrides
//! and constraints) to the values the local stack uses.

use super::*;

pub(super) fn env_variables(props: &Value) -> BTreeMap<String, Value> {
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

pub(super) fn scalar(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// The logical id in `!GetAtt Fn.Arn` or `{"Fn::GetAtt": [Fn, Arn]}`.
pub(super) fn getatt_target(value: &Value) -> Option<String> {
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
