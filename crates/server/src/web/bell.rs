//! The header's bell: how many alerts delivered to the user's organization no one of it has
//! opened yet, as the inbox marks them. The live stream's script adds one for each new alert.

use ciphub_store::UserRecord;

use crate::AppState;
use crate::error::AppError;

/// The newest alerts the bell looks at. Counting every unread alert needs an aggregate query
/// of the store; until it has one, the bell reads a bounded window and says "30 or more" when
/// every alert in it is unread.
pub const WINDOW: u32 = 30;

/// The unread alerts the bell shows.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Unread {
    pub count: u32,
    /// Whether there may be more than `count` (the window was full of unread alerts).
    pub more: bool,
}

/// The unread alerts of `user`'s organization among the newest `WINDOW` it sent or received,
/// through the API's own visibility rule. `opening` is an alert the request is about to open
/// (`GET /alerts/{id}` reads it), which no longer counts as unread.
pub async fn unread_alerts(
    state: &AppState,
    user: &UserRecord,
    opening: Option<i64>,
) -> Result<Unread, AppError> {
    let actor = user.actor();
    let alerts = state.store.alerts_of_org(&actor.org, None, WINDOW).await?;
    let full = alerts.len() == WINDOW as usize;
    let (mut count, mut opened) = (0, false);
    for a in &alerts {
        if let Some(Some(d)) = crate::api::alerts::visible(state, &actor, a).await?
            && d.read.is_none()
        {
            count += 1;
            opened |= Some(a.id) == opening;
        }
    }
    Ok(Unread {
        more: full && count == WINDOW,
        count: count - u32::from(opened),
    })
}

/// The alert a page's path opens, if it is one: `/alerts/{id}`.
pub fn opened_by(path: &str) -> Option<i64> {
    path.strip_prefix("/alerts/")?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_an_alerts_own_page_opens_it() {
        assert_eq!(opened_by("/alerts/12"), Some(12));
        assert_eq!(opened_by("/alerts/new"), None);
        assert_eq!(opened_by("/alerts/12/ack"), None);
        assert_eq!(opened_by("/alerts"), None);
        assert_eq!(opened_by("/reports/12"), None);
    }
}
