//! The store test suite. It runs on SQLite by default and on PostgreSQL when
//! `CIPHUB_TEST_DATABASE_URL` is a postgres:// URL; every test gets a fresh database.

mod store {
    mod alerts;
    mod audit;
    mod helpers;
    mod ids;
    mod jobs;
    mod policy;
    mod registry;
    mod reports;
    mod taxii;
    mod users;
}
