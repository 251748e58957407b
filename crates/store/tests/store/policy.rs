//! The store's SQL forms of the sharing policy agree with the domain's rules they mirror, on
//! every label, evaluated by the database itself.

use ciphub_domain::policy::sharing::{is_public, may_leave};
use ciphub_domain::report::Tlp;
use ciphub_store::{MAY_LEAVE, PUBLIC_ALERT};

use super::helpers::raw;

async fn holds(pool: &sqlx::AnyPool, sql: String, tlp: &str) -> bool {
    let n: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
        .bind(tlp)
        .fetch_one(pool)
        .await
        .expect("predicate");
    n == 1
}

#[tokio::test]
async fn public_alerts_and_what_may_leave_match_the_domain_rules() {
    let db = ciphub_store::testkit::TestDb::new().await.expect("db");
    let pool = raw(&db).await;
    let mut labels: Vec<(Option<Tlp>, String)> = Tlp::ALL
        .iter()
        .map(|t| (Some(*t), t.as_str().to_owned()))
        .collect();
    // Unmarked objects are stored with no label text the predicates know.
    labels.push((None, String::new()));
    for (tlp, text) in &labels {
        let public = holds(
            &pool,
            format!("SELECT COUNT(*) FROM (SELECT CAST($1 AS TEXT) AS tlp) a WHERE {PUBLIC_ALERT}"),
            text,
        )
        .await;
        assert_eq!(public, tlp.is_some_and(is_public), "public {text:?}");
        for (made_from_alert, alert_id) in [(false, "NULL"), (true, "7")] {
            let leaves = holds(
                &pool,
                format!(
                    "SELECT COUNT(*) FROM (SELECT CAST($1 AS TEXT) AS tlp, CAST({alert_id} AS BIGINT) \
                     AS alert_id) o WHERE {MAY_LEAVE}"
                ),
                text,
            )
            .await;
            assert_eq!(
                leaves,
                !made_from_alert && may_leave(*tlp),
                "may leave {text:?}, from an alert: {made_from_alert}"
            );
        }
    }
}
