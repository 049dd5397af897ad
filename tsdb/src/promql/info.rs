//! `info(v, [selector])`, experimental in Prometheus 3: adds to each series
//! of `v` the data labels of the info series (`target_info` unless the
//! selector names others) that share its identifying labels, `instance` and
//! `job`.
//!
//! - The selector's `__name__` matchers choose the info metrics; its other
//!   matchers choose info series and name the only data labels to add.
//! - Without a positive `__name__` matcher the info metrics are
//!   `target_info`, or every `*_info` metric the negative ones allow.
//! - A series that is itself an info metric (its name matches every
//!   `__name__` matcher) passes unchanged.
//! - Info series are read as of the time the series are: the `@` and
//!   offsets of the argument's selectors and subqueries apply to them too.
//! - At each step the newest info sample per metric and identity wins; two
//!   as new are an error. Labels the series already has are kept.
//! - A series no info series matches is dropped when a data-label matcher
//!   refuses the empty value, and passes unchanged otherwise.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use model::{Label, Labels, MatchOp, Matcher, METRIC_NAME};
use promql_parser::parser::value::ValueType;
use promql_parser::parser::{AtModifier, Call, Expr, Offset};

use super::eval::{offset_ms, selector_matchers, Elem, Evaluator, Val};
use super::series_local::Local;
use super::PromqlError;

const IDENTIFYING: [&str; 2] = ["instance", "job"];

/// An info metric's name and the identifying labels a series has.
type Identity = (String, Vec<(String, String)>);

fn identity(name: &str, labels: &Labels) -> Identity {
    let ids = IDENTIFYING
        .iter()
        .filter_map(|&l| labels.get(l).map(|v| (l.to_string(), v.to_string())))
        .collect();
    (name.to_string(), ids)
}

/// The `@` time and offset the series of `expr` are read with, walking
/// from the outside in: an `@` pins the time for everything inside it, and
/// offsets inside it shift that time.
fn time_reference(ev: &Evaluator<'_>, mut expr: &Expr) -> (Option<i64>, i64) {
    let (mut at, mut offset) = (None, 0);
    let mut shift = |node_at: &Option<AtModifier>, node_offset: &Option<Offset>| {
        if let Some(t) = ev.resolve_at(node_at) {
            at = Some(t);
            offset = 0;
        }
        offset += offset_ms(node_offset);
    };
    loop {
        expr = match expr {
            Expr::Paren(p) => &p.expr,
            Expr::Subquery(sq) => {
                shift(&sq.at, &sq.offset);
                &sq.expr
            }
            Expr::Call(c) => match c
                .args
                .args
                .iter()
                .find(|a| matches!(a.value_type(), ValueType::Vector | ValueType::Matrix))
            {
                Some(arg) => arg,
                None => break,
            },
            Expr::MatrixSelector(ms) => {
                shift(&ms.vs.at, &ms.vs.offset);
                break;
            }
            Expr::VectorSelector(vs) => {
                shift(&vs.at, &vs.offset);
                break;
            }
            _ => break,
        };
    }
    (at, offset)
}

fn exec(message: impl Into<String>) -> PromqlError {
    PromqlError::Execution(message.into())
}

pub(super) fn info(ev: &mut Evaluator<'_>, call: &Call) -> Result<Val, PromqlError> {
    let base = ev.vector(&call.args.args[0])?;
    let mut name_matchers = Vec::new();
    let mut data_matchers: BTreeMap<String, Vec<Matcher>> = BTreeMap::new();
    if let Some(arg) = call.args.args.get(1) {
        let mut arg: &Expr = arg;
        while let Expr::Paren(p) = arg {
            arg = &p.expr;
        }
        let Expr::VectorSelector(vs) = arg else {
            return Err(exec("info: the second argument must be a label selector"));
        };
        for m in selector_matchers(vs)? {
            if m.name == METRIC_NAME {
                name_matchers.push(m);
            } else {
                data_matchers.entry(m.name.clone()).or_default().push(m);
            }
        }
    }
    // Without a positive `__name__` matcher the info metrics are
    // `target_info`, or with only negative ones every `*_info` they allow.
    let positive = |m: &Matcher| matches!(m.op, MatchOp::Equal | MatchOp::RegexMatch);
    if name_matchers.is_empty() {
        name_matchers.push(Matcher::equal(METRIC_NAME, "target_info"));
    } else if !name_matchers.iter().any(positive) {
        name_matchers.push(
            Matcher::new(MatchOp::RegexMatch, METRIC_NAME, ".+_info")
                .map_err(|e| exec(e.to_string()))?,
        );
    }
    let is_info = |labels: &Labels| {
        let name = labels.get(METRIC_NAME).unwrap_or("");
        name_matchers.iter().all(|m| m.matches(name))
    };

    // Only info series with the identities of the series to enrich.
    let mut wanted: BTreeMap<&str, BTreeSet<String>> = BTreeMap::new();
    for e in base.iter().flatten().filter(|e| !is_info(&e.metric)) {
        for label in IDENTIFYING {
            if let Some(v) = e.metric.get(label) {
                wanted.entry(label).or_default().insert(regex::escape(v));
            }
        }
    }
    let rows = if wanted.is_empty() {
        Vec::new()
    } else {
        let mut matchers = name_matchers.clone();
        matchers.extend(data_matchers.values().flatten().cloned());
        for (label, values) in &wanted {
            let alternation = values.iter().cloned().collect::<Vec<_>>().join("|");
            matchers.push(
                Matcher::new(MatchOp::RegexMatch, *label, alternation)
                    .map_err(|e| exec(e.to_string()))?,
            );
        }
        let (at, offset) = time_reference(ev, &call.args.args[0]);
        ev.rows(
            &Local::Select {
                matchers,
                timestamps: true,
                at,
                offset,
            },
            None,
            true,
        )?
    };
    let info_names: BTreeSet<&str> = rows
        .iter()
        .map(|r| r.metric.get(METRIC_NAME).unwrap_or(""))
        .collect();
    let identities: Vec<Identity> = rows
        .iter()
        .map(|r| identity(r.metric.get(METRIC_NAME).unwrap_or(""), &r.metric))
        .collect();
    let refuses_empty = data_matchers.values().flatten().any(|m| !m.matches(""));

    let mut out = Vec::with_capacity(base.len());
    for (step, vector) in base.into_iter().enumerate() {
        // The newest info sample per identity (values are sample times).
        let mut newest: HashMap<&Identity, (usize, f64)> = HashMap::new();
        for (i, row) in rows.iter().enumerate() {
            let Some(t) = row.get(step) else { continue };
            match newest.get(&identities[i]) {
                Some(&(_, existing)) if existing > t => {}
                Some(&(j, existing)) if existing == t => {
                    return Err(exec(format!(
                        "found duplicate series for info metric: existing {} @ {}, new {} @ {}",
                        rows[j].metric,
                        (existing * 1000.0) as i64,
                        row.metric,
                        (t * 1000.0) as i64
                    )));
                }
                _ => {
                    newest.insert(&identities[i], (i, t));
                }
            }
        }
        let mut result = Vec::with_capacity(vector.len());
        for e in vector {
            if is_info(&e.metric) {
                result.push(e);
                continue;
            }
            let mut added: BTreeMap<String, String> = BTreeMap::new();
            let mut matched = false;
            for name in &info_names {
                let Some(&(i, _)) = newest.get(&identity(name, &e.metric)) else {
                    continue;
                };
                matched = true;
                for l in rows[i].metric.iter() {
                    if l.name == METRIC_NAME
                        || (!data_matchers.is_empty() && !data_matchers.contains_key(&l.name))
                    {
                        continue;
                    }
                    if added.get(&l.name).is_some_and(|v| *v != l.value) {
                        return Err(exec(format!("conflicting label: {}", l.name)));
                    }
                    if e.metric.get(&l.name).is_none() {
                        added.insert(l.name.clone(), l.value.clone());
                    }
                }
            }
            if !matched && refuses_empty {
                continue;
            }
            let metric = if added.is_empty() {
                e.metric
            } else {
                let mut labels: Vec<Label> = e.metric.iter().cloned().collect();
                labels.extend(added.into_iter().map(|(n, v)| Label::new(n, v)));
                labels.sort();
                Arc::new(Labels::from_sorted_unchecked(labels))
            };
            result.push(Elem { metric, ..e });
        }
        ev.check_limits(result.len())?;
        out.push(result);
    }
    Ok(Val::Vector(out))
}
