//! Vector aggregations and binary operations over the samples of one step,
//! with PromQL's semantics as LogQL inherits them.

use std::collections::HashMap;

use model::{Label, Labels};

use crate::logql::ast::{BinaryOp, Cardinality, Grouping, VectorMatching, VectorOp};

#[derive(Clone, Debug, PartialEq)]
pub struct Sample {
    pub labels: Labels,
    pub value: f64,
}

pub type Vector = Vec<Sample>;

/// The labels of `labels` that identify its group under `grouping`.
pub fn group_labels(grouping: &Grouping, labels: &Labels) -> Labels {
    let keep: Vec<Label> = labels
        .iter()
        .filter(|l| grouping.labels.iter().any(|g| g == &l.name) != grouping.without)
        .cloned()
        .collect();
    Labels::from_sorted_unchecked(keep)
}

/// `op by/without (...) (input)`; `k` is the parameter of `topk`/`bottomk`.
pub fn aggregate(op: VectorOp, k: usize, grouping: &Grouping, input: Vector) -> Vector {
    let group_of = |labels: &Labels| group_labels(grouping, labels);
    match op {
        VectorOp::Sort | VectorOp::SortDesc => {
            let mut out = input;
            out.sort_by(|a, b| a.value.total_cmp(&b.value));
            if op == VectorOp::SortDesc {
                out.reverse();
            }
            return out;
        }
        VectorOp::Topk | VectorOp::Bottomk => {
            let mut groups: HashMap<Labels, Vec<Sample>> = HashMap::new();
            for sample in input {
                groups
                    .entry(group_of(&sample.labels))
                    .or_default()
                    .push(sample);
            }
            let top = op == VectorOp::Topk;
            let mut out = Vec::new();
            for (_, mut samples) in groups {
                samples.sort_by(|a, b| {
                    let order = a.value.total_cmp(&b.value);
                    if top {
                        order.reverse()
                    } else {
                        order
                    }
                });
                samples.truncate(k);
                out.extend(samples);
            }
            return out;
        }
        _ => {}
    }
    let mut groups: HashMap<Labels, Vec<f64>> = HashMap::new();
    for sample in input {
        groups
            .entry(group_of(&sample.labels))
            .or_default()
            .push(sample.value);
    }
    groups
        .into_iter()
        .map(|(labels, values)| {
            let n = values.len() as f64;
            let value = match op {
                VectorOp::Sum => values.iter().sum(),
                VectorOp::Avg => values.iter().sum::<f64>() / n,
                VectorOp::Min => {
                    values
                        .iter()
                        .copied()
                        .fold(f64::NAN, |m, v| if m.is_nan() || v < m { v } else { m })
                }
                VectorOp::Max => {
                    values
                        .iter()
                        .copied()
                        .fold(f64::NAN, |m, v| if m.is_nan() || v > m { v } else { m })
                }
                VectorOp::Count => n,
                VectorOp::Stddev | VectorOp::Stdvar => {
                    let mean = values.iter().sum::<f64>() / n;
                    let variance = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n;
                    if op == VectorOp::Stddev {
                        variance.sqrt()
                    } else {
                        variance
                    }
                }
                _ => unreachable!("handled above"),
            };
            Sample { labels, value }
        })
        .collect()
}

/// The arithmetic value of `a op b`, or for comparisons 1/0 (true/false).
pub fn apply(op: BinaryOp, a: f64, b: f64) -> f64 {
    let truth = |c: bool| if c { 1.0 } else { 0.0 };
    match op {
        BinaryOp::Add => a + b,
        BinaryOp::Sub => a - b,
        BinaryOp::Mul => a * b,
        BinaryOp::Div => a / b,
        BinaryOp::Mod => a % b,
        BinaryOp::Pow => a.powf(b),
        BinaryOp::Equal => truth(a == b),
        BinaryOp::NotEqual => truth(a != b),
        BinaryOp::GreaterThan => truth(a > b),
        BinaryOp::GreaterThanOrEqual => truth(a >= b),
        BinaryOp::LessThan => truth(a < b),
        BinaryOp::LessThanOrEqual => truth(a <= b),
        BinaryOp::And | BinaryOp::Or | BinaryOp::Unless => f64::NAN,
    }
}

fn signature(matching: &VectorMatching, labels: &Labels) -> Labels {
    let grouping = Grouping {
        without: !matching.on,
        labels: matching.labels.clone(),
    };
    group_labels(&grouping, labels)
}

/// `vector op scalar` (or `scalar op vector` when `scalar_left`).
pub fn with_scalar(
    op: BinaryOp,
    vector: Vector,
    scalar: f64,
    scalar_left: bool,
    return_bool: bool,
) -> Vector {
    vector
        .into_iter()
        .filter_map(|sample| {
            let (a, b) = if scalar_left {
                (scalar, sample.value)
            } else {
                (sample.value, scalar)
            };
            let value = apply(op, a, b);
            if op.is_comparison() {
                if return_bool {
                    return Some(Sample {
                        labels: sample.labels,
                        value,
                    });
                }
                return (value == 1.0).then_some(sample);
            }
            Some(Sample {
                labels: sample.labels,
                value,
            })
        })
        .collect()
}

/// `vector op vector` with matching.
pub fn between_vectors(
    op: BinaryOp,
    lhs: Vector,
    rhs: Vector,
    matching: &VectorMatching,
    return_bool: bool,
) -> Result<Vector, String> {
    if op.is_set_operation() {
        return Ok(set_operation(op, lhs, rhs, matching));
    }
    let (one_side, many_side, swapped) = match matching.cardinality {
        Cardinality::OneToOne | Cardinality::ManyToOne => (rhs, lhs, false),
        Cardinality::OneToMany => (lhs, rhs, true),
    };
    let mut by_signature: HashMap<Labels, Sample> = HashMap::new();
    for sample in one_side {
        let signature = signature(matching, &sample.labels);
        if by_signature.insert(signature, sample).is_some() {
            return Err("found duplicate series for the match group on the right hand-side of the operation; many-to-many matching not allowed: matching labels must be unique on one side".into());
        }
    }
    let mut out = Vec::new();
    let mut seen: HashMap<Labels, ()> = HashMap::new();
    for sample in many_side {
        let signature = signature(matching, &sample.labels);
        let Some(other) = by_signature.get(&signature) else {
            continue;
        };
        let (a, b) = if swapped {
            (other.value, sample.value)
        } else {
            (sample.value, other.value)
        };
        let value = apply(op, a, b);
        let labels = match matching.cardinality {
            Cardinality::OneToOne => {
                if op.is_comparison() && !return_bool {
                    sample.labels.clone()
                } else {
                    signature_or_all(matching, &sample.labels)
                }
            }
            Cardinality::ManyToOne | Cardinality::OneToMany => {
                let extra = &matching.include;
                let mut labels: Vec<Label> = sample
                    .labels
                    .iter()
                    .filter(|l| !extra.contains(&l.name))
                    .cloned()
                    .collect();
                for name in extra {
                    if let Some(v) = other.labels.get(name) {
                        labels.push(Label::new(name.clone(), v));
                    }
                }
                labels.sort_by(|a, b| a.name.cmp(&b.name));
                Labels::from_sorted_unchecked(labels)
            }
        };
        if op.is_comparison() && !return_bool {
            if value != 1.0 {
                continue;
            }
            out.push(Sample {
                labels,
                value: sample.value,
            });
            continue;
        }
        if matching.cardinality == Cardinality::OneToOne
            && seen.insert(labels.clone(), ()).is_some()
        {
            return Err("multiple matches for labels: many-to-one matching must be explicit (group_left/group_right)".into());
        }
        out.push(Sample { labels, value });
    }
    Ok(out)
}

/// One-to-one arithmetic keeps the `on` labels, or drops the `ignoring` ones.
fn signature_or_all(matching: &VectorMatching, labels: &Labels) -> Labels {
    if matching.on || !matching.labels.is_empty() {
        signature(matching, labels)
    } else {
        labels.clone()
    }
}

fn set_operation(op: BinaryOp, lhs: Vector, rhs: Vector, matching: &VectorMatching) -> Vector {
    let rhs_signatures: std::collections::HashSet<Labels> =
        rhs.iter().map(|s| signature(matching, &s.labels)).collect();
    match op {
        BinaryOp::And => lhs
            .into_iter()
            .filter(|s| rhs_signatures.contains(&signature(matching, &s.labels)))
            .collect(),
        BinaryOp::Unless => lhs
            .into_iter()
            .filter(|s| !rhs_signatures.contains(&signature(matching, &s.labels)))
            .collect(),
        _ => {
            let lhs_signatures: std::collections::HashSet<Labels> =
                lhs.iter().map(|s| signature(matching, &s.labels)).collect();
            let mut out = lhs;
            out.extend(
                rhs.into_iter()
                    .filter(|s| !lhs_signatures.contains(&signature(matching, &s.labels))),
            );
            out
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(pairs: &[(&str, &str)], value: f64) -> Sample {
        let mut labels: Vec<Label> = pairs.iter().map(|(n, v)| Label::new(*n, *v)).collect();
        labels.sort_by(|a, b| a.name.cmp(&b.name));
        Sample {
            labels: Labels::from_sorted_unchecked(labels),
            value,
        }
    }

    #[test]
    fn aggregations_group_by_and_without() {
        let input = vec![
            sample(&[("app", "a"), ("level", "info")], 1.0),
            sample(&[("app", "a"), ("level", "error")], 2.0),
            sample(&[("app", "b"), ("level", "info")], 4.0),
        ];
        let by_level = Grouping {
            without: false,
            labels: vec!["level".into()],
        };
        let mut out = aggregate(VectorOp::Sum, 0, &by_level, input.clone());
        out.sort_by(|a, b| a.value.total_cmp(&b.value));
        assert_eq!(
            out,
            vec![
                sample(&[("level", "error")], 2.0),
                sample(&[("level", "info")], 5.0)
            ]
        );
        let without_level = Grouping {
            without: true,
            labels: vec!["level".into()],
        };
        let mut out = aggregate(VectorOp::Count, 0, &without_level, input.clone());
        out.sort_by(|a, b| a.value.total_cmp(&b.value));
        assert_eq!(
            out,
            vec![sample(&[("app", "b")], 1.0), sample(&[("app", "a")], 2.0)]
        );
        let all = Grouping::default();
        assert_eq!(
            aggregate(VectorOp::Max, 0, &all, input.clone()),
            vec![sample(&[], 4.0)]
        );
        assert_eq!(
            aggregate(VectorOp::Topk, 1, &all, input.clone()),
            vec![input[2].clone()]
        );
        assert_eq!(
            aggregate(VectorOp::Bottomk, 1, &all, input.clone()),
            vec![input[0].clone()]
        );
    }

    #[test]
    fn binary_operations_match_like_promql() {
        let errors = vec![sample(&[("app", "a")], 2.0), sample(&[("app", "b")], 0.0)];
        let totals = vec![sample(&[("app", "a")], 8.0), sample(&[("app", "b")], 4.0)];
        let ratio = between_vectors(
            BinaryOp::Div,
            errors.clone(),
            totals.clone(),
            &VectorMatching::default(),
            false,
        )
        .unwrap();
        assert_eq!(
            ratio,
            vec![sample(&[("app", "a")], 0.25), sample(&[("app", "b")], 0.0)]
        );
        let filtered = with_scalar(BinaryOp::GreaterThan, errors.clone(), 1.0, false, false);
        assert_eq!(filtered, vec![errors[0].clone()]);
        let as_bool = with_scalar(BinaryOp::GreaterThan, errors.clone(), 1.0, false, true);
        assert_eq!(
            as_bool,
            vec![sample(&[("app", "a")], 1.0), sample(&[("app", "b")], 0.0)]
        );
        let unless = between_vectors(
            BinaryOp::Unless,
            totals,
            errors[..1].to_vec(),
            &VectorMatching::default(),
            false,
        )
        .unwrap();
        assert_eq!(unless, vec![sample(&[("app", "b")], 4.0)]);
    }
}
