//! Where a fit is ([`FitState`]), and how it goes into a checkpoint and back.

use super::history::{GradientSnapshot, History};
use super::FitError;
use gradnet_core::diagnostics::Flags;
use gradnet_core::persist::Extra;
use gradnet_core::{Network, Parameters, Real, SeededRng};
use std::collections::BTreeMap;

/// Early stopping's memory: the best value so far, its epoch, the epochs since,
/// and (to restore them) the best epoch's weights.
#[derive(Clone, Debug)]
pub(crate) struct EarlyState<N> {
    pub(crate) best: Option<f64>,
    pub(crate) best_epoch: usize,
    pub(crate) wait: usize,
    pub(crate) best_net: Option<N>,
}

impl<N> Default for EarlyState<N> {
    fn default() -> Self {
        EarlyState {
            best: None,
            best_epoch: 0,
            wait: 0,
            best_net: None,
        }
    }
}

/// Where a fit is: the position to resume from (epoch, batch within it, steps),
/// the shuffling generator as it was when the epoch started, the sums of the
/// epoch so far, the history, and early stopping's memory. A checkpoint written
/// by a callback holds exactly this, beside the model, the optimizer and the
/// dropout generator.
#[derive(Clone, Debug)]
pub struct FitState<N> {
    pub(crate) epoch: usize,
    pub(crate) batch: usize,
    pub(crate) step: u64,
    pub(crate) epoch_rng: SeededRng,
    pub(crate) loss_sum: f64,
    pub(crate) loss_rows: f64,
    pub(crate) metric_sums: Vec<Vec<f64>>,
    pub(crate) history: History,
    pub(crate) early: EarlyState<N>,
}

impl<N> FitState<N> {
    pub(crate) fn new(metrics: usize, rng: SeededRng) -> Self {
        FitState {
            epoch: 0,
            batch: 0,
            step: 0,
            epoch_rng: rng,
            loss_sum: 0.0,
            loss_rows: 0.0,
            metric_sums: vec![Vec::new(); metrics],
            history: History::default(),
            early: EarlyState::default(),
        }
    }

    /// The epoch in progress (from 0), or the next one at an epoch's end.
    pub fn epoch(&self) -> usize {
        self.epoch
    }

    /// Batches of that epoch done.
    pub fn batch(&self) -> usize {
        self.batch
    }

    /// Training steps done in all.
    pub fn step(&self) -> u64 {
        self.step
    }

    /// The history so far.
    pub fn history(&self) -> &History {
        &self.history
    }

    /// Clears the sums for a new epoch.
    pub(crate) fn reset_sums(&mut self) {
        self.loss_sum = 0.0;
        self.loss_rows = 0.0;
        for s in &mut self.metric_sums {
            s.clear();
        }
    }
}

const BEST_WEIGHTS: &str = "fit.best_weights";

fn list(values: &[f64]) -> String {
    values
        .iter()
        .map(f64::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

fn bad(key: &str, reason: &str) -> FitError {
    FitError::BadState {
        key: key.to_string(),
        reason: reason.to_string(),
    }
}

fn get<'m>(meta: &'m BTreeMap<String, String>, key: &str) -> Result<&'m str, FitError> {
    meta.get(key)
        .map(String::as_str)
        .ok_or_else(|| bad(key, "missing"))
}

fn parse<V: std::str::FromStr>(meta: &BTreeMap<String, String>, key: &str) -> Result<V, FitError> {
    let text = get(meta, key)?;
    text.parse()
        .map_err(|_| bad(key, &format!("cannot parse {text:?}")))
}

fn parse_list(key: &str, text: &str) -> Result<Vec<f64>, FitError> {
    if text.is_empty() {
        return Ok(Vec::new());
    }
    text.split(',')
        .map(|v| {
            v.parse()
                .map_err(|_| bad(key, &format!("cannot parse {v:?}")))
        })
        .collect()
}

/// Every parameter, then every buffer, as one vector.
pub(crate) fn flatten<T: Real, M: Parameters<T>>(model: &M) -> Vec<T> {
    let mut out = Vec::new();
    model.visit_params(&mut |_, v| out.extend_from_slice(v));
    model.visit_buffers(&mut |_, v| out.extend_from_slice(v));
    out
}

/// Writes [`flatten`]'s vector back; `false` (nothing written) for a wrong length.
pub(crate) fn unflatten<T: Real, M: Parameters<T>>(model: &mut M, values: &[T]) -> bool {
    if flatten(&*model).len() != values.len() {
        return false;
    }
    let mut at = 0;
    let mut take = |v: &mut [T]| {
        v.copy_from_slice(&values[at..at + v.len()]);
        at += v.len();
    };
    model.visit_values_mut(&mut |_, v| take(v));
    model.visit_buffers_mut(&mut |_, v| take(v));
    true
}

impl<N> FitState<N> {
    /// The entries a checkpoint keeps of this state.
    pub(crate) fn to_extra<T: Real>(&self) -> Extra<T>
    where
        N: Network<T>,
    {
        let mut meta = BTreeMap::new();
        let mut put = |k: &str, v: String| {
            meta.insert(format!("fit.{k}"), v);
        };
        put("epoch", self.epoch.to_string());
        put("batch", self.batch.to_string());
        put("step", self.step.to_string());
        put("loss_sum", self.loss_sum.to_string());
        put("loss_rows", self.loss_rows.to_string());
        put("metrics", self.metric_sums.len().to_string());
        for (i, s) in self.metric_sums.iter().enumerate() {
            put(&format!("metric.{i}"), list(s));
        }
        let h = &self.history;
        put("series", h.series.len().to_string());
        for (i, s) in h.series.iter().enumerate() {
            put(&format!("series.{i}.name"), s.name.clone());
            put(&format!("series.{i}.values"), list(&s.values));
        }
        put("gradients", h.gradients.len().to_string());
        for (i, g) in h.gradients.iter().enumerate() {
            let f = g.flags;
            let flags = [
                f.vanishing,
                f.exploding,
                f.growing,
                f.non_finite,
                f.vanishing_over_time,
            ]
            .map(|b| if b { '1' } else { '0' })
            .iter()
            .collect::<String>();
            let names: Vec<&str> = g.norms.iter().map(|(n, _)| n.as_str()).collect();
            let norms: Vec<f64> = g.norms.iter().map(|&(_, v)| v).collect();
            put(
                &format!("gradient.{i}"),
                format!(
                    "{};{};{flags};{};{}",
                    g.step,
                    g.epoch,
                    names.join(","),
                    list(&norms)
                ),
            );
        }
        let e = &self.early;
        if let Some(best) = e.best {
            put("early.best", best.to_string());
        }
        put("early.best_epoch", e.best_epoch.to_string());
        put("early.wait", e.wait.to_string());
        let mut tensors = BTreeMap::new();
        if let Some(net) = &e.best_net {
            tensors.insert(BEST_WEIGHTS.to_string(), flatten(net));
        }
        Extra { meta, tensors }
    }

    /// The state a checkpoint kept ([`FitState::to_extra`]); `net` is the model as
    /// loaded, the pattern for early stopping's best weights.
    pub(crate) fn from_extra<T: Real>(
        extra: &Extra<T>,
        net: &N,
        epoch_rng: SeededRng,
    ) -> Result<Self, FitError>
    where
        N: Network<T>,
    {
        let m = &extra.meta;
        let key = |k: &str| format!("fit.{k}");
        let metrics: usize = parse(m, &key("metrics"))?;
        let mut metric_sums = Vec::with_capacity(metrics.min(1024));
        for i in 0..metrics {
            let k = key(&format!("metric.{i}"));
            metric_sums.push(parse_list(&k, get(m, &k)?)?);
        }
        let mut history = History::default();
        let series: usize = parse(m, &key("series"))?;
        for i in 0..series {
            let name = get(m, &key(&format!("series.{i}.name")))?.to_string();
            let k = key(&format!("series.{i}.values"));
            let values = parse_list(&k, get(m, &k)?)?;
            history.series.push(super::history::Series { name, values });
        }
        let gradients: usize = parse(m, &key("gradients"))?;
        for i in 0..gradients {
            let k = key(&format!("gradient.{i}"));
            history.gradients.push(parse_snapshot(&k, get(m, &k)?)?);
        }
        let early = EarlyState {
            best: match m.get(&key("early.best")) {
                Some(_) => Some(parse(m, &key("early.best"))?),
                None => None,
            },
            best_epoch: parse(m, &key("early.best_epoch"))?,
            wait: parse(m, &key("early.wait"))?,
            best_net: match extra.tensors.get(BEST_WEIGHTS) {
                Some(values) => {
                    let mut best = net.clone();
                    if !unflatten(&mut best, values) {
                        return Err(bad(BEST_WEIGHTS, "does not fit the model"));
                    }
                    Some(best)
                }
                None => None,
            },
        };
        Ok(FitState {
            epoch: parse(m, &key("epoch"))?,
            batch: parse(m, &key("batch"))?,
            step: parse(m, &key("step"))?,
            epoch_rng,
            loss_sum: parse(m, &key("loss_sum"))?,
            loss_rows: parse(m, &key("loss_rows"))?,
            metric_sums,
            history,
            early,
        })
    }
}

fn parse_snapshot(key: &str, text: &str) -> Result<GradientSnapshot, FitError> {
    let parts: Vec<&str> = text.splitn(5, ';').collect();
    let [step, epoch, flags, names, norms] = parts[..] else {
        return Err(bad(key, "expected 5 fields"));
    };
    let num = |t: &str| t.parse::<u64>().map_err(|_| bad(key, "bad step or epoch"));
    let f: Vec<bool> = flags.chars().map(|c| c == '1').collect();
    let [vanishing, exploding, growing, non_finite, vanishing_over_time] = f[..] else {
        return Err(bad(key, "expected 5 flags"));
    };
    let names: Vec<&str> = if names.is_empty() {
        Vec::new()
    } else {
        names.split(',').collect()
    };
    let norms = parse_list(key, norms)?;
    if names.len() != norms.len() {
        return Err(bad(key, "as many names as norms expected"));
    }
    Ok(GradientSnapshot {
        step: num(step)?,
        epoch: num(epoch)? as usize,
        norms: names.iter().map(|n| n.to_string()).zip(norms).collect(),
        flags: Flags {
            vanishing,
            exploding,
            growing,
            non_finite,
            vanishing_over_time,
        },
    })
}
