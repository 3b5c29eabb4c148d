//! A small document builder over comfy-table: the same calls give an aligned terminal table or a
//! Markdown table, so the two formats cannot drift apart. Terminal tables fit the terminal's
//! width (comfy-table asks the terminal) and colour severities, only when stdout is a terminal
//! and `NO_COLOR` is unset: piped output is plain text.

use std::io::IsTerminal;

use comfy_table::{Attribute, Cell, Color, ContentArrangement, Table, presets};

use crate::args::Format;

/// Whether terminal output may use colour: stdout is a terminal and `NO_COLOR` is unset or empty
/// (<https://no-color.org>).
pub(crate) fn colour_wanted() -> bool {
    std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

fn severity_colour(text: &str) -> Option<Color> {
    match text {
        "critical" => Some(Color::Magenta),
        "high" => Some(Color::Red),
        "medium" => Some(Color::Yellow),
        "low" => Some(Color::Cyan),
        _ => None,
    }
}

pub(crate) struct Doc {
    format: Format,
    colour: bool,
    out: String,
}

impl Doc {
    pub(crate) fn new(format: Format) -> Self {
        Self {
            format,
            colour: format == Format::Table && colour_wanted(),
            out: String::new(),
        }
    }

    pub(crate) fn heading(&mut self, text: &str) {
        match self.format {
            Format::Markdown => self.out.push_str(&format!("## {text}\n\n")),
            _ => self.out.push_str(&format!("{text}\n")),
        }
    }

    pub(crate) fn line(&mut self, text: &str) {
        self.out.push_str(text);
        // Markdown needs a blank line to end a paragraph line.
        self.out.push_str(if self.format == Format::Markdown {
            "\n\n"
        } else {
            "\n"
        });
    }

    pub(crate) fn blank(&mut self) {
        if self.format != Format::Markdown {
            self.out.push('\n');
        }
    }

    pub(crate) fn table<R>(&mut self, headers: &[&str], rows: R)
    where
        R: IntoIterator<Item = Vec<String>>,
    {
        self.table_with_severity(headers, rows, None);
    }

    /// A table whose column `severity` (if any) holds severity names, coloured on a terminal.
    pub(crate) fn table_with_severity<R>(
        &mut self,
        headers: &[&str],
        rows: R,
        severity: Option<usize>,
    ) where
        R: IntoIterator<Item = Vec<String>>,
    {
        let mut table = Table::new();
        match self.format {
            Format::Markdown => {
                table.load_preset(presets::ASCII_MARKDOWN);
            }
            _ => {
                table.load_preset(presets::UTF8_BORDERS_ONLY);
                table.set_content_arrangement(ContentArrangement::Dynamic);
            }
        }
        if self.colour {
            // comfy-table styles only on a terminal; we decided that already (and NO_COLOR).
            table.enforce_styling();
            table.set_header(
                headers
                    .iter()
                    .map(|h| Cell::new(h).add_attribute(Attribute::Bold)),
            );
        } else {
            // No styled cells: nothing is coloured, while the width still follows the terminal.
            table.set_header(headers.iter().copied());
        }
        for row in rows {
            let cells: Vec<Cell> = row
                .into_iter()
                .enumerate()
                .map(|(i, text)| {
                    if self.format == Format::Markdown {
                        return Cell::new(text.replace('|', "\\|"));
                    }
                    let colour = (self.colour && Some(i) == severity)
                        .then(|| severity_colour(&text))
                        .flatten();
                    match colour {
                        Some(c) => Cell::new(text).fg(c).add_attribute(Attribute::Bold),
                        None => Cell::new(text),
                    }
                })
                .collect();
            table.add_row(cells);
        }
        self.out.push_str(&table.to_string());
        self.out.push('\n');
        if self.format == Format::Markdown {
            self.out.push('\n');
        }
    }

    pub(crate) fn finish(self) -> String {
        self.out
    }
}
