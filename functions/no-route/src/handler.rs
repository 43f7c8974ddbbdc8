use gatehouse::domain::AppError;
use gatehouse::http::respond;
use lambda_http::http::StatusCode;
use lambda_http::{Body, Error, Request, Response};

/// The API's paths and their methods, read from openapi.yaml (the contract the
/// other routes are tested against).
pub struct Routes(Vec<(Vec<String>, Vec<String>)>);

impl Routes {
    pub fn from_spec(spec: &str) -> Result<Self, Error> {
        let spec: serde_yaml_ng::Value = serde_yaml_ng::from_str(spec)?;
        let mut routes = Vec::new();
        for (path, item) in spec["paths"].as_mapping().into_iter().flatten() {
            let segments = path
                .as_str()
                .unwrap_or_default()
                .split('/')
                .map(str::to_owned)
                .collect();
            let mut methods: Vec<String> = item
                .as_mapping()
                .into_iter()
                .flatten()
                .filter_map(|(m, _)| m.as_str())
                .filter(|m| *m != "parameters")
                .map(str::to_uppercase)
                .collect();
            methods.sort();
            routes.push((segments, methods));
        }
        Ok(Self(routes))
    }

    /// The methods the path takes, if it is one of the API's. As in API
    /// Gateway, a literal path wins over one with variables
    /// (`/notifications/unsubscribe` over `/notifications/{id}`).
    fn methods_of(&self, path: &str) -> Option<&[String]> {
        let asked: Vec<&str> = path.split('/').collect();
        self.0
            .iter()
            .filter(|(segments, _)| {
                segments.len() == asked.len()
                    && segments.iter().zip(&asked).all(|(template, part)| {
                        (template.starts_with('{') && !part.is_empty()) || template == part
                    })
            })
            .min_by_key(|(segments, _)| segments.iter().filter(|s| s.starts_with('{')).count())
            .map(|(_, methods)| methods.as_slice())
    }
}

/// API Gateway's `$default` route: a request no route matched. A known path
/// asked with another method is a 405 naming the methods it takes (API Gateway
/// alone would say 404); anything else a 404.
pub fn handle(routes: &Routes, req: Request) -> Result<Response<Body>, Error> {
    let err = match routes.methods_of(req.uri().path()) {
        Some(methods) => AppError::MethodNotAllowed {
            allow: methods.join(", "),
        },
        None => AppError::NotFound("route"),
    };
    Ok(respond::<()>(StatusCode::OK, Err(err)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use gatehouse::testing::json_of;

    fn request(method: &str, path: &str) -> Request {
        lambda_http::http::Request::builder()
            .method(method)
            .uri(format!("https://api.example.com{path}"))
            .body(Body::Empty)
            .unwrap()
    }

    fn routes() -> Routes {
        Routes::from_spec(include_str!("../../../openapi.yaml")).unwrap()
    }

    #[test]
    fn a_known_path_with_another_method_is_405_naming_its_methods() {
        let answer = handle(
            &routes(),
            request(
                "DELETE",
                "/users/8f452769-9947-4d75-8113-c328cafb5d5f/roles",
            ),
        )
        .unwrap();
        assert_eq!(answer.status(), 405);
        assert_eq!(answer.headers()["allow"], "GET, PUT");
        assert_eq!(json_of(&answer)["code"], "method_not_allowed");
    }

    #[test]
    fn a_literal_path_wins_over_one_with_variables() {
        let answer = handle(&routes(), request("PUT", "/notifications/unsubscribe")).unwrap();
        assert_eq!(answer.headers()["allow"], "GET, POST");
        let other = handle(&routes(), request("PUT", "/notifications/n-1")).unwrap();
        assert_eq!(other.headers()["allow"], "GET");
    }

    #[test]
    fn an_unknown_path_is_404() {
        let answer = handle(&routes(), request("GET", "/nowhere")).unwrap();
        assert_eq!(answer.status(), 404);
        assert_eq!(json_of(&answer)["code"], "not_found");
        assert_eq!(
            handle(&routes(), request("GET", "/users/"))
                .unwrap()
                .status(),
            404,
            "an empty path parameter matches nothing"
        );
    }
}
