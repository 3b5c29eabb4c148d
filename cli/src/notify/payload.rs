//! The message each platform receives, built to fit its limits: counts by severity, the top
//! findings (or, with `--only-changes`, the new and the resolved ones), "and N more" for the rest,
//! and a link to the HTML report when configured. Pure functions: the tests read the same JSON
//! that goes on the wire.
//!
//! Limits honoured (from each platform's documentation):
//! - Slack Block Kit: at most 50 blocks; a header's text 150 characters; a section's text 3,000.
//! - Microsoft Teams (workflow webhook): the whole payload at most 28 KB.
//! - Google Chat: a message's text at most 4,096 characters.
//! - Mattermost: a post at most 16,383 characters.
//! - The generic webhook has no limit: it carries every finding.

use envtrail_model::output::{NOTIFY_SCHEMA, NotifyMessage, NotifyMode};
use envtrail_model::{EnvName, Finding, Severity, Timestamp};
use serde::Serialize;
use serde_json::{Value, json};

use crate::config::notify::Platform;

const SLACK_MAX_BLOCKS: usize = 50;
const SLACK_SECTION_CHARS: usize = 3000;
const SLACK_HEADER_CHARS: usize = 150;
const TEAMS_MAX_BYTES: usize = 28_000;
const GOOGLE_CHAT_CHARS: usize = 4096;
const MATTERMOST_CHARS: usize = 16_383;
/// One finding's line is cut here, so that one long message cannot crowd out the others.
const LINE_CHARS: usize = 400;

/// What one message says.
#[derive(Debug, Clone, Serialize)]
pub struct Message<'a> {
    /// The target's name.
    pub target: &'a str,
    /// The report's instant.
    pub at: Timestamp,
    /// The promotion path, upstream first.
    pub path: &'a [EnvName],
    /// Every current finding, or only the changes since the last post.
    pub mode: NotifyMode,
    /// The findings that pass the target's filter, most severe first.
    pub current: Vec<&'a Finding>,
    /// New since the last post (`changes` mode).
    pub new: Vec<&'a Finding>,
    /// Gone since the last post (`changes` mode).
    pub resolved: Vec<&'a Finding>,
    /// How many findings to list.
    pub max_findings: usize,
    /// The HTML report's address.
    pub report_url: Option<&'a str>,
}

impl Message<'_> {
    fn counts(&self) -> Vec<(Severity, usize)> {
        Severity::ALL
            .iter()
            .rev()
            .map(|s| (*s, self.current.iter().filter(|f| f.severity == *s).count()))
            .filter(|(_, n)| *n > 0)
            .collect()
    }

    /// One line: the title.
    pub fn title(&self) -> String {
        let path = self
            .path
            .iter()
            .map(|e| e.as_str())
            .collect::<Vec<_>>()
            .join(" → ");
        if self.mode == NotifyMode::Changes {
            format!(
                "envtrail: {} new, {} resolved on {path}",
                self.new.len(),
                self.resolved.len()
            )
        } else {
            format!("envtrail: {} findings on {path}", self.current.len())
        }
    }

    fn counts_line(&self) -> String {
        let counts: Vec<String> = self
            .counts()
            .iter()
            .map(|(s, n)| format!("{n} {s}"))
            .collect();
        format!(
            "{} findings now{} · as of {}",
            self.current.len(),
            if counts.is_empty() {
                String::new()
            } else {
                format!(" ({})", counts.join(", "))
            },
            envtrail_model::time::format_time(&self.at)
        )
    }

    /// The lists to show, in order: (heading, findings).
    fn sections(&self) -> Vec<(&'static str, &[&Finding])> {
        if self.mode == NotifyMode::Changes {
            let mut out = Vec::new();
            if !self.new.is_empty() {
                out.push(("New", &self.new[..]));
            }
            if !self.resolved.is_empty() {
                out.push(("Resolved", &self.resolved[..]));
            }
            out
        } else if self.current.is_empty() {
            Vec::new()
        } else {
            vec![("Findings", &self.current[..])]
        }
    }

    fn listed_total(&self) -> usize {
        self.sections().iter().map(|(_, f)| f.len()).sum()
    }
}

fn cut(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let mut out: String = text.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// Slack and Google Chat treat `&`, `<` and `>` as markup: escape them in every value.
fn slack_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

fn finding_line(f: &Finding, escape: fn(&str) -> String, bold: &str) -> String {
    let component = f
        .component
        .as_ref()
        .map(|c| c.to_string())
        .unwrap_or_else(|| "-".into());
    let line = format!(
        "{sev} {b}{kind}{b} {component} in {env}: {msg}",
        sev = f.severity.as_str().to_uppercase(),
        b = bold,
        kind = f.kind,
        env = f.environment,
        msg = f.message,
    );
    escape(&cut(&line, LINE_CHARS))
}

/// The listed lines per section, keeping at most `max` findings in all; returns the sections and
/// how many findings were left out.
fn lines(
    msg: &Message<'_>,
    max: usize,
    escape: fn(&str) -> String,
    bold: &str,
) -> (Vec<(&'static str, Vec<String>)>, usize) {
    let mut budget = max;
    let mut out: Vec<(&'static str, Vec<String>)> = Vec::new();
    for (heading, findings) in msg.sections() {
        let take = findings.len().min(budget);
        budget -= take;
        out.push((
            heading,
            findings[..take]
                .iter()
                .map(|f| finding_line(f, escape, bold))
                .collect(),
        ));
    }
    let shown: usize = out.iter().map(|(_, l)| l.len()).sum();
    (out, msg.listed_total() - shown)
}

fn more_line(omitted: usize) -> Option<String> {
    (omitted > 0).then(|| format!("and {omitted} more"))
}

/// The JSON body for `platform`.
pub fn build(platform: Platform, msg: &Message<'_>) -> Value {
    match platform {
        Platform::Slack => slack(msg),
        Platform::Teams => teams(msg),
        Platform::GoogleChat => text_message(msg, GOOGLE_CHAT_CHARS, slack_escape, "*", |u| {
            format!("<{u}|Open the HTML report>")
        }),
        Platform::Mattermost => {
            let mut body = text_message(
                msg,
                MATTERMOST_CHARS,
                |s| s.to_owned(),
                "**",
                |u| format!("[Open the HTML report]({u})"),
            );
            body["username"] = json!("envtrail");
            body
        }
        Platform::Webhook => webhook(msg),
    }
}

fn slack(msg: &Message<'_>) -> Value {
    let mut max = msg.max_findings;
    loop {
        let (sections, omitted) = lines(msg, max, slack_escape, "*");
        let mut blocks = vec![
            json!({"type": "header", "text": {"type": "plain_text", "text": cut(&msg.title(), SLACK_HEADER_CHARS)}}),
            json!({"type": "section", "text": {"type": "mrkdwn", "text": slack_escape(&msg.counts_line())}}),
        ];
        for (heading, items) in &sections {
            blocks.push(json!({"type": "divider"}));
            // Pack lines into sections of at most 3,000 characters.
            let mut text = format!("*{heading}*");
            for line in items {
                if text.chars().count() + 3 + line.chars().count() > SLACK_SECTION_CHARS {
                    blocks
                        .push(json!({"type": "section", "text": {"type": "mrkdwn", "text": text}}));
                    text = String::new();
                }
                if !text.is_empty() {
                    text.push('\n');
                }
                text.push_str("• ");
                text.push_str(line);
            }
            blocks.push(json!({"type": "section", "text": {"type": "mrkdwn", "text": text}}));
        }
        if let Some(more) = more_line(omitted) {
            blocks.push(json!({"type": "context", "elements": [{"type": "mrkdwn", "text": more}]}));
        }
        if let Some(url) = msg.report_url {
            blocks.push(json!({"type": "section", "text": {"type": "mrkdwn",
                "text": format!("<{url}|Open the HTML report>")}}));
        }
        if blocks.len() <= SLACK_MAX_BLOCKS || max == 0 {
            return json!({"text": msg.title(), "blocks": blocks});
        }
        max -= 1;
    }
}

fn teams(msg: &Message<'_>) -> Value {
    let mut max = msg.max_findings;
    loop {
        let (sections, omitted) = lines(msg, max, |s| s.to_owned(), "**");
        let mut body = vec![
            json!({"type": "TextBlock", "text": msg.title(), "size": "Large", "weight": "Bolder", "wrap": true}),
            json!({"type": "TextBlock", "text": msg.counts_line(), "isSubtle": true, "wrap": true}),
        ];
        let facts: Vec<Value> = msg
            .counts()
            .iter()
            .map(|(s, n)| json!({"title": s.as_str(), "value": n.to_string()}))
            .collect();
        if !facts.is_empty() {
            body.push(json!({"type": "FactSet", "facts": facts}));
        }
        for (heading, items) in &sections {
            body.push(json!({"type": "TextBlock", "text": heading, "weight": "Bolder", "separator": true}));
            for line in items {
                body.push(json!({"type": "TextBlock", "text": format!("- {line}"), "wrap": true, "spacing": "Small"}));
            }
        }
        if let Some(more) = more_line(omitted) {
            body.push(json!({"type": "TextBlock", "text": more, "isSubtle": true}));
        }
        let mut card = json!({
            "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
            "type": "AdaptiveCard",
            "version": "1.4",
            "msteams": {"width": "Full"},
            "body": body,
        });
        if let Some(url) = msg.report_url {
            card["actions"] =
                json!([{"type": "Action.OpenUrl", "title": "Open the HTML report", "url": url}]);
        }
        let payload = json!({"type": "message", "attachments": [{
            "contentType": "application/vnd.microsoft.card.adaptive",
            "contentUrl": null,
            "content": card,
        }]});
        if serde_json::to_vec(&payload).map_or(0, |v| v.len()) <= TEAMS_MAX_BYTES || max == 0 {
            return payload;
        }
        max -= 1;
    }
}

fn text_message(
    msg: &Message<'_>,
    limit: usize,
    escape: fn(&str) -> String,
    bold: &str,
    link: fn(&str) -> String,
) -> Value {
    let mut max = msg.max_findings;
    loop {
        let (sections, omitted) = lines(msg, max, escape, bold);
        let mut text = format!(
            "{bold}{}{bold}\n{}",
            escape(&msg.title()),
            escape(&msg.counts_line())
        );
        for (heading, items) in &sections {
            text.push_str(&format!("\n\n{bold}{heading}{bold}"));
            for line in items {
                text.push_str("\n• ");
                text.push_str(line);
            }
        }
        if let Some(more) = more_line(omitted) {
            text.push_str(&format!("\n{more}"));
        }
        if let Some(url) = msg.report_url {
            text.push_str(&format!("\n{}", link(url)));
        }
        if text.chars().count() <= limit || max == 0 {
            return json!({"text": cut(&text, limit)});
        }
        max -= 1;
    }
}

fn webhook(msg: &Message<'_>) -> Value {
    let owned = |list: &[&Finding]| list.iter().map(|f| (*f).clone()).collect::<Vec<_>>();
    let body = NotifyMessage {
        schema: NOTIFY_SCHEMA.to_owned(),
        target: msg.target.to_owned(),
        title: msg.title(),
        at: msg.at,
        path: msg.path.to_vec(),
        mode: msg.mode,
        total: msg.current.len(),
        by_severity: msg.counts().into_iter().collect(),
        findings: owned(&msg.current),
        new: owned(&msg.new),
        resolved: owned(&msg.resolved),
        report_url: msg.report_url.map(str::to_owned),
    };
    serde_json::to_value(&body).unwrap_or(Value::Null)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_cut_with_an_ellipsis_and_markup_is_escaped() {
        assert_eq!(cut("abcdef", 4), "abc…");
        assert_eq!(cut("abc", 4), "abc");
        assert_eq!(
            slack_escape("<@here> & <x|y>"),
            "&lt;@here&gt; &amp; &lt;x|y&gt;"
        );
    }

    #[test]
    fn an_empty_report_still_makes_a_message_on_every_platform() {
        let path: Vec<EnvName> = vec!["dev".parse().unwrap(), "prod".parse().unwrap()];
        let msg = Message {
            target: "t",
            at: envtrail_model::parse_time("2026-11-01T00:00:00Z").unwrap(),
            path: &path,
            mode: NotifyMode::Full,
            current: vec![],
            new: vec![],
            resolved: vec![],
            max_findings: 10,
            report_url: None,
        };
        assert_eq!(msg.title(), "envtrail: 0 findings on dev → prod");
        for p in [
            Platform::Slack,
            Platform::Teams,
            Platform::GoogleChat,
            Platform::Mattermost,
            Platform::Webhook,
        ] {
            let body = build(p, &msg);
            assert!(body.is_object(), "{p:?}");
            assert!(
                !body.to_string().contains(" more"),
                "{p:?}: nothing omitted"
            );
        }
    }
}
