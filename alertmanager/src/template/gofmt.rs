//! Go's formatting of floats, as Prometheus' template functions produce it
//! (`fmt.Sprintf("%.4g", v)`, `fmt.Sprint(v)`), and `time.Time.String()`.

/// Splits `v` (finite, non-zero, non-negative) into decimal digits (no
/// trailing zeros) and the decimal point position `dp` (value = 0.d1d2.. ×
/// 10^dp), rounded to `prec` significant digits, or shortest round-trip
/// digits when `prec` is None.
fn digits(v: f64, prec: Option<usize>) -> (String, i32) {
    let s = match prec {
        Some(p) => format!("{:.*e}", p.saturating_sub(1), v),
        None => format!("{v:e}"),
    };
    let (mant, exp) = s.split_once('e').unwrap_or((&s, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let mut d: String = mant.chars().filter(|c| c.is_ascii_digit()).collect();
    while d.len() > 1 && d.ends_with('0') {
        d.pop();
    }
    (d, exp + 1)
}

fn special(v: f64) -> Option<String> {
    if v.is_nan() {
        Some("NaN".to_owned())
    } else if v.is_infinite() {
        Some(if v > 0.0 { "+Inf" } else { "-Inf" }.to_owned())
    } else {
        None
    }
}

/// Go's `%g` with a precision (`prec` None: shortest, as `%v` and
/// `strconv.FormatFloat(v, 'g', -1, 64)`).
pub fn format_g(v: f64, prec: Option<usize>) -> String {
    if let Some(s) = special(v) {
        return s;
    }
    let sign = if v.is_sign_negative() { "-" } else { "" };
    let a = v.abs();
    if a == 0.0 {
        return format!("{sign}0");
    }
    let prec = prec.map(|p| p.max(1));
    let (d, dp) = digits(a, prec);
    let nd = d.len() as i32;
    let mut eprec = match prec {
        Some(p) => p as i32,
        None => 6,
    };
    if prec.is_some() && eprec > nd && nd >= dp {
        eprec = nd;
    }
    let exp = dp - 1;
    if exp < -4 || exp >= eprec {
        let mut out = format!("{sign}{}", &d[..1]);
        if nd > 1 {
            out.push('.');
            out.push_str(&d[1..]);
        }
        let esign = if exp < 0 { '-' } else { '+' };
        out.push_str(&format!("e{esign}{:02}", exp.abs()));
        return out;
    }
    let body = if dp <= 0 {
        format!("0.{}{}", "0".repeat((-dp) as usize), d)
    } else if dp >= nd {
        format!("{}{}", d, "0".repeat((dp - nd) as usize))
    } else {
        format!("{}.{}", &d[..dp as usize], &d[dp as usize..])
    };
    format!("{sign}{body}")
}

/// Go's `%v` / `fmt.Sprint` of a float64.
pub fn format_v(v: f64) -> String {
    format_g(v, None)
}

/// Go's `time.Time.String()` for a UTC time given in Unix milliseconds:
/// `2006-01-02 15:04:05.999999999 +0000 UTC` (fraction without trailing
/// zeros, omitted when zero).
pub fn time_string_utc(ms: i64) -> Option<String> {
    let t = chrono::DateTime::from_timestamp_millis(ms)?;
    let mut out = t.format("%Y-%m-%d %H:%M:%S").to_string();
    let nanos = t.timestamp_subsec_nanos();
    if nanos != 0 {
        let mut frac = format!("{nanos:09}");
        while frac.ends_with('0') {
            frac.pop();
        }
        out.push('.');
        out.push_str(&frac);
    }
    out.push_str(" +0000 UTC");
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn g_with_precision() {
        assert_eq!(format_g(1234.567, Some(4)), "1235");
        assert_eq!(format_g(1.234567, Some(4)), "1.235");
        assert_eq!(format_g(123456.7, Some(4)), "1.235e+05");
        assert_eq!(format_g(0.12, Some(4)), "0.12");
        assert_eq!(format_g(0.00001234, Some(4)), "1.234e-05");
        assert_eq!(format_g(100.0, Some(4)), "100");
        assert_eq!(format_g(0.0, Some(4)), "0");
        assert_eq!(format_g(-22.222, Some(4)), "-22.22");
        assert_eq!(format_g(f64::NAN, Some(4)), "NaN");
        assert_eq!(format_g(f64::NEG_INFINITY, Some(4)), "-Inf");
    }

    #[test]
    fn v_shortest() {
        assert_eq!(format_v(1.5), "1.5");
        assert_eq!(format_v(11.0), "11");
        assert_eq!(format_v(100000.0), "100000");
        assert_eq!(format_v(1000000.0), "1e+06");
        assert_eq!(format_v(1234567.0), "1.234567e+06");
        assert_eq!(format_v(0.0001), "0.0001");
        assert_eq!(format_v(0.00001), "1e-05");
        assert_eq!(format_v(-9.223372036854776e18), "-9.223372036854776e+18");
    }

    #[test]
    fn go_time_string() {
        assert_eq!(time_string_utc(0).unwrap(), "1970-01-01 00:00:00 +0000 UTC");
        assert_eq!(
            time_string_utc(1435065584128).unwrap(),
            "2015-06-23 13:19:44.128 +0000 UTC"
        );
        assert_eq!(
            time_string_utc(-1000).unwrap(),
            "1969-12-31 23:59:59 +0000 UTC"
        );
    }
}
