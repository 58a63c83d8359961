//! Exhaustive split selection (Neurosurgeon, Kang et al. 2017): evaluate every option on the
//! link and keep the fastest.

use coinfer_sim::{Link, SplitLatency, SplitOption};

/// The option with the least end-to-end latency on `link` (ties: the earliest listed);
/// `None` if `options` is empty.
pub fn best_split(options: &[SplitOption], link: &Link) -> Option<SplitLatency> {
    options.iter().map(|o| o.latency(link)).reduce(|best, l| {
        if l.prediction.total_s < best.prediction.total_s {
            l
        } else {
            best
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use coinfer_sim::{SplitChoice, Work};

    fn opt(choice: SplitChoice, device_ms: f64, bytes: u64, edge_ms: f64) -> SplitOption {
        let work = match choice {
            SplitChoice::DeviceOnly => Work::local(device_ms / 1e3, 1.0),
            _ => Work::split(device_ms / 1e3, 1.0, bytes as f64, edge_ms / 1e3),
        };
        SplitOption { choice, work }
    }

    #[test]
    fn picks_by_bandwidth() {
        let options = vec![
            opt(SplitChoice::EdgeOnly, 0.0, 100_000, 1.0),
            opt(SplitChoice::Cut { index: 0, tensor: "a".into() }, 10.0, 100, 0.5),
            opt(SplitChoice::DeviceOnly, 50.0, 0, 0.0),
        ];
        let fast = Link::simple(1e9, 0.0);
        let slow = Link::simple(1e5, 0.0);
        let none = Link::simple(1.0, 0.0);
        assert_eq!(best_split(&options, &fast).unwrap().option.choice, SplitChoice::EdgeOnly);
        assert!(matches!(
            best_split(&options, &slow).unwrap().option.choice,
            SplitChoice::Cut { .. }
        ));
        assert_eq!(best_split(&options, &none).unwrap().option.choice, SplitChoice::DeviceOnly);
        assert!(best_split(&[], &fast).is_none());
    }
}
