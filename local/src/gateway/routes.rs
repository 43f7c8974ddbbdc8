//! Route matching as API Gateway does it (exact paths before parameters before
//! greedy ones), and the authorizer's scope check of a route.

use super::*;

/// Matches `path` against a route template with `{name}` and `{name+}` segments.
pub fn match_path(template: &str, path: &str) -> Option<BTreeMap<String, String>> {
    let mut params = BTreeMap::new();
    let mut actual = path.trim_start_matches('/').split('/');
    let mut expected = template.trim_start_matches('/').split('/').peekable();
    while let Some(segment) = expected.next() {
        if let Some(name) = segment.strip_prefix('{').and_then(|s| s.strip_suffix("+}")) {
            let rest: Vec<&str> = actual.by_ref().collect();
            if rest.is_empty() || expected.peek().is_some() {
                return None;
            }
            params.insert(name.to_owned(), rest.join("/"));
            return Some(params);
        }
        let value = actual.next()?;
        match segment.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
            Some(name) if !value.is_empty() => {
                params.insert(name.to_owned(), value.to_owned());
            }
            Some(_) => return None,
            None if segment == value => {}
            None => return None,
        }
    }
    actual.next().is_none().then_some(params)
}

/// How specific a route is, lowest first, as API Gateway chooses: an exact path,
/// then one with path variables (more literal segments first), then a greedy
/// `{proxy+}`, then `$default`; at the same path a method beats `ANY`. The
/// template's order never matters.
pub(super) fn precedence(route: &Route) -> (u8, std::cmp::Reverse<usize>, u8) {
    let segments: Vec<&str> = route.path.trim_start_matches('/').split('/').collect();
    let class = if route.path == "$default" {
        3
    } else if segments.iter().any(|s| s.ends_with("+}")) {
        2
    } else if segments.iter().any(|s| s.starts_with('{')) {
        1
    } else {
        0
    };
    let literals = segments.iter().filter(|s| !s.starts_with('{')).count();
    let method = u8::from(route.method == "ANY");
    (class, std::cmp::Reverse(literals), method)
}

pub(super) fn find_route<'a>(
    routes: &'a [Route],
    method: &Method,
    path: &str,
) -> Option<(&'a Route, BTreeMap<String, String>)> {
    routes
        .iter()
        .filter(|route| route.method == "ANY" || route.method == method.as_str())
        .filter_map(|route| {
            if route.path == "$default" {
                return Some((route, BTreeMap::new()));
            }
            match_path(&route.path, path).map(|params| (route, params))
        })
        .min_by_key(|(route, _)| precedence(route))
}

/// `%XX` escapes decoded, as API Gateway decodes path parameters.
pub(super) fn percent_decode(raw: &str) -> String {
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(byte)) => {
                out.push(byte);
                i += 3;
            }
            (byte, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// API Gateway's 403 when a route has `AuthorizationScopes` and the token carries
/// none of them.
pub(super) fn scope_refusal(route: &Route, claims: &Map<String, Value>) -> Option<Response> {
    let granted = token_scopes(claims);
    if route.scopes.is_empty() || route.scopes.iter().any(|s| granted.contains(s)) {
        return None;
    }
    let challenge = format!(
        "Bearer scope=\"{}\" error=\"insufficient_scope\" error_description=\"the token does not have the required scopes\"",
        route.scopes.join(" ")
    );
    let mut response = message(StatusCode::FORBIDDEN, "Forbidden");
    if let Ok(value) = HeaderValue::from_str(&challenge) {
        response.headers_mut().insert("www-authenticate", value);
    }
    Some(response)
}

/// The token's scopes (`scope`, space-separated, as Cognito issues it).
pub(super) fn token_scopes(claims: &Map<String, Value>) -> Vec<String> {
    claims
        .get("scope")
        .and_then(Value::as_str)
        .map(|s| s.split_whitespace().map(str::to_owned).collect())
        .unwrap_or_default()
}
