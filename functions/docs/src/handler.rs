use lambda_http::http::{StatusCode, header};
use lambda_http::{Body, Error, Request, RequestExt, Response};

/// The page: the spec rendered by Swagger UI, every file served from here (no
/// CDN), under a policy that lets the page load nothing from anywhere else.
const PAGE: &str = r#"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Gatehouse API</title>
<link rel="stylesheet" href="/docs/assets/swagger-ui.css">
</head>
<body>
<div id="api"></div>
<script src="/docs/assets/swagger-ui-bundle.js"></script>
<script src="/docs/assets/init.js"></script>
</body>
</html>
"#;

/// Swagger UI styles its own elements inline and shows images as data URLs.
const CSP: &str = "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; \
                   frame-ancestors 'none'; base-uri 'none'; form-action 'none'";

/// `(name, media type, contents)` of each file the page loads.
const ASSETS: &[(&str, &str, &[u8])] = &[
    (
        "swagger-ui-bundle.js",
        "text/javascript; charset=utf-8",
        include_bytes!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../.tools/docs/swagger-ui-bundle.js"
        )),
    ),
    (
        "swagger-ui.css",
        "text/css; charset=utf-8",
        include_bytes!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../.tools/docs/swagger-ui.css"
        )),
    ),
    (
        "init.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../assets/init.js"),
    ),
    (
        "openapi.yaml",
        "application/yaml; charset=utf-8",
        include_bytes!("../../../openapi.yaml"),
    ),
];

fn respond(status: StatusCode, media_type: &str, body: Body) -> Result<Response<Body>, Error> {
    Ok(Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, media_type)
        .header(header::CONTENT_SECURITY_POLICY, CSP)
        .header(header::X_CONTENT_TYPE_OPTIONS, "nosniff")
        .header(header::CACHE_CONTROL, "public, max-age=300")
        .body(body)?)
}

/// `GET /docs` → the page; `GET /docs/assets/{name}` → one of its files.
pub fn handle(req: Request) -> Result<Response<Body>, Error> {
    let params = req.path_parameters();
    let Some(name) = params.first("name") else {
        return respond(StatusCode::OK, "text/html; charset=utf-8", PAGE.into());
    };
    match ASSETS.iter().find(|(asset, _, _)| *asset == name) {
        Some((_, media_type, bytes)) => respond(StatusCode::OK, media_type, Body::from(*bytes)),
        None => respond(
            StatusCode::NOT_FOUND,
            "application/problem+json",
            r#"{"type":"https://gatehouse.dev/problems/not_found","title":"Not found","status":404,"detail":"no such file","code":"not_found"}"#.into(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use gatehouse::testing::request;
    use std::collections::HashMap;

    const EVENT: &str = include_str!("../../../events/docs.json");

    fn asset(name: &str) -> Request {
        request(EVENT, None)
            .with_path_parameters(HashMap::from([("name".to_owned(), name.to_owned())]))
    }

    #[test]
    fn the_page_loads_only_files_served_here() {
        let page = handle(request(EVENT, None)).unwrap();
        assert_eq!(page.status(), 200);
        let html = String::from_utf8_lossy(page.body().as_ref()).into_owned();
        for src in html
            .split(['"', '\''])
            .filter(|s| s.starts_with('/') || s.starts_with("http"))
        {
            let name = src.strip_prefix("/docs/assets/").unwrap_or(src);
            assert!(
                ASSETS.iter().any(|(asset, _, _)| *asset == name),
                "the page loads {src}, which is not served here"
            );
        }
        assert!(
            page.headers()[header::CONTENT_SECURITY_POLICY]
                .to_str()
                .unwrap()
                .starts_with("default-src 'self'")
        );
    }

    #[test]
    fn each_asset_has_its_type_and_unknown_names_are_404() {
        let css = handle(asset("swagger-ui.css")).unwrap();
        assert_eq!(css.status(), 200);
        assert_eq!(
            css.headers()[header::CONTENT_TYPE],
            "text/css; charset=utf-8"
        );
        let spec = handle(asset("openapi.yaml")).unwrap();
        assert!(String::from_utf8_lossy(spec.body().as_ref()).starts_with("openapi: 3.1"));
        assert_eq!(handle(asset("../Cargo.toml")).unwrap().status(), 404);
    }
}
