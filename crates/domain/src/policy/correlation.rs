//! Who sees what of a correlation: the items a reader may read are shown (an anonymous report
//! as its sector's placeholder), and items the reader may not read are only counted, and only
//! when they come from at least `k` organizations, so a count never points at one reporter.

use std::collections::{BTreeMap, BTreeSet};

/// The smallest group of organizations shown to a reader who may not read its items.
pub const DEFAULT_K: usize = 5;

/// One item sharing a value, as the policy needs to know it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Member {
    /// The reader may read the item (and, for a report, its text: a value found in text the
    /// reader may not read is not the reader's to see).
    pub readable: bool,
    /// The organization that holds or reported it, counted for `k` (never shown).
    pub org: i64,
    /// The sectors it concerns.
    pub sectors: Vec<String>,
}

/// What a reader is told of items they may not read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Hidden {
    pub items: usize,
    pub organizations: usize,
    /// Sectors with at least `k` of those organizations each, and their counts.
    pub sectors: BTreeMap<String, usize>,
}

/// What a reader sees of the items that share one value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct View {
    /// Indices of the members shown.
    pub shown: Vec<usize>,
    /// The others, when there are enough of them to say nothing about any one.
    pub hidden: Option<Hidden>,
}

impl View {
    /// Whether there is anything to tell this reader about the value beyond `own` items:
    /// another readable item, or a group of at least `k`.
    pub fn links(&self, own: usize) -> bool {
        self.shown.len() > own || self.hidden.is_some()
    }
}

/// What the reader sees of `members` (all the items holding one value), with `k` the smallest
/// group of organizations shown as a count.
pub fn view(members: &[Member], k: usize) -> View {
    let shown: Vec<usize> = (0..members.len())
        .filter(|i| members[*i].readable)
        .collect();
    let others: Vec<&Member> = members.iter().filter(|m| !m.readable).collect();
    let orgs: BTreeSet<i64> = others.iter().map(|m| m.org).collect();
    let hidden = (!others.is_empty() && orgs.len() >= k.max(1)).then(|| {
        let mut by_sector: BTreeMap<&str, BTreeSet<i64>> = BTreeMap::new();
        for m in &others {
            for s in &m.sectors {
                by_sector.entry(s).or_default().insert(m.org);
            }
        }
        Hidden {
            items: others.len(),
            organizations: orgs.len(),
            sectors: by_sector
                .into_iter()
                .filter(|(_, o)| o.len() >= k.max(1))
                .map(|(s, o)| (s.to_owned(), o.len()))
                .collect(),
        }
    });
    View { shown, hidden }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn member(readable: bool, org: i64, sector: &str) -> Member {
        Member {
            readable,
            org,
            sectors: vec![sector.to_owned()],
        }
    }

    #[test]
    fn fewer_than_k_hidden_organizations_are_not_even_counted() {
        let four: Vec<Member> = (0..4).map(|o| member(false, o, "water")).collect();
        assert_eq!(view(&four, 5).hidden, None);
        let mut five = four.clone();
        five.push(member(false, 4, "medical"));
        five.push(member(true, 9, "water"));
        let v = view(&five, 5);
        assert_eq!(v.shown, [5]);
        let h = v.hidden.expect("five organizations");
        assert_eq!((h.items, h.organizations), (5, 5));
        // Neither sector has five of them: no sector is named.
        assert!(h.sectors.is_empty());
    }

    proptest! {
        /// Whatever the members, a hidden count covers at least k organizations, every named
        /// sector at least k, and nothing unreadable is shown.
        #[test]
        fn counts_never_point_at_fewer_than_k(
            members in proptest::collection::vec((any::<bool>(), 0i64..8, 0usize..3), 0..30),
            k in 1usize..7,
        ) {
            let sectors = ["water", "medical", "electricity"];
            let members: Vec<Member> = members
                .into_iter()
                .map(|(r, o, s)| member(r, o, sectors[s]))
                .collect();
            let v = view(&members, k);
            prop_assert!(v.shown.iter().all(|i| members[*i].readable));
            if let Some(h) = v.hidden {
                prop_assert!(h.organizations >= k);
                prop_assert!(h.sectors.values().all(|n| *n >= k));
            }
        }
    }
}
