//! Secrets of the instance: made at first use, kept in the database so every server process
//! on it shares them.

use rand::RngCore;

use crate::{Store, StoreError};

/// The name of the secret whose first 16 bytes are the namespace of the instance's STIX ids.
const STIX_NAMESPACE: &str = "stix-namespace";

impl Store {
    /// The namespace of this instance's deterministic STIX ids: made at random when the
    /// instance first needs it (an instance that exported STIX before namespaces were per
    /// instance keeps the one it used, so its ids do not change).
    pub async fn stix_id_space(&self) -> Result<ciphub_domain::stix::IdSpace, StoreError> {
        let secret = self.instance_secret(STIX_NAMESPACE).await?;
        Ok(ciphub_domain::stix::IdSpace::from_secret(&secret))
    }

    /// The 32-byte secret called `name`, made (at random) by whichever process asks first;
    /// read from the database once per process, then from memory (a secret never changes).
    pub async fn instance_secret(&self, name: &str) -> Result<[u8; 32], StoreError> {
        if let Some(known) = self
            .secrets
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(name)
        {
            return Ok(*known);
        }
        let mut fresh = [0u8; 32];
        rand::rng().fill_bytes(&mut fresh);
        let fresh: String = fresh.iter().map(|b| format!("{b:02x}")).collect();
        let mut conn = self.write_pool.acquire().await?;
        sqlx::query(
            "INSERT INTO instance_secrets (name, secret) VALUES ($1, $2) ON CONFLICT DO NOTHING",
        )
        .bind(name)
        .bind(&fresh)
        .execute(&mut *conn)
        .await?;
        let stored: String =
            sqlx::query_scalar("SELECT secret FROM instance_secrets WHERE name = $1")
                .bind(name)
                .fetch_one(&mut *conn)
                .await?;
        let mut out = [0u8; 32];
        if stored.len() != 64 {
            return Err(StoreError::Corrupt(format!(
                "instance secret {name:?} is not 32 bytes of hex"
            )));
        }
        for (i, byte) in out.iter_mut().enumerate() {
            *byte = u8::from_str_radix(&stored[2 * i..2 * i + 2], 16)
                .map_err(|_| StoreError::Corrupt(format!("instance secret {name:?} is not hex")))?;
        }
        self.secrets
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(name.to_owned(), out);
        Ok(out)
    }
}
