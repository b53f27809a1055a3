//! How two release versions compare, the one rule for the doctor's check
//! against the previous pkg, the feed `appcast` writes and the update the
//! app accepts: dotted components compared as numbers (a missing component
//! is 0, so 1.0 equals 1.0.0), a component that is not a number compared
//! as text. For the numeric versions releases carry, this is also how
//! Sparkle's SUStandardVersionComparator orders them.

use std::cmp::Ordering;

pub fn compare(a: &str, b: &str) -> Ordering {
    let (a, b): (Vec<&str>, Vec<&str>) =
        (a.trim().split('.').collect(), b.trim().split('.').collect());
    for i in 0..a.len().max(b.len()) {
        let (x, y) = (
            a.get(i).copied().unwrap_or("0"),
            b.get(i).copied().unwrap_or("0"),
        );
        let order = match (x.parse::<u64>(), y.parse::<u64>()) {
            (Ok(x), Ok(y)) => x.cmp(&y),
            _ => x.cmp(y),
        };
        if order.is_ne() {
            return order;
        }
    }
    Ordering::Equal
}

/// Whether `new` is strictly greater than `old`.
pub fn is_newer(new: &str, old: &str) -> bool {
    compare(new, old).is_gt()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_compare_as_numbers() {
        assert!(is_newer("1.0.10", "1.0.9"));
        assert!(is_newer("1.1", "1.0.9"));
        assert!(!is_newer("1.0.0", "1.0"));
        assert_eq!(compare("1.0.0", "1.0"), Ordering::Equal);
        assert!(!is_newer("1.0.0", "1.0.0"));
        assert!(!is_newer("0.9.0", "1.0.0"));
    }
}
