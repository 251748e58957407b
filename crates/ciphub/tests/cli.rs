//! The `ciphub` binary as a user runs it, against a fresh database (SQLite by default,
//! PostgreSQL when CIPHUB_TEST_DATABASE_URL says so).

mod cli {
    mod admin;
    mod audit;
    mod browser;
    mod crash;
    mod disk;
    mod exercise;
    mod first_hour;
    mod helpers;
    mod journeys;
    mod openapi;
    mod serve;
    mod severity;
    mod taxii;
}
