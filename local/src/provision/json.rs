//! Template properties as the AWS JSON APIs take them.

use super::*;

pub(super) fn hash_key(key_schema: &Value) -> Option<String> {
    key_schema
        .as_array()?
        .iter()
        .find(|k| k["KeyType"] == "HASH")?["AttributeName"]
        .as_str()
        .map(str::to_owned)
}

/// Properties whose values CloudFormation takes as strings but the API as numbers.
pub(super) const INTEGER_PROPERTIES: &[&str] = &[
    "MinimumLength",
    "TemporaryPasswordValidityDays",
    "AccessTokenValidity",
    "IdTokenValidity",
    "RefreshTokenValidity",
    "AuthSessionValidity",
    "Priority",
];

/// YAML (after intrinsics) to JSON, with CloudFormation's stringly types fixed.
pub(super) fn to_api_json(value: &serde_yaml_ng::Value, key: Option<&str>) -> Value {
    use serde_yaml_ng::Value as Y;
    match value {
        Y::Null => Value::Null,
        Y::Bool(b) => Value::Bool(*b),
        Y::Number(n) => serde_json::to_value(n).unwrap_or(Value::Null),
        Y::String(s) if s == "true" || s == "false" => Value::Bool(s == "true"),
        Y::String(s) if key.is_some_and(|k| INTEGER_PROPERTIES.contains(&k)) => s
            .parse::<i64>()
            .map(Value::from)
            .unwrap_or_else(|_| Value::String(s.clone())),
        Y::String(s) => Value::String(s.clone()),
        Y::Sequence(items) => Value::Array(items.iter().map(|i| to_api_json(i, key)).collect()),
        Y::Mapping(map) => Value::Object(
            map.iter()
                .filter_map(|(k, v)| {
                    let k = k.as_str()?;
                    Some((k.to_owned(), to_api_json(v, Some(k))))
                })
                .collect(),
        ),
        Y::Tagged(t) => to_api_json(&t.value, key),
    }
}

pub(super) fn pick(props: &Value, keys: &[&str]) -> Map<String, Value> {
    keys.iter()
        .filter_map(|k| props.get(*k).map(|v| ((*k).to_owned(), v.clone())))
        .collect()
}
