//! What may be shown of a URL: everything but the credentials it may carry.
//!
//! A URL can hold a secret in its user information (`user:password@`), in its query
//! (`?token=...`) or in its fragment. Output, logs and the audit trail show URLs through
//! [`mask_url`], which replaces those parts with `***`, and free text that may quote URLs (an
//! error from a remote server) through [`mask_urls_in`].

/// What replaces a credential.
const MASK: &str = "***";

/// `text` with its user information, every query value and its fragment replaced by `***`.
///
/// It works on the text as written rather than on a parsed URL, so that a string that does not
/// parse (or that a parser would read differently) is masked too; where the shape is unclear it
/// masks more, never less.
pub fn mask_url(text: &str) -> String {
    let (rest, fragment) = match text.split_once('#') {
        Some((rest, f)) => (rest, Some(f)),
        None => (text, None),
    };
    let (rest, query) = match rest.split_once('?') {
        Some((rest, q)) => (rest, Some(q)),
        None => (rest, None),
    };
    let (scheme, after) = match rest.split_once("://") {
        Some((scheme, after)) => (Some(scheme), after),
        None => (None, rest),
    };
    // The authority ends at the path. WHATWG parsers also end it at a backslash in http URLs,
    // but other schemes do not, so a backslash does not end it here: that masks more.
    let end = after.find('/').unwrap_or(after.len());
    let (authority, path) = after.split_at(end);
    let mut out = String::with_capacity(text.len());
    if let Some(scheme) = scheme {
        out.push_str(scheme);
        out.push_str("://");
    }
    match authority.rfind('@') {
        Some(at) => {
            out.push_str(MASK);
            out.push_str(&authority[at..]);
        }
        None => out.push_str(authority),
    }
    out.push_str(path);
    if let Some(query) = query {
        out.push('?');
        let pairs: Vec<String> = query
            .split('&')
            .map(|pair| match pair.split_once('=') {
                Some((key, "")) => format!("{key}="),
                Some((key, _)) => format!("{key}={MASK}"),
                None if pair.is_empty() => String::new(),
                None => MASK.to_owned(),
            })
            .collect();
        out.push_str(&pairs.join("&"));
    }
    if let Some(fragment) = fragment {
        out.push('#');
        if !fragment.is_empty() {
            out.push_str(MASK);
        }
    }
    out
}

/// `text` with every URL in it (`scheme://` up to a space, a quote, a bracket or a closing
/// parenthesis) passed through [`mask_url`].
pub fn mask_urls_in(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(sep) = rest.find("://") {
        let scheme = rest[..sep]
            .rfind(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.')))
            .map_or(0, |i| {
                i + rest[i..].chars().next().map_or(1, char::len_utf8)
            });
        let end = rest[sep..]
            .find(|c: char| c.is_whitespace() || matches!(c, ')' | '"' | '\'' | '<' | '>' | ']'))
            .map_or(rest.len(), |i| sep + i);
        out.push_str(&rest[..scheme]);
        out.push_str(&mask_url(&rest[scheme..end]));
        rest = &rest[end..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn credentials_are_masked() {
        for (url, shown) in [
            (
                "https://partner.example/taxii2/ciphub/",
                "https://partner.example/taxii2/ciphub/",
            ),
            (
                "https://user:hunter2@partner.example:8443/taxii2/",
                "https://***@partner.example:8443/taxii2/",
            ),
            ("http://user@h/x", "http://***@h/x"),
            ("http://a@b:c@h", "http://***@h"),
            (
                "https://h/taxii2/?token=s3cret&limit=5",
                "https://h/taxii2/?token=***&limit=***",
            ),
            ("https://h/x?s3cret", "https://h/x?***"),
            ("https://h/x?a=&&b=1", "https://h/x?a=&&b=***"),
            ("https://h/x#access_token=s3cret", "https://h/x#***"),
            ("https://h/x?#", "https://h/x?#"),
            ("https://u:p@h/x?token=t#f", "https://***@h/x?token=***#***"),
            ("u:p@h/x", "***@h/x"),
            ("http://h\\u:p@x", "http://***@x"),
        ] {
            assert_eq!(mask_url(url), shown, "{url}");
        }
    }

    #[test]
    fn urls_in_text_are_masked() {
        assert_eq!(
            mask_urls_in(
                "GET failed: error sending request for url (https://h/taxii2/collections/c/objects/?token=s3cret&limit=5)"
            ),
            "GET failed: error sending request for url (https://h/taxii2/collections/c/objects/?token=***&limit=***)"
        );
        assert_eq!(
            mask_urls_in("from http://u:p@a/x and \"https://b/y?k=v\" done"),
            "from http://***@a/x and \"https://b/y?k=***\" done"
        );
        assert_eq!(mask_urls_in("no URL here"), "no URL here");
        assert_eq!(mask_urls_in("://odd"), "://odd");
    }

    proptest! {
        #[test]
        fn no_secret_survives(user in "[a-z]{1,8}", secret in "[A-Z0-9]{6,20}",
                              host in "[a-z]{1,10}\\.example", key in "[a-z_]{1,8}") {
            for url in [
                format!("https://{user}:{secret}@{host}/taxii2/"),
                format!("https://{host}/taxii2/?{key}={secret}"),
                format!("https://{host}/taxii2/?{secret}"),
                format!("https://{host}/taxii2/#{secret}"),
                format!("http://{user}:{secret}@{host}:8080/p?{key}={secret}#{secret}"),
            ] {
                let shown = mask_url(&url);
                prop_assert!(!shown.contains(&secret), "{} shown as {}", url, shown);
                prop_assert!(shown.contains(&host), "{} shown as {}", url, shown);
            }
        }
    }
}
