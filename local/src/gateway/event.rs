//! The payload format 2.0 event a function receives, and its answer turned back
//! into an HTTP response.

use super::*;

/// Content types whose bodies API Gateway passes as text; every other body
/// (including one without a content type) arrives base64-encoded.
pub(super) fn is_text(content_type: Option<&str>) -> bool {
    let Some(media) = content_type.and_then(|ct| ct.split(';').next()) else {
        return false;
    };
    let media = media.trim().to_ascii_lowercase();
    media.starts_with("text/")
        || matches!(
            media.as_str(),
            "application/json" | "application/xml" | "application/javascript"
        )
        || media.ends_with("+json")
        || media.ends_with("+xml")
}

/// Headers as API Gateway passes them: one value per name, repeated values joined
/// with commas, cookies moved to their own list.
pub(super) fn split_cookies(headers: &HeaderMap) -> (HeaderMap, Vec<String>) {
    let mut joined: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut cookies = Vec::new();
    for (name, value) in headers {
        let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
        if name == "cookie" {
            cookies.extend(value.split(';').map(|c| c.trim().to_owned()));
            continue;
        }
        joined
            .entry(name.as_str().to_owned())
            .or_default()
            .push(value);
    }
    let mut out = HeaderMap::new();
    for (name, values) in joined {
        if let (Ok(name), Ok(value)) = (
            HeaderName::try_from(name),
            HeaderValue::from_str(&values.join(",")),
        ) {
            out.insert(name, value);
        }
    }
    (out, cookies)
}

pub(super) fn query_map(query: &str) -> QueryMap {
    let mut map: HashMap<String, Vec<String>> = HashMap::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        map.entry(k.to_owned()).or_default().push(v.to_owned());
    }
    QueryMap::from(map)
}

pub(super) struct Incoming<'a> {
    pub(super) route: &'a Route,
    pub(super) params: BTreeMap<String, String>,
    pub(super) method: &'a Method,
    pub(super) path: &'a str,
    pub(super) query: &'a str,
    pub(super) headers: &'a HeaderMap,
    pub(super) body: Bytes,
    pub(super) claims: Option<Map<String, Value>>,
    pub(super) source_ip: String,
    pub(super) request_id: &'a str,
}

/// The payload format 2.0 event, built from the same `aws_lambda_events` types
/// the functions deserialize, so the two cannot disagree on a field.
#[allow(deprecated)] // `http_method` is set so that older readers see the real method.
pub(super) fn api_event(req: Incoming<'_>) -> ApiGatewayV2httpRequest {
    let route_key = format!("{} {}", req.route.method, req.route.path);
    let (headers, cookies) = split_cookies(req.headers);
    let header = |name: &str| {
        req.headers
            .get(name)
            .and_then(|h| h.to_str().ok())
            .map(str::to_owned)
    };
    let now = Utc::now();

    let mut http = ApiGatewayV2httpRequestContextHttpDescription::default();
    http.method = req.method.clone();
    http.path = Some(req.path.to_owned());
    http.protocol = Some("HTTP/1.1".into());
    http.source_ip = Some(req.source_ip.clone());
    http.user_agent = Some(header("user-agent").unwrap_or_default());

    let mut context = ApiGatewayV2httpRequestContext::default();
    context.route_key = Some(route_key.clone());
    context.account_id = Some(crate::template::ACCOUNT_ID.into());
    context.stage = Some("$default".into());
    context.request_id = Some(req.request_id.to_owned());
    context.apiid = Some("local".into());
    context.domain_name = Some(header("host").unwrap_or_else(|| "127.0.0.1".into()));
    context.domain_prefix = Some("local".into());
    context.time = Some(now.format("%d/%b/%Y:%H:%M:%S %z").to_string());
    context.time_epoch = now.timestamp_millis();
    context.http = http;
    if let Some(claims) = req.claims {
        let mut jwt = ApiGatewayRequestAuthorizerJwtDescription::default();
        let scopes = token_scopes(&claims);
        jwt.scopes = (!scopes.is_empty()).then_some(scopes);
        jwt.claims = claims_for_payload(&claims)
            .into_iter()
            .map(|(k, v)| (k, v.as_str().unwrap_or_default().to_owned()))
            .collect();
        let mut authorizer = ApiGatewayRequestAuthorizer::default();
        authorizer.jwt = Some(jwt);
        context.authorizer = Some(authorizer);
    }

    let mut event = ApiGatewayV2httpRequest::default();
    event.version = Some("2.0".into());
    event.route_key = Some(route_key);
    event.raw_path = Some(req.path.to_owned());
    event.raw_query_string = Some(req.query.to_owned());
    event.http_method = req.method.clone();
    event.cookies = (!cookies.is_empty()).then_some(cookies);
    event.headers = headers;
    event.query_string_parameters = query_map(req.query);
    event.path_parameters = req
        .params
        .into_iter()
        .map(|(name, value)| (name, percent_decode(&value)))
        .collect();
    event.request_context = context;
    if !req.body.is_empty() {
        let text = is_text(header("content-type").as_deref())
            .then(|| std::str::from_utf8(&req.body).ok())
            .flatten();
        match text {
            Some(text) => event.body = Some(text.to_owned()),
            None => {
                event.body = Some(BASE64.encode(&req.body));
                event.is_base64_encoded = true;
            }
        }
    }
    event
}

/// A function's answer in payload format 2.0 as an HTTP response.
pub(super) fn api_response(value: Value) -> Response {
    let Some(status) = value.get("statusCode").and_then(Value::as_u64) else {
        // Format 2.0 lets a function return any JSON: it becomes a 200 body.
        let body = match value {
            Value::String(s) => s,
            other => other.to_string(),
        };
        return (StatusCode::OK, [("content-type", "application/json")], body).into_response();
    };
    let status = u16::try_from(status)
        .ok()
        .and_then(|s| StatusCode::from_u16(s).ok());
    let Some(status) = status else {
        return message(StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error");
    };
    let mut headers = HeaderMap::new();
    let mut add = |name: &str, value: &str| {
        if let (Ok(n), Ok(v)) = (HeaderName::try_from(name), HeaderValue::from_str(value)) {
            headers.append(n, v);
        }
    };
    for (name, value) in value["headers"].as_object().into_iter().flatten() {
        add(name, value.as_str().unwrap_or_default());
    }
    for (name, values) in value["multiValueHeaders"].as_object().into_iter().flatten() {
        for v in values.as_array().into_iter().flatten() {
            add(name, v.as_str().unwrap_or_default());
        }
    }
    for cookie in value["cookies"].as_array().into_iter().flatten() {
        add("set-cookie", cookie.as_str().unwrap_or_default());
    }
    let text = value["body"].as_str().unwrap_or_default();
    let body = if value["isBase64Encoded"].as_bool() == Some(true) {
        BASE64.decode(text).unwrap_or_default()
    } else {
        text.as_bytes().to_vec()
    };
    (status, headers, body).into_response()
}
