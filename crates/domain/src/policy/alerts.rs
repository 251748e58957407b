//! Who reads, sends and passes on alerts: the audience's roles, the senders' kinds and roles,
//! and what TLP 2.0 allows a recipient to pass on.

use crate::alert::{AlertError, Audience};
use crate::identity::{Role, Roles};
use crate::registry::OrgKind;
use crate::report::Tlp;
use crate::slug::Slug;

use super::Actor;

/// Whether `actor` reads an alert sent by `sender` to `audience`: the sender's own
/// organization always; a recipient organization (`delivered`) when the actor holds one of the
/// audience's roles, if it names any. Everyone else is told the alert does not exist.
pub fn alert_visible(actor: &Actor, sender: &Slug, delivered: bool, audience: &Audience) -> bool {
    &actor.org == sender || (delivered && role_sees(audience, &actor.roles))
}

/// Whether `actor` passes on an alert its organization received (`delivered`) to the members
/// of its CEPTOAR: the CEPTOAR's secretariat only. What the label allows is `may_relay`.
pub fn may_pass_on(actor: &Actor, delivered: bool) -> bool {
    delivered && actor.org_kind == OrgKind::Ceptoar && actor.has(Role::Secretariat)
}

/// Whether `actor` sets its CEPTOAR's rule for passing alerts on automatically.
pub fn may_set_relay_rule(actor: &Actor) -> bool {
    actor.org_kind == OrgKind::Ceptoar && (actor.has(Role::Secretariat) || actor.has(Role::Admin))
}

/// Whether a user with `roles` in a recipient organization sees an alert for `audience`.
pub fn role_sees(audience: &Audience, roles: &Roles) -> bool {
    audience.roles.is_empty() || audience.roles.iter().any(|r| roles.contains(r))
}

/// Whether a recipient may pass an alert on to its own members or clients (a CEPTOAR relaying
/// to its operators): never for RED and AMBER+STRICT, for AMBER only with the sender's
/// permission, always for GREEN and CLEAR.
pub fn may_relay(tlp: Tlp, clients_permitted: bool) -> Result<(), AlertError> {
    match tlp {
        Tlp::Red => Err(AlertError::NoRelay("TLP:RED")),
        Tlp::AmberStrict => Err(AlertError::NoRelay("TLP:AMBER+STRICT")),
        Tlp::Amber if !clients_permitted => Err(AlertError::AmberNeedsPermission),
        Tlp::Amber | Tlp::Green | Tlp::Clear => Ok(()),
    }
}

/// Who may send alerts: the coordinator, ministries, agencies and CEPTOARs, by their analysts,
/// coordinators, secretariats and admins.
pub fn may_send(kind: OrgKind, roles: &Roles) -> bool {
    let org_ok = matches!(
        kind,
        OrgKind::Coordinator
            | OrgKind::Ministry
            | OrgKind::Agency
            | OrgKind::Ceptoar
            | OrgKind::Council
    );
    let role_ok = [
        Role::Analyst,
        Role::Coordinator,
        Role::Secretariat,
        Role::Admin,
    ]
    .iter()
    .any(|r| roles.contains(r));
    org_ok && role_ok
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alert::Scope;

    fn audience(scope: Scope) -> Audience {
        Audience {
            scope,
            roles: Roles::new(),
        }
    }

    #[test]
    fn tlp_limits_relays() {
        assert_eq!(
            may_relay(Tlp::Red, true),
            Err(AlertError::NoRelay("TLP:RED"))
        );
        assert_eq!(
            may_relay(Tlp::AmberStrict, true),
            Err(AlertError::NoRelay("TLP:AMBER+STRICT"))
        );
        assert_eq!(
            may_relay(Tlp::Amber, false),
            Err(AlertError::AmberNeedsPermission)
        );
        assert_eq!(may_relay(Tlp::Amber, true), Ok(()));
        assert_eq!(may_relay(Tlp::Green, false), Ok(()));
    }

    #[test]
    fn roles_narrow_the_audience_and_senders_are_staff() {
        let execs = Audience {
            scope: Scope::All,
            roles: [Role::Executive].into(),
        };
        assert!(role_sees(&execs, &[Role::Executive, Role::Viewer].into()));
        assert!(!role_sees(&execs, &[Role::Reporter].into()));
        assert!(role_sees(&audience(Scope::All), &[Role::Reporter].into()));
        assert!(may_send(OrgKind::Ceptoar, &[Role::Secretariat].into()));
        assert!(!may_send(OrgKind::Operator, &[Role::Admin].into()));
        assert!(!may_send(OrgKind::Ministry, &[Role::Viewer].into()));
    }
}
