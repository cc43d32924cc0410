//! Protocol rules the Redfish specification (DSP0266) sets for every request, applied before
//! authentication (after the fault facade, so an unreachable BMC stays unreachable):
//!
//! - an `OData-Version` request header other than `4.0` is refused with 412 (the header absent
//!   is fine: the service answers in 4.0);
//! - a `$`-query parameter the service does not support is refused with 501 `QueryNotSupported`
//!   (the service root's `ProtocolFeaturesSupported` says none is, and must stay true to this);
//! - a POST to a collection's `Members` URI (`…/Sessions/Members`) is a POST to the collection.

use axum::body::Body;
use axum::extract::Request;
use axum::http::{Method, Uri};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::document::ODATA_VERSION;
use super::error::RedfishError;

/// `$`-query parameters the service implements. Empty: the service root advertises every query
/// feature as unsupported (`ProtocolFeaturesSupported`), so every one is answered with 501.
const SUPPORTED_QUERIES: &[&str] = &[];

/// Middleware: 412 for an unsupported `OData-Version`, 501 for an unsupported `$` query.
pub async fn check(request: Request, next: Next) -> Response {
    if let Some(version) = request.headers().get("OData-Version") {
        let text = version.to_str().unwrap_or("").trim();
        if text != ODATA_VERSION {
            return RedfishError::ODataVersionUnsupported {
                version: String::from_utf8_lossy(version.as_bytes()).into_owned(),
            }
            .into_response();
        }
    }
    if let Some(query) = request.uri().query()
        && let Some(parameter) = unsupported_query(query)
    {
        return RedfishError::QueryNotSupported { parameter }.into_response();
    }
    next.run(request).await
}

/// The first `$` parameter of `query` the service does not support (its name as sent; `%24`
/// counts as `$`).
fn unsupported_query(query: &str) -> Option<String> {
    query
        .split('&')
        .map(|pair| pair.split_once('=').map_or(pair, |(name, _)| name))
        .find(|name| {
            let bare = name.strip_prefix('$').or_else(|| name.strip_prefix("%24"));
            bare.is_some_and(|b| !SUPPORTED_QUERIES.contains(&b))
        })
        .map(str::to_owned)
}

/// Rewrites `POST <collection>/Members` to `POST <collection>` (DSP0266: a service that accepts
/// POST on a collection accepts it on its `Members` too). Other methods are left alone (a GET of
/// `…/Members` names no resource here and is a 404).
pub fn members_as_collection(mut request: Request<Body>) -> Request<Body> {
    if request.method() != Method::POST {
        return request;
    }
    let Some(collection) = request.uri().path().strip_suffix("/Members") else {
        return request;
    };
    if !collection.starts_with("/redfish/v1/") {
        return request;
    }
    let new = match request.uri().query() {
        Some(q) => format!("{collection}?{q}"),
        None => collection.to_string(),
    };
    if let Ok(uri) = new.parse::<Uri>() {
        *request.uri_mut() = uri;
    }
    request
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_dollar_parameters_are_queries() {
        assert_eq!(unsupported_query("$expand=.").as_deref(), Some("$expand"));
        assert_eq!(unsupported_query("a=1&$top=2").as_deref(), Some("$top"));
        assert_eq!(
            unsupported_query("%24select=Id").as_deref(),
            Some("%24select")
        );
        assert_eq!(unsupported_query("only"), None);
        assert_eq!(unsupported_query("a=$b"), None);
        assert_eq!(unsupported_query(""), None);
    }

    #[test]
    fn post_to_members_goes_to_the_collection() {
        let post = |uri: &str| {
            let r = Request::builder()
                .method(Method::POST)
                .uri(uri)
                .body(Body::empty())
                .unwrap();
            members_as_collection(r).uri().to_string()
        };
        assert_eq!(
            post("/redfish/v1/SessionService/Sessions/Members"),
            "/redfish/v1/SessionService/Sessions"
        );
        assert_eq!(post("/redfish/v1/Systems"), "/redfish/v1/Systems");
        let get = Request::builder()
            .uri("/redfish/v1/SessionService/Sessions/Members")
            .body(Body::empty())
            .unwrap();
        assert_eq!(
            members_as_collection(get).uri().path(),
            "/redfish/v1/SessionService/Sessions/Members"
        );
    }
}
