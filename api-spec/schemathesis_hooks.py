"""schemathesis hooks for `cargo xtask contract`: the records behind the run's own
credentials (its user, its API key, its OAuth client, its browser session) are left alone, so that the run
keeps testing the server instead of locking itself out after its first reset or delete.
Every other record, including everything schemathesis creates, is fair game."""

import os

import schemathesis

PROTECTED = {v for v in os.environ.get("GATEHOUSE_ST_PROTECTED", "").split(",") if v}


@schemathesis.hook
def filter_case(ctx, case):
    params = case.path_parameters or {}
    return not any(str(value) in PROTECTED for value in params.values())


# Values that are valid by the schema but break a rule no schema states are made to
# follow it, so that the run needs no exception for 422 or 400: an expiry in the past
# becomes one in the future, a callback or web URL becomes https. Only values already
# valid by the schema are changed, so a case meant to be invalid stays invalid.

LIST_PATHS = {
    "/api/v1/users",
    "/api/v1/api-keys",
    "/api/v1/subscription/api-keys",
    "/api/v1/oauth-clients",
    "/api/v1/authorized-apps",
    "/api/v1/users/{id}/authorized-apps",
    "/api/v1/audit-events",
}


def _is_datetime(value):
    import datetime

    if not isinstance(value, str):
        return False
    try:
        datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))
        return True
    except ValueError:
        return False


def _future():
    import datetime

    return (datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=1)).isoformat()


@schemathesis.hook
def map_query(ctx, query):
    # A cursor is opaque: one this server did not issue is rightly a 400. Lists are
    # asked for their first page; cursors are property-tested (src/proptests.rs).
    if query and ctx.operation.path in LIST_PATHS and isinstance(query.get("cursor"), str):
        query["cursor"] = ""
    return query


@schemathesis.hook
def map_body(ctx, body):
    if not isinstance(body, dict):
        return body
    path = ctx.operation.path
    if path in ("/api/v1/api-keys", "/api/v1/api-keys/{id}/reset") and _is_datetime(body.get("expires_at")):
        body["expires_at"] = _future()
    if path.startswith("/api/v1/oauth-clients"):
        uris = body.get("redirect_uris")
        if isinstance(uris, list) and all(isinstance(u, str) and 0 < len(u) <= 2000 for u in uris):
            body["redirect_uris"] = [f"https://app.example.com/cb{i}" for i in range(len(uris))]
        for field in ("homepage_url", "logo_url"):
            if isinstance(body.get(field), str) and body[field]:
                body[field] = "https://app.example.com/"
    return body
