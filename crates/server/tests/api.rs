//! The server's integration tests: a real server on a loopback port over a fresh database
//! (SQLite by default, PostgreSQL when CIPHUB_TEST_DATABASE_URL says so).

mod api {
    mod alerts;
    mod anonymity;
    mod audit;
    mod auth;
    mod bad_input;
    mod correlations;
    mod dashboard;
    mod delivery;
    mod exercises;
    mod fuzz;
    mod helpers;
    mod ids;
    mod limits;
    mod pages;
    mod public;
    mod registry;
    mod reports;
    mod service;
    mod severity;
    mod streams;
    mod taxii;
    mod trust;
    mod users;
}
