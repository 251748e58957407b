//! Markdown from users, rendered to HTML that is safe to show: CommonMark by pulldown-cmark,
//! then every tag, attribute and URL scheme not on ammonia's allow-list removed. Images load
//! only from this site: an image elsewhere would tell its owner who read the alert, and when.

use pulldown_cmark::{Options, Parser, html};

/// Renders `markdown` to sanitized HTML.
pub fn render(markdown: &str) -> String {
    let parser = Parser::new_ext(
        markdown,
        Options::ENABLE_TABLES | Options::ENABLE_STRIKETHROUGH,
    );
    let mut raw = String::with_capacity(markdown.len() * 3 / 2);
    html::push_html(&mut raw, parser);
    ammonia::Builder::default()
        .link_rel(Some("noopener noreferrer nofollow"))
        .rm_tag_attributes("img", &["srcset"])
        .attribute_filter(|element, attribute, value| {
            if element == "img" && attribute == "src" && !same_site_path(value) {
                None
            } else {
                Some(value.into())
            }
        })
        .clean(&raw)
        .to_string()
}

/// Whether `url` is a path on this site (`/alerts/7/attachments/0`), not an address
/// elsewhere (`https://…`, `//host/…`, `/\host/…`, which browsers read as `//host/…`).
pub fn same_site_path(url: &str) -> bool {
    url.starts_with('/')
        && !url.starts_with("//")
        && !url.contains('\\')
        && !url.chars().any(char::is_control)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markdown_becomes_html_without_scripts() {
        let html = render(
            "Block **these**:\n\n- `192.0.2.1`\n\n<script>alert(1)</script>\n\n[x](javascript:alert(1)) <img src=x onerror=alert(1)>",
        );
        assert!(html.contains("<strong>these</strong>"), "{html}");
        assert!(html.contains("<code>192.0.2.1</code>"), "{html}");
        assert!(!html.contains("<script"), "{html}");
        assert!(!html.contains("javascript:"), "{html}");
        assert!(!html.contains("onerror"), "{html}");
    }

    #[test]
    fn images_load_only_from_this_site() {
        for md in [
            "![t](https://tracker.example/pixel.png)",
            "![t](//tracker.example/p.png)",
            "<img src=\"http://tracker.example/p.png\">",
            "<img src=\"/ok.png\" srcset=\"https://tracker.example/p.png 2x\">",
        ] {
            let html = render(md);
            assert!(!html.contains("tracker.example"), "{md} -> {html}");
        }
        // Markdown escapes a backslash into the path, where it names nothing elsewhere.
        let html = render("![t](/\\tracker.example/p.png)");
        assert!(html.contains("src=\"/%5Ctracker.example/p.png\""), "{html}");
        let html = render("![chart](/alerts/7/attachments/0)");
        assert!(html.contains("src=\"/alerts/7/attachments/0\""), "{html}");
        assert!(!same_site_path("/\\evil.example"));
        assert!(same_site_path("/dashboard?x=1"));
    }
}
