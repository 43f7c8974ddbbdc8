//! The template's KMS keys: symmetric keys made in moto, which encrypts and
//! decrypts with them. `Ref` is the key id and `Arn` its ARN. The key policy is
//! read for its shape only: the template's lets the account's IAM policies
//! decide (the root principal), so locally each function's own policy, checked
//! by the IAM front door, is what decides, as on AWS.

use super::*;

pub(super) async fn provision_keys(
    template: &Template,
    aws: &AwsJson,
    out: &mut Provisioned,
) -> Result<(), ProvisionError> {
    for (id, raw) in template.resources_of_type("AWS::KMS::Key") {
        let props = to_api_json(
            &out.refs.resolve_tree(&serde_yaml_ng::Value::Mapping(raw))?,
            None,
        );
        let spec = props["KeySpec"].as_str().unwrap_or("SYMMETRIC_DEFAULT");
        let usage = props["KeyUsage"].as_str().unwrap_or("ENCRYPT_DECRYPT");
        if spec != "SYMMETRIC_DEFAULT" || usage != "ENCRYPT_DECRYPT" {
            return Err(ProvisionError::Invalid(format!(
                "{id}: only symmetric ENCRYPT_DECRYPT keys are run locally, not {spec} {usage}"
            )));
        }
        let created = aws
            .call(
                Service::Kms,
                "CreateKey",
                &json!({
                    "Description": props["Description"].as_str().unwrap_or(&id),
                    "KeySpec": spec,
                    "KeyUsage": usage,
                }),
            )
            .await?;
        let key_id = created["KeyMetadata"]["KeyId"]
            .as_str()
            .ok_or_else(|| ProvisionError::Invalid(format!("{id}: CreateKey returned no KeyId")))?
            .to_owned();
        out.refs.set_attribute(
            &id,
            "Arn",
            format!("arn:aws:kms:{REGION}:{ACCOUNT_ID}:key/{key_id}"),
        );
        out.refs.set_attribute(&id, "KeyId", &key_id);
        out.refs.set_ref(&id, &key_id);
    }
    Ok(())
}
