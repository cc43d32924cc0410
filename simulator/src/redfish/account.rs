//! AccountService (read only): the BMC's user accounts and the standard roles.

use axum::extract::{Path, State};
use serde_json::{Value, json};

use super::document::{ALLOW_GET, Document};
use super::error::RedfishError;
use super::metadata::types;
use super::service::RedfishState;

/// A BMC user account. The password is only ever compared, never logged or served.
#[derive(Clone)]
pub struct Account {
    /// Login name.
    pub username: String,
    /// Secret compared in constant time.
    pub password: String,
    /// One of [`ROLES`].
    pub role: &'static str,
    /// Ids of the systems this login may manage.
    pub systems: Vec<String>,
}

impl std::fmt::Debug for Account {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Account")
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .field("role", &self.role)
            .field("systems", &self.systems.len())
            .finish()
    }
}

impl Account {
    /// An administrator account for `systems`.
    pub fn administrator(
        username: impl Into<String>,
        password: impl Into<String>,
        systems: Vec<String>,
    ) -> Self {
        Self {
            username: username.into(),
            password: password.into(),
            role: "Administrator",
            systems,
        }
    }
}

/// The predefined Redfish roles and their privileges.
const ROLES: &[(&str, &[&str])] = &[
    (
        "Administrator",
        &[
            "Login",
            "ConfigureManager",
            "ConfigureUsers",
            "ConfigureSelf",
            "ConfigureComponents",
        ],
    ),
    (
        "Operator",
        &["Login", "ConfigureSelf", "ConfigureComponents"],
    ),
    ("ReadOnly", &["Login", "ConfigureSelf"]),
];

/// `GET /redfish/v1/AccountService`.
pub async fn get_service() -> Document {
    Document::ok(
        json!({
            "@odata.id": "/redfish/v1/AccountService",
            "@odata.type": types::ACCOUNT_SERVICE,
            "Id": "AccountService",
            "Name": "Account Service",
            "Description": "BMC user accounts (read only)",
            "ServiceEnabled": true,
            "Status": {"State": "Enabled", "Health": "OK"},
            "MinPasswordLength": 1,
            "MaxPasswordLength": 64,
            "AuthFailureLoggingThreshold": 0,
            "AccountLockoutThreshold": 0,
            "AccountLockoutDuration": 0,
            "AccountLockoutCounterResetAfter": 0,
            "Accounts": {"@odata.id": "/redfish/v1/AccountService/Accounts"},
            "Roles": {"@odata.id": "/redfish/v1/AccountService/Roles"},
        }),
        ALLOW_GET,
    )
}

/// `GET /redfish/v1/AccountService/Accounts`.
pub async fn list_accounts(State(state): State<RedfishState>) -> Document {
    let members: Vec<Value> = (1..=state.accounts().len())
        .map(|i| json!({"@odata.id": format!("/redfish/v1/AccountService/Accounts/{i}")}))
        .collect();
    Document::ok(
        json!({
            "@odata.id": "/redfish/v1/AccountService/Accounts",
            "@odata.type": types::ACCOUNT_COLLECTION,
            "Name": "Accounts Collection",
            "Members@odata.count": members.len(),
            "Members": members,
        }),
        ALLOW_GET,
    )
}

/// `GET /redfish/v1/AccountService/Accounts/{id}` (ids are 1-based positions).
pub async fn get_account(
    State(state): State<RedfishState>,
    Path(id): Path<String>,
) -> Result<Document, RedfishError> {
    let not_found = || RedfishError::NotFound {
        uri: format!("/redfish/v1/AccountService/Accounts/{id}"),
    };
    let index: usize = id.parse().map_err(|_| not_found())?;
    let account = index
        .checked_sub(1)
        .and_then(|i| state.accounts().get(i))
        .ok_or_else(not_found)?;
    Ok(Document::ok(
        json!({
            "@odata.id": format!("/redfish/v1/AccountService/Accounts/{id}"),
            "@odata.type": types::ACCOUNT,
            "Id": id,
            "Name": "User Account",
            "Description": "BMC user account",
            "Enabled": true,
            "Locked": false,
            "UserName": account.username,
            "Password": null,
            "RoleId": account.role,
            "AccountTypes": ["Redfish"],
            "Links": {"Role": {"@odata.id": format!("/redfish/v1/AccountService/Roles/{}", account.role)}},
        }),
        ALLOW_GET,
    ))
}

/// `GET /redfish/v1/AccountService/Roles`.
pub async fn list_roles() -> Document {
    let members: Vec<Value> = ROLES
        .iter()
        .map(|(name, _)| json!({"@odata.id": format!("/redfish/v1/AccountService/Roles/{name}")}))
        .collect();
    Document::ok(
        json!({
            "@odata.id": "/redfish/v1/AccountService/Roles",
            "@odata.type": types::ROLE_COLLECTION,
            "Name": "Roles Collection",
            "Members@odata.count": members.len(),
            "Members": members,
        }),
        ALLOW_GET,
    )
}

/// `GET /redfish/v1/AccountService/Roles/{id}`.
pub async fn get_role(Path(id): Path<String>) -> Result<Document, RedfishError> {
    let (name, privileges) =
        ROLES
            .iter()
            .find(|(name, _)| *name == id)
            .ok_or_else(|| RedfishError::NotFound {
                uri: format!("/redfish/v1/AccountService/Roles/{id}"),
            })?;
    Ok(Document::ok(
        json!({
            "@odata.id": format!("/redfish/v1/AccountService/Roles/{name}"),
            "@odata.type": types::ROLE,
            "Id": name,
            "Name": format!("{name} Role"),
            "Description": format!("{name} role"),
            "RoleId": name,
            "IsPredefined": true,
            "AssignedPrivileges": privileges,
        }),
        ALLOW_GET,
    ))
}
