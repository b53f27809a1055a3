//! The words the menu bar app shows: sizes, ages, what an upgrade did,
//! and the diagnostics a user pastes into a support ticket.

use vpn_release::upgrade_state::{Outcome, UpgradeReport};

/// `n` bytes for a person (binary units).
pub fn human_bytes(n: u64) -> String {
    match n {
        n if n >= 1 << 30 => format!("{:.2} GiB", n as f64 / (1u64 << 30) as f64),
        n if n >= 1 << 20 => format!("{:.2} MiB", n as f64 / (1u64 << 20) as f64),
        n if n >= 1 << 10 => format!("{:.2} KiB", n as f64 / 1024.0),
        n => format!("{n} B"),
    }
}

/// How long ago `at` was, at `now` (both seconds since the epoch).
pub fn ago(at: u64, now: u64) -> String {
    match now.saturating_sub(at) {
        s if s < 120 => format!("{s} s ago"),
        s if s < 2 * 3600 => format!("{} min ago", s / 60),
        s if s < 2 * 86_400 => format!("{} h ago", s / 3600),
        s => format!("{} days ago", s / 86_400),
    }
}

/// A notification, as UserNotifications shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Notice {
    pub title: String,
    pub body: String,
}

/// What the user is told after `upgrade finish` ran for version `version`;
/// nothing for a run that had nothing to do.
pub fn upgrade_notice(report: &UpgradeReport, version: &str) -> Option<Notice> {
    let (title, body) = match &report.outcome {
        Outcome::Healthy if report.tunnel_restored => (
            format!("Updated to {version}, VPN restored"),
            "The tunnel is back up.".to_string(),
        ),
        Outcome::Healthy => (
            format!("Updated to {version}"),
            "The VPN is ready.".to_string(),
        ),
        Outcome::ApprovalPending => (
            "Action needed: approve the extension".to_string(),
            "Allow the VPN's extension in System Settings, then connect from the menu bar."
                .to_string(),
        ),
        Outcome::RebootRequired => (
            format!("Updated to {version}: restart to finish"),
            "macOS replaces the VPN's extension at the next restart.".to_string(),
        ),
        Outcome::Unhealthy { reason } => (
            "Action needed: repair the VPN".to_string(),
            format!("{reason}. Choose Repair Connection… in the menu bar."),
        ),
        Outcome::AlreadyFinished => return None,
    };
    Some(Notice { title, body })
}

/// Whether `token` has the shape of a WireGuard key: 32 bytes in
/// standard base64, 44 characters ending in one `=`.
fn is_key(token: &str) -> bool {
    token.len() == 44
        && token.ends_with('=')
        && token[..43]
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'+' || b == b'/')
}

/// `text` with every key-shaped word replaced: private and preshared keys
/// must never reach a support ticket, and a public key is not needed to
/// read one.
pub fn redact_keys(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut word = String::new();
    let flush = |word: &mut String, out: &mut String| {
        out.push_str(if is_key(word) { "[key redacted]" } else { word });
        word.clear();
    };
    for c in text.chars() {
        if c.is_ascii_alphanumeric() || matches!(c, '+' | '/' | '=') {
            word.push(c);
        } else {
            flush(&mut word, &mut out);
            out.push(c);
        }
    }
    flush(&mut word, &mut out);
    out
}

/// Copy Diagnostics: who we are, `doctor`'s report and the extension's
/// last log lines, keys redacted.
pub fn diagnostics(about: &str, doctor: &str, log_lines: &[String]) -> String {
    let mut text = format!("{about}\n\n== doctor ==\n{doctor}\n\n== extension log ==\n");
    for line in log_lines {
        text.push_str(line);
        text.push('\n');
    }
    redact_keys(&text)
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "yAnz5TF+lXXJte14tji3zlMNq+hd2rYUIgJBgB3fBmk=";

    #[test]
    fn keys_are_redacted_wherever_they_stand() {
        let text = format!("PrivateKey = {KEY}\npeer {KEY} at 192.0.2.1:51820\n({KEY})");
        let redacted = redact_keys(&text);
        assert!(!redacted.contains(&KEY[..20]), "{redacted}");
        assert_eq!(
            redacted,
            "PrivateKey = [key redacted]\npeer [key redacted] at 192.0.2.1:51820\n([key redacted])"
        );
        // Not keys: too short, too long, base64 of other lengths.
        for kept in ["abc=", &format!("{KEY}A"), &KEY[1..], "home.conf"] {
            assert_eq!(redact_keys(kept), kept);
        }
    }

    #[test]
    fn diagnostics_hold_every_part_and_no_key() {
        let text = diagnostics(
            "DemoVPN 1.0.0",
            &format!("ok config {KEY}"),
            &[format!("handshake with {KEY}"), "tunnel up".into()],
        );
        assert!(text.starts_with("DemoVPN 1.0.0\n"));
        assert!(text.contains("== doctor ==\nok config [key redacted]"));
        assert!(text.ends_with("handshake with [key redacted]\ntunnel up\n"));
        assert!(!text.contains(KEY));
    }

    #[test]
    fn ages_and_sizes_read_naturally() {
        assert_eq!(ago(1000, 1012), "12 s ago");
        assert_eq!(ago(0, 600), "10 min ago");
        assert_eq!(ago(0, 3 * 3600), "3 h ago");
        assert_eq!(ago(0, 3 * 86_400), "3 days ago");
        // A clock that went back is not a negative age.
        assert_eq!(ago(2000, 1000), "0 s ago");
        assert_eq!(human_bytes(1023), "1023 B");
        assert_eq!(human_bytes(1536), "1.50 KiB");
        assert_eq!(human_bytes(3 << 20), "3.00 MiB");
    }
}
