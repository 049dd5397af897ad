//! The per-line label state of a pipeline, with Loki's `LabelsBuilder`
//! rules:
//! - labels come from three categories with precedence parsed > structured
//!   metadata > stream: setting a parsed label hides a stream label of the
//!   same name;
//! - parsers and structured metadata rename a label that collides with a
//!   *stream* label to `<name>_extracted`;
//! - `__error__` and `__error_details__` are kept apart and appended last.

use model::{Label, Labels};

pub(crate) const ERROR_LABEL: &str = "__error__";
pub(crate) const ERROR_DETAILS_LABEL: &str = "__error_details__";
pub(crate) const PRESERVE_ERROR_LABEL: &str = "__preserve_error__";
pub(crate) const DUPLICATE_SUFFIX: &str = "_extracted";

pub(crate) const JSON_PARSER_ERROR: &str = "JSONParserErr";
pub(crate) const LOGFMT_PARSER_ERROR: &str = "LogfmtParserErr";
pub(crate) const LABEL_FILTER_ERROR: &str = "LabelFilterErr";
pub(crate) const TEMPLATE_FORMAT_ERROR: &str = "TemplateFormatErr";
pub(crate) const SAMPLE_EXTRACTION_ERROR: &str = "SampleExtractionErr";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum LabelCategory {
    Stream,
    StructuredMetadata,
    Parsed,
}

#[derive(Clone, Debug)]
struct AddedLabel {
    name: String,
    value: String,
    category: LabelCategory,
}

/// How extracted samples are grouped (Loki's `GroupedLabels`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum SeriesGrouping {
    /// Every label.
    All,
    /// No label at all (`by ()`, `absent_over_time`).
    Nothing,
    /// Only these (sorted) labels.
    By(Vec<String>),
    /// Every label but these.
    Without(Vec<String>),
}

pub(crate) struct LabelsBuilder<'s> {
    stream: &'s Labels,
    added: Vec<AddedLabel>,
    deleted: Vec<String>,
    error: String,
    error_details: String,
}

impl<'s> LabelsBuilder<'s> {
    pub(crate) fn new(stream: &'s Labels) -> LabelsBuilder<'s> {
        LabelsBuilder {
            stream,
            added: Vec::new(),
            deleted: Vec::new(),
            error: String::new(),
            error_details: String::new(),
        }
    }

    /// Whether the original stream labels have `name` (even if since deleted).
    pub(crate) fn stream_has(&self, name: &str) -> bool {
        self.stream.get(name).is_some()
    }

    /// `name`, or `name_extracted` when it collides with a stream label.
    pub(crate) fn non_colliding_name(&self, name: &str) -> String {
        if self.stream_has(name) {
            format!("{name}{DUPLICATE_SUFFIX}")
        } else {
            name.to_owned()
        }
    }

    fn added_index(&self, name: &str) -> Option<usize> {
        self.added.iter().position(|label| label.name == name)
    }

    pub(crate) fn get_with_category(&self, name: &str) -> Option<(&str, LabelCategory)> {
        if let Some(index) = self.added_index(name) {
            let label = &self.added[index];
            return Some((label.value.as_str(), label.category));
        }
        if self.deleted.iter().any(|deleted| deleted == name) {
            return None;
        }
        self.stream
            .get(name)
            .map(|value| (value, LabelCategory::Stream))
    }

    pub(crate) fn get(&self, name: &str) -> Option<&str> {
        self.get_with_category(name).map(|(value, _)| value)
    }

    /// The value a label filter sees: `__error__` reads the error state
    /// (`__error_details__` is not a label to filters, as in Loki).
    pub(crate) fn value_for_filter(&self, name: &str) -> Option<&str> {
        match name {
            ERROR_LABEL => Some(self.error.as_str()).filter(|e| !e.is_empty()),
            _ => self.get(name),
        }
    }

    /// The value a template sees: both error labels are visible.
    pub(crate) fn value_for_template(&self, name: &str) -> Option<&str> {
        match name {
            ERROR_DETAILS_LABEL => Some(self.error_details.as_str()).filter(|e| !e.is_empty()),
            _ => self.value_for_filter(name),
        }
    }

    /// Loki's `Set`: parsed beats structured metadata beats stream.
    pub(crate) fn set(&mut self, category: LabelCategory, name: &str, value: &str) {
        match category {
            LabelCategory::Parsed => {
                self.added
                    .retain(|l| l.name != name || l.category == LabelCategory::Parsed);
            }
            LabelCategory::StructuredMetadata => {
                self.added
                    .retain(|l| l.name != name || l.category != LabelCategory::Stream);
                if self
                    .added
                    .iter()
                    .any(|l| l.name == name && l.category == LabelCategory::Parsed)
                {
                    return;
                }
            }
            LabelCategory::Stream => {
                if self
                    .added
                    .iter()
                    .any(|l| l.name == name && l.category != LabelCategory::Stream)
                {
                    return;
                }
            }
        }
        match self.added_index(name) {
            Some(index) => {
                let label = &mut self.added[index];
                label.value.clear();
                label.value.push_str(value);
            }
            None => self.added.push(AddedLabel {
                name: name.to_owned(),
                value: value.to_owned(),
                category,
            }),
        }
    }

    /// Loki's `Add`: like `set`, but renames stream collisions to
    /// `name_extracted` and routes error labels to the error state.
    pub(crate) fn add(&mut self, category: LabelCategory, name: &str, value: &str) {
        let name = self.non_colliding_name(name);
        match name.as_str() {
            ERROR_LABEL => self.set_error(value),
            ERROR_DETAILS_LABEL => self.set_error_details(value),
            _ => self.set(category, &name, value),
        }
    }

    pub(crate) fn delete(&mut self, name: &str) {
        self.added.retain(|l| l.name != name);
        if !self.deleted.iter().any(|d| d == name) {
            self.deleted.push(name.to_owned());
        }
    }

    pub(crate) fn has_error(&self) -> bool {
        !self.error.is_empty()
    }

    pub(crate) fn error(&self) -> &str {
        &self.error
    }

    pub(crate) fn error_details(&self) -> &str {
        &self.error_details
    }

    pub(crate) fn set_error(&mut self, error: &str) {
        self.error.clear();
        self.error.push_str(error);
    }

    pub(crate) fn set_error_details(&mut self, details: &str) {
        self.error_details.clear();
        self.error_details.push_str(details);
    }

    /// Sets `__error__` and its details (Loki's `addErrLabel`).
    pub(crate) fn set_error_with_details(&mut self, error: &str, details: Option<&str>) {
        self.set_error(error);
        if let Some(details) = details {
            self.set_error_details(details);
        }
    }

    pub(crate) fn reset_error(&mut self) {
        self.error.clear();
    }

    pub(crate) fn reset_error_details(&mut self) {
        self.error_details.clear();
    }

    /// Calls `visit` for every current label, unsorted, error labels last.
    pub(crate) fn for_each_label(&self, mut visit: impl FnMut(&str, &str)) {
        let mut emitted_from_stream: Vec<&str> = Vec::new();
        for label in self.stream.iter() {
            if self.deleted.contains(&label.name) {
                continue;
            }
            match self.added.iter().find(|a| a.name == label.name) {
                Some(added) if added.category != LabelCategory::Stream => continue,
                Some(added) => visit(&label.name, &added.value),
                None => visit(&label.name, &label.value),
            }
            emitted_from_stream.push(&label.name);
        }
        let error_set = self.has_error();
        let details_set = !self.error_details.is_empty();
        for category in [
            LabelCategory::StructuredMetadata,
            LabelCategory::Parsed,
            LabelCategory::Stream,
        ] {
            for added in self.added.iter().filter(|a| a.category == category) {
                if category == LabelCategory::Stream
                    && emitted_from_stream.contains(&added.name.as_str())
                {
                    continue;
                }
                if (added.name == ERROR_LABEL && error_set)
                    || (added.name == ERROR_DETAILS_LABEL && details_set)
                {
                    continue;
                }
                visit(&added.name, &added.value);
            }
        }
        if error_set {
            visit(ERROR_LABEL, &self.error);
        }
        if details_set {
            visit(ERROR_DETAILS_LABEL, &self.error_details);
        }
    }

    /// Whether nothing changed the stream labels.
    fn unchanged(&self) -> bool {
        self.added.is_empty()
            && self.deleted.is_empty()
            && self.error.is_empty()
            && self.error_details.is_empty()
    }

    /// The final, sorted label set.
    pub(crate) fn labels(&self) -> Labels {
        if self.unchanged() {
            return self.stream.clone();
        }
        let mut labels = Vec::with_capacity(self.stream.len() + self.added.len() + 2);
        self.for_each_label(|name, value| labels.push(Label::new(name, value)));
        sorted_labels(labels)
    }

    /// The series labels of an extracted sample.
    pub(crate) fn grouped_labels(&self, grouping: &SeriesGrouping) -> Labels {
        if self.has_error() {
            // Grouping would lose the error: Loki returns every label.
            return self.labels();
        }
        match grouping {
            SeriesGrouping::All => self.labels(),
            SeriesGrouping::Nothing => Labels::from_sorted_unchecked(Vec::new()),
            SeriesGrouping::By(names) => {
                let labels = names
                    .iter()
                    .filter_map(|name| self.get(name).map(|value| Label::new(name.as_str(), value)))
                    .collect();
                sorted_labels(labels)
            }
            SeriesGrouping::Without(names) => {
                let mut labels = Vec::new();
                self.for_each_label(|name, value| {
                    if !names.iter().any(|n| n == name) {
                        labels.push(Label::new(name, value));
                    }
                });
                sorted_labels(labels)
            }
        }
    }
}

/// Sorts by name and keeps the first of any duplicates.
pub(crate) fn sorted_labels(mut labels: Vec<Label>) -> Labels {
    labels.sort_by(|a, b| a.name.cmp(&b.name));
    labels.dedup_by(|later, earlier| later.name == earlier.name);
    Labels::from_sorted_unchecked(labels)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stream() -> Labels {
        sorted_labels(vec![Label::new("app", "api"), Label::new("level", "info")])
    }

    fn render(labels: &Labels) -> String {
        labels.to_string()
    }

    #[test]
    fn parsed_labels_override_and_collisions_are_renamed_on_add() {
        let stream = stream();
        let mut builder = LabelsBuilder::new(&stream);
        builder.add(LabelCategory::StructuredMetadata, "app", "sm");
        builder.add(LabelCategory::StructuredMetadata, "trace_id", "t1");
        builder.set(LabelCategory::Parsed, "level", "error");
        assert_eq!(builder.get("level"), Some("error"));
        assert_eq!(
            render(&builder.labels()),
            r#"{app="api", app_extracted="sm", level="error", trace_id="t1"}"#
        );
    }

    #[test]
    fn errors_are_appended_and_deletions_hide_stream_labels() {
        let stream = stream();
        let mut builder = LabelsBuilder::new(&stream);
        builder.delete("level");
        assert_eq!(builder.get("level"), None);
        assert!(builder.stream_has("level"));
        builder.set_error_with_details(JSON_PARSER_ERROR, Some("bad"));
        assert_eq!(
            render(&builder.labels()),
            r#"{__error__="JSONParserErr", __error_details__="bad", app="api"}"#
        );
        assert_eq!(builder.value_for_filter(ERROR_LABEL), Some("JSONParserErr"));
        assert_eq!(builder.value_for_filter(ERROR_DETAILS_LABEL), None);
        assert_eq!(builder.value_for_template(ERROR_DETAILS_LABEL), Some("bad"));
    }

    #[test]
    fn grouping_modes() {
        let stream = stream();
        let mut builder = LabelsBuilder::new(&stream);
        builder.set(LabelCategory::Parsed, "latency", "5");
        assert_eq!(
            render(
                &builder.grouped_labels(&SeriesGrouping::By(vec!["app".into(), "missing".into()]))
            ),
            r#"{app="api"}"#
        );
        assert_eq!(
            render(&builder.grouped_labels(&SeriesGrouping::Without(vec!["latency".into()]))),
            r#"{app="api", level="info"}"#
        );
        assert!(builder.grouped_labels(&SeriesGrouping::Nothing).is_empty());
        builder.set_error(SAMPLE_EXTRACTION_ERROR);
        assert_eq!(
            render(&builder.grouped_labels(&SeriesGrouping::Nothing)),
            r#"{__error__="SampleExtractionErr", app="api", latency="5", level="info"}"#
        );
    }

    #[test]
    fn renamed_stream_labels_keep_their_value() {
        let stream = stream();
        let mut builder = LabelsBuilder::new(&stream);
        let (value, category) = builder
            .get_with_category("app")
            .map(|(v, c)| (v.to_owned(), c))
            .expect("app is a stream label");
        builder.set(category, "service", &value);
        builder.delete("app");
        assert_eq!(
            render(&builder.labels()),
            r#"{level="info", service="api"}"#
        );
    }
}
