"""Prints template.yaml as CloudFormation receives it: after the SAM transform
(`AWS::Serverless-2016-10-31`), as JSON. Offline: no AWS call is made (managed
policies are not looked up, the account and region are placeholders).

Usage: .tools/sam/bin/python scripts/sam-translate.py [template.yaml]
"""

import json
import os
import sys

# The translator asks boto for the region of pseudo parameters; never AWS itself.
os.environ["AWS_DEFAULT_REGION"] = "us-east-1"

from samtranslator.parser.parser import Parser
from samtranslator.translator.translator import Translator
from samtranslator.yaml_helper import yaml_parse


def main():
    path = sys.argv[1] if len(sys.argv) > 1 else "template.yaml"
    with open(path, encoding="utf-8") as handle:
        template = yaml_parse(handle.read())
    # As `sam package` leaves it: each function's code uploaded to S3.
    for name, resource in template.get("Resources", {}).items():
        properties = resource.get("Properties") or {}
        if resource.get("Type") == "AWS::Serverless::Function" and not str(properties.get("CodeUri", "")).startswith("s3://"):
            properties["CodeUri"] = f"s3://artifacts/{name}.zip"
    parameters = {"AWS::Region": "us-east-1", "AWS::AccountId": "123456789012", "AWS::Partition": "aws"}
    translated = Translator(None, Parser()).translate(
        template, parameter_values=parameters, get_managed_policy_map=lambda: {}
    )
    json.dump(translated, sys.stdout, indent=1, sort_keys=True, default=str)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
