//! What may leave whom: which labels the whole community reads, what may leave this instance
//! (federation, MISP feeds), what is public, and how much of an alert each outside channel
//! (e-mail, webhooks) may carry.

use crate::alert::Audience;
use crate::report::Tlp;

/// Who may read an object shared in a TAXII collection, given its label: CLEAR and GREEN
/// reach every organization of the community; AMBER, AMBER+STRICT and RED stay with the
/// organization that holds the copy; an object with no TLP marking is treated as
/// AMBER+STRICT, since nothing says it may go further. Objects made from alerts follow the
/// alert's audience instead (the store applies both, in one query).
pub fn community_readable(tlp: Option<Tlp>) -> bool {
    matches!(tlp, Some(Tlp::Clear | Tlp::Green))
}

/// Whether an object may leave this instance for a federated partner or a MISP feed: only
/// what the whole community may read.
pub fn may_leave(tlp: Option<Tlp>) -> bool {
    community_readable(tlp)
}

/// Whether an alert may appear on the public advisories page and Atom feed.
pub fn is_public(tlp: Tlp) -> bool {
    tlp == Tlp::Clear
}

/// A way an alert leaves ciphub other than the signed-in inbox and stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Channel {
    /// E-mail to an organization's contacts: plain SMTP, read on phones, forwarded easily.
    Email,
    /// A signed HTTP call to an endpoint the organization registered for its own systems.
    Webhook,
}

/// How much of an alert a channel may carry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Disclosure {
    /// Title, body and label.
    Full,
    /// Only that an alert with this label and sender awaits the recipient, with a link; the
    /// content is read after signing in.
    Notice,
}

/// What a channel may carry of an alert. E-mail leaves the organization's control (mail
/// servers, forwarding, phones), so it carries content only for TLP:CLEAR and TLP:GREEN. A
/// webhook reaches the organization's own systems, so it carries content up to
/// TLP:AMBER+STRICT, but never TLP:RED, which is for named people. An alert meant only for some
/// roles is never carried in full: a contact address or endpoint is not a role.
pub fn disclosure(channel: Channel, tlp: Tlp, audience: &Audience) -> Disclosure {
    if !audience.roles.is_empty() {
        return Disclosure::Notice;
    }
    let full = match channel {
        Channel::Email => matches!(tlp, Tlp::Clear | Tlp::Green),
        Channel::Webhook => tlp != Tlp::Red,
    };
    if full {
        Disclosure::Full
    } else {
        Disclosure::Notice
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alert::Scope;
    use crate::identity::{Role, Roles};

    #[test]
    fn channels_carry_content_only_as_far_as_the_label_allows() {
        let all = Audience {
            scope: Scope::All,
            roles: Roles::new(),
        };
        let duty = Audience {
            scope: Scope::All,
            roles: [Role::Duty].into_iter().collect(),
        };
        use Disclosure::{Full, Notice};
        let expect = [
            (Tlp::Clear, Full, Full),
            (Tlp::Green, Full, Full),
            (Tlp::Amber, Notice, Full),
            (Tlp::AmberStrict, Notice, Full),
            (Tlp::Red, Notice, Notice),
        ];
        for (tlp, email, webhook) in expect {
            assert_eq!(disclosure(Channel::Email, tlp, &all), email, "{tlp}");
            assert_eq!(disclosure(Channel::Webhook, tlp, &all), webhook, "{tlp}");
            assert_eq!(disclosure(Channel::Email, tlp, &duty), Notice, "{tlp}");
            assert_eq!(disclosure(Channel::Webhook, tlp, &duty), Notice, "{tlp}");
        }
    }

    #[test]
    fn only_clear_is_public_and_only_clear_and_green_leave() {
        assert!(is_public(Tlp::Clear));
        assert!(
            !Tlp::ALL
                .iter()
                .filter(|t| **t != Tlp::Clear)
                .any(|t| is_public(*t))
        );
        for t in Tlp::ALL.iter().copied() {
            assert_eq!(may_leave(Some(t)), matches!(t, Tlp::Clear | Tlp::Green));
        }
        assert!(!may_leave(None));
    }
}
