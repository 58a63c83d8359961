//! One self-contained HTML page: inline CSS and SVG, no script, nothing fetched — it opens
//! offline, from a file, in any browser, and can be mailed as one file.

use std::fmt::Write as _;
use std::path::Path;

use crate::error::{ReportError, Result};
use crate::table::{numeric, Table};

/// A figure: an inline SVG document and its caption.
#[derive(Debug, Clone)]
pub struct Figure {
    /// One sentence saying what is plotted (units in the axes).
    pub caption: String,
    /// The SVG document (`<svg …>…</svg>`, with a `viewBox` so it scales).
    pub svg: String,
}

/// One part of a section, in order.
#[derive(Debug, Clone)]
enum Block {
    Text(String),
    Table(Table),
    Figure(Figure),
    Command(String),
    Json(String, String),
}

/// A titled section of the page.
#[derive(Debug, Clone, Default)]
pub struct Section {
    title: String,
    blocks: Vec<Block>,
}

impl Section {
    /// A paragraph of plain text.
    pub fn text(&mut self, text: impl Into<String>) -> &mut Self {
        self.blocks.push(Block::Text(text.into()));
        self
    }

    /// A table.
    pub fn table(&mut self, table: Table) -> &mut Self {
        self.blocks.push(Block::Table(table));
        self
    }

    /// A figure.
    pub fn figure(&mut self, figure: Figure) -> &mut Self {
        self.blocks.push(Block::Figure(figure));
        self
    }

    /// The command that reproduces this section's numbers.
    pub fn command(&mut self, command: impl Into<String>) -> &mut Self {
        self.blocks.push(Block::Command(command.into()));
        self
    }

    /// A serialisable value (a plan, a result) shown as pretty JSON, folded.
    pub fn json<T: serde::Serialize>(&mut self, label: &str, value: &T) -> Result<&mut Self> {
        let text = serde_json::to_string_pretty(value)?;
        self.blocks.push(Block::Json(label.to_string(), text));
        Ok(self)
    }
}

/// The page: a title, the run's settings, sections.
#[derive(Debug, Clone, Default)]
pub struct Page {
    title: String,
    settings: Vec<(String, String)>,
    sections: Vec<Section>,
}

impl Page {
    /// An empty page titled `title`.
    pub fn new(title: impl Into<String>) -> Page {
        Page { title: title.into(), ..Page::default() }
    }

    /// One of the run's settings (shown at the top).
    pub fn setting(&mut self, name: impl Into<String>, value: impl Into<String>) -> &mut Self {
        self.settings.push((name.into(), value.into()));
        self
    }

    /// Appends a section titled `title` and returns it to fill.
    pub fn section(&mut self, title: impl Into<String>) -> &mut Section {
        self.sections.push(Section { title: title.into(), blocks: vec![] });
        let last = self.sections.len() - 1;
        &mut self.sections[last]
    }

    /// Number of figures on the page.
    pub fn figures(&self) -> usize {
        let figures = self.sections.iter().flat_map(|s| &s.blocks);
        figures.filter(|b| matches!(b, Block::Figure(_))).count()
    }

    /// The page as one HTML document.
    pub fn render(&self) -> String {
        let mut h = String::with_capacity(1 << 16);
        let title = escape(&self.title);
        let _ = write!(
            h,
            "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
             <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
             <title>{title}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n<h1>{title}</h1>\n"
        );
        if !self.settings.is_empty() {
            h.push_str("<table class=\"settings\">\n");
            for (k, v) in &self.settings {
                let _ = writeln!(h, "<tr><th>{}</th><td>{}</td></tr>", escape(k), escape(v));
            }
            h.push_str("</table>\n");
        }
        if self.sections.len() > 1 {
            h.push_str("<nav><ol>\n");
            for (i, s) in self.sections.iter().enumerate() {
                let _ = writeln!(h, "<li><a href=\"#s{i}\">{}</a></li>", escape(&s.title));
            }
            h.push_str("</ol></nav>\n");
        }
        for (i, s) in self.sections.iter().enumerate() {
            let _ = writeln!(h, "<section id=\"s{i}\">\n<h2>{}</h2>", escape(&s.title));
            for b in &s.blocks {
                render_block(&mut h, b);
            }
            h.push_str("</section>\n");
        }
        h.push_str("</body>\n</html>\n");
        h
    }

    /// Writes [`Page::render`] to `path`, creating its folder.
    pub fn write(&self, path: &Path) -> Result<()> {
        let io = |source| ReportError::Io { path: path.to_path_buf(), source };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(io)?;
        }
        std::fs::write(path, self.render()).map_err(io)
    }
}

fn render_block(h: &mut String, b: &Block) {
    match b {
        Block::Text(t) => {
            let _ = writeln!(h, "<p>{}</p>", escape(t));
        }
        Block::Table(t) => {
            // The title as a paragraph, not a <caption>: a caption wraps at a narrow table's width.
            let _ = writeln!(h, "<p class=\"tcap\">{}</p>\n<table>\n<thead><tr>", escape(&t.title));
            for c in &t.header {
                let _ = write!(h, "<th>{}</th>", escape(c));
            }
            h.push_str("</tr></thead>\n<tbody>\n");
            for row in &t.rows {
                h.push_str("<tr>");
                for c in row {
                    let class = if numeric(c) { " class=\"num\"" } else { "" };
                    let _ = write!(h, "<td{class}>{}</td>", escape(c));
                }
                h.push_str("</tr>\n");
            }
            h.push_str("</tbody>\n</table>\n");
        }
        Block::Figure(f) => {
            // The SVG is plotters' own output: markup, inserted as is.
            let _ = writeln!(
                h,
                "<figure>\n{}\n<figcaption>{}</figcaption>\n</figure>",
                f.svg.trim(),
                escape(&f.caption)
            );
        }
        Block::Command(c) => {
            let _ = writeln!(h, "<p class=\"cmd\">Reproduce: <code>{}</code></p>", escape(c));
        }
        Block::Json(label, text) => {
            let _ = writeln!(
                h,
                "<details><summary>{}</summary><pre>{}</pre></details>",
                escape(label),
                escape(text)
            );
        }
    }
}

/// HTML-escapes text (the five characters HTML reserves). By hand: a five-arm match is
/// smaller than any dependency.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

const STYLE: &str = "
body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;max-width:1000px;margin:2em auto;
padding:0 1em;color:#222;line-height:1.45}
h1{font-size:1.6em;margin-bottom:.3em}h2{font-size:1.25em;border-bottom:1px solid #ccc;
padding-bottom:.2em;margin-top:2em}
table{border-collapse:collapse;margin:0 0 1em;font-size:.88em}
.tcap{font-weight:600;margin:1.2em 0 .3em}
th,td{border-bottom:1px solid #ddd;padding:.25em .6em;text-align:left;vertical-align:top}
thead th{border-bottom:2px solid #888}td.num{text-align:right;font-variant-numeric:tabular-nums}
table.settings th{font-weight:600;color:#555}
figure{margin:1.2em 0}figure svg{max-width:100%;height:auto;display:block}
figcaption{font-size:.9em;color:#444;margin-top:.3em}
p.cmd{font-size:.85em;color:#555}code,pre{font-family:ui-monospace,monospace;font-size:.9em}
pre{background:#f6f6f6;padding:.6em;overflow-x:auto}nav ol{columns:2}
";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_escaped_and_the_page_fetches_nothing() {
        let mut page = Page::new("a <b> & \"c\"");
        page.setting("model", "x.onnx");
        page.section("one")
            .text("1 < 2")
            .table(Table::new("t", &["k", "ms"], vec![vec!["<a>".into(), "3.5".into()]]))
            .figure(Figure { caption: "f".into(), svg: "<svg viewBox=\"0 0 1 1\"></svg>".into() })
            .command("coinfer demo --out 'r'");
        let html = page.render();
        assert!(html.contains("<title>a &lt;b&gt; &amp; &quot;c&quot;</title>"));
        assert!(html.contains("<td>&lt;a&gt;</td><td class=\"num\">3.5</td>"), "{html}");
        assert!(html.contains("coinfer demo --out &#39;r&#39;"));
        assert_eq!(page.figures(), 1);
        for fetch in ["src=", "href=\"http", "<script", "<link", "url("] {
            assert!(!html.contains(fetch), "{fetch} in {html}");
        }
    }
}
