//! Time and dates, one leaf every stage may use: the wall clock in epoch milliseconds (read only
//! at the edges: logic takes `now_ms` as a parameter), RFC 3339 timestamps (what
//! `new Date().toISOString()` writes) to and from epoch milliseconds, and elapsed time as shown.
//!
//! Parsing is small and strict on purpose: a timestamp we cannot read becomes "no timestamp",
//! never an error, so a parser that rejects odd input is safer than one that guesses.

use std::time::{SystemTime, UNIX_EPOCH};

/// The wall clock, in milliseconds since the epoch (0 if the clock is set before 1970).
pub fn now_ms() -> i64 {
    epoch_ms(SystemTime::now())
}

/// A `SystemTime` (a file's mtime, the clock) in milliseconds since the epoch; 0 before it.
pub fn epoch_ms(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// `38s`, `4m05s`, `1h02m`. Negative durations (clock skew between sources) show as `0s`.
pub fn format_elapsed(ms: i64) -> String {
    let s = ms.max(0) / 1000;
    if s < 60 {
        format!("{s}s")
    } else if s < 3600 {
        format!("{}m{:02}s", s / 60, s % 60)
    } else {
        format!("{}h{:02}m", s / 3600, (s % 3600) / 60)
    }
}

/// `YYYY-MM-DD(T|t| )HH:MM:SS[.fraction](Z|z|±HH:MM)` → milliseconds since the epoch.
/// Fractions beyond milliseconds are cut (not rounded), so ordering is kept.
pub fn parse_rfc3339_ms(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() < 20 || b.len() > 64 {
        return None;
    }
    let year = digits(b, 0, 4)?;
    expect(b, 4, b'-')?;
    let month = digits(b, 5, 2)?;
    expect(b, 7, b'-')?;
    let day = digits(b, 8, 2)?;
    if !matches!(b[10], b'T' | b't' | b' ') {
        return None;
    }
    let hour = digits(b, 11, 2)?;
    expect(b, 13, b':')?;
    let minute = digits(b, 14, 2)?;
    expect(b, 16, b':')?;
    let second = digits(b, 17, 2)?;

    let mut i = 19;
    let mut millis = 0i64;
    if b.get(i) == Some(&b'.') {
        i += 1;
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            if i - start < 3 {
                millis = millis * 10 + i64::from(b[i] - b'0');
            }
            i += 1;
        }
        let n = i - start;
        if n == 0 {
            return None;
        }
        for _ in n..3 {
            millis *= 10;
        }
    }

    let offset_secs = match b.get(i)? {
        b'Z' | b'z' => {
            i += 1;
            0
        }
        sign @ (b'+' | b'-') => {
            let oh = digits(b, i + 1, 2)?;
            expect(b, i + 3, b':')?;
            let om = digits(b, i + 4, 2)?;
            if oh > 23 || om > 59 {
                return None;
            }
            i += 6;
            let secs = oh * 3600 + om * 60;
            if *sign == b'-' { -secs } else { secs }
        }
        _ => return None,
    };
    if i != b.len() {
        return None;
    }

    // A leap second (:60) is accepted and lands on the next second; ordering survives.
    if !(1..=12).contains(&month)
        || day < 1
        || day > days_in_month(year, month)
        || hour > 23
        || minute > 59
        || second > 60
    {
        return None;
    }
    let days = days_from_civil(year, month, day);
    let secs = days * 86_400 + hour * 3600 + minute * 60 + second - offset_secs;
    Some(secs * 1000 + millis)
}

fn digits(b: &[u8], at: usize, n: usize) -> Option<i64> {
    let field = b.get(at..at + n)?;
    field.iter().try_fold(0i64, |acc, &c| {
        c.is_ascii_digit().then(|| acc * 10 + i64::from(c - b'0'))
    })
}

fn expect(b: &[u8], at: usize, c: u8) -> Option<()> {
    (b.get(at) == Some(&c)).then_some(())
}

fn is_leap(year: i64) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if is_leap(year) => 29,
        2 => 28,
        _ => 0,
    }
}

/// Milliseconds since the epoch → `YYYY-MM-DDTHH:MM:SSZ` (UTC, whole seconds), for box titles.
pub(crate) fn format_iso_seconds(ms: i64) -> String {
    let with_ms = format_rfc3339_ms(ms);
    // `…T03:50:29.391Z` → `…T03:50:29Z`
    match with_ms.rsplit_once('.') {
        Some((secs, _)) => format!("{secs}Z"),
        None => with_ms,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's `days_from_civil`).
pub(crate) fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Milliseconds since the epoch → `YYYY-MM-DDTHH:MM:SS.mmmZ` (UTC), the inverse of
/// `parse_rfc3339_ms` for the years 0..=9999; for logs that name a moment.
pub fn format_rfc3339_ms(ms: i64) -> String {
    let (days, ms_of_day) = (ms.div_euclid(86_400_000), ms.rem_euclid(86_400_000));
    let (year, month, day) = civil_from_days(days);
    let secs = ms_of_day / 1000;
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        secs / 3600,
        secs / 60 % 60,
        secs % 60,
        ms_of_day % 1000
    )
}

/// The proleptic Gregorian date of a day count since 1970-01-01 (H. Hinnant's `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::{format_elapsed, format_iso_seconds, format_rfc3339_ms, parse_rfc3339_ms};

    #[test]
    fn formats_what_it_parses() {
        for s in [
            "1970-01-01T00:00:00.000Z",
            "2026-11-22T03:51:03.160Z",
            "2000-02-29T23:59:59.999Z",
            "1969-12-31T23:59:59.999Z",
            "2100-03-01T12:00:00.001Z",
        ] {
            let ms = parse_rfc3339_ms(s).expect("parses");
            assert_eq!(format_rfc3339_ms(ms), s);
        }
    }

    #[test]
    fn parses_gateway_timestamps() {
        // The fork header of the 2026.7.1 thread reply; its user message says 1795319463160 for
        // 03:51:03.160Z, which pins the arithmetic to real data.
        assert_eq!(
            parse_rfc3339_ms("2026-11-22T03:51:03.160Z"),
            Some(1_795_319_463_160)
        );
        assert_eq!(parse_rfc3339_ms("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(parse_rfc3339_ms("1970-01-01T00:00:00.5Z"), Some(500));
        assert_eq!(
            parse_rfc3339_ms("1970-01-01T00:00:00.123456789Z"),
            Some(123)
        );
        assert_eq!(parse_rfc3339_ms("1970-01-01T01:00:00+01:00"), Some(0));
        assert_eq!(parse_rfc3339_ms("1969-12-31T23:00:00-01:00"), Some(0));
        assert_eq!(parse_rfc3339_ms("1969-12-31T23:59:59.999Z"), Some(-1));
        assert_eq!(
            parse_rfc3339_ms("2024-02-29 12:00:00z"),
            Some(1_709_208_000_000)
        );
    }

    #[test]
    fn rejects_malformed() {
        for bad in [
            "",
            "2026-11-22",
            "2026-11-22T03:51:03",
            "2026-11-22T03:51:03.Z",
            "2026-13-01T00:00:00Z",
            "2025-02-29T00:00:00Z",
            "2026-11-22T24:00:00Z",
            "2026-11-22T03:51:03Zjunk",
            "2026-11-22T03:51:03+2400",
            "२०२६-11-22T03:51:03Z",
            "not a timestamp at all, really",
        ] {
            assert_eq!(parse_rfc3339_ms(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn iso_dates_are_civil_utc() {
        assert_eq!(
            format_iso_seconds(1_795_319_429_391),
            "2026-11-22T03:50:29Z"
        );
        assert_eq!(format_iso_seconds(0), "1970-01-01T00:00:00Z");
        assert_eq!(format_iso_seconds(951_782_400_000), "2000-02-29T00:00:00Z");
    }

    #[test]
    fn elapsed_picks_the_unit_by_size() {
        assert_eq!(format_elapsed(0), "0s");
        assert_eq!(format_elapsed(38_999), "38s");
        assert_eq!(format_elapsed(59_999), "59s");
        assert_eq!(format_elapsed(60_000), "1m00s");
        assert_eq!(format_elapsed(245_000), "4m05s");
        assert_eq!(format_elapsed(3_599_999), "59m59s");
        assert_eq!(format_elapsed(3_720_000), "1h02m");
        assert_eq!(format_elapsed(-5_000), "0s");
        assert_eq!(
            format_elapsed(i64::MAX),
            format!(
                "{}h{:02}m",
                i64::MAX / 1000 / 3600,
                (i64::MAX / 1000 % 3600) / 60
            )
        );
    }
}
