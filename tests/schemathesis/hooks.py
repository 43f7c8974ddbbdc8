"""Schemathesis hooks for Gatehouse's contract run (tests/contract.rs starts it).

- Protected operations get a real access token: a user the test created logs in
  (cached; a 401, after a generated logout or password change ended the session,
  logs in again and retries).
- Generated valid sign-ups get a fresh address each, so they test sign-up
  rather than the per-address send limit, and half of them use the stack's
  auto-confirm domain, so the stateful phase's links (register -> login -> the
  token) reach real accounts.
"""

import itertools

import json
import os
import urllib.request

import schemathesis

_SIGN_UPS = itertools.count()

BASE_URL = os.environ["GATEHOUSE_URL"]
EMAIL = os.environ["GATEHOUSE_EMAIL"]
# Account deletion checks the password behind the login throttle, so its
# generated wrong passwords lock their user: it gets a user of its own.
DELETION_EMAIL = os.environ["GATEHOUSE_DELETION_EMAIL"]
PASSWORD = os.environ["GATEHOUSE_PASSWORD"]
AUTO_CONFIRM_DOMAIN = os.environ["GATEHOUSE_AUTO_CONFIRM_DOMAIN"]


@schemathesis.auth().apply_to(
    name=[
        "GET /users/me",
        "PATCH /users/me",
        "POST /users/me/email",
        "POST /users/me/email/verify",
        "POST /users/me/phone",
        "POST /users/me/phone/verify",
        "GET /users/{user_id}",
        "GET /users",
        "GET /users/{user_id}/events",
        "GET /users/{user_id}/roles",
        "PUT /users/{user_id}/roles",
        "POST /users/{user_id}/disable",
        "POST /users/{user_id}/enable",
        "POST /permissions/check",
        "POST /permissions/batch-check",
        "GET /policies",
        "PUT /policies/{id}",
        "DELETE /policies/{id}",
        "POST /notifications",
        "GET /notifications/{id}",
        "POST /auth/logout",
        "POST /auth/password/change",
    ]
)
class AccessToken:
    def get(self, case, ctx):
        return _login(EMAIL)

    def set(self, case, data, ctx):
        case.headers = case.headers or {}
        # A token a stateful link passed on (from a login) stays; anything
        # else (none, or one generated from the security scheme) is replaced.
        if not case.headers.get("Authorization", "").startswith("Bearer eyJ"):
            case.headers["Authorization"] = f"Bearer {data}"


@schemathesis.auth().apply_to(name="DELETE /users/me")
class DeletionToken(AccessToken):
    def get(self, case, ctx):
        return _login(DELETION_EMAIL)


def _login(email):
    request = urllib.request.Request(
        f"{BASE_URL}/auth/login",
        data=json.dumps({"email": email, "password": PASSWORD}).encode(),
        headers={"content-type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.load(response)["access_token"]


@schemathesis.hook
def before_call(ctx, case, kwargs):
    # On the case itself, so a stateful link reads the address really sent.
    # Only data meant to be valid: a negative case's address stays as generated.
    positive = case.meta is None or case.meta.generation.mode.name == "POSITIVE"
    if (
        positive
        and case.operation.label == "POST /auth/register"
        and isinstance(case.body, dict)
        and isinstance(case.body.get("email"), str)
    ):
        n = next(_SIGN_UPS)
        domain = AUTO_CONFIRM_DOMAIN if n % 2 == 0 else "example.com"
        case.body = {**case.body, "email": f"contract{n}@{domain}"}
