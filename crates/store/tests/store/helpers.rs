//! Shared set-up for store tests.

use ciphub_domain::registry::shipped_profile;
use ciphub_store::By;
use ciphub_store::testkit::TestDb;

/// A fresh database with the Japanese profile loaded.
pub async fn jp_db() -> TestDb {
    with_jp_profile(TestDb::new().await.expect("fresh database")).await
}

/// `db` with the Japanese profile loaded.
pub async fn with_jp_profile(db: TestDb) -> TestDb {
    let profile = shipped_profile("jp-cip-4")
        .expect("shipped")
        .expect("valid");
    db.store
        .apply_profile(&profile, &By::system())
        .await
        .expect("profile loads");
    db
}

/// A raw connection to the same database, to tamper with it as an intruder would.
pub async fn raw(db: &TestDb) -> sqlx::AnyPool {
    sqlx::any::install_default_drivers();
    sqlx::AnyPool::connect(&db.url)
        .await
        .expect("raw connection")
}
