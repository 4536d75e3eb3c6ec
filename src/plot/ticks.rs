//! Numbers on the axes. Callers only name their axes; how the numbers are written is inferred
//! from the axis label and the data ([`Unit::infer`]), so every chart gets the same treatment:
//! bytes in KiB/MiB, dollars as `$1,000`, seconds as `5 ms`, counts as whole numbers, and ticks
//! at round values that do not crowd each other.

/// What an axis measures, which decides how its numbers are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    /// Bytes, in binary units: `512 KiB`, `1.5 MiB`.
    Bytes,
    /// US dollars: `$1,000`, `$14.40`, `$0.0075`.
    Usd,
    /// Seconds, in the unit that suits the value: `5 ms`, `120 µs`, `1.5 s`.
    Seconds,
    /// Whole numbers: `60`, `1,000` (never `60.0`).
    Count,
    /// Anything else: as few decimals as the ticks need, thousands separated.
    Plain,
}

impl Unit {
    /// The unit of an axis: a label that mentions bytes gives [`Unit::Bytes`], one that
    /// mentions USD or `$` gives [`Unit::Usd`], "seconds" or "(s)" gives [`Unit::Seconds`];
    /// otherwise data that are all whole numbers give [`Unit::Count`], and the rest
    /// [`Unit::Plain`].
    pub fn infer(label: &str, values: &[f64]) -> Unit {
        let l = label.to_lowercase();
        let finite: Vec<f64> = values.iter().copied().filter(|v| v.is_finite()).collect();
        if l.contains("bytes") || l.contains("(b)") {
            Unit::Bytes
        } else if l.contains("usd") || l.contains('$') {
            Unit::Usd
        } else if l.contains("seconds") || l.contains("(s)") || l.trim() == "s" {
            Unit::Seconds
        } else if !finite.is_empty()
            && finite
                .iter()
                .all(|v| (v - v.round()).abs() <= 1e-9 * v.abs().max(1.0))
        {
            Unit::Count
        } else {
            Unit::Plain
        }
    }
}

/// Drops the zeros at the end of a decimal fraction: `1.50` → `1.5`, `2.00` → `2`.
fn trim_zeros(s: String) -> String {
    if s.contains('.') && !s.contains('e') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    }
}

/// Decimals that show `sig` significant digits of `v`.
fn sig_decimals(v: f64, sig: i32) -> usize {
    if v == 0.0 || !v.is_finite() {
        return 0;
    }
    (sig - 1 - v.abs().log10().floor() as i32).max(0) as usize
}

/// The fewest decimals (up to 9) that write `v` exactly: `0.25` → 2, `1000` → 0.
pub(super) fn exact_decimals(v: f64) -> usize {
    (0..9)
        .find(|&d| {
            let p = 10f64.powi(d as i32);
            ((v * p).round() / p - v).abs() <= 1e-9 * v.abs().max(1e-300)
        })
        .unwrap_or(9)
}

/// `v` with `sig` significant digits (at most `max_decimals` decimals), thousands separated,
/// trailing zeros dropped.
fn significant(v: f64, sig: i32, max_decimals: usize) -> String {
    trim_zeros(crate::table::thousands(
        v,
        sig_decimals(v, sig).min(max_decimals),
    ))
}

/// Bytes in binary units, three significant digits: `1536` → `1.5 KiB`, `1048576` → `1 MiB`.
pub fn format_bytes(v: f64) -> String {
    const UNITS: [&str; 6] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
    let mut x = v;
    let mut u = 0;
    while u < UNITS.len() - 1 {
        // Rounded to three digits, 1023.9 KiB would read "1,024 KiB": move up a unit.
        let rounded: f64 = significant(x.abs(), 3, 2)
            .replace(',', "")
            .parse()
            .unwrap_or(0.0);
        if rounded < 1024.0 {
            break;
        }
        x /= 1024.0;
        u += 1;
    }
    format!("{} {}", significant(x, 3, 2), UNITS[u])
}

/// US dollars: whole dollars from $100 (`$1,000`), cents below (`$14.40`, or `$10` when
/// whole), two significant digits under a dollar (`$0.50`, `$0.0075`).
pub fn format_usd(v: f64) -> String {
    let sign = if v < 0.0 { "-" } else { "" };
    let a = v.abs();
    let cents = (a * 100.0).round() / 100.0;
    let body = if a >= 99.995 || a == 0.0 {
        crate::table::thousands(a, 0)
    } else if a >= 1.0 && cents.fract() == 0.0 {
        crate::table::thousands(cents, 0)
    } else if a >= 1.0 {
        format!("{a:.2}")
    } else {
        format!("{a:.*}", sig_decimals(a, 2).max(2))
    };
    format!("{sign}${body}")
}

/// Seconds in the unit that suits the value, three significant digits: `0.005` → `5 ms`.
pub fn format_seconds(v: f64) -> String {
    let a = v.abs();
    let (x, unit) = if a == 0.0 || a >= 1.0 {
        (v, "s")
    } else if a >= 1e-3 {
        (v * 1e3, "ms")
    } else if a >= 1e-6 {
        (v * 1e6, "µs")
    } else {
        (v * 1e9, "ns")
    };
    format!("{} {unit}", significant(x, 3, 3))
}

/// A whole number, thousands separated (`1,000`); from a million on, `1.5M`, `2B`, `3T`.
pub fn format_count(v: f64) -> String {
    if v.abs() >= 1e6 {
        return format_large(v);
    }
    crate::table::thousands(v.round(), 0)
}

/// A million and more with a suffix: `1.5M`, `2B`, `3T`.
fn format_large(v: f64) -> String {
    let (div, suffix) = match v.abs() {
        a if a >= 1e12 => (1e12, "T"),
        a if a >= 1e9 => (1e9, "B"),
        _ => (1e6, "M"),
    };
    format!("{}{suffix}", significant(v / div, 3, 2))
}

/// A plain number with `decimals` decimals, thousands separated; from a million on with a
/// suffix (`2.5M`), and under a thousandth in scientific notation (`2.5e-5`).
pub fn format_number(v: f64, decimals: usize) -> String {
    let a = v.abs();
    if a >= 1e6 {
        format_large(v)
    } else if a != 0.0 && a < 1e-3 {
        let s = format!("{v:.2e}");
        let (mantissa, exp) = s.split_once('e').unwrap_or((&s, "0"));
        format!("{}e{exp}", trim_zeros(mantissa.to_string()))
    } else {
        crate::table::thousands(v, decimals)
    }
}

/// A tick label: `decimals` is the axis's own (plain linear axes write every tick with the
/// same decimals); `None` uses the fewest that write the value exactly.
pub(super) fn tick_label(unit: Unit, v: f64, decimals: Option<usize>) -> String {
    match unit {
        Unit::Bytes => format_bytes(v),
        Unit::Usd => format_usd(v),
        Unit::Seconds => format_seconds(v),
        Unit::Count => format_count(v),
        Unit::Plain => format_number(v, decimals.unwrap_or_else(|| exact_decimals(v))),
    }
}

/// A measured value (e.g. printed on a bar): as its axis writes it, plain numbers with three
/// significant digits.
pub fn format_value(unit: Unit, v: f64) -> String {
    match unit {
        Unit::Plain if v.abs() < 1e6 && (v == 0.0 || v.abs() >= 1e-3) => significant(v, 3, 6),
        _ => tick_label(unit, v, None),
    }
}

/// The 1, 2 or 5 × 10ⁿ step at least as large as `raw`.
fn nice_step(raw: f64) -> f64 {
    let raw = raw.max(1e-300);
    let p = 10f64.powf(raw.log10().floor());
    [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .map(|m| m * p)
        .find(|s| *s >= raw * (1.0 - 1e-9))
        .unwrap_or(10.0 * p)
}

/// Ticks of a linear axis: multiples of a 1-2-5 step (of KiB/MiB/… for bytes, of ms/µs for
/// seconds), at most eight; never a fraction on a [`Unit::Count`] axis.
pub fn linear_ticks(lo: f64, hi: f64, unit: Unit) -> Vec<f64> {
    if !(lo.is_finite() && hi.is_finite() && hi > lo) {
        return vec![lo];
    }
    let top = lo.abs().max(hi.abs());
    let scale = match unit {
        Unit::Bytes if top >= 1024.0 => 1024f64.powi((top.log2() / 10.0).floor().min(5.0) as i32),
        Unit::Seconds if top < 1.0 => 10f64.powi(3 * (top.log10() / 3.0).floor().max(-3.0) as i32),
        _ => 1.0,
    };
    // The finest 1-2-5 step that gives at most eight ticks.
    let mut step = nice_step((hi - lo) / scale / 8.0) * scale;
    if unit == Unit::Count {
        step = step.max(1.0);
    }
    let count = |step: f64| (hi / step).floor() - (lo / step).ceil() + 1.0;
    while count(step) > 8.0 {
        step = nice_step(step * 1.01);
    }
    let (first, last) = ((lo / step).ceil() as i64, (hi / step).floor() as i64);
    (first..=last).map(|k| k as f64 * step).collect()
}

/// `m × 10^e`, exact for the small integers and exponents ticks use.
fn decimal(m: f64, e: i32) -> f64 {
    if e >= 0 {
        m * 10f64.powi(e)
    } else {
        m / 10f64.powi(-e)
    }
}

/// Ticks (and lighter grid lines) of a logarithmic axis. `binary`: at powers of two (bytes,
/// or data that are all powers of two, such as context lengths); otherwise at 1, 2 and 5 ×
/// 10ⁿ, or at every (second, third…) power of ten when the range spans many decades. At most
/// eight ticks; whole numbers only on a [`Unit::Count`] axis.
pub fn log_ticks(lo: f64, hi: f64, unit: Unit, binary: bool) -> (Vec<f64>, Vec<f64>) {
    if !(lo > 0.0 && hi > lo && hi.is_finite()) {
        return (vec![lo.max(1e-300)], Vec::new());
    }
    let keep = |v: &f64| *v >= lo && *v <= hi && (unit != Unit::Count || *v >= 1.0);
    if binary {
        let (a, b) = (lo.log2().ceil() as i32, hi.log2().floor() as i32);
        for s in [1, 2, 3, 4, 5, 10, 20, 30, 50, 100] {
            let major: Vec<f64> = (a..=b)
                .filter(|k| k.rem_euclid(s) == 0)
                .map(|k| 2f64.powi(k))
                .filter(keep)
                .collect();
            if major.len() <= 8 {
                if major.len() >= 2 {
                    let minor = (a..=b)
                        .filter(|k| k.rem_euclid(s) != 0 && b - a <= 40)
                        .map(|k| 2f64.powi(k))
                        .filter(keep)
                        .collect();
                    return (major, minor);
                }
                break;
            }
        }
    }
    let (a, b) = (lo.log10().floor() as i32, hi.log10().ceil() as i32);
    let at = |mantissas: &[f64], every: i32| -> Vec<f64> {
        (a..=b)
            .filter(|e| e.rem_euclid(every) == 0)
            .flat_map(|e| mantissas.iter().map(move |&m| decimal(m, e)))
            .filter(keep)
            .collect()
    };
    let minor_of = |major: &[f64]| -> Vec<f64> {
        if b - a > 6 {
            return Vec::new();
        }
        at(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0], 1)
            .into_iter()
            .filter(|v| !major.iter().any(|m| (m - v).abs() <= 1e-9 * v))
            .collect()
    };
    let major = at(&[1.0, 2.0, 5.0], 1);
    if major.len() > 8 {
        for every in [1, 2, 3, 5, 10, 20, 50, 100] {
            let major = at(&[1.0], every);
            if major.len() <= 8 {
                let minor = if every == 1 {
                    minor_of(&major)
                } else {
                    Vec::new()
                };
                return (major, minor);
            }
        }
    }
    if major.len() >= 3 {
        let minor = minor_of(&major);
        return (major, minor);
    }
    let finer = at(&[1.0, 1.5, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0], 1);
    if finer.len() >= 2 && finer.len() <= 8 {
        return (finer, Vec::new());
    }
    (linear_ticks(lo, hi, unit), Vec::new())
}

/// The smallest `k` such that every `k`-th label leaves `gap` pixels between neighbours:
/// `positions` are the labels' centres along the axis, `sizes` their extents along it.
pub fn thinning(positions: &[f64], sizes: &[f64], gap: f64) -> usize {
    let n = positions.len();
    (1..=n.max(1))
        .find(|&k| {
            let kept: Vec<usize> = (0..n).step_by(k).collect();
            kept.windows(2).all(|w| {
                (positions[w[1]] - positions[w[0]]).abs() >= (sizes[w[0]] + sizes[w[1]]) / 2.0 + gap
            })
        })
        .unwrap_or(n.max(1))
}

/// Splits a label into at most `max_lines` lines that each `fit`, breaking after `-`, `/` or
/// `_`, or at spaces; `None` when it cannot.
pub fn wrap_label(
    label: &str,
    fits: impl Fn(&str) -> bool,
    max_lines: usize,
) -> Option<Vec<String>> {
    let mut pieces: Vec<String> = Vec::new();
    let mut piece = String::new();
    for c in label.chars() {
        if c == ' ' && !piece.is_empty() {
            pieces.push(std::mem::take(&mut piece));
        }
        piece.push(c);
        if matches!(c, '-' | '/' | '_') {
            pieces.push(std::mem::take(&mut piece));
        }
    }
    if !piece.is_empty() {
        pieces.push(piece);
    }
    let mut lines: Vec<String> = Vec::new();
    let mut line = String::new();
    for p in pieces {
        let joined = format!("{line}{p}");
        if fits(joined.trim()) {
            line = joined;
        } else {
            if line.trim().is_empty() {
                return None;
            }
            lines.push(line.trim().to_string());
            line = p.trim_start().to_string();
            if !fits(&line) {
                return None;
            }
        }
    }
    if !line.trim().is_empty() {
        lines.push(line.trim().to_string());
    }
    (lines.len() <= max_lines).then_some(lines)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plot::Scale;

    #[test]
    fn units_are_inferred_from_the_label_and_the_data() {
        assert_eq!(Unit::infer("peak bytes allocated", &[1.5]), Unit::Bytes);
        assert_eq!(Unit::infer("KV per request (bytes)", &[1.0]), Unit::Bytes);
        assert_eq!(Unit::infer("USD (log scale)", &[3750.0]), Unit::Usd);
        assert_eq!(Unit::infer("monthly cost ($)", &[3750.0]), Unit::Usd);
        assert_eq!(Unit::infer("seconds", &[0.005]), Unit::Seconds);
        assert_eq!(Unit::infer("time per token (s)", &[0.005]), Unit::Seconds);
        assert_eq!(Unit::infer("tokens/s", &[12.0, 130.5]), Unit::Plain);
        assert_eq!(
            Unit::infer("sequences running", &[0.0, 8.0, 61.0]),
            Unit::Count
        );
        assert_eq!(
            Unit::infer("mean sequences running", &[7.8, 32.5]),
            Unit::Plain
        );
        assert_eq!(
            Unit::infer("FLOP per byte", &[0.5]),
            Unit::Plain,
            "per byte is not bytes"
        );
        assert_eq!(Unit::infer("x", &[]), Unit::Plain);
    }

    #[test]
    fn bytes_are_written_in_binary_units() {
        assert_eq!(format_bytes(0.0), "0 B");
        assert_eq!(format_bytes(512.0), "512 B");
        assert_eq!(format_bytes(1536.0), "1.5 KiB");
        assert_eq!(format_bytes(1048576.0), "1 MiB");
        assert_eq!(format_bytes(64.2 * 1048576.0), "64.2 MiB");
        assert_eq!(format_bytes(3.0 * 1073741824.0), "3 GiB");
        assert_eq!(
            format_bytes(1023.9 * 1024.0),
            "1 MiB",
            "rounding moves up a unit"
        );
    }

    #[test]
    fn dollars_are_written_like_money() {
        assert_eq!(format_usd(1000.0), "$1,000");
        assert_eq!(format_usd(3750.0), "$3,750");
        assert_eq!(format_usd(8250.6), "$8,251");
        assert_eq!(format_usd(10.0), "$10");
        assert_eq!(format_usd(14.4), "$14.40");
        assert_eq!(format_usd(0.5), "$0.50");
        assert_eq!(format_usd(0.0075), "$0.0075");
        assert_eq!(format_usd(0.0), "$0");
        assert_eq!(format_usd(-21.0), "-$21");
    }

    #[test]
    fn seconds_counts_and_plain_numbers() {
        assert_eq!(format_seconds(0.005), "5 ms");
        assert_eq!(format_seconds(0.0125), "12.5 ms");
        assert_eq!(format_seconds(0.00012), "120 µs");
        assert_eq!(format_seconds(1.5), "1.5 s");
        assert_eq!(format_count(60.0), "60");
        assert_eq!(format_count(1000.0), "1,000");
        assert_eq!(format_count(2_500_000.0), "2.5M");
        assert_eq!(format_number(0.5, 1), "0.5");
        assert_eq!(format_number(12345.0, 0), "12,345");
        assert_eq!(format_number(0.000025, 0), "2.5e-5");
        assert_eq!(format_value(Unit::Plain, 32.4567), "32.5");
        assert_eq!(format_value(Unit::Plain, 2.2), "2.2");
        assert_eq!(format_value(Unit::Count, 1298.0), "1,298");
        assert_eq!(format_value(Unit::Usd, 8250.6), "$8,251");
    }

    fn labels(unit: Unit, ticks: &[f64]) -> Vec<String> {
        ticks.iter().map(|t| tick_label(unit, *t, None)).collect()
    }

    #[test]
    fn count_axes_tick_at_whole_numbers() {
        // The serving chart's step axis: 1,000 apart, written without ".0".
        let ticks = linear_ticks(-336.0, 7064.0, Unit::Count);
        let scale = Scale::new(Unit::Count, false, false, (-336.0, 7064.0));
        let written: Vec<String> = ticks.iter().map(|t| scale.label(*t)).collect();
        assert_eq!(
            written,
            [
                "0", "1,000", "2,000", "3,000", "4,000", "5,000", "6,000", "7,000"
            ]
        );
        // A small count range never gets fractional ticks.
        assert!(
            linear_ticks(-0.2, 3.2, Unit::Count)
                .iter()
                .all(|t| t.fract() == 0.0)
        );
        assert_eq!(linear_ticks(-0.2, 3.2, Unit::Count), [0.0, 1.0, 2.0, 3.0]);
        // A plain axis gets one set of decimals.
        let scale = Scale::new(Unit::Plain, false, false, (0.0, 2.6));
        let written: Vec<String> = scale.ticks.iter().map(|t| scale.label(*t)).collect();
        assert_eq!(written, ["0.0", "0.5", "1.0", "1.5", "2.0", "2.5"]);
    }

    #[test]
    fn log_axes_tick_at_round_values() {
        // Context lengths 256..4096 (padded by 1.5×): powers of two, not "5000.06000.0".
        let (ticks, _) = log_ticks(256.0 / 1.5, 4096.0 * 1.5, Unit::Count, true);
        assert_eq!(
            labels(Unit::Count, &ticks),
            ["256", "512", "1,024", "2,048", "4,096"]
        );
        // The same range with data that are not powers of two: 1, 2, 5 × 10ⁿ.
        let (ticks, _) = log_ticks(170.0, 6144.0, Unit::Count, false);
        assert_eq!(
            labels(Unit::Count, &ticks),
            ["200", "500", "1,000", "2,000", "5,000"]
        );
        // Bytes at powers of two, in binary units.
        let (ticks, _) = log_ticks(4e5, 1.1e8, Unit::Bytes, true);
        assert_eq!(
            labels(Unit::Bytes, &ticks),
            [
                "512 KiB", "1 MiB", "2 MiB", "4 MiB", "8 MiB", "16 MiB", "32 MiB", "64 MiB"
            ]
        );
        // Many decades: powers of ten only, at most eight.
        let (ticks, _) = log_ticks(1.0, 1e12, Unit::Plain, false);
        assert!(ticks.len() <= 8 && ticks.len() >= 4, "{ticks:?}");
        assert!(
            ticks.iter().all(|t| t.log10().fract().abs() < 1e-9),
            "{ticks:?}"
        );
        // Dollars over three decades.
        let (ticks, _) = log_ticks(9.0, 12000.0, Unit::Usd, false);
        assert_eq!(
            labels(Unit::Usd, &ticks),
            ["$10", "$100", "$1,000", "$10,000"]
        );
        // Seconds.
        let (ticks, _) = log_ticks(0.004, 0.03, Unit::Seconds, false);
        assert_eq!(labels(Unit::Seconds, &ticks), ["5 ms", "10 ms", "20 ms"]);
    }

    #[test]
    fn crowded_labels_are_thinned() {
        // Labels 30 px wide, 20 px apart: every second one leaves room, with a 5 px gap.
        let positions = [0.0, 20.0, 40.0, 60.0, 80.0];
        assert_eq!(thinning(&positions, &[30.0; 5], 5.0), 2);
        assert_eq!(thinning(&positions, &[10.0; 5], 5.0), 1);
        assert_eq!(thinning(&positions, &[70.0; 5], 5.0), 4);
    }

    #[test]
    fn long_labels_are_wrapped_at_hyphens_and_spaces() {
        let fits = |s: &str| s.chars().count() <= 12;
        assert_eq!(
            wrap_label("open-weight-managed", fits, 3).unwrap(),
            ["open-weight-", "managed"]
        );
        assert_eq!(
            wrap_label("expert 12", |s: &str| s.len() <= 6, 2).unwrap(),
            ["expert", "12"]
        );
        assert_eq!(wrap_label("premium", fits, 1).unwrap(), ["premium"]);
        assert!(
            wrap_label("extraordinarily", fits, 3).is_none(),
            "one word too long"
        );
        assert!(
            wrap_label("a-b-c-d", |s: &str| s.len() <= 2, 3).is_none(),
            "too many lines"
        );
    }
}
