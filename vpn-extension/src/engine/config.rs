//! Tunnel configuration in the wg-quick format users already have.
//!
//! Parsing is strict where a mistake would silently change what the tunnel
//! does (a bad key, address or port is an error naming its line) and lenient
//! only for wg-quick's own settings that have no meaning inside an extension
//! (`PostUp`, `Table`, ...): those are reported back as ignored, never run.

use std::{fmt, net::IpAddr, str::FromStr};

use base64::{engine::general_purpose::STANDARD, Engine as _};
use ipnet::IpNet;
use zeroize::Zeroizing;

/// The MTU when the file gives none: WireGuard's usual 1420 (1500 minus the
/// IPv6 + UDP + WireGuard overhead).
pub const DEFAULT_MTU: u16 = 1420;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TunnelConfig {
    pub interface: InterfaceConfig,
    pub peers: Vec<PeerConfig>,
    /// wg-quick settings present in the file that this VPN does not act on,
    /// with their line numbers, so the caller can tell the user.
    pub ignored: Vec<(usize, String)>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InterfaceConfig {
    pub private_key: PrivateKey,
    pub addresses: Vec<IpNet>,
    pub dns: Vec<IpAddr>,
    pub mtu: u16,
    pub listen_port: Option<u16>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PeerConfig {
    pub public_key: PublicKey,
    pub preshared_key: Option<PrivateKey>,
    /// Networks routed to this peer and accepted from it, host bits cleared.
    pub allowed_ips: Vec<IpNet>,
    pub endpoint: Option<Endpoint>,
    pub persistent_keepalive: Option<u16>,
}

/// `host:port` as written; resolved when the tunnel starts, since a name may
/// resolve differently by then.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Endpoint {
    pub host: String,
    pub port: u16,
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

/// A secret key (private or preshared). Wiped on drop and never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct PrivateKey(Zeroizing<[u8; 32]>);

impl PrivateKey {
    pub fn bytes(&self) -> [u8; 32] {
        *self.0
    }
}

impl fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PrivateKey(<redacted>)")
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct PublicKey(pub [u8; 32]);

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({self})")
    }
}

impl fmt::Display for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&STANDARD.encode(self.0))
    }
}

impl PublicKey {
    pub fn from_private(key: &PrivateKey) -> Self {
        let secret = boringtun::x25519::StaticSecret::from(key.bytes());
        Self(boringtun::x25519::PublicKey::from(&secret).to_bytes())
    }
}

/// A line of the file that is not what it should be. Secrets in the line are
/// never quoted back.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {message}")]
pub struct ConfigError {
    pub line: usize,
    pub message: String,
}

/// Whether `key` can be a setting's name: one word of letters, no longer
/// than the longest wg-quick has (`PersistentKeepalive`, 19). A base64 key
/// ends in `=`, so a key line without its name, or without the ` = ` after
/// it, splits at that `=`; what comes before is then never a name, and
/// must not be quoted back.
fn is_setting_name(key: &str) -> bool {
    (1..=24).contains(&key.len()) && key.bytes().all(|b| b.is_ascii_alphabetic())
}

/// The error for a line whose left side is no setting name, quoting at
/// most the first word, and only if that word could be a name.
fn not_a_setting(key: &str) -> String {
    let first = key.split_whitespace().next().unwrap_or_default();
    if is_setting_name(first) && first != key {
        format!("expected `{first} = value`: the ` = ` after `{first}` is missing")
    } else {
        "expected `Key = Value`: this line has no setting name before its `=` (the value is not shown, as it may be a key)".to_string()
    }
}

/// The error for a `[...]` line that is no section we know, quoting it
/// only if it is one bracketed name: anything after the `]` may be a key.
fn unknown_section(content: &str) -> String {
    let name = content
        .strip_prefix('[')
        .and_then(|rest| rest.strip_suffix(']'))
        .filter(|name| is_setting_name(name));
    match name {
        Some(_) => format!("unknown section {content}: expected [Interface] or [Peer]"),
        None => "expected a line `[Interface]` or `[Peer]` alone (this one is not shown, as it may hold a key)".to_string(),
    }
}

fn err(line: usize, message: impl Into<String>) -> ConfigError {
    ConfigError {
        line,
        message: message.into(),
    }
}

/// wg-quick's own settings: meaningful to the wg-quick script, not to a VPN
/// extension. Accepted so existing files import, and reported as ignored.
const WG_QUICK_ONLY: [&str; 7] = [
    "table",
    "preup",
    "postup",
    "predown",
    "postdown",
    "saveconfig",
    "fwmark",
];

fn decode_key(line: usize, name: &str, value: &str) -> Result<[u8; 32], ConfigError> {
    let bytes = Zeroizing::new(STANDARD.decode(value).map_err(|_| {
        err(
            line,
            format!("{name} is not base64 (a key is 44 characters, as `wg genkey` prints)"),
        )
    })?);
    <[u8; 32]>::try_from(bytes.as_slice()).map_err(|_| {
        err(
            line,
            format!(
                "{name} decodes to {} bytes; a WireGuard key is 32",
                bytes.len()
            ),
        )
    })
}

/// `value` as an error may quote it. A value can hold a key when lines
/// ran together (`DNS = 10.0.0.1PrivateKey = ...`), so any run of 40 or
/// more base64 characters (a key is 43 and an `=`) is hidden, and a long
/// value is cut.
fn quotable(value: &str) -> String {
    const SHOWN: usize = 60;
    let mut shown = String::new();
    let mut run = String::new();
    let flush = |run: &mut String, shown: &mut String| {
        if run.len() >= 40 {
            shown.push_str("[hidden: may be a key]");
        } else {
            shown.push_str(run);
        }
        run.clear();
    };
    for c in value.chars() {
        if c.is_ascii_alphanumeric() || c == '+' || c == '/' {
            run.push(c);
        } else {
            flush(&mut run, &mut shown);
            shown.push(c);
        }
    }
    flush(&mut run, &mut shown);
    if shown.chars().count() > SHOWN {
        shown = shown.chars().take(SHOWN).collect::<String>() + "...";
    }
    shown
}

fn parse_list<T>(
    line: usize,
    name: &str,
    value: &str,
    parse: impl Fn(&str) -> Option<T>,
    example: &str,
) -> Result<Vec<T>, ConfigError> {
    value
        .split(',')
        .map(str::trim)
        .filter(|item| !item.is_empty())
        .map(|item| {
            parse(item).ok_or_else(|| {
                err(
                    line,
                    format!(
                        "{name}: `{}` is not an address (expected e.g. {example})",
                        quotable(item)
                    ),
                )
            })
        })
        .collect()
}

/// An address with an optional prefix; a bare address is a host route.
fn parse_net(item: &str) -> Option<IpNet> {
    IpNet::from_str(item)
        .ok()
        .or_else(|| IpAddr::from_str(item).ok().map(IpNet::from))
}

fn parse_endpoint(line: usize, value: &str) -> Result<Endpoint, ConfigError> {
    let bad = || {
        err(
            line,
            format!(
                "Endpoint `{}` is not host:port (e.g. vpn.example.com:51820 or [2001:db8::1]:51820)",
                quotable(value)
            ),
        )
    };
    let (host, port) = if let Some(rest) = value.strip_prefix('[') {
        let (host, port) = rest.split_once("]:").ok_or_else(bad)?;
        (host, port)
    } else {
        let (host, port) = value.rsplit_once(':').ok_or_else(bad)?;
        if host.contains(':') {
            return Err(bad());
        }
        (host, port)
    };
    let port: u16 = port.parse().map_err(|_| bad())?;
    if host.is_empty() || port == 0 {
        return Err(bad());
    }
    Ok(Endpoint {
        host: host.to_string(),
        port,
    })
}

fn parse_u16(line: usize, name: &str, value: &str, min: u16) -> Result<u16, ConfigError> {
    match value.parse::<u16>() {
        Ok(n) if n >= min => Ok(n),
        _ => Err(err(
            line,
            format!(
                "{name} `{}` is not a number from {min} to 65535",
                quotable(value)
            ),
        )),
    }
}

#[derive(Default)]
struct PartialPeer {
    line: usize,
    public_key: Option<PublicKey>,
    preshared_key: Option<PrivateKey>,
    allowed_ips: Vec<IpNet>,
    endpoint: Option<Endpoint>,
    persistent_keepalive: Option<u16>,
}

enum Section {
    None,
    Interface,
    Peer(PartialPeer),
}

impl FromStr for TunnelConfig {
    type Err = ConfigError;

    fn from_str(text: &str) -> Result<Self, ConfigError> {
        let mut section = Section::None;
        let mut interface_line = None;
        let mut private_key = None;
        let mut addresses = Vec::new();
        let mut dns = Vec::new();
        let mut mtu = None;
        let mut listen_port = None;
        let mut peers = Vec::new();
        let mut ignored = Vec::new();

        let finish_peer = |peer: PartialPeer, peers: &mut Vec<PeerConfig>| {
            let public_key = peer.public_key.ok_or_else(|| {
                err(
                    peer.line,
                    "this [Peer] has no PublicKey: add `PublicKey = <the peer's key>`",
                )
            })?;
            if peers
                .iter()
                .any(|p: &PeerConfig| p.public_key == public_key)
            {
                return Err(err(peer.line, format!("peer {public_key} appears twice")));
            }
            peers.push(PeerConfig {
                public_key,
                preshared_key: peer.preshared_key,
                allowed_ips: peer.allowed_ips,
                endpoint: peer.endpoint,
                persistent_keepalive: peer.persistent_keepalive,
            });
            Ok(())
        };

        for (index, raw) in text.lines().enumerate() {
            let line = index + 1;
            let content = raw.split('#').next().unwrap_or("").trim();
            if content.is_empty() {
                continue;
            }
            if content.starts_with('[') {
                if let Section::Peer(peer) = std::mem::replace(&mut section, Section::None) {
                    finish_peer(peer, &mut peers)?;
                }
                section = match content.to_ascii_lowercase().as_str() {
                    "[interface]" if interface_line.is_some() => {
                        return Err(err(line, "a second [Interface] section; keep one"))
                    }
                    "[interface]" => {
                        interface_line = Some(line);
                        Section::Interface
                    }
                    "[peer]" => Section::Peer(PartialPeer {
                        line,
                        ..Default::default()
                    }),
                    _ => return Err(err(line, unknown_section(content))),
                };
                continue;
            }
            let (key, value) = content
                .split_once('=')
                .ok_or_else(|| err(line, "expected `Key = Value` or a [Section] header"))?;
            let (key, value) = (key.trim(), value.trim());
            if !is_setting_name(key) {
                return Err(err(line, not_a_setting(key)));
            }
            let lower = key.to_ascii_lowercase();
            match (&mut section, lower.as_str()) {
                (Section::None, _) => {
                    return Err(err(line, format!("{key} comes before any [Interface] or [Peer] section")))
                }
                (Section::Interface, "privatekey") => {
                    private_key = Some(PrivateKey(Zeroizing::new(decode_key(line, key, value)?)))
                }
                (Section::Interface, "address") => addresses.extend(parse_list(
                    line,
                    key,
                    value,
                    parse_net,
                    "10.0.0.2/32 or fd00::2/128",
                )?),
                (Section::Interface, "dns") => dns.extend(parse_list(
                    line,
                    key,
                    value,
                    |item| IpAddr::from_str(item).ok(),
                    "1.1.1.1",
                )?),
                (Section::Interface, "mtu") => mtu = Some(parse_u16(line, key, value, 576)?),
                (Section::Interface, "listenport") => {
                    listen_port = Some(parse_u16(line, key, value, 0)?)
                }
                (Section::Interface, name) if WG_QUICK_ONLY.contains(&name) => {
                    ignored.push((line, key.to_string()))
                }
                (Section::Peer(peer), "publickey") => {
                    peer.public_key = Some(PublicKey(decode_key(line, key, value)?))
                }
                (Section::Peer(peer), "presharedkey") => {
                    peer.preshared_key = Some(PrivateKey(Zeroizing::new(decode_key(line, key, value)?)))
                }
                (Section::Peer(peer), "allowedips") => peer.allowed_ips.extend(
                    parse_list(line, key, value, parse_net, "0.0.0.0/0 or 10.0.0.0/24")?
                        .into_iter()
                        .map(|net| net.trunc()),
                ),
                (Section::Peer(peer), "endpoint") => {
                    peer.endpoint = Some(parse_endpoint(line, value)?)
                }
                (Section::Peer(peer), "persistentkeepalive") => {
                    peer.persistent_keepalive = match value {
                        "off" | "0" => None,
                        _ => Some(parse_u16(line, key, value, 1)?),
                    }
                }
                (Section::Interface, _) => {
                    return Err(err(line, format!(
                        "unknown [Interface] setting `{key}` (known: PrivateKey, Address, DNS, MTU, ListenPort)"
                    )))
                }
                (Section::Peer(_), _) => {
                    return Err(err(line, format!(
                        "unknown [Peer] setting `{key}` (known: PublicKey, PresharedKey, AllowedIPs, Endpoint, PersistentKeepalive)"
                    )))
                }
            }
        }
        if let Section::Peer(peer) = section {
            finish_peer(peer, &mut peers)?;
        }

        let interface_line =
            interface_line.ok_or_else(|| err(1, "no [Interface] section: the file needs one"))?;
        let private_key = private_key.ok_or_else(|| {
            err(
                interface_line,
                "[Interface] has no PrivateKey: add `PrivateKey = <output of wg genkey>`",
            )
        })?;
        if peers.is_empty() {
            return Err(err(
                interface_line,
                "no [Peer] section: a tunnel needs at least one peer",
            ));
        }
        Ok(TunnelConfig {
            interface: InterfaceConfig {
                private_key,
                addresses,
                dns,
                mtu: mtu.unwrap_or(DEFAULT_MTU),
                listen_port,
            },
            peers,
            ignored,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY_A: &str = "yAnz5TF+lXXJte14tji3zlMNq+hd2rYUIgJBgB3fBmk=";
    const KEY_B: &str = "xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg=";

    fn parse(text: &str) -> Result<TunnelConfig, ConfigError> {
        text.parse()
    }

    #[test]
    fn a_full_file_parses() {
        let config = parse(&format!(
            "# exported\n[Interface]\nPrivateKey = {KEY_A}\nAddress = 10.0.0.2/24, fd00::2/64\n\
             DNS = 1.1.1.1, 2606:4700::1111\nMTU = 1380\nListenPort = 51820\nPostUp = iptables -A\n\n\
             [Peer]\nPublicKey = {KEY_B}\nPresharedKey = {KEY_A}\n\
             AllowedIPs = 0.0.0.0/0, ::/0, 192.168.1.7/24\nEndpoint = [2001:db8::1]:51820\n\
             PersistentKeepalive = 25\n"
        ))
        .unwrap();
        assert_eq!(config.interface.mtu, 1380);
        assert_eq!(config.interface.listen_port, Some(51820));
        assert_eq!(config.interface.addresses.len(), 2);
        assert_eq!(config.interface.addresses[0].to_string(), "10.0.0.2/24");
        assert_eq!(config.interface.dns.len(), 2);
        assert_eq!(config.ignored, vec![(8, "PostUp".to_string())]);
        let peer = &config.peers[0];
        assert_eq!(peer.public_key.to_string(), KEY_B);
        assert!(peer.preshared_key.is_some());
        // Host bits are cleared, as `wg` does.
        assert_eq!(peer.allowed_ips[2].to_string(), "192.168.1.0/24");
        assert_eq!(
            peer.endpoint.as_ref().unwrap().to_string(),
            "[2001:db8::1]:51820"
        );
        assert_eq!(peer.persistent_keepalive, Some(25));
    }

    #[test]
    fn defaults_and_case_insensitive_keys() {
        let config = parse(&format!(
            "[interface]\nprivatekey={KEY_A}\n[PEER]\npublickey={KEY_B}\nendpoint=vpn.example.com:443\n"
        ))
        .unwrap();
        assert_eq!(config.interface.mtu, DEFAULT_MTU);
        assert_eq!(
            config.peers[0].endpoint.as_ref().unwrap().host,
            "vpn.example.com"
        );
        assert!(config.peers[0].allowed_ips.is_empty());
    }

    #[test]
    fn errors_name_the_line_and_never_quote_keys() {
        let cases = [
            (format!("[Interface]\nPrivateKey = {KEY_A}x\n[Peer]\nPublicKey = {KEY_B}\n"), 2, "base64"),
            ("[Interface]\nPrivateKey = c2hvcnQ=\n".to_string(), 2, "decodes to 5 bytes"),
            (format!("[Interface]\nPrivateKey = {KEY_A}\nAddress = 10.0.0.300/24\n[Peer]\nPublicKey = {KEY_B}\n"), 3, "10.0.0.300/24"),
            (format!("[Interface]\nPrivateKey = {KEY_A}\nMTU = 100\n[Peer]\nPublicKey = {KEY_B}\n"), 3, "MTU"),
            (format!("[Interface]\nPrivateKey = {KEY_A}\n[Peer]\nAllowedIPs = 10.0.0.0/8\n"), 3, "no PublicKey"),
            (format!("[Interface]\nPrivateKey = {KEY_A}\n[Peer]\nPublicKey = {KEY_B}\nEndpoint = 10.0.0.1\n"), 5, "host:port"),
            (format!("[Interface]\nPrivateKey = {KEY_A}\n[Peer]\nPublicKey = {KEY_B}\nColour = red\n"), 5, "unknown [Peer] setting `Colour`"),
            (format!("[Interface]\nPrivateKey = {KEY_A}\n[Peers]\n"), 3, "unknown section"),
            // Found by the wg_quick fuzz target: a header with a key after it.
            (format!("[Interface] PrivateKey = {KEY_A}\n"), 1, "not shown, as it may hold a key"),
            (format!("[Interface]\nDNS = 10.7.0.1PrivateKey = {KEY_A}\n"), 2, "hidden: may be a key"),
            (format!("[Interface]\nPrivateKey = {KEY_A}\n[Peer]\nPublicKey = {KEY_B}\nEndpoint = {KEY_A}\n"), 5, "hidden: may be a key"),
            (format!("PrivateKey = {KEY_A}\n"), 1, "before any"),
            (format!("[Interface]\nPrivateKey = {KEY_A}\n"), 1, "no [Peer]"),
            (format!("[Interface]\nAddress = 10.0.0.2/32\n[Peer]\nPublicKey = {KEY_B}\n"), 1, "no PrivateKey"),
            (format!("[Interface]\nPrivateKey = {KEY_A}\n[Peer]\nPublicKey = {KEY_B}\n[Peer]\nPublicKey = {KEY_B}\n"), 5, "twice"),
            (format!("[Interface]\nPrivateKey = {KEY_A}\njust words\n"), 3, "Key = Value"),
            // Key lines that lost their ` = ` or their name split at the
            // key's own trailing `=`; the key must not come back.
            (format!("[Interface]\nPrivateKey {KEY_A}\n"), 2, "the ` = ` after `PrivateKey` is missing"),
            (format!("[Interface]\n{KEY_A}\n"), 2, "no setting name"),
            (format!("[Interface]\nPrivateKey = {KEY_A}\n[Peer]\nPresharedKey{KEY_A}\n"), 4, "no setting name"),
            ("[Interface]\nAbcdefghijklmnopqrstuvwxyzAbcdefghijklmnopq=\n".to_string(), 2, "no setting name"),
        ];
        for (text, line, needle) in cases {
            let e = parse(&text).unwrap_err();
            assert_eq!(e.line, line, "{text}: {e}");
            assert!(e.to_string().contains(needle), "{text}: {e}");
            // Without its padding: a line split at that `=` leaves the rest.
            assert!(!e.to_string().contains(KEY_A.trim_end_matches('=')), "{e}");
            assert!(!e.to_string().contains("Abcdefghijklmnopqrstuvwxyz"), "{e}");
        }
    }

    #[test]
    fn secrets_do_not_print() {
        let config = parse(&format!(
            "[Interface]\nPrivateKey = {KEY_A}\n[Peer]\nPublicKey = {KEY_B}\nPresharedKey = {KEY_A}\n"
        ))
        .unwrap();
        let debug = format!("{config:?}");
        assert!(
            !debug.contains(KEY_A) && debug.contains("redacted"),
            "{debug}"
        );
        assert!(debug.contains(KEY_B));
    }

    #[test]
    fn public_key_derives_like_wg_pubkey() {
        // `echo yAnz5TF+lXXJte14tji3zlMNq+hd2rYUIgJBgB3fBmk= | wg pubkey`
        let private = PrivateKey(Zeroizing::new(decode_key(1, "k", KEY_A).unwrap()));
        assert_eq!(
            PublicKey::from_private(&private).to_string(),
            "HIgo9xNzJMWLKASShiTqIybxZ0U3wGLiUeJ1PKf8ykw="
        );
    }
}
