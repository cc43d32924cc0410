//! Which resource, namespace, name and subresource a request path names.

use crate::resource::Resource;
use crate::status::ApiError;

/// The parts of a resource path: `/api/v1/namespaces/{ns}/{plural}/{name}/{sub}` and the like.
pub(super) struct Target<'a> {
    pub(super) res: Resource,
    pub(super) namespace: Option<&'a str>,
    pub(super) name: Option<&'a str>,
    pub(super) sub: Option<&'a str>,
}

pub(super) fn parse_target<'a>(
    resources: &[Resource],
    group: &str,
    version: &str,
    rest: &[&'a str],
) -> Result<Target<'a>, ApiError> {
    // A path naming no served resource is no API at all (plain-text 404, as real servers answer).
    let not_found = ApiError::no_route;
    let lookup = |plural: &str| {
        resources
            .iter()
            .find(|r| r.group == group && r.version == version && r.plural == plural)
            .cloned()
    };
    if let ["namespaces", ns, plural, tail @ ..] = rest
        && let Some(res) = lookup(plural).filter(|r| r.namespaced)
    {
        return match tail {
            [] => Ok(Target {
                res,
                namespace: Some(ns),
                name: None,
                sub: None,
            }),
            [name] => Ok(Target {
                res,
                namespace: Some(ns),
                name: Some(name),
                sub: None,
            }),
            [name, sub] => Ok(Target {
                res,
                namespace: Some(ns),
                name: Some(name),
                sub: Some(sub),
            }),
            _ => Err(not_found()),
        };
    }
    match rest {
        [plural, tail @ ..] => {
            let res = lookup(plural).ok_or_else(not_found)?;
            match tail {
                [] => Ok(Target {
                    res,
                    namespace: None,
                    name: None,
                    sub: None,
                }),
                [name] if !res.namespaced => Ok(Target {
                    res,
                    namespace: None,
                    name: Some(name),
                    sub: None,
                }),
                [name, sub] if !res.namespaced => Ok(Target {
                    res,
                    namespace: None,
                    name: Some(name),
                    sub: Some(sub),
                }),
                _ => Err(not_found()),
            }
        }
        _ => Err(not_found()),
    }
}
