//! The one access policy: who may do what. Every handler asks here; later features extend `Action`.

use crate::audit::AuditEntry;
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
    /// Create, change or list the users of `org`.
    ManageUsers { org: &'a Slug },
    /// Issue, list or revoke the tokens of a user of `org`.
    ManageTokens { owner_id: i64, org: &'a Slug },
    /// Scrape the Prometheus metrics.
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
        Action::ManageUsers { org } => {
            actor.is_instance_admin() || (actor.has(Role::Admin) && &actor.org == org)
        }
        Action::ManageTokens { owner_id, org } => {
            owner_id == actor.user_id
                || actor.is_instance_admin()
                || (actor.has(Role::Admin) && &actor.org == org)
        }
        Action::ReadMetrics => actor.has(Role::Admin),
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
        Action::ManageIdentifiers { org } | Action::ManageChannels { org } => {
            actor.is_instance_admin() || (actor.has(Role::Admin) && &actor.org == org)
        }
    };
    if allowed {
        Ok(())
    } else {
        Err(Denied(match action {
            Action::ReadRegistry => "reading the registry is not allowed",
            Action::ManageRegistry => {
                "changing the registry needs the admin role at the coordinator"
            }
            Action::ManageUsers { .. } => {
                "managing users needs the admin role in that user's organization"
            }
            Action::ManageTokens { .. } => {
                "managing another user's tokens needs the admin role in that user's organization"
            }
            Action::ReadMetrics => "reading metrics needs the admin role",
            Action::FileReport => "filing a report needs the reporter role",
            Action::ShareIntel => {
                "sharing STIX objects needs the analyst, secretariat, coordinator, admin or reporter role"
            }
            Action::ManageFederation => {
                "federation and feed imports are managed by instance admins"
            }
            Action::ManageIdentifiers { .. } => {
                "registering identifiers needs the admin role in that organization"
            }
            Action::ManageChannels { .. } => {
                "contacts and webhooks are managed by the admin role in that organization"
            }
        }))
    }
}

/// Which audit entries an actor may read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AuditScope {
    /// Every entry.
    All,
    /// Entries made by members of this organization.
    Org(Slug),
    /// Entries made by this user only.
    OwnUser(i64),
}

/// The audit entries `actor` may read: everything at the coordinator (admins and coordinators),
/// the organization's own for its admins and executives, and otherwise the actor's own.
pub fn audit_scope(actor: &Actor) -> AuditScope {
    if actor.is_instance_admin() || actor.has(Role::Coordinator) {
        AuditScope::All
    } else if actor.has(Role::Admin) || actor.has(Role::Executive) {
        AuditScope::Org(actor.org.clone())
    } else {
        AuditScope::OwnUser(actor.user_id)
    }
}

/// An audit entry as `actor` may see it: an entry whose actor is restricted (an act on an
/// anonymous report by its reporter) shows no actor and no detail outside the actor's organization.
pub fn audit_view(actor: &Actor, entry: AuditEntry) -> AuditEntry {
    if entry.restricted && entry.actor_org.as_deref() != Some(actor.org.as_str()) {
        AuditEntry {
            actor_user: None,
            actor_org: None,
            detail: "{\"redacted\":true}".to_owned(),
            ..entry
        }
    } else {
        entry
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn actor(org: &str, kind: OrgKind, roles: &[Role]) -> Actor {
        Actor {
            user_id: 7,
            user: UserName::parse("someone").expect("name"),
            org: Slug::parse(org).expect("slug"),
            org_kind: kind,
            roles: roles.iter().copied().collect(),
        }
    }

    #[test]
    fn org_admins_manage_only_their_own_users() {
        let water = Slug::parse("water-co").expect("slug");
        let other = Slug::parse("bank").expect("slug");
        let admin = actor("water-co", OrgKind::Operator, &[Role::Admin]);
        assert!(check(&admin, Action::ManageUsers { org: &water }).is_ok());
        assert!(check(&admin, Action::ManageUsers { org: &other }).is_err());
        let nisc = actor("nisc", OrgKind::Coordinator, &[Role::Admin]);
        assert!(check(&nisc, Action::ManageUsers { org: &other }).is_ok());
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

    #[test]
    fn audit_scopes() {
        let nisc = actor("nisc", OrgKind::Coordinator, &[Role::Coordinator]);
        assert_eq!(audit_scope(&nisc), AuditScope::All);
        let exec = actor("water-co", OrgKind::Operator, &[Role::Executive]);
        assert_eq!(audit_scope(&exec), AuditScope::Org(exec.org.clone()));
        let viewer = actor("water-co", OrgKind::Operator, &[Role::Viewer]);
        assert_eq!(audit_scope(&viewer), AuditScope::OwnUser(7));
        // An admin elsewhere than the coordinator is not an instance admin.
        let ministry_admin = actor("mhlw", OrgKind::Ministry, &[Role::Admin]);
        assert_eq!(
            audit_scope(&ministry_admin),
            AuditScope::Org(ministry_admin.org.clone())
        );
    }
}
