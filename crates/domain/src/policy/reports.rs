//! Who may see and do what with a report: the anonymity rule (`report_access`), who triages
//! and groups reports (staff), and where a relayed copy may go.

use crate::identity::Role;
use crate::registry::OrgKind;
use crate::report::{Formation, Tlp};
use crate::slug::Slug;

use super::Actor;

/// The roles that work on what an organization receives: triage, notes, incidents.
pub const STAFF_ROLES: [Role; 4] = [
    Role::Analyst,
    Role::Secretariat,
    Role::Coordinator,
    Role::Admin,
];

/// Whether the actor holds one of the `STAFF_ROLES`.
pub fn is_staff(actor: &Actor) -> bool {
    STAFF_ROLES.iter().any(|r| actor.has(*r))
}

/// The facts about a report that decide who may see what of it.
#[derive(Clone, Debug)]
pub struct ReportFacts<'a> {
    pub reporter_org: &'a Slug,
    pub formation: Formation,
    /// The relaying CEPTOAR (anonymous) or the chosen agency.
    pub via: Option<&'a Slug>,
    /// Organizations the report was routed to.
    pub recipients: &'a [Slug],
    /// The reporter agreed to be named to every recipient.
    pub consent_named: bool,
}

/// What an actor may do with one report.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ReportAccess {
    /// See the report at all (others get "not found").
    pub read: bool,
    /// See its text: title, description, answers. Recipients of an anonymous report other than
    /// the relaying secretariat see only a summary until a sanitized copy is relayed to them.
    pub content: bool,
    /// Know which organization reported it.
    pub identity: bool,
    /// File further stages, consent to be named (the reporter's organization).
    pub update: bool,
    /// Set status and assignee (a recipient's staff).
    pub triage: bool,
    /// Read the organization's notes on the report, and add to them with `triage`: a
    /// recipient that reads the text. A note on an anonymous report may name its reporter, so
    /// only the relaying secretariat keeps notes on one.
    pub notes: bool,
    /// Relay a sanitized copy onward (the relaying CEPTOAR's secretariat).
    pub relay: bool,
    /// Consent to be named to every recipient: the reporter's organization, for an anonymous
    /// report whose reporter has not consented yet.
    pub consent: bool,
}

/// The anonymity rule: only the reporter's organization and the relaying CEPTOAR's secretariat
/// know who reported an anonymous report, unless the reporter consented to be named.
pub fn report_access(actor: &Actor, facts: &ReportFacts<'_>) -> ReportAccess {
    let own = &actor.org == facts.reporter_org;
    let recipient = facts.recipients.contains(&actor.org);
    let relaying_secretariat = facts.formation == Formation::CeptoarAnonymous
        && facts.via == Some(&actor.org)
        && actor.has(Role::Secretariat);
    let read = own || recipient;
    let anonymous = facts.formation == Formation::CeptoarAnonymous;
    // The text of an anonymous report may name its reporter: only the secretariat reads it.
    let content = own || (recipient && (!anonymous || relaying_secretariat));
    let identity = own
        || relaying_secretariat
        || (read && (facts.formation != Formation::CeptoarAnonymous || facts.consent_named));
    ReportAccess {
        read,
        content,
        identity,
        update: own && (actor.has(Role::Reporter) || actor.has(Role::Admin)),
        consent: own
            && anonymous
            && !facts.consent_named
            && (actor.has(Role::Reporter) || actor.has(Role::Admin)),
        triage: recipient && is_staff(actor),
        notes: recipient && content,
        relay: relaying_secretariat,
    }
}

/// Whether a relayed copy of a report labelled `tlp` may also go to `extra`, an organization
/// of `kind` that its formation does not require. The copy keeps the label the reporter chose:
/// a TLP:RED or TLP:AMBER+STRICT copy reaches only the recipients its formation requires, and
/// the others reach further CEPTOARs only (sector sharing bodies, which pass it to members).
pub fn relay_extra_allowed(tlp: Tlp, extra: &Slug, kind: OrgKind) -> Result<(), String> {
    if matches!(tlp, Tlp::Red | Tlp::AmberStrict) {
        return Err(format!(
            "the report is {tlp}: a relayed copy goes only to the recipients its formation requires, not to {extra}"
        ));
    }
    if kind != OrgKind::Ceptoar {
        return Err(format!(
            "{extra} is not a CEPTOAR: a relayed copy goes further only to other CEPTOARs"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::test_actor as actor;

    fn s(x: &str) -> Slug {
        Slug::parse(x).expect("slug")
    }

    #[test]
    fn anonymity_hides_the_reporter_from_all_but_two() {
        let reporter = s("tokyo-water");
        let via = s("water-ceptoar");
        let recipients = [s("water-ceptoar"), s("nisc")];
        let facts = ReportFacts {
            reporter_org: &reporter,
            formation: Formation::CeptoarAnonymous,
            via: Some(&via),
            recipients: &recipients,
            consent_named: false,
        };
        let own = report_access(
            &actor("tokyo-water", OrgKind::Operator, &[Role::Viewer]),
            &facts,
        );
        assert!(own.read && own.identity && !own.update);
        let sec = report_access(
            &actor("water-ceptoar", OrgKind::Ceptoar, &[Role::Secretariat]),
            &facts,
        );
        assert!(sec.read && sec.identity && sec.relay && sec.triage && sec.notes);
        let ceptoar_viewer = report_access(
            &actor("water-ceptoar", OrgKind::Ceptoar, &[Role::Viewer]),
            &facts,
        );
        assert!(ceptoar_viewer.read && !ceptoar_viewer.identity);
        // The secretariat's notes may name the reporter: its colleagues without the role do
        // not read them, whatever else they may do.
        assert!(!ceptoar_viewer.notes);
        let ceptoar_analyst = report_access(
            &actor("water-ceptoar", OrgKind::Ceptoar, &[Role::Analyst]),
            &facts,
        );
        assert!(ceptoar_analyst.triage && !ceptoar_analyst.notes);
        let nisc = report_access(
            &actor(
                "nisc",
                OrgKind::Coordinator,
                &[Role::Coordinator, Role::Admin],
            ),
            &facts,
        );
        assert!(nisc.read && !nisc.identity && !nisc.relay && !nisc.notes);
        let other = report_access(&actor("mhlw", OrgKind::Ministry, &[Role::Admin]), &facts);
        assert_eq!(other, ReportAccess::default());
        let consented = ReportFacts {
            consent_named: true,
            ..facts.clone()
        };
        assert!(
            report_access(
                &actor("nisc", OrgKind::Coordinator, &[Role::Coordinator]),
                &consented
            )
            .identity
        );
    }

    #[test]
    fn relayed_copies_keep_their_label() {
        let other = s("electric-power-ceptoar");
        assert!(relay_extra_allowed(Tlp::Amber, &other, OrgKind::Ceptoar).is_ok());
        assert!(relay_extra_allowed(Tlp::Red, &other, OrgKind::Ceptoar).is_err());
        assert!(relay_extra_allowed(Tlp::AmberStrict, &other, OrgKind::Ceptoar).is_err());
        assert!(relay_extra_allowed(Tlp::Green, &other, OrgKind::Operator).is_err());
    }
}
