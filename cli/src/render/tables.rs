//! A small document builder over comfy-table: the same calls give an aligned terminal table or a
//! Markdown table, so the two formats cannot drift apart.

use comfy_table::{ContentArrangement, Table, presets};

use crate::args::Format;

pub(crate) struct Doc {
    format: Format,
    out: String,
}

impl Doc {
    pub(crate) fn new(format: Format) -> Self {
        Self {
            format,
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
        table.set_header(headers.iter().copied());
        for row in rows {
            let row = if self.format == Format::Markdown {
                row.into_iter()
                    .map(|cell| cell.replace('|', "\\|"))
                    .collect()
            } else {
                row
            };
            table.add_row(row);
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
