//! # coinfer-report
//!
//! Results for people, from the pipeline's typed results: [`plot`] draws SVG figures,
//! [`table`] makes tables that print as text and render as HTML, [`html`] assembles one
//! self-contained page (inline SVG and CSS, no script, nothing fetched). [`demo`] and
//! [`plan`] turn `coinfer demo`'s and `coinfer plan`'s results into tables, figures and
//! pages; the CLI prints the same tables the page shows.

pub mod demo;
mod error;
pub mod html;
pub mod plan;
pub mod plot;
pub mod seeds;
pub mod table;

pub use error::{ReportError, Result};
pub use html::{Figure, Page, Section};
pub use plot::{svg_string, write_svg, PanelSpec, Series};
pub use table::{text_table, Table};

/// A number with an SI suffix (k, M, G): `1234` → `1.2k`.
pub fn si(v: f64) -> String {
    let a = v.abs();
    if a >= 1e9 {
        format!("{:.2}G", v / 1e9)
    } else if a >= 1e6 {
        format!("{:.2}M", v / 1e6)
    } else if a >= 1e3 {
        format!("{:.1}k", v / 1e3)
    } else {
        format!("{v:.0}")
    }
}

/// A byte count in B/kB/MB (decimal), as [`si`] + `B`.
pub fn bytes(v: u64) -> String {
    si(v as f64) + "B"
}
