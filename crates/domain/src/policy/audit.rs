//! Who reads which audit entries, and how much of each.
//!
//! The trail is the instance's memory of every act, and the coordinator reads across
//! organizations. What it must never allow is tying an anonymous report to its reporter: not by
//! the hidden actor, not by a hash of guessable fields, and not by the reporter's other acts
//! standing next to the report's in time. So an organization's entries reach other
//! organizations only when they record an act on something the community shares (alerts sent,
//! relays, triage, incidents, the registry, federation); sign-ins, tokens, acknowledgements,
//! settings, reports filed and everything restricted stay with the acting organization, and
//! with the organization an act was done to.

use crate::audit::AuditEntry;
use crate::identity::Role;
use crate::slug::Slug;

use super::Actor;

/// Which audit entries a reader may read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AuditScope {
    /// Every entry as stored: the instance's operator at the command line, never a user.
    Everything,
    /// The coordinator's view: its own organization's entries, entries about it, the system's,
    /// and other organizations' community acts (`COMMUNITY_ACTIONS`), never restricted ones.
    Community(Slug),
    /// Entries made by members of this organization, or made about it by another's admin.
    Org(Slug),
    /// Entries made by this user only.
    OwnUser(i64),
}

/// Acts that other organizations read in the coordinator's view of the trail: what one
/// organization does to what others receive or share. Everything else an organization's
/// members do stays in their organization's view.
pub const COMMUNITY_ACTIONS: &[&str] = &[
    "alert.create",
    "alert.escalate",
    "report.relay",
    "report.triage",
    "report.note",
    "incident.create",
    "organization.create",
    "organization.update",
    "federation.add",
    "federation.remove",
];

/// The audit entries `actor` may read: the coordinator's view for admins and coordinators at
/// the coordinator, the organization's own for its admins and executives, and otherwise the
/// actor's own acts.
pub fn audit_scope(actor: &Actor) -> AuditScope {
    if actor.is_instance_admin() || actor.has(Role::Coordinator) {
        AuditScope::Community(actor.org.clone())
    } else if actor.has(Role::Admin) || actor.has(Role::Executive) {
        AuditScope::Org(actor.org.clone())
    } else {
        AuditScope::OwnUser(actor.user_id)
    }
}

/// Whether `entry` is in `scope`, for a reader whose user name is `user` (for `OwnUser`).
/// The store's SQL for each scope mirrors this rule, and a store test checks that they agree.
pub fn in_scope(scope: &AuditScope, user: Option<&str>, entry: &AuditEntry) -> bool {
    let is = |org: &Slug, field: &Option<String>| field.as_deref() == Some(org.as_str());
    match scope {
        AuditScope::Everything => true,
        AuditScope::Community(org) => {
            is(org, &entry.actor_org)
                || is(org, &entry.subject_org)
                || entry.actor_org.is_none()
                || (!entry.restricted && COMMUNITY_ACTIONS.contains(&entry.action.as_str()))
        }
        AuditScope::Org(org) => is(org, &entry.actor_org) || is(org, &entry.subject_org),
        AuditScope::OwnUser(_) => user.is_some() && entry.actor_user.as_deref() == user,
    }
}

/// An entry in scope as `actor` may read it: the salt of a restricted entry only in the
/// actor's own organization (the only readers who see what it commits to).
pub fn audit_view(actor: &Actor, entry: AuditEntry) -> AuditEntry {
    if entry.actor_org.as_deref() == Some(actor.org.as_str()) {
        entry
    } else {
        AuditEntry {
            salt: None,
            ..entry
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::test_actor as actor;
    use crate::registry::OrgKind;

    fn entry(org: Option<&str>, action: &str, restricted: bool) -> AuditEntry {
        AuditEntry {
            seq: 1,
            at_us: 0,
            actor_user: org.map(|o| format!("{o}-user")),
            actor_org: org.map(str::to_owned),
            action: action.into(),
            object_type: "x".into(),
            object_id: "1".into(),
            detail: "{}".into(),
            prev_hash: String::new(),
            hash: String::new(),
            restricted,
            subject_org: None,
            salt: restricted.then(|| "s".into()),
        }
    }

    #[test]
    fn scopes() {
        let nisc = actor("nisc", OrgKind::Coordinator, &[Role::Coordinator]);
        assert_eq!(audit_scope(&nisc), AuditScope::Community(nisc.org.clone()));
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

    #[test]
    fn the_coordinator_reads_no_operator_presence_and_nothing_restricted() {
        let nisc = AuditScope::Community(Slug::parse("nisc").expect("slug"));
        for hidden in [
            entry(Some("water-co"), "session.login", false),
            entry(Some("water-co"), "token.issue", false),
            entry(Some("water-co"), "alert.ack", false),
            entry(Some("water-co"), "report.file", true),
            entry(Some("water-co"), "report.file", false),
            entry(Some("water-co"), "report.relay", true),
        ] {
            assert!(!in_scope(&nisc, None, &hidden), "{}", hidden.action);
        }
        for shown in [
            entry(Some("water-ceptoar"), "report.relay", false),
            entry(Some("mhlw"), "alert.create", false),
            entry(None, "organization.create", false),
            entry(Some("nisc"), "session.login", false),
        ] {
            assert!(in_scope(&nisc, None, &shown), "{}", shown.action);
        }
        let mut about = entry(Some("nisc"), "user.create", false);
        about.subject_org = Some("water-co".into());
        let water = AuditScope::Org(Slug::parse("water-co").expect("slug"));
        assert!(in_scope(&water, None, &about));
        assert!(in_scope(&nisc, None, &about));
        assert!(!in_scope(
            &AuditScope::Org(Slug::parse("bank").expect("slug")),
            None,
            &about
        ));
    }

    #[test]
    fn the_salt_stays_with_the_actors_organization() {
        let e = entry(Some("water-co"), "report.file", true);
        let own = actor("water-co", OrgKind::Operator, &[Role::Admin]);
        assert!(audit_view(&own, e.clone()).salt.is_some());
        let nisc = actor("nisc", OrgKind::Coordinator, &[Role::Admin]);
        assert!(audit_view(&nisc, e).salt.is_none());
    }
}
