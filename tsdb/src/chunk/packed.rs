//! The persisted-block codec: one series' samples in a byte-aligned, columnar
//! encoding built to be compressed again by the block's page compressor
//! (zstd, see [`page_compress`]).
//!
//! The byte layout and the reasoning behind it are in `tsdb/FORMAT.md`,
//! section "Packed series encoding". In short:
//!
//! - timestamps: the first one, then one of four predictors chosen per series
//!   (regular step, step + residuals, a jitter-tolerant grid, delta-of-delta),
//!   with zigzag-varint residuals;
//! - values: converted losslessly to decimal mantissas with a common exponent
//!   (`12345.67` → `1234567 × 10^-2`), divided by the greatest common divisor of
//!   their deltas, then constant, delta or delta-of-delta coded; values that do
//!   not convert exactly (NaN, stale markers, ±Inf, -0.0, too many digits) are
//!   kept bit for bit in an exception list. A series with too many exceptions
//!   falls back to XORed raw bits stored as byte planes.
//!
//! Every value is decoded at encode time and compared by bits before the
//! decimal path accepts it, so the codec is lossless for every `f64` and every
//! `i64` timestamp sequence (increasing or not). [`decode`] never panics: bad
//! input is a [`ChunkError`].

use std::cell::RefCell;

use model::Sample;

use super::ChunkError;

/// The version byte that starts every series encoding.
pub const FORMAT_VERSION: u8 = 1;

/// The most samples one [`encode`] call takes; longer series must be split.
/// It bounds what a corrupt count can make [`decode`] produce.
pub const MAX_SAMPLES: usize = 1 << 20;

/// The largest page [`page_decompress`] will inflate; a corrupt frame header
/// cannot make it allocate more.
pub const MAX_PAGE_BYTES: usize = 64 << 20;

/// zstd level the block writer should use unless configured otherwise.
pub const DEFAULT_ZSTD_LEVEL: i32 = 3;

/// Decimal exponents are limited to ±22: every power of ten up to 10^22 is
/// exact in an `f64`, so `m × 10^e` (or `m / 10^-e`) is one correctly rounded
/// operation on exact operands.
const MAX_DECIMAL_EXPONENT: i32 = 22;

/// Mantissas up to 2^53 are exact in an `f64`; rescaled mantissas must stay
/// within it so the rescaled value rounds to the same `f64`.
const MAX_EXACT_MANTISSA: u64 = 1 << 53;

/// Above this many bits of estimated cost per value the raw fallback is
/// costed too (below it, the decimal path always wins).
const RAW_CHECK_BITS_PER_VALUE: f64 = 16.0;

const POW10_F64: [f64; 23] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16,
    1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
];

const POW10_I64: [i64; 19] = [
    1,
    10,
    100,
    1_000,
    10_000,
    100_000,
    1_000_000,
    10_000_000,
    100_000_000,
    1_000_000_000,
    10_000_000_000,
    100_000_000_000,
    1_000_000_000_000,
    10_000_000_000_000,
    100_000_000_000_000,
    1_000_000_000_000_000,
    10_000_000_000_000_000,
    100_000_000_000_000_000,
    1_000_000_000_000_000_000,
];

/// How a series' timestamps are predicted; residuals are `t - prediction`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum TimestampMode {
    /// `t_i = t_{i-1} + (t_{i-1} - t_{i-2}) + residual` (Gorilla's predictor).
    DeltaOfDelta = 0,
    /// `t_i = t_{i-1} + step + residual`.
    Delta = 1,
    /// `t_i = grid point after the previous one + residual`, where the grid
    /// absorbs jitter instead of accumulating it (see [`Grid`]).
    Grid = 2,
    /// `t_i = t_0 + i × step`, no residuals at all.
    Regular = 3,
}

/// How a series' values are stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum ValueMode {
    /// Each value's bits XORed with the previous value's, as 8 byte planes.
    RawXor = 0,
    /// Decimal, every mantissa equal.
    DecimalConst = 1,
    /// Decimal, `q_i = (m_i - m_{i-1}) / gcd` coded as `q_i - base`.
    DecimalDelta = 2,
    /// Decimal, `q_i = (m_i - m_{i-1}) / gcd` coded as `q_i - q_{i-1}`.
    DecimalDeltaOfDelta = 3,
}

impl TimestampMode {
    fn from_byte(byte: u8) -> Result<Self, ChunkError> {
        Ok(match byte {
            0 => TimestampMode::DeltaOfDelta,
            1 => TimestampMode::Delta,
            2 => TimestampMode::Grid,
            3 => TimestampMode::Regular,
            other => return Err(corrupt(format!("unknown timestamp mode {other}"))),
        })
    }
}

impl ValueMode {
    fn from_byte(byte: u8) -> Result<Self, ChunkError> {
        Ok(match byte {
            0 => ValueMode::RawXor,
            1 => ValueMode::DecimalConst,
            2 => ValueMode::DecimalDelta,
            3 => ValueMode::DecimalDeltaOfDelta,
            other => return Err(corrupt(format!("unknown value mode {other}"))),
        })
    }
}

/// What [`describe`] learns about one encoded series (for tests, stats and
/// debugging tools).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SeriesLayout {
    pub samples: usize,
    /// `None` for an empty series.
    pub timestamp_mode: Option<TimestampMode>,
    /// `None` for an empty series.
    pub value_mode: Option<ValueMode>,
    /// The common decimal exponent, for the decimal value modes.
    pub decimal_exponent: Option<i32>,
    /// Values kept as raw bits beside the decimal ones.
    pub exceptions: usize,
    /// Bytes of the version byte, the count and the timestamp column.
    pub timestamp_bytes: usize,
    /// Bytes of the value column.
    pub value_bytes: usize,
}

// ───────────────────────────── encoding ─────────────────────────────

/// Appends the encoding of `samples` to `out`. The encoding is
/// self-delimiting: [`decode`] reports how many bytes it used, so encodings
/// can be concatenated.
///
/// # Panics
///
/// When `samples.len() > MAX_SAMPLES`.
pub fn encode(samples: &[Sample], out: &mut Vec<u8>) {
    assert!(
        samples.len() <= MAX_SAMPLES,
        "packed::encode: {} samples, at most {MAX_SAMPLES} per call",
        samples.len()
    );
    out.push(FORMAT_VERSION);
    put_uvarint(out, samples.len() as u64);
    if samples.is_empty() {
        return;
    }
    encode_timestamps(samples, out);
    encode_values(samples, out);
}

fn encode_timestamps(samples: &[Sample], out: &mut Vec<u8>) {
    let t0 = samples[0].t;
    if samples.len() == 1 {
        out.push(TimestampMode::DeltaOfDelta as u8);
        put_ivarint(out, t0);
        return;
    }
    let deltas: Vec<u64> = samples
        .windows(2)
        .map(|pair| pair[1].t.wrapping_sub(pair[0].t) as u64)
        .collect();
    let step = median(&deltas);
    if deltas.iter().all(|&delta| delta == step) {
        out.push(TimestampMode::Regular as u8);
        put_ivarint(out, t0);
        put_uvarint(out, step);
        return;
    }

    // Candidates: (mode, parameter, zigzagged residuals).
    let mut candidates: Vec<(TimestampMode, u64, Vec<u64>)> = Vec::with_capacity(4);
    let mut grid_steps = vec![step];
    if let Some(refined) = refined_step(&deltas, step) {
        if refined != step {
            grid_steps.push(refined);
        }
    }
    for grid_step in grid_steps {
        let Some(grid_step) = i64::try_from(grid_step).ok().filter(|&step| step > 0) else {
            continue;
        };
        let mut grid = Grid::new(t0, grid_step);
        let residuals = samples[1..]
            .iter()
            .map(|s| {
                let residual = s.t.wrapping_sub(grid.predict());
                grid.advance(s.t);
                zigzag(residual)
            })
            .collect();
        candidates.push((TimestampMode::Grid, grid_step as u64, residuals));
    }
    let delta_residuals = deltas
        .iter()
        .map(|&delta| zigzag(delta.wrapping_sub(step) as i64))
        .collect();
    candidates.push((TimestampMode::Delta, step, delta_residuals));
    let dod_residuals = deltas
        .windows(2)
        .map(|pair| zigzag(pair[1].wrapping_sub(pair[0]) as i64))
        .collect();
    candidates.push((TimestampMode::DeltaOfDelta, deltas[0], dod_residuals));

    let (mode, parameter, residuals) = candidates
        .into_iter()
        .map(|candidate| (entropy_cost_bits(&candidate.2), candidate))
        .min_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, candidate)| candidate)
        .expect("at least two candidates");
    out.push(mode as u8);
    put_ivarint(out, t0);
    put_uvarint(out, parameter);
    for residual in residuals {
        put_uvarint(out, residual);
    }
}

/// The mean of the deltas within a quarter step of the median `step`: the
/// grid's period when jitter makes the median itself off by a little (a grid
/// one millisecond too long drifts off after a few hundred samples). Gaps and
/// phase changes are left out of the mean.
fn refined_step(deltas: &[u64], step: u64) -> Option<u64> {
    let tolerance = step / 4;
    let (sum, count) = deltas
        .iter()
        .filter(|&&delta| delta.abs_diff(step) <= tolerance)
        .fold((0u128, 0u128), |(sum, count), &delta| {
            (sum + u128::from(delta), count + 1)
        });
    if count == 0 {
        return None;
    }
    u64::try_from((sum + count / 2) / count).ok()
}

/// The grid predictor, shared by encoder and decoder.
///
/// It predicts the grid point one step after the last one. After each sample
/// the grid snaps to the grid point nearest that sample, unless the sample is
/// more than a quarter step away from every grid point (the series changed
/// phase), in which case the grid restarts at the sample. So iid jitter costs
/// `jitter_i - jitter_0` instead of `jitter_i - jitter_{i-1}` per sample, and
/// a missed scrape costs one larger residual without shifting the grid.
#[derive(Clone, Copy, Debug)]
struct Grid {
    anchor: i64,
    step: i64,
}

impl Grid {
    fn new(t0: i64, step: i64) -> Self {
        debug_assert!(step > 0);
        Grid { anchor: t0, step }
    }

    #[inline]
    fn predict(&self) -> i64 {
        self.anchor.wrapping_add(self.step)
    }

    #[inline]
    fn advance(&mut self, t: i64) {
        let from_prediction = t.wrapping_sub(self.predict());
        let mut off_grid = from_prediction.rem_euclid(self.step);
        if off_grid > self.step / 2 {
            off_grid -= self.step;
        }
        let tolerance = self.step / 4;
        self.anchor = if off_grid.abs() <= tolerance {
            t.wrapping_sub(off_grid)
        } else {
            t
        };
    }
}

fn encode_values(samples: &[Sample], out: &mut Vec<u8>) {
    let plan = plan_decimal(samples);
    let n = samples.len();
    let Some(plan) = plan else {
        encode_raw_xor(samples, out);
        return;
    };
    if plan.cost_bits > RAW_CHECK_BITS_PER_VALUE * n as f64 {
        let mut raw = Vec::with_capacity(1 + 8 * n);
        encode_raw_xor(samples, &mut raw);
        if entropy_cost_bits_of_bytes(&raw[1..]) < plan.cost_bits {
            out.extend_from_slice(&raw);
            return;
        }
    }
    out.push(plan.mode as u8);
    put_ivarint(out, i64::from(plan.exponent));
    put_uvarint(out, plan.exceptions.len() as u64);
    let mut next_index = 0;
    for &index in &plan.exceptions {
        put_uvarint(out, (index - next_index) as u64);
        out.extend_from_slice(&samples[index].v.to_bits().to_le_bytes());
        next_index = index + 1;
    }
    let Some(&first) = plan.mantissas.first() else {
        return;
    };
    put_ivarint(out, first);
    match plan.mode {
        ValueMode::DecimalConst => {}
        ValueMode::DecimalDelta | ValueMode::DecimalDeltaOfDelta => {
            put_uvarint(out, plan.gcd as u64);
            if plan.mode == ValueMode::DecimalDelta {
                put_ivarint(out, plan.base);
            }
            for &residual in &plan.residuals {
                put_uvarint(out, residual);
            }
        }
        ValueMode::RawXor => unreachable!("a decimal plan is never raw"),
    }
}

/// How a series' values go down the decimal path.
struct DecimalPlan {
    mode: ValueMode,
    exponent: i32,
    /// Indexes of values kept as raw bits, increasing.
    exceptions: Vec<usize>,
    /// Mantissas of the other values, in order.
    mantissas: Vec<i64>,
    gcd: i64,
    base: i64,
    /// Zigzagged residuals after the first mantissa (and, for delta of delta,
    /// including the first quotient).
    residuals: Vec<u64>,
    cost_bits: f64,
}

/// Estimated cost of one exception: its index gap and its 8 raw bytes.
const EXCEPTION_COST_BITS: f64 = 72.0;

fn plan_decimal(samples: &[Sample]) -> Option<DecimalPlan> {
    let decimals: Vec<Option<(i64, i32)>> = samples.iter().map(|s| to_decimal(s.v)).collect();
    let exponent = choose_exponent(&decimals)?;

    let mut exceptions = Vec::new();
    let mut mantissas = Vec::with_capacity(samples.len());
    for (index, (sample, decimal)) in samples.iter().zip(&decimals).enumerate() {
        let mantissa = decimal
            .and_then(|(m, e)| rescale(m, e, exponent))
            .filter(|&mantissa| {
                // The guarantee: whatever the reasoning above, a value only takes
                // the decimal path if decoding gives back its exact bits.
                decimal_to_f64(mantissa, exponent).to_bits() == sample.v.to_bits()
            });
        match mantissa {
            Some(mantissa) => mantissas.push(mantissa),
            None => exceptions.push(index),
        }
    }
    if mantissas.is_empty() {
        return None;
    }
    let exception_cost = EXCEPTION_COST_BITS * exceptions.len() as f64;

    let first = mantissas[0];
    if mantissas.iter().all(|&m| m == first) {
        return Some(DecimalPlan {
            mode: ValueMode::DecimalConst,
            exponent,
            exceptions,
            mantissas,
            gcd: 1,
            base: 0,
            residuals: Vec::new(),
            cost_bits: exception_cost,
        });
    }
    let deltas: Vec<i64> = mantissas
        .windows(2)
        .map(|pair| pair[1].wrapping_sub(pair[0]))
        .collect();
    let gcd = deltas
        .iter()
        .fold(0u64, |acc, delta| gcd(acc, delta.unsigned_abs()));
    let gcd = i64::try_from(gcd).unwrap_or(1);
    debug_assert!(gcd > 0, "not all mantissas are equal");
    let quotients: Vec<i64> = deltas.iter().map(|delta| delta / gcd).collect();

    let base = median_i64(&quotients);
    let delta_residuals: Vec<u64> = quotients
        .iter()
        .map(|q| zigzag(q.wrapping_sub(base)))
        .collect();
    let dod_residuals: Vec<u64> = std::iter::once(zigzag(quotients[0]))
        .chain(
            quotients
                .windows(2)
                .map(|pair| zigzag(pair[1].wrapping_sub(pair[0]))),
        )
        .collect();
    let delta_cost = entropy_cost_bits(&delta_residuals);
    let dod_cost = entropy_cost_bits(&dod_residuals);
    let (mode, residuals, cost) = if dod_cost < delta_cost {
        (ValueMode::DecimalDeltaOfDelta, dod_residuals, dod_cost)
    } else {
        (ValueMode::DecimalDelta, delta_residuals, delta_cost)
    };
    Some(DecimalPlan {
        mode,
        exponent,
        exceptions,
        mantissas,
        gcd,
        base,
        residuals,
        cost_bits: exception_cost + cost,
    })
}

/// The shortest decimal `(mantissa, exponent)` whose [`decimal_to_f64`] gives
/// back `v`'s exact bits, if there is one with `|exponent| ≤ 22`.
fn to_decimal(v: f64) -> Option<(i64, i32)> {
    if !v.is_finite() {
        return None;
    }
    if v == 0.0 {
        // -0.0 has no decimal form: 0 decodes as +0.0.
        return v.is_sign_positive().then_some((0, 0));
    }
    const TWO_POW_63: f64 = 9_223_372_036_854_775_808.0;
    if v.fract() == 0.0 {
        if v.abs() < TWO_POW_63 {
            // Integral and in range: exact as is.
            return Some((v as i64, 0));
        }
        // Huge integers: try m × 10^e, shortest mantissa first.
        for exponent in (1..=MAX_DECIMAL_EXPONENT).rev() {
            let mantissa = (v / POW10_F64[exponent as usize]).round();
            if mantissa.abs() >= MAX_EXACT_MANTISSA as f64 {
                continue;
            }
            let mantissa = mantissa as i64;
            if decimal_to_f64(mantissa, exponent).to_bits() == v.to_bits() {
                return Some((mantissa, exponent));
            }
        }
        return None;
    }
    for places in 1..=MAX_DECIMAL_EXPONENT {
        let scaled = v * POW10_F64[places as usize];
        if scaled.abs() >= MAX_EXACT_MANTISSA as f64 {
            return None;
        }
        let rounded = scaled.round() as i64;
        // `scaled` carries up to two roundings, which can put it more than
        // half a unit from the mantissa we want once it exceeds 2^51.
        let neighbours: &[i64] = if rounded.unsigned_abs() >= 1 << 51 {
            &[0, -1, 1]
        } else {
            &[0]
        };
        for &offset in neighbours {
            let mantissa = rounded + offset;
            if decimal_to_f64(mantissa, -places).to_bits() == v.to_bits() {
                return Some((mantissa, -places));
            }
        }
    }
    None
}

/// `mantissa × 10^exponent` rounded to the nearest `f64`: one correctly
/// rounded operation when `|mantissa| ≤ 2^53` and `|exponent| ≤ 22`. The
/// decoder computes exactly this.
#[inline]
fn decimal_to_f64(mantissa: i64, exponent: i32) -> f64 {
    if exponent >= 0 {
        mantissa as f64 * POW10_F64[exponent as usize]
    } else {
        mantissa as f64 / POW10_F64[(-exponent) as usize]
    }
}

/// The mantissa of `m × 10^e` at exponent `target`, if `target ≤ e` and the
/// result stays exact.
fn rescale(mantissa: i64, exponent: i32, target: i32) -> Option<i64> {
    if exponent < target {
        return None;
    }
    let shift = (exponent - target) as usize;
    if shift == 0 {
        return Some(mantissa);
    }
    if mantissa == 0 {
        return Some(0);
    }
    let scaled = mantissa.checked_mul(*POW10_I64.get(shift)?)?;
    (scaled.unsigned_abs() <= MAX_EXACT_MANTISSA).then_some(scaled)
}

/// The common exponent that lets the most values take the decimal path;
/// among equals the largest (smallest mantissas).
fn choose_exponent(decimals: &[Option<(i64, i32)>]) -> Option<i32> {
    let mut exponents: Vec<i32> = decimals.iter().flatten().map(|&(_, e)| e).collect();
    exponents.sort_unstable();
    exponents.dedup();
    if exponents.len() == 1 {
        return exponents.first().copied();
    }
    let mut best: Option<(usize, i32)> = None;
    for &candidate in &exponents {
        let fitting = decimals
            .iter()
            .flatten()
            .filter(|&&(m, e)| rescale(m, e, candidate).is_some())
            .count();
        if best.is_none_or(|(best_fitting, _)| fitting >= best_fitting) {
            best = Some((fitting, candidate));
        }
    }
    best.map(|(_, exponent)| exponent)
}

fn encode_raw_xor(samples: &[Sample], out: &mut Vec<u8>) {
    out.push(ValueMode::RawXor as u8);
    let n = samples.len();
    let start = out.len();
    out.resize(start + 8 * n, 0);
    let planes = &mut out[start..];
    let mut previous = 0u64;
    for (i, sample) in samples.iter().enumerate() {
        let bits = sample.v.to_bits();
        let xor = bits ^ previous;
        previous = bits;
        for (plane, byte) in xor.to_be_bytes().into_iter().enumerate() {
            planes[plane * n + i] = byte;
        }
    }
}

// ───────────────────────────── decoding ─────────────────────────────

/// Decodes one series encoding from the start of `bytes`, appending its
/// samples to `out`, and returns how many bytes it used. On error `out` is
/// left as it was.
pub fn decode(bytes: &[u8], out: &mut Vec<Sample>) -> Result<usize, ChunkError> {
    let original_len = out.len();
    let result = decode_into(bytes, out);
    if result.is_err() {
        out.truncate(original_len);
    }
    result.map(|layout| layout.timestamp_bytes + layout.value_bytes)
}

/// Decodes one series encoding and reports how it was encoded.
pub fn describe(bytes: &[u8]) -> Result<SeriesLayout, ChunkError> {
    decode_into(bytes, &mut Vec::new())
}

fn decode_into(bytes: &[u8], out: &mut Vec<Sample>) -> Result<SeriesLayout, ChunkError> {
    let mut reader = Reader { bytes, pos: 0 };
    let version = reader.byte()?;
    if version != FORMAT_VERSION {
        return Err(corrupt(format!(
            "packed series version {version}, this build reads {FORMAT_VERSION}"
        )));
    }
    let n = reader.uvarint()?;
    if n > MAX_SAMPLES as u64 {
        return Err(corrupt(format!("packed series claims {n} samples")));
    }
    let n = n as usize;
    let mut layout = SeriesLayout {
        samples: n,
        timestamp_mode: None,
        value_mode: None,
        decimal_exponent: None,
        exceptions: 0,
        timestamp_bytes: 0,
        value_bytes: 0,
    };
    if n == 0 {
        layout.timestamp_bytes = reader.pos;
        return Ok(layout);
    }
    let base = out.len();
    // Grow as data actually decodes; a corrupt count must not reserve much.
    out.reserve(n.min(1 << 12));
    layout.timestamp_mode = Some(decode_timestamps(&mut reader, n, out)?);
    layout.timestamp_bytes = reader.pos;
    let samples = &mut out[base..];
    let value_mode = ValueMode::from_byte(reader.byte()?)?;
    layout.value_mode = Some(value_mode);
    match value_mode {
        ValueMode::RawXor => decode_raw_xor(&mut reader, samples)?,
        mode => {
            let (exponent, exceptions) = decode_decimal(&mut reader, mode, samples)?;
            layout.decimal_exponent = Some(exponent);
            layout.exceptions = exceptions;
        }
    }
    layout.value_bytes = reader.pos - layout.timestamp_bytes;
    Ok(layout)
}

fn decode_timestamps(
    reader: &mut Reader<'_>,
    n: usize,
    out: &mut Vec<Sample>,
) -> Result<TimestampMode, ChunkError> {
    let mode = TimestampMode::from_byte(reader.byte()?)?;
    let mut t = reader.ivarint()?;
    out.push(Sample::new(t, 0.0));
    if n == 1 {
        return Ok(mode);
    }
    let parameter = reader.uvarint()?;
    match mode {
        TimestampMode::Regular => {
            for _ in 1..n {
                t = t.wrapping_add(parameter as i64);
                out.push(Sample::new(t, 0.0));
            }
        }
        TimestampMode::Delta => {
            for _ in 1..n {
                let residual = unzigzag(reader.uvarint()?);
                t = t.wrapping_add(parameter as i64).wrapping_add(residual);
                out.push(Sample::new(t, 0.0));
            }
        }
        TimestampMode::DeltaOfDelta => {
            let mut delta = parameter;
            t = t.wrapping_add(delta as i64);
            out.push(Sample::new(t, 0.0));
            for _ in 2..n {
                delta = delta.wrapping_add(unzigzag(reader.uvarint()?) as u64);
                t = t.wrapping_add(delta as i64);
                out.push(Sample::new(t, 0.0));
            }
        }
        TimestampMode::Grid => {
            let step = i64::try_from(parameter)
                .ok()
                .filter(|&step| step > 0)
                .ok_or_else(|| corrupt(format!("grid step {parameter}")))?;
            let mut grid = Grid::new(t, step);
            for _ in 1..n {
                t = grid.predict().wrapping_add(unzigzag(reader.uvarint()?));
                grid.advance(t);
                out.push(Sample::new(t, 0.0));
            }
        }
    }
    Ok(mode)
}

fn decode_raw_xor(reader: &mut Reader<'_>, samples: &mut [Sample]) -> Result<(), ChunkError> {
    let n = samples.len();
    let planes = reader.take(8 * n)?;
    let mut previous = 0u64;
    for (i, sample) in samples.iter_mut().enumerate() {
        let mut xor = 0u64;
        for plane in 0..8 {
            xor = (xor << 8) | u64::from(planes[plane * n + i]);
        }
        previous ^= xor;
        sample.v = f64::from_bits(previous);
    }
    Ok(())
}

/// Decodes a decimal value column into `samples`; returns the exponent and the
/// number of exceptions.
fn decode_decimal(
    reader: &mut Reader<'_>,
    mode: ValueMode,
    samples: &mut [Sample],
) -> Result<(i32, usize), ChunkError> {
    let n = samples.len();
    let exponent = reader.ivarint()?;
    if exponent.unsigned_abs() > MAX_DECIMAL_EXPONENT as u64 {
        return Err(corrupt(format!("decimal exponent {exponent}")));
    }
    let exponent = exponent as i32;
    let exception_count = reader.uvarint()?;
    if exception_count > n as u64 {
        return Err(corrupt(format!(
            "{exception_count} exceptions in a series of {n} samples"
        )));
    }
    let exception_count = exception_count as usize;
    // Exceptions are written straight into place; `is_exception` marks them.
    let mut is_exception = vec![false; if exception_count > 0 { n } else { 0 }];
    let mut next_index = 0usize;
    for _ in 0..exception_count {
        let gap = reader.uvarint()?;
        let index = u64::try_from(next_index)
            .ok()
            .and_then(|next| next.checked_add(gap))
            .filter(|&index| index < n as u64)
            .ok_or_else(|| corrupt("exception index out of range".to_owned()))?
            as usize;
        let bits = u64::from_le_bytes(reader.take(8)?.try_into().expect("8 bytes"));
        samples[index].v = f64::from_bits(bits);
        is_exception[index] = true;
        next_index = index + 1;
    }
    let mantissa_count = n - exception_count;
    if mantissa_count == 0 {
        return Ok((exponent, exception_count));
    }

    let mut mantissas = MantissaDecoder::new(reader, mode, mantissa_count)?;
    for (index, sample) in samples.iter_mut().enumerate() {
        if exception_count > 0 && is_exception[index] {
            continue;
        }
        let mantissa = mantissas.next(reader)?;
        sample.v = decimal_to_f64(mantissa, exponent);
    }
    Ok((exponent, exception_count))
}

/// Yields a decimal column's mantissas one by one.
struct MantissaDecoder {
    mode: ValueMode,
    current: i64,
    gcd: i64,
    base: i64,
    quotient: i64,
    produced: usize,
}

impl MantissaDecoder {
    fn new(reader: &mut Reader<'_>, mode: ValueMode, count: usize) -> Result<Self, ChunkError> {
        let current = reader.ivarint()?;
        let mut decoder = MantissaDecoder {
            mode,
            current,
            gcd: 1,
            base: 0,
            quotient: 0,
            produced: 0,
        };
        if mode != ValueMode::DecimalConst {
            let gcd = reader.uvarint()?;
            decoder.gcd = i64::try_from(gcd)
                .ok()
                .filter(|&gcd| gcd > 0)
                .ok_or_else(|| corrupt(format!("mantissa gcd {gcd}")))?;
            if mode == ValueMode::DecimalDelta {
                decoder.base = reader.ivarint()?;
            }
        }
        debug_assert!(count >= 1);
        Ok(decoder)
    }

    #[inline]
    fn next(&mut self, reader: &mut Reader<'_>) -> Result<i64, ChunkError> {
        if self.produced > 0 {
            match self.mode {
                ValueMode::DecimalConst | ValueMode::RawXor => {}
                ValueMode::DecimalDelta => {
                    let quotient = self.base.wrapping_add(unzigzag(reader.uvarint()?));
                    self.current = self.current.wrapping_add(quotient.wrapping_mul(self.gcd));
                }
                ValueMode::DecimalDeltaOfDelta => {
                    let residual = unzigzag(reader.uvarint()?);
                    self.quotient = if self.produced == 1 {
                        residual
                    } else {
                        self.quotient.wrapping_add(residual)
                    };
                    self.current = self
                        .current
                        .wrapping_add(self.quotient.wrapping_mul(self.gcd));
                }
            }
        }
        self.produced += 1;
        Ok(self.current)
    }
}

// ───────────────────────────── pages ─────────────────────────────

thread_local! {
    static COMPRESSOR: RefCell<Option<(i32, zstd::bulk::Compressor<'static>)>> =
        const { RefCell::new(None) };
    static DECOMPRESSOR: RefCell<Option<zstd::bulk::Decompressor<'static>>> =
        const { RefCell::new(None) };
}

/// Compresses one page (concatenated series encodings) with zstd at `level`
/// (see [`DEFAULT_ZSTD_LEVEL`]). The frame records its content size, which
/// [`page_decompress`] relies on. Contexts are reused per thread.
pub fn page_compress(raw: &[u8], level: i32) -> Vec<u8> {
    COMPRESSOR.with(|cell| {
        let mut slot = cell.borrow_mut();
        if slot.as_ref().is_none_or(|(cached, _)| *cached != level) {
            let compressor =
                zstd::bulk::Compressor::new(level).expect("creating a zstd compression context");
            *slot = Some((level, compressor));
        }
        let (_, compressor) = slot.as_mut().expect("just set");
        compressor
            .compress(raw)
            .expect("zstd compression into a growable buffer")
    })
}

/// Decompresses a page written by [`page_compress`], replacing the contents
/// of `out`. Fails on a corrupt frame, a frame without a content size, or one
/// that claims more than [`MAX_PAGE_BYTES`].
pub fn page_decompress(compressed: &[u8], out: &mut Vec<u8>) -> Result<(), ChunkError> {
    let size = match zstd::zstd_safe::get_frame_content_size(compressed) {
        Ok(Some(size)) if size <= MAX_PAGE_BYTES as u64 => size as usize,
        Ok(Some(size)) => return Err(corrupt(format!("zstd page claims {size} bytes"))),
        Ok(None) => return Err(corrupt("zstd page without a content size".to_owned())),
        Err(_) => return Err(corrupt("not a zstd frame".to_owned())),
    };
    out.clear();
    out.reserve_exact(size);
    let written = DECOMPRESSOR.with(|cell| {
        let mut slot = cell.borrow_mut();
        if slot.is_none() {
            let decompressor = zstd::bulk::Decompressor::new()
                .map_err(|e| corrupt(format!("creating a zstd context: {e}")))?;
            *slot = Some(decompressor);
        }
        let decompressor = slot.as_mut().expect("just set");
        decompressor
            .decompress_to_buffer(compressed, out)
            .map_err(|e| corrupt(format!("zstd page: {e}")))
    });
    match written {
        Ok(written) if written == size && out.len() == size => Ok(()),
        Ok(written) => {
            out.clear();
            Err(corrupt(format!(
                "zstd page inflated to {written} bytes, its header says {size}"
            )))
        }
        Err(e) => {
            out.clear();
            Err(e)
        }
    }
}

// ───────────────────────────── primitives ─────────────────────────────

fn corrupt(message: String) -> ChunkError {
    ChunkError(format!("packed series: {message}"))
}

struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    #[inline]
    fn byte(&mut self) -> Result<u8, ChunkError> {
        let byte = *self.bytes.get(self.pos).ok_or_else(|| self.truncated())?;
        self.pos += 1;
        Ok(byte)
    }

    #[inline]
    fn take(&mut self, len: usize) -> Result<&'a [u8], ChunkError> {
        let end = self
            .pos
            .checked_add(len)
            .filter(|&end| end <= self.bytes.len())
            .ok_or_else(|| self.truncated())?;
        let slice = &self.bytes[self.pos..end];
        self.pos = end;
        Ok(slice)
    }

    #[inline]
    fn uvarint(&mut self) -> Result<u64, ChunkError> {
        // Fast path: a single byte.
        if let Some(&byte) = self.bytes.get(self.pos) {
            if byte < 0x80 {
                self.pos += 1;
                return Ok(u64::from(byte));
            }
        }
        let mut value = 0u64;
        let mut shift = 0u32;
        loop {
            let byte = self.byte()?;
            if shift == 63 && byte > 1 {
                return Err(corrupt(format!(
                    "varint overflows 64 bits at byte {}",
                    self.pos
                )));
            }
            value |= u64::from(byte & 0x7f) << shift;
            if byte < 0x80 {
                return Ok(value);
            }
            shift += 7;
            if shift > 63 {
                return Err(corrupt(format!(
                    "varint longer than 10 bytes at byte {}",
                    self.pos
                )));
            }
        }
    }

    #[inline]
    fn ivarint(&mut self) -> Result<i64, ChunkError> {
        self.uvarint().map(unzigzag)
    }

    #[cold]
    fn truncated(&self) -> ChunkError {
        corrupt(format!(
            "truncated at byte {} of {}",
            self.pos,
            self.bytes.len()
        ))
    }
}

#[inline]
fn put_uvarint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push((value as u8) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

#[inline]
fn put_ivarint(out: &mut Vec<u8>, value: i64) {
    put_uvarint(out, zigzag(value));
}

#[inline]
fn zigzag(x: i64) -> u64 {
    ((x << 1) ^ (x >> 63)) as u64
}

#[inline]
fn unzigzag(x: u64) -> i64 {
    ((x >> 1) as i64) ^ -((x & 1) as i64)
}

fn gcd(mut a: u64, mut b: u64) -> u64 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

fn median(values: &[u64]) -> u64 {
    let mut sorted = values.to_vec();
    let middle = sorted.len() / 2;
    *sorted.select_nth_unstable(middle).1
}

fn median_i64(values: &[i64]) -> i64 {
    let mut sorted = values.to_vec();
    let middle = sorted.len() / 2;
    *sorted.select_nth_unstable(middle).1
}

/// Estimated size in bits of `values` as zigzag varints after an order-0
/// entropy coder (zstd's Huffman literals): the byte entropy times the number
/// of bytes. A proxy used only to choose between encodings.
fn entropy_cost_bits(values: &[u64]) -> f64 {
    let mut histogram = [0u32; 256];
    let mut total = 0u32;
    for &value in values {
        let mut value = value;
        while value >= 0x80 {
            histogram[(value as u8 | 0x80) as usize] += 1;
            total += 1;
            value >>= 7;
        }
        histogram[value as usize] += 1;
        total += 1;
    }
    entropy_bits(&histogram, total)
}

fn entropy_cost_bits_of_bytes(bytes: &[u8]) -> f64 {
    let mut histogram = [0u32; 256];
    for &byte in bytes {
        histogram[byte as usize] += 1;
    }
    entropy_bits(&histogram, bytes.len() as u32)
}

fn entropy_bits(histogram: &[u32; 256], total: u32) -> f64 {
    if total == 0 {
        return 0.0;
    }
    let total = f64::from(total);
    histogram
        .iter()
        .filter(|&&count| count > 0)
        .map(|&count| {
            let count = f64::from(count);
            count * (total / count).log2()
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chunk::xor::tests::{adversarial_f64, increasing_timestamps};
    use crate::chunk::xor::XorChunk;
    use model::sample::STALE_NAN_BITS;
    use proptest::prelude::*;

    fn assert_round_trip(samples: &[Sample]) -> Vec<u8> {
        let mut bytes = vec![0xAA]; // encodings append: keep a prefix
        encode(samples, &mut bytes);
        bytes.extend_from_slice(b"next"); // and are self-delimiting
        let mut decoded = vec![Sample::new(7, 7.0)];
        let consumed = decode(&bytes[1..], &mut decoded).expect("decodes");
        assert_eq!(&bytes[1 + consumed..], b"next");
        assert_eq!(decoded.len(), samples.len() + 1);
        for (i, (got, want)) in decoded[1..].iter().zip(samples).enumerate() {
            assert!(got.bit_eq(want), "sample {i}: got {got:?}, want {want:?}");
        }
        bytes[1..1 + consumed].to_vec()
    }

    fn samples_from(ts: &[i64], vs: &[f64]) -> Vec<Sample> {
        ts.iter()
            .zip(vs)
            .map(|(&t, &v)| Sample::new(t, v))
            .collect()
    }

    /// Deterministic jitter for unit tests (no RNG dependency).
    fn jitter(i: u64, seed: u64) -> i64 {
        let mut x = (i ^ seed.rotate_left(17)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        x ^= x >> 31;
        x = x.wrapping_mul(0xBF58_476D_1CE4_E5B9);
        x ^= x >> 29;
        (x % 11) as i64 - 5
    }

    fn scrape_times(n: usize, seed: u64) -> Vec<i64> {
        (0..n as u64)
            .map(|i| 1_700_000_000_000 + i as i64 * 15_000 + jitter(i, seed))
            .collect()
    }

    /// A CPU-seconds counter: ticks of 0.01 s, as node_exporter computes it.
    fn cpu_counter(n: usize, seed: u64) -> Vec<f64> {
        let mut ticks = 123_456_789i64;
        (0..n as u64)
            .map(|i| {
                ticks += 1_100 + jitter(i, seed) * 17;
                ticks as f64 / 100.0
            })
            .collect()
    }

    proptest! {
        #[test]
        fn round_trips_adversarial_samples(
            (ts, vs) in increasing_timestamps(300).prop_flat_map(|ts| {
                let n = ts.len();
                (Just(ts), prop::collection::vec(adversarial_f64(), n))
            })
        ) {
            assert_round_trip(&samples_from(&ts, &vs));
        }

        #[test]
        fn round_trips_any_timestamps(
            ts in prop::collection::vec(any::<i64>(), 0..200),
            v in adversarial_f64(),
        ) {
            let vs = vec![v; ts.len()];
            assert_round_trip(&samples_from(&ts, &vs));
        }

        #[test]
        fn round_trips_decimal_series_with_exceptions(
            ts in increasing_timestamps(300),
            start in -1_000_000_000i64..1_000_000_000,
            places in 0u32..12,
            steps in prop::collection::vec(prop_oneof![
                8 => -1000i64..1000,
                1 => Just(0i64),
                1 => any::<i64>().prop_map(|x| x >> 20),
            ], 300),
            odd in prop::collection::vec((any::<prop::sample::Index>(), adversarial_f64()), 0..5),
        ) {
            let scale = 10f64.powi(places as i32);
            let mut m = start;
            let mut vs: Vec<f64> = steps.iter().take(ts.len()).map(|&s| {
                m = m.wrapping_add(s);
                m as f64 / scale
            }).collect();
            for (index, v) in &odd {
                if !vs.is_empty() {
                    let i = index.index(vs.len());
                    vs[i] = *v;
                }
            }
            assert_round_trip(&samples_from(&ts, &vs));
        }

        #[test]
        fn decode_of_random_bytes_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..300)) {
            let mut out = Vec::new();
            if let Ok(consumed) = decode(&bytes, &mut out) {
                prop_assert!(consumed <= bytes.len());
            } else {
                prop_assert!(out.is_empty());
            }
            let _ = describe(&bytes);
        }

        #[test]
        fn decode_of_damaged_encodings_never_panics(
            (ts, vs) in increasing_timestamps(100).prop_flat_map(|ts| {
                let n = ts.len();
                (Just(ts), prop::collection::vec(adversarial_f64(), n))
            }),
            flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4),
        ) {
            let mut bytes = Vec::new();
            encode(&samples_from(&ts, &vs), &mut bytes);
            for (index, mask) in &flips {
                let i = index.index(bytes.len());
                bytes[i] ^= mask;
            }
            let mut out = Vec::new();
            let _ = decode(&bytes, &mut out);
        }

        #[test]
        fn truncated_encodings_are_errors(
            (ts, vs) in increasing_timestamps(100).prop_flat_map(|ts| {
                let n = ts.len();
                (Just(ts), prop::collection::vec(adversarial_f64(), n))
            }),
            cut in any::<prop::sample::Index>(),
        ) {
            let mut bytes = Vec::new();
            encode(&samples_from(&ts, &vs), &mut bytes);
            let cut = cut.index(bytes.len());
            let mut out = Vec::new();
            prop_assert!(decode(&bytes[..cut], &mut out).is_err());
            prop_assert!(out.is_empty());
        }

        #[test]
        fn decimal_conversion_is_exact_or_absent(v in adversarial_f64()) {
            if let Some((m, e)) = to_decimal(v) {
                prop_assert_eq!(decimal_to_f64(m, e).to_bits(), v.to_bits());
            }
        }

        #[test]
        fn pages_round_trip(raw in prop::collection::vec(any::<u8>(), 0..5000), level in 1i32..6) {
            let compressed = page_compress(&raw, level);
            let mut out = vec![1, 2, 3];
            page_decompress(&compressed, &mut out).expect("decompresses");
            prop_assert_eq!(out, raw);
        }

        #[test]
        fn page_decompress_of_garbage_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..300)) {
            let mut out = Vec::new();
            let _ = page_decompress(&bytes, &mut out);
        }
    }

    #[test]
    fn to_decimal_finds_the_shortest_form() {
        assert_eq!(to_decimal(12345.67), Some((1234567, -2)));
        // 17 significant digits: the mantissa would exceed 2^53.
        assert_eq!(to_decimal(0.1 + 0.2), None);
        assert_eq!(to_decimal(0.3), Some((3, -1)));
        assert_eq!(to_decimal(123456789.123), Some((123456789123, -3)));
        assert_eq!(to_decimal(1.0), Some((1, 0)));
        assert_eq!(to_decimal(4096.0 * 1_000_000.0), Some((4_096_000_000, 0)));
        assert_eq!(to_decimal(1e20), Some((1, 20)));
        assert_eq!(to_decimal(0.0), Some((0, 0)));
        assert_eq!(to_decimal(-0.0), None);
        assert_eq!(to_decimal(1e300), None);
        assert_eq!(to_decimal(f64::MIN_POSITIVE), None);
        assert_eq!(to_decimal(f64::NAN), None);
        assert_eq!(to_decimal(f64::INFINITY), None);
        // 2^62 is integral and below 2^63: kept as an exact integer.
        assert_eq!(to_decimal(2f64.powi(62)), Some((1 << 62, 0)));
    }

    #[test]
    fn edge_series_round_trip() {
        assert_round_trip(&[]);
        assert_round_trip(&[Sample::new(i64::MIN, -0.0)]);
        assert_round_trip(&[Sample::new(i64::MIN, 1.0), Sample::new(i64::MAX, 1.0)]);
        assert_round_trip(&[
            Sample::new(5, 1.0),
            Sample::new(5, 2.0),
            Sample::new(-5, 3.0),
        ]);
        let stale = f64::from_bits(STALE_NAN_BITS);
        assert_round_trip(&[Sample::new(0, stale), Sample::new(1, stale)]);
        let extremes = [
            f64::MAX,
            f64::MIN,
            5e-324,
            -5e-324,
            1e22,
            1e-22,
            9007199254740993.0,
        ];
        let ts: Vec<i64> = (0..extremes.len() as i64).collect();
        assert_round_trip(&samples_from(&ts, &extremes));
        // Integers beyond 2^53 in the same series as fractions.
        let mixed = [0.5, 2f64.powi(60), 0.25, -(2f64.powi(62)), 3.0];
        assert_round_trip(&samples_from(&ts[..5], &mixed));
    }

    #[test]
    fn cpu_counter_takes_the_decimal_path_and_beats_xor() {
        let n = 480;
        let ts = scrape_times(n, 1);
        let vs = cpu_counter(n, 2);
        let samples = samples_from(&ts, &vs);
        let bytes = assert_round_trip(&samples);
        let layout = describe(&bytes).expect("describes");
        assert_eq!(layout.value_mode, Some(ValueMode::DecimalDelta));
        assert_eq!(layout.decimal_exponent, Some(-2));
        assert_eq!(layout.exceptions, 0);
        assert_eq!(layout.timestamp_mode, Some(TimestampMode::Grid));

        let mut xor_bytes = 0;
        for chunk in samples.chunks(crate::chunk::xor::TARGET_SAMPLES_PER_CHUNK) {
            let mut xor = XorChunk::new();
            chunk.iter().for_each(|s| xor.append(s.t, s.v));
            xor_bytes += xor.bytes().len();
        }
        let packed_zstd = page_compress(&bytes, DEFAULT_ZSTD_LEVEL).len();
        // Measured: xor ≈ 4.5 bytes/sample, packed ≈ 2 raw, ≈ 1.3 after zstd.
        assert!(
            bytes.len() * 2 < xor_bytes,
            "packed {} bytes vs xor {xor_bytes}",
            bytes.len()
        );
        assert!(
            packed_zstd * 3 < xor_bytes,
            "packed+zstd {packed_zstd} vs xor {xor_bytes}"
        );
    }

    #[test]
    fn one_stale_marker_becomes_an_exception_not_a_fallback() {
        let n = 100;
        let ts = scrape_times(n, 3);
        let mut vs = cpu_counter(n, 4);
        vs[n - 1] = f64::from_bits(STALE_NAN_BITS);
        vs[10] = -0.0;
        let bytes = assert_round_trip(&samples_from(&ts, &vs));
        let layout = describe(&bytes).expect("describes");
        assert_eq!(layout.value_mode, Some(ValueMode::DecimalDelta));
        assert_eq!(layout.exceptions, 2);
    }

    #[test]
    fn one_overly_precise_value_does_not_drag_the_exponent() {
        let ts: Vec<i64> = (0..50).map(|i| i * 15_000).collect();
        let mut vs: Vec<f64> = (0..50).map(|i| f64::from(i) / 100.0).collect();
        vs[20] = 0.1 + 0.2;
        let bytes = assert_round_trip(&samples_from(&ts, &vs));
        let layout = describe(&bytes).expect("describes");
        assert_eq!(layout.decimal_exponent, Some(-2));
        assert_eq!(layout.exceptions, 1);
    }

    #[test]
    fn constant_and_regular_series_are_tiny() {
        let ts: Vec<i64> = (0..480).map(|i| 1_700_000_000_000 + i * 15_000).collect();
        let bytes = assert_round_trip(&samples_from(&ts, &[1.0; 480]));
        let layout = describe(&bytes).expect("describes");
        assert_eq!(layout.timestamp_mode, Some(TimestampMode::Regular));
        assert_eq!(layout.value_mode, Some(ValueMode::DecimalConst));
        assert!(bytes.len() < 20, "{} bytes", bytes.len());
    }

    #[test]
    fn gauges_in_kibibytes_are_divided_by_their_gcd() {
        let ts = scrape_times(200, 5);
        let vs: Vec<f64> = (0..200u64)
            .map(|i| (4_000_000 + jitter(i, 6) * 1_000) as f64 * 1024.0)
            .collect();
        let bytes = assert_round_trip(&samples_from(&ts, &vs));
        let layout = describe(&bytes).expect("describes");
        assert_eq!(layout.decimal_exponent, Some(0));
        // One byte per value residual: the 1024 × 1000 factor is divided out.
        assert!(layout.value_bytes < 200 + 20, "{layout:?}");
    }

    #[test]
    fn arbitrary_floats_fall_back_to_raw_bits() {
        let ts: Vec<i64> = (0..100).map(|i| i * 1000).collect();
        let vs: Vec<f64> = (0..100u64)
            .map(|i| {
                f64::from_bits(
                    0x3ff0_0000_0000_0000 | (jitter(i, 7) as u64).wrapping_mul(0x1234_5678_9abc),
                )
            })
            .map(|v| v.sqrt())
            .collect();
        let bytes = assert_round_trip(&samples_from(&ts, &vs));
        assert_eq!(
            describe(&bytes).expect("describes").value_mode,
            Some(ValueMode::RawXor)
        );
    }

    #[test]
    fn jittered_timestamps_use_the_grid_and_survive_gaps() {
        let mut ts = scrape_times(300, 8);
        ts.drain(100..110); // a missed stretch of scrapes
        for t in &mut ts[200..] {
            *t += 7_000; // the target restarted with another phase
        }
        let vs = vec![0.0; ts.len()];
        let bytes = assert_round_trip(&samples_from(&ts, &vs));
        let layout = describe(&bytes).expect("describes");
        assert_eq!(layout.timestamp_mode, Some(TimestampMode::Grid));
        // About one byte per timestamp residual.
        assert!(layout.timestamp_bytes < ts.len() + 30, "{layout:?}");
    }

    /// Version 1 encoding of a small jittered 0.01-resolution counter that
    /// ends in a stale marker. Decoding it must keep working as long as
    /// version 1 is readable; if the encoder's choices change, only the
    /// second assertion may be updated.
    const VERSION_1_FIXTURE: [u8; 38] = [
        0x01, 0x06, 0x00, 0x86, 0xa0, 0xab, 0xfe, 0xf9, 0x62, 0x96, 0x75, 0x01, 0x12, 0x13, 0x0c,
        0x02, 0x03, 0x01, 0x05, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0xf0, 0x7f, 0x8e, 0xda, 0x96,
        0x01, 0x01, 0xae, 0x11, 0x00, 0x02, 0x00, 0x00,
    ];

    fn version_1_fixture_samples() -> Vec<Sample> {
        let ts = [
            1_700_000_000_003,
            1_700_000_015_001,
            1_700_000_029_998,
            1_700_000_045_004,
            1_700_000_060_000,
            1_700_000_075_002,
        ];
        let stale = f64::from_bits(STALE_NAN_BITS);
        samples_from(
            &ts,
            &[12345.67, 12356.78, 12367.9, 12379.01, 12390.12, stale],
        )
    }

    #[test]
    fn decodes_the_version_1_fixture() {
        let mut decoded = Vec::new();
        let consumed = decode(&VERSION_1_FIXTURE, &mut decoded).expect("version 1 decodes");
        assert_eq!(consumed, VERSION_1_FIXTURE.len());
        let expected = version_1_fixture_samples();
        assert_eq!(decoded.len(), expected.len());
        assert!(decoded.iter().zip(&expected).all(|(a, b)| a.bit_eq(b)));
        let layout = describe(&VERSION_1_FIXTURE).expect("describes");
        assert_eq!(layout.value_mode, Some(ValueMode::DecimalDelta));
        assert_eq!(layout.exceptions, 1);

        let mut encoded = Vec::new();
        encode(&expected, &mut encoded);
        assert_eq!(encoded, VERSION_1_FIXTURE, "the encoder's choices changed");
    }

    #[test]
    fn unknown_version_and_modes_are_errors() {
        let mut bytes = Vec::new();
        encode(&[Sample::new(1, 1.0), Sample::new(2, 2.0)], &mut bytes);
        let mut wrong_version = bytes.clone();
        wrong_version[0] = 2;
        assert!(decode(&wrong_version, &mut Vec::new())
            .unwrap_err()
            .0
            .contains("version 2"));
        let mut wrong_mode = bytes.clone();
        wrong_mode[2] = 9;
        assert!(decode(&wrong_mode, &mut Vec::new()).is_err());
    }

    #[test]
    fn page_decompress_refuses_lies_about_size() {
        let compressed = page_compress(&[7u8; 1000], DEFAULT_ZSTD_LEVEL);
        let mut out = Vec::new();
        assert!(page_decompress(&compressed[..compressed.len() - 1], &mut out).is_err());
        assert!(out.is_empty());
        assert!(page_decompress(b"not zstd", &mut out).is_err());
    }
}
