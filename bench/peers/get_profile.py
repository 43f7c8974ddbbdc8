"""get-profile in Python 3 + boto3, the stack the original design used: the same
one consistent Query of the caller's partition, the same answer, behind the
Lambda Runtime API (a small standard-library loop, as a custom runtime would)."""
import json
import os
import urllib.request

import boto3
from boto3.dynamodb.types import TypeDeserializer

API = f"http://{os.environ['AWS_LAMBDA_RUNTIME_API']}/2018-06-01/runtime/invocation"
TABLE = os.environ["TABLE_NAME"]
CLIENT = boto3.client("dynamodb")
DESERIALIZE = TypeDeserializer().deserialize


def handler(event):
    claims = event["requestContext"]["authorizer"]["jwt"]["claims"]
    if claims.get("token_use") != "access":
        return {"statusCode": 401, "body": json.dumps({"code": "invalid_token"})}
    out = CLIENT.query(
        TableName=TABLE,
        KeyConditionExpression="pk = :pk",
        ExpressionAttributeValues={":pk": {"S": f"USER#{claims['sub']}"}},
        ConsistentRead=True,
    )
    profile, roles, cutoff = None, [], None
    for item in out["Items"]:
        item = {k: DESERIALIZE(v) for k, v in item.items()}
        if item.get("entity") == "profile":
            profile = item
        elif item.get("entity") == "role":
            roles.append(item["role"])
        elif item.get("entity") == "session":
            cutoff = int(item["revoked_before"])
    if cutoff is not None and int(claims["iat"]) < cutoff:
        return {"statusCode": 401, "body": json.dumps({"code": "invalid_token"})}
    if profile is None:
        return {"statusCode": 404, "body": json.dumps({"code": "not_found"})}
    body = {
        "user_id": profile["user_id"],
        "email": profile["email"],
        "display_name": profile.get("display_name"),
        "preferences": profile.get("preferences", {}),
        "roles": sorted(roles),
        "status": profile["status"],
        "created_at": profile["created_at"],
        "updated_at": profile["updated_at"],
    }
    return {
        "statusCode": 200,
        "headers": {"content-type": "application/json"},
        "body": json.dumps(body, default=str),
    }


while True:
    with urllib.request.urlopen(f"{API}/next") as response:
        request_id = response.headers["Lambda-Runtime-Aws-Request-Id"]
        event = json.loads(response.read())
    answer = json.dumps(handler(event)).encode()
    urllib.request.urlopen(
        urllib.request.Request(f"{API}/{request_id}/response", data=answer, method="POST")
    ).read()
