//! Tables: one value type rendered as aligned text for the terminal and as HTML for the
//! report, so both show the same numbers.

use comfy_table::{presets::UTF8_BORDERS_ONLY, Cell, CellAlignment};

/// A titled table of preformatted cells (units in the header).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Table {
    /// What the table shows (a sentence).
    pub title: String,
    /// Column names, with units.
    pub header: Vec<String>,
    /// Rows of cells, each as long as `header`.
    pub rows: Vec<Vec<String>>,
}

impl Table {
    /// A table titled `title` with columns `header`.
    pub fn new(title: impl Into<String>, header: &[&str], rows: Vec<Vec<String>>) -> Table {
        Table { title: title.into(), header: header.iter().map(|h| h.to_string()).collect(), rows }
    }

    /// The title, then the table as aligned text.
    pub fn to_text(&self) -> String {
        let header: Vec<&str> = self.header.iter().map(String::as_str).collect();
        format!("{}\n{}", self.title, text_table(&header, self.rows.clone()))
    }
}

/// Whether a cell reads as a number (right-aligned).
pub(crate) fn numeric(cell: &str) -> bool {
    cell.chars().next().is_some_and(|ch| ch.is_ascii_digit() || ch == '-' || ch == '+')
}

/// A table with a header row as aligned text; numeric-looking cells are right-aligned.
pub fn text_table(header: &[&str], rows: Vec<Vec<String>>) -> String {
    let mut t = comfy_table::Table::new();
    t.load_preset(UTF8_BORDERS_ONLY);
    t.set_header(header.iter().map(Cell::new));
    for row in rows {
        t.add_row(row.into_iter().map(|c| {
            let right = numeric(&c);
            let cell = Cell::new(c);
            if right {
                cell.set_alignment(CellAlignment::Right)
            } else {
                cell
            }
        }));
    }
    t.to_string()
}
