//! Token counts as short, fixed-style strings (durations: `crate::clock::format_elapsed`).

pub use crate::clock::format_elapsed;

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
