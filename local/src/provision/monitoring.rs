//! What the template declares for monitoring: checked, not emulated.

use super::*;

/// Alarms and dashboards watch CloudWatch, which the local stack does not run:
/// each is resolved (every metric, function, queue and topic it names must
/// exist) and a dashboard's body must be JSON, so a broken one stops `make dev`
/// instead of `sam deploy`.
pub(super) fn monitoring(template: &Template, out: &mut Provisioned) -> Result<(), ProvisionError> {
    for (id, raw) in template.resources_of_type("AWS::CloudWatch::Alarm") {
        let props = out.refs.resolve_tree(&serde_yaml_ng::Value::Mapping(raw))?;
        let actions = props
            .get("AlarmActions")
            .and_then(serde_yaml_ng::Value::as_sequence)
            .map_or(0, Vec::len);
        if actions == 0 {
            return Err(ProvisionError::Invalid(format!(
                "{id}: an alarm with no AlarmActions tells nobody"
            )));
        }
        out.refs.set_attribute(
            &id,
            "Arn",
            format!("arn:aws:cloudwatch:{REGION}:{ACCOUNT_ID}:alarm:{id}"),
        );
        out.refs.set_ref(&id, id.clone());
    }
    for (id, raw) in template.resources_of_type("AWS::CloudWatch::Dashboard") {
        let props = to_api_json(
            &out.refs.resolve_tree(&serde_yaml_ng::Value::Mapping(raw))?,
            None,
        );
        let body = props["DashboardBody"].as_str().unwrap_or_default();
        serde_json::from_str::<Value>(body).map_err(|e| {
            ProvisionError::Invalid(format!("{id}: DashboardBody is not JSON: {e}"))
        })?;
        let name = props["DashboardName"].as_str().unwrap_or(&id).to_owned();
        out.refs.set_ref(&id, name);
    }
    Ok(())
}
