//! How long a run of layers takes on some hardware: from a roofline profile ([`Compute`]) or
//! from a table measured on the device itself ([`LayerTimes`]).

use std::ops::Range;

use crate::layers::{Compute, LayerTable};
use crate::profiles::HardwareProfile;

/// One side's hardware as the cost model sees it: a named roofline profile, or per-layer
/// times measured on the real device.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Hardware {
    /// A built-in (or user-written) profile.
    Profile(HardwareProfile),
    /// A measured per-layer table.
    Measured(LayerTimes),
}

impl Hardware {
    /// A built-in profile by name, or a per-layer table measured on the device (a `.json` or
    /// `.csv` file, see [`LayerTimes::parse`]); an unknown name lists the known ones.
    pub fn from_spec(spec: &str) -> Result<Hardware, LayerTimesError> {
        let path = std::path::Path::new(spec);
        if path.is_file() {
            let text = std::fs::read_to_string(path)
                .map_err(|e| LayerTimesError::Read { path: spec.into(), message: e.to_string() })?;
            return Ok(Hardware::Measured(LayerTimes::parse(&text, spec, 0.0)?));
        }
        crate::profiles::profile_by_name(spec).map(Hardware::Profile).ok_or_else(|| {
            let known: Vec<String> =
                crate::profiles::builtin_profiles().into_iter().map(|p| p.name).collect();
            LayerTimesError::Unknown { spec: spec.into(), known: known.join(", ") }
        })
    }

    /// The profile's or the table's name.
    pub fn name(&self) -> &str {
        match self {
            Hardware::Profile(p) => &p.name,
            Hardware::Measured(t) => &t.name,
        }
    }
}

impl LayerCost for Hardware {
    fn run_s(&self, table: &LayerTable, range: Range<usize>) -> f64 {
        match self {
            Hardware::Profile(p) => Compute::from(p).run_s(table, range),
            Hardware::Measured(t) => t.run_s(table, range),
        }
    }

    fn power_w(&self) -> f64 {
        match self {
            Hardware::Profile(p) => p.power_w,
            Hardware::Measured(t) => t.power_w,
        }
    }

    fn layers(&self) -> Option<usize> {
        match self {
            Hardware::Profile(_) => None,
            Hardware::Measured(t) => Some(t.layer_s.len()),
        }
    }
}

/// Time and power of running consecutive layers of a [`LayerTable`] in one call.
pub trait LayerCost {
    /// Time (s) of layers `range` (0-based, end exclusive) of `table` run as one call.
    /// Invariant: for `a ≤ k ≤ b`, `run_s(a..k) + run_s(k..b) ≥ run_s(a..b)`.
    fn run_s(&self, table: &LayerTable, range: Range<usize>) -> f64;

    /// Power while computing (W).
    fn power_w(&self) -> f64;

    /// The number of layers this cost covers (`None`: any table).
    fn layers(&self) -> Option<usize> {
        None
    }
}

impl LayerCost for Compute {
    fn run_s(&self, table: &LayerTable, range: Range<usize>) -> f64 {
        table.layers[range].iter().map(|l| self.layer_s(l)).sum()
    }

    fn power_w(&self) -> f64 {
        self.power_w
    }
}

/// Per-layer times measured on one piece of hardware: a user's own device table, or this
/// host's profile made robust (`MeasuredModel::layer_times`). A call of layers `a..b` takes
/// `call_s + Σ layer_s[a..b]`, so a head plus its tail costs the full model plus one call.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LayerTimes {
    /// Where the numbers come from (device name, file).
    pub name: String,
    /// Power while computing (W).
    pub power_w: f64,
    /// Fixed time per call (s): runtime entry, input binding.
    #[serde(default)]
    pub call_s: f64,
    /// Time of each layer of the table (s), input side first.
    pub layer_s: Vec<f64>,
}

/// Why a layer-time table is unusable.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum LayerTimesError {
    /// Not as many times as the model has layers.
    #[error("`{name}` has {got} layer times, the model has {want} layers (one per segment between cuts)")]
    Length {
        /// Table name.
        name: String,
        /// Times given.
        got: usize,
        /// Layers in the model.
        want: usize,
    },
    /// A time or the power is negative, NaN or infinite.
    #[error("`{name}`: {field} = {value} must be a finite number ≥ 0")]
    Invalid {
        /// Table name.
        name: String,
        /// Field.
        field: String,
        /// Value.
        value: f64,
    },
    /// The file does not parse.
    #[error("layer times: {0}")]
    Parse(String),
    /// A hardware spec that is neither a readable file nor a known profile.
    #[error("unknown hardware `{spec}`: neither a file nor a profile; known: {known}")]
    Unknown {
        /// The spec given.
        spec: String,
        /// The built-in profiles' names, comma-separated.
        known: String,
    },
    /// A table file that exists but could not be read.
    #[error("reading {path}: {message}")]
    Read {
        /// The file.
        path: String,
        /// The I/O error.
        message: String,
    },
}

impl LayerTimes {
    /// Parses a table from JSON (`{"name", "power_w", "call_s", "layer_s": [...]}`) or CSV
    /// (header `layer,seconds`, one row per layer in order; power and call time then come
    /// from `power_w` and 0).
    pub fn parse(text: &str, name: &str, power_w: f64) -> Result<LayerTimes, LayerTimesError> {
        let parse = |m: String| LayerTimesError::Parse(format!("{name}: {m}"));
        let times = if text.trim_start().starts_with('{') {
            serde_json::from_str(text).map_err(|e| parse(e.to_string()))?
        } else {
            let mut lines = text.lines().filter(|l| !l.trim().is_empty());
            let header = lines.next().unwrap_or_default();
            if header.split(',').map(str::trim).collect::<Vec<_>>() != ["layer", "seconds"] {
                return Err(parse(format!("CSV header must be `layer,seconds`, got `{header}`")));
            }
            let layer_s = lines
                .enumerate()
                .map(|(i, l)| {
                    let cell = l.split(',').nth(1).map(str::trim).unwrap_or_default();
                    cell.parse::<f64>().map_err(|e| parse(format!("row {}: `{cell}`: {e}", i + 1)))
                })
                .collect::<Result<Vec<_>, _>>()?;
            LayerTimes { name: name.into(), power_w, call_s: 0.0, layer_s }
        };
        times.validate()?;
        Ok(times)
    }

    /// Checks every number is finite and ≥ 0.
    pub fn validate(&self) -> Result<(), LayerTimesError> {
        let fields = [("power_w".to_string(), self.power_w), ("call_s".into(), self.call_s)];
        let layers = self.layer_s.iter().enumerate().map(|(i, &v)| (format!("layer_s[{i}]"), v));
        for (field, value) in fields.into_iter().chain(layers) {
            if !(value.is_finite() && value >= 0.0) {
                return Err(LayerTimesError::Invalid { name: self.name.clone(), field, value });
            }
        }
        Ok(())
    }

    /// Checks the table has one time per layer of `table`.
    pub fn check_covers(&self, table: &LayerTable) -> Result<(), LayerTimesError> {
        if self.layer_s.len() == table.layers.len() {
            Ok(())
        } else {
            Err(LayerTimesError::Length {
                name: self.name.clone(),
                got: self.layer_s.len(),
                want: table.layers.len(),
            })
        }
    }
}

impl LayerCost for LayerTimes {
    /// Layers beyond the table cost nothing (check [`LayerTimes::check_covers`] first).
    fn run_s(&self, _table: &LayerTable, range: Range<usize>) -> f64 {
        let end = range.end.min(self.layer_s.len());
        let start = range.start.min(end);
        self.call_s + self.layer_s[start..end].iter().sum::<f64>()
    }

    fn power_w(&self) -> f64 {
        self.power_w
    }

    fn layers(&self) -> Option<usize> {
        Some(self.layer_s.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layers::Layer;

    #[test]
    fn csv_and_json_tables_parse_and_bad_ones_say_why() {
        let t = LayerTimes::parse("layer,seconds\n0,0.001\n1,0.002\n", "pi", 3.0).expect("csv");
        assert_eq!(t.layer_s, vec![0.001, 0.002]);
        let table = LayerTable {
            input_values: 1.0,
            bits_per_value: 32.0,
            layers: vec![Layer::new(1.0, 1.0, 0.0); 2],
        };
        t.check_covers(&table).expect("two layers");
        assert!((t.run_s(&table, 0..2) - 0.003).abs() < 1e-15);
        let json = r#"{"name": "pi", "power_w": 3.0, "call_s": 1e-4, "layer_s": [0.001]}"#;
        let j = LayerTimes::parse(json, "pi", 0.0).expect("json");
        assert!(j.check_covers(&table).unwrap_err().to_string().contains("1 layer times"));
        let neg = LayerTimes::parse("layer,seconds\n0,-1\n", "pi", 1.0).unwrap_err();
        assert!(neg.to_string().contains("layer_s[0]"), "{neg}");
        let header = LayerTimes::parse("a,b\n0,1\n", "pi", 1.0).unwrap_err();
        assert!(header.to_string().contains("layer,seconds"), "{header}");
        let cell = LayerTimes::parse("layer,seconds\n0,fast\n", "pi", 1.0).unwrap_err();
        assert!(cell.to_string().contains("row 1"), "{cell}");
    }
}
