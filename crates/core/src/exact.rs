//! Exact conversions of text to values: a value converts exactly or not at
//! all. They read what databases print (PostgreSQL's and MySQL's text forms
//! of numbers, dates, times and timestamps, as RDS exports write them, and
//! DynamoDB's `N` strings) and refuse anything they would have to round,
//! clamp or guess, saying why.

use chrono::{NaiveDate, NaiveTime};

/// The result of a conversion: the value, or why it does not convert.
pub type Exact<T> = std::result::Result<T, String>;

/// `-12.50` → `(true, "12", "50")`; `None` for exponents, `NaN`,
/// `Infinity` or junk.
pub fn split_number(n: &str) -> Option<(bool, &str, &str)> {
    let (neg, digits) = match n.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, n.strip_prefix('+').unwrap_or(n)),
    };
    let (int, frac) = digits.split_once('.').unwrap_or((digits, ""));
    let ok = !(int.is_empty() && frac.is_empty())
        && int.bytes().all(|b| b.is_ascii_digit())
        && frac.bytes().all(|b| b.is_ascii_digit());
    ok.then_some((neg, int, frac))
}

/// The unscaled value of the number `n` in a `decimal(precision, scale)`.
/// Fails for a number with more digits after the point than `scale`, or
/// more before it than `precision - scale` allows.
pub fn decimal(n: &str, precision: u8, scale: i8) -> Exact<i128> {
    let (neg, int, frac) = split_number(n).ok_or_else(|| format!("{n:?} is not a number"))?;
    let scale = scale.max(0) as usize;
    if frac.len() > scale {
        return Err(format!(
            "{n:?} has more than {scale} digits after the point"
        ));
    }
    let int = int.trim_start_matches('0');
    if int.len() + scale > usize::from(precision) {
        return Err(format!(
            "{n:?} has more than {} digits before the point (decimal({precision},{scale}))",
            usize::from(precision).saturating_sub(scale)
        ));
    }
    let digits = format!("{int}{frac}{}", "0".repeat(scale - frac.len()));
    let v: i128 = match digits.trim_start_matches('0') {
        "" => 0,
        d => d.parse().expect("at most 38 digits fit an i128"),
    };
    Ok(if neg { -v } else { v })
}

/// Days since 1970-01-01 of a `YYYY-MM-DD` date (years of four or more
/// digits; no era suffix such as PostgreSQL's ` BC`, no `infinity`).
pub fn date(s: &str) -> Exact<i32> {
    let bad = || format!("{s:?} is not a date (YYYY-MM-DD)");
    let mut parts = s.splitn(3, '-');
    let (y, m, d) = match (parts.next(), parts.next(), parts.next()) {
        (Some(y), Some(m), Some(d)) => (y, m, d),
        _ => return Err(bad()),
    };
    let digits = |t: &str, n: std::ops::RangeInclusive<usize>| {
        n.contains(&t.len()) && t.bytes().all(|b| b.is_ascii_digit())
    };
    if !digits(y, 4..=6) || !digits(m, 2..=2) || !digits(d, 2..=2) {
        return Err(bad());
    }
    let date = NaiveDate::from_ymd_opt(
        y.parse().map_err(|_| bad())?,
        m.parse().map_err(|_| bad())?,
        d.parse().map_err(|_| bad())?,
    )
    .ok_or_else(|| format!("{s:?} is not a day of the calendar"))?;
    Ok((date - NaiveDate::from_ymd_opt(1970, 1, 1).expect("a day")).num_days() as i32)
}

/// Microseconds since midnight of `HH:MM:SS[.ffffff]`, within one day
/// (`24:00:00` and MySQL's intervals such as `-01:00:00` or `838:59:59` do
/// not convert; nor do more than six digits of a second).
pub fn time(s: &str) -> Exact<i64> {
    let bad = || format!("{s:?} is not a time of day (HH:MM:SS[.ffffff], below 24:00:00)");
    let (hms, frac) = s.split_once('.').unwrap_or((s, ""));
    let mut parts = hms.split(':');
    let (h, m, sec) = match (parts.next(), parts.next(), parts.next(), parts.next()) {
        (Some(h), Some(m), Some(sec), None) => (h, m, sec),
        _ => return Err(bad()),
    };
    let two = |t: &str| {
        (t.len() == 2 && t.bytes().all(|b| b.is_ascii_digit()))
            .then(|| t.parse::<u32>().expect("two digits"))
    };
    let (Some(h), Some(m), Some(sec)) = (two(h), two(m), two(sec)) else {
        return Err(bad());
    };
    if !frac.bytes().all(|b| b.is_ascii_digit()) || (s.contains('.') && frac.is_empty()) {
        return Err(bad());
    }
    if frac.len() > 6 {
        return Err(format!(
            "{s:?} has more than six digits of a second (microseconds)"
        ));
    }
    let micros: u32 = format!("{frac:0<6}").parse().expect("six digits");
    NaiveTime::from_hms_micro_opt(h, m, sec, micros).ok_or_else(bad)?;
    Ok(i64::from(h * 3600 + m * 60 + sec) * 1_000_000 + i64::from(micros))
}

/// Microseconds since 1970-01-01 00:00:00 UTC of `YYYY-MM-DD HH:MM:SS[.ffffff]`
/// (or with a `T`), with an optional offset (`+00`, `+05:30`, `-03:00:00`,
/// `Z`) that is converted to UTC; without one the time is taken as it is
/// written (a `timestamp without time zone`).
pub fn timestamp(s: &str) -> Exact<i64> {
    let bad = || {
        format!(
            "{s:?} is not a timestamp (YYYY-MM-DD HH:MM:SS[.ffffff][+hh[:mm]], at most six \
             digits of a second)"
        )
    };
    if s.len() < 19 {
        return Err(bad());
    }
    let split = s.find([' ', 'T']).ok_or_else(bad)?;
    let (day, rest) = (&s[..split], &s[split + 1..]);
    let (clock, offset) = match rest.find(['+', '-', 'Z']) {
        Some(i) => (&rest[..i], Some(&rest[i..])),
        None => (rest, None),
    };
    let days = date(day).map_err(|_| bad())?;
    let micros = time(clock).map_err(|_| bad())?;
    let offset = match offset {
        None | Some("Z") => 0,
        Some(o) => offset_seconds(o).ok_or_else(bad)?,
    };
    Ok(i64::from(days) * 86_400_000_000 + micros - offset * 1_000_000)
}

/// Seconds east of UTC of `+hh`, `+hh:mm`, `+hh:mm:ss` (or `+hhmm`).
fn offset_seconds(o: &str) -> Option<i64> {
    let (sign, rest) = match o.as_bytes().first()? {
        b'+' => (1, &o[1..]),
        b'-' => (-1, &o[1..]),
        _ => return None,
    };
    let parts: Vec<&str> = if rest.contains(':') {
        rest.split(':').collect()
    } else if rest.len() == 4 {
        vec![&rest[..2], &rest[2..]]
    } else {
        vec![rest]
    };
    if parts.is_empty()
        || parts.len() > 3
        || parts
            .iter()
            .any(|p| p.len() != 2 || !p.bytes().all(|b| b.is_ascii_digit()))
    {
        return None;
    }
    let n: Vec<i64> = parts.iter().map(|p| p.parse().expect("digits")).collect();
    let (h, m, s) = (
        n[0],
        n.get(1).copied().unwrap_or(0),
        n.get(2).copied().unwrap_or(0),
    );
    (h <= 15 && m < 60 && s < 60).then_some(sign * (h * 3600 + m * 60 + s))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimals_are_exact_or_refused() {
        assert_eq!(decimal("123.45", 14, 2), Ok(12_345));
        assert_eq!(decimal("-0.5", 3, 2), Ok(-50));
        assert_eq!(decimal("7", 5, 2), Ok(700));
        assert_eq!(decimal("000", 1, 0), Ok(0));
        assert_eq!(
            decimal("12345678901234567890123456.123456789012", 38, 12),
            Ok(12_345_678_901_234_567_890_123_456_123_456_789_012)
        );
        assert!(
            decimal("1.234", 14, 2)
                .unwrap_err()
                .contains("more than 2 digits after")
        );
        assert!(
            decimal("123456", 6, 2)
                .unwrap_err()
                .contains("more than 4 digits before")
        );
        for junk in [
            "NaN",
            "Infinity",
            "-Infinity",
            "1e5",
            "",
            ".",
            "1.2.3",
            "12a",
        ] {
            assert!(decimal(junk, 10, 2).is_err(), "{junk}");
        }
    }

    #[test]
    fn dates_times_and_timestamps() {
        assert_eq!(date("1970-01-02"), Ok(1));
        assert_eq!(date("1969-12-31"), Ok(-1));
        assert_eq!(date("2024-02-29"), Ok(19_782));
        for bad in [
            "2023-02-29",
            "infinity",
            "0044-03-15 BC",
            "2024-3-1",
            "20240301",
        ] {
            assert!(date(bad).is_err(), "{bad}");
        }
        assert_eq!(time("00:00:01"), Ok(1_000_000));
        assert_eq!(time("23:59:59.999999"), Ok(86_399_999_999));
        assert_eq!(time("12:00:00.5"), Ok(43_200_500_000));
        for bad in [
            "24:00:00",
            "-01:00:00",
            "838:59:59",
            "12:00",
            "12:00:00.",
            "12:00:00.1234567",
        ] {
            assert!(time(bad).is_err(), "{bad}");
        }
        let t0 = 1_709_347_944_000_000; // 2024-03-02 02:52:24 UTC
        assert_eq!(timestamp("2024-03-02 02:52:24"), Ok(t0));
        assert_eq!(timestamp("2024-03-02 02:52:24+00"), Ok(t0));
        assert_eq!(timestamp("2024-03-02T02:52:24Z"), Ok(t0));
        assert_eq!(timestamp("2024-03-02 08:22:24+05:30"), Ok(t0));
        assert_eq!(timestamp("2024-03-01 23:52:24-03"), Ok(t0));
        assert_eq!(timestamp("2024-03-02 02:52:24.25+00"), Ok(t0 + 250_000));
        assert_eq!(
            timestamp("1901-12-13 20:45:52+00:53:28"),
            Ok((-2_147_483_648 - 3_208) * 1_000_000)
        );
        for bad in [
            "2024-03-02",
            "infinity",
            "2024-03-02 25:00:00",
            "2024-03-02 02:52:24+99",
            "2024-03-02 02:52:24.1234567",
        ] {
            assert!(timestamp(bad).is_err(), "{bad}");
        }
    }
}
