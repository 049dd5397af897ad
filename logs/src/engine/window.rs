//! Range functions over one series' samples: the value of a window
//! `(t - range, t]` at each step `t`, as Loki computes them.

/// What a range aggregation computes from the samples in its window. The
/// samples come from the extractor: 1 per line for `count_over_time` and
/// `rate`, the line's bytes for `bytes_*`, the unwrapped value otherwise.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum WindowFunction {
    /// Number of samples (`count_over_time`).
    Count,
    /// Sum of the values (`bytes_over_time`, `sum_over_time`).
    Sum,
    /// Sum of the values per second of range (`rate`, `bytes_rate`).
    SumPerSecond,
    Avg,
    Min,
    Max,
    Stddev,
    Stdvar,
    Quantile(f64),
    First,
    Last,
    /// Prometheus' extrapolated `rate()` over counter values (`rate_counter`).
    RateCounter,
}

/// Values at each step (`None`: no sample in the window). `samples` are
/// sorted by time; `steps` ascend.
pub fn evaluate(
    function: WindowFunction,
    samples: &[(i64, f64)],
    steps: &[i64],
    range_ns: i64,
) -> Vec<Option<f64>> {
    let mut out = Vec::with_capacity(steps.len());
    let (mut lo, mut hi) = (0usize, 0usize);
    for &t in steps {
        let window_start = t.saturating_sub(range_ns);
        while hi < samples.len() && samples[hi].0 <= t {
            hi += 1;
        }
        while lo < hi && samples[lo].0 <= window_start {
            lo += 1;
        }
        if lo > hi {
            lo = hi;
        }
        let window = &samples[lo..hi];
        out.push(if window.is_empty() {
            None
        } else {
            apply(function, window, window_start, t, range_ns)
        });
    }
    out
}

fn apply(
    function: WindowFunction,
    window: &[(i64, f64)],
    start: i64,
    end: i64,
    range_ns: i64,
) -> Option<f64> {
    let values = || window.iter().map(|s| s.1);
    let range_seconds = range_ns as f64 / 1e9;
    Some(match function {
        WindowFunction::Count => window.len() as f64,
        WindowFunction::Sum => values().sum(),
        WindowFunction::SumPerSecond => values().sum::<f64>() / range_seconds,
        WindowFunction::Avg => {
            // Incremental mean, as Prometheus and Loki compute it.
            let mut mean = 0.0;
            for (i, v) in values().enumerate() {
                mean += (v - mean) / (i + 1) as f64;
            }
            mean
        }
        WindowFunction::Min => {
            values().fold(
                f64::INFINITY,
                |m, v| if v < m || v.is_nan() { v } else { m },
            )
        }
        WindowFunction::Max => {
            values().fold(
                f64::NEG_INFINITY,
                |m, v| if v > m || v.is_nan() { v } else { m },
            )
        }
        WindowFunction::Stddev => variance(values()).sqrt(),
        WindowFunction::Stdvar => variance(values()),
        WindowFunction::Quantile(q) => tsdb::promql::quantile(q, &mut values().collect::<Vec<_>>()),
        WindowFunction::First => window[0].1,
        WindowFunction::Last => window[window.len() - 1].1,
        WindowFunction::RateCounter => return extrapolated_rate(window, start, end, range_seconds),
    })
}

fn variance(values: impl Iterator<Item = f64>) -> f64 {
    let (mut count, mut mean, mut m2) = (0.0, 0.0, 0.0);
    for v in values {
        count += 1.0;
        let delta = v - mean;
        mean += delta / count;
        m2 += delta * (v - mean);
    }
    m2 / count
}

/// `extrapolatedRate` for counters as Loki's `rate_counter` vendors it: the
/// Prometheus 2 algorithm (zero clamp before the threshold test), which is
/// not the Prometheus 3 one the PromQL engine implements, hence its own copy.
fn extrapolated_rate(
    window: &[(i64, f64)],
    start: i64,
    end: i64,
    range_seconds: f64,
) -> Option<f64> {
    if window.len() < 2 {
        return None;
    }
    let (first, last) = (window[0], window[window.len() - 1]);
    let mut result = last.1 - first.1;
    let mut previous = first.1;
    for &(_, v) in &window[1..] {
        if v < previous {
            result += previous;
        }
        previous = v;
    }
    let mut to_start = (first.0 - start) as f64 / 1e9;
    let to_end = (end - last.0) as f64 / 1e9;
    let sampled = (last.0 - first.0) as f64 / 1e9;
    let average_gap = sampled / (window.len() - 1) as f64;
    if result > 0.0 && first.1 >= 0.0 {
        let to_zero = sampled * (first.1 / result);
        if to_zero < to_start {
            to_start = to_zero;
        }
    }
    let threshold = average_gap * 1.1;
    let mut interval = sampled;
    interval += if to_start < threshold {
        to_start
    } else {
        average_gap / 2.0
    };
    interval += if to_end < threshold {
        to_end
    } else {
        average_gap / 2.0
    };
    Some(result * (interval / sampled) / range_seconds)
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: i64 = 1_000_000_000;

    #[test]
    fn windows_are_left_open_and_right_closed() {
        let samples = [(10 * S, 1.0), (20 * S, 1.0), (30 * S, 1.0)];
        let steps = [10 * S, 20 * S, 30 * S, 40 * S, 50 * S];
        assert_eq!(
            evaluate(WindowFunction::Count, &samples, &steps, 10 * S),
            [Some(1.0), Some(1.0), Some(1.0), None, None]
        );
        assert_eq!(
            evaluate(WindowFunction::SumPerSecond, &samples, &steps, 20 * S),
            [Some(0.05), Some(0.1), Some(0.1), Some(0.05), None]
        );
    }

    #[test]
    fn unwrapped_functions() {
        let samples = [(S, 4.0), (2 * S, 1.0), (3 * S, 7.0), (4 * S, 2.0)];
        let at = |f| evaluate(f, &samples, &[4 * S], 10 * S)[0].unwrap();
        assert_eq!(at(WindowFunction::Sum), 14.0);
        assert_eq!(at(WindowFunction::Avg), 3.5);
        assert_eq!(at(WindowFunction::Min), 1.0);
        assert_eq!(at(WindowFunction::Max), 7.0);
        assert_eq!(at(WindowFunction::First), 4.0);
        assert_eq!(at(WindowFunction::Last), 2.0);
        assert_eq!(at(WindowFunction::Stdvar), 5.25);
        assert_eq!(at(WindowFunction::Quantile(0.5)), 3.0);
        assert_eq!(at(WindowFunction::Quantile(2.0)), f64::INFINITY);
    }

    #[test]
    fn rate_counter_extrapolates_like_prometheus() {
        // A counter growing 1/s sampled every 10s over a 60s window: rate 1/s.
        let samples: Vec<(i64, f64)> = (1..=6).map(|i| (i * 10 * S, (i * 10) as f64)).collect();
        let rate = evaluate(WindowFunction::RateCounter, &samples, &[60 * S], 60 * S)[0].unwrap();
        assert!((rate - 1.0).abs() < 1e-9, "{rate}");
        // A reset counts the value before it.
        let reset = [(10 * S, 5.0), (20 * S, 10.0), (30 * S, 2.0)];
        let rate = evaluate(WindowFunction::RateCounter, &reset, &[30 * S], 30 * S)[0].unwrap();
        assert!(rate > 0.0);
    }
}
