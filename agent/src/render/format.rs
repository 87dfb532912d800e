//! Durations and token counts as short, fixed-style strings.

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

/// `980`, `1.2k`, `12.4k`, `124k`, `1.2M`: at most three significant digits, rounded to nearest.
pub fn format_tokens(n: u64) -> String {
    if n < 1000 {
        return n.to_string();
    }
    let n = u128::from(n);
    for (div, unit) in [(1_000u128, "k"), (1_000_000, "M"), (1_000_000_000, "G")] {
        let tenths = (n * 10 + div / 2) / div;
        if tenths < 1000 {
            return match tenths % 10 {
                0 => format!("{}{unit}", tenths / 10),
                d => format!("{}.{d}{unit}", tenths / 10),
            };
        }
        let whole = (n + div / 2) / div;
        if whole < 1000 {
            return format!("{whole}{unit}");
        }
    }
    format!("{}G", n / 1_000_000_000)
}

#[cfg(test)]
mod tests {
    use super::*;

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

    #[test]
    fn tokens_keep_three_significant_digits() {
        assert_eq!(format_tokens(0), "0");
        assert_eq!(format_tokens(980), "980");
        assert_eq!(format_tokens(999), "999");
        assert_eq!(format_tokens(1_000), "1k");
        assert_eq!(format_tokens(1_234), "1.2k");
        assert_eq!(format_tokens(12_400), "12.4k");
        assert_eq!(format_tokens(12_449), "12.4k");
        assert_eq!(format_tokens(99_949), "99.9k");
        assert_eq!(format_tokens(99_950), "100k");
        assert_eq!(format_tokens(123_456), "123k");
        assert_eq!(format_tokens(999_499), "999k");
        assert_eq!(format_tokens(999_500), "1M");
        assert_eq!(format_tokens(1_200_000), "1.2M");
        assert_eq!(
            format_tokens(u64::MAX),
            format!("{}G", u64::MAX / 1_000_000_000)
        );
    }
}
