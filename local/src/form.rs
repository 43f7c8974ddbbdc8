//! `application/x-www-form-urlencoded`, as the query protocol (SNS) and the
//! OAuth2 token endpoint speak it.

use std::collections::BTreeMap;

/// Percent-decoded, `+` as a space.
fn decode(s: &str) -> String {
    let bytes = s.replace('+', " ").into_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = (bytes[i] == b'%' && i + 2 < bytes.len())
            .then(|| std::str::from_utf8(&bytes[i + 1..i + 3]).ok())
            .flatten()
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match hex {
            Some(v) => {
                out.push(v);
                i += 3;
            }
            None => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A form body's fields.
pub fn parse(body: &[u8]) -> BTreeMap<String, String> {
    String::from_utf8_lossy(body)
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            (decode(name), decode(value))
        })
        .collect()
}

/// Every byte but the unreserved ones percent-encoded.
pub fn encode(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            other => format!("%{other:02X}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_bodies_round_trip() {
        let body = format!(
            "grant_type=client_credentials&scope={}",
            encode("gatehouse/permissions.check x")
        );
        let form = parse(body.as_bytes());
        assert_eq!(form["grant_type"], "client_credentials");
        assert_eq!(form["scope"], "gatehouse/permissions.check x");
        assert_eq!(parse(b"scope=a+b%2Fc")["scope"], "a b/c");
    }
}
