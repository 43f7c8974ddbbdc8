use gatehouse::domain::AppError;
use gatehouse::services::UnsubscribeService;
use lambda_http::http::{Method, StatusCode, header};
use lambda_http::{Body, Error, Request, RequestExt, Response};

/// A page that loads nothing and may only post back to itself.
const CSP: &str = "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; \
                   frame-ancestors 'none'; base-uri 'none'";

fn page(status: StatusCode, title: &str, body: &str) -> Result<Response<Body>, Error> {
    let html = format!(
        r#"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<style>
body {{ font-family: system-ui, sans-serif; max-width: 32rem; margin: 4rem auto; padding: 0 1rem; color: #1f2933; }}
h1 {{ font-size: 1.5rem; }}
button {{ font-size: 1rem; padding: .6rem 1.2rem; border: 0; border-radius: .3rem; background: #1f4e79; color: #fff; cursor: pointer; }}
</style>
</head>
<body>
<h1>{title}</h1>
{body}
</body>
</html>
"#
    );
    Ok(Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, "text/html; charset=utf-8")
        .header(header::CONTENT_SECURITY_POLICY, CSP)
        .header(header::CACHE_CONTROL, "no-store")
        .header("x-content-type-options", "nosniff")
        .header("referrer-policy", "no-referrer")
        .body(Body::from(html))?)
}

fn refused(err: &AppError) -> Result<Response<Body>, Error> {
    match err {
        AppError::Validation { .. } => page(
            StatusCode::BAD_REQUEST,
            "This link does not work",
            "<p>It is not valid or has expired. Use the link in a newer email, or turn marketing emails off in your settings.</p>",
        ),
        _ => page(
            StatusCode::SERVICE_UNAVAILABLE,
            "Please try again",
            "<p>We could not do this just now. Try the link again in a minute.</p>",
        ),
    }
}

/// `GET /notifications/unsubscribe?token=` shows a page with one button (a
/// link scanner's GET changes nothing); `POST` (that button, or a mail
/// client's RFC 8058 one-click `List-Unsubscribe=One-Click`) turns marketing
/// emails off. No login: the signed token names the user.
pub async fn handle(links: &UnsubscribeService, req: Request) -> Result<Response<Body>, Error> {
    let token = req
        .query_string_parameters()
        .first("token")
        .unwrap_or_default()
        .to_owned();
    if req.method() == Method::POST {
        return match links.unsubscribe(&token).await {
            Ok(()) => page(
                StatusCode::OK,
                "You are unsubscribed",
                "<p>You will get no more marketing emails from us. Messages about your account still arrive.</p>",
            ),
            Err(err) => refused(&err),
        };
    }
    match links.check(&token).await {
        Ok(_) => page(
            StatusCode::OK,
            "Unsubscribe from marketing emails?",
            r#"<p>You will still get messages about your account.</p>
<form method="post">
<input type="hidden" name="List-Unsubscribe" value="One-Click">
<button type="submit">Unsubscribe</button>
</form>"#,
        ),
        Err(err) => refused(&err),
    }
}
