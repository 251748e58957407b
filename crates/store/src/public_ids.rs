//! Public ids of rows numbered by one sequence for the whole instance, which are shown only
//! to the organization they belong to: notifications, notes, alert notices, security notices,
//! API tokens, webhooks, webhook calls and e-mail jobs (in their `Message-ID`). Every id the
//! store gives out for these is public, and every id it is given back is read as public. Shown
//! as they are stored, the numbers would count what every other organization received in
//! between (a notification is made for every report filed), so each is shown through a keyed
//! permutation of [0, 2^52): the same row keeps the same public id, distinct rows keep
//! distinct ones, and nothing of the order or the count shows. The key is an instance secret,
//! shared by every process on the database.

use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::{Store, StoreError};

/// Rows whose ids are shown through the permutation, each with a permutation of its own.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Kind {
    Notification,
    Note,
    AlertNotice,
    SecurityNotice,
    Token,
    Webhook,
    /// A webhook call (a job of the delivery queue).
    Call,
    /// An e-mail job, as its `Message-ID` shows it.
    Mail,
}

impl Kind {
    fn label(self) -> &'static [u8] {
        match self {
            Kind::Notification => b"notification",
            Kind::Note => b"note",
            Kind::AlertNotice => b"alert-notice",
            Kind::SecurityNotice => b"security-notice",
            Kind::Token => b"token",
            Kind::Webhook => b"webhook",
            Kind::Call => b"call",
            Kind::Mail => b"mail",
        }
    }
}

/// Bits of each half of an id: ids below 2^52 stay exact as JSON numbers.
const HALF: u32 = 26;
const HALF_MASK: u64 = (1 << HALF) - 1;
/// Feistel rounds: more than the four that make a pseudorandom permutation of a PRF.
const ROUNDS: u8 = 8;

/// The keyed permutation (a balanced Feistel network over HMAC-SHA-256).
pub(crate) struct PublicIds {
    key: [u8; 32],
}

/// What the permutation's key is called among the instance's secrets.
const SECRET: &str = "public-ids";

impl PublicIds {
    pub(crate) fn new(key: [u8; 32]) -> Self {
        Self { key }
    }

    fn round(&self, kind: Kind, round: u8, half: u64) -> u64 {
        #[allow(clippy::expect_used)]
        let mut m = <Hmac<Sha256> as Mac>::new_from_slice(&self.key).expect("any key length");
        m.update(kind.label());
        m.update(&[round]);
        m.update(&half.to_be_bytes());
        let out = m.finalize().into_bytes();
        let mut eight = [0u8; 8];
        eight.copy_from_slice(&out[..8]);
        u64::from_be_bytes(eight) & HALF_MASK
    }

    /// The public id of stored id `id` (ids at or above 2^52, which no sequence reaches, are
    /// shown as they are).
    pub(crate) fn hide(&self, kind: Kind, id: i64) -> i64 {
        let Ok(v) = u64::try_from(id) else {
            return id;
        };
        if v >> (2 * HALF) != 0 {
            return id;
        }
        let (mut left, mut right) = (v >> HALF, v & HALF_MASK);
        for r in 0..ROUNDS {
            let next = left ^ self.round(kind, r, right);
            left = right;
            right = next;
        }
        i64::try_from((left << HALF) | right).unwrap_or(id)
    }

    /// The stored id behind public id `public`, the inverse of `hide`.
    pub(crate) fn reveal(&self, kind: Kind, public: i64) -> Option<i64> {
        let v = u64::try_from(public).ok()?;
        if v >> (2 * HALF) != 0 {
            return None;
        }
        let (mut left, mut right) = (v >> HALF, v & HALF_MASK);
        for r in (0..ROUNDS).rev() {
            let previous = right ^ self.round(kind, r, left);
            right = left;
            left = previous;
        }
        i64::try_from((left << HALF) | right).ok()
    }
}

impl Store {
    /// The public id of webhook call `job` (a stored id), as its webhook's owner knows it.
    pub async fn public_call_id(&self, job: i64) -> Result<i64, StoreError> {
        Ok(self.public_ids().await?.hide(Kind::Call, job))
    }

    /// The public id of e-mail job `job` (a stored id), which its `Message-ID` carries: the
    /// same on every try of the job, and counting nothing of other organizations' mail.
    pub async fn public_mail_id(&self, job: i64) -> Result<i64, StoreError> {
        Ok(self.public_ids().await?.hide(Kind::Mail, job))
    }

    /// The permutation public ids are shown through. Called before a write transaction
    /// opens, never inside one (the secret may have to be read first).
    pub(crate) async fn public_ids(&self) -> Result<PublicIds, StoreError> {
        Ok(PublicIds::new(self.instance_secret(SECRET).await?))
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    #[test]
    fn public_ids_are_a_permutation_that_hides_order() {
        let ids = PublicIds::new([3; 32]);
        let mut seen = BTreeSet::new();
        let mut increasing = 0;
        let mut previous = -1;
        for id in 1..=5_000i64 {
            let public = ids.hide(Kind::Notification, id);
            assert!((0..1 << 52).contains(&public));
            assert_eq!(ids.reveal(Kind::Notification, public), Some(id));
            assert!(seen.insert(public), "two rows share {public}");
            if public > previous {
                increasing += 1;
            }
            previous = public;
        }
        // About half the steps go up, as for random numbers; a sequence would go up every time.
        assert!((2_000..3_000).contains(&increasing), "{increasing}");
        // Each kind, and each instance, has its own permutation.
        assert_ne!(ids.hide(Kind::Note, 7), ids.hide(Kind::Notification, 7));
        assert_ne!(
            PublicIds::new([4; 32]).hide(Kind::Note, 7),
            ids.hide(Kind::Note, 7)
        );
    }
}
