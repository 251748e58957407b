//! The audit chain: each entry's hash covers its content and the previous entry's hash,
//! so an edit, an insertion or a removal anywhere breaks the chain from there on.

use serde::Serialize;
use sha2::{Digest, Sha256};

/// The hash that stands before the first entry.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// One entry of the audit log, as stored.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct AuditEntry {
    /// Position in the chain, from 1 with no gaps.
    pub seq: i64,
    /// When, in microseconds since the Unix epoch (UTC).
    pub at_us: i64,
    /// The acting user's name, or `None` for the system (a CLI command, a profile load).
    pub actor_user: Option<String>,
    /// The acting user's organization.
    pub actor_org: Option<String>,
    /// What happened, as `object.verb` (`user.create`, `token.revoke`).
    pub action: String,
    /// The kind of object changed.
    pub object_type: String,
    /// Which object.
    pub object_id: String,
    /// Details as JSON text, hashed exactly as stored.
    pub detail: String,
    pub prev_hash: String,
    pub hash: String,
    /// The actor must stay hidden from other organizations (an act on an anonymous report by
    /// its reporter). Hashed only when set, so older entries keep their hashes.
    pub restricted: bool,
    /// The organization the changed object belongs to, when that is not the actor's (an
    /// instance admin creating another organization's first admin): it sees the entry too.
    pub subject_org: Option<String>,
    /// A random secret hashed into a restricted entry, so that nobody who may not read the
    /// hidden actor and detail can reproduce the hash by guessing them. Readable only by the
    /// actor's organization and by `audit verify`.
    pub salt: Option<String>,
}

/// The content of an entry that its hash covers, in a fixed order.
#[derive(Serialize)]
struct Hashed<'a> {
    seq: i64,
    at_us: i64,
    actor_user: &'a Option<String>,
    actor_org: &'a Option<String>,
    action: &'a str,
    object_type: &'a str,
    object_id: &'a str,
    detail: &'a str,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    restricted: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    subject_org: &'a Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    salt: &'a Option<String>,
}

/// The hash of an entry's content chained to `prev_hash`, as lowercase hex.
pub fn entry_hash(entry: &AuditEntry, prev_hash: &str) -> String {
    let content = Hashed {
        seq: entry.seq,
        at_us: entry.at_us,
        actor_user: &entry.actor_user,
        actor_org: &entry.actor_org,
        action: &entry.action,
        object_type: &entry.object_type,
        object_id: &entry.object_id,
        detail: &entry.detail,
        restricted: entry.restricted,
        subject_org: &entry.subject_org,
        salt: &entry.salt,
    };
    // Serializing a struct of strings and integers cannot fail.
    let json = serde_json::to_vec(&content).unwrap_or_default();
    let mut h = Sha256::new();
    h.update(prev_hash.as_bytes());
    h.update(b"\n");
    h.update(&json);
    hex::encode(h.finalize())
}

/// Where and why a chain is broken.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("audit chain broken at entry {seq}: {reason}")]
pub struct ChainBreak {
    pub seq: i64,
    pub reason: String,
}

/// Checks entries one by one, in order. Feed it every entry from the first.
#[derive(Debug)]
pub struct ChainVerifier {
    next_seq: i64,
    prev_hash: String,
}

impl Default for ChainVerifier {
    fn default() -> Self {
        Self {
            next_seq: 1,
            prev_hash: GENESIS_HASH.to_owned(),
        }
    }
}

impl ChainVerifier {
    /// Checks the next entry.
    pub fn push(&mut self, entry: &AuditEntry) -> Result<(), ChainBreak> {
        let fail = |reason: String| {
            Err(ChainBreak {
                seq: entry.seq,
                reason,
            })
        };
        if entry.seq != self.next_seq {
            return Err(ChainBreak {
                seq: self.next_seq,
                reason: format!(
                    "expected entry {} but found {}: entries are missing or out of order",
                    self.next_seq, entry.seq
                ),
            });
        }
        if entry.prev_hash != self.prev_hash {
            return fail("its previous-hash does not match the entry before it".into());
        }
        if entry_hash(entry, &self.prev_hash) != entry.hash {
            return fail("its content does not match its hash (it was changed)".into());
        }
        self.next_seq += 1;
        self.prev_hash.clone_from(&entry.hash);
        Ok(())
    }

    /// Checks that the chain ends where its recorded head says: `head_seq` entries, last hash `head_hash`.
    pub fn finish(&self, head_seq: i64, head_hash: &str) -> Result<i64, ChainBreak> {
        let count = self.next_seq - 1;
        if head_seq != count {
            return Err(ChainBreak {
                seq: count + 1,
                reason: format!(
                    "the chain head records {head_seq} entries but {count} are present: entries were removed"
                ),
            });
        }
        if head_hash != self.prev_hash {
            return Err(ChainBreak {
                seq: count,
                reason: "the last entry's hash does not match the chain head".into(),
            });
        }
        Ok(count)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn chain(n: i64) -> Vec<AuditEntry> {
        let mut prev = GENESIS_HASH.to_owned();
        (1..=n)
            .map(|seq| {
                let mut e = AuditEntry {
                    seq,
                    at_us: 1_700_000_000_000_000 + seq,
                    actor_user: Some("admin".into()),
                    actor_org: Some("nisc".into()),
                    action: "user.create".into(),
                    object_type: "user".into(),
                    object_id: seq.to_string(),
                    detail: format!("{{\"n\":{seq}}}"),
                    prev_hash: prev.clone(),
                    hash: String::new(),
                    restricted: seq % 7 == 0,
                    subject_org: (seq % 5 == 0).then(|| "water-co".into()),
                    salt: (seq % 7 == 0).then(|| format!("{seq:064x}")),
                };
                e.hash = entry_hash(&e, &prev);
                prev.clone_from(&e.hash);
                e
            })
            .collect()
    }

    fn verify(entries: &[AuditEntry]) -> Result<i64, ChainBreak> {
        let mut v = ChainVerifier::default();
        for e in entries {
            v.push(e)?;
        }
        let last = entries.last().map_or(GENESIS_HASH, |e| e.hash.as_str());
        v.finish(entries.len() as i64, last)
    }

    #[test]
    fn an_intact_chain_verifies() {
        assert_eq!(verify(&chain(50)), Ok(50));
        assert_eq!(verify(&[]), Ok(0));
    }

    #[test]
    fn a_removed_tail_is_found_by_the_head() {
        let c = chain(5);
        let mut v = ChainVerifier::default();
        for e in &c[..4] {
            v.push(e).expect("intact");
        }
        assert_eq!(v.finish(5, &c[4].hash).unwrap_err().seq, 5);
    }

    proptest! {
        #[test]
        fn any_edit_is_found_at_the_edited_entry(n in 1i64..40, at in 0usize..40, field in 0u8..7) {
            let mut c = chain(n);
            let i = at % c.len();
            match field {
                0 => c[i].detail.push(' '),
                1 => c[i].at_us += 1,
                2 => c[i].actor_user = Some("mallory".into()),
                3 => c[i].restricted = !c[i].restricted,
                4 => c[i].subject_org = Some("elsewhere".into()),
                5 => c[i].salt = Some("guessed".into()),
                _ => c[i].object_id.push('x'),
            }
            let err = verify(&c).unwrap_err();
            prop_assert_eq!(err.seq, c[i].seq);
        }

        #[test]
        fn a_removed_entry_is_found(n in 2i64..40, at in 0usize..39) {
            let mut c = chain(n);
            let i = at % (c.len() - 1);
            c.remove(i);
            prop_assert!(verify(&c).is_err());
        }
    }
}
