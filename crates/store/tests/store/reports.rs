//! Reports as the store keeps them: what their lists read stays cheap as they grow.

/// Looking up a report's relayed copies (done for each report of a reporter's or a
/// secretariat's list) reads an index, not the whole table, however many reports are stored.
#[tokio::test]
async fn relayed_copies_are_found_through_an_index() {
    let db = super::helpers::jp_db().await;
    if db.url.starts_with("postgres") {
        // PostgreSQL plans from statistics and may scan a small table; the index exists on
        // both (migration 0018), and this checks the plan SQLite makes.
        return;
    }
    use sqlx::Connection as _;
    let mut conn = sqlx::AnyConnection::connect(&db.url)
        .await
        .expect("connect");
    let plan: Vec<(i64, i64, i64, String)> =
        sqlx::query_as("EXPLAIN QUERY PLAN SELECT id FROM reports WHERE relay_of = 1 ORDER BY seq")
            .fetch_all(&mut conn)
            .await
            .expect("plan");
    let plan: Vec<&str> = plan.iter().map(|p| p.3.as_str()).collect();
    assert!(
        plan.iter().any(|p| p.contains("reports_relay_of")),
        "{plan:?}"
    );
}
