//! Protocol version negotiation. The app sends the range it speaks in
//! `Hello`; the extension picks the highest version both speak, or says
//! there is none. A skew is a typed outcome, not a transport error: after an
//! upgrade it is exactly what tells the app that the running extension is
//! not the one it shipped with.

use crate::message::ProtocolRange;

/// The protocol versions this build speaks.
pub const SUPPORTED: ProtocolRange = ProtocolRange { min: 1, max: 1 };

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Negotiation {
    Agreed(u32),
    Skew {
        ours: ProtocolRange,
        theirs: ProtocolRange,
    },
}

/// The highest version in both ranges; an empty or inverted range agrees on
/// nothing.
pub fn negotiate(ours: ProtocolRange, theirs: ProtocolRange) -> Negotiation {
    let high = ours.max.min(theirs.max);
    let low = ours.min.max(theirs.min);
    if ours.min <= ours.max && theirs.min <= theirs.max && low <= high {
        Negotiation::Agreed(high)
    } else {
        Negotiation::Skew { ours, theirs }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn range(min: u32, max: u32) -> ProtocolRange {
        ProtocolRange { min, max }
    }

    #[test]
    fn picks_the_highest_common_version() {
        assert_eq!(negotiate(range(1, 3), range(2, 5)), Negotiation::Agreed(3));
        assert_eq!(negotiate(range(2, 5), range(1, 3)), Negotiation::Agreed(3));
        assert_eq!(
            negotiate(SUPPORTED, SUPPORTED),
            Negotiation::Agreed(SUPPORTED.max)
        );
    }

    #[test]
    fn disjoint_or_broken_ranges_are_a_skew() {
        assert!(matches!(
            negotiate(range(1, 1), range(2, 3)),
            Negotiation::Skew { .. }
        ));
        assert!(matches!(
            negotiate(range(3, 4), range(1, 2)),
            Negotiation::Skew { .. }
        ));
        assert!(matches!(
            negotiate(range(1, 3), range(3, 1)),
            Negotiation::Skew { .. }
        ));
    }
}
