//! The picker: choosing several among named things (sectors, CEPTOARs, organizations, roles)
//! as ticked boxes that show names in the page's language and send ids. A short list shows
//! every option; a long one (the 4,000 organizations) shows those chosen and those a search
//! found, the search being a submit button the server answers (so it works without script,
//! and a phone loads no list of thousands). The template is `templates/web/picker.html`,
//! rendered by `Picker::html` where a page wants it.

use askama::Template;
use ciphub_domain::registry::OrgKind;
use ciphub_store::{OrgFilter, OrgOrder, OrgRecord};

use super::Ctx;
use crate::AppState;

/// The order of organizations by name in the page's language (`ja` or `en`).
pub fn name_order(lang: &str) -> OrgOrder {
    if lang == "ja" {
        OrgOrder::NameJa
    } else {
        OrgOrder::NameEn
    }
}

/// Every CEPTOAR, by name in `lang`, for the pickers that offer them (a failure offers none).
pub async fn ceptoars(state: &AppState, lang: &str) -> Vec<OrgRecord> {
    let filter = OrgFilter {
        kind: Some(OrgKind::Ceptoar),
        ..OrgFilter::default()
    };
    state
        .store
        .organizations_page(&filter, None, (name_order(lang), false), 0, 500)
        .await
        .map(|(rows, _)| rows)
        .unwrap_or_default()
}

/// One option: the id sent, the name shown, a hint beside it (an organization's sectors).
#[derive(Clone, Debug)]
pub struct PickOption {
    pub value: String,
    pub label: String,
    pub hint: String,
    pub checked: bool,
}

/// A group of boxes sharing one field name.
#[derive(Clone, Debug)]
pub struct Picker {
    /// The group's HTML id; each box's id is `{id}-{value}`.
    pub id: String,
    /// The field every box sends its value as.
    pub name: String,
    pub legend: String,
    pub options: Vec<PickOption>,
    /// A long list's search: the search field's name, what was typed, and the button's value
    /// for the form's `action` field. `None` for a short list.
    pub search: Option<Search>,
    /// Shown only while the form's kind select holds this value (the composer's audience);
    /// without script every group shows.
    pub for_kind: Option<String>,
    /// What the search found, when it found nothing.
    pub nothing_found: Option<String>,
}

#[derive(Clone, Debug)]
pub struct Search {
    pub field: String,
    pub text: String,
    pub action: String,
}

impl Picker {
    /// A short list: every option, `chosen` ticked.
    pub fn short(
        id: &str,
        name: &str,
        legend: String,
        options: impl IntoIterator<Item = (String, String)>,
        chosen: &[String],
    ) -> Self {
        Self {
            id: id.to_owned(),
            name: name.to_owned(),
            legend,
            options: options
                .into_iter()
                .map(|(value, label)| PickOption {
                    checked: chosen.contains(&value),
                    value,
                    label,
                    hint: String::new(),
                })
                .collect(),
            search: None,
            for_kind: None,
            nothing_found: None,
        }
    }

    /// Shown only while the form's kind is `kind`.
    pub fn for_kind(mut self, kind: &str) -> Self {
        self.for_kind = Some(kind.to_owned());
        self
    }

    /// The box's HTML id for `value` (ids are slugs: letters, digits and dashes).
    pub fn box_id(&self, value: &str) -> String {
        format!("{}-{value}", self.id)
    }

    pub fn html(&self, ctx: &Ctx) -> String {
        PickerHtml { ctx, p: self }
            .render()
            .unwrap_or_else(|e| format!("<p class=\"error\">picker: {e}</p>"))
    }
}

#[derive(Template)]
#[template(path = "web/picker.html")]
struct PickerHtml<'a> {
    ctx: &'a Ctx,
    p: &'a Picker,
}
