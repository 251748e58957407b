//! The one access policy: who may do what. Every handler asks here; later features extend `Action`.

pub mod alerts;
pub mod audit;
pub mod correlation;
pub mod exercises;
pub mod reports;
pub mod sharing;

pub use audit::{AuditScope, audit_scope, audit_view};

use crate::identity::{Role, Roles, UserName};
use crate::registry::OrgKind;
use crate::slug::Slug;

/// The authenticated caller, as the policy sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Actor {
    pub user_id: i64,
    pub user: UserName,
    pub org: Slug,
    pub org_kind: OrgKind,
    pub roles: Roles,
}

impl Actor {
    /// Whether the actor holds `role`.
    pub fn has(&self, role: Role) -> bool {
        self.roles.contains(&role)
    }

    /// An administrator of the whole instance: an admin at the coordinator.
    pub fn is_instance_admin(&self) -> bool {
        self.has(Role::Admin) && self.org_kind == OrgKind::Coordinator
    }
}

/// Something an actor wants to do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action<'a> {
    /// Read sectors, services and organizations.
    ReadRegistry,
    /// Add or change organizations and load profiles.
    ManageRegistry,
    /// List the users of `org` with their roles.
    ReadUsers { org: &'a Slug },
    /// Create or change the users of `org`: its own admins only, so that nobody outside an
    /// organization can give itself a way in (a secretariat user, a viewer beside a reporter).
    ManageUsers { org: &'a Slug },
    /// Create the first admin of `org`, which has no active admin yet (`has_admin` false).
    CreateFirstAdmin { org: &'a Slug, has_admin: bool },
    /// List or revoke the tokens of a user of `org`.
    ManageTokens { owner_id: i64, org: &'a Slug },
    /// Read what the actor's organization was told about its people (a user created by an
    /// outsider, the secretariat role granted): its admins, and its secretariat, whose role
    /// guards anonymous reporters.
    ReadSecurityNotices,
    /// Issue an API token to the user named `owner`: a credential, so only for oneself.
    IssueToken { owner: &'a str },
    /// Scrape the Prometheus metrics, which count the whole instance's traffic.
    ReadMetrics,
    /// File an incident or outage report for the actor's organization.
    FileReport,
    /// Register identifiers (names, domains, IP ranges) of `org`.
    ManageIdentifiers { org: &'a Slug },
    /// Read or change an organization's e-mail contacts and webhooks.
    ManageChannels { org: &'a Slug },
    /// Add STIX objects to a shared TAXII collection, or delete the organization's own.
    ShareIntel,
    /// Configure federation with other TAXII servers and import feeds.
    ManageFederation,
    /// Send an alert (`alerts::may_send`).
    SendAlert,
    /// Pass an alert the actor's organization received (`delivered`) on to its members.
    PassOnAlert { delivered: bool },
    /// Set the actor's CEPTOAR's rule for passing alerts on automatically.
    SetRelayRule,
    /// Group reports the organization received into an incident (staff only).
    CreateIncident,
}

/// Why an action is refused; the text is safe to show to the caller.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Denied(pub &'static str);

/// Decides whether `actor` may do `action`.
pub fn check(actor: &Actor, action: Action<'_>) -> Result<(), Denied> {
    let allowed = match action {
        Action::ReadRegistry => true,
        Action::ManageRegistry => actor.is_instance_admin(),
        Action::ReadUsers { org } => {
            actor.is_instance_admin() || (actor.has(Role::Admin) && &actor.org == org)
        }
        Action::ManageUsers { org } => actor.has(Role::Admin) && &actor.org == org,
        Action::CreateFirstAdmin { org, has_admin } => {
            (actor.has(Role::Admin) && &actor.org == org)
                || (actor.is_instance_admin() && !has_admin)
        }
        Action::ManageTokens { owner_id, org } => {
            owner_id == actor.user_id || (actor.has(Role::Admin) && &actor.org == org)
        }
        Action::IssueToken { owner } => owner == actor.user.as_str(),
        Action::ReadSecurityNotices => actor.has(Role::Admin) || actor.has(Role::Secretariat),
        Action::ReadMetrics => actor.is_instance_admin(),
        Action::FileReport => actor.has(Role::Reporter),
        Action::ShareIntel => [
            Role::Analyst,
            Role::Secretariat,
            Role::Coordinator,
            Role::Admin,
            Role::Reporter,
        ]
        .iter()
        .any(|r| actor.has(*r)),
        Action::ManageFederation => actor.is_instance_admin(),
        Action::SendAlert => alerts::may_send(actor.org_kind, &actor.roles),
        Action::PassOnAlert { delivered } => alerts::may_pass_on(actor, delivered),
        Action::SetRelayRule => alerts::may_set_relay_rule(actor),
        Action::CreateIncident => reports::is_staff(actor),
        Action::ManageIdentifiers { org } => {
            actor.is_instance_admin() || (actor.has(Role::Admin) && &actor.org == org)
        }
        // Contacts and webhooks receive what is sent to the organization (report notices to a
        // secretariat among them): only the organization itself points them somewhere.
        Action::ManageChannels { org } => actor.has(Role::Admin) && &actor.org == org,
    };
    if allowed {
        Ok(())
    } else {
        Err(Denied(match action {
            Action::ReadRegistry => "reading the registry is not allowed",
            Action::ManageRegistry => {
                "changing the registry needs the admin role at the coordinator"
            }
            Action::ReadUsers { .. } => "listing users needs the admin role in that organization",
            Action::ManageUsers { .. } => {
                "users are managed by the admins of their own organization"
            }
            Action::CreateFirstAdmin { .. } => {
                "an instance admin creates only an organization's first admin; after that the organization's admins manage its users"
            }
            Action::ManageTokens { .. } => {
                "managing another user's tokens needs the admin role in that user's organization"
            }
            Action::ReadSecurityNotices => {
                "security notices are for the organization's admins and secretariat"
            }
            Action::IssueToken { .. } => {
                "a token is issued only to its own user: sign in as that user to issue one"
            }
            Action::ReadMetrics => "reading metrics needs the admin role at the coordinator",
            Action::FileReport => "filing a report needs the reporter role",
            Action::ShareIntel => {
                "sharing STIX objects needs the analyst, secretariat, coordinator, admin or reporter role"
            }
            Action::ManageFederation => {
                "federation and feed imports are managed by instance admins"
            }
            Action::SendAlert => {
                "alerts are sent by analysts, coordinators, secretariats and admins of the coordinator, ministries, agencies and CEPTOARs"
            }
            Action::PassOnAlert { .. } => {
                "alerts are passed on by the secretariat of a CEPTOAR that received them"
            }
            Action::SetRelayRule => "relay rules are set by a CEPTOAR's secretariat or admin",
            Action::CreateIncident => "incidents are for analysts, secretariats and coordinators",
            Action::ManageIdentifiers { .. } => {
                "registering identifiers needs the admin role in that organization"
            }
            Action::ManageChannels { .. } => {
                "contacts and webhooks are managed by the admin role in that organization"
            }
        }))
    }
}

/// An actor named `someone` (id 7) of `org`, for the policy's tests.
#[cfg(test)]
pub(crate) fn test_actor(org: &str, kind: OrgKind, roles: &[Role]) -> Actor {
    Actor {
        user_id: 7,
        user: UserName::parse("someone").expect("name"),
        org: Slug::parse(org).expect("slug"),
        org_kind: kind,
        roles: roles.iter().copied().collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::test_actor as actor;
    use super::*;

    #[test]
    fn org_admins_manage_only_their_own_users() {
        let water = Slug::parse("water-co").expect("slug");
        let other = Slug::parse("bank").expect("slug");
        let admin = actor("water-co", OrgKind::Operator, &[Role::Admin]);
        assert!(check(&admin, Action::ManageUsers { org: &water }).is_ok());
        assert!(check(&admin, Action::ManageUsers { org: &other }).is_err());
        let nisc = actor("nisc", OrgKind::Coordinator, &[Role::Admin]);
        // The instance admin manages nobody else's people: it creates a first admin only.
        assert!(check(&nisc, Action::ManageUsers { org: &other }).is_err());
        assert!(check(&nisc, Action::ReadUsers { org: &other }).is_ok());
        let first = |has_admin| Action::CreateFirstAdmin {
            org: &other,
            has_admin,
        };
        assert!(check(&nisc, first(false)).is_ok());
        assert!(check(&nisc, first(true)).is_err());
        assert!(
            check(
                &nisc,
                Action::IssueToken {
                    owner: "secretariat"
                }
            )
            .is_err()
        );
        assert!(check(&nisc, Action::IssueToken { owner: "someone" }).is_ok());
        assert!(check(&nisc, Action::ManageChannels { org: &other }).is_err());
        assert!(check(&nisc, Action::ManageRegistry).is_ok());
        assert!(check(&admin, Action::ManageRegistry).is_err());
    }

    #[test]
    fn anyone_manages_own_tokens_only() {
        let org = Slug::parse("water-co").expect("slug");
        let reporter = actor("water-co", OrgKind::Operator, &[Role::Reporter]);
        assert!(
            check(
                &reporter,
                Action::ManageTokens {
                    owner_id: 7,
                    org: &org
                }
            )
            .is_ok()
        );
        assert!(
            check(
                &reporter,
                Action::ManageTokens {
                    owner_id: 8,
                    org: &org
                }
            )
            .is_err()
        );
        assert!(check(&reporter, Action::ReadMetrics).is_err());
    }
}
